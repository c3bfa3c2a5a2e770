/**
 * One client connection: the byte stream, its parser, write coalescing, and the
 * per-connection protocol state. Packet semantics live in handlers/.
 */
import { Buffer } from 'node:buffer'
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'
import type mqtt from 'mqtt-packet'
import type { PresentedCertificate } from '../auth/certificate.js'
import type { Identity } from '../auth/types.js'
import type { ClientAuthz } from '../authz/types.js'
import { PortcullisError, toReasonCode, type ErrorCode } from '../errors.js'
import { decodePacket, unsupportedProtocolLevel } from '../protocol/decode.js'
import { encodeAck, encodePacket, encodePublish, type AckType } from '../protocol/encode.js'
import { pushFrames, type FrameSink, type PartialFrame } from '../protocol/framer.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import type { Broker } from './broker.js'
import type { PublishRateLimiter } from './rate-limit.js'
import { ConnectionExtras } from './connection-extras.js'
import { recordPreAuthRefusal, refuseProtocolVersion } from './handlers/connect.js'
import { dispatch } from './handlers/index.js'
import { remainingExpiry, type Delivery, type Message, type ProtocolVersion } from '../mqtt/types.js'
import type { Session } from './session.js'
import { contained, guarded } from './contain.js'
import { flushThisTurn } from './write-batch.js'
import { encodedQos0 } from './qos0-encoding.js'
import { clock } from '../clock.js'

export type ConnectionState = 'new' | 'authenticating' | 'connected' | 'closed'

/**
 * A turn's writes are joined into one buffer up to this many bytes (a socket's default
 * high-water mark); beyond it they go to the stream at once (see write()).
 */
const JOIN_LIMIT = 16 * 1024

/**
 * How long a close for a protocol error waits for the commit the acknowledgements due before the
 * error need (ms): a store that cannot write answers sooner (the commit fails); this bounds one
 * that does not answer at all (the cluster's Redis unreachable).
 */
const FAIL_ACK_WAIT_MS = 1000

/**
 * The largest packet MQTT can express (Remaining Length 268,435,455 [MQTT-1.5.5] + 5): the
 * Maximum Packet Size of a client that gave none. (A small integer V8 keeps in the object,
 * where Number.MAX_SAFE_INTEGER cost every connection a boxed number.)
 */
const MAX_PACKET_ON_WIRE = 268_435_460

/**
 * Characters of topic a connection's outbound aliases may hold. The client's Topic Alias
 * Maximum alone (up to 65,535) let one connection keep 65,535 topics of up to 64 KiB each for
 * as long as it lived (4 GiB; 4,000 topics of 60 KB held 270 MiB). Past this, topics go out
 * in full: the sender decides whether to use an alias (MQTT 5.0 §3.3.2.3.4).
 */
const OUT_ALIAS_CHARS = 64 * 1024

const CONNECTION = Symbol('portcullis.connection')

/**
 * How long a connection without MQTT keep alive may be silent before the kernel probes its peer
 * (TCP keep-alive). Node 20 sets only the idle time: the probes then follow the system's
 * net.ipv4.tcp_keepalive_intvl and _probes (Linux defaults: 9 probes 75 s apart, so a vanished
 * peer is closed about 12 minutes after its last packet).
 */
export const PEER_PROBE_IDLE_MS = 60_000
type ConnectedStream = Duplex & { [CONNECTION]?: Connection }

/**
 * Where a connection's peer address comes from: the address itself, or the socket that knows it
 * (a TCP or TLS socket, or the one under a WebSocket), asked only when something needs it.
 */
export type PeerAddress = string | { readonly remoteAddress?: string | undefined }

// Socket events: whatever goes wrong in them costs this connection only (contain.ts).
function onStreamData(this: ConnectedStream, chunk: Buffer): void {
  const conn = this[CONNECTION]
  if (conn === undefined) return
  try {
    conn.onData(chunk)
  } catch (err) {
    contained(conn.broker.logger, conn, 'socket data', err)
  }
}

function onStreamDrain(this: ConnectedStream): void {
  const conn = this[CONNECTION]
  if (conn !== undefined) guarded(conn.broker.logger, conn, 'socket drain', () => conn.resumeAfterWrites())
}

function onStreamGone(this: ConnectedStream): void {
  const conn = this[CONNECTION]
  if (conn !== undefined) guarded(conn.broker.logger, conn, 'socket close', () => conn.close())
}

export class Connection implements FrameSink {
  readonly broker: Broker
  readonly stream: Duplex
  /**
   * The peer address once read, or the socket to read it from. Node reads it with a getpeername()
   * system call and keeps it in an object on the socket, so it is read only when a log line, the
   * rate limit per address, an authenticator, a policy with an IP condition, the refusal log or
   * the admin API asks (see remoteAddress), not for every connect.
   */
  #address: PeerAddress
  readonly listener: string
  readonly createdAt = clock.now()
  /** The start of a packet not complete yet (framer.ts); none between packets. */
  #partial: PartialFrame | undefined

  state: ConnectionState = 'new'
  protocolVersion: ProtocolVersion = 4
  clientId = ''
  /** The username policies, placeholders, logs and the admin see: the CONNECT's, or the one
   *  the credential's claims named (authenticator `identity.username`). */
  username: string | undefined
  /** The username field the CONNECT carried (re-authentication presents it again). */
  connectUsername: string | undefined
  keepAlive = 0
  lastActivity = clock.now()
  session: Session | undefined
  identity: Identity | undefined
  authz: ClientAuthz | undefined
  will: Message | undefined
  willDelay = 0
  /** Will Message Expiry Interval (s), counted from when the will is published. */
  willExpiry: number | undefined
  /** Client's Receive Maximum: outgoing QoS 1/2 in flight allowed. */
  sendQuota = 65535
  /** Client's Maximum Packet Size: larger outgoing packets are dropped [MQTT-3.1.2-25]. */
  maxOutgoingPacket = MAX_PACKET_ON_WIRE
  /** Client's Topic Alias Maximum (outgoing aliases we may use). */
  outAliasMax = 0
  /** Session Expiry Interval given at CONNECT (v5: a DISCONNECT may not raise it from 0). */
  connectSessionExpiry = 0
  /** Set when the client sent DISCONNECT 0x00: no will. */
  cleanDisconnect = false
  bytesIn = 0
  bytesOut = 0
  /** This turn's writes (see write()): the first, then all of them once there is a second. */
  #out: Buffer | undefined
  #more: Buffer[] | undefined
  #outBytes = 0
  #closing = false
  #extras: ConnectionExtras | undefined
  /** The topic of the last PUBLISH received: the decoder gives it back while the client keeps to it. */
  #lastTopic: string | undefined
  /**
   * The last topic name of this client's that passed the PUBLISH name checks (handlers/publish.ts):
   * the same name again is not checked again (a device keeps publishing to its topic).
   */
  checkedTopic: string | undefined

  constructor(broker: Broker, stream: Duplex, peer: PeerAddress, listener: string) {
    this.broker = broker
    this.stream = stream
    this.#address = peer
    this.listener = listener
    // The same four listener functions serve every connection (no closures per connection):
    // they find their connection through the stream.
    ;(stream as ConnectedStream)[CONNECTION] = this
    stream.on('data', onStreamData)
    stream.on('error', onStreamGone)
    stream.on('close', onStreamGone)
    stream.on('end', onStreamGone)
  }

  /**
   * The client's address ('unknown' when the socket cannot tell it). Read once, at the first ask:
   * a closed socket no longer knows it, so what needs it after the close (a persistent session's
   * last address, the disconnect log line) reads it while connected (see keepAddress()).
   */
  get remoteAddress(): string {
    const a = this.#address
    if (typeof a === 'string') return a
    const read = a.remoteAddress ?? 'unknown'
    this.#address = read
    return read
  }

  /**
   * For a connection without a keep alive (MQTT 3.1.1 may ask for 0, and so may MQTT 5 when
   * limits.maxKeepAlive is 0): let the kernel probe the peer once the connection has been silent
   * for PEER_PROBE_IDLE_MS, so a peer that vanished without a FIN (power cut, network gone) is
   * closed, its will published, instead of held for good. A WebSocket's socket is probed from its
   * upgrade on (listeners.ts), whatever its keep alive.
   */
  probePeerWhenSilent(): void {
    if (this.stream instanceof Socket) this.stream.setKeepAlive(true, PEER_PROBE_IDLE_MS)
  }

  /** Read the peer address now, while the socket is open, for what needs it after the close. */
  keepAddress(): void {
    void this.remoteAddress
  }

  // Fields few clients set live in one object created at the first set (connection-extras.ts);
  // setting undefined (or false) where nothing was set creates nothing.
  get upgradeToken(): string | undefined { return this.#extras?.upgradeToken }
  set upgradeToken(v: string | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().upgradeToken = v }
  get clientCertificate(): PresentedCertificate | undefined { return this.#extras?.clientCertificate }
  set clientCertificate(v: PresentedCertificate | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().clientCertificate = v }
  get authMethod(): string | undefined { return this.#extras?.authMethod }
  set authMethod(v: string | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().authMethod = v }
  get outAliases(): Map<string, number> | undefined { return this.#extras?.outAliases }
  set outAliases(v: Map<string, number> | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().outAliases = v }
  get inAliases(): Map<number, string> | undefined { return this.#extras?.inAliases }
  set inAliases(v: Map<number, string> | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().inAliases = v }
  get held(): mqtt.Packet[] | undefined { return this.#extras?.held }
  set held(v: mqtt.Packet[] | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().held = v }
  get publishRate(): PublishRateLimiter | undefined { return this.#extras?.publishRate }
  set publishRate(v: PublishRateLimiter | undefined) { if (v !== undefined || this.#extras !== undefined) this.#extra().publishRate = v }
  get overConnectRate(): boolean { return this.#extras?.overConnectRate === true }
  set overConnectRate(v: boolean) { if (v || this.#extras !== undefined) this.#extra().overConnectRate = v }
  /** A protocol error was found: nothing more is read; the close waits for the acknowledgements due before it. */
  get failing(): boolean { return this.#extras?.failing !== undefined }

  #extra(): ConnectionExtras {
    return (this.#extras ??= new ConnectionExtras())
  }

  get v5(): boolean {
    return this.protocolVersion === 5
  }

  get open(): boolean {
    return this.state !== 'closed'
  }

  /** Bytes from the client (the stream's 'data' listener). */
  onData(chunk: Buffer): void {
    if (this.state === 'closed' || this.failing) return
    this.bytesIn += chunk.length
    this.broker.stats.bytesIn += chunk.length
    this.lastActivity = clock.now()
    this.#partial = pushFrames(this.#partial, chunk, this, this.broker.limits.maxPacketSize)
  }

  /** FrameSink: one whole packet arrived. */
  onFrame(frame: Buffer): boolean {
    if (this.state === 'closed' || this.failing) return false
    const packet = decodePacket(frame, this.protocolVersion, this.#lastTopic)
    if (packet instanceof Error) {
      // A CONNECT whose only fault is a protocol level we do not speak is refused with a
      // CONNACK, not just dropped [MQTT-3.1.2-2].
      const level = this.state === 'new' ? unsupportedProtocolLevel(frame) : undefined
      if (level !== undefined) {
        refuseProtocolVersion(this, level)
      } else {
        this.fail(packet instanceof PortcullisError ? packet.code : 'ERR_MALFORMED_PACKET', packet.message)
      }
      return false
    }
    if (packet.cmd === 'publish') this.#lastTopic = packet.topic
    this.#onPacket(packet, frame)
    return this.open && !this.failing
  }

  /** FrameSink: the byte stream cannot be framed (or a packet is over the size limit). */
  onFrameError(code: 'ERR_MALFORMED_PACKET' | 'ERR_PACKET_TOO_LARGE', detail: string): void {
    this.fail(code, detail)
  }

  #onPacket(packet: mqtt.Packet, frame: Buffer): void {
    if (this.state === 'authenticating') {
      ;(this.held ??= []).push(packet)
      return
    }
    this.#dispatch(packet, frame)
  }

  /**
   * Run a handler; a bug in one must cost this connection only, never the process. `frame`: the
   * packet's bytes as received, while they are at hand (not for packets held back).
   */
  #dispatch(packet: mqtt.Packet, frame?: Buffer): void {
    try {
      dispatch(this, packet, frame)
    } catch (err) {
      contained(this.broker.logger, this, `${packet.cmd} handler`, err)
    }
  }

  /** Process packets held back while CONNECT was authenticated. */
  releaseHeld(): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    while (held.length > 0 && this.state === 'connected' && !this.failing) {
      this.#dispatch(held.shift() as mqtt.Packet)
    }
  }

  /** Encode and write a packet for this client's protocol version. */
  send(packet: mqtt.Packet): void {
    if (this.state === 'closed') return
    this.write(encodePacket(packet, this.protocolVersion))
  }

  /**
   * A successful PUBACK, PUBREC, PUBREL or PUBCOMP: four bytes, the same for MQTT 3.1.1 and 5
   * (a v5 acknowledgement with reason 0x00 and no properties may omit both [MQTT-3.4.2-1]).
   */
  sendAck(type: AckType, packetId: number): void {
    if (this.state === 'closed') return
    this.write(encodeAck(type, packetId))
  }

  /**
   * Write bytes. Every write of this turn of the event loop is held here and handed to the
   * stream by flush() at the end of the turn (write-batch.ts): small packets joined into one
   * buffer, so the stream sees one write per connection per turn whatever the packet count.
   */
  write(buf: Buffer): void {
    if (this.state === 'closed' || this.stream.destroyed) return
    this.bytesOut += buf.length
    this.broker.stats.bytesOut += buf.length
    if (this.#out === undefined) {
      this.#out = buf
      flushThisTurn(this)
    } else {
      ;(this.#more ??= [this.#out]).push(buf)
    }
    this.#outBytes += buf.length
    // Past the stream's default high-water mark, hand the bytes over now, so the stream's
    // backpressure (writableNeedDrain, 'drain') sees them as it did before.
    if (this.#outBytes >= JOIN_LIMIT) this.flush()
  }

  /** Hand this turn's writes to the stream (write-batch.ts calls it; close() too). */
  flush(): void {
    const first = this.#out
    if (first === undefined) return
    const more = this.#more
    const total = this.#outBytes
    this.#out = undefined
    this.#more = undefined
    this.#outBytes = 0
    if (this.stream.destroyed) return
    // flushed for every connection at once (write-batch.ts): a fault here is this one's alone
    try {
      if (more === undefined) {
        this.stream.write(first)
      } else if (total <= JOIN_LIMIT) {
        this.stream.write(Buffer.concat(more, total))
      } else {
        // large messages are not copied again: the stream writes them in one writev
        this.stream.cork()
        for (const b of more) this.stream.write(b)
        this.stream.uncork()
      }
    } catch (err) {
      contained(this.broker.logger, this, 'socket write', err)
    }
    if (this.stream.writableLength > this.broker.limits.maxWriteBuffer) this.#holdReading()
  }

  /**
   * The client does not read what is written to it: read nothing more from it until it has.
   * Why: its own packets call for answers (PINGRESP, PUBACK, SUBACK…) that are never dropped, so
   * a client writing PINGREQs without reading made the broker buffer every answer: 128 MiB of
   * them took the process from 97 to 256 MiB RSS, with no end. Now what it sends waits in its
   * own socket (TCP flow control) beyond maxWriteBuffer of answers. Its keep-alive counts from
   * the moment reading stopped: a client that cannot take its answers within 1.5 times its
   * keep alive is closed as one that went silent.
   */
  #holdReading(): void {
    if (this.#extras?.heldForWrites === true || this.state === 'closed') return
    this.#extra().heldForWrites = true
    this.lastActivity = clock.now()
    this.stream.pause()
    this.stream.once('drain', onStreamDrain)
  }

  /** Everything written reached the client's socket: read it again (unless something else stopped reading). */
  resumeAfterWrites(): void {
    const extras = this.#extras
    if (extras?.heldForWrites !== true) return
    extras.heldForWrites = false
    if (this.state === 'connected' && !extras.readingStopped) this.stream.resume()
  }

  /** CONNECT was accepted: read the client's packets (unless it does not read its own answers). */
  resumeReading(): void {
    if (this.#extras?.heldForWrites !== true) this.stream.resume()
  }

  /** True when this client reads too slowly and QoS 0 messages to it should be dropped. */
  get congested(): boolean {
    return this.stream.writableLength + this.#outBytes > this.broker.limits.maxWriteBuffer
  }

  /**
   * Send an application message. Returns false when it could not be sent (too large for
   * the client's Maximum Packet Size, or the client is gone).
   */
  sendPublish(d: Delivery, packetId: number, dup: boolean): boolean {
    if (this.state !== 'connected') return false
    const m = d.message
    let properties: Record<string, unknown> | undefined
    let topic = m.topic
    /** An alias this packet introduces: forgotten again if the packet is not sent. */
    let newAlias = false
    // An expired message is not delivered, whatever the subscriber's protocol version [MQTT-3.3.2-5].
    const expiry = m.expiresAt === undefined ? undefined : remainingExpiry(m, clock.now())
    if (expiry === 0) {
      this.broker.stats.messagesDropped++
      return false
    }
    if (this.v5) {
      if (m.properties !== undefined || expiry !== undefined || d.subscriptionIds !== undefined || this.outAliasMax > 0) {
        properties = { ...m.properties }
        if (expiry !== undefined) properties['messageExpiryInterval'] = expiry
        if (d.subscriptionIds !== undefined) {
          properties['subscriptionIdentifier'] = d.subscriptionIds.length === 1 ? d.subscriptionIds[0] : [...d.subscriptionIds]
        }
        if (this.outAliasMax > 0) {
          const aliases = (this.outAliases ??= new Map<string, number>())
          const alias = aliases.get(topic)
          if (alias !== undefined) {
            properties['topicAlias'] = alias
            topic = ''
          } else if (aliases.size < this.outAliasMax && this.#extra().outAliasChars + topic.length <= OUT_ALIAS_CHARS) {
            const next = aliases.size + 1
            aliases.set(topic, next)
            this.#extra().outAliasChars += topic.length
            properties['topicAlias'] = next
            newAlias = true
          }
        }
      }
    }
    let buf: Buffer
    // A retained message sent with RETAIN set is not given a cached encoding: the cache would
    // live as long as the message in the retained store (100,000 retained messages sent once
    // to a `#` subscriber held ~30 MiB more), for copies that mostly go to one subscriber.
    if (properties === undefined && d.qos === 0 && !(d.retain && m.retain)) {
      buf = encodedQos0(m, d.retain, this.protocolVersion)
    } else if (properties === undefined) {
      buf = encodePublish(topic, m.payload, d.qos, d.retain, dup, packetId, this.protocolVersion)
    } else {
      const packet = {
        cmd: 'publish' as const,
        topic,
        payload: m.payload,
        qos: d.qos,
        retain: d.retain,
        dup,
        messageId: packetId === 0 ? undefined : packetId,
        properties,
      } as mqtt.IPublishPacket
      buf = encodePacket(packet, this.protocolVersion)
    }
    if (buf.length > this.maxOutgoingPacket) {
      // The client never sees this packet, so it must not learn (or be assumed to know) its alias.
      if (newAlias && this.outAliases?.delete(m.topic) === true) this.#extra().outAliasChars -= m.topic.length
      this.broker.stats.messagesDropped++
      return false
    }
    this.write(buf)
    this.broker.stats.messagesSent++
    this.broker.stats.messagesSentByQos[d.qos]++
    return true
  }

  /**
   * Server-initiated close with a reason (DISCONNECT for MQTT 5 when connected), one log line.
   * Acknowledgements already due (PUBACK, PUBREC… of packets before the fault) wait for the
   * commit of what they confirm: nothing more is read, and the close (with its DISCONNECT)
   * follows them, in order, once that commit has answered — or after FAIL_ACK_WAIT_MS at most,
   * so a store that cannot write keeps no faulty client connected.
   */
  fail(code: ErrorCode, detail: string): void {
    if (this.state === 'closed' || this.failing) return
    // Before CONNECT was accepted (a packet before CONNECT, a malformed or oversized CONNECT):
    // a refusal, kept in the refusal log with the others.
    if (this.state === 'new') recordPreAuthRefusal(this, code, detail)
    const reason = toReasonCode(code)
    this.broker.logger.info({ clientId: this.clientId || undefined, remote: this.remoteAddress, code, reason }, detail)
    if (this.state !== 'connected' || !this.broker.commits.pending) {
      this.disconnect(reason)
      return
    }
    const timer = clock.setTimeout(() => this.disconnect(reason), FAIL_ACK_WAIT_MS)
    timer.unref()
    this.#extra().failing = timer
    this.broker.afterCommit(() => {
      clearTimeout(timer)
      this.disconnect(reason)
    })
  }

  /** Send DISCONNECT (MQTT 5, after CONNACK, or for protocol errors the spec names) then close. */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.state === 'closed') return
    // DISCONNECT only after CONNACK: before it, a refusal is a CONNACK (or just a close).
    if (this.v5 && this.state === 'connected') {
      const properties = reasonString !== undefined ? { reasonString } : undefined
      this.send({ cmd: 'disconnect', reasonCode, properties })
    }
    this.close()
  }

  /**
   * Close the connection (the will is published unless the client disconnected normally).
   * `clientDone`: the client sent DISCONNECT, so nothing more is coming from it.
   */
  close(clientDone = false): void {
    if (this.#closing) return
    this.#closing = true
    clearTimeout(this.#extras?.failing)
    // (A connection whose session is open but whose CONNACK waits for the store counts as connected.)
    const wasConnected = this.state === 'connected' || (this.session !== undefined && this.session.connection === this)
    this.state = 'closed'
    this.flush()
    const stream = this.stream
    if (clientDone && stream.writableLength === 0 && stream instanceof Socket) {
      // Nothing left to send either way. Plain TCP: close at once — the kernel still delivers
      // what was written, then FIN — which spares a shutdown call and a turn per DISCONNECT (a
      // device that connects, publishes and leaves); TLS: end with its close_notify first.
      if (stream instanceof TLSSocket) stream.destroySoon()
      else stream.destroy()
    } else {
      // The client may still be sending: half-close and keep reading (and discarding) so our
      // last packet (a DISCONNECT with its reason) is not lost to a reset; then make sure the
      // stream is gone.
      stream.end()
      clock.setTimeout(() => destroyStream(stream), 1000).unref()
    }
    // the will is published from here: a fault in it costs this client only (contain.ts)
    guarded(this.broker.logger, this, 'close handler', () => this.broker.onConnectionClosed(this, wasConnected))
  }

  /** Throw-free helper for handlers: the error's code decides the reason. */
  failWith(err: PortcullisError): void {
    this.fail(err.code, err.message)
  }

  /** The reason code for DISCONNECT on a session takeover [MQTT-3.1.4-3]. */
  /** Stop reading the client's packets (another node is taking its session over). */
  pauseReading(): void {
    this.#extra().readingStopped = true
    this.stream.pause()
  }

  takeover(): void {
    this.broker.logger.info({ clientId: this.clientId }, 'session taken over')
    this.disconnect(ReasonCode.SessionTakenOver)
  }
}

function destroyStream(stream: Duplex): void {
  if (!stream.destroyed) stream.destroy()
}
