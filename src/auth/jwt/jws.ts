/**
 * Compact JWS decoding and signature verification with node:crypto (RFC 7515).
 *
 * Order of checks: size cap (before anything is parsed), shape (3 parts; a 5-part JWE is
 * refused), base64url alphabet, header JSON, `alg` (never `none`), `crit` (we understand
 * no extension, so any `crit` is refused). Header members that point at keys (`jku`,
 * `x5u`, `jwk`, `x5c`) are never read. The payload is decoded only after a signature
 * verified.
 */
import { constants, createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { BoundedCache, type CacheUsage } from '../../bounded-cache.js'
import { PortcullisError } from '../../errors.js'
import { ALGORITHM_SPECS, type JwsAlgorithm } from './algorithms.js'
import type { VerifyKey } from './keys.js'

export interface DecodedJws {
  readonly header: Readonly<Record<string, unknown>>
  readonly alg: string
  readonly kid: string | undefined
  /** ASCII `header.payload`, the bytes the signature covers. */
  readonly signingInput: string
  readonly payloadPart: string
  readonly signature: Buffer
}

const B64URL = /^[A-Za-z0-9_-]+$/

function malformed(message: string): PortcullisError {
  return new PortcullisError('ERR_JWT_MALFORMED', message)
}

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw malformed(`token ${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(`token ${what} is not a JSON object`)
  return value as Record<string, unknown>
}

interface CheckedHeader {
  readonly header: Readonly<Record<string, unknown>>
  readonly alg: string
  readonly kid: string | undefined
}

/**
 * Headers that passed the checks, by their base64url text. An issuer's tokens share one header
 * (or one per key), so a connect storm decodes each header once. Only headers that passed
 * are kept, the entries are frozen; 256 headers and 256 KiB at most (a header over 16 KiB of
 * text is not kept), for the whole process.
 */
const checkedHeaders = new BoundedCache<CheckedHeader>(256, 256 * 1024)

/** What the header cache holds (for /metrics). */
export function headerCacheUsage(): CacheUsage {
  return checkedHeaders.usage
}

function headerOf(headerPart: string): CheckedHeader {
  const cached = checkedHeaders.get(headerPart)
  if (cached !== undefined) return cached
  const header = decodeJsonObject(headerPart, 'header')
  const alg = header['alg']
  if (typeof alg !== 'string' || alg === '') throw malformed('token header has no alg')
  if (alg.toLowerCase() === 'none') throw new PortcullisError('ERR_JWT_ALG_NOT_ALLOWED', "alg 'none' is never accepted")
  if (header['crit'] !== undefined) {
    const crit: unknown = header['crit']
    const name = (n: unknown): string => (typeof n === 'string' ? n : JSON.stringify(n))
    const names = Array.isArray(crit) ? crit.map(name).join(', ') : name(crit)
    throw new PortcullisError('ERR_JWT_CRIT_UNSUPPORTED', `crit header names extensions we do not understand: ${names}`)
  }
  const kid = header['kid']
  if (kid !== undefined && typeof kid !== 'string') throw malformed('token kid is not a string')
  const checked: CheckedHeader = Object.freeze({ header: Object.freeze(header), alg, kid })
  // the decoded header takes about as much as its base64url text
  checkedHeaders.set(headerPart, checked, headerPart.length * 2)
  return checked
}

/** Decodes a compact JWS header without verifying anything. Throws PortcullisError. */
export function decodeJws(token: string, maxBytes: number): DecodedJws {
  // A string's length never exceeds its UTF-8 size, and the alphabet check below admits
  // only ASCII, so this is the byte cap.
  if (token.length > maxBytes) throw new PortcullisError('ERR_JWT_TOO_LARGE', `token is larger than ${maxBytes} bytes`)
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (second < 0) throw malformed('token is not a compact JWS (header.payload.signature)')
  const third = token.indexOf('.', second + 1)
  if (third >= 0) {
    const parts = token.split('.').length
    throw malformed(parts === 5 ? 'token is a JWE (encrypted); only signed tokens (JWS) are accepted' : `token has ${parts} parts, a JWS has 3`)
  }
  const headerPart = token.slice(0, first)
  const payloadPart = token.slice(first + 1, second)
  const signaturePart = token.slice(second + 1)
  if (!B64URL.test(headerPart) || !B64URL.test(payloadPart) || (signaturePart !== '' && !B64URL.test(signaturePart))) {
    throw malformed('token parts are not base64url')
  }
  const { header, alg, kid } = headerOf(headerPart)
  if (signaturePart === '') throw new PortcullisError('ERR_JWT_SIGNATURE_INVALID', 'token has no signature')
  return {
    header,
    alg,
    kid,
    signingInput: token.slice(0, second),
    payloadPart,
    signature: Buffer.from(signaturePart, 'base64url'),
  }
}

/** The payload of a verified JWS as a JWT claims object. Throws ERR_JWT_MALFORMED. */
export function decodePayload(jws: DecodedJws): Record<string, unknown> {
  return decodeJsonObject(jws.payloadPart, 'payload')
}

/** Verifies `signature` over `input` with `key` as `alg`; false on any mismatch or error. */
export function verifySignature(alg: JwsAlgorithm, key: KeyObject, input: string, signature: Buffer): boolean {
  const spec = ALGORITHM_SPECS[alg]
  try {
    switch (spec.family) {
      case 'hmac': {
        if (key.type !== 'secret') return false
        const mac = createHmac(spec.hash!, key).update(input, 'latin1').digest()
        return mac.length === signature.length && timingSafeEqual(mac, signature)
      }
      case 'rsa':
        if (key.asymmetricKeyType !== 'rsa') return false
        return cryptoVerify(spec.hash, Buffer.from(input, 'latin1'), key, signature)
      case 'rsa-pss':
        if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') return false
        return cryptoVerify(spec.hash, Buffer.from(input, 'latin1'), {
          key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.bytes,
        }, signature)
      case 'ecdsa':
        if (key.asymmetricKeyType !== 'ec' || signature.length !== 2 * spec.bytes) return false
        return cryptoVerify(spec.hash, Buffer.from(input, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, signature)
      case 'eddsa':
        if (key.asymmetricKeyType !== 'ed25519' && key.asymmetricKeyType !== 'ed448') return false
        return cryptoVerify(null, Buffer.from(input, 'latin1'), key, signature)
    }
  } catch {
    return false
  }
}

export type KeyMatch =
  | { readonly ok: true; readonly key: VerifyKey; readonly alg: JwsAlgorithm }
  | { readonly ok: false; readonly error: PortcullisError }

/**
 * Finds the key that verifies a token. `kid` is an exact match; a key set whose keys have
 * ids (a JWKS) does not fall back to other keys for a token whose kid it lacks
 * (ERR_JWT_KID_UNKNOWN, which triggers a refetch). `kidless` sources (a single configured
 * key) ignore the token's kid. A token without kid tries every key that fits its alg.
 */
export function verifyWithKeys(jws: DecodedJws, keys: readonly VerifyKey[], kidless: boolean): KeyMatch {
  const alg = jws.alg as JwsAlgorithm
  let candidates = keys
  if (jws.kid !== undefined && !kidless) {
    candidates = keys.filter((k) => k.kid === jws.kid)
    if (candidates.length === 0) return { ok: false, error: new PortcullisError('ERR_JWT_KID_UNKNOWN', `no key with kid '${printable(jws.kid)}'`) }
  }
  let fitting = 0
  for (const candidate of candidates) {
    if (!candidate.algorithms.has(alg)) continue
    fitting++
    if (verifySignature(alg, candidate.key, jws.signingInput, jws.signature)) return { ok: true, key: candidate, alg }
  }
  if (fitting === 0) {
    return { ok: false, error: new PortcullisError('ERR_JWT_ALG_NOT_ALLOWED', `alg '${printable(jws.alg)}' is not accepted by ${jws.kid !== undefined && !kidless ? 'the key with this kid' : 'any configured key'}`) }
  }
  return { ok: false, error: new PortcullisError('ERR_JWT_SIGNATURE_INVALID', 'signature does not verify') }
}

/** Header values end up in log lines and reports: keep them short and printable. */
export function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean
}
