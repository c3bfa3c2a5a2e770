/** What the per-device key tests share: a `type: devices` authenticator and device key pairs. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'

export const AUDIENCE = 'portcullis-devices-test'

/** One `devices` authenticator (tokens need `aud` AUDIENCE and at most an hour's life). */
export const DEVICES_CONFIG = {
  authentication: {
    allowAnonymous: false,
    authenticators: [{ type: 'devices', name: 'fleet', claims: { audience: AUDIENCE, maxAge: 3600 } }],
  },
}

export interface Pair {
  readonly privateKey: KeyObject
  /** The public key, SPKI PEM. */
  readonly pem: string
}

/** A fresh P-256 device key pair. */
export function ecPair(): Pair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, pem: String(publicKey.export({ type: 'spki', format: 'pem' })) }
}
