/**
 * The JWS algorithms Portcullis verifies (RFC 7518 §3, RFC 8037) and which key types they
 * belong to. The algorithm is always decided by the configured key, never by the token:
 * a key carries the set of algorithms it may verify, and a token whose `alg` is not in
 * that set is refused before any cryptography runs.
 */
import type { KeyObject } from 'node:crypto'

/** The JWS algorithm families by name prefix (RFC 7518 §3.1), in the order they are listed. */
const FAMILY_OF_PREFIX = { HS: 'hmac', RS: 'rsa', PS: 'rsa-pss', ES: 'ecdsa' } as const
type FamilyPrefix = keyof typeof FAMILY_OF_PREFIX
/** Each family comes with SHA-256, SHA-384 and SHA-512. */
const SHA2_SIZES = [256, 384, 512] as const
type Sha2Size = (typeof SHA2_SIZES)[number]
/** The ECDSA curve of each size, in bits: ES512 signs on P-521. */
const ECDSA_CURVE_BITS: Readonly<Record<Sha2Size, number>> = { 256: 256, 384: 384, 512: 521 }

export type JwsAlgorithm = `${FamilyPrefix}${Sha2Size}` | 'EdDSA'

export type AlgorithmFamily = (typeof FAMILY_OF_PREFIX)[FamilyPrefix] | 'eddsa'

export interface AlgorithmSpec {
  readonly family: AlgorithmFamily
  /** node:crypto digest name; null for EdDSA (the curve fixes the hash). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
  /** Hash output length (HMAC floor, PSS salt length) or, for ECDSA, the coordinate length. */
  readonly bytes: number
}

/** HS256 … ES512 (each family with each SHA-2 size), then EdDSA: the list help and errors show. */
export const JWS_ALGORITHMS: readonly JwsAlgorithm[] = Object.freeze([
  ...(Object.keys(FAMILY_OF_PREFIX) as FamilyPrefix[]).flatMap((prefix) => SHA2_SIZES.map((size): JwsAlgorithm => `${prefix}${size}`)),
  'EdDSA',
])

function specOf(alg: JwsAlgorithm): AlgorithmSpec {
  if (alg === 'EdDSA') return { family: 'eddsa', hash: null, bytes: 0 }
  const family = FAMILY_OF_PREFIX[alg.slice(0, 2) as FamilyPrefix]
  const size = Number(alg.slice(2)) as Sha2Size
  return { family, hash: `sha${size}`, bytes: Math.ceil((family === 'ecdsa' ? ECDSA_CURVE_BITS[size] : size) / 8) }
}

export const ALGORITHM_SPECS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = Object.freeze(
  Object.fromEntries(JWS_ALGORITHMS.map((alg) => [alg, Object.freeze(specOf(alg))])) as Record<JwsAlgorithm, AlgorithmSpec>,
)

export function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && (JWS_ALGORITHMS as readonly string[]).includes(value)
}

/** Smallest RSA modulus we accept (RFC 7518 §3.3: 2048 bits or larger). */
export const MIN_RSA_BITS = 2048

const CURVE_ALGORITHM: Readonly<Record<string, JwsAlgorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
}

/** JOSE curve names to the node:crypto names (for messages and JWK import). */
export const JOSE_CURVES: Readonly<Record<string, string>> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
}

/** HMAC algorithms a secret of `length` bytes is long enough for (RFC 7518 §3.2). */
export function hmacAlgorithmsFor(length: number): JwsAlgorithm[] {
  return (['HS256', 'HS384', 'HS512'] as const).filter((alg) => length >= ALGORITHM_SPECS[alg].bytes)
}

/**
 * Every algorithm a key can verify, or a reason why the key is unusable.
 * RSA: RS* and PS*; RSA-PSS-only keys: PS*; EC: the one ES* of its curve; Ed25519/Ed448:
 * EdDSA; secret keys: the HS* their length allows.
 */
export function algorithmsForKey(key: KeyObject): JwsAlgorithm[] | { readonly unusable: string } {
  if (key.type === 'secret') {
    const size = key.symmetricKeySize ?? 0
    const algs = hmacAlgorithmsFor(size)
    return algs.length > 0 ? algs : { unusable: `HMAC secret is ${size} bytes; at least 32 are needed (HS256)` }
  }
  if (key.type === 'private') return { unusable: 'a private key was given; configure the public key' }
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.modulusLength ?? 0
      if (bits < MIN_RSA_BITS) return { unusable: `RSA key is ${bits} bits; at least ${MIN_RSA_BITS} are needed` }
      return key.asymmetricKeyType === 'rsa'
        ? ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
        : ['PS256', 'PS384', 'PS512']
    }
    case 'ec': {
      const alg = CURVE_ALGORITHM[details.namedCurve ?? '']
      return alg !== undefined ? [alg] : { unusable: `EC curve '${details.namedCurve ?? '?'}' is not supported (P-256, P-384, P-521)` }
    }
    case 'ed25519':
    case 'ed448':
      return ['EdDSA']
    default:
      return { unusable: `key type '${key.asymmetricKeyType ?? '?'}' is not supported` }
  }
}

/** A short, secret-free description of a key for logs, status and inspect reports. */
export function describeKey(key: KeyObject): string {
  if (key.type === 'secret') return `HMAC secret (${key.symmetricKeySize ?? 0} bytes)`
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `${key.asymmetricKeyType.toUpperCase()} ${details.modulusLength ?? '?'} bits`
    case 'ec':
      return `EC ${details.namedCurve ?? '?'}`
    default:
      return key.asymmetricKeyType ?? 'unknown key'
  }
}
