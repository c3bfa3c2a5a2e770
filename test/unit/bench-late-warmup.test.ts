/**
 * The load generator's loss accounting (bench/lib/worker.ts): a warm-up message delivered after
 * the measured phase began — a broker still draining its queue when the warm-up hit its time
 * bound, as on a loaded machine — is counted as delivered, not lost. Before, the subscriber
 * indexed every message with the current phase's messages-per-publisher, so late warm-up
 * messages fell outside the warm-up's bitmap and `npm run bench` reported "acknowledged QoS 1
 * message(s) lost" for a broker that had lost nothing.
 * The broker here is a loopback stand-in that acknowledges every PUBLISH at once and holds the
 * warm-up's deliveries until the first PUBLISH of the measured phase arrives.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { Generator } from '../../bench/lib/generator.js'
import { PAYLOAD_BYTES, PAYLOAD_PHASE } from '../../bench/lib/mqtt.js'

/** Packets of `buf` (whole ones; the stand-in's clients write whole packets). */
function* packets(buf: Buffer): IterableIterator<Buffer> {
  let off = 0
  while (off + 2 <= buf.length) {
    let len = 0
    let mul = 1
    let i = off + 1
    for (; i < buf.length; i++) {
      len += (buf[i] & 0x7f) * mul
      mul *= 128
      if ((buf[i] & 0x80) === 0) break
    }
    const end = i + 1 + len
    if (end > buf.length) return
    yield buf.subarray(off, end)
    off = end
  }
}

function standIn(): { server: Server; port: () => number } {
  let subscriber: Socket | undefined
  let held: Buffer[] | undefined = []
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => {
      for (const p of packets(Buffer.from(chunk))) {
        const type = p[0] >> 4
        if (type === 1) socket.write(Buffer.from([0x20, 2, 0, 0]))
        else if (type === 8) {
          subscriber = socket
          socket.write(Buffer.from([0x90, 3, p[2], p[3], 1]))
        } else if (type === 3) {
          const phase = p[p.length - PAYLOAD_BYTES + PAYLOAD_PHASE]
          const topicLen = p.readUInt16BE(2)
          socket.write(Buffer.from([0x40, 2, p[4 + topicLen], p[5 + topicLen]]))
          if (phase === 2 && held !== undefined) {
            // the warm-up's deliveries come now, after the measured phase began
            for (const h of held) subscriber?.write(h)
            held = undefined
          }
          if (held !== undefined) held.push(Buffer.from(p))
          else subscriber?.write(p)
        } else if (type === 14) socket.end()
      }
    })
  })
  return { server, port: () => (server.address() as { port: number }).port }
}

describe('bench generator: loss accounting across phases', () => {
  const broker = standIn()
  const gen = new Generator(1)
  after(async () => {
    await Promise.race([gen.close(), new Promise((r) => setTimeout(r, 5_000))])
    await new Promise<void>((resolve) => {
      broker.server.close(() => resolve())
      setTimeout(resolve, 2_000).unref()
    })
  })

  it('a warm-up message delivered during the measured phase counts as delivered, not lost', { timeout: 30_000 }, async () => {
    await new Promise<void>((resolve) => broker.server.listen(0, '127.0.0.1', resolve))
    const pubs = [0, 1].map((i) => ({ index: i, clientId: `late-pub-${i}`, qos: 1 as const, topics: [`late/${i}`] }))
    await gen.setup('127.0.0.1', broker.port(), pubs, [{ index: 0, clientId: 'late-sub', filter: 'late/+', qos: 1 }], [], 10_000)
    const common = { pubCount: 2, fanout: 1, window: 1 << 30, maxInflightPerPub: 1 << 30, collectLatency: false, idleMs: 300 }
    const warm = await gen.load({ ...common, phase: 1, countPerPub: 10, deadline: Date.now() + 1_000 })
    assert.equal(warm.sent, 20)
    assert.equal(warm.delivered, 0, 'the stand-in holds the warm-up deliveries')
    const meas = await gen.load({ ...common, phase: 2, countPerPub: 40, deadline: Date.now() + 10_000 })
    assert.equal(meas.sent, 80)
    assert.equal(meas.delivered, 80)
    const td = await gen.teardown(1)
    assert.deepEqual(td.unique, [20, 80], 'every warm-up and measured message was seen once')
    assert.equal(td.unacked, 0)
    assert.equal(td.ackedLost, 0, 'nothing acknowledged was lost')
  })
})
