/**
 * A dead node's stream shared by several survivors (two brokers in this process, a real
 * redis-server on a unix socket, or a Redis Cluster of three masters with
 * PORTCULLIS_TEST_REDIS=cluster): node Z died with messages waiting in its stream for two of its
 * persistent sessions and one for a shared group; node A took one session, node B the other.
 * Each gets what waited for it, whichever survivor takes its part first (the first one used to
 * acknowledge and delete the whole stream); the stream goes only once both took their part, and
 * the shared-group message then reaches a member of its group on another node, once.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Cluster } from 'ioredis'
import { recordForward, streamKey } from '../../src/cluster/streams.js'
import type { Message } from '../../src/mqtt/types.js'
import type { RedisClient } from '../../src/store/redis/redis-state.js'
import { SESSION_KEYS } from '../../src/store/redis/session-store.js'
import {
  VERSIONS, connectWithInbox, delay, end, startBroker, subscribe, uid, until, withTimeout,
  type RunningBroker, type Version,
} from '../helpers/broker.js'
import { startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'
import { busOf } from '../helpers/cluster-bus.js'

let redis: RedisFixture
let dir: string
let look: RedisClient
const nodes: RunningBroker[] = []

async function startNode(nodeId: string): Promise<RunningBroker> {
  const node = await startBroker({ cluster: { redis: redis.target, nodeId }, persistence: true, dataDir: join(dir, nodeId) })
  nodes.push(node)
  return node
}

function message(topic: string, payload: string): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: undefined }
}

let A: RunningBroker
let B: RunningBroker

before(async () => {
  redis = await startRedisFixture()
  dir = mkdtempSync(join(tmpdir(), 'portcullis-dead-stream-'))
  look = redis.client()
  await look.connect()
  A = await startNode('node-a')
  B = await startNode('node-b')
})

after(async () => {
  look.disconnect()
  for (const node of nodes) await withTimeout(node.close(), 10_000, 'node close').catch(() => {})
  await redis.destroy()
  rmSync(dir, { recursive: true, force: true })
})

/** The keys matching `pattern`, on every master of a Redis Cluster. */
async function keysLike(pattern: string): Promise<string[]> {
  if (!(look instanceof Cluster)) return look.keys(pattern)
  return (await Promise.all(look.nodes('master').map((m) => m.keys(pattern)))).flat()
}

const vname = (v: Version): string => (v === 5 ? '5.0' : '3.1.1')
const session = (version: Version, clientId: string) => ({
  protocolVersion: version, clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
})

for (const version of VERSIONS) {
  describe(`a dead node's stream taken by two survivors (MQTT ${vname(version)})`, () => {
    test('each survivor\'s session gets what waited for it; the stream goes after both; its shared-group message reaches one member', async () => {
      const dead = uid('node-z')
      const base = uid('z')
      const group = `$share/${uid('g')}/${base}/jobs`
      const c1 = await connectWithInbox(A.port, session(version, uid('c1')))
      const c2 = await connectWithInbox(B.port, session(version, uid('c2')))
      const member = await connectWithInbox(B.port, { protocolVersion: version, clientId: uid('m') })
      try {
        await subscribe(c1.client, `${base}/1/#`, { qos: 1 })
        await subscribe(c2.client, `${base}/2/#`, { qos: 1 })
        await subscribe(member.client, group, { qos: 1 })
        // What node Z's stream held when it died: ten messages for each of its two sessions, one for a group member it had.
        const state = A.server.redisState
        assert.ok(state !== undefined)
        for (let n = 0; n < 10; n++) {
          recordForward(state, dead, message(`${base}/1/n`, String(n)), { all: true, groups: [] }, false)
          recordForward(state, dead, message(`${base}/2/n`, String(n)), { all: true, groups: [] }, false)
        }
        recordForward(state, dead, message(`${base}/jobs`, 'job'), { all: false, groups: [group] }, false)
        const c1Id = c1.client.options.clientId as string
        const c2Id = c2.client.options.clientId as string
        state.record((m) => m.sadd(SESSION_KEYS.held(dead), c1Id, c2Id))
        assert.equal(await new Promise<Error | undefined>((r) => state.afterCommit(r)), undefined)

        await withTimeout(busOf(A).takeOver(dead, new Set([c1Id])), 5000, 'A takes its part')
        await until(() => c1.inbox.messages.length >= 10, 'c1 gets its ten', 5000)
        assert.ok(await look.xlen(streamKey(dead)) > 0, 'the stream stays while node B\'s session has not taken its part')
        assert.deepEqual(await look.smembers(SESSION_KEYS.held(dead)), [c2Id])

        await withTimeout(busOf(B).takeOver(dead, new Set([c2Id])), 5000, 'B takes its part')
        await until(() => c2.inbox.messages.length >= 10, 'c2 gets its ten', 5000)
        assert.deepEqual(c1.inbox.messages.map((m) => m.payload.toString()), [...Array(10).keys()].map(String), 'c1: each once, in order')
        assert.deepEqual(c2.inbox.messages.map((m) => m.payload.toString()), [...Array(10).keys()].map(String), 'c2: each once, in order')

        // Both took their part: the stream is swept (after a route poll), its group message served once.
        const job = await member.inbox.next(`${base}/jobs`, 8000)
        assert.equal(job.payload.toString(), 'job')
        await delay(300)
        assert.equal(member.inbox.messages.length, 1, 'the group message once')
        const deadline = Date.now() + 5000
        while (await withTimeout(look.exists(streamKey(dead)), 5000, 'EXISTS') === 1) {
          assert.ok(Date.now() < deadline, 'the dead node\'s stream deleted within 5 s')
          await delay(100)
        }
        assert.equal((await keysLike(`${streamKey(dead)}*`)).length, 0, 'nothing of it left')
      } finally {
        await end(c1.client, c2.client, member.client)
      }
    })
  })
}
