/**
 * The management plane's persistent configuration: authenticators (in chain order),
 * authorization policies and the authorization settings, in `${dataDir}/portcullis.db`.
 *
 * Entries are stored as raw configuration (the same shape as the YAML file), so loading
 * them goes through the very same validation as the file. The configuration file seeds
 * the first start; from then on the database wins until `resetStoredConfig` drops it.
 */
import Database from 'better-sqlite3'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export const CONFIG_DB_FILE = 'portcullis.db'
const SCHEMA_VERSION = 1

/** Raw (file-shaped) configuration held by the store. */
export interface StoredConfig {
  /** Authenticator entries in chain order, as in `authentication.authenticators`. */
  readonly authenticators: readonly Record<string, unknown>[]
  /** As the `authorization` block: noMatch, aclClaim, superuserClaim?, policies. */
  readonly authorization: Readonly<Record<string, unknown>>
  /** Epoch ms of the last write. */
  readonly updatedAt: number
}

export class SqliteConfigStore {
  readonly file: string
  readonly #db: Database.Database

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true })
    this.file = join(dataDir, CONFIG_DB_FILE)
    // The database holds HMAC secrets: owner only (SQLite gives its -wal/-shm files the same mode).
    closeSync(openSync(this.file, 'a', 0o600))
    chmodSync(this.file, 0o600)
    this.#db = new Database(this.file)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('synchronous = NORMAL')
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS authenticators (position INTEGER NOT NULL, name TEXT PRIMARY KEY, entry TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS policies (name TEXT PRIMARY KEY, position INTEGER NOT NULL, entry TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS authorization_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `)
    const version = this.#meta('schema_version')
    if (version === undefined) this.#setMeta('schema_version', String(SCHEMA_VERSION))
    else if (Number(version) > SCHEMA_VERSION) {
      this.#db.close()
      throw new Error(`${this.file} was written by a newer Portcullis (schema ${version}; this one knows ${SCHEMA_VERSION})`)
    }
  }

  #meta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
    return row?.value
  }

  #setMeta(key: string, value: string): void {
    this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
  }

  /** The stored configuration, or undefined when nothing was stored yet (first start, or after a reset). */
  load(): StoredConfig | undefined {
    const updatedAt = this.#meta('updated_at')
    if (updatedAt === undefined) return undefined
    const authenticators = (this.#db.prepare('SELECT entry FROM authenticators ORDER BY position').all() as { entry: string }[])
      .map((r) => JSON.parse(r.entry) as Record<string, unknown>)
    const policies = (this.#db.prepare('SELECT entry FROM policies ORDER BY position').all() as { entry: string }[])
      .map((r) => JSON.parse(r.entry) as Record<string, unknown>)
    const authorization: Record<string, unknown> = {}
    for (const r of this.#db.prepare('SELECT key, value FROM authorization_settings').all() as { key: string; value: string }[]) {
      authorization[r.key] = JSON.parse(r.value)
    }
    authorization['policies'] = policies
    return { authenticators, authorization, updatedAt: Number(updatedAt) }
  }

  /** Replace everything stored, in one transaction. */
  save(config: Omit<StoredConfig, 'updatedAt'>): void {
    const db = this.#db
    const write = db.transaction(() => {
      db.prepare('DELETE FROM authenticators').run()
      db.prepare('DELETE FROM policies').run()
      db.prepare('DELETE FROM authorization_settings').run()
      const addAuthenticator = db.prepare('INSERT INTO authenticators (position, name, entry) VALUES (?, ?, ?)')
      config.authenticators.forEach((entry, i) => addAuthenticator.run(i, String(entry['name']), JSON.stringify(entry)))
      const { policies, ...settings } = config.authorization
      const addPolicy = db.prepare('INSERT INTO policies (name, position, entry) VALUES (?, ?, ?)')
      ;((policies ?? []) as Record<string, unknown>[]).forEach((entry, i) => addPolicy.run(String(entry['name']), i, JSON.stringify(entry)))
      const addSetting = db.prepare('INSERT INTO authorization_settings (key, value) VALUES (?, ?)')
      for (const [key, value] of Object.entries(settings)) if (value !== undefined) addSetting.run(key, JSON.stringify(value))
      this.#setMeta('updated_at', String(Date.now()))
    })
    write()
  }

  close(): void {
    if (this.#db.open) this.#db.close()
  }
}

/**
 * Drop the stored configuration (`portcullis start --reset-config`): the next start is
 * seeded from the configuration file again. Returns true when there was something to drop.
 */
export function resetStoredConfig(dataDir: string): boolean {
  const file = join(dataDir, CONFIG_DB_FILE)
  const existed = existsSync(file)
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true })
  return existed
}
