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
import { GroupCommitter, type CommitStats, type RecordedChange } from '../group-commit.js'
import type { CommitBarrier } from '../types.js'
import { openDatabase } from './database.js'
import { clock } from '../../clock.js'

export const STATE_DB_FILE = 'state.sqlite'
export const STATE_SCHEMA_VERSION = 1

export type SyncMode = 'normal' | 'full'

/** How often the database notes that the broker is alive: a crash is dated to the last note. */
const HEARTBEAT_MS = 1000

/** Lazy writes (see CommitTail) wait at most this long for a commit to ride along with (ms). */
const LAZY_MS = 20

/**
 * Writes that need no commit of their own (deletions of acknowledged messages, which a crash may
 * lose: the message is then sent again): they go at the end of the next commit, as few
 * statements as possible, and are kept until a commit holding them succeeds.
 */
export interface CommitTail {
  /** Something waits to be written. */
  readonly pending: boolean
  /** Write it (inside the commit's transaction). */
  write(): void
  /** The commit that wrote it succeeded: forget it. */
  written(): void
}

const NOOP = (): void => {}

/**
 * A change to run inside the next commit: a function, or an object that runs itself (a stored
 * delivery or message is its own change: one object per row instead of a record plus a closure).
 */
export type StateOp = (() => void) | { run(): void }

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

export class StateDatabase implements CommitBarrier {
  readonly file: string
  readonly db: Database.Database
  readonly #committer: GroupCommitter<StateOp>
  readonly #heartbeat: NodeJS.Timeout
  readonly #beat: () => void
  readonly #tails: CommitTail[] = []
  #lazyTimer: NodeJS.Timeout | undefined

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
    if (sync === 'full') db.pragma('synchronous = FULL')
    const tails = this.#tails
    const transaction = db.transaction((ops: readonly StateOp[]) => {
      for (const op of ops) {
        if (typeof op === 'function') op()
        else op.run()
      }
      for (const t of tails) if (t.pending) t.write()
    })
    this.#committer = new GroupCommitter({
      commit: (ops) => {
        transaction(ops)
        for (const t of tails) t.written()
      },
      failed: (err, changes) => logger.error({ err, file, changes }, 'state store cannot write: nothing more is acknowledged until it can'),
      recovered: () => logger.warn({ file }, 'state store writable again'),
    })
    const beat = db.prepare("INSERT INTO meta (key, value) VALUES ('alive_at', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
    this.#beat = () => {
      // wall-clock time the next process to open this file reads (how long the broker was down)
      const now = String(clock.now())
      this.record(() => beat.run(now))
    }
    this.#heartbeat = clock.setInterval(this.#beat, HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  /** Epoch ms the broker last noted it was alive (the crash, if it crashed), or undefined. */
  aliveAt(): number | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'alive_at'").get() as { value: string } | undefined
    return row === undefined ? undefined : Number(row.value)
  }

  get stats(): CommitStats {
    return this.#committer.stats
  }

  get pending(): boolean {
    return this.#committer.pending
  }

  readonly available = true

  get recorded(): number {
    return this.#committer.recorded
  }

  /** A change to commit with the next group (one transaction); 0 once closed. */
  record(op: StateOp): RecordedChange {
    return this.#committer.record(op)
  }

  /** Drop a change not committed yet (false: it is committed already, or `change` is 0). */
  cancel(change: RecordedChange): boolean {
    return this.#committer.cancel(change)
  }

  /** True while `change` can still be cancelled. */
  uncommitted(change: RecordedChange): boolean {
    return this.#committer.uncommitted(change)
  }

  /** Hold the commit of `change`'s group for a moment (GroupCommitter.hold): false when it is committed already. */
  hold(change: RecordedChange): boolean {
    return this.#committer.hold(change)
  }

  /** Let go of a hold taken with `hold(change)`, once. */
  release(change: RecordedChange): void {
    this.#committer.release(change)
  }

  /** Written at the end of every commit (see CommitTail). */
  addTail(tail: CommitTail): void {
    this.#tails.push(tail)
  }

  /** A tail has something to write: make sure a commit comes within LAZY_MS, even when nothing else is recorded. */
  lazyWrite(): void {
    if (this.#lazyTimer !== undefined || !this.db.open) return
    this.#lazyTimer = clock.setTimeout(() => {
      this.#lazyTimer = undefined
      if (this.#tails.some((t) => t.pending)) this.record(NOOP)
    }, LAZY_MS)
  }

  afterCommit(done: (err: Error | undefined) => void, since?: number): void {
    this.#committer.afterCommit(done, since)
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

  /** Commit what is pending (synchronously: the commit is a transaction), then close. Idempotent. */
  close(): void {
    if (!this.db.open) return
    clearInterval(this.#heartbeat)
    clearTimeout(this.#lazyTimer)
    this.#beat()
    void this.#committer.close()
    this.db.close()
  }
}
