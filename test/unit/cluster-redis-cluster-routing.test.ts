/**
 * Commands reach the master of their slot at once on a Redis Cluster (a real one: three
 * masters): a node's stream entries sent one group commit at a time stay in the order they were
 * recorded, and no master answers MOVED while one node sends and another reads and acknowledges
 * (INFO errorstats). Before, `call('XADD', …)` — the name in capitals — was sent to a random
 * master (ioredis finds a command's keys only by its lower-case name), which answered MOVED, and
 * commands sent after it could arrive first: 111 of 3,000 entries came after a later one.
 * Started whatever PORTCULLIS_TEST_REDIS says (it needs a Redis Cluster).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { silentLogger } from '../../src/log.js'
import type { Message } from '../../src/mqtt/types.js'
import { StreamReader, entryMessages, recordForward, streamKey } from '../../src/cluster/streams.js'
import { TO_ALL } from '../../src/cluster/entry-codec.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'

const MESSAGES = 1500

let redis: RedisClusterServer
before(async () => {
  redis = await startRedisCluster()
})
after(async () => {
  await redis.destroy()
})

const message = (n: number): Message =>
  ({ topic: 'order/n', payload: Buffer.from(String(n)), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'pub' })

/** Each master's own connection, for CONFIG RESETSTAT and INFO errorstats. */
async function eachMaster<T>(f: (r: Redis) => Promise<T>): Promise<T[]> {
  return Promise.all(redis.ports.map(async (port) => {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await r.connect()
      return await f(r)
    } finally {
      r.disconnect()
    }
  }))
}

function committed(state: RedisState): Promise<Error | undefined> {
  return new Promise((r) => state.afterCommit(r))
}

test('stream entries sent one commit at a time keep their order, and no command is redirected (MOVED)', async (t) => {
  const sender = await RedisState.open(redis.target, 'node-s', silentLogger())
  t.after(() => sender.close())
  const receiver = await RedisState.open(redis.target, 'node-r', silentLogger())
  t.after(() => receiver.close())
  const got: number[] = []
  const readerClient = receiver.connection('portcullis-stream')
  await readerClient.connect()
  const reader = new StreamReader(receiver, readerClient, silentLogger(), (m) => got.push(Number(m.payload.toString())))
  t.after(() => reader.close())
  await reader.start()
  await eachMaster((r) => r.config('RESETSTAT'))

  // One message per turn of the event loop: one group commit, one lone XADD each (the entries are
  // kept to be read again below: the reader deletes them once handed over).
  const entries: number[] = []
  const key = streamKey('node-r')
  const copier = redis.client()
  t.after(() => copier.disconnect())
  await copier.connect()
  let copying = true
  const copy = (async () => {
    let last = '0'
    while (copying || entries.length < MESSAGES) {
      const reply = await copier.xreadBuffer('COUNT', 1000, 'BLOCK', 200, 'STREAMS', key, last)
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        last = id.toString()
        for (const e of entryMessages(fields)) entries.push(Number(e.message.payload.toString()))
      }
      if (!copying && reply === null) break
    }
  })()
  for (let n = 0; n < MESSAGES; n++) {
    recordForward(sender, 'node-r', message(n), TO_ALL, false)
    await new Promise((r) => setTimeout(r, 0))
  }
  assert.equal(await committed(sender), undefined)
  for (let polls = 0; got.length < MESSAGES; polls++) {
    assert.ok(polls < 200, `every message handed over (${got.length} of ${MESSAGES})`)
    await new Promise((r) => setTimeout(r, 50))
  }
  copying = false
  await copy

  const inOrder = (ns: readonly number[]): string[] => ns.flatMap((n, i) => (i > 0 && n < ns[i - 1] ? [`${n} after ${ns[i - 1]}`] : []))
  assert.deepEqual(inOrder(entries), [], 'the stream holds the messages in the order they were recorded')
  assert.deepEqual(inOrder(got), [], 'and the reader hands them over in that order')
  assert.equal(got.length, MESSAGES)
  const moved = await eachMaster(async (r) => /errorstat_MOVED:count=(\d+)/.exec(await r.info('errorstats'))?.[1] ?? '0')
  assert.deepEqual(moved, moved.map(() => '0'), 'no master answered MOVED')
})
