/**
 * Keys and tokens for the JWT tests: a key pair per algorithm (generated with node:crypto),
 * signing through the production minting tool, and helpers that build hostile tokens.
 */
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { JwsAlgorithm } from '../../src/auth/jwt/algorithms.js'
import { jwkThumbprint, mintToken, type MintTokenOptions } from '../../src/auth/jwt/tools.js'
import type { Credentials } from '../../src/auth/types.js'

export interface TestKey {
  readonly alg: JwsAlgorithm
  readonly kid: string
  readonly privateKey: KeyObject | Buffer
  /** SPKI PEM (absent for HMAC). */
  readonly publicPem?: string
  /** The JWK to publish (with kid and alg). */
  readonly publicJwk: JsonWebKey
}

export const ASYMMETRIC_ALGS: readonly JwsAlgorithm[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
]

const shared = new Map<string, KeyObject>()

function makePrivate(alg: JwsAlgorithm): KeyObject {
  if (alg.startsWith('ES')) {
    const curve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256']
    return generateKeyPairSync('ec', { namedCurve: curve }).privateKey
  }
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519').privateKey
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
}

/** A private key for `alg`; RSA keys are shared by RS* and PS* unless `fresh`. */
function privateFor(alg: JwsAlgorithm, fresh: boolean): KeyObject {
  if (fresh) return makePrivate(alg)
  const family = alg.startsWith('RS') || alg.startsWith('PS') ? 'rsa' : alg
  let key = shared.get(family)
  if (key === undefined) {
    key = makePrivate(alg)
    shared.set(family, key)
  }
  return key
}

/** A key for `alg` (RSA/EC/Ed keys are shared across calls unless `fresh`). */
export function testKey(alg: JwsAlgorithm, options: { fresh?: boolean; kid?: string } = {}): TestKey {
  if (alg.startsWith('HS')) {
    const bytes = { HS256: 32, HS384: 48, HS512: 64 }[alg as 'HS256']
    const secret = randomBytes(bytes)
    const jwk: JsonWebKey = { kty: 'oct', k: secret.toString('base64url') }
    return { alg, kid: options.kid ?? jwkThumbprint(jwk), privateKey: secret, publicJwk: { ...jwk, kid: options.kid ?? jwkThumbprint(jwk), alg } }
  }
  const privateKey = privateFor(alg, options.fresh === true)
  const publicKey = createPublicKey(privateKey)
  const jwk = publicKey.export({ format: 'jwk' })
  const kid = options.kid ?? jwkThumbprint(jwk)
  return {
    alg,
    kid,
    privateKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk: { ...jwk, kid, alg, use: 'sig' },
  }
}

const NOW = (): number => Math.floor(Date.now() / 1000)

/** A token signed by `key` (kid in the header unless `kid: null`). */
export function sign(key: TestKey, claims: Record<string, unknown> = {}, options: Omit<Partial<MintTokenOptions>, 'kid'> & { kid?: string | null } = {}): string {
  const { kid, ...rest } = options
  return mintToken({
    privateKey: key.privateKey,
    alg: key.alg,
    ...(kid === null ? {} : { kid: kid ?? key.kid }),
    expiresIn: 3600,
    claims,
    ...rest,
  })
}

export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

/** An unsigned token with an arbitrary header and payload (alg none and friends). */
export function unsigned(header: Record<string, unknown>, payload: Record<string, unknown> = { sub: 'x', exp: NOW() + 3600 }, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`
}

/** An HS256 token whose HMAC key is `secret` bytes (e.g. a public key's PEM text). */
export function hmacWith(secret: string | Buffer, payload: Record<string, unknown> = { sub: 'x', exp: NOW() + 3600 }, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const input = `${b64url(header)}.${b64url(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

export function credentials(overrides: Partial<Credentials> = {}): Credentials {
  return {
    clientId: 'client-1',
    username: undefined,
    password: undefined,
    authMethod: undefined,
    authData: undefined,
    protocolVersion: 5,
    remoteAddress: '127.0.0.1',
    reauth: false,
    ...overrides,
  }
}

/** Credentials carrying `token` in the password field. */
export function withPassword(token: string, overrides: Partial<Credentials> = {}): Credentials {
  return credentials({ username: 'user-1', password: Buffer.from(token), ...overrides })
}

export function withUsername(token: string, overrides: Partial<Credentials> = {}): Credentials {
  return credentials({ username: token, ...overrides })
}

export function now(): number {
  return NOW()
}

/**
 * Self-signed certificates (valid until 2125) and their private keys, made with
 * `openssl req -x509` — node:crypto cannot issue certificates. Test material only.
 */
export const CERT_FIXTURES = {
  ec: {
    certPem: `-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUD7+BB7leDdkjJFlgxGPYbha2RPYwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwScG9ydGN1bGxpcy10ZXN0LWVjMCAXDTI2MTEyODIzNTkxOFoY
DzIxMjYxMTA0MjM1OTE4WjAdMRswGQYDVQQDDBJwb3J0Y3VsbGlzLXRlc3QtZWMw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARn3WCqv99k0XCQmbVPDlvboZylk0F/
6XY8g09BWc82DlJT6kR2AGdMhNA0rTMVa9Vo4jk7MPWQ5Hwt82tJdM/ro1MwUTAd
BgNVHQ4EFgQUtfW9CLOhiZfEbendARDcAZIEAM4wHwYDVR0jBBgwFoAUtfW9CLOh
iZfEbendARDcAZIEAM4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEA39316KvB3rcxzyh1JbCMbnDmt5S32whjgr0JNZB1Cd4CIHSejTbIBbmpBaQz
su0Iu8E+Pp7WijUIYclnsMDttm4J
-----END CERTIFICATE-----`,
    privateKeyPem: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgov6fmaxtFqhUaW96
LsvN1CO9QTd86VV+fT55R6XJF6+hRANCAARn3WCqv99k0XCQmbVPDlvboZylk0F/
6XY8g09BWc82DlJT6kR2AGdMhNA0rTMVa9Vo4jk7MPWQ5Hwt82tJdM/r
-----END PRIVATE KEY-----`,
  },
  rsa: {
    certPem: `-----BEGIN CERTIFICATE-----
MIIDJTCCAg2gAwIBAgIUdCUALKVhl7AY/CzXWUdVOjLqtIMwDQYJKoZIhvcNAQEL
BQAwITEfMB0GA1UEAwwWcG9ydGN1bGxpcy10ZXN0LWlzc3VlcjAgFw0yNjExMjgy
MzU5MThaGA8yMTI2MTEwNDIzNTkxOFowITEfMB0GA1UEAwwWcG9ydGN1bGxpcy10
ZXN0LWlzc3VlcjCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAOaCaNdY
MsSpbEoODxSY5cyT7HJT6d9I9p4iev+K5GDTlVnurFVSasiX4ODGHDaZHn49Y/+2
tiOJcOy1hRjb2XkxO0RPzAB8dulG9Yi0zY2x7YVkKzbjSOFPtVZlRCQBKkdynSJr
3fFww6gPuMTsb1uj1v6LwruunPsCv+NinbGzRDoS3ytJxkDwsTDB0YKqnZZIj9UE
7HICdlKB0Dqjzzbp7xKujdn/ORQwFt8x5Igp9wx8jdIdd5BCiM+dfM/ixpVvd/66
TV/G/OICd/430UC1WRNtV06mA7zfh5BG4UvUthq+yYy3Ye8gLmV7qxbbNGd1/KBU
8lkuBcSagaPIKFkCAwEAAaNTMFEwHQYDVR0OBBYEFNd0wQXO/jRfC7xX6nWufKlA
l581MB8GA1UdIwQYMBaAFNd0wQXO/jRfC7xX6nWufKlAl581MA8GA1UdEwEB/wQF
MAMBAf8wDQYJKoZIhvcNAQELBQADggEBAFLbuPlG1jTmVfECURzLALPFy+tOHS60
6bybx3XgtKowYy2knVK6PBsaE65ZLkg8r0H4vkPC4tmlWA8N2PCwti7AcWY+7I3y
H+QkaKlKpPwbGU8SavhLqAnzbL48I/UzHjXxYDmxAnVhcavUYyBr0Nna14p/a4NV
Lj1Lg2oes1QsmyUetSMy4HaJSEz2HzwZpcLAuP+830KCRlcdM7L0ibAigwG3wtvL
Ty3bxoGpUnHoTQQVnOurh4+cBJpQK24x/h2vtLAD7t+HM0IZ9BC/wE8i3mXulzGI
4OByV86UUQEIG42nu+tzgcPU9gznTCL1qarlaPUqCgSxw8mZGfUjDlw=
-----END CERTIFICATE-----`,
    privateKeyPem: `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDmgmjXWDLEqWxK
Dg8UmOXMk+xyU+nfSPaeInr/iuRg05VZ7qxVUmrIl+Dgxhw2mR5+PWP/trYjiXDs
tYUY29l5MTtET8wAfHbpRvWItM2Nse2FZCs240jhT7VWZUQkASpHcp0ia93xcMOo
D7jE7G9bo9b+i8K7rpz7Ar/jYp2xs0Q6Et8rScZA8LEwwdGCqp2WSI/VBOxyAnZS
gdA6o8826e8Sro3Z/zkUMBbfMeSIKfcMfI3SHXeQQojPnXzP4saVb3f+uk1fxvzi
Anf+N9FAtVkTbVdOpgO834eQRuFL1LYavsmMt2HvIC5le6sW2zRndfygVPJZLgXE
moGjyChZAgMBAAECggEAYHKxZmVHfMT9A/Fk+vPMtzAvr1iQEzamxdzchR761s7A
/4uffOXKu1rdI3+RH4Eq4pxSQpUTGcRwxQJgidm3YX+pcjhHPe7WHF5t7wDjvwVz
Qix67nDkNi4RTHB7ters409AEz5584OAwkmtwGvDXl8r3n7hAIGbumVYn85L+CUj
/SYptF/ctYzQQD6dyKeUhXJlyg1x6GPk0w3HGVdYm+UBdyn+AuXi/iYqLPdgnXiM
Blh7wrQTdrOXloMVN67Bkt2DRH7oZTJaEmREQ0y/gC524bTxw+WpBUvCUtxN2t6q
tpfjUz0CGHnjaxwDWrkFZG/lHnKG3KuwcEWJNSyEPwKBgQD/Z2HsZszJxwigPS4b
PvfGdDb6+X04mTCow6VM2jrAJAquKja8RqIB7VO2/VrbKfUqwkOWVTlFNH4NrOPY
BUH6WGEeNcVTeIn2RmoV+DwikLHKtSHGf+M3pNvJuFChhLm0kwVncwm2jW1MXcs4
npud9bqZaTMepK2jgFVrtdMuXwKBgQDnDCa5hmxxSSoV9HN9STB0rZjD9PHHvjIk
IPz0FfyDQAX4XPW1oB4hVES2YGimaRqtOLouhmRcYXY3f0rHl7mpQaAGPUdT6H3i
I97ck+LjdV8r/Jko8I/JmzKkqftxRQHQDZCm8g8fRC3mpYZKvUEyb3+AwB01IrzI
+pZ4XRU0RwKBgCmJBJHPfgpqheqZSIBB00XA7JgQLt8fepxXhPBkpR1OPzZnwxMH
YZ1ynSSrOzVdM3PKt/cg0PmCOeW7cipVYI94BANHt1mFxtn4RZRhFFaCtYdDwcRo
U+letCewA9zgmtrU9hIG0VOQ2G+M6VnB4Yjkx33fb+LR4TMv0bR8k2V9AoGBAJdL
crQ8HRjVwzRbPaEF4zAUWRvAcu7MUgMsgtfG6fJ8YyxumwtTDUff6ZrPaNfHrYtO
wUQkBuYjgAj5Vtt6ND5sVcCgMev1KzGBMbeZM5Kk0ix4nUacuFtZQIFpOdjDSluV
9moLyfE8cR4+t8CLS30eXAzQQJAB7kNhLFUnBvKTAoGAeo3mXbjN6+OMa7iylaD4
8p0R/9wi6SAsXkgK8fSn3Nhc4XEf0VvYGKk0OR41XBD6PZshfDgD/ilYv8f01DrV
0wSTlkBbMrmLa4eXGPUVdQEuRDhuj5KBMR2J1/WXPkutPjBOL0VpLpnKDiLT2CvF
Z/DcSy13m9fS4/chxKAGs7Q=
-----END PRIVATE KEY-----`,
  },
} as const
