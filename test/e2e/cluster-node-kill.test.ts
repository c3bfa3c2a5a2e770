/**
 * Cross-node delivery survives kill -9 (broker child processes, a real redis-server on a unix
 * socket): a persistent subscriber on node B receives a numbered QoS 1 stream published on
 * node A; B is SIGKILLed in the middle of it while A goes on publishing (A's forwards wait in
 * B's Redis Stream, acknowledged to the publisher). B restarts: it re-reads the entries it had
 * read but not acknowledged, then the ones that waited, and the resumed session gets every
 * message A acknowledged — MQTT 3.1.1 and 5.0. And when B does not come back: node C, started
 * after B's death, holds B's persistent sessions, takes over B's stream and routes, and the
 * subscriber resuming on C gets every acknowledged message too; and so does a subscriber that
 * resumes on node A, already running (A claims the client and catches it up from B's stream).
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
import { probeRoutes } from '../helpers/cluster-nodes.js'
import { startRedisFixture } from '../helpers/redis-server.js'
import { NODE_DEAD_AFTER_MS } from '../../src/cluster/membership.js'


const MESSAGES = 400
const KILL_AT = 150

for (const version of [4, 5] as const) {
  describe(`cluster: the subscriber's node killed mid-stream (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    for (const resumeOn of ['B restarted', 'node C', 'node A (running)'] as const) test(`every QoS 1 message node A acknowledged reaches the persistent subscriber on ${resumeOn}`, async (t) => {
      const redis = await startRedisFixture()
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-kill-'))
      const cluster = (nodeId: string) => ({ cluster: { redis: redis.target, nodeId } })
      const a = new BrokerProcess(dir, await freePort(), cluster('node-a'), 'a')
      const b = new BrokerProcess(dir, await freePort(), cluster('node-b'), 'b')
      const c = new BrokerProcess(dir, await freePort(), cluster('node-c'), 'c')
      const clients: MqttClient[] = []
      t.after(async () => {
        for (const client of clients) client.end(true)
        await a.kill()
        await b.kill()
        await c.kill()
        await redis.destroy()
        rmSync(dir, { recursive: true, force: true })
      })
      await Promise.all([a.start(), b.start()])

      const topic = `kill/${version}`
      const got = new Map<number, number>()
      const count = (client: MqttClient): void => {
        client.on('message', (tp, payload) => {
          if (tp !== `${topic}/n`) return
          const n = Number(payload.toString())
          got.set(n, (got.get(n) ?? 0) + 1)
        })
      }
      const session: mqtt.IClientOptions = {
        clientId: `kill-sub-${version}`,
        clean: false,
        protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      }
      const sub = await connectRetry(b.port, session, count)
      clients.push(sub)
      let probed = false
      sub.on('message', (tp) => { if (tp === `${topic}/probe`) probed = true })
      await sub.subscribeAsync(`${topic}/#`, { qos: 1 })

      const pub = await connectRetry(a.port, { clientId: `kill-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      // Node A learns B's route within a poll (1 s); probe until a message gets through.
      await probeRoutes(pub, [`${topic}/probe`], () => probed, "A forwards to B's subscriber")

      const acked: number[] = []
      let killed: Promise<void> | undefined
      for (let n = 0; n < MESSAGES; n++) {
        if (n === KILL_AT) killed = b.kill()
        await withTimeout(pub.publishAsync(`${topic}/n`, String(n), { qos: 1 }), 10_000, `PUBACK ${n}`)
        acked.push(n)
      }
      await killed
      assert.ok(got.size < MESSAGES, `B was killed before the stream ended (${got.size} of ${MESSAGES} arrived before)`)

      const next = resumeOn === 'node C' ? c : resumeOn === 'B restarted' ? b : a
      // C takes over a node whose liveness note went stale (B no longer writes it).
      if (next === c) await delay(NODE_DEAD_AFTER_MS)
      // A is running: the client claims its id there, and A catches it up from B's stream.
      if (next !== a) await next.start()
      const resumed = await connectRetry(next.port, session, count)
      clients.push(resumed)
      await until(() => !(acked.some((n) => !got.has(n))), `every acknowledged message on ${resumeOn}`, 20_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}: ${acked.filter((n) => !got.has(n)).length} of ${acked.length} missing`) })
      assert.deepEqual(acked.filter((n) => !got.has(n)), [], 'no acknowledged message lost')
    })
  })
}
