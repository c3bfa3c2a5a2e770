/**
 * `${dataDir}/state.sqlite`: the broker's durable state (persistent sessions and retained
 * messages) in one file, so that one commit covers both, with group commit: stores record
 * their changes here as they happen (statements to run, nothing read), and every change
 * recorded during one turn of the event loop is committed in one transaction on the next
 * (setImmediate). Whoever must not answer a client before a change is stored waits with
 * afterCommit. WAL journal; `sync: normal` (synchronous=NORMAL) survives a kill -9 of the
 * process, `full` (synchronous=FULL) also a power loss.
 *
 * A failed commit (disk full, read-only file) rolls back the whole group: its waiters are
 * told, the failure is logged once per burst and counted, and the next group tries again.
 */
import type Database from 'better-sqlite3'
import { statSync } from 'node:fs'
import type { Logger } from '../../log.js'
import type { CommitBarrier } from '../types.js'
import { openDatabase } from './database.js'

export const STATE_DB_FILE = 'state.sqlite'
export const STATE_SCHEMA_VERSION = 1

export type SyncMode = 'normal' | 'full'

/** How often the database notes that the broker is alive: a crash is dated to the last note. */
const HEARTBEAT_MS = 1000

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties TEXT,        -- MQTT 5 properties forwarded with the message (properties-json.ts)
    expires_at INTEGER,     -- epoch ms (Message Expiry Interval), NULL: never
    origin TEXT             -- publisher's client id, NULL for the broker's messages
  );
  CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY,
    expiry_interval INTEGER NOT NULL,
    connected INTEGER NOT NULL,
    last_connection TEXT,   -- JSON (StoredLastConnection)
    will TEXT               -- JSON (StoredWill, message properties as properties-json.ts)
  );
  CREATE TABLE IF NOT EXISTS subscriptions (
    client_id TEXT NOT NULL,
    key TEXT NOT NULL,
    options TEXT NOT NULL,  -- JSON (StoredSubscription without key)
    PRIMARY KEY (client_id, key)
  ) WITHOUT ROWID;
  -- A message is stored once, however many sessions it is queued for.
  CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    properties TEXT,
    expires_at INTEGER,
    origin TEXT
  );
  CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    subscription_ids TEXT,  -- JSON array or NULL
    packet_id INTEGER,      -- NULL: queued, not sent yet
    state INTEGER NOT NULL, -- 0 queued, 1 PUBLISH sent, 2 PUBREL sent
    ord INTEGER NOT NULL    -- resend order of messages in flight
  );
  CREATE INDEX IF NOT EXISTS deliveries_by_client ON deliveries (client_id, id);
  CREATE TABLE IF NOT EXISTS incoming_qos2 (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, packet_id)
  ) WITHOUT ROWID;
`

export interface CommitStats {
  commits: number
  failures: number
  /** Changes committed in all groups. */
  changes: number
  /** Seconds the last commit took. */
  lastCommitSeconds: number
  lastBatchSize: number
  /** Observers of commit latency (s) and batch size (changes). */
  observe?: (seconds: number, changes: number) => void
}

export class StateDatabase implements CommitBarrier {
  readonly file: string
  readonly db: Database.Database
  readonly stats: CommitStats = { commits: 0, failures: 0, changes: 0, lastCommitSeconds: 0, lastBatchSize: 0 }
  readonly #logger: Logger
  #ops: Array<() => void> = []
  #waiters: Array<(err: Error | undefined) => void> = []
  #scheduled = false
  #recorded = 0
  /** A failure was logged and no commit has succeeded since (one log line per burst). */
  #failing = false
  #closed = false
  readonly #heartbeat: NodeJS.Timeout
  readonly #beat: () => void
  readonly #commit: (ops: Array<() => void>) => void
  readonly #flushBound = (): void => this.#flush()

  /** Open (or create) the file; throws an error naming it (corrupt, newer schema, unreadable). */
  constructor(dataDir: string, sync: SyncMode, logger: Logger) {
    const { db, file } = openDatabase(dataDir, {
      fileName: STATE_DB_FILE,
      what: 'state store',
      schema: SCHEMA,
      schemaVersion: STATE_SCHEMA_VERSION,
    })
    this.db = db
    this.file = file
    this.#logger = logger
    if (sync === 'full') db.pragma('synchronous = FULL')
    this.#commit = db.transaction((ops: Array<() => void>) => {
      for (const op of ops) op()
    })
    const beat = db.prepare("INSERT INTO meta (key, value) VALUES ('alive_at', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
    this.#beat = () => {
      const now = String(Date.now())
      this.record(() => beat.run(now))
    }
    this.#heartbeat = setInterval(this.#beat, HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  /** Epoch ms the broker last noted it was alive (the crash, if it crashed), or undefined. */
  aliveAt(): number | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'alive_at'").get() as { value: string } | undefined
    return row === undefined ? undefined : Number(row.value)
  }

  get pending(): boolean {
    return this.#ops.length > 0
  }

  readonly available = true

  get recorded(): number {
    return this.#recorded
  }

  /** A change to commit with the next group. */
  record(op: () => void): void {
    if (this.#closed) return
    this.#recorded++
    this.#ops.push(op)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flushBound)
    }
  }

  afterCommit(done: (err: Error | undefined) => void): void {
    if (this.#ops.length === 0) done(undefined)
    else this.#waiters.push(done)
  }

  /** File size in bytes (database and its write-ahead log). */
  sizeBytes(): number {
    let n = 0
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        n += statSync(f).size
      } catch {
        // no WAL file yet
      }
    }
    return n
  }

  /** Commit what is pending, then close. Idempotent. */
  close(): void {
    if (this.#closed) return
    clearInterval(this.#heartbeat)
    this.#beat()
    this.#flush()
    this.#closed = true
    this.db.close()
  }

  #flush(): void {
    this.#scheduled = false
    if (this.#ops.length === 0) return
    const ops = this.#ops
    const waiters = this.#waiters
    this.#ops = []
    this.#waiters = []
    let error: Error | undefined
    const started = process.hrtime.bigint()
    try {
      this.#commit(ops)
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err))
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const s = this.stats
    if (error === undefined) {
      s.commits++
      s.changes += ops.length
      s.lastCommitSeconds = seconds
      s.lastBatchSize = ops.length
      s.observe?.(seconds, ops.length)
      if (this.#failing) {
        this.#failing = false
        this.#logger.warn({ file: this.file }, 'state store writable again')
      }
    } else {
      s.failures++
      if (!this.#failing) {
        this.#failing = true
        this.#logger.error({ err: error, file: this.file, changes: ops.length }, 'state store cannot write: nothing more is acknowledged until it can')
      }
    }
    for (const done of waiters) done(error)
  }
}
