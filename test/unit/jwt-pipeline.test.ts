/**
 * One token pipeline: a CONNECT (`authenticate`, through the chain) and `token inspect`
 * (`inspect`, `inspectToken`) run the same steps, so they give the same verdict and code
 * for every token — valid, refused on a claim, passed on, malformed, oversized (bytes, not
 * characters), signed payloads that are no claims set.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { AuthenticatorChain } from '../../src/auth/chain.js'
import { createAuthenticators, type TokenAuthenticator } from '../../src/auth/create.js'
import { parseAuthenticatorsConfig } from '../../src/auth/jwt/config.js'
import { inspectToken } from '../../src/auth/jwt/tools.js'
import type { Credentials } from '../../src/auth/types.js'
import { silentLogger } from '../../src/log.js'
import { b64url, now, sign, testKey, unsigned, withPassword, withUsername } from '../helpers/tokens.js'

const SECRET = 'pipeline-secret-0123456789-abcdefghij'
const es = testKey('ES256', { fresh: true })
const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
const stranger = testKey('RS256', { fresh: true })
const CLIENT = { clientId: 'client-1', username: 'user-1' }

function hs(payload: Record<string, unknown> | string): string {
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

function chainOf(raw: unknown[]): { chain: AuthenticatorChain; authenticators: TokenAuthenticator[] } {
  const authenticators = createAuthenticators(parseAuthenticatorsConfig(raw, 'authentication.authenticators'), { logger: silentLogger() })
  return { chain: new AuthenticatorChain(authenticators, { allowAnonymous: false }), authenticators }
}

/** The CONNECT's answer and the inspection's, in the same words. */
async function both(
  setup: ReturnType<typeof chainOf>, token: string, credentials: Credentials,
): Promise<{ connect: string; inspect: string; perAuthenticator: [string, string][] }> {
  const r = await setup.chain.authenticate(credentials)
  const connect = r.ok ? `allow by ${r.identity.authenticator}` : `refused ${r.error.code} by ${r.authenticator ?? '-'}`
  const report = await inspectToken(token, setup.authenticators, CLIENT)
  const v = report.verdict
  const inspect = v.outcome === 'allow' ? `allow by ${v.authenticator}` : `refused ${v.code} by ${v.authenticator ?? '-'}`
  const perAuthenticator: [string, string][] = []
  for (const a of setup.authenticators) {
    const o = await a.authenticate(credentials)
    const i = report.authenticators.find((x) => x.name === a.name)!
    perAuthenticator.push([`${o.result} ${o.result === 'allow' ? '' : o.error?.code ?? ''}`, `${i.outcome} ${i.outcome === 'allow' ? '' : i.code ?? ''}`])
  }
  return { connect, inspect, perAuthenticator }
}

describe('one token pipeline: authenticate and inspect agree', () => {
  const password = chainOf([
    { type: 'jwt', name: 'corp-hmac', from: 'password', algorithm: 'hmac-based', secret: SECRET, claims: { issuer: ['corp'] } },
    { type: 'jwt', name: 'es', from: 'password', algorithm: 'public-key', publicKey: es.publicPem, claims: { audience: ['mqtt'], maxAge: 600 } },
    { type: 'jwks', name: 'pasted', from: 'password', text: JSON.stringify({ keys: [k1.publicJwk] }), claims: { match: { sub: '${clientid}' } } },
  ])
  const t = now()
  const table: [string, string][] = [
    ['HMAC, trusted issuer', hs({ iss: 'corp', sub: 'a', exp: t + 60 })],
    ['HMAC, untrusted issuer', hs({ iss: 'other', exp: t + 60 })],
    ['HMAC, exp not a number', hs({ iss: 'corp', exp: 'soon' })],
    ['HMAC, payload is not a claims set', hs('[1,2,3]')],
    ['HMAC, payload is not JSON', hs('not json at all')],
    ['ES256, audience accepted', sign(es, { aud: 'mqtt' }, { kid: null })],
    ['ES256, audience refused', sign(es, { aud: 'web' }, { kid: null })],
    ['ES256, expired', sign(es, { aud: 'mqtt', exp: t - 100 }, { kid: null })],
    ['ES256, not yet valid', sign(es, { aud: 'mqtt', nbf: t + 600 }, { kid: null })],
    ['ES256, issued too early', sign(es, { aud: 'mqtt', iat: t - 3600 }, { kid: null })],
    ['ES256, issued in the future', sign(es, { aud: 'mqtt', iat: t + 3600 }, { kid: null })],
    ['kid k1, sub = client id', sign(k1, { sub: 'client-1' })],
    ['kid k1, sub is someone else', sign(k1, { sub: 'client-2' })],
    ['nobody holds the key', sign(stranger, { sub: 'x' })],
    ['alg none', unsigned({ alg: 'none' })],
    ['not a JWS', 'hello'],
    ['a JWE', 'a.b.c.d.e'],
    ['crit header', unsigned({ alg: 'HS256', crit: ['x'] }, { sub: 'x' }, 'c2ln')],
    ['tampered signature', `${hs({ iss: 'corp' }).slice(0, -3)}AAA`],
  ]
  for (const [what, token] of table) {
    it(`${what}: same verdict and code`, async () => {
      const r = await both(password, token, withPassword(token, CLIENT))
      assert.equal(r.inspect, r.connect)
      for (const [connect, inspect] of r.perAuthenticator) assert.equal(inspect, connect)
    })
  }
  it('the table covers allow, deny and ignore', async () => {
    const verdicts = new Set<string>()
    for (const [, token] of table) verdicts.add((await both(password, token, withPassword(token, CLIENT))).connect.split(' ')[0])
    assert.deepEqual([...verdicts].sort(), ['allow', 'refused'])
  })
})

describe('one token pipeline: token size is measured in bytes by both', () => {
  const username = chainOf([{ type: 'jwt', name: 'u', from: 'username', algorithm: 'hmac-based', secret: SECRET, maxTokenBytes: 1024 }])
  it('700 two-byte characters (1,400 bytes) are too large for a 1,024-byte limit, at CONNECT and in inspect', async () => {
    const token = 'é'.repeat(700)
    const r = await both(username, token, withUsername(token, { clientId: CLIENT.clientId }))
    assert.equal(r.connect, 'refused ERR_JWT_TOO_LARGE by u')
    assert.equal(r.inspect, r.connect)
  })
  it('a token at the limit passes the size step', async () => {
    let n = 600
    while (hs({ pad: 'x'.repeat(n + 1) }).length <= 1024) n++
    const padded = hs({ pad: 'x'.repeat(n) })
    assert.ok(padded.length > 1020 && padded.length <= 1024, String(padded.length))
    const r = await both(username, padded, withUsername(padded, { clientId: CLIENT.clientId }))
    assert.equal(r.connect, 'allow by u')
    assert.equal(r.inspect, r.connect)
  })
})
