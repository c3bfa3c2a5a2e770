/**
 * A minimal raw-socket MQTT 3.1.1 client for the load generator. Packets are built with
 * mqtt-packet (once, as templates, for the hot loops); incoming bytes are framed by a small
 * zero-copy scanner so the generator spends its time on the wire, not on parsing objects.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import mqttPacket from 'mqtt-packet'

export const PAYLOAD_BYTES = 64

/** Payload layout (64 bytes): [0,8) send time (ns, float64, process.hrtime), [8,10) publisher index, [10,14) sequence, [14] phase. */
export const PAYLOAD_TS = 0
export const PAYLOAD_PUB = 8
export const PAYLOAD_SEQ = 10
export const PAYLOAD_PHASE = 14

export function nowNs(): number {
  return Number(process.hrtime.bigint())
}

export interface ConnectOptions {
  readonly host: string
  readonly port: number
  readonly clientId: string
  readonly localAddress?: string
  readonly username?: string
  readonly password?: string
  readonly keepalive?: number
  readonly timeoutMs?: number
  /** Clean Session (default true); false: a persistent session. */
  readonly clean?: boolean
  /** Over TLS, this version only; `session`: resume it (a ticket the broker gave before). */
  readonly tls?: ClientTls
}

/**
 * A generator client's TLS: one protocol version, and the session (ticket) to resume. The
 * broker's certificate is not verified: that is the client's cost, and the bench measures the broker's.
 */
export interface ClientTls {
  readonly version: 'TLSv1.2' | 'TLSv1.3'
  readonly session?: Buffer
}

export interface IncomingPublish {
  (buf: Buffer, qos: number, packetId: number, payloadStart: number, payloadEnd: number): void
}

/** A PUBLISH template with the offsets to patch per message. */
export interface PublishTemplate {
  readonly bytes: Buffer
  readonly payloadOffset: number
  /** -1 for QoS 0. */
  readonly packetIdOffset: number
}

export function publishTemplate(topic: string, qos: 0 | 1): PublishTemplate {
  const bytes = mqttPacket.generate({
    cmd: 'publish', topic, payload: Buffer.alloc(PAYLOAD_BYTES, 0x61), qos, messageId: qos > 0 ? 1 : undefined, retain: false, dup: false,
  })
  const payloadOffset = bytes.length - PAYLOAD_BYTES
  return { bytes, payloadOffset, packetIdOffset: qos > 0 ? payloadOffset - 2 : -1 }
}

const DISCONNECT = Buffer.from([0xe0, 0x00])

export class RawClient {
  readonly socket: Socket
  onPublish: IncomingPublish | undefined
  onPuback: ((packetId: number) => void) | undefined
  /** Pending acks written once per incoming chunk. */
  private ackBuf: Buffer | undefined
  private ackLen = 0
  private rest: Buffer | undefined
  private waiter: { type: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined
  private closed = false
  private nextSubId = 1
  /** Over TLS: the latest session (ticket) the broker gave, to resume with next time. */
  tlsSession: Buffer | undefined

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.fail(err))
    socket.on('close', () => {
      this.closed = true
      this.fail(new Error('connection closed'))
    })
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Over TLS: whether the handshake resumed a session. */
  get resumed(): boolean {
    return (this.socket as Partial<TLSSocket>).isSessionReused?.() === true
  }

  /** Opens the TCP connection and completes CONNECT/CONNACK; rejects on a refusal or timeout. */
  static async connect(o: ConnectOptions): Promise<RawClient> {
    const local = o.localAddress !== undefined ? { localAddress: o.localAddress } : {}
    const t = o.tls
    const socket = t === undefined
      ? netConnect({ host: o.host, port: o.port, noDelay: true, ...local })
      // over a TCP socket opened with TCP_NODELAY (tls.connect's own socket would keep Nagle on)
      : tlsConnect({
        socket: netConnect({ host: o.host, port: o.port, noDelay: true, ...local }), rejectUnauthorized: false, minVersion: t.version, maxVersion: t.version,
        ...(t.session !== undefined ? { session: t.session } : {}),
      })
    const client = new RawClient(socket)
    if (t !== undefined) socket.on('session', (session: Buffer) => { client.tlsSession = session })
    const packet: mqttPacket.IConnectPacket = {
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: o.clean ?? true, clientId: o.clientId, keepalive: o.keepalive ?? 0,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
    }
    socket.write(mqttPacket.generate(packet))
    const connack = await client.expect(2, o.timeoutMs ?? 10_000)
    const rc = connack[1] ?? 255
    if (rc !== 0) {
      client.destroy()
      throw new Error(`CONNACK return code ${rc}`)
    }
    return client
  }

  async subscribe(filter: string, qos: 0 | 1): Promise<void> {
    const messageId = this.nextSubId++
    this.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] }))
    const suback = await this.expect(9, 10_000)
    const granted = suback[2] ?? 0x80
    if (granted === 0x80) throw new Error(`subscription to ${filter} refused`)
  }

  write(buf: Buffer): boolean {
    return this.socket.write(buf)
  }

  /** Sends DISCONNECT and ends the socket; resolves once it is closed (bounded). */
  async disconnect(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.socket.destroy(); resolve() }, timeoutMs)
      this.socket.once('close', () => { clearTimeout(t); resolve() })
    })
    this.socket.end(DISCONNECT)
    await done
  }

  destroy(): void {
    this.socket.destroy()
  }

  private expect(type: number, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = undefined; this.socket.destroy(); reject(new Error(`timed out waiting for packet type ${type}`)) }, timeoutMs)
      this.waiter = {
        type,
        resolve: (b) => { clearTimeout(timer); resolve(b) },
        reject: (e) => { clearTimeout(timer); reject(e) },
      }
    })
  }

  private fail(err: Error): void {
    const w = this.waiter
    if (w !== undefined) {
      this.waiter = undefined
      w.reject(err)
    }
  }

  private onData(chunk: Buffer): void {
    let buf = chunk
    if (this.rest !== undefined) {
      buf = Buffer.concat([this.rest, chunk])
      this.rest = undefined
    }
    let pos = 0
    const n = buf.length
    while (pos + 2 <= n) {
      const header = buf[pos]
      let len = 0
      let mul = 1
      let i = pos + 1
      let complete = false
      for (; i < n && i < pos + 5; i++) {
        const b = buf[i]
        len += (b & 0x7f) * mul
        mul *= 128
        if ((b & 0x80) === 0) { complete = true; i++; break }
      }
      if (!complete || i + len > n) break
      this.onPacket(buf, header, i, i + len)
      pos = i + len
    }
    if (pos < n) this.rest = Buffer.from(buf.subarray(pos))
    if (this.ackLen > 0) {
      this.socket.write(this.ackBuf!.subarray(0, this.ackLen))
      this.ackBuf = undefined
      this.ackLen = 0
    }
  }

  private onPacket(buf: Buffer, header: number, start: number, end: number): void {
    const type = header >> 4
    if (type === 3) {
      const qos = (header >> 1) & 3
      const topicLen = buf.readUInt16BE(start)
      let p = start + 2 + topicLen
      let packetId = 0
      if (qos > 0) {
        packetId = buf.readUInt16BE(p)
        p += 2
        this.queueAck(packetId)
      }
      this.onPublish?.(buf, qos, packetId, p, end)
      return
    }
    if (type === 4) {
      this.onPuback?.(buf.readUInt16BE(start))
      return
    }
    const w = this.waiter
    if (w !== undefined && w.type === type) {
      this.waiter = undefined
      w.resolve(buf.subarray(start, end))
    }
  }

  private queueAck(packetId: number): void {
    if (this.ackBuf === undefined) this.ackBuf = Buffer.allocUnsafe(4 * 512)
    if (this.ackLen + 4 > this.ackBuf.length) {
      this.socket.write(this.ackBuf.subarray(0, this.ackLen))
      this.ackBuf = Buffer.allocUnsafe(4 * 512)
      this.ackLen = 0
    }
    const b = this.ackBuf
    b[this.ackLen] = 0x40
    b[this.ackLen + 1] = 2
    b[this.ackLen + 2] = packetId >> 8
    b[this.ackLen + 3] = packetId & 0xff
    this.ackLen += 4
  }
}
