/**
 * A node that died: the survivor takes over all of its persistent sessions at once (broker child
 * processes, a real redis-server on a unix socket — or a Redis Cluster with
 * PORTCULLIS_TEST_REDIS=cluster). Node A holds CLIENTS persistent sessions: half offline with a
 * QoS 1 message queued for each, half connected with a will. A is SIGKILLed. Node B, running,
 * claims them all once A counts as dead: each connected client's will is published once
 * [MQTT-3.1.2-8], each client resuming on B finds its session (CONNACK session present
 * [MQTT-3.2.2-2]) and gets its queued message, and the registry names B for every one of them.
 * MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { BrokerProcess, connectRetry, freePort } from '../helpers/broker-process.js'
import { startRedisFixture } from '../helpers/redis-server.js'
import { REGISTRY_KEYS } from '../../src/cluster/registry.js'
import { NODE_DEAD_AFTER_MS } from '../../src/cluster/membership.js'

const CLIENTS = 40

for (const version of [4, 5] as const) {
  describe(`cluster: a dead node's sessions taken over together by a survivor (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test(`${CLIENTS} sessions of node A: wills published once, queued messages delivered on B, every client id B's`, async (t) => {
      const redis = await startRedisFixture()
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-adoption-'))
      const cluster = (nodeId: string) => ({ cluster: { redis: redis.target, nodeId } })
      const a = new BrokerProcess(dir, await freePort(), cluster('node-a'), 'a')
      const b = new BrokerProcess(dir, await freePort(), cluster('node-b'), 'b')
      const clients: MqttClient[] = []
      t.after(async () => {
        for (const client of clients) client.end(true)
        await withTimeout(Promise.all([a.kill(), b.kill()]), 10_000, 'nodes killed')
        await withTimeout(redis.destroy(), 10_000, 'redis stopped')
        rmSync(dir, { recursive: true, force: true })
      })
      await Promise.all([a.start(), b.start()])

      const prefix = `adopt/${version}`
      const idOf = (i: number): string => `adopt-${version}-${i}`
      const options = (i: number, will: boolean): mqtt.IClientOptions => ({
        clientId: idOf(i),
        clean: false,
        protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
        ...(will ? { will: { topic: `${prefix}/will/${i}`, payload: Buffer.from(`gone ${i}`), qos: 1, retain: false } } : {}),
      })
      const offline = Array.from({ length: CLIENTS / 2 }, (_, k) => 2 * k)
      const online = Array.from({ length: CLIENTS / 2 }, (_, k) => 2 * k + 1)

      // Node A: every client subscribes; the even ones go offline (their message waits in their session).
      await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
        const c = await connectRetry(a.port, options(i, i % 2 === 1))
        clients.push(c)
        await withTimeout(c.subscribeAsync(`${prefix}/to/${i}`, { qos: 1 }), 10_000, `SUBACK ${i}`)
        if (i % 2 === 0) await withTimeout(c.endAsync(), 10_000, `DISCONNECT ${i}`)
      }))
      const pub = await connectRetry(a.port, { clientId: `adopt-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      for (const i of offline) await withTimeout(pub.publishAsync(`${prefix}/to/${i}`, `queued ${i}`, { qos: 1 }), 10_000, `PUBACK ${i}`)

      // A watcher on B counts the wills.
      const wills = new Map<string, number>()
      const watcher = await connectRetry(b.port, { clientId: `adopt-watch-${version}`, protocolVersion: version }, (c) => {
        c.on('message', (topic) => wills.set(topic, (wills.get(topic) ?? 0) + 1))
      })
      clients.push(watcher)
      await withTimeout(watcher.subscribeAsync(`${prefix}/will/#`, { qos: 1 }), 10_000, 'watcher SUBACK')

      await a.kill()
      // B notices A's death within a heartbeat of its liveness key lapsing, then takes every session.
      await until(() => wills.size === online.length, `the ${online.length} wills of A's connected clients (got ${wills.size})`, NODE_DEAD_AFTER_MS + 20_000)
      await delay(500)
      assert.deepEqual([...wills.entries()].filter(([, n]) => n !== 1), [], 'each will published once')
      assert.deepEqual([...wills.keys()].sort(), online.map((i) => `${prefix}/will/${i}`).sort(), 'the wills of the clients connected when A died, and only theirs')

      const r = redis.client()
      try {
        const owners = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => r.hget(REGISTRY_KEYS.owner(idOf(i)), 'node')))
        assert.deepEqual(owners.filter((n) => n !== 'node-b'), [], 'every client id now B\'s')
      } finally {
        r.disconnect()
      }

      // Each client resumes on B: its session is there, and what was queued for it arrives.
      const got = new Map<number, string[]>()
      await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
        let present: boolean | undefined
        const c = await connectRetry(b.port, options(i, false), (client) => {
          client.on('connect', (ack) => (present = ack.sessionPresent))
          client.on('message', (_topic, payload) => got.set(i, [...(got.get(i) ?? []), payload.toString()]))
        })
        clients.push(c)
        assert.equal(present, true, `${idOf(i)}: session present on B`)
      }))
      await until(() => offline.every((i) => got.has(i)), 'every queued message on B', 20_000)
      await delay(300)
      assert.deepEqual(offline.map((i) => got.get(i)), offline.map((i) => [`queued ${i}`]), 'each queued message once')
      assert.deepEqual(online.filter((i) => got.has(i)), [], 'nothing for the others')
    })
  })
}
