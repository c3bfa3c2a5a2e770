/**
 * $SYS topics: broker version, uptime, client and message counters, published every
 * limits.sysInterval seconds to subscribers an authorization rule admits; `$` topics are
 * not matched by leading wildcards [MQTT-4.7.2-1].
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  VERSIONS, connect, connectWithInbox, delay, end, expectNoMessage, Inbox, startBroker, subscribe, uid, useBroker,
} from '../helpers/broker.js'

const broker = useBroker({
    limits: { sysInterval: 1 },
    authorization: {
      policies: [{ name: 'sys-readers', priority: 1, effect: 'allow', actions: ['subscribe'], topics: ['$SYS/#'] }],
    },
  })

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('a $SYS/# subscriber sees version, uptime, connected clients and counters', async () => {
      const { client, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('sys') })
      assert.deepEqual(await subscribe(client, '$SYS/#', { qos: 0 }), [0])
      const version = await inbox.next('$SYS/broker/version', 2500)
      assert.match(version.payload.toString(), /^portcullis \d+\.\d+\.\d+/)
      const uptime = await inbox.next('$SYS/broker/uptime', 2500)
      assert.match(uptime.payload.toString(), /^\d+ seconds$/)
      const connected = await inbox.next('$SYS/broker/clients/connected', 2500)
      assert.ok(Number(connected.payload.toString()) >= 1)
      for (const t of ['messages/received', 'messages/sent', 'bytes/received', 'bytes/sent']) {
        const m = await inbox.next(`$SYS/broker/${t}`, 2500)
        assert.match(m.payload.toString(), /^\d+$/, t)
      }
      await end(client)
    })

    test('counters grow with traffic between two $SYS publications', async () => {
      const { client, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('sys') })
      await subscribe(client, '$SYS/broker/messages/received', { qos: 0 })
      const first = Number((await inbox.next('$SYS/broker/messages/received', 2500)).payload.toString())
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      for (let i = 0; i < 5; i++) await pub.publishAsync(uid('traffic'), 'x', { qos: 1 })
      let latest = first
      const deadline = Date.now() + 3000
      while (latest < first + 5 && Date.now() < deadline) {
        latest = Number((await inbox.next('$SYS/broker/messages/received', 2500)).payload.toString())
      }
      assert.ok(latest >= first + 5, `messages/received went from ${first} to ${latest}`)
      await end(client, pub)
    })

    test("'$' topics are not matched by '#' or '+/…' but by an explicit $SYS filter [MQTT-4.7.2-1]", async () => {
      const wild = await connect(broker.port, { protocolVersion: v, clientId: uid('wild') })
      let dollar = 0
      wild.on('message', (topic) => {
        if (topic.startsWith('$')) dollar++
      })
      await subscribe(wild, ['#', '+/broker/uptime'], { qos: 0 })
      const explicit = await connect(broker.port, { protocolVersion: v, clientId: uid('explicit') })
      const inbox = new Inbox(explicit)
      await subscribe(explicit, '$SYS/broker/uptime', { qos: 0 })
      await inbox.next('$SYS/broker/uptime', 2500) // the retained one
      await inbox.next('$SYS/broker/uptime', 2500) // a live one, which '#' would also have got
      await expectNoMessage(wild, 50)
      assert.equal(dollar, 0)
      await end(wild, explicit)
    })

    test('clients may not publish to $SYS', async () => {
      const watcher = await connect(broker.port, { protocolVersion: v, clientId: uid('w') })
      const inbox = new Inbox(watcher)
      await subscribe(watcher, '$SYS/broker/fake', { qos: 1 })
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      if (v === 5) {
        await assert.rejects(pub.publishAsync('$SYS/broker/fake', 'x', { qos: 1 }), /Not authorized|0x87|135/i)
      } else {
        await pub.publishAsync('$SYS/broker/fake', 'x', { qos: 1 })
      }
      await delay(100)
      assert.equal(inbox.messages.length, 0)
      await end(watcher, pub)
    })
  })
}

describe('authorization', () => {
  for (const v of VERSIONS) {
    test(`v${v}: a $SYS/# subscription is refused without a rule allowing it (SUBACK ${v === 5 ? '0x87' : '0x80'})`, async () => {
      const plain = await startBroker({ limits: { sysInterval: 1 } })
      try {
        const client = await connect(plain.port, { protocolVersion: v, clientId: uid('nosys') })
        const granted = await client.subscribeAsync('$SYS/#', { qos: 0 }).then(
          (g) => g.map((x) => x.qos),
          (err: { packet?: { granted?: number[] } }) => err.packet?.granted ?? [],
        )
        assert.deepEqual(granted, [v === 5 ? 0x87 : 0x80])
        await end(client)
      } finally {
        await plain.close()
      }
    })
  }
})
