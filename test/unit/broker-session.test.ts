/**
 * Session state, through its public behaviour: the client's window of QoS 1/2 messages in
 * flight, resending in order on a resumed session, the offline queue and its limits, and
 * packet identifiers.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Session } from '../../src/broker/session.js'
import type { Delivery, QoS } from '../../src/mqtt/types.js'

function delivery(topic: string, qos: QoS = 1, payloadBytes = 1): Delivery {
  return {
    message: { topic, payload: Buffer.alloc(payloadBytes), qos, retain: false, properties: undefined, expiresAt: undefined, origin: 'pub' },
    qos,
    retain: false,
    subscriptionIds: undefined,
  }
}

const topics = (list: readonly (Delivery | undefined)[]): string[] => list.map((d) => d?.message.topic ?? '-')

describe('Session: the window of messages in flight [MQTT-3.3.4-9]', () => {
  it('each PUBLISH sent uses the window until it is acknowledged', () => {
    const s = new Session('c', 0)
    const a = s.addInflight(delivery('a', 1, 10), 1)
    const b = s.addInflight(delivery('b', 2, 20), 2)
    assert.equal(s.windowUsed, 2)
    assert.equal(s.inflightCount, 2)
    assert.equal(s.inflightBytes, 30)
    s.completeInflight(a)
    assert.equal(s.windowUsed, 1)
    assert.equal(s.inflightBytes, 20)
    s.completeInflight(a)
    assert.equal(s.windowUsed, 1, 'completing twice frees nothing more')
    s.completeInflight(b)
    assert.deepEqual([s.windowUsed, s.inflightCount, s.inflightBytes], [0, 0, 0])
  })

  it('a QoS 2 message waiting for PUBCOMP still holds its packet id but not its place once PUBCOMP ends it', () => {
    const s = new Session('c', 0)
    const f = s.addInflight(delivery('q2', 2), 7)
    f.state = 'pubrel'
    assert.equal(s.inflight.get(7), f)
    s.completeInflight(f)
    assert.equal(s.inflight.has(7), false)
    assert.equal(s.windowUsed, 0)
  })
})

describe('Session: resuming resends in the order first sent [MQTT-4.6.0-1]', () => {
  it('a resumed session starts with an empty window and holds unacknowledged PUBLISHes, oldest first [MQTT-4.9.0-1]', () => {
    const s = new Session('c', 60)
    for (const [i, t] of ['m1', 'm2', 'm3', 'm4'].entries()) s.addInflight(delivery(t), i + 1)
    s.inflight.get(2)!.state = 'pubrel' // PUBREC came: its PUBREL is resent, not its PUBLISH
    s.holdInflight()
    assert.equal(s.windowUsed, 0)
    assert.equal(s.heldCount, 3)
    const first = s.takeHeld()
    assert.equal(first!.message.topic, 'm1')
    assert.equal(first!.state, 'publish')
    assert.equal(s.windowUsed, 1, 'a resent PUBLISH uses the new window')
    assert.deepEqual(topics([s.takeHeld(), s.takeHeld(), s.takeHeld()]), ['m3', 'm4', '-'])
    assert.equal(s.windowUsed, 3)
  })

  it('a held message acknowledged before it is resent leaves the held list', () => {
    const s = new Session('c', 60)
    const fs = ['m1', 'm2', 'm3'].map((t, i) => s.addInflight(delivery(t), i + 1))
    s.holdInflight()
    s.completeInflight(fs[1])
    assert.equal(s.heldCount, 2)
    assert.equal(s.windowUsed, 0, 'a held message does not use the new window')
    assert.deepEqual(topics([s.takeHeld(), s.takeHeld(), s.takeHeld()]), ['m1', 'm3', '-'])
  })
})

describe('Session: the queue of messages waiting for the client', () => {
  it('delivers oldest first and counts payload bytes', () => {
    const s = new Session('c', 60)
    for (const t of ['q1', 'q2', 'q3']) s.enqueue(delivery(t, 1, 5), 100, 1000)
    assert.equal(s.queue.length, 3)
    assert.equal(s.queuedBytes, 15)
    assert.deepEqual(topics([s.dequeue(), s.dequeue()]), ['q1', 'q2'])
    assert.equal(s.queuedBytes, 5)
  })

  it('over maxMessages the oldest message is dropped', () => {
    const s = new Session('c', 60)
    const drops = ['q1', 'q2', 'q3'].map((t) => s.enqueue(delivery(t), 2, 1000))
    assert.deepEqual(drops, [{ messages: 0, bytesLimit: false }, { messages: 0, bytesLimit: false }, { messages: 1, bytesLimit: false }])
    assert.deepEqual(topics([s.dequeue(), s.dequeue(), s.dequeue()]), ['q2', 'q3', '-'])
  })

  it('over maxBytes the oldest messages are dropped, but the newest is kept however large', () => {
    const s = new Session('c', 60)
    s.enqueue(delivery('small1', 1, 10), 100, 50)
    s.enqueue(delivery('small2', 1, 10), 100, 50)
    const drop = s.enqueue(delivery('huge', 1, 80), 100, 50)
    assert.deepEqual(drop, { messages: 2, bytesLimit: true })
    assert.equal(s.queuedBytes, 80)
    assert.deepEqual(topics([s.dequeue(), s.dequeue()]), ['huge', '-'])
  })

  it('maxMessages 0 keeps nothing queued', () => {
    const s = new Session('c', 60)
    assert.deepEqual(s.enqueue(delivery('q'), 0, 1000), { messages: 1, bytesLimit: false })
    assert.equal(s.queue.length, 0)
    assert.equal(s.queuedBytes, 0)
  })
})

describe('Session: packet identifiers [MQTT-2.2.1-4]', () => {
  it('a new identifier is never one still in flight, and wraps from 65535 to 1 (never 0)', () => {
    const s = new Session('c', 0)
    assert.equal(s.allocatePacketId(), 1)
    s.addInflight(delivery('a'), 2)
    assert.equal(s.allocatePacketId(), 3, '2 is in flight')
    let id = 0
    for (let i = 0; i < 65532; i++) id = s.allocatePacketId()
    assert.equal(id, 65535)
    assert.equal(s.allocatePacketId(), 1, 'wraps to 1')
    assert.equal(s.allocatePacketId(), 3, '2 is still in flight')
  })

  it('with 65,535 messages in flight there is no identifier left (0)', () => {
    const s = new Session('c', 0)
    for (let id = 1; id <= 65535; id++) s.addInflight(delivery('a', 1, 0), id)
    assert.equal(s.allocatePacketId(), 0)
  })
})
