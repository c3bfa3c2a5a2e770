/**
 * Retained messages that survive a restart (`persistence.retained`), in
 * `${dataDir}/retained.sqlite`. The memory store still holds them for matching; this store
 * writes every change through to SQLite: a changed topic is marked dirty and the dirty
 * topics are written together, in one transaction, FLUSH_DELAY_MS later (and at once on
 * close), so a burst of retained publishes costs one commit.
 *
 * Opening loads every row, dropping those whose Message Expiry has passed; expiry is stored
 * as an absolute time, so it keeps counting while the broker is down. The broker's own
 * `$`-topics ($SYS) are regenerated on start and never stored.
 */
import type Database from 'better-sqlite3'
import type { QoS } from '../../mqtt/types.js'
import type { Message } from '../../mqtt/types.js'
import type { Logger } from '../../log.js'
import { MemoryRetainedStore } from '../memory/retained-store.js'
import type { RetainedScan, RetainedStore } from '../types.js'
import { openDatabase } from './database.js'
import { propertiesFromJson, propertiesToJson } from './properties-json.js'

export const RETAINED_DB_FILE = 'retained.sqlite'

/** How long a change waits for others to share its transaction; a crash loses at most this much. */
const FLUSH_DELAY_MS = 20

// Every stored message was published with RETAIN set, so the flag is implied, not stored.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties TEXT,        -- MQTT 5 properties forwarded with the message (properties-json.ts)
    expires_at INTEGER,     -- epoch ms (Message Expiry Interval), NULL: never
    origin TEXT             -- publisher's client id, NULL for the broker's messages
  );
`

interface RetainedRow {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: number
  readonly properties: string | null
  readonly expires_at: number | null
  readonly origin: string | null
}

export class SqliteRetainedStore implements RetainedStore {
  readonly file: string
  readonly #db: Database.Database
  readonly #memory = new MemoryRetainedStore()
  readonly #logger: Logger
  /** Topics changed since the last flush, with their latest message (empty payload: delete). */
  readonly #dirty = new Map<string, Message>()
  readonly #writeDirty: () => void
  #timer: NodeJS.Timeout | undefined
  #closed = false

  /** Open (or create) the database and load what it holds; throws an error naming the file. */
  constructor(dataDir: string, logger: Logger) {
    const { db, file } = openDatabase(dataDir, {
      fileName: RETAINED_DB_FILE,
      what: 'retained message store',
      schema: SCHEMA,
      schemaVersion: 1,
    })
    this.#db = db
    this.file = file
    this.#logger = logger
    try {
      this.#load(Date.now())
      this.#writeDirty = this.#prepareWrite()
    } catch (err) {
      db.close()
      throw new Error(`cannot load the retained message store ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  get size(): number {
    return this.#memory.size
  }

  set(message: Message): void {
    this.#memory.set(message)
    if (this.#closed || message.topic.startsWith('$')) return
    this.#dirty.set(message.topic, message)
    this.#timer ??= setTimeout(() => this.#flush(), FLUSH_DELAY_MS)
  }

  match(filter: string): Message[] {
    return this.#memory.match(filter)
  }

  scan(filters: readonly string[]): RetainedScan {
    return this.#memory.scan(filters)
  }

  /** Write what is still dirty, then close the database. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#flush()
    this.#db.close()
    await this.#memory.close()
  }

  #load(now: number): void {
    this.#db.prepare('DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now)
    for (const row of this.#db.prepare('SELECT topic, payload, qos, properties, expires_at, origin FROM retained').iterate() as IterableIterator<RetainedRow>) {
      this.#memory.set({
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

  #prepareWrite(): () => void {
    const upsert = this.#db.prepare(`
      INSERT INTO retained (topic, payload, qos, properties, expires_at, origin) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos,
        properties = excluded.properties, expires_at = excluded.expires_at, origin = excluded.origin
    `)
    const remove = this.#db.prepare('DELETE FROM retained WHERE topic = ?')
    return this.#db.transaction(() => {
      for (const m of this.#dirty.values()) {
        if (m.payload.length === 0) remove.run(m.topic)
        else upsert.run(m.topic, m.payload, m.qos, propertiesToJson(m.properties), m.expiresAt ?? null, m.origin ?? null)
      }
    })
  }

  /** One transaction for every dirty topic; on failure they stay dirty for the next flush. */
  #flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#dirty.size === 0) return
    try {
      this.#writeDirty()
      this.#dirty.clear()
    } catch (err) {
      this.#logger.error(
        { err, file: this.file, topics: this.#dirty.size },
        this.#closed ? 'retained messages lost: could not write them on close' : 'could not write retained messages (retried with the next change)',
      )
    }
  }
}
