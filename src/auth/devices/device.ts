/**
 * A registered device and its keys: the input the API and the bulk import accept, validated
 * into the stored shape, and the keys imported once, at write time, into verification keys
 * (a CONNECT does no PEM or JWK parsing).
 *
 *   { id, enabled?, description?, keys: [{ id?, pem | jwk | secret, expiresAt? }] }
 *
 * Up to MAX_DEVICE_KEYS keys per device, so that a new key can be added before the old one is
 * removed (rotation). A key past its `expiresAt` no longer verifies. Every mistake is a
 * ConfigError naming its path (`keys[1].pem`), as in the configuration file.
 */
import { createHash, createSecretKey, type KeyObject } from 'node:crypto'
import { absent, expected, isMapping, knownKeys, list, mapping, optionalBoolean, optionalString } from '../../config/check.js'
import { ConfigError } from '../../errors.js'
import { hmacAlgorithmsFor } from '../jwt/algorithms.js'
import { bindAlgorithms, importJwk, importPublicKeyPem, makeVerifyKey, type VerifyKey } from '../jwt/keys.js'
import { clock } from '../../clock.js'

/** Keys per device: the current one, its successor, and one spare for an overlap. */
export const MAX_DEVICE_KEYS = 3
/** A device id is compared with MQTT client ids (which may be up to 65,535 bytes): 256 characters is plenty. */
export const MAX_DEVICE_ID_CHARS = 256
const KEY_ID = /^[A-Za-z0-9_.:-]{1,64}$/
const DEVICE_KEYS = ['id', 'enabled', 'description', 'keys']
const KEY_KEYS = ['id', 'pem', 'jwk', 'secret', 'expiresAt']

export type DeviceKeyFormat = 'pem' | 'jwk' | 'secret'

/** A key as stored (the material as given: a PEM text, a JWK's JSON, or an HMAC secret). */
export interface StoredDeviceKey {
  readonly id: string
  readonly format: DeviceKeyFormat
  readonly material: string
  /** Epoch ms after which the key no longer verifies. */
  readonly expiresAt?: number
}

/** A device as stored. */
export interface StoredDevice {
  readonly id: string
  readonly enabled: boolean
  readonly description?: string
  readonly keys: readonly StoredDeviceKey[]
  readonly createdAt: number
  readonly updatedAt: number
}

/** A key imported for verification, with its expiry. */
export interface DeviceVerifyKey {
  readonly stored: StoredDeviceKey
  readonly verify: VerifyKey
}

/** A device ready for CONNECTs: its stored form and its imported keys. */
export interface RegisteredDevice {
  readonly device: StoredDevice
  readonly keys: readonly DeviceVerifyKey[]
  /** Every key's VerifyKey, in order (returned as is while no key has expired). */
  readonly verifyKeys: readonly VerifyKey[]
  /** The earliest key expiry (epoch ms), Infinity when none expires. */
  readonly firstExpiry: number
}

/** A device id: 1..256 characters, no control characters (it is compared with client ids and shown in logs). */
export function checkDeviceId(value: unknown, path: string): string {
  if (absent(value)) throw new ConfigError(path, 'is required')
  if (typeof value !== 'string') throw expected(path, 'a string', value)
  if (value === '') throw new ConfigError(path, 'is required')
  if ([...value].length > MAX_DEVICE_ID_CHARS) throw new ConfigError(path, `must be at most ${MAX_DEVICE_ID_CHARS} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new ConfigError(path, 'must not contain control characters')
  return value
}

/** A time as epoch milliseconds: epoch seconds (a number) or an ISO 8601 date. */
function expiryMs(value: unknown, path: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 8.64e12) return Math.floor(value * 1000)
  if (typeof value === 'string' && value.trim() !== '') {
    const ms = Date.parse(value)
    if (Number.isFinite(ms)) return ms
  }
  throw expected(path, 'epoch seconds or an ISO 8601 date', value)
}

/** Imports a stored key (already validated once; the message says what is wrong otherwise). */
export function importDeviceKey(key: StoredDeviceKey, index: number): VerifyKey {
  let imported: KeyObject
  if (key.format === 'pem') imported = importPublicKeyPem(key.material)
  else if (key.format === 'secret') {
    const bytes = Buffer.from(key.material, 'utf8')
    if (hmacAlgorithmsFor(bytes.length).length === 0) throw new Error(`is ${bytes.length} bytes; an HMAC secret must be at least 32 bytes (HS256)`)
    return makeVerifyKey(createSecretKey(bytes), hmacAlgorithmsFor(bytes.length), key.id, index)
  } else {
    let jwk: unknown
    try {
      jwk = JSON.parse(key.material)
    } catch {
      throw new Error('is not JSON')
    }
    const result = importJwk(jwk, index, undefined)
    if (!result.ok) throw new Error(result.reason)
    // The key's id is the device key id (a JWK kid, if any, was taken as that id).
    return makeVerifyKey(result.key.key, [...result.key.algorithms], key.id, index)
  }
  const algorithms = bindAlgorithms(imported, undefined)
  if (algorithms.length === 0) throw new Error('no signature algorithm fits this key')
  return makeVerifyKey(imported, algorithms, key.id, index)
}

/** Builds a registered device: every key imported (throws ConfigError naming the key). */
export function registerDevice(device: StoredDevice, path = 'device'): RegisteredDevice {
  const keys = device.keys.map((stored, i) => {
    try {
      const expiry = stored.expiresAt !== undefined ? { expiresAt: stored.expiresAt } : {}
      return { stored, verify: Object.freeze({ ...importDeviceKey(stored, i), owner: device.id, ...expiry }) }
    } catch (cause) {
      throw new ConfigError(`${path}.keys[${i}].${stored.format}`, (cause as Error).message, { cause })
    }
  })
  const firstExpiry = Math.min(Infinity, ...keys.map((k) => k.stored.expiresAt ?? Infinity))
  return Object.freeze({ device, keys: Object.freeze(keys), verifyKeys: Object.freeze(keys.map((k) => k.verify)), firstExpiry })
}

function parseKey(raw: unknown, path: string, index: number): StoredDeviceKey {
  const r = mapping(raw, path)
  knownKeys(r, path, KEY_KEYS)
  const given = (['pem', 'jwk', 'secret'] as const).filter((f) => !absent(r[f]))
  if (given.length !== 1) throw new ConfigError(path, 'needs exactly one of pem (a public key or certificate), jwk (a JWK object) or secret (an HMAC secret)')
  const format = given[0]
  let material: string
  let jwkKid: string | undefined
  if (format === 'jwk') {
    const jwk = typeof r['jwk'] === 'string' ? parseJson(r['jwk'], `${path}.jwk`) : r['jwk']
    if (!isMapping(jwk)) throw expected(`${path}.jwk`, 'a JWK object', jwk)
    if (typeof jwk['kid'] === 'string') jwkKid = jwk['kid']
    material = JSON.stringify(jwk)
  } else {
    material = optionalString(r[format], `${path}.${format}`) ?? ''
    if (material.trim() === '') throw new ConfigError(`${path}.${format}`, 'is required')
  }
  const id = optionalString(r['id'], `${path}.id`) ?? jwkKid ?? defaultKeyId(format, material, index)
  if (!KEY_ID.test(id)) throw new ConfigError(`${path}.id`, 'must be 1..64 characters: letters, digits, and _ . : -')
  const expiresAt = absent(r['expiresAt']) ? undefined : expiryMs(r['expiresAt'], `${path}.expiresAt`)
  return Object.freeze({ id, format, material, ...(expiresAt !== undefined ? { expiresAt } : {}) })
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(path, `is not JSON: ${(cause as Error).message}`)
  }
}

/** A key without an id is named by its material (public keys) or its position (secrets). */
function defaultKeyId(format: DeviceKeyFormat, material: string, index: number): string {
  if (format === 'secret') return `key-${index + 1}`
  return createHash('sha256').update(material.replace(/\s+/g, '')).digest('base64url').slice(0, 16)
}

/**
 * Validates a device as the API or an import row gives it (`path` prefixes error paths) and
 * imports its keys. `existing` keeps the creation time of a replaced device.
 */
export function parseDevice(raw: unknown, path: string, existing?: StoredDevice, now = clock.now()): RegisteredDevice {
  const r = mapping(raw, path)
  knownKeys(r, path, DEVICE_KEYS)
  const id = checkDeviceId(r['id'], `${path}.id`)
  const description = optionalString(r['description'], `${path}.description`)
  if (description !== undefined && [...description].length > 256) throw new ConfigError(`${path}.description`, 'must be at most 256 characters')
  const rawKeys = absent(r['keys']) ? [] : list(r['keys'], `${path}.keys`)
  if (rawKeys.length > MAX_DEVICE_KEYS) throw new ConfigError(`${path}.keys`, `holds ${rawKeys.length} keys; a device has at most ${MAX_DEVICE_KEYS}`)
  const keys = rawKeys.map((k, i) => parseKey(k, `${path}.keys[${i}]`, i))
  keys.forEach((k, i) => {
    if (keys.findIndex((o) => o.id === k.id) !== i) throw new ConfigError(`${path}.keys[${i}].id`, `'${k.id}' is used by another key of this device`)
  })
  const device: StoredDevice = Object.freeze({
    id,
    enabled: optionalBoolean(r['enabled'], `${path}.enabled`, true),
    ...(description !== undefined && description !== '' ? { description } : {}),
    keys: Object.freeze(keys),
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  })
  return registerDevice(device, path)
}

/** What the API shows of a key: never a secret; a public key's PEM, fingerprint, algorithms, expiry. */
export interface DeviceKeyView {
  readonly id: string
  readonly format: DeviceKeyFormat
  readonly description: string
  readonly algorithms: readonly string[]
  /** SHA-256 of the public key (SubjectPublicKeyInfo DER), colon-separated hex; absent for secrets. */
  readonly fingerprint?: string
  /** The public key as SPKI PEM; absent for secrets. */
  readonly pem?: string
  readonly expiresAt: number | null
  readonly expires: string | null
  readonly expired: boolean
}

export interface DeviceView {
  readonly id: string
  readonly enabled: boolean
  readonly description?: string
  readonly keys: readonly DeviceKeyView[]
  readonly createdAt: string
  readonly updatedAt: string
}

export function deviceView(d: RegisteredDevice, now = clock.now()): DeviceView {
  return {
    id: d.device.id,
    enabled: d.device.enabled,
    ...(d.device.description !== undefined ? { description: d.device.description } : {}),
    keys: d.keys.map(({ stored, verify }) => {
      const isPublic = verify.key.type === 'public'
      const der = isPublic ? verify.key.export({ type: 'spki', format: 'der' }) : undefined
      return {
        id: stored.id,
        format: stored.format,
        description: verify.description,
        algorithms: [...verify.algorithms],
        ...(der !== undefined ? { fingerprint: createHash('sha256').update(der).digest('hex').replace(/(..)(?!$)/g, '$1:').toUpperCase() } : {}),
        ...(isPublic ? { pem: String(verify.key.export({ type: 'spki', format: 'pem' })) } : {}),
        expiresAt: stored.expiresAt ?? null,
        expires: stored.expiresAt === undefined ? null : new Date(stored.expiresAt).toISOString(),
        expired: stored.expiresAt !== undefined && stored.expiresAt <= now,
      }
    }),
    createdAt: new Date(d.device.createdAt).toISOString(),
    updatedAt: new Date(d.device.updatedAt).toISOString(),
  }
}
