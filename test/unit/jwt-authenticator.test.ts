import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { AuthenticatorChain } from '../../src/auth/chain.js'
import { createAuthenticator, createAuthenticators } from '../../src/auth/create.js'
import { parseAuthenticatorConfig, parseAuthenticatorsConfig } from '../../src/auth/jwt/config.js'
import { REDACTED_PATHS, silentLogger } from '../../src/log.js'
import { toReasonCode } from '../../src/errors.js'
import { ReasonCode } from '../../src/protocol/reason-codes.js'
import { credentials, now, sign, testKey, withPassword, withUsername } from '../helpers/tokens.js'
import { mintToken } from '../../src/auth/jwt/tools.js'

const es = testKey('ES256')
const rs = testKey('RS256')
const SECRET = 'a-32-byte-secret-for-hs256-tests'

function make(raw: Record<string, unknown>, logger = silentLogger()) {
  return createAuthenticator(parseAuthenticatorConfig(raw, 'authenticators[0]'), { logger })
}

describe('token authenticator: where the token comes from', () => {
  it('from: username (default) reads the username; the password is not looked at', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: es.publicPem })
    assert.equal((await a.authenticate(withUsername(sign(es)))).result, 'allow')
    assert.deepEqual(await a.authenticate(credentials({ password: Buffer.from(sign(es)) })), { result: 'ignore' })
  })
  it('from: password reads the password bytes as UTF-8', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: es.publicPem, from: 'password' })
    assert.equal((await a.authenticate(withPassword(sign(es)))).result, 'allow')
    assert.deepEqual(await a.authenticate(credentials({ username: sign(es) })), { result: 'ignore' })
    assert.deepEqual(await a.authenticate(credentials({ username: 'u', password: Buffer.alloc(0) })), { result: 'ignore' })
  })
  it('MQTT 5 Authentication Method JWT carries the token in authenticationData', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: es.publicPem, from: 'password' })
    assert.deepEqual(a.authMethods, ['JWT'])
    const ok = await a.authenticate(credentials({ authMethod: 'JWT', authData: Buffer.from(sign(es)) }))
    assert.equal(ok.result, 'allow')
    const none = await a.authenticate(credentials({ authMethod: 'JWT' }))
    assert.equal(none.result === 'ignore' && none.error?.code, 'ERR_AUTH_NO_CREDENTIALS')
    assert.deepEqual(await a.authenticate(credentials({ authMethod: 'SCRAM-SHA-1', authData: Buffer.from('x'), password: Buffer.from(sign(es)) })), { result: 'ignore' })
    const big = await a.authenticate(credentials({ authMethod: 'JWT', authData: Buffer.alloc(9000, 0x41) }))
    assert.equal(big.result === 'ignore' && big.error?.code, 'ERR_JWT_TOO_LARGE')
  })
})

describe('token authenticator: outcomes and identity', () => {
  it('allow: identity has the name, claims and expiresAt = exp * 1000', async () => {
    const a = make({ type: 'jwt', name: 'corp', algorithm: 'public-key', publicKey: rs.publicPem, from: 'password' })
    const exp = now() + 120
    const o = await a.authenticate(withPassword(sign(rs, { sub: 's1', exp, acl: { pub: ['a/#'] } })))
    assert.equal(o.result, 'allow')
    if (o.result !== 'allow') return
    assert.equal(o.identity.authenticator, 'corp')
    assert.equal(o.identity.anonymous, false)
    assert.equal(o.identity.expiresAt, exp * 1000)
    assert.deepEqual(o.identity.claims?.['acl'], { pub: ['a/#'] })
    assert.ok(Object.isFrozen(o.identity.claims) && Object.isFrozen(o.identity.claims?.['acl']))
  })
  it('no expiresAt without exp; disconnectOnExpiry: false keeps expiresAt (ACLs end) but says not to disconnect', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: rs.publicPem, from: 'password' })
    const o1 = await a.authenticate(withPassword(sign(rs, {}, { expiresIn: undefined as never })))
    assert.equal(o1.result === 'allow' && o1.identity.expiresAt, undefined)
    const b = make({ type: 'jwt', algorithm: 'public-key', publicKey: rs.publicPem, from: 'password', disconnectOnExpiry: false })
    const o2 = await b.authenticate(withPassword(sign(rs)))
    assert.equal(o2.result, 'allow')
    assert.equal(o2.result === 'allow' && typeof o2.identity.expiresAt, 'number')
    assert.equal(o2.result === 'allow' && o2.identity.disconnectOnExpiry, false)
  })
  it('counts outcomes by reason and verification latency', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: es.publicPem, from: 'password' })
    await a.authenticate(withPassword(sign(es)))
    await a.authenticate(withPassword(sign(es, { exp: now() - 100 })))
    await a.authenticate(withPassword('garbage'))
    await a.authenticate(credentials())
    const s = a.stats()
    assert.equal(s.allow, 1)
    assert.deepEqual(s.deny, { ERR_JWT_EXPIRED: 1 })
    assert.deepEqual(s.ignore, { ERR_JWT_MALFORMED: 1, 'no-credentials': 1 })
    assert.equal(s.verifyCount, 2)
    assert.ok(s.verifyMicrosTotal > 0)
    assert.equal(a.status().state, 'ok')
    assert.equal(a.status().keyCount, 1)
  })
  it('the verified-signature cache answers repeats but claims are re-checked each time', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: es.publicPem, from: 'password', claims: { match: { sub: '${clientid}' } } })
    const token = sign(es, { sub: 'c1' })
    assert.equal((await a.authenticate(withPassword(token, { clientId: 'c1' }))).result, 'allow')
    assert.equal((await a.authenticate(withPassword(token, { clientId: 'c1' }))).result, 'allow')
    const other = await a.authenticate(withPassword(token, { clientId: 'c2' }))
    assert.equal(other.result === 'deny' && other.error.code, 'ERR_JWT_CLAIM_MISMATCH')
    assert.equal(a.stats().verifyCount, 1)
    assert.equal(a.stats().cacheHits, 2)
  })
  it('HMAC tokens are cached too; tokens over 2,048 characters are verified every time', async () => {
    const a = make({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET, from: 'password' })
    const short = mintToken({ privateKey: SECRET, alg: 'HS256', sub: 's', expiresIn: 60 })
    const long = mintToken({ privateKey: SECRET, alg: 'HS256', sub: 'l', expiresIn: 60, claims: { pad: 'x'.repeat(2100) } })
    for (let i = 0; i < 3; i++) {
      assert.equal((await a.authenticate(withPassword(short))).result, 'allow')
      assert.equal((await a.authenticate(withPassword(long))).result, 'allow')
    }
    assert.equal(a.stats().cacheHits, 2)
    assert.equal(a.stats().verifyCount, 4)
    // A tampered copy of a cached token is a different key: verified, and refused. (The second-to-last
    // character of the signature carries six bits of it: replaced by one that differs, always.)
    const tampered = `${short.slice(0, -2)}${short.at(-2) === 'A' ? 'B' : 'A'}${short.slice(-1)}`
    assert.notEqual(tampered, short)
    assert.equal((await a.authenticate(withPassword(tampered))).result, 'ignore')
  })
  it('the cache is bounded (verifiedTokenCache) and keeps the tokens used recently', async () => {
    const a = make({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET, from: 'password', verifiedTokenCache: 4 })
    const tokens = Array.from({ length: 12 }, (_, i) => mintToken({ privateKey: SECRET, alg: 'HS256', sub: `s${i}`, expiresIn: 60 }))
    const use = async (i: number): Promise<void> => assert.equal((await a.authenticate(withPassword(tokens[i]))).result, 'allow')
    for (const i of [0, 1, 2, 3]) await use(i)
    await use(0) // recent: answered from the cache, and kept
    assert.equal(a.stats().cacheHits, 1)
    for (const i of [4, 5, 6, 7, 8, 9, 10, 11]) await use(i)
    // at most 2 × 4 entries: the 12 distinct tokens cannot all be there; the newest are
    await use(11)
    assert.equal(a.stats().cacheHits, 2)
    const before = a.stats().verifyCount
    for (const i of [1, 2, 3]) await use(i)
    assert.equal(a.stats().verifyCount, before + 3, 'old entries were dropped, not kept forever')
  })
  it('verifiedTokenCache: 0 verifies every token every time', async () => {
    const a = make({ type: 'jwt', algorithm: 'public-key', publicKey: es.publicPem, from: 'password', verifiedTokenCache: 0 })
    const token = sign(es)
    for (let i = 0; i < 3; i++) assert.equal((await a.authenticate(withPassword(token))).result, 'allow')
    assert.equal(a.stats().cacheHits, 0)
    assert.equal(a.stats().verifyCount, 3)
  })
  it('the default cache holds a reconnecting fleet of 10,000 tokens', async () => {
    const a = make({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET, from: 'password' })
    const tokens = Array.from({ length: 10_000 }, (_, i) => mintToken({ privateKey: SECRET, alg: 'HS256', sub: `d${i}`, expiresIn: 60 }))
    for (const t of tokens) assert.equal((await a.authenticate(withPassword(t))).result, 'allow')
    assert.equal(a.stats().verifyCount, 10_000)
    for (const t of tokens) assert.equal((await a.authenticate(withPassword(t))).result, 'allow')
    assert.equal(a.stats().verifyCount, 10_000, 'the second round is answered from the cache')
    assert.equal(a.stats().cacheHits, 10_000)
  })
  it('a disabled authenticator reports state disabled', () => {
    const a = make({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET, enabled: false })
    assert.equal(a.enabled, false)
    assert.equal(a.status().state, 'disabled')
  })
})

describe('token authenticators in the chain', () => {
  const configs = parseAuthenticatorsConfig([
    { type: 'jwt', name: 'hmac', algorithm: 'hmac-based', secret: SECRET, from: 'password' },
    { type: 'jwt', name: 'rsa', algorithm: 'public-key', publicKey: rs.publicPem, from: 'password', claims: { audience: ['mqtt'] } },
  ], 'authentication.authenticators')
  const chain = new AuthenticatorChain(createAuthenticators(configs, { logger: silentLogger() }), { allowAnonymous: false })

  it('a token the first authenticator cannot verify passes to the next', async () => {
    const r = await chain.authenticate(withPassword(sign(rs, { aud: 'mqtt' })))
    assert.equal(r.ok && r.identity.authenticator, 'rsa')
  })
  it('signature ok but a claim fails: refused at once (0x86)', async () => {
    const r = await chain.authenticate(withPassword(sign(rs, { aud: 'web' })))
    assert.equal(r.ok, false)
    if (r.ok) return
    assert.equal(r.error.code, 'ERR_JWT_AUDIENCE')
    assert.equal(r.authenticator, 'rsa')
    assert.equal(toReasonCode(r.error.code), ReasonCode.BadUserNameOrPassword)
  })
  it('nobody verifies the signature: refused with 0x86', async () => {
    const r = await chain.authenticate(withPassword(sign(testKey('RS256', { fresh: true }), { aud: 'mqtt' })))
    assert.equal(r.ok, false)
    if (!r.ok) assert.equal(toReasonCode(r.error.code), ReasonCode.BadUserNameOrPassword)
  })
})

describe('logging', () => {
  it('never writes a token or a secret, even at trace level', async () => {
    let out = ''
    const sink = new Writable({ write(chunk, _enc, done) { out += String(chunk); done() } })
    const logger = pino({ level: 'trace', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink)
    const a = make({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET, from: 'password', claims: { issuer: ['x'] } }, logger)
    const token = sign({ ...testKey('HS256'), privateKey: Buffer.from(SECRET) }, { iss: 'y' })
    await a.authenticate(withPassword(token))
    await a.authenticate(withPassword(token.slice(0, -4)))
    await a.authenticate(withPassword(`${token}.x.y`))
    assert.ok(out.length > 0)
    for (const part of token.split('.')) assert.ok(!out.includes(part), 'a token part reached the log')
    assert.ok(!out.includes(SECRET))
  })
})

describe('token authenticator: hostile payloads', () => {
  it('claims nested 17,000 levels deep (a 64 KB token) are verified and frozen without recursion', async () => {
    const depth = 17_000
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
    const payload = Buffer.from(`{"sub":"deep","exp":${now() + 60},"n":${'['.repeat(depth)}${']'.repeat(depth)}}`).toString('base64url')
    const { createHmac } = await import('node:crypto')
    const signature = createHmac('sha256', SECRET).update(`${header}.${payload}`).digest('base64url')
    const token = `${header}.${payload}.${signature}`
    assert.ok(token.length < 65_535)
    const a = make({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET, from: 'password', maxTokenBytes: 65_535 })
    const o = await a.authenticate(withPassword(token))
    assert.equal(o.result, 'allow')
    if (o.result !== 'allow') return
    let inner = o.identity.claims?.['n'] as unknown[]
    for (let i = 1; i < depth; i++) inner = inner[0] as unknown[]
    assert.deepEqual(inner, [])
    assert.ok(Object.isFrozen(inner))
  })
})
