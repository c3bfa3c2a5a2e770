/**
 * Fault containment (issue 18): an exception while serving one client — in a packet handler,
 * its close handler (socket close or error), the keep-alive wheel, the will delay timer, a
 * store callback that throws or rejects, retained delivery — costs that client at most. The
 * faults are injected through a retained store of our own (ServerOptions.retainedStore) that
 * fails for `boom/` topics; after each, a client connected beforehand still completes a round trip.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import { validateConfig } from '../../src/config/schema.js'
import type { Message } from '../../src/mqtt/types.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { MemoryRetainedStore } from '../../src/store/memory/retained-store.js'
import type { RetainedScan } from '../../src/store/types.js'
import { VERSIONS, assertHealthy, connect, end, rawSocket, uid, until, waitForClose } from '../helpers/broker.js'

/** Fails for `boom/sync/…` (throws), `boom/async/…` (rejects) and scans of `boom/scan/…`. */
class FaultyRetainedStore extends MemoryRetainedStore {
  // The RetainedStore interface lets set() be asynchronous (a durable store may be); this fake
  // rejects on purpose, where the memory store it extends never returns a promise.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override set(message: Message): void | Promise<void> {
    if (message.topic.startsWith('boom/sync/')) throw new Error(`injected: set ${message.topic}`)
    if (message.topic.startsWith('boom/async/')) return Promise.reject(new Error(`injected: async set ${message.topic}`))
    super.set(message)
  }

  override scan(filters: readonly string[]): RetainedScan {
    if (filters.some((f) => f.startsWith('boom/scan/'))) throw new Error('injected: scan')
    return super.scan(filters)
  }
}

/** Log lines (parsed) of the broker under test. */
const lines: Array<Record<string, unknown>> = []
const sink = new Writable({
  write(chunk, _enc, done) {
    for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>)
    done()
  },
})

let server: PortcullisServer
let port = 0
before(async () => {
  const config = validateConfig({
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    persistence: false,
    authentication: { allowAnonymous: true },
    authorization: { noMatch: 'allow' },
  })
  server = await createServer(config, { logger: pino({ level: 'debug' }, sink), retainedStore: new FaultyRetainedStore() })
  port = server.listeners[0].port
})
after(async () => {
  await server.close()
})

/** Wait for the contained fault of `clientId` logged at error level, at `where`. */
async function faultLogged(clientId: string, where: string): Promise<void> {
  await until(() => lines.some((l) => l['clientId'] === clientId && l['where'] === where && l['level'] === 50), `fault of ${clientId} at ${where} logged`, 5000)
  // once: a client's fault is logged at error level one time
  assert.equal(lines.filter((l) => l['clientId'] === clientId && l['level'] === 50).length, 1)
}

const will = (topic: string) => ({ topic, payload: Buffer.from('bye'), qos: 0 as const, retain: true })

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    let healthy: MqttClient
    before(async () => {
      healthy = await connect(port, { protocolVersion: v, clientId: uid('healthy') })
    })
    after(async () => {
      await end(healthy)
    })

    /** `act` makes the broker fail for a connected client: that client alone is closed (v5 0x83), the fault logged at `where`. */
    for (const [name, where, act] of [
      ['a packet handler that throws (retained store) closes that client only (v5 DISCONNECT 0x83)', 'publish handler',
        (c: MqttClient) => { c.publish('boom/sync/h', 'x', { qos: 0, retain: true }) }],
      ['a store callback that rejects later closes the publisher only, never an unhandled rejection', 'retained store',
        (c: MqttClient) => { c.publish('boom/async/s', 'x', { qos: 1, retain: true }) }],
      ['a retained delivery whose store scan throws closes the subscriber only', 'retained delivery',
        (c: MqttClient) => { c.subscribe('boom/scan/#', { qos: 0 }) }],
    ] as const) {
      test(name, async () => {
        const clientId = uid('fault')
        const c = await connect(port, { protocolVersion: v, clientId })
        act(c)
        const d = await waitForClose(c)
        if (v === 5) assert.equal(d?.reasonCode, 0x83)
        await faultLogged(clientId, where)
        await assertHealthy(healthy)
      })
    }

    test('a will that throws from the close handler (socket closed) costs nothing else', async () => {
      const clientId = uid('close')
      const raw = await rawSocket(port, v)
      await raw.connect({ clientId, will: will('boom/sync/close') })
      raw.destroy()
      await faultLogged(clientId, 'close handler')
      await assertHealthy(healthy)
    })

    test('a will that throws after a socket error (connection reset) costs nothing else', async () => {
      const clientId = uid('reset')
      const raw = await rawSocket(port, v)
      await raw.connect({ clientId, will: will('boom/sync/reset') })
      raw.socket.resetAndDestroy()
      await faultLogged(clientId, 'close handler')
      await assertHealthy(healthy)
    })

    test('a will that throws when the keep-alive wheel closes a silent client costs nothing else', async () => {
      const clientId = uid('keepalive')
      const raw = await rawSocket(port, v)
      await raw.connect({ clientId, keepalive: 1, will: will('boom/sync/ka') })
      await raw.waitClosed(4000)
      await faultLogged(clientId, 'close handler')
      await assertHealthy(healthy)
    })

    if (v === 5) {
      test('a will that throws from the will delay timer costs nothing else', async () => {
        const clientId = uid('delay')
        const raw = await rawSocket(port, v)
        await raw.connect({ clientId, properties: { sessionExpiryInterval: 30 }, will: { ...will('boom/sync/delay'), properties: { willDelayInterval: 1 } } })
        raw.destroy()
        await faultLogged(clientId, 'will delay')
        await assertHealthy(healthy)
      })
    }
  })
}
