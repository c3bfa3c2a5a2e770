import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { ConfigError } from '../../src/errors.js'
import {
  AUTHENTICATOR_DEFAULTS, authenticatorConfigWarnings, jwksUrlFor, parseAuthenticatorConfig, parseAuthenticatorsConfig,
} from '../../src/auth/jwt/config.js'
import { CERT_FIXTURES, testKey } from '../helpers/tokens.js'

const P = 'authentication.authenticators[0]'
const SECRET = 'x'.repeat(32)

function configError(fn: () => unknown, path: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    assert.equal(err.path, path)
    assert.match(err.message, reason)
    assert.equal(err.code, 'ERR_CONFIG')
    return true
  })
}

describe('jwt config: defaults and common keys', () => {
  it('fills in the documented defaults', () => {
    const c = parseAuthenticatorConfig({ type: 'jwt', algorithm: 'hmac-based', secret: SECRET }, P)
    assert.equal(c.type, 'jwt')
    assert.equal(c.name, 'jwt')
    assert.equal(c.from, 'username')
    assert.equal(c.enabled, true)
    assert.equal(c.maxTokenBytes, 8192)
    assert.equal(c.disconnectOnExpiry, true)
    assert.equal(c.verifiedTokenCache, 10_000)
    assert.equal(c.claims.leeway, AUTHENTICATOR_DEFAULTS.leeway)
    assert.deepEqual(c.claims.required, [])
    assert.equal(c.claims.maxAge, undefined)
    assert.equal(c.algorithms, undefined)
    assert.ok(Object.isFrozen(c))
  })

  it('default names are <type>-<index> and names must be unique', () => {
    const list = parseAuthenticatorsConfig([
      { type: 'jwt', algorithm: 'hmac-based', secret: SECRET },
      { type: 'jwks', text: JSON.stringify({ keys: [testKey('ES256').publicJwk] }) },
    ], 'authentication.authenticators')
    assert.deepEqual(list.map((c) => c.name), ['jwt-0', 'jwks-1'])
    configError(() => parseAuthenticatorsConfig([
      { type: 'jwt', name: 'a', algorithm: 'hmac-based', secret: SECRET },
      { type: 'jwt', name: 'a', algorithm: 'hmac-based', secret: SECRET },
    ], 'authentication.authenticators'), 'authentication.authenticators[1].name', /already used by authentication\.authenticators\[0\]/)
    configError(() => parseAuthenticatorsConfig({}, 'authentication.authenticators'), 'authentication.authenticators', /must be a list/)
  })

  it('reports each bad key with its full path', () => {
    const base = { type: 'jwt', algorithm: 'hmac-based', secret: SECRET }
    configError(() => parseAuthenticatorConfig('x', P), P, /mapping/)
    configError(() => parseAuthenticatorConfig({ ...base, type: 'ldap' }, P), `${P}.type`, /unknown authenticator type/)
    configError(() => parseAuthenticatorConfig({ algorithm: 'hmac-based', secret: SECRET }, P), `${P}.type`, /required/)
    configError(() => parseAuthenticatorConfig({ ...base, from: 'clientid' }, P), `${P}.from`, /username or password/)
    configError(() => parseAuthenticatorConfig({ ...base, name: 'has space' }, P), `${P}.name`, /characters/)
    configError(() => parseAuthenticatorConfig({ ...base, description: 'd'.repeat(129) }, P), `${P}.description`, /at most 128/)
    configError(() => parseAuthenticatorConfig({ ...base, enabled: 'yes' }, P), `${P}.enabled`, /true or false/)
    configError(() => parseAuthenticatorConfig({ ...base, maxTokenBytes: 100_000 }, P), `${P}.maxTokenBytes`, /between 256 and 65535/)
    configError(() => parseAuthenticatorConfig({ ...base, verifiedTokenCache: -1 }, P), `${P}.verifiedTokenCache`, /between 0 and 1000000/)
    configError(() => parseAuthenticatorConfig({ ...base, verifiedTokenCache: 2_000_000 }, P), `${P}.verifiedTokenCache`, /between 0 and 1000000/)
    configError(() => parseAuthenticatorConfig({ ...base, verifiedTokenCache: 1.5 }, P), `${P}.verifiedTokenCache`, /must be an integer \(got 1.5\)/)
    configError(() => parseAuthenticatorConfig({ ...base, verifiedTokenCache: '100' }, P), `${P}.verifiedTokenCache`, /must be an integer/)
    assert.equal(parseAuthenticatorConfig({ ...base, verifiedTokenCache: 0 }, P).verifiedTokenCache, 0)
    configError(() => parseAuthenticatorConfig({ ...base, secrte: 'x' }, P), `${P}.secrte`, /unknown key/)
    configError(() => parseAuthenticatorConfig({ ...base, algorithm: 'rsa' }, P), `${P}.algorithm`, /hmac-based or public-key/)
    configError(() => parseAuthenticatorConfig({ ...base, algorithms: ['HS256', 'XS1'] }, P), `${P}.algorithms[1]`, /unknown algorithm 'XS1'/)
    configError(() => parseAuthenticatorConfig({ ...base, algorithms: ['none'] }, P), `${P}.algorithms[0]`, /never accepted/)
    configError(() => parseAuthenticatorConfig({ ...base, algorithms: ['RS256'] }, P), `${P}.algorithms[0]`, /does not fit algorithm: hmac-based/)
    assert.equal(parseAuthenticatorConfig({ ...base, description: 'd'.repeat(128), enabled: false }, P).enabled, false)
  })

  it('validates the claims block', () => {
    const base = { type: 'jwt', algorithm: 'hmac-based', secret: SECRET, from: 'password' }
    const c = parseAuthenticatorConfig({
      ...base,
      claims: { issuer: 'https://id.example.com', audience: ['mqtt', 'api'], maxAge: 600, leeway: 0, required: ['exp', 'sub'], match: { sub: '${username}', cid: 'c-${clientid}', t: '${claims.tenant}' } },
    }, P)
    assert.deepEqual(c.claims.issuer, ['https://id.example.com'])
    assert.deepEqual(c.claims.audience, ['mqtt', 'api'])
    assert.equal(c.claims.maxAge, 600)
    assert.equal(c.claims.leeway, 0)
    assert.deepEqual(c.claims.required, ['exp', 'sub'])
    configError(() => parseAuthenticatorConfig({ ...base, claims: { leeway: -1 } }, P), `${P}.claims.leeway`, /between 0 and 300/)
    configError(() => parseAuthenticatorConfig({ ...base, claims: { maxAge: 0 } }, P), `${P}.claims.maxAge`, /between/)
    configError(() => parseAuthenticatorConfig({ ...base, claims: { issuer: [] } }, P), `${P}.claims.issuer`, /must not be empty/)
    configError(() => parseAuthenticatorConfig({ ...base, claims: { audience: ['ok', 3] } }, P), `${P}.claims.audience[1]`, /non-empty string/)
    configError(() => parseAuthenticatorConfig({ ...base, claims: { required: 'exp', extra: 1 } }, P), `${P}.claims.extra`, /unknown key/)
    configError(() => parseAuthenticatorConfig({ ...base, claims: { match: { sub: '${user}' } } }, P), `${P}.claims.match.sub`, /unknown placeholder/)
    configError(() => parseAuthenticatorConfig({ ...base, claims: { match: { sub: 7 } } }, P), `${P}.claims.match.sub`, /string template/)
    configError(() => parseAuthenticatorConfig({ ...base, from: 'username', claims: { match: { sub: '${username}' } } }, P), `${P}.claims.match.sub`, /from: username/)
  })
})

describe('jwt config: HMAC secrets', () => {
  const base = { type: 'jwt', algorithm: 'hmac-based' }
  it('refuses a secret shorter than 32 bytes (HS256 floor)', () => {
    configError(() => parseAuthenticatorConfig({ ...base, secret: 'short-secret' }, P), `${P}.secret`, /12 bytes; an HMAC secret must be at least 32 bytes/)
    configError(() => parseAuthenticatorConfig({ ...base, secret: 'x'.repeat(31) }, P), `${P}.secret`, /31 bytes/)
    assert.equal(parseAuthenticatorConfig({ ...base, secret: 'x'.repeat(32) }, P).type, 'jwt')
  })
  it('each listed HS algorithm needs a secret as long as its hash', () => {
    configError(() => parseAuthenticatorConfig({ ...base, secret: 'x'.repeat(40), algorithms: ['HS384'] }, P), `${P}.secret`, /40 bytes; HS384 needs a secret of at least 48/)
    configError(() => parseAuthenticatorConfig({ ...base, secret: 'x'.repeat(48), algorithms: ['HS256', 'HS512'] }, P), `${P}.secret`, /HS512 needs a secret of at least 64/)
    assert.deepEqual(parseAuthenticatorConfig({ ...base, secret: 'x'.repeat(64), algorithms: ['HS512'] }, P).algorithms, ['HS512'])
  })
  it('decodes base64 secrets before measuring them', () => {
    const b64 = randomBytes(24).toString('base64') // 32 characters, 24 bytes
    configError(() => parseAuthenticatorConfig({ ...base, secret: b64, secretBase64: true }, P), `${P}.secret`, /24 bytes/)
    const c = parseAuthenticatorConfig({ ...base, secret: randomBytes(32).toString('base64'), secretBase64: true }, P)
    assert.equal(c.type === 'jwt' && c.secretBase64, true)
    configError(() => parseAuthenticatorConfig({ ...base, secret: 'not base64!'.repeat(4), secretBase64: true }, P), `${P}.secret`, /not valid base64/)
  })
  it('refuses a missing secret, a PEM as secret, and keys of the other mode', () => {
    configError(() => parseAuthenticatorConfig({ ...base }, P), `${P}.secret`, /required/)
    configError(() => parseAuthenticatorConfig({ ...base, secret: testKey('RS256').publicPem }, P), `${P}.secret`, /looks like a PEM key/)
    configError(() => parseAuthenticatorConfig({ ...base, secret: SECRET, publicKey: 'x' }, P), `${P}.publicKey`, /only used with algorithm: public-key/)
    configError(() => parseAuthenticatorConfig({ type: 'jwt', algorithm: 'public-key', publicKey: testKey('ES256').publicPem, secret: SECRET }, P), `${P}.secret`, /only used with algorithm: hmac-based/)
  })
})

describe('jwt config: public keys (PEM)', () => {
  const base = { type: 'jwt', algorithm: 'public-key' }
  it('accepts SPKI, PKCS#1 RSA and X.509 certificate PEMs', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pkcs1 = rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString()
    assert.match(pkcs1, /BEGIN RSA PUBLIC KEY/)
    for (const publicKey of [testKey('RS256').publicPem, testKey('ES384').publicPem, testKey('EdDSA').publicPem, pkcs1, CERT_FIXTURES.ec.certPem, CERT_FIXTURES.rsa.certPem]) {
      assert.equal(parseAuthenticatorConfig({ ...base, publicKey }, P).type, 'jwt')
    }
  })
  it('accepts pasted PEMs with CRLF line ends, indentation or a body on one line', () => {
    const pem = testKey('ES256').publicPem!
    for (const publicKey of [pem.replace(/\n/g, '\r\n'), `    ${pem.replace(/\n/g, '\n    ')}`, pem.replace(/\n(?!-----END)/g, '').replace('-----END', '\n-----END')]) {
      assert.equal(parseAuthenticatorConfig({ ...base, publicKey }, P).type, 'jwt')
    }
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: '-----BEGIN PUBLIC KEY-----\n%%%\n-----END PUBLIC KEY-----' }, P), `${P}.publicKey`, /body is not base64/)
  })
  it('refuses private keys, garbage, several blocks, weak RSA and mismatched algorithms', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pkcs8 = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    const sec1 = pair.privateKey.export({ format: 'pem', type: 'sec1' }).toString()
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: pkcs8 }, P), `${P}.publicKey`, /is a private key \(PRIVATE KEY\)/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: sec1 }, P), `${P}.publicKey`, /is a private key \(EC PRIVATE KEY\)/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: CERT_FIXTURES.rsa.privateKeyPem }, P), `${P}.publicKey`, /private key/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: 'hello' }, P), `${P}.publicKey`, /not PEM content/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }, P), `${P}.publicKey`, /could not be read as PUBLIC KEY/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, P), `${P}.publicKey`, /could not be read as CERTIFICATE/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: `${testKey('ES256').publicPem}${testKey('EdDSA').publicPem}` }, P), `${P}.publicKey`, /2 PEM blocks/)
    configError(() => parseAuthenticatorConfig({ ...base }, P), `${P}.publicKey`, /required/)
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString()
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: weak }, P), `${P}.publicKey`, /1024 bits; at least 2048/)
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'pem', type: 'spki' }).toString()
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: k1 }, P), `${P}.publicKey`, /curve 'secp256k1' is not supported/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: testKey('ES256').publicPem, algorithms: ['ES384'] }, P), `${P}.algorithms[0]`, /ES384 does not fit .* ES256/)
    configError(() => parseAuthenticatorConfig({ ...base, publicKey: testKey('RS256').publicPem, algorithms: ['HS256'] }, P), `${P}.algorithms[0]`, /HS256 does not fit/)
  })
})

describe('jwks config', () => {
  const P2 = 'authentication.authenticators[1]'
  it('needs exactly one of endpoint and text', () => {
    configError(() => parseAuthenticatorConfig({ type: 'jwks' }, P2), P2, /exactly one of endpoint .* or text/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://id.example.com', text: '{"keys":[]}' }, P2), P2, /exactly one/)
  })
  it('endpoint: appends /.well-known/jwks.json, validates range and protocol', () => {
    const c = parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://id.example.com/tenant//' }, P2)
    assert.equal(c.type === 'jwks' && c.url, 'https://id.example.com/tenant/.well-known/jwks.json')
    assert.equal(c.type === 'jwks' && c.refreshInterval, 60)
    assert.equal(c.type === 'jwks' && c.gracePeriod, 3600)
    assert.equal(c.type === 'jwks' && c.kidRefetchCooldown, 5)
    assert.equal(jwksUrlFor('https://id.example.com').url, 'https://id.example.com/.well-known/jwks.json')
    assert.deepEqual(jwksUrlFor('https://id.example.com/keys/jwks.json'), { url: 'https://id.example.com/keys/jwks.json', appended: false })
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://a.example', refreshInterval: 59 }, P2), `${P2}.refreshInterval`, /between 60 and 1000/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://a.example', refreshInterval: 1001 }, P2), `${P2}.refreshInterval`, /between 60 and 1000/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://a.example', kidRefetchCooldown: 11 }, P2), `${P2}.kidRefetchCooldown`, /between 0 and 10/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'not a url' }, P2), `${P2}.endpoint`, /not a valid URL/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'ftp://a.example' }, P2), `${P2}.endpoint`, /http:\/\/ or https:\/\//)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://user:secret@a.example' }, P2), `${P2}.endpoint`, /must not contain credentials/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://user@a.example' }, P2), `${P2}.endpoint`, /must not contain credentials/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://a.example', ca: 'nope' }, P2), `${P2}.ca`, /PEM certificate/)
    assert.equal(parseAuthenticatorConfig({ type: 'jwks', endpoint: 'https://a.example', ca: CERT_FIXTURES.ec.certPem }, P2).type, 'jwks')
  })
  it('text: each key is validated, problems reported with their index', () => {
    const good = testKey('ES256').publicJwk
    assert.equal(parseAuthenticatorConfig({ type: 'jwks', text: { keys: [good] } }, P2).type, 'jwks')
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: 'not json' }, P2), `${P2}.text`, /not JSON/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: '{"kys":[]}' }, P2), `${P2}.text`, /no "keys" array/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: JSON.stringify({ keys: [good, { kty: 'RSA', n: 'AQAB' }] }) }, P2), `${P2}.text.keys[1]`, /could not be imported|bits/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: JSON.stringify({ keys: [{ ...good, alg: 'ES384' }] }) }, P2), `${P2}.text.keys[0]`, /alg ES384 does not fit/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: JSON.stringify({ keys: [{ kty: 'oct', k: Buffer.alloc(16).toString('base64url') }] }) }, P2), `${P2}.text.keys[0]`, /16 bytes; at least 32/)
    const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: JSON.stringify({ keys: [priv] }) }, P2), `${P2}.text.keys[0]`, /private key material/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: JSON.stringify({ keys: [{ ...good, use: 'enc' }] }) }, P2), `${P2}.text`, /no key usable/)
    configError(() => parseAuthenticatorConfig({ type: 'jwks', text: '{"keys":[]}', refreshInterval: 60 }, P2), `${P2}.refreshInterval`, /only used with endpoint/)
  })
  it('warns about unbounded tokens, plain http and a full jwks.json address', () => {
    const c = parseAuthenticatorConfig({ type: 'jwks', endpoint: 'http://id.example.com/.well-known/jwks.json' }, P2)
    const w = authenticatorConfigWarnings(c).join('\n')
    assert.match(w, /without exp/)
    assert.match(w, /plain http/)
    assert.match(w, /already ends in jwks\.json/)
    const local = parseAuthenticatorConfig({ type: 'jwks', endpoint: 'http://127.0.0.1:8080', claims: { required: ['exp'] } }, P2)
    assert.deepEqual(authenticatorConfigWarnings(local), [])
  })
})
