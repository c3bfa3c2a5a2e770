/**
 * The SQLite retained store in-process: the `persistence` configuration key, the properties'
 * JSON form (Buffers come back as Buffers), group commits in the state database, the commit
 * on close, and the migration of an earlier version's retained.sqlite.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import type { Message } from '../../src/mqtt/types.js'
import { validateConfig } from '../../src/config/schema.js'
import { ConfigError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { propertiesFromJson, propertiesToJson } from '../../src/store/sqlite/properties-json.js'
import { RETAINED_DB_FILE, SqliteRetainedStore } from '../../src/store/sqlite/retained-store.js'
import { STATE_DB_FILE, StateDatabase } from '../../src/store/sqlite/state-database.js'

function openStore(dir: string): { state: StateDatabase; store: SqliteRetainedStore; close: () => Promise<void> } {
  const state = new StateDatabase(dir, 'normal', silentLogger())
  const store = new SqliteRetainedStore(state, silentLogger())
  return { state, store, close: async () => { await store.close(); state.close() } }
}

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-retained-unit-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function message(topic: string, payload: string, extra: Partial<Message> = {}): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: true, properties: undefined, expiresAt: undefined, origin: 'pub-1', ...extra }
}

function rowCount(dir: string): number {
  const db = new Database(join(dir, STATE_DB_FILE), { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM retained').get() as { n: number }).n
  } finally {
    db.close()
  }
}

describe('config: persistence', () => {
  test('on by default (sessions, retained, sync normal); false keeps everything in memory', () => {
    assert.deepEqual(validateConfig({}).persistence, { sessions: true, retained: true, sync: 'normal' })
    assert.deepEqual(validateConfig({ persistence: false }).persistence, { sessions: false, retained: false, sync: 'normal' })
    assert.deepEqual(validateConfig({ persistence: { retained: false, sync: 'full' } }).persistence, { sessions: true, retained: false, sync: 'full' })
    assert.ok(Object.isFrozen(validateConfig({ persistence: { retained: true } }).persistence))
  })

  test('refuses unknown keys, non-booleans and unknown sync modes, naming the key path', () => {
    assert.throws(() => validateConfig({ persistence: { retained: true, queues: true } }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence.queues')
    assert.throws(() => validateConfig({ persistence: { retained: 'yes' } }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence.retained')
    assert.throws(() => validateConfig({ persistence: { sessions: 1 } }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence.sessions')
    assert.throws(() => validateConfig({ persistence: { sync: 'off' } }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence.sync')
    assert.throws(() => validateConfig({ persistence: 'yes' }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence')
  })
})

describe('properties as JSON', () => {
  test('Buffers come back as Buffers; client-chosen names are never taken for markers', () => {
    const props = {
      payloadFormatIndicator: false,
      contentType: 'text/plain',
      correlationData: Buffer.from([0, 255, 1, 254]),
      userProperties: { $buffers: ['contentType'], base64: 'x', list: ['1', '2'] },
    }
    const back = propertiesFromJson(propertiesToJson(props))
    assert.ok(Buffer.isBuffer(back?.correlationData))
    assert.deepEqual(back, props)
  })

  test('no properties is NULL', () => {
    assert.equal(propertiesToJson(undefined), null)
    assert.equal(propertiesFromJson(null), undefined)
  })
})

describe('SqliteRetainedStore', () => {
  test('a burst of changes is committed together, on the next turn of the event loop, not one by one', async (t) => {
    const dir = dataDir(t)
    const { state, store, close } = openStore(dir)
    const before = state.stats.commits
    for (let i = 0; i < 500; i++) store.set(message(`burst/${i}`, `m${i}`))
    assert.equal(rowCount(dir), 0, 'nothing written synchronously with set()')
    assert.equal(store.match('burst/#').length, 500, 'matching sees the changes at once')
    assert.equal(state.pending, true)
    await new Promise<void>((resolve) => state.afterCommit(() => resolve()))
    assert.equal(rowCount(dir), 500)
    assert.equal(state.stats.commits - before, 1, 'one transaction for the burst')
    assert.equal(state.stats.lastBatchSize, 500)
    await close()
  })

  test('close() writes what is pending; reopening restores every field and drops expired rows', async (t) => {
    const dir = dataDir(t)
    const now = Date.now()
    const { store, close } = openStore(dir)
    const kept = message('a/kept', 'k', { qos: 2, expiresAt: now + 60_000, properties: { correlationData: Buffer.from('id-1'), userProperties: { k: 'v' } } })
    store.set(kept)
    store.set(message('a/expired', 'e', { expiresAt: now + 50 }))
    store.set(message('a/cleared', 'c'))
    store.set(message('a/cleared', ''))
    store.set(message('$SYS/broker/uptime', '1 seconds', { origin: undefined }))
    await close()
    await close() // idempotent
    await new Promise((resolve) => setTimeout(resolve, 80))

    const again = openStore(dir)
    try {
      assert.equal(again.store.size, 1)
      assert.deepEqual(again.store.match('#'), [{ ...kept, payload: Buffer.from('k') }])
      assert.equal(rowCount(dir), 1)
    } finally {
      await again.close()
    }
  })

  test('an earlier version\'s retained.sqlite is migrated into state.sqlite once, and renamed', async (t) => {
    const dir = dataDir(t)
    const old = new Database(join(dir, RETAINED_DB_FILE))
    old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, properties TEXT, expires_at INTEGER, origin TEXT);
      INSERT INTO meta VALUES ('schema_version', '1');`)
    old.prepare('INSERT INTO retained VALUES (?, ?, ?, ?, ?, ?)').run('old/a', Buffer.from('A'), 1, null, null, 'pub')
    old.prepare('INSERT INTO retained VALUES (?, ?, ?, ?, ?, ?)').run('old/b', Buffer.from('B'), 0, propertiesToJson({ contentType: 'x' }), Date.now() + 60_000, null)
    old.close()
    const first = openStore(dir)
    assert.deepEqual(first.store.match('old/#').map((m) => [m.topic, m.payload.toString(), m.qos]).sort(), [['old/a', 'A', 1], ['old/b', 'B', 0]])
    assert.equal(first.store.match('old/b')[0]?.properties?.contentType, 'x')
    await first.close()
    assert.equal(existsSync(join(dir, RETAINED_DB_FILE)), false, 'the old file is renamed')
    assert.equal(existsSync(join(dir, `${RETAINED_DB_FILE}.migrated`)), true)
    const second = openStore(dir)
    assert.equal(second.store.size, 2, 'still there, from state.sqlite')
    await second.close()
  })
})
