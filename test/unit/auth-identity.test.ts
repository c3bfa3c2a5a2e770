/** The identity step shared by authenticators: its configuration, claims → identity, client id binding. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bindClientId, identityFromClaims, parseIdentityConfig } from '../../src/auth/identity.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { ConfigError, PortcullisError } from '../../src/errors.js'

const P = 'authentication.authenticators[0]'

function configError(fn: () => unknown, path: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.path === path && message.test(e.message))
}

describe('identity config', () => {
  it('absent → undefined; clientIdMode defaults to enforce', () => {
    assert.equal(parseIdentityConfig({}, P), undefined)
    assert.deepEqual(parseIdentityConfig({ identity: { clientId: 'ext.device', username: 'sub' } }, P), { clientIdMode: 'enforce', clientId: 'ext.device', username: 'sub' })
    assert.deepEqual(parseIdentityConfig({ identity: { clientId: 'cid' }, clientIdMode: 'override' }, P), { clientIdMode: 'override', clientId: 'cid' })
  })
  it('mistakes name their key path', () => {
    configError(() => parseIdentityConfig({ identity: {} }, P), `${P}.identity`, /names no claim/)
    configError(() => parseIdentityConfig({ identity: { clientid: 'x' } }, P), `${P}.identity.clientid`, /unknown key/)
    configError(() => parseIdentityConfig({ identity: { clientId: 'a..b' } }, P), `${P}.identity.clientId`, /dotted path/)
    configError(() => parseIdentityConfig({ identity: { clientId: 7 } }, P), `${P}.identity.clientId`, /string/)
    configError(() => parseIdentityConfig({ identity: { clientId: 'c' }, clientIdMode: 'strict' }, P), `${P}.clientIdMode`, /enforce or override/)
    configError(() => parseIdentityConfig({ clientIdMode: 'override' }, P), `${P}.clientIdMode`, /only used with identity.clientId/)
    configError(() => parseIdentityConfig({ identity: { username: 'sub' }, clientIdMode: 'override' }, P), `${P}.clientIdMode`, /only used with identity.clientId/)
  })
  it('is part of jwt/jwks authenticator entries', () => {
    const c = parseAuthenticatorConfig({ type: 'jwt', algorithm: 'hmac-based', secret: 'x'.repeat(32), identity: { username: 'sub' } }, P)
    assert.deepEqual(c.identity, { clientIdMode: 'enforce', username: 'sub' })
  })
})

describe('identity from claims', () => {
  const config = { clientId: 'ext.device', username: 'sub', clientIdMode: 'enforce' as const }
  it('reads a claim by name or dotted path (an exact key wins)', () => {
    assert.deepEqual(identityFromClaims(config, { sub: 'alice', ext: { device: 'd1' } }), { username: 'alice', clientId: 'd1', clientIdMode: 'enforce' })
    assert.deepEqual(identityFromClaims(config, { sub: 'alice', 'ext.device': 'd2', ext: { device: 'd1' } }), { username: 'alice', clientId: 'd2', clientIdMode: 'enforce' })
  })
  it('missing, non-string, empty or NUL-bearing claims are ERR_IDENTITY_CLAIM', () => {
    for (const claims of [{ sub: 'a' }, { sub: 'a', ext: { device: 1 } }, { sub: 'a', ext: { device: '' } }, { sub: 'a', ext: { device: 'x\u0000y' } }, { ext: { device: 'd' } }]) {
      const r = identityFromClaims(config, claims)
      assert.ok(r instanceof PortcullisError && r.code === 'ERR_IDENTITY_CLAIM', JSON.stringify(claims))
    }
  })
})

describe('client id binding', () => {
  it('no bound id → nothing to do', () => {
    assert.equal(bindClientId('x', {}), undefined)
    assert.equal(bindClientId('x', undefined), undefined)
  })
  it('enforce: none sent → assigned, same → kept, other → ERR_CLIENT_ID_INVALID', () => {
    const bound = { clientId: 'd1', clientIdMode: 'enforce' as const }
    assert.deepEqual(bindClientId('', bound), { ok: true, clientId: 'd1', assigned: true })
    assert.deepEqual(bindClientId('d1', bound), { ok: true, clientId: 'd1', assigned: false })
    const r = bindClientId('d2', bound)
    assert.ok(r !== undefined && !r.ok && r.error.code === 'ERR_CLIENT_ID_INVALID')
  })
  it('override: another id is replaced', () => {
    assert.deepEqual(bindClientId('d2', { clientId: 'd1', clientIdMode: 'override' }), { ok: true, clientId: 'd1', assigned: true })
  })
})
