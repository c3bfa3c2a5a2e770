/**
 * Key material → verification keys. Keys are imported once (PEM, JWK, HMAC secret) into
 * node:crypto KeyObjects and bound to the algorithms they may verify; the verifier only
 * ever sees these bindings. Every function here throws `KeyImportError` with a reason a
 * user can act on; callers turn it into a ConfigError (config time) or a log line (JWKS).
 */
import { X509Certificate, createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { JOSE_CURVES, algorithmsForKey, describeKey, isJwsAlgorithm, type JwsAlgorithm } from './algorithms.js'

/** A key bound to the algorithms it may verify (already narrowed by any allow-list). */
export interface VerifyKey {
  readonly kid: string | undefined
  readonly algorithms: ReadonlySet<JwsAlgorithm>
  readonly key: KeyObject
  /** Secret-free description, e.g. 'EC prime256v1'. */
  readonly description: string
  /** Position in the configured key set (JWKS `keys[i]`); 0 for a single key. */
  readonly index: number
  /** A device's key (device registry): the device's id. */
  readonly owner?: string
  /** A device's key: epoch ms after which it no longer verifies (a connection it admitted ends then). */
  readonly expiresAt?: number
}

export class KeyImportError extends Error {
  override readonly name = 'KeyImportError'
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g

/**
 * Imports a public key from PEM: SPKI (`PUBLIC KEY`), PKCS#1 (`RSA PUBLIC KEY`) or an
 * X.509 certificate (`CERTIFICATE`, its subject public key). Private keys are refused.
 */
export function importPublicKeyPem(pem: string): KeyObject {
  const blocks = [...pem.matchAll(PEM_BLOCK)]
  if (blocks.length === 0) {
    throw new KeyImportError('is not PEM content (expected -----BEGIN PUBLIC KEY-----, -----BEGIN RSA PUBLIC KEY----- or -----BEGIN CERTIFICATE-----)')
  }
  if (blocks.length > 1) throw new KeyImportError(`holds ${blocks.length} PEM blocks; give exactly one public key or certificate`)
  const block = blocks[0]
  const label = block[1]
  // Re-wrap the body: pasted PEMs arrive indented, with CRLF, or as one long line.
  const body = block[2].replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new KeyImportError(`is not valid PEM: the ${label} body is not base64`)
  const text = `-----BEGIN ${label}-----\n${body.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
  if (label.includes('PRIVATE')) throw new KeyImportError(`is a private key (${label}); configure the public key, never the private one`)
  try {
    switch (label) {
      case 'PUBLIC KEY':
        return createPublicKey({ key: text, format: 'pem', type: 'spki' })
      case 'RSA PUBLIC KEY':
        return createPublicKey({ key: text, format: 'pem', type: 'pkcs1' })
      case 'CERTIFICATE':
        return new X509Certificate(text).publicKey
      default:
        throw new KeyImportError(`has an unsupported PEM type '${label}' (expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)`)
    }
  } catch (cause) {
    if (cause instanceof KeyImportError) throw cause
    throw new KeyImportError(`could not be read as ${label}: ${(cause as Error).message}`)
  }
}

/** The algorithms a key may verify, narrowed by an optional allow-list. */
export function bindAlgorithms(key: KeyObject, allowed: readonly JwsAlgorithm[] | undefined): JwsAlgorithm[] {
  const fits = algorithmsForKey(key)
  if (!Array.isArray(fits)) throw new KeyImportError((fits as { unusable: string }).unusable)
  return allowed === undefined ? fits : fits.filter((alg) => allowed.includes(alg))
}

export function makeVerifyKey(key: KeyObject, algorithms: readonly JwsAlgorithm[], kid: string | undefined, index: number): VerifyKey {
  return Object.freeze({ kid, algorithms: new Set(algorithms), key, description: describeKey(key), index })
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const

export type JwkImport =
  | { readonly ok: true; readonly key: VerifyKey }
  /** Not a signature-verification key (use: enc, key_ops without verify, no fitting alg): skipped quietly. */
  | { readonly ok: false; readonly skipped: true; readonly reason: string }
  /** Broken or unsafe: reported (a config error for pasted text, a warning for a fetched set). */
  | { readonly ok: false; readonly skipped: false; readonly reason: string }

/** Imports one JWK (RFC 7517) as a verification key, honouring its alg, use and key_ops. */
export function importJwk(jwk: unknown, index: number, allowed: readonly JwsAlgorithm[] | undefined): JwkImport {
  const bad = (reason: string): JwkImport => ({ ok: false, skipped: false, reason })
  const skip = (reason: string): JwkImport => ({ ok: false, skipped: true, reason })
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return bad('is not a JSON object')
  const j = jwk as Record<string, unknown>
  if (typeof j['kty'] !== 'string') return bad('has no kty')
  if (j['kid'] !== undefined && typeof j['kid'] !== 'string') return bad('kid must be a string')
  const kid = j['kid']
  if (j['use'] !== undefined && j['use'] !== 'sig') {
    return typeof j['use'] === 'string' ? skip(`use is '${j['use']}', not 'sig'`) : bad('use must be a string')
  }
  if (j['key_ops'] !== undefined) {
    if (!Array.isArray(j['key_ops'])) return bad('key_ops must be an array')
    if (!j['key_ops'].includes('verify')) return skip("key_ops does not include 'verify'")
  }
  let alg: JwsAlgorithm | undefined
  if (j['alg'] !== undefined) {
    if (!isJwsAlgorithm(j['alg'])) {
      return typeof j['alg'] === 'string' ? skip(`alg '${j['alg']}' is not a supported signature algorithm`) : bad('alg must be a string')
    }
    alg = j['alg']
  }

  let key: KeyObject
  try {
    switch (j['kty']) {
      case 'oct': {
        if (typeof j['k'] !== 'string' || !/^[A-Za-z0-9_-]+$/.test(j['k'])) return bad('oct key has no valid k')
        key = createSecretKey(Buffer.from(j['k'], 'base64url'))
        break
      }
      case 'RSA':
      case 'EC':
      case 'OKP': {
        for (const member of PRIVATE_JWK_MEMBERS) {
          if (j[member] !== undefined) return bad('contains private key material; publish only public keys')
        }
        if (j['kty'] === 'EC' && typeof j['crv'] === 'string' && JOSE_CURVES[j['crv']] === undefined) {
          return bad(`EC curve '${j['crv']}' is not supported (P-256, P-384, P-521)`)
        }
        if (j['kty'] === 'OKP' && j['crv'] !== 'Ed25519' && j['crv'] !== 'Ed448') {
          return bad(`OKP curve '${String(j['crv'])}' is not a signature curve (Ed25519, Ed448)`)
        }
        const publicOnly: JsonWebKey = {}
        for (const member of ['kty', 'n', 'e', 'crv', 'x', 'y'] as const) {
          if (j[member] !== undefined) publicOnly[member] = j[member] as string
        }
        key = createPublicKey({ key: publicOnly, format: 'jwk' })
        break
      }
      default:
        return bad(`kty '${j['kty']}' is not supported (RSA, EC, OKP, oct)`)
    }
  } catch (cause) {
    return bad(`could not be imported: ${(cause as Error).message}`)
  }

  const fits = algorithmsForKey(key)
  if (!Array.isArray(fits)) return bad((fits as { unusable: string }).unusable)
  let algorithms: JwsAlgorithm[] = fits
  if (alg !== undefined) {
    if (!fits.includes(alg)) return bad(`alg ${alg} does not fit the key (${describeKey(key)})`)
    algorithms = [alg]
  }
  if (allowed !== undefined) algorithms = algorithms.filter((a) => allowed.includes(a))
  if (algorithms.length === 0) return skip('none of the allowed algorithms fits this key')
  return { ok: true, key: makeVerifyKey(key, algorithms, kid, index) }
}

export interface JwksImport {
  readonly keys: readonly VerifyKey[]
  /** Keys that were broken or unsafe (index into `keys` of the document). */
  readonly problems: readonly { readonly index: number; readonly reason: string }[]
  /** Keys that are not for us (encryption keys, other algorithms). */
  readonly skipped: readonly { readonly index: number; readonly reason: string }[]
}

/** Parses a JWK Set document (already JSON-decoded). Throws KeyImportError if it is not one. */
export function importJwks(doc: unknown, allowed: readonly JwsAlgorithm[] | undefined): JwksImport {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KeyImportError('is not a JSON object with a "keys" array')
  const list = (doc as Record<string, unknown>)['keys']
  if (!Array.isArray(list)) throw new KeyImportError('has no "keys" array')
  const keys: VerifyKey[] = []
  const problems: { index: number; reason: string }[] = []
  const skipped: { index: number; reason: string }[] = []
  list.forEach((jwk, index) => {
    const result = importJwk(jwk, index, allowed)
    if (result.ok) keys.push(result.key)
    else (result.skipped ? skipped : problems).push({ index, reason: result.reason })
  })
  return { keys, problems, skipped }
}
