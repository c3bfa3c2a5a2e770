/**
 * The SQLite retained store in-process: the `persistence` configuration key, the properties'
 * JSON form (Buffers come back as Buffers), batched writes and the flush on close.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
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

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-retained-unit-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function message(topic: string, payload: string, extra: Partial<Message> = {}): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: true, properties: undefined, expiresAt: undefined, origin: 'pub-1', ...extra }
}

function rowCount(dir: string): number {
  const db = new Database(join(dir, RETAINED_DB_FILE), { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM retained').get() as { n: number }).n
  } finally {
    db.close()
  }
}

describe('config: persistence', () => {
  test('defaults to retained: false', () => {
    assert.deepEqual(validateConfig({}).persistence, { retained: false })
    assert.equal(validateConfig({ persistence: { retained: true } }).persistence.retained, true)
    assert.ok(Object.isFrozen(validateConfig({ persistence: { retained: true } }).persistence))
  })

  test('refuses unknown keys and non-booleans, naming the key path', () => {
    assert.throws(() => validateConfig({ persistence: { retained: true, sessions: true } }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence.sessions')
    assert.throws(() => validateConfig({ persistence: { retained: 'yes' } }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence.retained')
    assert.throws(() => validateConfig({ persistence: true }), (err: unknown) => err instanceof ConfigError && err.path === 'persistence')
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
  test('a burst of changes is written together, shortly after, not one by one', async (t) => {
    const dir = dataDir(t)
    const store = new SqliteRetainedStore(dir, silentLogger())
    for (let i = 0; i < 500; i++) store.set(message(`burst/${i}`, `m${i}`))
    assert.equal(rowCount(dir), 0, 'nothing written synchronously with set()')
    assert.equal(store.match('burst/#').length, 500, 'matching sees the changes at once')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(rowCount(dir), 500)
    await store.close()
  })

  test('close() writes what is pending; reopening restores every field and drops expired rows', async (t) => {
    const dir = dataDir(t)
    const now = Date.now()
    const store = new SqliteRetainedStore(dir, silentLogger())
    const kept = message('a/kept', 'k', { qos: 2, expiresAt: now + 60_000, properties: { correlationData: Buffer.from('id-1'), userProperties: { k: 'v' } } })
    store.set(kept)
    store.set(message('a/expired', 'e', { expiresAt: now + 50 }))
    store.set(message('a/cleared', 'c'))
    store.set(message('a/cleared', ''))
    store.set(message('$SYS/broker/uptime', '1 seconds', { origin: undefined }))
    await store.close()
    await store.close() // idempotent
    await new Promise((resolve) => setTimeout(resolve, 80))

    const again = new SqliteRetainedStore(dir, silentLogger())
    try {
      assert.equal(again.size, 1)
      assert.deepEqual(again.match('#'), [{ ...kept, payload: Buffer.from('k') }])
      assert.equal(rowCount(dir), 1)
    } finally {
      await again.close()
    }
  })
})
