/**
 * A dead node with thousands of sessions, taken over by two survivors at once (broker child
 * processes on a real redis-server, or a Redis Cluster with PORTCULLIS_TEST_REDIS=cluster).
 * A node holds SESSIONS persistent sessions (written straight into Redis by a child process that
 * joined as that node: test/helpers/dying-node.ts), their clients connected, every third with a
 * will, each with a queued QoS 1 message; it is SIGKILLed. Nodes B and C both notice and adopt
 * its sessions in batches at the same time: every session is taken by exactly one of them (the
 * registry names B or C, their held sets share none and hold all), each will is published once
 * cluster-wide [MQTT-3.1.2-8] (a watcher on each survivor gets each once), and clients resuming
 * on either survivor find their session (CONNACK session present [MQTT-3.2.2-2]) and their queued
 * message, once.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { clusterNodes, probeRoutes } from '../helpers/cluster-nodes.js'
import { dyingClientId, hasWill, startDyingNode } from '../helpers/dying-node.js'
import { REGISTRY_KEYS } from '../../src/cluster/registry.js'
import { NODE_DEAD_AFTER_MS } from '../../src/cluster/membership.js'
import { SESSION_KEYS } from '../../src/store/redis/session-store.js'

const SESSIONS = 3000
/** Every this many-th client resumes (half on B, half on C). */
const RESUME_EVERY = 25

describe('cluster: a dead node with thousands of sessions, two survivors adopting at once', () => {
  test(`${SESSIONS} sessions: each taken once and whole, each will published once, queued messages delivered on resuming`, async (t) => {
    const { redis, nodes: [b, c], clients } = await clusterNodes(t, ['node-b', 'node-c'])
    assert.ok(b !== undefined && c !== undefined)
    await Promise.all([b.start(), c.start()])

    // A watcher on each survivor counts the wills (a will published on one reaches both).
    const watch = async (port: number, name: string): Promise<Map<string, number>> => {
      const wills = new Map<string, number>()
      const w = await connectRetry(port, { clientId: `watch-${name}`, protocolVersion: 5 }, (client) => {
        client.on('message', (topic) => wills.set(topic, (wills.get(topic) ?? 0) + 1))
      })
      clients.push(w)
      await withTimeout(w.subscribeAsync('wills/#', { qos: 1 }), 10_000, `watcher ${name} SUBACK`)
      return wills
    }
    const onB = await watch(b.port, 'b')
    const onC = await watch(c.port, 'c')
    // Each survivor knows the other's watcher (a will goes across).
    const pubB = await connectRetry(b.port, { clientId: 'probe-b', protocolVersion: 5 })
    const pubC = await connectRetry(c.port, { clientId: 'probe-c', protocolVersion: 5 })
    clients.push(pubB, pubC)
    await probeRoutes(pubB, ['wills/probe-b'], () => onC.has('wills/probe-b'), 'B reaches the watcher on C')
    await probeRoutes(pubC, ['wills/probe-c'], () => onB.has('wills/probe-c'), 'C reaches the watcher on B')
    for (const w of [onB, onC]) w.clear()

    const dying = await startDyingNode(redis.target, 'node-dead', SESSIONS)
    // B and C look at the live nodes once a second: both have seen it alive.
    await delay(2500)
    dying.kill()

    const wills = Array.from({ length: SESSIONS }, (_, i) => i).filter(hasWill).map((i) => `wills/${i}`)
    const expect = NODE_DEAD_AFTER_MS + 60_000
    await until(() => onB.size >= wills.length && onC.size >= wills.length, `every will on both watchers (B ${onB.size}, C ${onC.size} of ${wills.length})`, expect)
    await delay(1000)
    for (const [name, got] of [['B', onB], ['C', onC]] as const) {
      // (A late probe is no will.)
      for (const topic of got.keys()) if (topic.includes('probe')) got.delete(topic)
      assert.deepEqual([...got.keys()].sort(), [...wills].sort(), `the watcher on ${name}: the wills of the dead node's sessions, and only those`)
      assert.deepEqual([...got.entries()].filter(([, n]) => n !== 1), [], `the watcher on ${name}: each will once`)
    }

    // Every session taken by exactly one survivor: the registry names it, its held set lists it.
    const ids = Array.from({ length: SESSIONS }, (_, i) => dyingClientId(i))
    const r = redis.client()
    let owners: Array<string | null>
    try {
      owners = await Promise.all(ids.map((cid) => r.hget(REGISTRY_KEYS.owner(cid), 'node')))
      const heldB = new Set(await r.smembers(SESSION_KEYS.held('node-b')))
      const heldC = new Set(await r.smembers(SESSION_KEYS.held('node-c')))
      assert.deepEqual(owners.filter((n) => n !== 'node-b' && n !== 'node-c'), [], 'every client id B\'s or C\'s')
      const misplaced = ids.filter((cid, i) => (owners[i] === 'node-b') !== heldB.has(cid) || (owners[i] === 'node-c') !== heldC.has(cid))
      assert.deepEqual(misplaced, [], 'each in the held set of its owner, and only there')
    } finally {
      r.disconnect()
    }
    t.diagnostic(`taken by B: ${owners.filter((n) => n === 'node-b').length}, by C: ${owners.filter((n) => n === 'node-c').length}`)

    // Clients resume on either survivor: session present, their queued message once.
    const resuming = ids.map((_, i) => i).filter((i) => i % RESUME_EVERY === 0)
    const got = new Map<number, string[]>()
    await Promise.all(resuming.map(async (i, k) => {
      let present: boolean | undefined
      const port = k % 2 === 0 ? b.port : c.port
      const resume = { clientId: dyingClientId(i), clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } }
      const client = await connectRetry(port, resume, (cl) => {
        cl.on('connect', (ack) => (present = ack.sessionPresent))
        cl.on('message', (_topic, payload) => got.set(i, [...(got.get(i) ?? []), payload.toString()]))
      })
      clients.push(client)
      assert.equal(present, true, `${dyingClientId(i)}: session present`)
    }))
    await until(() => resuming.every((i) => got.has(i)), `every resumed client's queued message (${got.size} of ${resuming.length})`, 20_000)
    await delay(500)
    assert.deepEqual(resuming.map((i) => got.get(i)), resuming.map((i) => [`queued ${i}`]), 'each queued message once')
  })
})
