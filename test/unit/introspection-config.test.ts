/** `type: introspection` configuration: defaults, required keys, and errors naming the key path. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseAuthenticatorConfig, parseAuthenticatorsConfig } from '../../src/auth/config.js'
import { ConfigError } from '../../src/errors.js'

const P = 'authentication.authenticators[0]'
const base = { type: 'introspection', endpoint: 'https://id.example.com/oauth2/introspect', clientId: 'mqtt-broker', clientSecret: 's3cret' }

function configError(fn: () => unknown, path: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    assert.equal(err.path, path)
    assert.match(err.message, reason)
    return true
  })
}

describe('introspection config', () => {
  it('fills in the documented defaults', () => {
    const c = parseAuthenticatorConfig(base, P)
    assert.ok(c.type === 'introspection')
    assert.equal(c.name, 'introspection')
    assert.equal(c.from, 'username')
    assert.equal(c.clientAuth, 'basic')
    assert.equal(c.authMethod, 'OAUTH2')
    assert.equal(c.timeoutMs, 5000)
    assert.equal(c.maxResponseBytes, 65536)
    assert.equal(c.maxConnections, 16)
    assert.equal(c.cacheSize, 10000)
    assert.equal(c.cacheMaxTtl, 300)
    assert.equal(c.claims.leeway, 5)
    assert.ok(Object.isFrozen(c))
  })

  it('takes the same claims block as token authenticators', () => {
    const c = parseAuthenticatorConfig({ ...base, from: 'password', claims: { issuer: 'https://id.example.com', audience: ['mqtt'], match: { sub: '${username}' } } }, P)
    assert.ok(c.type === 'introspection')
    assert.deepEqual(c.claims.audience, ['mqtt'])
    configError(() => parseAuthenticatorConfig({ ...base, claims: { match: { sub: '${username}' } } }, P), `${P}.claims.match.sub`, /from: username/)
  })

  it('refuses missing or bad keys with the key path', () => {
    configError(() => parseAuthenticatorConfig({ ...base, endpoint: undefined }, P), `${P}.endpoint`, /required/)
    configError(() => parseAuthenticatorConfig({ ...base, endpoint: 'ftp://x' }, P), `${P}.endpoint`, /http/)
    configError(() => parseAuthenticatorConfig({ ...base, endpoint: 'https://u:p@id.example.com/i' }, P), `${P}.endpoint`, /credentials/)
    configError(() => parseAuthenticatorConfig({ ...base, clientId: '' }, P), `${P}.clientId`, /required/)
    configError(() => parseAuthenticatorConfig({ ...base, clientSecret: undefined }, P), `${P}.clientSecret`, /required/)
    configError(() => parseAuthenticatorConfig({ ...base, clientAuth: 'jwt' }, P), `${P}.clientAuth`, /basic, post/)
    configError(() => parseAuthenticatorConfig({ ...base, secret: 'x' }, P), `${P}.secret`, /unknown key/)
    configError(() => parseAuthenticatorConfig({ ...base, timeoutMs: 10 }, P), `${P}.timeoutMs`, /between 100 and 60000/)
    configError(() => parseAuthenticatorConfig({ ...base, endpoint: 'http://127.0.0.1/i', ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, P), `${P}.ca`, /cannot be read|https/)
    configError(() => parseAuthenticatorConfig({ ...base, type: 'ldap' }, P), `${P}.type`, /introspection/)
  })

  it('names are unique across types', () => {
    configError(() => parseAuthenticatorsConfig([
      { ...base, name: 'a' },
      { type: 'jwt', name: 'a', algorithm: 'hmac-based', secret: 'x'.repeat(32) },
    ], 'authentication.authenticators'), 'authentication.authenticators[1].name', /already used/)
  })
})
