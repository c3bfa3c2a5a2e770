/**
 * A connection without keep alive is not held for good: when the client asks for keep alive 0
 * (MQTT 3.1.1, or MQTT 5 with limits.maxKeepAlive 0), the broker turns on TCP keep-alive probes
 * on its socket (60 s of silence first), so a peer that vanished without a FIN is closed by the
 * kernel and its will published. A WebSocket's socket is probed from its upgrade on. Read from the
 * kernel's own table (/proc/net/tcp: timer 2 is the keep-alive timer; 0 none).
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import mqtt from 'mqtt'
import { delay, end, rawSocket, startBroker, uid, type RunningBroker } from '../helpers/broker.js'

interface KernelSocket { readonly timer: number; readonly secondsLeft: number; readonly remotePort: number }

/** The broker's established sockets on `port` (127.0.0.1), as the kernel lists them. */
function established(port: number): KernelSocket[] {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  const found: KernelSocket[] = []
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 6 || !f[1].endsWith(suffix) || f[3] !== '01') continue
    const [timer, when] = f[5].split(':')
    // tm->when is in USER_HZ ticks (100 a second on Linux).
    found.push({ timer: parseInt(timer, 16), secondsLeft: parseInt(when, 16) / 100, remotePort: parseInt(f[2].split(':')[1], 16) })
  }
  return found
}

/** The broker's side of the connection from `clientPort`, once the kernel shows it idle (timer settled). */
async function brokerSide(port: number, clientPort: number | undefined): Promise<KernelSocket> {
  let last: KernelSocket | undefined
  for (let i = 0; i < 40; i++) {
    const mine = established(port).filter((s) => clientPort === undefined || s.remotePort === clientPort)
    if (mine.length === 1) {
      last = mine[0]
      if (last.timer !== 1) return last // 1: a retransmit timer (data in flight); wait for it to settle
    }
    await delay(50)
  }
  assert.fail(`no single idle broker-side socket on port ${port} (last: ${JSON.stringify(last)})`)
}

const KEEPALIVE_TIMER = 2

describe('TCP keep-alive probes for connections without keep alive', () => {
  let broker: RunningBroker
  let noMax: RunningBroker
  let wsPort = 0
  before(async () => {
    broker = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }, { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' }],
    })
    wsPort = broker.server.listeners[1].port
    noMax = await startBroker({ limits: { maxKeepAlive: 0 } })
  })
  after(async () => {
    await broker?.close()
    await noMax?.close()
  })

  test('MQTT 3.1.1 with keep alive 0: the broker\'s socket is probed after 60 s of silence', async () => {
    const raw = await rawSocket(broker.port, 4)
    try {
      const connack = await raw.connect({ clientId: uid('ka0'), keepalive: 0 })
      assert.equal(connack.returnCode, 0)
      const s = await brokerSide(broker.port, raw.socket.localPort)
      assert.equal(s.timer, KEEPALIVE_TIMER, 'the keep-alive timer runs')
      assert.ok(s.secondsLeft > 50 && s.secondsLeft <= 60, `first probe within 60 s (${s.secondsLeft} s left)`)
    } finally {
      raw.destroy()
    }
  })

  test('MQTT 3.1.1 with a keep alive: no probes (the broker closes a silent client itself)', async () => {
    const raw = await rawSocket(broker.port, 4)
    try {
      await raw.connect({ clientId: uid('ka30'), keepalive: 30 })
      await delay(200)
      assert.equal((await brokerSide(broker.port, raw.socket.localPort)).timer, 0)
    } finally {
      raw.destroy()
    }
  })

  test('MQTT 5 with keep alive 0 gets Server Keep Alive 60: no probes', async () => {
    const raw = await rawSocket(broker.port, 5)
    try {
      const connack = await raw.connect({ clientId: uid('v5ka0'), keepalive: 0 })
      assert.equal(connack.properties?.serverKeepAlive, 60)
      await delay(200)
      assert.equal((await brokerSide(broker.port, raw.socket.localPort)).timer, 0)
    } finally {
      raw.destroy()
    }
  })

  test('MQTT 5 with keep alive 0 where limits.maxKeepAlive is 0: probed', async () => {
    const raw = await rawSocket(noMax.port, 5)
    try {
      const connack = await raw.connect({ clientId: uid('v5nomax'), keepalive: 0 })
      assert.equal(connack.reasonCode, 0)
      assert.equal(connack.properties?.serverKeepAlive, undefined)
      assert.equal((await brokerSide(noMax.port, raw.socket.localPort)).timer, KEEPALIVE_TIMER)
    } finally {
      raw.destroy()
    }
  })

  test('WebSocket: the socket under it is probed when silent, whatever the keep alive', async () => {
    const client = mqtt.connect(`ws://127.0.0.1:${wsPort}/mqtt`, { protocolVersion: 4, clientId: uid('ws'), keepalive: 60, reconnectPeriod: 0 })
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve())
        client.once('error', reject)
      })
      const s = await brokerSide(wsPort, undefined)
      assert.equal(s.timer, KEEPALIVE_TIMER)
      assert.ok(s.secondsLeft > 50 && s.secondsLeft <= 60, `first probe within 60 s (${s.secondsLeft} s left)`)
    } finally {
      await end(client)
    }
  })
})
