/**
 * One conformance suite for the RetainedStore interface, run against every backend (memory,
 * SQLite, Redis): set / replace / clear, match, and scan over several filters (each message once,
 * with the first filter that matches it, in slices), expired messages left out.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import { silentLogger } from '../../src/log.js'
import type { Message } from '../../src/mqtt/types.js'
import { MemoryRetainedStore } from '../../src/store/memory/retained-store.js'
import { RedisRetainedStore } from '../../src/store/redis/retained-store.js'
import { SqliteRetainedStore } from '../../src/store/sqlite/retained-store.js'
import { StateDatabase } from '../../src/store/sqlite/state-database.js'
import type { RetainedStore } from '../../src/store/types.js'
import { openRedisState, type RedisServer, startRedis } from '../helpers/redis-server.js'

let redis: RedisServer
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis.destroy()
})

function message(topic: string, payload: string, expiresAt?: number): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: true, properties: undefined, expiresAt, origin: 'pub' }
}

async function scanAll(store: RetainedStore, filters: string[]): Promise<Array<[string, number]>> {
  const scan = store.scan(filters)
  const out: Array<[string, number]> = []
  for (let i = 0; i < 10_000; i++) {
    const batch = await scan.next(2)
    assert.ok(batch.hits.length <= 2)
    for (const h of batch.hits) out.push([h.message.topic, h.filter])
    if (batch.done) return out.sort()
  }
  throw new Error('scan never finished')
}

const BACKENDS: Array<[string, (t: TestContext) => RetainedStore | Promise<RetainedStore>]> = [
  ['memory', () => new MemoryRetainedStore()],
  ['sqlite', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-retained-conf-'))
    const state = new StateDatabase(dir, 'normal', silentLogger())
    t.after(() => {
      state.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return new SqliteRetainedStore(state, silentLogger())
  }],
  ['redis', async (t) => {
    const state = await openRedisState(redis, t)
    return RedisRetainedStore.open(state)
  }],
]

for (const [name, open] of BACKENDS) {
  describe(`RetainedStore: ${name}`, () => {
    test('set replaces, an empty payload clears, size counts topics', async (t) => {
      const store = await open(t)
      await store.set(message('a/b', 'one'))
      await store.set(message('a/b', 'two'))
      await store.set(message('a/c', 'x'))
      assert.equal(store.size, 2)
      await store.set(message('a/c', ''))
      assert.equal(store.size, 1)
      const found = await store.match('a/+')
      assert.deepEqual(found.map((m) => m.payload.toString()), ['two'])
      await store.close()
    })

    test('userBytes counts topic + payload of what clients retained (maxRetainedBytes), through replace, clear and expiry', async (t) => {
      const store = await open(t)
      await store.set(message('b/1', 'abc'))
      await store.set(message('$SYS/x', 'not counted'))
      assert.equal(store.userBytes, 3 + 3)
      assert.equal(store.heldBytes?.('b/1'), 6)
      assert.equal(store.heldBytes?.('b/2'), undefined)
      await store.set(message('b/1', 'abcdef'))
      assert.equal(store.userBytes, 3 + 6, 'a replacement counts once, at its new size')
      await store.set(message('b/2', 'z', Date.now() - 1))
      assert.equal(store.userBytes, 9 + 3 + 1)
      await scanAll(store, ['b/#'])
      assert.equal(store.userBytes, 9, 'an expired message found by a scan is removed and uncounted')
      await store.set(message('b/1', ''))
      assert.equal(store.userBytes, 0)
      assert.equal(store.userSize, 0)
      await store.close()
    })

    test('scan: each message once across overlapping filters, reported with the first filter that matches it; expired left out', async (t) => {
      const store = await open(t)
      for (const topic of ['s/1', 's/2', 's/2/x', 'other', '$SYS/s']) await store.set(message(topic, topic))
      await store.set(message('s/old', 'gone', Date.now() - 1))
      assert.deepEqual(await scanAll(store, ['s/2', 's/#', '#', '+/+']), [
        ['other', 2], ['s/1', 1], ['s/2', 0], ['s/2/x', 1],
      ])
      assert.deepEqual(await scanAll(store, ['$SYS/#']), [['$SYS/s', 0]])
      assert.deepEqual(await scanAll(store, ['none/#']), [])
      await store.close()
    })
  })
}
