/**
 * Mutation fuzzing over real sockets, MQTT 3.1.1 and 5.0: every packet type (those a client
 * sends, and those only a server sends) is generated valid, then mutated with a fixed seed —
 * bytes flipped or set to edge values, cut short, extended, fields duplicated, the remaining
 * length rewritten or left stale — and sent, after a valid CONNECT or instead of one. Bounded
 * in count (6,000 packets, a few seconds). Throughout, clients connected before keep completing
 * round trips, every fuzz connection is closed or forgotten, and the broker's heap levels off.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { MqttClient } from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { VERSIONS, assertHealthy, connect, connectBytes, encodeLength, end, uid, until, useBroker, type Version } from '../helpers/broker.js'

const broker = useBroker({ limits: { maxPacketSize: 64 * 1024, connectTimeoutMs: 300, maxKeepAlive: 5 } })

/** Connections per protocol version and round, mutated packets per connection, connections at once. */
const CONNECTIONS = 300
const PACKETS_PER_CONNECTION = 4
const PARALLEL = 24

/** mulberry32: a small deterministic PRNG (the seed makes every run send the same bytes). */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One valid packet of every type, for `v`. */
function seeds(v: Version): Buffer[] {
  const g = (p: Record<string, unknown>): Buffer => mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: v })
  const props5 = v === 5
  const out = [
    connectBytes({ protocolVersion: v, clientId: 'fz', keepalive: 2, username: 'u', password: Buffer.from('p'),
      will: { topic: 'fz/will', payload: Buffer.from('w'), qos: 1, retain: false, ...(props5 ? { properties: { willDelayInterval: 1, contentType: 'c' } } : {}) },
      ...(props5 ? { properties: { sessionExpiryInterval: 5, receiveMaximum: 5, topicAliasMaximum: 3, userProperties: { a: 'b' } } } : {}) }),
    g({ cmd: 'publish', topic: 'fz/a/b', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false }),
    g({ cmd: 'publish', topic: 'fz/q1', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: true, dup: false, ...(props5 ? { properties: { topicAlias: 1, messageExpiryInterval: 9, responseTopic: 'r', correlationData: Buffer.from('c'), userProperties: { k: 'v' } } } : {}) }),
    g({ cmd: 'publish', topic: 'fz/q2', payload: Buffer.alloc(40, 1), qos: 2, messageId: 8, retain: false, dup: false }),
    g({ cmd: 'puback', messageId: 7 }),
    g({ cmd: 'pubrec', messageId: 8 }),
    g({ cmd: 'pubrel', messageId: 8 }),
    g({ cmd: 'pubcomp', messageId: 8 }),
    g({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'fz/#', qos: 1 }, { topic: '$share/g/fz/+', qos: 2 }], ...(props5 ? { properties: { subscriptionIdentifier: 4 } } : {}) }),
    g({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['fz/#', 'x'] }),
    g({ cmd: 'pingreq' }),
    g({ cmd: 'disconnect', ...(props5 ? { reasonCode: 4, properties: { sessionExpiryInterval: 0, reasonString: 'r' } } : {}) }),
    // packets only a server sends
    g({ cmd: 'connack', sessionPresent: false, ...(props5 ? { reasonCode: 0 } : { returnCode: 0 }) }),
    g({ cmd: 'suback', messageId: 3, granted: [0, 1] }),
    g({ cmd: 'unsuback', messageId: 4, ...(props5 ? { granted: [0] } : {}) }),
    g({ cmd: 'pingresp' }),
  ]
  if (v === 5) out.push(g({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from('x') } }))
  return out
}

/** Offset of the body (just past the remaining length). */
function bodyStart(frame: Buffer): number {
  let i = 1
  while (i < frame.length && ((frame[i]) & 0x80) !== 0) i++
  return i + 1
}

const EDGE = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xc0, 0xff]

/** One mutation of `frame`; most keep the remaining length right so the body reaches the decoders. */
function mutate(frame: Buffer, rnd: () => number): Buffer {
  const pick = (n: number): number => Math.floor(rnd() * n)
  const start = bodyStart(frame)
  let body = Buffer.from(frame.subarray(start))
  let first = frame[0]
  const rounds = 1 + pick(3)
  for (let r = 0; r < rounds; r++) {
    switch (pick(7)) {
      case 0: // flip a bit
        if (body.length > 0) body[pick(body.length)] ^= 1 << pick(8)
        break
      case 1: // an edge value
        if (body.length > 0) body[pick(body.length)] = EDGE[pick(EDGE.length)]
        break
      case 2: // cut short
        body = body.subarray(0, pick(body.length + 1))
        break
      case 3: // extend with random bytes
        body = Buffer.concat([body, Buffer.from(Array.from({ length: 1 + pick(8) }, () => pick(256)))])
        break
      case 4: { // duplicate a slice (repeated fields, properties)
        const a = pick(body.length + 1)
        const b = Math.min(body.length, a + 1 + pick(12))
        body = Buffer.concat([body.subarray(0, b), body.subarray(a, b), body.subarray(b)])
        break
      }
      case 5: // header flags
        first = (first & 0xf0) | pick(16)
        break
      case 6: // packet type
        first = (pick(16) << 4) | (first & 0x0f)
        break
    }
  }
  // One in eight keeps the old remaining length (a lie about the size); the rest tell the truth.
  const length = rnd() < 0.125 ? frame.subarray(1, start) : encodeLength(body.length)
  return Buffer.concat([Buffer.from([first]), length, body])
}

/** Send the bytes on a fresh connection; resolve when the broker closed it, or after a short wait. */
function fire(port: number, chunks: readonly Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    }
    const timer = setTimeout(done, 150)
    socket.on('error', done)
    socket.on('close', done)
    socket.on('data', () => {})
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c)
    })
  })
}

/** A fuzz round for one protocol version: CONNECTIONS connections, PARALLEL at a time. */
async function round(port: number, v: Version, seed: number): Promise<number> {
  const rnd = prng(seed)
  const pool = seeds(v)
  const valid = connectBytes({ protocolVersion: v, clientId: 'fz-valid', keepalive: 2 })
  let sent = 0
  for (let i = 0; i < CONNECTIONS; i += PARALLEL) {
    const batch: Array<Promise<void>> = []
    for (let j = i; j < Math.min(CONNECTIONS, i + PARALLEL); j++) {
      // a third of the connections start with a mutated CONNECT; the rest with a valid one
      const chunks = rnd() < 0.33 ? [mutate(pool[0], rnd)] : [valid]
      for (let k = 0; k < PACKETS_PER_CONNECTION; k++) chunks.push(mutate(pool[Math.floor(rnd() * pool.length)], rnd))
      sent += chunks.length
      batch.push(fire(port, chunks))
    }
    await Promise.all(batch)
  }
  return sent
}

/** A full collection (the flag set once, at start-up of this file), then the heap in use. */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
  return process.memoryUsage().heapUsed
}

describe('mutation fuzz, MQTT 3.1.1 and 5.0 (fixed seeds, bounded)', () => {
  const healthy: MqttClient[] = []
  before(async () => {
    for (const v of VERSIONS) healthy.push(await connect(broker.port, { protocolVersion: v, clientId: uid(`healthy${v}`), keepalive: 30 }))
  })
  after(async () => {
    await end(...healthy)
  })

  /** Retained messages and offline sessions the fuzz legitimately created (wills, retain flags) are cleared, then every fuzz connection must be gone. */
  async function settle(): Promise<void> {
    const b = broker.server.broker
    await until(() => b.connectionCount === healthy.length, `fuzz connections closed (${b.connectionCount} open)`, 8000)
    for (const m of await b.retained.match('#')) await b.retained.set({ ...m, payload: Buffer.alloc(0) })
  }

  test('every packet type, mutated, never stops the broker serving others; its heap levels off', async () => {
    // warm-up round: code paths compiled, pools and caches at their working size
    for (const v of VERSIONS) await round(broker.port, v, 1000 + v)
    await settle()
    const before = await settledHeap()
    let sent = 0
    for (let r = 0; r < 2; r++) {
      for (const v of VERSIONS) {
        sent += await round(broker.port, v, 7 * r + v)
        for (const c of healthy) await assertHealthy(c)
      }
    }
    await settle()
    const afterHeap = await settledHeap()
    const grown = (afterHeap - before) / 1024 / 1024
    assert.ok(sent >= 4 * CONNECTIONS * (PACKETS_PER_CONNECTION + 1), `sent ${sent}`)
    // generous: the fuzz may leave offline sessions (v3 clean session 0) behind, each small
    assert.ok(grown < 24, `heap grew by ${grown.toFixed(1)} MiB over ${sent} fuzzed packets`)
  })
})
