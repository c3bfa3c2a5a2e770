/**
 * SUBSCRIBE / UNSUBSCRIBE [MQTT-3.8, MQTT-3.10, MQTT-4.7, MQTT-4.8]: wildcards, $-topics,
 * invalid filters, overlapping subscriptions, No Local, shared subscriptions.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  VERSIONS, connect, delay, end, expectNoMessage, Inbox, nextMessage, rawSocket, rawSubscribe, subscribe, uid, useBroker, type Version,
} from '../helpers/broker.js'

const broker = useBroker()

async function publishAll(v: Version, topics: string[], qos: 0 | 1 | 2 = 1): Promise<void> {
  const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
  for (const t of topics) await pub.publishAsync(t, t, { qos })
  await end(pub)
}

/** Publish `topics`, then a marker, and return the topics the subscriber got before the marker. */
async function deliveredTopics(v: Version, inbox: Inbox, topics: string[], marker: string): Promise<string[]> {
  await publishAll(v, [...topics, marker])
  await inbox.next(marker)
  return inbox.messages.map((m) => m.topic).filter((t) => t !== marker)
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test("'+' matches exactly one level [MQTT-4.7.1-3]", async () => {
      const base = uid('plus')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, [`${base}/+/x`, `${base}/marker`], { qos: 1 })
      const got = await deliveredTopics(v, inbox, [`${base}/a/x`, `${base}/a/b/x`, `${base}/x`, `${base}//x`], `${base}/marker`)
      assert.deepEqual(got.sort(), [`${base}//x`, `${base}/a/x`])
      await end(sub)
    })

    test("'#' matches the parent and every level below [MQTT-4.7.1-2]", async () => {
      const base = uid('hash')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, [`${base}/a/#`, `${base}/marker`], { qos: 1 })
      const got = await deliveredTopics(v, inbox, [`${base}/a`, `${base}/a/b`, `${base}/a/b/c`, `${base}/b`], `${base}/marker`)
      assert.deepEqual(got.sort(), [`${base}/a`, `${base}/a/b`, `${base}/a/b/c`])
      await end(sub)
    })

    test('a topic published to while nobody subscribed is delivered once a subscription matches it, and no more after UNSUBSCRIBE', async () => {
      const base = uid('later')
      // Nobody subscribed: the topic's empty match is what the broker knows (and caches).
      await publishAll(v, [`${base}/t`, `${base}/t`], 0)
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, [`${base}/+`, `${base}/marker/#`], { qos: 1 })
      assert.deepEqual(await deliveredTopics(v, inbox, [`${base}/t`], `${base}/marker/1`), [`${base}/t`])
      await sub.unsubscribeAsync(`${base}/+`)
      await publishAll(v, [`${base}/t`, `${base}/marker/2`])
      await inbox.next(`${base}/marker/2`)
      assert.deepEqual(inbox.messages.map((m) => m.topic), [`${base}/t`, `${base}/marker/1`, `${base}/marker/2`])
      await end(sub)
    })

    for (const filter of ['a/#/b', 'a/b#', 'a+/b', '#/a', '']) {
      test(`invalid filter ${JSON.stringify(filter)} gets SUBACK ${v === 5 ? '0x8F' : '0x80'} [MQTT-4.7.1-1]`, async () => {
        const raw = await rawSocket(broker.port, v)
        await raw.connect({ clientId: uid('raw') })
        // mqtt-packet refuses to encode an empty filter: hand-made SUBSCRIBE for that one
        let granted: number[]
        if (filter === '') {
          raw.write(v === 5 ? [0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01] : [0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01])
          granted = (await raw.next('suback')).granted as number[]
        } else {
          granted = await rawSubscribe(raw, filter, 1)
        }
        assert.deepEqual(granted, [v === 5 ? 0x8f : 0x80])
        raw.send({ cmd: 'pingreq' })
        await raw.next('pingresp')
        raw.destroy()
      })
    }

    test('one SUBSCRIBE with valid and invalid filters: a code for each, in order [MQTT-3.9.3-1]', async () => {
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      raw.send({
        cmd: 'subscribe', messageId: 5,
        subscriptions: [{ topic: 'ok/+', qos: 2 }, { topic: 'bad/#/x', qos: 1 }, { topic: 'ok/1', qos: 0 }],
      })
      const suback = await raw.next('suback')
      assert.equal(suback.messageId, 5)
      assert.deepEqual(suback.granted, [2, v === 5 ? 0x8f : 0x80, 0])
      raw.destroy()
    })

    test('overlapping subscriptions deliver one copy at the highest QoS [MQTT-3.3.4-2]', async () => {
      const base = uid('overlap')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, `${base}/#`, { qos: 2 })
      await subscribe(sub, `${base}/+`, { qos: 1 })
      await publishAll(v, [`${base}/x`], 2)
      const m = await inbox.next(`${base}/x`)
      await expectNoMessage(sub, 200)
      assert.equal(inbox.messages.length, 1)
      assert.equal(m.packet.qos, 2)
      await end(sub)
    })

    test('a repeated SUBSCRIBE replaces the subscription (new QoS, no duplicate) [MQTT-3.8.4-3]', async () => {
      const topic = uid('replace')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, topic, { qos: 2 })
      await subscribe(sub, topic, { qos: 0 })
      await publishAll(v, [topic])
      const m = await inbox.next(topic)
      await expectNoMessage(sub, 150)
      assert.equal(m.packet.qos, 0)
      assert.equal(inbox.messages.length, 1)
      await end(sub)
    })

    test('UNSUBSCRIBE stops delivery and is acknowledged [MQTT-3.10.4-1, MQTT-3.10.4-4]', async () => {
      const topic = uid('unsub')
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      await rawSubscribe(raw, topic, 0)
      raw.send({ cmd: 'unsubscribe', messageId: 9, unsubscriptions: [topic, `${topic}/never`] } as never)
      const unsuback = await raw.next('unsuback')
      assert.equal(unsuback.messageId, 9)
      if (v === 5) assert.deepEqual(unsuback.granted, [0x00, 0x11])
      await publishAll(v, [topic])
      raw.send({ cmd: 'pingreq' })
      await raw.next('pingresp')
      await delay(100)
      assert.equal(raw.unread().filter((p) => p.cmd === 'publish').length, 0)
      raw.destroy()
    })

    test('shared subscriptions distribute messages round robin, each to one member [MQTT-4.8.2-?]', async () => {
      const topic = uid('shared')
      const members = await Promise.all([1, 2, 3].map(() => connect(broker.port, { protocolVersion: v, clientId: uid('member') })))
      const inboxes = members.map((m) => new Inbox(m))
      for (const m of members) await subscribe(m, `$share/grp/${topic}`, { qos: 1 })
      const other = await connect(broker.port, { protocolVersion: v, clientId: uid('other') })
      await subscribe(other, `$share/other/${topic}`, { qos: 1 })
      const otherInbox = new Inbox(other)
      await publishAll(v, Array.from({ length: 9 }, () => topic))
      await otherInbox.count(9)
      await delay(100)
      const counts = inboxes.map((i) => i.messages.length)
      assert.deepEqual(counts, [3, 3, 3], 'each member of the group gets every third message')
      assert.equal(otherInbox.messages.length, 9, 'every group gets every message')
      await end(...members, other)
    })

    test('a shared subscriber that is also a normal subscriber gets both copies [MQTT-4.8.2-?]', async () => {
      const topic = uid('sharedplus')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, [`$share/g/${topic}`, topic], { qos: 1 })
      await publishAll(v, [topic])
      await inbox.count(2)
      await expectNoMessage(sub, 100)
      assert.equal(inbox.messages.length, 2)
      await end(sub)
    })

    test('an invalid shared subscription filter is refused [MQTT-4.8.2-1, MQTT-4.8.2-2]', async () => {
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      raw.send({
        cmd: 'subscribe', messageId: 3,
        subscriptions: [{ topic: '$share/g+/x', qos: 1 }, { topic: '$share//x', qos: 1 }, { topic: '$share/g', qos: 1 }],
      })
      const code = v === 5 ? 0x8f : 0x80
      assert.deepEqual((await raw.next('suback')).granted, [code, code, code])
      raw.destroy()
    })
  })
}

describe('v5 subscription options', () => {
  test('overlapping subscriptions deliver one copy carrying every Subscription Identifier [MQTT-3.3.4-3]', async () => {
    const base = uid('subid')
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    const inbox = new Inbox(sub)
    await subscribe(sub, `${base}/#`, { qos: 2, properties: { subscriptionIdentifier: 1 } })
    await subscribe(sub, `${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 2 } })
    await publishAll(5, [`${base}/x`], 2)
    const m = await inbox.next(`${base}/x`)
    await expectNoMessage(sub, 150)
    assert.equal(inbox.messages.length, 1)
    assert.equal(m.packet.qos, 2)
    const ids = m.packet.properties?.subscriptionIdentifier
    assert.deepEqual([ids].flat().sort(), [1, 2])
    await end(sub)
  })

  test('No Local: a client does not get its own messages [MQTT-3.8.3-3]', async () => {
    const topic = uid('nolocal')
    const me = await connect(broker.port, { protocolVersion: 5, clientId: uid('me') })
    const other = await connect(broker.port, { protocolVersion: 5, clientId: uid('other') })
    await subscribe(me, topic, { qos: 1, nl: true })
    await subscribe(other, topic, { qos: 1 })
    const got = nextMessage(other, topic)
    await me.publishAsync(topic, 'from me', { qos: 1 })
    await got
    await expectNoMessage(me, 200)
    const mine = nextMessage(me, topic)
    await other.publishAsync(topic, 'from other', { qos: 1 })
    assert.equal((await mine).payload.toString(), 'from other')
    await end(me, other)
  })

  test('No Local on a shared subscription is a protocol error (DISCONNECT 0x82) [MQTT-3.8.3-4]', async () => {
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw') })
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 1, nl: true }] } as never)
    assert.equal((await raw.next('disconnect')).reasonCode, 0x82)
    await raw.waitClosed()
  })

  test('a Subscription Identifier of 0 is a protocol error [MQTT-3.8.2-?]', async () => {
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw') })
    // SUBSCRIBE id 1, properties: Subscription Identifier (0x0B) = 0, filter "x" QoS 0
    raw.write([0x82, 0x08, 0x00, 0x01, 0x02, 0x0b, 0x00, 0x00, 0x01, 0x78, 0x00])
    const p = await raw.next()
    assert.ok(p.cmd === 'disconnect' && (p.reasonCode === 0x82 || p.reasonCode === 0x81), `got ${p.cmd}`)
    await raw.waitClosed()
  })
})
