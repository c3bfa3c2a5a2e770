/**
 * With persistence on, a positive acknowledgement waits for the commit of what its packet
 * stored; a refusal stores nothing, yet it must not overtake it: acknowledgements leave in the
 * order their packets arrived [MQTT-4.6.0-2], PUBRELs in the order of the PUBRECs
 * [MQTT-4.6.0-4]. Each test writes its packets in one TCP write, so the broker reads them in
 * one turn of its event loop, as a fast client's burst arrives. A protocol error after stored
 * PUBLISHes closes the connection only after their acknowledgements.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { ReasonCode } from '../../src/protocol/reason-codes.js'
import { VERSIONS, rawSocket, startBroker, uid, withTimeout, type RawClient, type RunningBroker } from '../helpers/broker.js'

async function durableBroker(t: TestContext): Promise<RunningBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ack-order-'))
  const broker = await startBroker({
    dataDir: dir,
    persistence: { sessions: true, retained: true },
    limits: { sysInterval: 0 },
    authorization: { policies: [{ name: 'no-secrets', priority: 1, effect: 'deny', actions: ['publish'], topics: ['secret/#'] }] },
  })
  t.after(async () => {
    try {
      await withTimeout(broker.close(), 10_000, 'broker close')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  return broker
}

function frames(version: 4 | 5, packets: mqttPacket.Packet[]): Buffer {
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: version })))
}

/** The next `n` packets of any type, each as `cmd id reason`. */
async function nextAcks(raw: RawClient, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const p = (await raw.next(undefined, 5000)) as mqttPacket.IPubackPacket
    out.push(`${p.cmd} ${p.messageId ?? '-'} ${p.reasonCode ?? 0}`)
  }
  return out
}

for (const v of VERSIONS) {
  describe(`acknowledgement order with persistence on, MQTT ${v === 5 ? '5' : '3.1.1'}`, () => {
    test('a refused PUBLISH is acknowledged after the earlier stored ones, never before [MQTT-4.6.0-2]', async (t) => {
      const broker = await durableBroker(t)
      const raw = await rawSocket(broker.port, v)
      t.after(() => raw.destroy())
      await raw.connect({ clientId: uid('order') })
      const topic = uid('ok')
      const publish = (messageId: number, qos: 1 | 2, name: string, extra: object = {}): mqttPacket.Packet =>
        // retained: stored in the state file, so its acknowledgement waits for the commit
        ({ cmd: 'publish', messageId, qos, dup: false, retain: name.startsWith('ok'), topic: name, payload: Buffer.from(`m${messageId}`), ...extra })
      const burst: mqttPacket.Packet[] = [
        publish(1, 1, `${topic}/a`),
        publish(2, 1, 'secret/a'),
        publish(3, 2, `${topic}/b`),
        publish(4, 2, 'secret/b'),
        publish(5, 1, `${topic}/c`),
      ]
      if (v === 5) {
        // the payload is not UTF-8 as its format indicator says: refused with 0x99
        burst.push(publish(6, 1, `${topic}/d`, { payload: Buffer.from([0xff, 0xfe]), properties: { payloadFormatIndicator: true } }))
      }
      raw.write(frames(v, burst))
      const refused = v === 5 ? ReasonCode.NotAuthorized : 0
      const expected = [
        'puback 1 0',
        `puback 2 ${refused}`,
        'pubrec 3 0',
        `pubrec 4 ${refused}`,
        'puback 5 0',
      ]
      if (v === 5) expected.push(`puback 6 ${ReasonCode.PayloadFormatInvalid}`)
      assert.deepEqual(await nextAcks(raw, expected.length), expected)
    })

    test('a protocol error closes the connection only after the acknowledgements due before it, in order [MQTT-4.6.0-2]', async (t) => {
      const broker = await durableBroker(t)
      const raw = await rawSocket(broker.port, v)
      t.after(() => raw.destroy())
      await raw.connect({ clientId: uid('fault') })
      const topic = uid('kept')
      const stored = (messageId: number): mqttPacket.Packet =>
        // retained: stored in the state file, so its PUBACK waits for the commit
        ({ cmd: 'publish', messageId, qos: 1, dup: false, retain: true, topic: `${topic}/${messageId}`, payload: Buffer.from(`m${messageId}`) })
      // three stored PUBLISHes, then a packet of the reserved type 0 (malformed), in one write
      raw.write(Buffer.concat([frames(v, [stored(1), stored(2), stored(3)]), Buffer.from([0x00, 0x00])]))
      await raw.waitClosed(5000)
      const after = raw.unread().map((p) => `${p.cmd} ${(p as mqttPacket.IPubackPacket).messageId ?? '-'} ${(p as mqttPacket.IPubackPacket).reasonCode ?? 0}`)
      const expected = ['puback 1 0', 'puback 2 0', 'puback 3 0']
      if (v === 5) expected.push(`disconnect - ${ReasonCode.MalformedPacket}`)
      assert.deepEqual(after, expected, 'every acknowledgement due before the fault, then the close')
    })

    if (v === 5) {
      test('a PUBREL for an unknown packet id (0x92) keeps its place behind PUBRELs waiting for their commit [MQTT-4.6.0-4]', async (t) => {
        const broker = await durableBroker(t)
        const id = uid('order-sub')
        const topic = uid('q2')
        const sub = await rawSocket(broker.port, 5)
        t.after(() => sub.destroy())
        await sub.connect({ clientId: id, clean: false, properties: { sessionExpiryInterval: 3600 } })
        sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] })
        await sub.next('suback', 5000)
        const pub = await rawSocket(broker.port, 5)
        t.after(() => pub.destroy())
        await pub.connect({ clientId: uid('order-pub') })
        pub.send({ cmd: 'publish', messageId: 1, qos: 2, dup: false, retain: false, topic, payload: Buffer.from('x') })
        await pub.next('pubrec', 5000)
        const delivered = await sub.next('publish', 5000)
        const packetId = delivered.messageId as number
        const unknown = packetId === 999 ? 998 : 999
        // the PUBREC is stored before the PUBREL answers it; the unknown id's answer comes after
        sub.write(frames(5, [
          { cmd: 'pubrec', messageId: packetId },
          { cmd: 'pubrec', messageId: unknown },
        ]))
        assert.deepEqual(await nextAcks(sub, 2), [`pubrel ${packetId} 0`, `pubrel ${unknown} ${ReasonCode.PacketIdentifierNotFound}`])
      })
    }
  })
}
