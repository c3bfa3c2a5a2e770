/**
 * The broker: connections, sessions, routing, wills, the keep-alive wheel, $SYS and an
 * ordered close(). It knows authentication, authorization, storage and the cluster bus
 * only through their interfaces.
 */
import type { Duplex } from 'node:stream'
import type { AuthenticatorChain } from '../auth/chain.js'
import type { AuthorizerChain } from '../authz/chain.js'
import { NO_USAGE, addUsage, type CacheUsage } from '../bounded-cache.js'
import type { ClusterBus, Forwarded } from '../cluster/bus.js'
import { CLAIMS_AT_STOP_MS, type ClientOwnership } from '../cluster/ownership.js'
import { PortcullisError, toDisconnectReasonCode } from '../errors.js'
import type { Logger } from '../log.js'
import { subscriptionIdsOf, toDelivery, type Delivery, type Message, type QoS } from '../mqtt/types.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import { TopicTree, type MatchResult, type Subscription } from '../router/topic-tree.js'
import type { CommitBarrier, RetainedStore, SessionStore } from '../store/types.js'
import { Connection, type PeerAddress } from './connection.js'
import { guarded, guardedResult } from './contain.js'
import type { CountedLimit, Limits } from './limits.js'
import { AddressRateLimiter } from './rate-limit.js'
import type { Inflight, Session } from './session.js'
import { SessionManager } from './sessions.js'
import { identityFields } from './handlers/connect.js'
import { RefusalLog } from './refusals.js'
import { SysPublisher } from './sys-topics.js'
import { clock } from '../clock.js'

const NO_GROUPS: readonly string[] = Object.freeze([])

export interface BrokerDeps {
  readonly limits: Limits
  readonly authenticators: AuthenticatorChain
  readonly authorizers: AuthorizerChain
  readonly retained: RetainedStore
  /** Persistent sessions' changes (the memory store records nothing). */
  readonly sessions: SessionStore
  /** When recorded changes (sessions and retained messages) are stored. */
  readonly commits: CommitBarrier
  readonly bus: ClusterBus
  /** The cluster's client registry; absent on a single node (every client id is its own). */
  readonly ownership?: ClientOwnership
  readonly logger: Logger
  readonly version: string
  /** Disconnect clients when their token expires (default true). */
  readonly disconnectOnExpiry?: boolean
  /** Send MQTT 5 clients the refusal's reason text in CONNACK (authentication.reasonString; default false). */
  readonly connackReasonString?: boolean
}

export interface BrokerStats {
  connectionsTotal: number
  messagesReceived: number
  messagesSent: number
  messagesDropped: number
  bytesIn: number
  bytesOut: number
  authFailures: number
  /** Indexed by QoS (0, 1, 2). */
  messagesReceivedByQos: [number, number, number]
  messagesSentByQos: [number, number, number]
  /** Refused CONNECTs and re-authentications by error code. */
  authFailuresByReason: Record<string, number>
  /** The same by the authenticator whose reason was given ('none' when no one's), then by error code. */
  authFailuresByAuthenticator: Record<string, Record<string, number>>
  authzDenied: { connect: number; publish: number; subscribe: number }
  /** Times each per-client / per-address limit acted (limits.ts, COUNTED_LIMITS). */
  limitsHit: Record<CountedLimit, number>
}

export class Broker {
  readonly limits: Limits
  readonly auth: AuthenticatorChain
  #authz: AuthorizerChain
  readonly retained: RetainedStore
  readonly bus: ClusterBus
  readonly logger: Logger
  readonly version: string
  readonly disconnectOnExpiry: boolean
  readonly connackReasonString: boolean
  /** The most recent refused CONNECTs (admin API, console). */
  readonly refusals = new RefusalLog()
  readonly startedAt = clock.now()
  readonly stats: BrokerStats = {
    connectionsTotal: 0,
    messagesReceived: 0,
    messagesSent: 0,
    messagesDropped: 0,
    bytesIn: 0,
    bytesOut: 0,
    authFailures: 0,
    messagesReceivedByQos: [0, 0, 0],
    messagesSentByQos: [0, 0, 0],
    authFailuresByReason: {},
    authFailuresByAuthenticator: {},
    authzDenied: { connect: 0, publish: 0, subscribe: 0 },
    limitsHit: {
      maxSubscriptionsPerClient: 0, maxInflightBytes: 0, maxQueuedBytes: 0, connectRatePerAddress: 0, publishRate: 0,
      maxRetainedMessages: 0, maxRetainedBytes: 0, maxSubscriptions: 0,
    },
  }
  readonly tree = new TopicTree()
  /** The sessions and their lifecycle. */
  readonly sessions: SessionManager
  /** Every open connection, connected or still in CONNECT. */
  readonly #connections = new Set<Connection>()
  readonly #connectRate: AddressRateLimiter
  readonly #store: SessionStore
  /**
   * When the store's changes are committed: `pending` (changes wait for their commit; never with
   * persistence off), `available` (false while the store cannot be reached, e.g. the cluster's
   * Redis is down: new CONNECTs are refused), `recorded` (compared before and after an action,
   * says whether it stored anything).
   */
  readonly commits: CommitBarrier
  /** A stored delivery dropped from a full queue leaves the store too. */
  readonly #droppedStored = (d: Delivery): void => {
    if (d.stored !== undefined) this.#store.deliveryDone(d.stored)
  }
  #wheel: NodeJS.Timeout
  #sys: SysPublisher
  #closing = false

  constructor(deps: BrokerDeps) {
    this.limits = deps.limits
    this.#connectRate = new AddressRateLimiter(deps.limits.connectRatePerAddress, deps.limits.connectBurstPerAddress)
    this.auth = deps.authenticators
    this.#authz = deps.authorizers
    this.retained = deps.retained
    this.#store = deps.sessions
    this.commits = deps.commits
    this.sessions = new SessionManager(this, deps.sessions, deps.ownership)
    this.bus = deps.bus
    this.logger = deps.logger
    this.version = deps.version
    this.disconnectOnExpiry = deps.disconnectOnExpiry ?? true
    this.connackReasonString = deps.connackReasonString ?? false
    this.#wheel = clock.setInterval(() => this.#tick(), 1000)
    this.#wheel.unref()
    this.bus.onMessage((m, forwarded) => this.route(m, forwarded))
    this.#sys = new SysPublisher(this)
  }

  /** The authorizer chain new connections (and re-authentications) compile their rules from. */
  get authz(): AuthorizerChain {
    return this.#authz
  }

  /** Swap the authorizer chain (admin API): connected clients keep the rules they compiled. */
  setAuthorizers(chain: AuthorizerChain): void {
    this.#authz = chain
  }

  /** Count a per-client or per-address limit acting. */
  countLimit(limit: CountedLimit): void {
    this.stats.limitsHit[limit]++
  }

  /** Count a refused CONNECT or re-authentication, under the authenticator whose reason it is. */
  countAuthFailure(code: string, authenticator: string | undefined): void {
    this.stats.authFailures++
    this.stats.authFailuresByReason[code] = (this.stats.authFailuresByReason[code] ?? 0) + 1
    const byCode = (this.stats.authFailuresByAuthenticator[authenticator ?? 'none'] ??= {})
    byCode[code] = (byCode[code] ?? 0) + 1
  }

  get closing(): boolean {
    return this.#closing
  }

  /**
   * Run `done` once every change recorded so far (sessions, retained messages) is stored: what
   * acknowledges a change to a client goes out only then. At once when nothing is pending (the
   * memory-only path never waits); `err` when the store could not write it, or refused one of
   * the changes recorded after `since` (CommitBarrier.afterCommit).
   */
  afterCommit(done: (err: Error | undefined) => void, since?: number): void {
    if (this.commits.pending) this.commits.afterCommit(done, since)
    else done(undefined)
  }

  /** Open connections, connected or still in CONNECT. */
  get connectionCount(): number {
    return this.#connections.size
  }

  /** What the connected clients' authorization decision caches hold together (for /metrics). */
  authzCacheUsage(): CacheUsage {
    let usage = NO_USAGE
    for (const conn of this.#connections) if (conn.authz !== undefined) usage = addUsage(usage, conn.authz.cacheUsage())
    return usage
  }

  /** Take a new client byte stream (from any listener). */
  accept(stream: Duplex, peer: PeerAddress, listener: string): Connection | undefined {
    if (this.#closing) {
      stream.destroy()
      return undefined
    }
    const conn = new Connection(this, stream, peer, listener)
    // Over connectRatePerAddress: the CONNECT is refused unread (handlers/index.ts). Off (0), the
    // address is not read here.
    if (this.#connectRate.enabled && !this.#connectRate.allow(conn.remoteAddress)) conn.overConnectRate = true
    this.#connections.add(conn)
    this.stats.connectionsTotal++
    return conn
  }

  /** Publish a message from a client (or the broker): retain, route locally and to the cluster. */
  publish(message: Message): void {
    // a store that fails later costs the publisher its connection, never the process (contain.ts)
    if (message.retain) guardedResult(this.logger, () => this.sessions.get(message.origin ?? ''), 'retained store', this.retained.set(message))
    const match = this.tree.match(message.topic)
    const local = match.groups.length === 0 ? NO_GROUPS : match.groups.map((g) => g.key)
    // The bus forwards to the nodes with matching subscribers and says which shared groups are served here.
    const served = this.bus.publish(message, local)
    this.#routeMatch(message, match, true, served === local ? undefined : served)
  }

  /**
   * Deliver a message forwarded by another node: to the matching subscriptions it names.
   * Returns the shared groups it names that have no member here any more (the last one just
   * left): the bus passes those on to another node.
   */
  route(message: Message, forwarded: Forwarded): readonly string[] {
    const match = this.tree.match(message.topic)
    this.#routeMatch(message, match, forwarded.all, forwarded.groups, forwarded.clients)
    let missed: string[] | undefined
    const only = forwarded.clients
    for (const key of forwarded.groups) {
      const group = match.groups.find((g) => g.key === key)
      if (group === undefined || (only !== undefined && !group.members.some((m) => only.has(m.clientId)))) (missed ??= []).push(key)
    }
    return missed ?? NO_GROUPS
  }

  /**
   * Deliver to this node's matching subscriptions: non-shared ones when `all`, and one member
   * of each shared group (every group, or those named in `groups`).
   */
  #routeMatch(message: Message, match: MatchResult, all: boolean, groups: readonly string[] | undefined, only?: ReadonlySet<string>): void {
    if (all) for (const cm of match.clients) {
      const session = only === undefined || only.has(cm.clientId) ? this.sessions.get(cm.clientId) : undefined
      // (Leaving: another node is taking it over; the bus forwards the message there.)
      if (session === undefined || session.leaving) continue
      // A persistent session gets each cluster message once, whichever ways it came (it may move between nodes).
      if (session.stored && message.clusterId !== undefined && !session.firstCopy(message.clusterId, clock.now())) continue
      let qos = -1
      let retain = false
      let ids: number[] | undefined
      for (const sub of cm.subs) {
        if (sub.noLocal && message.origin === cm.clientId) continue
        if (sub.qos > qos) qos = sub.qos
        if (sub.retainAsPublished) retain = message.retain
        if (sub.subscriptionId !== undefined) (ids ??= []).push(sub.subscriptionId)
      }
      if (qos < 0) continue
      this.deliver(session, toDelivery(message, qos as QoS, retain, ids))
    }
    for (const group of match.groups) {
      if (groups !== undefined && !groups.includes(group.key)) continue
      // Restricted to some sessions: one of the group's members among them (none: see route()).
      const members = only === undefined ? group.members : group.members.filter((m) => only.has(m.clientId))
      if (members.length > 0) this.#deliverShared(members, group, message)
    }
  }

  #deliverShared(members: Subscription[], group: { cursor: number }, message: Message): void {
    // round robin over members, preferring connected ones
    const n = members.length
    let fallback: Subscription | undefined
    for (let k = 0; k < n; k++) {
      const sub = members[(group.cursor + k) % n]
      const session = this.sessions.get(sub.clientId)
      if (session === undefined) continue
      if (session.connection !== undefined && session.connection.state === 'connected' && !session.leaving) {
        group.cursor = (group.cursor + k + 1) % n
        this.#deliverTo(session, sub, message)
        return
      }
      fallback ??= sub
    }
    if (fallback !== undefined) {
      group.cursor = (group.cursor + 1) % n
      const session = this.sessions.get(fallback.clientId)
      if (session !== undefined) this.#deliverTo(session, fallback, message)
    }
  }

  #deliverTo(session: Session, sub: Subscription, message: Message): void {
    const group = sub.group === undefined ? undefined : sub.key
    this.deliver(session, toDelivery(message, sub.qos, sub.retainAsPublished ? message.retain : false, subscriptionIdsOf(sub), group))
  }

  /**
   * A message of shared group `key` that member `except` will not take (its node died with it
   * unacknowledged): to another member — a connected one here, else one on another node, else
   * an offline one here. False when the group has no other member.
   */
  serveShared(message: Message, key: string, except: string): boolean {
    const group = this.tree.match(message.topic).groups.find((g) => g.key === key)
    const here: Array<{ sub: Subscription; session: Session }> = []
    for (const sub of group?.members ?? []) {
      const session = sub.clientId === except ? undefined : this.sessions.get(sub.clientId)
      if (session !== undefined) here.push({ sub, session })
    }
    const pick = here.find((m) => m.session.connection?.state === 'connected')
    if (pick === undefined && this.bus.serveElsewhere(message, key)) return true
    const to = pick ?? here[0]
    if (to === undefined) return false
    this.#deliverTo(to.session, to.sub, message)
    return true
  }

  /** Hand one delivery to a session: send now, queue, or drop. */
  deliver(session: Session, d: Delivery): void {
    // A QoS 1/2 message for a stored session is stored before anything acknowledges its PUBLISH.
    if (session.stored && d.qos !== 0 && d.stored === undefined) d.stored = this.#store.queueDelivery(session.clientId, d)
    const conn = session.connection
    if (conn !== undefined && conn.state === 'connected') {
      if (d.qos === 0) {
        if (conn.congested) this.stats.messagesDropped++
        else conn.sendPublish(d, 0, false)
        return
      }
      // Nothing overtakes a message already waiting (held resends, then the queue) [MQTT-4.6.0-6].
      if (session.heldCount === 0 && session.queue.length === 0 && session.windowUsed < conn.sendQuota) {
        if (this.#inflightBytesAllow(session, d)) {
          const packetId = session.allocatePacketId()
          if (packetId !== 0) {
            this.#sendInflight(session, conn, d, packetId)
            return
          }
        } else {
          this.countLimit('maxInflightBytes')
        }
      }
    } else if (d.qos === 0) {
      // QoS 0 messages are not kept for offline clients
      return
    }
    const dropped = session.enqueue(d, this.limits.maxQueuedMessages, this.limits.maxQueuedBytes, session.stored ? this.#droppedStored : undefined)
    if (dropped.messages > 0) {
      this.stats.messagesDropped += dropped.messages
      if (dropped.bytesLimit) this.countLimit('maxQueuedBytes')
    }
  }

  /** maxInflightBytes: room for this message's payload (one message always fits). */
  #inflightBytesAllow(session: Session, d: Delivery): boolean {
    const held = session.inflightBytes
    return held === 0 || held + d.message.payload.length <= this.limits.maxInflightBytes
  }

  #sendInflight(session: Session, conn: Connection, d: Delivery, packetId: number): void {
    const f = session.addInflight(d, packetId)
    if (d.stored === undefined) {
      if (!conn.sendPublish(d, packetId, false)) this.completeInflight(session, f)
      return
    }
    if (d.qos === 1) {
      // QoS 1 goes out at once: the message is stored (its publisher's PUBACK waits for that),
      // and a crash before its packet identifier is committed only sends it again, as QoS 1
      // allows. A PUBACK that comes before the commit spares the store writing it at all.
      this.#store.deliverySent(d.stored, packetId, true)
      if (!conn.sendPublish(d, packetId, false)) this.completeInflight(session, f)
      return
    }
    // The packet identifier is stored before the PUBLISH goes out: after a restart the message is
    // resent with the same identifier, so a QoS 2 receiver still sees it once [MQTT-4.3.3-3].
    const mark = this.commits.recorded
    this.#store.deliverySent(d.stored, packetId)
    this.afterCommit((err) => {
      // (Refused: another node holds the session now and sends it from there.)
      if (err instanceof PortcullisError && err.code === 'ERR_SESSION_TAKEN_OVER') return
      if (session.inflight.get(packetId) !== f || f.state !== 'publish' || session.connection !== conn) return
      if (!conn.sendPublish(d, packetId, false)) this.completeInflight(session, f)
    }, mark)
  }

  /** A message's flight ends (acknowledged, refused, or not deliverable): the window has room again. */
  completeInflight(session: Session, f: Inflight): void {
    if (session.completeInflight(f) && f.stored !== undefined) this.#store.deliveryDone(f.stored)
  }

  /** PUBREC received for an outgoing QoS 2 message: PUBREL goes out once that is stored [MQTT-4.3.3-4]. */
  release(session: Session, conn: Connection, f: Inflight): void {
    if (f.state === 'publish') {
      if (f.stored !== undefined) this.#store.deliveryReleased(f.stored)
      f.state = 'pubrel'
      // PUBRELs are resent in the order their PUBRECs arrived [MQTT-4.6.0-4]: in-flight messages
      // are kept in insertion order, so this one moves to the end.
      session.inflight.moveToEnd(f)
    }
    this.afterCommit(() => conn.sendAck('pubrel', f.packetId))
  }

  /**
   * Send what waits, oldest first, while the client's window has room [MQTT-4.9.0-2]: the held
   * messages of a resumed session (DUP, original packet identifiers [MQTT-4.4.0-1]), then the queue.
   */
  drain(session: Session): void {
    const conn = session.connection
    if (conn === undefined) return
    while (conn.state === 'connected' && session.windowUsed < conn.sendQuota) {
      const f = session.takeHeld()
      if (f !== undefined) {
        if (!conn.sendPublish(f, f.packetId, true)) this.completeInflight(session, f)
        continue
      }
      const d = session.queue.peek()
      if (d === undefined) return
      if (d.qos === 0) {
        session.dequeue()
        conn.sendPublish(d, 0, false)
        continue
      }
      // Over maxInflightBytes: the message keeps its place until acknowledgements free room.
      if (!this.#inflightBytesAllow(session, d)) return
      const packetId = session.allocatePacketId()
      // Every packet identifier in use: the message keeps its place until one is freed.
      if (packetId === 0) return
      session.dequeue()
      this.#sendInflight(session, conn, d, packetId)
    }
  }

  /**
   * A resumed session [MQTT-4.4.0-1]: PUBRELs go out at once (flow control holds back only
   * PUBLISH packets [MQTT-4.9.0-3]), then unacknowledged PUBLISHes are resent in their original
   * order as the client's new Receive Maximum allows, and the queue follows.
   */
  resend(session: Session): void {
    const conn = session.connection
    if (conn === undefined) return
    session.holdInflight()
    if (session.inflightCount > 0) for (const f of session.inflight.values()) {
      if (f.state === 'pubrel') conn.sendAck('pubrel', f.packetId)
    }
    this.drain(session)
  }

  /** Called by a connection when it closes, whatever the cause. */
  onConnectionClosed(conn: Connection, wasConnected: boolean): void {
    this.#connections.delete(conn)
    if (!wasConnected) return
    // The address is read only when the line is written (the 'client connected' line read it while connected).
    if (this.logger.isLevelEnabled('info')) this.logger.info({ clientId: conn.clientId, remote: conn.remoteAddress, ...identityFields(conn.identity) }, 'client disconnected')
    this.sessions.connectionClosed(conn)
  }

  /** One timer for every connection: connect timeout, keep alive, token expiry (a fault costs that connection only). */
  #tick(): void {
    const now = clock.now()
    for (const conn of this.#connections) guarded(this.logger, conn, 'keep-alive wheel', () => this.#tickConnection(conn, now))
    guarded(this.logger, undefined, '$SYS publisher', () => this.#sys.tick(now))
  }

  #tickConnection(conn: Connection, now: number): void {
    if (conn.state === 'new' || conn.state === 'authenticating') {
      if (now - conn.createdAt > this.limits.connectTimeoutMs) {
        this.logger.info({ remote: conn.remoteAddress }, 'connect timeout')
        conn.close()
      }
      return
    }
    if (conn.state !== 'connected') return
    if (conn.keepAlive > 0 && now - conn.lastActivity > conn.keepAlive * 1500) {
      conn.fail('ERR_KEEP_ALIVE_TIMEOUT', 'keep alive timeout')
      return
    }
    const exp = conn.identity?.expiresAt
    if (exp !== undefined && now >= exp && this.disconnectOnExpiry && conn.identity?.disconnectOnExpiry !== false) {
      const certificate = conn.identity?.certificate?.validTo === exp
      const what = certificate ? 'client certificate expired' : 'token expired'
      this.logger.info({ clientId: conn.clientId }, `${what}: disconnecting`)
      conn.disconnect(toDisconnectReasonCode(certificate ? 'ERR_CERT_EXPIRED' : 'ERR_JWT_EXPIRED'), what)
      return
    }
    // The device key that verified its token expired: the device's credential is gone, whatever
    // the token's own exp (and disconnectOnExpiry, which is about the token).
    const device = conn.identity?.device
    if (device?.keyExpiresAt !== undefined && now >= device.keyExpiresAt) {
      const what = `the key '${device.key}' of device '${device.id}' it connected with has expired`
      this.logger.info({ clientId: conn.clientId, device: device.id, key: device.key }, 'device key expired: disconnecting')
      conn.disconnect(toDisconnectReasonCode('ERR_DEVICE_KEY_EXPIRED'), what)
    }
  }

  /** Stop accepting, DISCONNECT 0x8B every client, flush and close the stores. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    clearInterval(this.#wheel)
    for (const conn of [...this.#connections]) conn.disconnect(ReasonCode.ServerShuttingDown)
    // Cluster: a claim in progress ends (its session stored) before the bus stops reading.
    const claiming = await this.sessions.claimsEnded(CLAIMS_AT_STOP_MS)
    if (claiming > 0) this.logger.warn({ claims: claiming, waitedMs: CLAIMS_AT_STOP_MS }, 'cluster: claims still in progress at the stop: what they held is read again from this node\'s stream at its next start (at least once)')
    this.sessions.close()
    await this.auth.close()
    await this.bus.close()
    await this.retained.close()
    await this.#store.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

