/**
 * Black-box test helpers: a Portcullis running in-process on 127.0.0.1:0, MQTT.js clients
 * connected to it, and raw sockets for hand-made bytes. Every wait has a timeout that fails
 * the test with a message saying what never happened, measured on the monotonic clock
 * (performance.now), so a test that fakes Date cannot stall it.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import mqtt, { type IClientOptions, type IClientSubscribeOptions, type MqttClient } from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'

export type Version = 4 | 5
export const VERSIONS: readonly Version[] = [4, 5]
const DEFAULT_TIMEOUT = 3000

export interface RunningBroker {
  readonly port: number
  readonly url: string
  readonly server: PortcullisServer
  close(): Promise<void>
}

/**
 * One broker for a test file: started in `before`, closed in `after` (node:test hooks of the
 * enclosing suite). Its fields are read when a test runs, never while the file is loading.
 */
export function useBroker(overrides: Record<string, unknown> = {}): RunningBroker {
  return useStarted(() => startBroker(overrides))
}

/** As useBroker, for a broker that `start` starts (and its own close() stops). */
export function useStarted(start: () => Promise<RunningBroker>): RunningBroker {
  let running: RunningBroker | undefined
  const current = (): RunningBroker => {
    if (running === undefined) throw new Error('the broker starts in before(): use it inside a test or a hook')
    return running
  }
  before(async () => {
    running = await start()
  })
  after(async () => {
    await running?.close()
  })
  return {
    get port() { return current().port },
    get url() { return current().url },
    get server() { return current().server },
    close: () => current().close(),
  }
}

/**
 * In-process brokers run memory-only (`persistence: false`) unless a test configures
 * persistence itself, or PORTCULLIS_TEST_PERSISTENCE=1 runs every one with the default
 * persistence in a temporary data directory (CI runs the broker tests both ways).
 */
const PERSISTENT = process.env['PORTCULLIS_TEST_PERSISTENCE'] === '1'

export function persistenceDefaults(overrides: Record<string, unknown>): { raw: Record<string, unknown>; cleanup: () => void } {
  if ('persistence' in overrides) return { raw: {}, cleanup: () => {} }
  if (!PERSISTENT) return { raw: { persistence: false }, cleanup: () => {} }
  if ('dataDir' in overrides) return { raw: {}, cleanup: () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'))
  return { raw: { dataDir: dir }, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Start a broker on 127.0.0.1:0 (anonymous access, everything allowed unless the
 * overrides say otherwise). `overrides` is raw configuration merged at the top level,
 * `authentication` and `authorization` one level deep.
 */
export async function startBroker(overrides: Record<string, unknown> = {}): Promise<RunningBroker> {
  const { authentication, authorization, ...rest } = overrides as {
    authentication?: Record<string, unknown>
    authorization?: Record<string, unknown>
  }
  const persistence = persistenceDefaults(overrides)
  const raw = {
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    ...persistence.raw,
    ...rest,
    authentication: { allowAnonymous: true, ...authentication },
    authorization: { noMatch: 'allow', ...authorization },
  }
  let server: PortcullisServer
  try {
    server = await createServer(validateConfig(raw), { logger: silentLogger() })
  } catch (err) {
    persistence.cleanup()
    throw err
  }
  const first = server.listeners[0]
  if (first === undefined) throw new Error('broker started without listeners')
  return {
    port: first.port,
    url: `mqtt://127.0.0.1:${first.port}`,
    server,
    close: async () => {
      await server.close()
      persistence.cleanup()
    },
  }
}

export interface ConnectOptions extends IClientOptions {
  protocolVersion: Version
  /** Called with the client before it connects (to attach listeners for queued messages). */
  beforeConnect?: (client: MqttClient) => void
}

/** A connected MQTT.js client (no automatic reconnect). */
export async function connect(port: number, opts: ConnectOptions, timeout = DEFAULT_TIMEOUT): Promise<MqttClient> {
  const { beforeConnect, ...options } = opts
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    reconnectPeriod: 0,
    connectTimeout: timeout,
    manualConnect: true,
    ...options,
  })
  track(client)
  beforeConnect?.(client)
  client.connect()
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', reject)
      client.once('close', () => reject(new Error('connection closed before CONNACK')))
    }),
    timeout,
    `client ${opts.clientId ?? ''} did not connect`,
  ).catch((err: unknown) => {
    if (client.stream !== undefined) client.end(true)
    throw err
  })
  client.on('error', () => {}) // errors after connect are asserted by tests that care
  return client
}

/** Connect with an Inbox attached before CONNECT, so messages sent right after CONNACK are kept. */
export async function connectWithInbox(port: number, opts: ConnectOptions): Promise<{ client: MqttClient; inbox: Inbox }> {
  let inbox: Inbox | undefined
  const client = await connect(port, {
    ...opts,
    beforeConnect: (c) => {
      inbox = new Inbox(c)
      opts.beforeConnect?.(c)
    },
  })
  return { client, inbox: inbox as Inbox }
}

/** Connect and wait for the CONNACK packet itself (session present, properties). */
export async function connectForConnack(
  port: number,
  opts: ConnectOptions,
  timeout = DEFAULT_TIMEOUT,
): Promise<{ client: MqttClient; connack: mqttPacket.IConnackPacket }> {
  let connack: mqttPacket.IConnackPacket | undefined
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: timeout, ...opts })
  track(client)
  client.on('error', () => {})
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.once('connect', (p) => {
        connack = p
        resolve()
      })
      client.once('close', () => reject(new Error('connection closed before CONNACK')))
    }),
    timeout,
    `client ${opts.clientId ?? ''} did not connect`,
  ).catch((err: unknown) => {
    client.end(true)
    throw err
  })
  return { client, connack: connack as mqttPacket.IConnackPacket }
}

export async function subscribe(
  client: MqttClient,
  filter: string | string[],
  opts: IClientSubscribeOptions = { qos: 0 },
  timeout = DEFAULT_TIMEOUT,
): Promise<number[]> {
  const granted = await withTimeout(client.subscribeAsync(filter, opts), timeout, `SUBACK for ${String(filter)}`)
  return granted.map((g) => g.qos)
}

export interface Received {
  readonly topic: string
  readonly payload: Buffer
  readonly packet: mqttPacket.IPublishPacket
}

/** Collects every message a client receives; `next()` waits for one with a timeout. */
export class Inbox {
  readonly messages: Received[] = []
  #waiters: Array<{ topic: string | undefined; resolve: (r: Received) => void }> = []
  #read = 0

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const r = { topic, payload, packet }
      this.messages.push(r)
      const i = this.#waiters.findIndex((w) => w.topic === undefined || w.topic === topic)
      if (i !== -1) {
        const [w] = this.#waiters.splice(i, 1)
        this.#read = this.messages.length
        w?.resolve(r)
      }
    })
  }

  /** The next message not yet returned by next() (optionally on one topic). */
  next(topic?: string, timeout = DEFAULT_TIMEOUT): Promise<Received> {
    for (let i = this.#read; i < this.messages.length; i++) {
      const m = this.messages[i]
      if (topic === undefined || m.topic === topic) {
        this.#read = i + 1
        return Promise.resolve(m)
      }
    }
    let waiter: { topic: string | undefined; resolve: (r: Received) => void } | undefined
    const p = new Promise<Received>((resolve) => {
      waiter = { topic, resolve }
      this.#waiters.push(waiter)
    })
    return withTimeout(p, timeout, `no message${topic === undefined ? '' : ` on ${topic}`} within ${timeout} ms`).finally(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter)
    })
  }

  /** Wait until `count` messages have arrived in total. */
  async count(count: number, timeout = DEFAULT_TIMEOUT): Promise<Received[]> {
    const deadline = performance.now() + timeout
    while (this.messages.length < count) {
      if (performance.now() > deadline) throw new Error(`expected ${count} messages, got ${this.messages.length} within ${timeout} ms`)
      await delay(10)
    }
    return this.messages.slice(0, count)
  }
}

/** Wait for one message on a client (a fresh Inbox is better when several are expected). */
export function nextMessage(client: MqttClient, topic?: string, timeout = DEFAULT_TIMEOUT): Promise<Received> {
  return withTimeout(
    new Promise<Received>((resolve) => {
      const on = (t: string, payload: Buffer, packet: mqttPacket.IPublishPacket): void => {
        if (topic !== undefined && t !== topic) return
        client.off('message', on)
        resolve({ topic: t, payload, packet })
      }
      client.on('message', on)
    }),
    timeout,
    `no message${topic === undefined ? '' : ` on ${topic}`} within ${timeout} ms`,
  )
}

interface CloseState {
  closed: Promise<void>
  disconnect: mqttPacket.IDisconnectPacket | undefined
}
const closeStates = new WeakMap<MqttClient, CloseState>()

/** Record close and DISCONNECT from the start, so a wait begun late still sees them. */
function track(client: MqttClient): void {
  const state: CloseState = {
    disconnect: undefined,
    closed: new Promise((resolve) => client.once('close', () => resolve())),
  }
  client.on('disconnect', (p) => {
    state.disconnect = p
  })
  closeStates.set(client, state)
}

/** Wait for a client's connection to close; resolves with the v5 DISCONNECT it got, if any. */
export async function waitForClose(client: MqttClient, timeout = DEFAULT_TIMEOUT): Promise<mqttPacket.IDisconnectPacket | undefined> {
  const state = closeStates.get(client)
  if (state === undefined) throw new Error('client not created by connect()')
  await withTimeout(state.closed, timeout, 'connection not closed')
  return state.disconnect
}

/**
 * A healthy MQTT.js client for the enclosing suite (connected in `before`, ended in `after`):
 * the bystander that hostile input on other connections must leave working.
 */
export function useHealthyClient(broker: Pick<RunningBroker, 'port'>, version: Version): { readonly client: MqttClient } {
  let client: MqttClient | undefined
  before(async () => {
    client = await connect(broker.port, { protocolVersion: version, clientId: uid('healthy') })
  })
  after(async () => {
    await end(client)
  })
  return {
    get client() {
      if (client === undefined) throw new Error('the healthy client connects in before(): use it inside a test or a hook')
      return client
    },
  }
}

/** Prove a client still works: it publishes to itself and receives the message. */
export async function assertHealthy(client: MqttClient, timeout = DEFAULT_TIMEOUT): Promise<void> {
  const topic = `health/${Math.random().toString(36).slice(2)}`
  await subscribe(client, topic, { qos: 1 }, timeout)
  const got = nextMessage(client, topic, timeout)
  await withTimeout(client.publishAsync(topic, 'ok', { qos: 1 }), timeout, 'healthy client could not publish')
  const m = await got
  if (m.payload.toString() !== 'ok') throw new Error('healthy client received a wrong payload')
}

export async function end(...clients: Array<MqttClient | undefined>): Promise<void> {
  await Promise.all(
    clients.flatMap((c) => (c === undefined ? [] : [withTimeout(c.endAsync(true), 2000, 'client end').catch(() => {})])),
  )
}

/** A raw connection whose CONNECT (with `opts`) the broker accepted. */
export async function rawConnected(port: number, version: Version, opts: Partial<mqttPacket.IConnectPacket> = {}): Promise<RawClient> {
  const raw = await rawSocket(port, version)
  const connack = await raw.connect({ clientId: uid('raw'), ...opts })
  assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0)
  return raw
}

/** A raw TCP socket speaking hand-made bytes, with its received packets parsed. */
export class RawClient {
  readonly socket: net.Socket
  readonly packets: mqttPacket.Packet[] = []
  readonly received: Buffer[] = []
  readonly parser: mqttPacket.Parser
  parseError: Error | undefined
  #read = 0
  #closed: Promise<void>
  #isClosed = false
  #notify: (() => void) | undefined
  version: Version

  constructor(socket: net.Socket, version: Version) {
    this.socket = socket
    this.version = version
    this.parser = mqttPacket.parser({ protocolVersion: version })
    this.parser.on('packet', (p: mqttPacket.Packet) => {
      this.packets.push(p)
      this.#notify?.()
    })
    this.parser.on('error', (err: Error) => {
      this.parseError = err
    })
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk)
      this.parser.parse(chunk)
    })
    socket.on('error', () => {})
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true
        this.#notify?.()
        resolve()
      })
    })
  }

  get closed(): boolean {
    return this.#isClosed
  }

  /** Use a parser for another protocol version (after CONNECT). */
  setVersion(version: Version): void {
    this.version = version
    ;(this.parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = version
  }

  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes))
  }

  send(packet: mqttPacket.Packet): void {
    this.write(mqttPacket.generate(packet, { protocolVersion: this.version }))
  }

  /** The next packet not yet returned (optionally of one type, skipping others). */
  async next<C extends mqttPacket.PacketCmd>(
    cmd?: C,
    timeout = DEFAULT_TIMEOUT,
  ): Promise<Extract<mqttPacket.Packet, { cmd: C }>> {
    const deadline = performance.now() + timeout
    for (;;) {
      while (this.#read < this.packets.length) {
        const p = this.packets[this.#read++]
        if (cmd === undefined || p.cmd === cmd) return p as Extract<mqttPacket.Packet, { cmd: C }>
      }
      if (this.#isClosed) throw new Error(`connection closed while waiting for ${cmd ?? 'a packet'}`)
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`no ${cmd ?? 'packet'} within ${timeout} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.#notify = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.#notify = undefined
    }
  }

  /** Packets received but not yet returned by next(). */
  unread(): mqttPacket.Packet[] {
    return this.packets.slice(this.#read)
  }

  /** Wait until the broker closes the connection. */
  waitClosed(timeout = DEFAULT_TIMEOUT): Promise<void> {
    return withTimeout(this.#closed, timeout, `broker did not close the connection within ${timeout} ms`)
  }

  /** Send CONNECT and wait for CONNACK. */
  async connect(opts: Partial<mqttPacket.IConnectPacket> = {}, timeout = DEFAULT_TIMEOUT): Promise<mqttPacket.IConnackPacket> {
    this.write(connectBytes({ protocolVersion: this.version, ...opts }))
    return this.next('connack', timeout)
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/**
 * CONNECT bytes. mqtt-packet refuses to encode an empty client id without clean session
 * (or before 3.1.1), which the tests need to send: encode a placeholder id with clean
 * set, then patch the bytes.
 */
export function connectBytes(opts: Partial<mqttPacket.IConnectPacket>): Buffer {
  const packet = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: `raw-${Math.random().toString(36).slice(2, 10)}`,
    keepalive: 0,
    ...opts,
  } as mqttPacket.IConnectPacket
  const version = packet.protocolVersion ?? 4
  if (packet.clientId !== '') return mqttPacket.generate(packet, { protocolVersion: version })
  const placeholder = '\u007f\u007e\u007d'
  const buf = mqttPacket.generate({ ...packet, clean: true, clientId: placeholder }, { protocolVersion: version })
  let i = 1
  while (((buf[i]) & 0x80) !== 0) i++
  const body = Buffer.from(buf.subarray(i + 1))
  const flags = 2 + (packet.protocolId ?? 'MQTT').length + 1
  if (packet.clean === false) body[flags] = (body[flags]) & ~0x02
  const at = body.indexOf(Buffer.from([0x00, 0x03, 0x7f, 0x7e, 0x7d]))
  const patched = Buffer.concat([body.subarray(0, at), Buffer.from([0, 0]), body.subarray(at + 5)])
  return Buffer.concat([Buffer.from([buf[0]]), encodeLength(patched.length), patched])
}

/** The MQTT variable byte integer for a remaining length. */
export function encodeLength(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

export function rawSocket(port: number, version: Version = 4, timeout = DEFAULT_TIMEOUT): Promise<RawClient> {
  return withTimeout(
    new Promise<RawClient>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject)
        resolve(new RawClient(socket, version))
      })
      socket.once('error', reject)
    }),
    timeout,
    'raw socket did not connect',
  )
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Poll a condition until it holds, or fail with `what`. */
export async function until(cond: () => boolean, what: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
  const deadline = performance.now() + timeout
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timeout: ${what}`)
    await delay(10)
  }
}

/**
 * Ask `check` (sync or async) every `everyMs` until it holds, or fail with `what` past `timeout`.
 * The loop itself stops at the deadline: a wait that fails leaves nothing polling behind it (a
 * loop left running would keep the test file's process, and so the whole run, alive for good).
 */
export async function pollUntil(check: () => boolean | Promise<boolean>, what: string, timeout: number, everyMs = 100): Promise<void> {
  const deadline = performance.now() + timeout
  for (;;) {
    if (await check()) return
    if (performance.now() > deadline) throw new Error(`timeout: ${what}`)
    await delay(everyMs)
  }
}

/** How long until `ok` holds (asked every 25 ms, at most 400 times), or Infinity past `ms`: a figure to assert on. */
export async function within(ms: number, ok: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = performance.now()
  for (let i = 0; i < 400; i++) {
    if (await ok()) return performance.now() - t0
    if (performance.now() - t0 > ms) break
    await delay(25)
  }
  return Infinity
}

/** Assert that no message arrives on a client for `ms` (a bounded negative check). */
export async function expectNoMessage(client: MqttClient, ms = 300, topic?: string): Promise<void> {
  let got: string | undefined
  const on = (t: string): void => {
    if (topic === undefined || t === topic) got = t
  }
  client.on('message', on)
  await delay(ms)
  client.off('message', on)
  if (got !== undefined) throw new Error(`unexpected message on ${got}`)
}

let seq = 0
/** A unique client id / topic prefix per test. */
export function uid(prefix = 't'): string {
  seq++
  return `${prefix}-${process.pid}-${seq}-${Math.random().toString(36).slice(2, 7)}`
}

/** SUBSCRIBE from a raw client; resolves with the SUBACK's granted codes. */
export async function rawSubscribe(
  raw: RawClient,
  filter: string,
  qos: 0 | 1 | 2,
  messageId = 1,
  extra: Partial<mqttPacket.ISubscription> = {},
  properties?: mqttPacket.ISubscribePacket['properties'],
): Promise<number[]> {
  raw.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos, ...extra }], properties })
  const suback = await raw.next('suback')
  return suback.granted as number[]
}
