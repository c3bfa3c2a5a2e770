/**
 * Interoperability with Debian's Mosquitto command-line clients (mosquitto_pub and
 * mosquitto_sub 2.0): MQTT 3.1.1 and 5.0, QoS 0/1/2, retained messages, with each other
 * and with MQTT.js.
 */
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { describe, test } from 'node:test'
import { VERSIONS, connect, end, nextMessage, subscribe, uid, useBroker, withTimeout, type Version } from '../helpers/broker.js'

const broker = useBroker()

const protocol = (v: Version): string => (v === 5 ? 'mqttv5' : 'mqttv311')

/** Run mosquitto_pub to completion. */
function mosquittoPub(v: Version, topic: string, message: string, qos: 0 | 1 | 2, retain = false): Promise<void> {
  const args = ['-h', '127.0.0.1', '-p', String(broker.port), '-V', protocol(v), '-q', String(qos), '-t', topic, '-m', message, '-i', uid('mpub')]
  if (retain) args.push('-r')
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      execFile('mosquitto_pub', args, (err, _stdout, stderr) => (err ? reject(new Error(`mosquitto_pub failed: ${stderr || err.message}`)) : resolve()))
    }),
    5000,
    'mosquitto_pub',
  )
}

interface MosquittoSub {
  /** Resolves once the SUBACK arrived (from the -d debug output). */
  readonly subscribed: Promise<void>
  /** Resolves with the `count` received messages as "topic qos retain payload" lines. */
  readonly done: Promise<string[]>
  readonly child: ChildProcess
}

/** Start mosquitto_sub for `count` messages; -d tells us when it has subscribed. */
function mosquittoSub(v: Version, topic: string, qos: 0 | 1 | 2, count: number): MosquittoSub {
  // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe; line buffering lets us see SUBACK
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub',
    '-h', '127.0.0.1', '-p', String(broker.port), '-V', protocol(v), '-q', String(qos), '-t', topic,
    '-C', String(count), '-W', '5', '-d', '-F', 'MSG %t %q %r %p', '-i', uid('msub'),
  ])
  let out = ''
  let onSuback: (() => void) | undefined
  const subscribed = withTimeout(new Promise<void>((resolve) => {
    onSuback = resolve
  }), 5000, 'mosquitto_sub SUBACK')
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
    if (out.includes('SUBACK')) onSuback?.()
  })
  const done = withTimeout(
    new Promise<string[]>((resolve, reject) => {
      child.once('close', (code) => {
        const lines = out.split('\n').filter((l) => l.startsWith('MSG ')).map((l) => l.slice(4))
        if (code === 0) resolve(lines)
        else reject(new Error(`mosquitto_sub exited with ${String(code)}: ${out}`))
      })
    }),
    6000,
    'mosquitto_sub messages',
  )
  // a test that fails early must not leave the process or an unhandled rejection behind
  subscribed.catch(() => child.kill())
  done.catch(() => child.kill())
  return { subscribed, done, child }
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    for (const qos of [0, 1, 2] as const) {
      test(`mosquitto_pub QoS ${qos} reaches an MQTT.js subscriber`, async () => {
        const topic = uid('m2j')
        const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
        await subscribe(sub, topic, { qos: 2 })
        const got = nextMessage(sub, topic, 5000)
        await mosquittoPub(v, topic, `hello from mosquitto q${qos}`, qos)
        const m = await got
        assert.equal(m.payload.toString(), `hello from mosquitto q${qos}`)
        assert.equal(m.packet.qos, qos)
        await end(sub)
      })

      test(`MQTT.js QoS ${qos} reaches mosquitto_sub`, async () => {
        const topic = uid('j2m')
        const ms = mosquittoSub(v, topic, 2, 1)
        await ms.subscribed
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        await pub.publishAsync(topic, `hello from mqtt.js q${qos}`, { qos })
        assert.deepEqual(await ms.done, [`${topic} ${qos} 0 hello from mqtt.js q${qos}`])
        await end(pub)
      })
    }

    test('mosquitto_pub to mosquitto_sub, QoS 2 published, QoS 1 granted', async () => {
      const topic = uid('m2m')
      const ms = mosquittoSub(v, `${topic}/#`, 1, 2)
      await ms.subscribed
      await mosquittoPub(v, `${topic}/a`, 'first', 2)
      await mosquittoPub(v, `${topic}/b/c`, 'second', 2)
      assert.deepEqual(await ms.done, [`${topic}/a 1 0 first`, `${topic}/b/c 1 0 second`])
    })

    test('a retained message from mosquitto_pub is delivered to a later mosquitto_sub, then cleared', async () => {
      const topic = uid('mret')
      await mosquittoPub(v, topic, 'retained by mosquitto', 1, true)
      const ms = mosquittoSub(v, topic, 1, 1)
      assert.deepEqual(await ms.done, [`${topic} 1 1 retained by mosquitto`])
      // clear it with an empty retained message (mosquitto_pub -n is not needed: -m '' works)
      await mosquittoPub(v, topic, '', 1, true)
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('check') })
      let got = 0
      sub.on('message', () => got++)
      await subscribe(sub, topic, { qos: 1 })
      await new Promise((r) => setTimeout(r, 150))
      assert.equal(got, 0)
      await end(sub)
    })
  })
}
