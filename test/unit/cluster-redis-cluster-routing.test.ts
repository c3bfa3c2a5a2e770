/**
 * Commands reach the master of their slot at once on a Redis Cluster (a real one: three
 * masters): a node's stream entries sent one group commit at a time stay in the order they were
 * recorded, and no master answers MOVED while one node sends and another reads and acknowledges
 * (INFO errorstats). Before, `call('XADD', …)` — the name in capitals — was sent to a random
 * master (ioredis finds a command's keys only by its lower-case name), which answered MOVED, and
 * commands sent after it could arrive first: 111 of 3,000 entries came after a later one.
 * And a group commit's MULTI redirected by MOVED to a master the node had no connection to is
 * applied before the commits sent after it (cluster-redirects.ts: ioredis sent it to random
 * masters until a slot refresh while later lone commands went straight to the new master).
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
import { slotOf } from '../../src/store/redis/slots.js'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'

const MESSAGES = 1500

let redis: RedisClusterServer
before(async () => {
  redis = await startRedisCluster({ spares: 1 })
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

/** Hand the (empty) `slot` from the master on `from` to the one on `to`, as a resharding does (IMPORTING/MIGRATING, then SETSLOT NODE everywhere). */
async function moveEmptySlot(slot: number, from: number, to: number): Promise<void> {
  const conn = (port: number): Redis => new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 })
  const src = conn(from)
  const dst = conn(to)
  const others = redis.ports.filter((p) => p !== to && p !== from).map(conn)
  try {
    const dstId = await dst.cluster('MYID')
    await dst.cluster('SETSLOT', slot, 'IMPORTING', await src.cluster('MYID'))
    await src.cluster('SETSLOT', slot, 'MIGRATING', dstId)
    await dst.cluster('SETSLOT', slot, 'NODE', dstId)
    await src.cluster('SETSLOT', slot, 'NODE', dstId)
    for (const o of others) await o.cluster('SETSLOT', slot, 'NODE', dstId)
  } finally {
    for (const c of [src, dst, ...others]) c.disconnect()
  }
}

test('a MULTI redirected (MOVED) to a master the node has no connection to is applied before the commits sent after it', async (t) => {
  const state = await RedisState.open(redis.target, 'node-m', silentLogger())
  t.after(() => state.close())
  const key = streamKey('node-m')
  const spare = redis.ports[redis.ports.length - 1]
  // The node has read the slots: the spare master serves none, so the node has no connection to it.
  await moveEmptySlot(slotOf(key), (await redis.servers(key)).master, spare)

  // Every group holds two entries (one MULTI), one group per turn, sent to the old master too
  // until its MOVED answers come back, in order. (A lone XADD between them can still overtake an
  // earlier MULTI: ioredis follows a lone command's MOVED a turn sooner than a pipeline's — the
  // CLUSTER FAILOVER order left open, README; seen here once in a CI run.)
  const COMMITS = 60
  const failures: Error[] = []
  for (let n = 0; n < COMMITS; n += 2) {
    if (n > 0) await new Promise((r) => setTimeout(r, 1))
    state.recordCommand(() => ['xadd', key, '*', 'n', String(n)])
    state.recordCommand(() => ['xadd', key, '*', 'n', String(n + 1)])
    state.afterCommit((err) => { if (err !== undefined) failures.push(err) })
  }
  assert.equal(await committed(state), undefined)
  assert.deepEqual(failures, [])
  const direct = new Redis({ host: '127.0.0.1', port: spare, lazyConnect: true, maxRetriesPerRequest: 1 })
  t.after(() => direct.disconnect())
  const entries = await direct.xrange(key, '-', '+')
  const order = entries.map(([, fields]) => Number(fields[1]))
  assert.deepEqual(order, Array.from({ length: COMMITS }, (_, n) => n), 'the stream, on the master the slot moved to, holds the entries in the order they were recorded')
})

test('commits the old master answers MOVED in one go (writes held, as during CLUSTER FAILOVER) reach the new master in the order they were sent', async (t) => {
  const state = await RedisState.open(redis.target, 'node-p', silentLogger())
  t.after(() => state.close())
  const key = streamKey('node-p')
  const spare = redis.ports[redis.ports.length - 1]
  const old = (await redis.servers(key)).master
  const paused = new Redis({ host: '127.0.0.1', port: old, lazyConnect: true, maxRetriesPerRequest: 1 })
  t.after(() => paused.disconnect())
  // The old master holds writes (a manual failover does while its replica takes over): every
  // commit below waits there, then is answered MOVED with the others once the slot has moved.
  await paused.call('CLIENT', 'PAUSE', 5000, 'WRITE')
  const failures: Error[] = []
  const record = (n: number): void => state.recordCommand(() => ['xadd', key, '*', 'n', String(n)])
  // A MULTI (two entries of one turn), then lone XADDs, one turn each.
  record(0)
  record(1)
  state.afterCommit((err) => { if (err !== undefined) failures.push(err) })
  for (let n = 2; n < 6; n++) {
    await new Promise((r) => setTimeout(r, 5))
    record(n)
    state.afterCommit((err) => { if (err !== undefined) failures.push(err) })
  }
  await new Promise((r) => setTimeout(r, 50))
  const slot = slotOf(key)
  await moveEmptySlot(slot, old, spare)
  await paused.call('CLIENT', 'UNPAUSE')
  assert.equal(await committed(state), undefined)
  assert.deepEqual(failures, [])
  const direct = new Redis({ host: '127.0.0.1', port: spare, lazyConnect: true, maxRetriesPerRequest: 1 })
  t.after(() => direct.disconnect())
  const order = (await direct.xrange(key, '-', '+')).map(([, fields]) => Number(fields[1]))
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5], 'the stream, on the master the slot moved to, holds the entries in the order they were recorded')
})
