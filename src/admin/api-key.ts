/**
 * The admin API key: `Authorization: Bearer <key>`. The development setup (or a
 * configuration with an admin block but no `admin.apiKey`) keeps a generated key in
 * `dataDir/admin-api-key` (mode 0600); in a cluster the generated key is the cluster's
 * (cluster-api-key.ts), copied into that file on each node. Keys are compared in
 * constant time and never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { loadOrCreateSecretFile, writeSecretFile } from '../secret-file.js'

export const API_KEY_FILE = 'admin-api-key'

export interface ApiKey {
  readonly key: string
  readonly file: string
  /** True when the key was generated now (print it once). */
  readonly created: boolean
}

/** A new random key (256 bits). */
export function generateApiKey(): string {
  return `pc_${randomBytes(32).toString('base64url')}`
}

/** The key in a key file's text, or undefined when it is not usable (too short). */
export function readApiKey(text: string): string | undefined {
  return text.trim().length >= 16 ? text.trim() : undefined
}

/** Read the key from `dataDir/admin-api-key`, or generate and store one (mode 0600). */
export function loadOrCreateApiKey(dataDir: string): ApiKey {
  const { value: key, file, created } = loadOrCreateSecretFile(dataDir, API_KEY_FILE, readApiKey, () => {
    const made = generateApiKey()
    return { value: made, text: `${made}\n` }
  })
  return { key, file, created }
}

/** Keeps `key` in `dataDir/admin-api-key` (mode 0600), where the `portcullis` commands and the operator read it. */
export function writeApiKeyFile(dataDir: string, key: string): string {
  return writeSecretFile(dataDir, API_KEY_FILE, `${key}\n`)
}

/**
 * Constant-time check of an `Authorization` header against the key. Both sides are hashed
 * first so that neither the key's length nor its content leaks through timing.
 */
export function checkBearer(header: string | undefined, key: string): boolean {
  if (header === undefined) return false
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header)
  const presented = m?.[1] ?? ''
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(key).digest()
  return timingSafeEqual(a, b) && presented !== '' && key !== ''
}

/**
 * The name of the key an `Authorization` header carries, or undefined. Every key is checked
 * (constant time each, no early exit), so timing tells neither whether nor which key matched.
 */
export function matchApiKey(header: string | undefined, keys: readonly { readonly name: string; readonly key: string }[]): string | undefined {
  let found: string | undefined
  for (const k of keys) if (checkBearer(header, k.key) && found === undefined) found = k.name
  return found
}
