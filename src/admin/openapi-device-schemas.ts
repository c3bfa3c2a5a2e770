/**
 * JSON Schemas of the devices part of the admin API (OpenAPI document at /api/docs).
 */
import { objectSchema } from './openapi-object-schema.js'

type Schema = Record<string, unknown>

const str = { type: 'string' }
const int = { type: 'integer' }
const bool = { type: 'boolean' }
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

export const DEVICE_SCHEMAS: Record<string, Schema> = {
  DeviceKeyInput: objectSchema({ additionalProperties: false, description: 'exactly one of pem, jwk or secret' }, {
    id: { ...str, pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'the key id a token may name in its kid header (default: the JWK kid, else derived from the key)' },
    pem: { ...str, description: 'a public key (SPKI, PKCS#1 RSA) or an X.509 certificate, PEM' },
    jwk: { type: ['object', 'string'], description: 'a public JWK (RSA, EC, OKP), or an oct JWK (HMAC secret, write-only)' },
    secret: { ...str, writeOnly: true, minLength: 32, description: 'an HMAC secret (UTF-8, at least 32 bytes); never returned' },
    expiresAt: { oneOf: [int, str], description: 'epoch seconds or ISO 8601: the key no longer verifies from then on' },
  }),
  DeviceInput: objectSchema({ additionalProperties: false, required: ['id'] }, {
    id: { ...str, maxLength: 256, description: 'the device id: its MQTT client id (lookup: clientId) or the token claim named by lookup' },
    enabled: { ...bool, default: true },
    description: { ...str, maxLength: 256 },
    keys: { type: 'array', maxItems: 3, items: ref('DeviceKeyInput') },
  }),
  DeviceKey: objectSchema({ required: ['id', 'format', 'description', 'algorithms', 'expiresAt', 'expires', 'expired'] }, {
    id: str,
    format: { enum: ['pem', 'jwk', 'secret'] },
    description: { ...str, description: 'e.g. EC prime256v1, RSA 2048 bits, HMAC secret (32 bytes)' },
    algorithms: { type: 'array', items: str, description: 'the signature algorithms the key verifies' },
    fingerprint: { ...str, description: 'SHA-256 of the public key (SPKI DER), colon-separated hex; absent for secrets' },
    pem: { ...str, description: 'the public key as SPKI PEM; absent for secrets (never returned)' },
    expiresAt: { type: ['integer', 'null'], description: 'epoch ms' },
    expires: { type: ['string', 'null'], description: 'expiresAt as ISO 8601' },
    expired: bool,
  }),
  Device: objectSchema({ required: ['id', 'enabled', 'keys', 'createdAt', 'updatedAt'] }, {
    id: str,
    enabled: bool,
    description: str,
    keys: { type: 'array', items: ref('DeviceKey') },
    createdAt: { ...str, format: 'date-time' },
    updatedAt: { ...str, format: 'date-time' },
  }),
  DeviceChangeResult: {
    allOf: [ref('Device'), objectSchema({ disconnected: { ...int, description: 'connected clients disconnected by the change' } })],
  },
  DevicePage: objectSchema({ required: ['devices', 'total', 'next'] }, {
    devices: { type: 'array', items: ref('Device') },
    total: { ...int, description: 'devices registered in all' },
    next: { type: ['string', 'null'], description: 'pass as after= for the next page; null on the last page' },
  }),
  DeviceImport: {
    description: 'a list of DeviceInput, or { devices: [...] } (or CSV, see the operation)',
    oneOf: [{ type: 'array', items: ref('DeviceInput') }, objectSchema({ required: ['devices'] }, { devices: { type: 'array', items: ref('DeviceInput') } })],
  },
  DeviceImportRowError: objectSchema({ required: ['row', 'path', 'message'] }, {
    row: { ...int, description: 'the n-th device of a JSON list, or the n-th data row of a CSV file (1-based)' },
    line: { ...int, description: 'CSV: the line the row starts on (the header is line 1)' },
    id: str,
    path: { ...str, description: 'the field at fault: devices[3].keys[0].pem, or row 7: pem' },
    message: str,
  }),
  DeviceImportResult: objectSchema({ required: ['created', 'replaced', 'errors', 'disconnected'] }, {
    created: int,
    replaced: int,
    errors: { type: 'array', items: ref('DeviceImportRowError'), description: 'rows not imported (partial=true); without partial, any error answers 400 with this list' },
    disconnected: int,
  }),
}
