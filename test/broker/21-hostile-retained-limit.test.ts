/**
 * Retained messages are bounded (limits.maxRetainedMessages, maxRetainedBytes): without a bound
 * one client could grow the broker's memory and store without end, one retained topic at a time.
 * A retained PUBLISH that would keep one message or byte too many is refused whole (not stored,
 * not delivered): MQTT 5 PUBACK / PUBREC 0x97 Quota exceeded, MQTT 3.1.1 acknowledged and dropped.
 * Replacing a retained message with one no larger and clearing one always work; each refusal is
 * counted (limitsHit, portcullis_limit_hits_total).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CountedLimit } from '../../src/broker/limits.js'
import { VERSIONS, delay, rawSocket, startBroker, uid, type RawClient, type RunningBroker } from '../helpers/broker.js'

function hits(b: RunningBroker, limit: CountedLimit): number {
  return b.server.brokerAdmin.stats().limitsHit[limit]
}

/** A retained QoS 1 PUBLISH; the PUBACK's reason code (0 when it carries none). */
async function retain(raw: RawClient, topic: string, payload: string | Buffer, messageId: number): Promise<number> {
  raw.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, retain: true, dup: false })
  const ack = await raw.next('puback')
  assert.equal(ack.messageId, messageId)
  return ack.reasonCode ?? 0
}

/** The retained messages a new subscriber to `filter` gets: topic → payload. */
async function retainedFor(b: RunningBroker, filter: string): Promise<Map<string, string>> {
  const sub = await rawSocket(b.port, 5)
  await sub.connect({ clientId: uid('reader'), protocolVersion: 5 })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] })
  await sub.next('suback')
  await delay(300)
  const got = new Map<string, string>()
  for (const p of sub.unread()) if (p.cmd === 'publish') got.set(p.topic, p.payload.toString())
  sub.destroy()
  return got
}

for (const v of VERSIONS) {
  const refused = v === 5 ? 0x97 : 0
  test(`v${v}: maxRetainedMessages: a new retained topic past the limit is ${v === 5 ? 'refused with 0x97' : 'acknowledged and dropped'}; replacing and clearing still work`, async () => {
    const b = await startBroker({ limits: { maxRetainedMessages: 3 } })
    try {
      const base = uid('rl')
      const live = await rawSocket(b.port, 5)
      await live.connect({ clientId: uid('live'), protocolVersion: 5 })
      live.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 0 }] })
      await live.next('suback')
      const pub = await rawSocket(b.port, v)
      await pub.connect({ clientId: uid('pub'), protocolVersion: v })
      for (const [i, t] of ['t1', 't2', 't3'].entries()) assert.equal(await retain(pub, `${base}/${t}`, `v${i}`, i + 1), 0)
      const before = hits(b, 'maxRetainedMessages')
      assert.equal(await retain(pub, `${base}/t4`, 'over', 4), refused)
      assert.equal(hits(b, 'maxRetainedMessages') - before, 1, 'counted')
      assert.equal(await retain(pub, `${base}/t1`, 'x', 5), 0, 'replacing one works')
      assert.equal(await retain(pub, `${base}/t2`, '', 6), 0, 'clearing one works')
      assert.equal(await retain(pub, `${base}/t4`, 'now', 7), 0, 'after a clear there is room')
      assert.deepEqual([...(await retainedFor(b, `${base}/#`))].sort(), [[`${base}/t1`, 'x'], [`${base}/t3`, 'v2'], [`${base}/t4`, 'now']])
      await delay(100)
      const seen = live.unread().filter((p) => p.cmd === 'publish').map((p) => p.payload.toString())
      assert.ok(!seen.includes('over'), 'the refused message was not delivered either')
      assert.ok(seen.includes('now'))
      pub.destroy()
      live.destroy()
    } finally {
      await b.close()
    }
  })

  test(`v${v}: maxRetainedBytes: topic + payload bytes past the limit are ${v === 5 ? 'refused with 0x97' : 'acknowledged and dropped'}; a smaller replacement makes room`, async () => {
    const b = await startBroker({ limits: { maxRetainedMessages: 0, maxRetainedBytes: 1000 } })
    try {
      const base = uid('rb')
      const pub = await rawSocket(b.port, v)
      await pub.connect({ clientId: uid('pub'), protocolVersion: v })
      assert.equal(await retain(pub, `${base}/a`, Buffer.alloc(500, 1), 1), 0)
      const before = hits(b, 'maxRetainedBytes')
      assert.equal(await retain(pub, `${base}/b`, Buffer.alloc(500, 2), 2), refused)
      assert.equal(hits(b, 'maxRetainedBytes') - before, 1)
      assert.equal(await retain(pub, `${base}/a`, Buffer.alloc(100, 3), 3), 0, 'a smaller replacement')
      assert.equal(await retain(pub, `${base}/b`, Buffer.alloc(500, 4), 4), 0, 'room again')
      const held = await retainedFor(b, `${base}/#`)
      assert.deepEqual([...held.keys()].sort(), [`${base}/a`, `${base}/b`])
      assert.equal(held.get(`${base}/a`)?.length, 100)
      pub.destroy()
    } finally {
      await b.close()
    }
  })
}

test('the limits are configuration: 0 turns each off, bad values are refused', async () => {
  const { validateConfig } = await import('../../src/config/schema.js')
  const ok = validateConfig({ limits: { maxRetainedMessages: 0, maxRetainedBytes: 0 } })
  assert.equal(ok.limits.maxRetainedMessages, 0)
  assert.equal(ok.limits.maxRetainedBytes, 0)
  const d = validateConfig({})
  assert.equal(d.limits.maxRetainedMessages, 1_000_000)
  assert.equal(d.limits.maxRetainedBytes, 256 * 1024 * 1024)
  assert.throws(() => validateConfig({ limits: { maxRetainedMessages: -1 } }), /limits\.maxRetainedMessages/)
  assert.throws(() => validateConfig({ limits: { maxRetainedBytes: 'lots' } }), /limits\.maxRetainedBytes/)
})
