/**
 * Retained messages that survive a restart (`persistence.retained`), in the state database
 * (`${dataDir}/state.sqlite`, state-database.ts), so that one commit covers a retained message
 * and the sessions it was queued for, and a PUBACK waits for both. The memory store still holds
 * them for matching; every change is written through as part of the database's next group
 * commit.
 *
 * Opening loads every row, dropping those whose Message Expiry has passed; expiry is stored
 * as an absolute time, so it keeps counting while the broker is down. The broker's own
 * `$`-topics ($SYS) are regenerated on start and never stored. A `retained.sqlite` left by an
 * earlier version is migrated into the state database once and renamed `retained.sqlite.migrated`.
 */
import type { Statement } from 'better-sqlite3'
import { existsSync, renameSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Message, QoS } from '../../mqtt/types.js'
import type { Logger } from '../../log.js'
import { WriteThroughRetainedStore } from '../write-through-retained-store.js'
import { propertiesFromJson, propertiesToJson } from './properties-json.js'
import type { StateDatabase } from './state-database.js'
import { clock } from '../../clock.js'

/** The file earlier versions kept retained messages in (migrated into state.sqlite). */
export const RETAINED_DB_FILE = 'retained.sqlite'

interface RetainedRow {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: number
  readonly properties: string | null
  readonly expires_at: number | null
  readonly origin: string | null
}

export class SqliteRetainedStore extends WriteThroughRetainedStore {
  readonly file: string
  readonly #state: StateDatabase
  readonly #upsert: Statement
  readonly #remove: Statement

  /** Load what the state database holds (migrating an old retained.sqlite first); throws an error naming the file. */
  constructor(state: StateDatabase, logger: Logger) {
    super()
    this.#state = state
    this.file = state.file
    const db = state.db
    try {
      migrateRetainedFile(state, logger)
      this.#load(clock.now())
    } catch (err) {
      throw new Error(`cannot load retained messages from the state store ${state.file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    this.#upsert = db.prepare(`
      INSERT INTO retained (topic, payload, qos, properties, expires_at, origin) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos,
        properties = excluded.properties, expires_at = excluded.expires_at, origin = excluded.origin
    `)
    this.#remove = db.prepare('DELETE FROM retained WHERE topic = ?')
  }

  protected write(m: Message): void {
    const upsert = this.#upsert
    const properties = propertiesToJson(m.properties)
    this.#state.record(() => upsert.run(m.topic, m.payload, m.qos, properties, m.expiresAt ?? null, m.origin ?? null))
  }

  protected erase(topic: string): void {
    const remove = this.#remove
    this.#state.record(() => remove.run(topic))
  }

  #load(now: number): void {
    const db = this.#state.db
    db.prepare('DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now)
    for (const row of db.prepare('SELECT topic, payload, qos, properties, expires_at, origin FROM retained').iterate() as IterableIterator<RetainedRow>) {
      this.memory.set({
        topic: row.topic,
        payload: row.payload,
        qos: row.qos as QoS,
        retain: true,
        properties: propertiesFromJson(row.properties),
        expiresAt: row.expires_at ?? undefined,
        origin: row.origin ?? undefined,
      })
    }
  }
}

/** Copy the retained messages of an earlier version's retained.sqlite into the state database, once. */
function migrateRetainedFile(state: StateDatabase, logger: Logger): void {
  const old = join(dirname(state.file), RETAINED_DB_FILE)
  if (!existsSync(old)) return
  const db = state.db
  db.prepare('ATTACH DATABASE ? AS old').run(old)
  try {
    const n = db.prepare('INSERT OR IGNORE INTO main.retained (topic, payload, qos, properties, expires_at, origin) SELECT topic, payload, qos, properties, expires_at, origin FROM old.retained').run().changes
    logger.info({ from: old, to: state.file, messages: n }, 'retained messages migrated into the state store')
  } finally {
    db.prepare('DETACH DATABASE old').run()
  }
  for (const suffix of ['-wal', '-shm', '']) {
    if (existsSync(old + suffix)) renameSync(old + suffix, `${old}.migrated${suffix}`)
  }
}
