/**
 * Listeners: tcp (TCP_NODELAY), tls, ws and wss (subprotocol `mqtt`), all feeding one broker.
 * The TLS certificate is self-signed, made with the openssl CLI in a temporary directory.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket from 'ws'
import {
  VERSIONS, assertHealthy, connect, end, nextMessage, startBroker, subscribe, uid, withTimeout, type RunningBroker, type Version,
} from '../helpers/broker.js'

let dir: string
let ca: Buffer
let broker: RunningBroker
const ports: Record<'tcp' | 'tls' | 'ws' | 'wss', number> = { tcp: 0, tls: 0, ws: 0, wss: 0 }

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'))
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' })
  ca = readFileSync(cert)
  broker = await startBroker({
    listeners: [
      { type: 'tcp', host: '127.0.0.1', port: 0 },
      { type: 'tls', host: '127.0.0.1', port: 0, cert, key },
      { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
      { type: 'wss', host: '127.0.0.1', port: 0, path: '/mqtt', cert, key },
      { type: 'tcp', host: '127.0.0.1', port: 0, noDelay: false },
    ],
  })
  for (const l of broker.server.listeners.slice(0, 4)) ports[l.type] = l.port
})
after(async () => {
  await broker.close()
  rmSync(dir, { recursive: true, force: true })
})

async function connectUrl(url: string, v: Version, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: v, clientId: uid('l'), reconnectPeriod: 0, connectTimeout: 3000, ...extra })
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve())
        client.once('error', reject)
        client.once('close', () => reject(new Error(`closed before CONNACK (${url})`)))
      }),
      3000,
      `connect to ${url}`,
    )
  } catch (err) {
    client.end(true)
    throw err
  }
  client.on('error', () => {})
  return client
}

/** A message published on one client reaches the other. */
async function exchange(from: MqttClient, to: MqttClient): Promise<void> {
  const topic = uid('x')
  await subscribe(to, topic, { qos: 1 })
  const got = nextMessage(to, topic)
  await from.publishAsync(topic, 'across listeners', { qos: 1 })
  assert.equal((await got).payload.toString(), 'across listeners')
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('ws:// (subprotocol mqtt) exchanges messages with tcp clients', async () => {
      const ws = await connectUrl(`ws://127.0.0.1:${ports.ws}/mqtt`, v)
      const tcp = await connect(ports.tcp, { protocolVersion: v, clientId: uid('tcp') })
      await exchange(ws, tcp)
      await exchange(tcp, ws)
      await end(ws, tcp)
    })

    test('mqtts:// (TLS, self-signed certificate) exchanges messages with tcp clients', async () => {
      const tls = await connectUrl(`mqtts://127.0.0.1:${ports.tls}`, v, { ca, rejectUnauthorized: true })
      const tcp = await connect(ports.tcp, { protocolVersion: v, clientId: uid('tcp') })
      await exchange(tls, tcp)
      await exchange(tcp, tls)
      await end(tls, tcp)
    })

    test('wss:// exchanges messages with tls clients', async () => {
      const wss = await connectUrl(`wss://127.0.0.1:${ports.wss}/mqtt`, v, { ca, rejectUnauthorized: true })
      const tls = await connectUrl(`mqtts://127.0.0.1:${ports.tls}`, v, { ca, rejectUnauthorized: true })
      await exchange(wss, tls)
      await assertHealthy(wss)
      await end(wss, tls)
    })
  })
}

describe('listener details', () => {
  test('the WebSocket listener selects the subprotocol mqtt', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt'])
    await withTimeout(new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    }), 3000, 'WebSocket open')
    assert.equal(socket.protocol, 'mqtt')
    socket.close()
  })

  test('a WebSocket on another path is refused', async () => {
    await assert.rejects(connectUrl(`ws://127.0.0.1:${ports.ws}/elsewhere`, 4))
  })

  test('a TLS client that does not trust the certificate cannot connect', async () => {
    await assert.rejects(connectUrl(`mqtts://127.0.0.1:${ports.tls}`, 4, { rejectUnauthorized: true }))
  })

  test('tcp listeners set TCP_NODELAY as configured (default true)', async () => {
    // The server sets the option on each accepted TCP handle (net.Server noDelay), so the spy
    // sits on the handle's own setNoDelay, the call that reaches setsockopt.
    const probe = net.connect(ports.tcp, '127.0.0.1')
    await new Promise((resolve) => probe.once('connect', resolve))
    const handleProto = Object.getPrototypeOf((probe as unknown as { _handle: object })._handle) as {
      setNoDelay(on: boolean): number
      getsockname(out: { port?: number }): number
    }
    probe.destroy()
    const calls: Array<{ port: number; noDelay: boolean | undefined }> = []
    // The native method is wrapped and called back with its own receiver (original.call(this, on)).
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const original = handleProto.setNoDelay
    handleProto.setNoDelay = function (this: typeof handleProto, on: boolean) {
      const name: { port?: number } = {}
      this.getsockname(name)
      calls.push({ port: name.port ?? 0, noDelay: on })
      return original.call(this, on)
    }
    const withoutNoDelay = (broker.server.listeners[4] as { port: number }).port
    try {
      const a = await connect(ports.tcp, { protocolVersion: 4, clientId: uid('nd') })
      const b = await connect(withoutNoDelay, { protocolVersion: 4, clientId: uid('nd') })
      await end(a, b)
    } finally {
      handleProto.setNoDelay = original
    }
    // Without noDelay nothing is called: Nagle is the kernel's default.
    assert.deepEqual(calls.filter((c) => c.port === ports.tcp).map((c) => c.noDelay), [true])
    assert.deepEqual(calls.filter((c) => c.port === withoutNoDelay).map((c) => c.noDelay), [])
  })
})
