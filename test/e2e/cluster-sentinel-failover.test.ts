/**
 * Cluster over a Redis master watched by three sentinels (real redis-server processes on
 * loopback TCP ports), two broker child processes configured with the sentinels: a QoS 1
 * publisher on node B streams to a persistent subscriber on node A. Mid-stream the subscriber
 * goes offline (its session queues what comes), the replicas fall behind (SIGSTOPped, their
 * connections to the master closed, for LAG_MS), the master is SIGKILLed, the replicas resume
 * and the sentinels promote one; then the subscriber comes back for its queue. Both nodes follow it without restarting
 * (new CONNECTs accepted on both, delivery resumes). With `cluster.replicaAck` every message
 * whose PUBACK the publisher received reaches the subscriber; without it, how many
 * acknowledged messages were lost is reported (a diagnostic), not asserted.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { BrokerProcess, connectRetry, freePort } from '../helpers/broker-process.js'
import { probeRoutes } from '../helpers/cluster-nodes.js'
import { RedisSentinelSet } from '../helpers/redis-sentinel.js'

/** Messages acknowledged before the master is killed; at most this many are published in all, for at most STREAM_MS. */
const BEFORE_KILL = 300
const AFTER_PROMOTION = 200
const MAX_MESSAGES = 5000
const STREAM_MS = 25_000
/** QoS 1 messages in flight at once. */
const WINDOW = 16
const PUBLISH_WAIT_MS = 5000
/** How long the replicas are cut off before the master dies: what it accepted meanwhile, only it had. */
const LAG_MS = 300

interface Run {
  readonly acked: ReadonlySet<number>
  readonly received: ReadonlySet<number>
  /** The first message published once the sentinels named the new master. */
  readonly firstAfterPromotion: number
  /** ms from the master's SIGKILL: the sentinels named the new master; the first acknowledgement after that. */
  readonly promotedMs: number
  readonly resumedMs: number
}

/**
 * `replicaAck`: WAIT for one replica, with two replicas — after the failover the other one
 * replicates the new master, so commits are acknowledged again (with one replica, nothing
 * could be until the old master returned as a replica).
 */
async function failover(t: TestContext, replicaAck: boolean): Promise<Run> {
  const redis = await RedisSentinelSet.start(replicaAck ? 2 : 1)
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-nodes-'))
  const clients: MqttClient[] = []
  const nodes: BrokerProcess[] = []
  t.after(async () => {
    for (const c of clients) c.end(true)
    for (const node of nodes) await node.kill()
    await redis.destroy()
    rmSync(dir, { recursive: true, force: true })
  })
  const cluster = (nodeId: string): Record<string, unknown> => ({
    cluster: { redis: redis.target, nodeId, ...(replicaAck ? { replicaAck: { replicas: 1, timeoutMs: 1000 } } : {}) },
  })
  for (const nodeId of ['node-a', 'node-b']) nodes.push(new BrokerProcess(dir, await freePort(), cluster(nodeId), nodeId))
  const [a, b] = nodes as [BrokerProcess, BrokerProcess]
  await a.start()
  await b.start()

  // The subscriber reconnects by itself (a node may drop it while Redis changes hands) and resumes its session.
  const received = new Set<number>()
  let probes = 0
  const subscriber = async (): Promise<MqttClient> => {
    const c = mqtt.connect({
      host: '127.0.0.1', port: a.port, clientId: 'sub', clean: false, protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 200, connectTimeout: 2000,
    })
    clients.push(c)
    c.on('error', () => {})
    c.on('message', (topic, payload) => {
      if (topic === 'fo/probe') probes++
      else received.add(Number(payload.toString()))
    })
    await withTimeout(new Promise((r) => c.once('connect', r)), 15_000, 'subscriber connected to A')
    return c
  }
  const sub = await subscriber()
  await sub.subscribeAsync('fo/#', { qos: 1 })

  const pub = await connectRetry(b.port, { clientId: 'pub', protocolVersion: 5, reconnectPeriod: 200 })
  clients.push(pub)
  await probeRoutes(pub, ['fo/probe'], () => probes > 0, 'B routes fo/# to A')

  // Publish n = 0, 1, … with WINDOW in flight; the master dies once BEFORE_KILL are acknowledged.
  const acked = new Set<number>()
  let next = 0
  let killed: Promise<void> | undefined
  let promotedAt: number | undefined
  let promotion: Error | undefined
  let promotedMs = 0
  const started = Date.now()
  let ackedAfterPromotion = 0
  let killedAt = 0
  let resumedAt: number | undefined
  /** True when acknowledged within PUBLISH_WAIT_MS (a late acknowledgement still counts it as acknowledged). */
  const publishOne = async (n: number): Promise<boolean> => {
    const sent = pub.publishAsync('fo/n', String(n), { qos: 1 }).then(() => {
      acked.add(n)
      if (promotedAt !== undefined && n >= promotedAt) {
        ackedAfterPromotion++
        resumedAt ??= Date.now()
      }
      return true
    }, () => false)
    return Promise.race([sent, delay(PUBLISH_WAIT_MS).then(() => false)])
  }
  const lane = async (): Promise<void> => {
    while (next < MAX_MESSAGES && Date.now() - started < STREAM_MS) {
      if (ackedAfterPromotion >= AFTER_PROMOTION) return
      // Refused while Redis changes hands: a short pause rather than a burst of refusals.
      if (!await publishOne(next++)) await delay(50)
      if (killed === undefined && acked.size >= BEFORE_KILL) {
        const replicas = redis.replicaPorts.map((_, i) => `replica-${i}`)
        for (const r of replicas) redis.signal(r, 'SIGSTOP')
        killed = sub.endAsync().then(() => redis.dropReplicas()).then(() => delay(LAG_MS)).then(async () => {
          killedAt = Date.now()
          await redis.kill('master')
          for (const r of replicas) redis.signal(r, 'SIGCONT')
        }).then(() => redis.promoted(20_000)).then(() => {
          promotedAt = next
          promotedMs = Date.now() - killedAt
        }, (err: unknown) => { promotion = err instanceof Error ? err : new Error(String(err)) })
      }
    }
  }
  await Promise.all(Array.from({ length: WINDOW }, lane))
  assert.ok(killed !== undefined, `the master was killed mid-stream (${acked.size} acknowledged)`)
  await killed
  if (promotion !== undefined) throw promotion
  assert.ok(promotedAt !== undefined, 'the replica was promoted')
  const firstAfterPromotion = promotedAt

  // Both nodes accept new CONNECTs on the promoted master, without restarting.
  for (const node of [a, b]) {
    const fresh = await withTimeout(connectRetry(node.port, { clientId: `fresh-${node.port}`, protocolVersion: 5 }), 15_000, `CONNECT accepted on port ${node.port}`)
    clients.push(fresh)
  }
  await subscriber()
  const ackedAfter = [...acked].filter((n) => n >= firstAfterPromotion)
  assert.ok(ackedAfter.length > 0, 'messages published after the promotion are acknowledged')
  await until(() => ackedAfter.some((n) => received.has(n)), 'delivery resumed after the promotion', 15_000)
  return { acked, received, firstAfterPromotion, promotedMs, resumedMs: (resumedAt ?? NaN) - killedAt }
}

const missing = (run: Run): number[] => [...run.acked].filter((n) => !run.received.has(n)).sort((x, y) => x - y)

test('Sentinel failover with replicaAck: the nodes follow the promoted replica without restarting, and every acknowledged message arrives', async (t) => {
  const run = await failover(t, true)
  await until(() => missing(run).length === 0, 'every acknowledged message delivered', 15_000)
    .catch(() => undefined)
  t.diagnostic(`replicaAck on: ${run.acked.size} acknowledged, ${missing(run).length} lost, ${run.received.size} received; promoted ${run.promotedMs} ms and publishing acknowledged again ${run.resumedMs} ms after the kill`)
  assert.deepEqual(missing(run), [], 'no acknowledged message lost')
})

test('Sentinel failover without replicaAck: the nodes recover without restarting; acknowledged messages lost are counted', async (t) => {
  const run = await failover(t, false)
  // Whatever is still on its way arrives within this bound; what is missing then was lost with the old master.
  await until(() => missing(run).length === 0, 'every acknowledged message delivered', 5000).catch(() => undefined)
  const lost = missing(run)
  t.diagnostic(`replicaAck off: ${run.acked.size} acknowledged, ${lost.length} lost${lost.length > 0 ? ` (${lost.slice(0, 10).join(', ')}${lost.length > 10 ? ', …' : ''})` : ''}, ${run.received.size} received; promoted ${run.promotedMs} ms and publishing acknowledged again ${run.resumedMs} ms after the kill`)
  assert.ok(run.received.size > 0 && [...run.acked].some((n) => n >= run.firstAfterPromotion && run.received.has(n)), 'delivery resumed after the promotion')
})
