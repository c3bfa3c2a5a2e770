/**
 * The JWS algorithms Portcullis verifies (RFC 7518 §3, RFC 8037) and which key types they
 * belong to. The algorithm is always decided by the configured key, never by the token:
 * a key carries the set of algorithms it may verify, and a token whose `alg` is not in
 * that set is refused before any cryptography runs.
 */
import type { KeyObject } from 'node:crypto'

export const JWS_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const

export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number]

export type AlgorithmFamily = 'hmac' | 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa'

export interface AlgorithmSpec {
  readonly family: AlgorithmFamily
  /** node:crypto digest name; null for EdDSA (the curve fixes the hash). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
  /** Hash output length (HMAC floor, PSS salt length) or, for ECDSA, the coordinate length. */
  readonly bytes: number
}

export const ALGORITHM_SPECS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = Object.freeze({
  HS256: { family: 'hmac', hash: 'sha256', bytes: 32 },
  HS384: { family: 'hmac', hash: 'sha384', bytes: 48 },
  HS512: { family: 'hmac', hash: 'sha512', bytes: 64 },
  RS256: { family: 'rsa', hash: 'sha256', bytes: 32 },
  RS384: { family: 'rsa', hash: 'sha384', bytes: 48 },
  RS512: { family: 'rsa', hash: 'sha512', bytes: 64 },
  PS256: { family: 'rsa-pss', hash: 'sha256', bytes: 32 },
  PS384: { family: 'rsa-pss', hash: 'sha384', bytes: 48 },
  PS512: { family: 'rsa-pss', hash: 'sha512', bytes: 64 },
  ES256: { family: 'ecdsa', hash: 'sha256', bytes: 32 },
  ES384: { family: 'ecdsa', hash: 'sha384', bytes: 48 },
  ES512: { family: 'ecdsa', hash: 'sha512', bytes: 66 },
  EdDSA: { family: 'eddsa', hash: null, bytes: 0 },
})

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
