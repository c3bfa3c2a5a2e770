/**
 * The moment a persistent client moves between live nodes while messages keep flowing (three
 * broker child processes, a real redis-server on a unix socket): client X, persistent, is on
 * node A; a publisher on node C sends a numbered QoS 1 stream and a numbered QoS 2 stream at a
 * steady pace; mid-stream X connects to B while A's socket is still open, then back to A, and so
 * on, alternating (each time session present [MQTT-3.2.2-3], the old connection taken over
 * [MQTT-3.1.4-3]). Every acknowledged QoS 1 message reaches X (no gap, [MQTT-4.3.2]); every
 * acknowledged QoS 2 message reaches X exactly once [MQTT-4.3.3] — MQTT 3.1.1 and 5.0.
 *
 * X keeps its session state across its connections as the spec asks of a client (one MQTT.js
 * incoming store, kept when a connection closes: a QoS 2 message it received but whose PUBREL
 * comes on the next connection is still delivered once). Each move starts at its tick and waits
 * for the one before it (a client does not connect to two nodes at once).
 *
 * On any failure the nodes' logs and X's packet trace go to a file the failure names.
 * PORTCULLIS_MOVE_ROUNDS=n runs the scenario n times on the same three nodes (a stress run).
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import mqtt, { Store, type MqttClient, type Packet } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes, probeRoutes } from '../helpers/cluster-nodes.js'

/** Publishing ticks (each one QoS 1 and one QoS 2 message), their pace, and the ticks at which X moves. */
const TICKS = 400
const PACE_MS = 2
const MOVES = [40, 80, 120, 160, 200, 240, 280, 320]
/** The broker's default Receive Maximum (limits.receiveMaximum). */
const RECEIVE_MAXIMUM = 100
const ROUNDS = Math.max(1, Number(process.env['PORTCULLIS_MOVE_ROUNDS'] ?? 1))

/** What X's connections sent and received, one line each, for the failure file. */
class PacketTrace {
  readonly #start = performance.now()
  readonly lines: string[] = []

  note(text: string): void {
    this.lines.push(`${(performance.now() - this.#start).toFixed(1)} ${text}`)
  }

  follow(client: MqttClient, name: string): void {
    const line = (dir: string, p: Packet): void => {
      const q = p as Partial<{
        messageId: number; topic: string; payload: Buffer | string; qos: number; dup: boolean; reasonCode: number; sessionPresent: boolean
      }>
      const parts = [name, dir, p.cmd]
      if (q.messageId !== undefined) parts.push(`id=${q.messageId}`)
      if (typeof q.topic === 'string') parts.push(`${q.topic}=${String(q.payload)}`, `qos=${q.qos}`)
      if (q.dup === true) parts.push('dup')
      if (q.reasonCode !== undefined) parts.push(`rc=${q.reasonCode}`)
      if (q.sessionPresent !== undefined) parts.push(`present=${q.sessionPresent}`)
      this.note(parts.join(' '))
    }
    client.on('packetsend', (p: Packet) => line('>', p))
    client.on('packetreceive', (p: Packet) => line('<', p))
    client.on('close', () => this.note(`${name} closed`))
  }
}

/** Write the nodes' logs and the trace to a file; the error names it. */
function dumped(err: unknown, round: number, nodes: ReadonlyMap<string, BrokerProcess>, trace: PacketTrace): Error {
  const file = join(tmpdir(), `portcullis-cluster-move-${process.pid}-${Date.now()}.log`)
  const parts = [`round ${round}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`]
  for (const [name, node] of nodes) parts.push(`===== ${name} stdout`, node.output, `===== ${name} stderr`, node.log)
  parts.push('===== X packet trace (ms since the round began)', ...trace.lines)
  writeFileSync(file, parts.join('\n'))
  return new Error(`${err instanceof Error ? err.message : String(err)} — node logs and X's packet trace: ${file}`, { cause: err })
}

for (const version of [4, 5] as const) {
  describe(`cluster: a client moves between live nodes mid-stream (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test(`X moves A → B → A … (${MOVES.length} moves) while C publishes QoS 1 and QoS 2: no gap at QoS 1, exactly once at QoS 2 [MQTT-4.3.2] [MQTT-4.3.3]`, async (t) => {
      const { nodes: [a, b, c], clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'])
      await Promise.all([a.start(), b.start(), c.start()])
      const named = new Map([['A', a], ['B', b], ['C', c]])
      for (let round = 1; round <= ROUNDS; round++) {
        const trace = new PacketTrace()
        try {
          await moveRound(version, round, a, b, c, clients, trace)
        } catch (err) {
          throw dumped(err, round, named, trace)
        }
      }
    })
  })
}

async function moveRound(
  version: 4 | 5, round: number, a: BrokerProcess, b: BrokerProcess, c: BrokerProcess, clients: MqttClient[], trace: PacketTrace,
): Promise<void> {
  const topic = `move/${version}/${round}`
  const got1 = new Map<number, number>()
  const got2 = new Map<number, number>()
  let probed = false
  const incomingStore = new Store({ clean: false })
  const session: mqtt.IClientOptions = {
    clientId: `move-x-${version}-${round}`, clean: false, protocolVersion: version, incomingStore,
    ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  }
  const presents: boolean[] = []
  let connections = 0
  const count = (name: string) => (client: MqttClient): void => {
    trace.follow(client, `X${++connections}@${name}`)
    client.on('connect', (p) => presents.push(p.sessionPresent))
    client.on('message', (tp, payload) => {
      if (tp === `${topic}/probe`) probed = true
      const into = tp === `${topic}/q1` ? got1 : tp === `${topic}/q2` ? got2 : undefined
      if (into === undefined) return
      const n = Number(payload.toString())
      into.set(n, (into.get(n) ?? 0) + 1)
    })
  }
  const x = await connectRetry(a.port, session, count('A'))
  clients.push(x)
  await withTimeout(x.subscribeAsync({ [`${topic}/q1`]: { qos: 1 }, [`${topic}/q2`]: { qos: 2 }, [`${topic}/probe`]: { qos: 0 } }), 5000, 'SUBACK')

  const pub = await connectRetry(c.port, { clientId: `move-pub-${version}-${round}`, protocolVersion: version })
  clients.push(pub)
  await probeRoutes(pub, [`${topic}/probe`], () => probed, 'C forwards to X on A')

  // The streams go on at a steady pace while X moves; each move starts at its tick, once the one before it connected.
  const acked1 = new Set<number>()
  const acked2 = new Set<number>()
  const sent: Array<Promise<unknown>> = []
  let tick = 0
  const mover = (async () => {
    for (const [i, at] of MOVES.entries()) {
      for (let waited = 0; tick < at; waited++) {
        assert.ok(waited < 2000, 'the publisher reaches the move\'s tick')
        await delay(1)
      }
      const [to, name] = i % 2 === 0 ? [b, 'B'] : [a, 'A']
      trace.note(`move ${i + 1} to ${name} at tick ${tick}`)
      clients.push(await connectRetry(to.port, session, count(name)))
    }
  })()
  // (C keeps under the broker's Receive Maximum for QoS 2 [MQTT-3.3.4-7]: a loaded node may answer slowly.)
  let unanswered = 0
  for (; tick < TICKS; tick++) {
    const n = tick
    for (let waited = 0; unanswered >= RECEIVE_MAXIMUM / 2; waited++) {
      assert.ok(waited < 5000, 'C\'s node answers its QoS 2 publishes')
      await delay(1)
    }
    unanswered++
    sent.push(pub.publishAsync(`${topic}/q1`, String(n), { qos: 1 }).then(() => acked1.add(n)))
    sent.push(pub.publishAsync(`${topic}/q2`, String(n), { qos: 2 }).then(() => acked2.add(n)).finally(() => unanswered--))
    await delay(PACE_MS)
  }
  await withTimeout(mover, 20_000, 'X connected on each node in turn')
  await withTimeout(Promise.allSettled(sent), 20_000, 'every publish answered')
  assert.equal(acked1.size, TICKS, 'every QoS 1 message acknowledged by C')
  assert.equal(acked2.size, TICKS, 'every QoS 2 message acknowledged by C')
  assert.deepEqual(presents, [false, ...MOVES.map(() => true)], 'session present on each move [MQTT-3.2.2-3]')

  const missing = (got: Map<number, number>, acked: Set<number>): number[] => [...acked].filter((n) => !got.has(n))
  await until(() => missing(got1, acked1).length === 0 && missing(got2, acked2).length === 0, 'every acknowledged message reaches X', 15_000)
    .catch((err: unknown) => { throw new Error(`${String(err)}: QoS 1 missing ${missing(got1, acked1).join(',')}; QoS 2 missing ${missing(got2, acked2).join(',')}`) })
  // Late copies (a duplicate would come after the original): a bounded look.
  await delay(1000)
  assert.deepEqual(missing(got1, acked1), [], 'no acknowledged QoS 1 message lost')
  assert.deepEqual(missing(got2, acked2), [], 'no acknowledged QoS 2 message lost')
  assert.deepEqual([...got2].filter(([, k]) => k > 1).map(([n]) => n), [], 'no QoS 2 message delivered twice')
  for (const client of clients.splice(0)) client.end(true)
}
