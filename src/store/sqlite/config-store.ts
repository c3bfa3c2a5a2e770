/**
 * The management plane's persistent configuration: authenticators (in chain order),
 * authorization policies and the authorization settings, revoked tokens and registered devices,
 * in `${dataDir}/portcullis.db`.
 *
 * Entries are stored as raw configuration (the same shape as the YAML file), so loading
 * them goes through the very same validation as the file. The configuration file seeds
 * the first start; from then on the database wins until `resetStoredConfig` drops it.
 */
import type Database from 'better-sqlite3'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { StoredDevice } from '../../auth/devices/device.js'
import type { DeviceStore } from '../../auth/devices/registry.js'
import type { Revocation, RevocationStore } from '../../auth/revocation.js'
import type { AuditEntry, AuditRecord, AuditStore } from '../audit-types.js'
import { openDatabase, readMeta, writeMeta } from './database.js'
import { clock } from '../../clock.js'

export const CONFIG_DB_FILE = 'portcullis.db'

/** Raw (file-shaped) configuration held by the store. */
export interface StoredConfig {
  /** Authenticator entries in chain order, as in `authentication.authenticators`. */
  readonly authenticators: readonly Record<string, unknown>[]
  /** As the `authorization` block: noMatch, aclClaim, superuserClaim?, policies. */
  readonly authorization: Readonly<Record<string, unknown>>
  /** Epoch ms of the last write. */
  readonly updatedAt: number
}

export class SqliteConfigStore implements RevocationStore, DeviceStore, AuditStore {
  readonly file: string
  readonly #db: Database.Database

  constructor(dataDir: string) {
    // The database holds HMAC secrets: openDatabase makes it owner-only.
    const { db, file } = openDatabase(dataDir, {
      fileName: CONFIG_DB_FILE,
      what: 'configuration store',
      schemaVersion: 1,
      schema: `
        CREATE TABLE IF NOT EXISTS authenticators (position INTEGER NOT NULL, name TEXT PRIMARY KEY, entry TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS policies (name TEXT PRIMARY KEY, position INTEGER NOT NULL, entry TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS authorization_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS revocations (id TEXT PRIMARY KEY, entry TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, entry TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
      `,
    })
    this.#db = db
    this.file = file
  }

  /** The stored configuration, or undefined when nothing was stored yet (first start, or after a reset). */
  load(): StoredConfig | undefined {
    const updatedAt = readMeta(this.#db, 'updated_at')
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
      writeMeta(db, 'updated_at', String(clock.now()))
    })
    write()
  }

  /** Revoked tokens (`--reset-config` drops them with the rest of the file). */
  loadRevocations(): Revocation[] {
    return (this.#db.prepare('SELECT entry FROM revocations').all() as { entry: string }[]).map((r) => JSON.parse(r.entry) as Revocation)
  }

  addRevocation(entry: Revocation): void {
    this.#db.prepare('INSERT OR REPLACE INTO revocations (id, entry) VALUES (?, ?)').run(entry.id, JSON.stringify(entry))
  }

  removeRevocations(ids: readonly string[]): void {
    const remove = this.#db.prepare('DELETE FROM revocations WHERE id = ?')
    this.#db.transaction(() => {
      for (const id of ids) remove.run(id)
    })()
  }

  /** Registered devices and their keys (`--reset-config` drops them with the rest of the file). */
  loadDevices(): StoredDevice[] {
    return (this.#db.prepare('SELECT entry FROM devices').all() as { entry: string }[]).map((r) => JSON.parse(r.entry) as StoredDevice)
  }

  putDevices(devices: readonly StoredDevice[]): void {
    const put = this.#db.prepare('INSERT OR REPLACE INTO devices (id, entry) VALUES (?, ?)')
    this.#db.transaction(() => {
      for (const d of devices) put.run(d.id, JSON.stringify(d))
    })()
  }

  removeDevices(ids: readonly string[]): void {
    const remove = this.#db.prepare('DELETE FROM devices WHERE id = ?')
    this.#db.transaction(() => {
      for (const id of ids) remove.run(id)
    })()
  }

  /** Appends an audit entry and drops all but the newest `keep`; returns its id. */
  addAudit(entry: AuditRecord, keep: number): number {
    const db = this.#db
    return db.transaction(() => {
      const id = Number(db.prepare('INSERT INTO audit (entry) VALUES (?)').run(JSON.stringify(entry)).lastInsertRowid)
      db.prepare('DELETE FROM audit WHERE id <= ?').run(id - keep)
      return id
    })()
  }

  /** Audit entries older than `before` (all when undefined), newest first. */
  listAudit(before: number | undefined, limit: number): AuditEntry[] {
    const rows = this.#db.prepare('SELECT id, entry FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?').all(before ?? Number.MAX_SAFE_INTEGER, limit) as { id: number; entry: string }[]
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(r.entry) as AuditRecord) }))
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
