/**
 * A secret the broker generates once and keeps in its data directory (the admin API key, the
 * development signing key): read when the file is there and usable, else generated and written
 * readable by the owner only (mode 0600).
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeDir } from './make-dir.js'

export interface SecretFile<T> {
  readonly value: T
  readonly file: string
  /** True when the secret was generated now (print it once). */
  readonly created: boolean
}

/**
 * `dataDir/name`: `read` turns the file's text into the secret (undefined: unusable, make a new
 * one); `create` makes a new secret and the text to store.
 */
export function loadOrCreateSecretFile<T>(
  dataDir: string,
  name: string,
  read: (text: string) => T | undefined,
  create: () => { readonly value: T; readonly text: string },
): SecretFile<T> {
  const file = join(dataDir, name)
  if (existsSync(file)) {
    const value = read(readFileSync(file, 'utf8'))
    if (value !== undefined) return { value, file, created: false }
  }
  const made = create()
  writeSecretFile(dataDir, name, made.text)
  return { value: made.value, file, created: true }
}

/** Writes `dataDir/name` readable by the owner only (mode 0600, also when the file was there); answers its path. */
export function writeSecretFile(dataDir: string, name: string, text: string): string {
  const file = join(dataDir, name)
  makeDir(dataDir)
  writeFileSync(file, text, { mode: 0o600 })
  chmodSync(file, 0o600) // a file that was there kept its own mode
  return file
}
