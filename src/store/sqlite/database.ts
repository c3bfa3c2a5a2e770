/**
 * Opening one of Portcullis's SQLite databases in the data directory, the same way for every
 * store: the file private to its owner, WAL journal, the store's tables, and a schema version
 * in a `meta` table that refuses a file written by a newer Portcullis. Any failure closes the
 * database and throws one error naming the file and saying why in words (a directory or file
 * that cannot be written, a data directory that is a file). A file that opens but cannot be
 * written (SQLite opens a write-protected file read-only) is refused here too, by a first
 * write, rather than at the first commit with clients connected.
 */
import Database from 'better-sqlite3'
import { chmodSync, closeSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { clock } from '../../clock.js'
import { makeDir } from '../../make-dir.js'

export interface DatabaseSpec {
  /** File name inside the data directory. */
  readonly fileName: string
  /** What the file holds, for error messages ("retained message store"). */
  readonly what: string
  /** `CREATE TABLE IF NOT EXISTS …` statements for the store's tables (not `meta`). */
  readonly schema: string
  readonly schemaVersion: number
}

export interface OpenedDatabase {
  readonly db: Database.Database
  readonly file: string
}

export function openDatabase(dataDir: string, spec: DatabaseSpec): OpenedDatabase {
  const file = join(dataDir, spec.fileName)
  let db: Database.Database | undefined
  try {
    makeDir(dataDir)
    // Stores may hold secrets or payloads: owner only (SQLite gives its -wal/-shm files the same mode).
    closeSync(openSync(file, 'a', 0o600))
    chmodSync(file, 0o600)
    db = new Database(file)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n${spec.schema}`)
    const version = readMeta(db, 'schema_version')
    if (version === undefined) writeMeta(db, 'schema_version', String(spec.schemaVersion))
    else if (Number(version) > spec.schemaVersion) {
      throw new Error(`it was written by a newer Portcullis (schema ${version}; this one knows ${spec.schemaVersion})`)
    }
    writeMeta(db, 'opened_at', String(clock.now()))
  } catch (err) {
    db?.close()
    throw new Error(`cannot open the ${spec.what} ${file}: ${openFailure(err, dataDir)}`, { cause: err })
  }
  return { db, file }
}

/** Why a database could not be opened, in words, with the system's or SQLite's own message. */
function openFailure(err: unknown, dataDir: string): string {
  const message = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return message
  // (Node's file system messages begin with their code; SQLite's do not.)
  const detail = message.startsWith(code) ? message : `${code}: ${message}`
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code.startsWith('SQLITE_READONLY')) {
    return `it cannot be written (${detail}); the broker needs write access to the data directory ${dataDir} ` +
      'and the files in it (dataDir in the configuration)'
  }
  if (code === 'ENOENT' && message.includes('mkdir')) {
    return `the data directory ${dataDir} cannot be made (${detail}; dataDir in the configuration)`
  }
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    return `the data directory ${dataDir}, or a folder above it, is not a directory (${detail}; dataDir in the configuration)`
  }
  return message
}

export function readMeta(db: Database.Database, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
  return row?.value
}

export function writeMeta(db: Database.Database, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
}
