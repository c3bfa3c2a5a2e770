/**
 * Flow control when a session resumes [MQTT-4.9, MQTT-3.3.4-9]: the Receive Maximum of the
 * new CONNECT limits the resent PUBLISH packets too. At most that many go out (DUP, original
 * packet identifiers [MQTT-4.4.0-1]); the rest follow, in their original order
 * [MQTT-4.6.0-1], as PUBACK / PUBCOMP free the window, and the queue comes after them.
 * PUBRELs are not PUBLISH packets: they are all resent at once and use none of the new window.
 * 3.1.1 clients have no Receive Maximum: they get everything back at once, as before.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type mqttPacket from 'mqtt-packet'
import {
  connect, connectWithInbox, delay, end, expectNoMessage, rawSocket, rawSubscribe, uid, until, useBroker, type RawClient, type Version,
} from '../helpers/broker.js'

const broker = useBroker()

/** CONNECT of a session that outlives its connection, with a Receive Maximum for v5. */
function resumeConnect(v: Version, clientId: string, receiveMaximum?: number): Partial<mqttPacket.IConnectPacket> {
  if (v === 4) return { clientId, clean: false }
  return { clientId, clean: false, properties: { sessionExpiryInterval: 60, ...(receiveMaximum === undefined ? {} : { receiveMaximum }) } }
}

/** The next `n` PUBLISH packets (other packets in between are skipped). */
async function publishes(raw: RawClient, n: number): Promise<mqttPacket.IPublishPacket[]> {
  const out: mqttPacket.IPublishPacket[] = []
  while (out.length < n) out.push(await raw.next('publish'))
  return out
}

/** Assert that no further PUBLISH arrives within `ms` (a bounded negative check). */
async function noMorePublish(raw: RawClient, why: string, ms = 200): Promise<void> {
  await delay(ms)
  const extra = raw.unread().filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish')
  assert.deepEqual(extra.map((p) => p.payload.toString()), [], why)
}

const payloads = (ps: readonly mqttPacket.IPublishPacket[]): string[] => ps.map((p) => p.payload.toString())
const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`)

interface InflightSession {
  readonly id: string
  readonly topic: string
  /** The PUBLISH packets the first connection received and never acknowledged. */
  readonly sent: mqttPacket.IPublishPacket[]
  readonly first: RawClient
  readonly pub: Awaited<ReturnType<typeof connect>>
}

/**
 * A persistent session whose first connection (Receive Maximum 20) received `n` QoS `qos`
 * messages m1..mn and acknowledged none of them.
 */
async function inflightSession(v: Version, n: number, qos: 1 | 2): Promise<InflightSession> {
  const id = uid('resume')
  const topic = `${id}/t`
  const first = await rawSocket(broker.port, v)
  await first.connect({ protocolVersion: v, ...resumeConnect(v, id, 20) })
  await rawSubscribe(first, topic, qos)
  const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
  for (let i = 1; i <= n; i++) await pub.publishAsync(topic, `m${i}`, { qos })
  const sent = await publishes(first, n)
  assert.deepEqual(payloads(sent), range(1, n))
  assert.ok(sent.every((p) => p.qos === qos && !p.dup))
  return { id, topic, sent, first, pub }
}

/** Close a connection and wait until the broker has seen it go (the session stays, offline). */
async function dropConnection(s: InflightSession, raw: RawClient): Promise<void> {
  raw.destroy()
  await until(() => broker.server.broker.sessions.get(s.id)?.connection === undefined, 'the broker saw the connection close')
}

describe('v5 resume with a smaller Receive Maximum', () => {
  test('QoS 1: exactly Receive Maximum PUBLISHes are resent (DUP, original ids), each PUBACK releases the next, the queue follows [MQTT-3.3.4-9, MQTT-4.6.0-1]', async () => {
    const s = await inflightSession(5, 8, 1)
    await dropConnection(s, s.first)
    // queued while offline: they must come after the eight in flight
    await s.pub.publishAsync(s.topic, 'm9', { qos: 1 })
    await s.pub.publishAsync(s.topic, 'm10', { qos: 1 })

    const raw = await rawSocket(broker.port, 5)
    const connack = await raw.connect({ protocolVersion: 5, ...resumeConnect(5, s.id, 3) })
    assert.equal(connack.sessionPresent, true)
    const window = await publishes(raw, 3)
    assert.deepEqual(payloads(window), range(1, 3))
    assert.deepEqual(window.map((p) => p.messageId), s.sent.slice(0, 3).map((p) => p.messageId), 'original packet identifiers [MQTT-4.4.0-1]')
    assert.ok(window.every((p) => p.dup && p.qos === 1), 'resent with DUP set [MQTT-3.3.1-1]')
    await noMorePublish(raw, 'more than Receive Maximum (3) PUBLISHes unacknowledged after the resume')

    // a message published now, while the window is full, waits behind the resends and the queue
    await s.pub.publishAsync(s.topic, 'm11', { qos: 1 })
    await noMorePublish(raw, 'a new message went out while the window was full', 100)

    const received = [...window]
    const outstanding = [...window]
    while (received.length < 11) {
      raw.send({ cmd: 'puback', messageId: (outstanding.shift() as mqttPacket.IPublishPacket).messageId })
      const [next] = await publishes(raw, 1)
      const p = next
      received.push(p)
      outstanding.push(p)
      assert.equal(outstanding.length, 3)
      await noMorePublish(raw, `one PUBACK released more than one PUBLISH (after ${p.payload.toString()})`, 30)
    }
    assert.deepEqual(payloads(received), range(1, 11), 'every message once, in order [MQTT-4.6.0-6]')
    assert.deepEqual(received.map((p) => p.dup), [...Array<boolean>(8).fill(true), false, false, false], 'DUP only on the resends')
    assert.deepEqual(received.slice(0, 8).map((p) => p.messageId), s.sent.map((p) => p.messageId))
    for (const p of outstanding) raw.send({ cmd: 'puback', messageId: p.messageId })
    await noMorePublish(raw, 'a message was delivered twice')
    const session = broker.server.broker.sessions.get(s.id)
    await until(() => session?.inflightCount === 0, 'every message acknowledged')
    raw.destroy()
    await end(s.pub)
  })

  test('a PUBACK for a message not resent yet frees no window and loses nothing', async () => {
    const s = await inflightSession(5, 5, 1)
    await dropConnection(s, s.first)
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ protocolVersion: 5, ...resumeConnect(5, s.id, 2) })
    const window = await publishes(raw, 2)
    assert.deepEqual(payloads(window), ['m1', 'm2'])
    // m5 was sent on the first connection only: this is not an answer to anything on this one
    raw.send({ cmd: 'puback', messageId: s.sent[4]?.messageId })
    await noMorePublish(raw, 'a PUBACK for a held message opened the window')
    const received = [...window]
    for (let i = 0; received.length < 5; i++) {
      raw.send({ cmd: 'puback', messageId: received[i]?.messageId })
      received.push(...(await publishes(raw, 1)))
    }
    assert.deepEqual(payloads(received), range(1, 5))
    assert.equal(received[4]?.messageId, s.sent[4]?.messageId)
    for (const p of received.slice(3)) raw.send({ cmd: 'puback', messageId: p.messageId })
    await noMorePublish(raw, 'a message was delivered twice')
    raw.destroy()
    await end(s.pub)
  })

  test('QoS 2 with PUBREL pending: every PUBREL is resent first, Receive Maximum PUBLISHes follow, a QoS 2 message holds its slot until PUBCOMP [MQTT-4.9.0-2]', async () => {
    const s = await inflightSession(5, 6, 2)
    // m1..m3 reach PUBREC (the broker answers PUBREL), m4..m6 are not acknowledged at all
    for (const p of s.sent.slice(0, 3)) s.first.send({ cmd: 'pubrec', messageId: p.messageId })
    for (const p of s.sent.slice(0, 3)) assert.equal((await s.first.next('pubrel')).messageId, p.messageId)
    await dropConnection(s, s.first)

    const raw = await rawSocket(broker.port, 5)
    const connack = await raw.connect({ protocolVersion: 5, ...resumeConnect(5, s.id, 2) })
    assert.equal(connack.sessionPresent, true)
    // three PUBRELs although Receive Maximum is 2: flow control limits PUBLISH packets only
    const resumed: mqttPacket.Packet[] = []
    for (let i = 0; i < 5; i++) resumed.push(await raw.next())
    assert.deepEqual(
      resumed.map((p) => `${p.cmd} ${String((p as mqttPacket.IPubrelPacket).messageId)}`),
      [
        ...s.sent.slice(0, 3).map((p) => `pubrel ${String(p.messageId)}`),
        ...s.sent.slice(3, 5).map((p) => `publish ${String(p.messageId)}`),
      ],
    )
    const window = resumed.slice(3) as mqttPacket.IPublishPacket[]
    assert.deepEqual(payloads(window), ['m4', 'm5'])
    assert.ok(window.every((p) => p.dup && p.qos === 2))
    await noMorePublish(raw, 'more than Receive Maximum (2) PUBLISHes unacknowledged')

    // the PUBRELs' PUBCOMPs end messages this connection never sent a PUBLISH for: no slot opens
    for (const p of s.sent.slice(0, 3)) raw.send({ cmd: 'pubcomp', messageId: p.messageId })
    await noMorePublish(raw, 'a PUBCOMP for a resent PUBREL let a third PUBLISH out')
    // PUBREC does not free the slot of a QoS 2 message, PUBCOMP does
    raw.send({ cmd: 'pubrec', messageId: window[0]?.messageId })
    assert.equal((await raw.next('pubrel')).messageId, window[0]?.messageId)
    await noMorePublish(raw, 'a PUBREC freed the window')
    raw.send({ cmd: 'pubcomp', messageId: window[0]?.messageId })
    const [m6] = await publishes(raw, 1)
    assert.equal(m6?.payload.toString(), 'm6')
    assert.equal(m6?.dup, true)
    assert.equal(m6?.messageId, s.sent[5]?.messageId)

    for (const p of [window[1], m6]) {
      raw.send({ cmd: 'pubrec', messageId: p?.messageId })
      assert.equal((await raw.next('pubrel')).messageId, p?.messageId)
      raw.send({ cmd: 'pubcomp', messageId: p?.messageId })
    }
    await noMorePublish(raw, 'a message was sent again after PUBCOMP')
    const session = broker.server.broker.sessions.get(s.id)
    await until(() => session?.inflightCount === 0, 'every QoS 2 flow completed')
    raw.destroy()
    await end(s.pub)
  })

  test('MQTT.js resuming with Receive Maximum 2 (taking the session over) gets every QoS 2 message once, in order, never more than 2 unacknowledged', async () => {
    const s = await inflightSession(5, 8, 2)
    await s.pub.publishAsync(s.topic, 'm9', { qos: 2 })
    await s.pub.publishAsync(s.topic, 'm10', { qos: 2 })
    let outstanding = 0
    let most = 0
    const { client, inbox } = await connectWithInbox(broker.port, {
      protocolVersion: 5,
      clientId: s.id,
      clean: false,
      properties: { sessionExpiryInterval: 60, receiveMaximum: 2 },
      beforeConnect: (c) => {
        c.on('packetreceive', (p) => {
          if (p.cmd === 'publish' && p.qos > 0) most = Math.max(most, ++outstanding)
        })
        c.on('packetsend', (p) => {
          if (p.cmd === 'puback' || p.cmd === 'pubcomp') outstanding--
        })
      },
    })
    // the first connection is still open: it is taken over [MQTT-3.1.4-3]
    assert.equal((await s.first.next('disconnect')).reasonCode, 0x8e)
    const got = await inbox.count(10)
    assert.deepEqual(got.map((m) => m.payload.toString()), range(1, 10))
    await expectNoMessage(client, 200)
    assert.equal(inbox.messages.length, 10, 'a QoS 2 message was delivered twice')
    assert.equal(most, 2, 'unacknowledged QoS 2 PUBLISHes seen by the client at once')
    s.first.destroy()
    await end(client, s.pub)
  })

  test('a larger Receive Maximum on resume resends everything at once', async () => {
    const s = await inflightSession(5, 4, 1)
    await dropConnection(s, s.first)
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ protocolVersion: 5, ...resumeConnect(5, s.id, 50) })
    const resent = await publishes(raw, 4)
    assert.deepEqual(payloads(resent), range(1, 4))
    assert.ok(resent.every((p) => p.dup))
    for (const p of resent) raw.send({ cmd: 'puback', messageId: p.messageId })
    await noMorePublish(raw, 'a message was delivered twice')
    raw.destroy()
    await end(s.pub)
  })
})

describe('v3.1.1 resume (no Receive Maximum)', () => {
  test('every unacknowledged QoS 1 message is resent at once, then the queue, with no PUBACK needed [MQTT-4.4.0-1]', async () => {
    const s = await inflightSession(4, 8, 1)
    await dropConnection(s, s.first)
    await s.pub.publishAsync(s.topic, 'm9', { qos: 1 })
    await s.pub.publishAsync(s.topic, 'm10', { qos: 1 })
    const raw = await rawSocket(broker.port, 4)
    const connack = await raw.connect({ protocolVersion: 4, ...resumeConnect(4, s.id) })
    assert.equal(connack.sessionPresent, true)
    const all = await publishes(raw, 10)
    assert.deepEqual(payloads(all), range(1, 10))
    assert.deepEqual(all.map((p) => p.dup), [...Array<boolean>(8).fill(true), false, false])
    assert.deepEqual(all.slice(0, 8).map((p) => p.messageId), s.sent.map((p) => p.messageId))
    for (const p of all) raw.send({ cmd: 'puback', messageId: p.messageId })
    await noMorePublish(raw, 'a message was delivered twice')
    raw.destroy()
    await end(s.pub)
  })

  test('QoS 2: PUBRELs and the unacknowledged PUBLISHes all come back at once', async () => {
    const s = await inflightSession(4, 5, 2)
    for (const p of s.sent.slice(0, 2)) s.first.send({ cmd: 'pubrec', messageId: p.messageId })
    for (const p of s.sent.slice(0, 2)) assert.equal((await s.first.next('pubrel')).messageId, p.messageId)
    await dropConnection(s, s.first)
    const raw = await rawSocket(broker.port, 4)
    await raw.connect({ protocolVersion: 4, ...resumeConnect(4, s.id) })
    const resumed: mqttPacket.Packet[] = []
    for (let i = 0; i < 5; i++) resumed.push(await raw.next())
    assert.deepEqual(
      resumed.map((p) => `${p.cmd} ${String((p as mqttPacket.IPubrelPacket).messageId)}`),
      [...s.sent.slice(0, 2).map((p) => `pubrel ${String(p.messageId)}`), ...s.sent.slice(2).map((p) => `publish ${String(p.messageId)}`)],
    )
    assert.deepEqual(payloads(resumed.slice(2) as mqttPacket.IPublishPacket[]), range(3, 5))
    raw.destroy()
    await end(s.pub)
  })

  test('PUBRELs are resent in the order their PUBRECs arrived, not the order first sent [MQTT-4.6.0-4]', async () => {
    const s = await inflightSession(4, 4, 2)
    const order = [s.sent[2], s.sent[0], s.sent[3], s.sent[1]]
    for (const p of order) {
      s.first.send({ cmd: 'pubrec', messageId: p?.messageId })
      assert.equal((await s.first.next('pubrel')).messageId, p?.messageId)
    }
    // a repeated PUBREC is answered again but does not move its message
    s.first.send({ cmd: 'pubrec', messageId: s.sent[2]?.messageId })
    assert.equal((await s.first.next('pubrel')).messageId, s.sent[2]?.messageId)
    await dropConnection(s, s.first)
    const raw = await rawSocket(broker.port, 4)
    await raw.connect({ protocolVersion: 4, ...resumeConnect(4, s.id) })
    const resent: number[] = []
    for (let i = 0; i < 4; i++) resent.push((await raw.next('pubrel')).messageId ?? -1)
    assert.deepEqual(resent, order.map((p) => p?.messageId))
    for (const id of resent) raw.send({ cmd: 'pubcomp', messageId: id })
    await until(() => broker.server.broker.sessions.get(s.id)?.inflightCount === 0, 'every QoS 2 flow completed')
    raw.destroy()
    await end(s.pub)
  })

  test('MQTT.js 3.1.1 resume receives every message once, in order', async () => {
    const s = await inflightSession(4, 6, 1)
    await dropConnection(s, s.first)
    await s.pub.publishAsync(s.topic, 'm7', { qos: 1 })
    const { client, inbox } = await connectWithInbox(broker.port, { protocolVersion: 4, clientId: s.id, clean: false })
    const got = await inbox.count(7)
    assert.deepEqual(got.map((m) => m.payload.toString()), range(1, 7))
    await expectNoMessage(client, 200)
    assert.equal(inbox.messages.length, 7)
    await end(client, s.pub)
  })
})
