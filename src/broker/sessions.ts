/**
 * The session lifecycle, in one place [MQTT-4.1]: the live sessions by client id, opening a
 * session at CONNECT (create, resume or take over [MQTT-3.1.4-3]), a connection ending (its
 * will, with Will Delay [MQTT-3.1.3-9], the session's expiry timer, who held it last) and a
 * session ending (subscriptions, queue and in-flight messages dropped, a delayed will
 * published now). Handlers and the admin API go through it; nothing else keeps sessions.
 *
 * Persistent sessions (Session Expiry Interval above 0) are recorded in the session store as
 * they change, and recovered from it at start-up (`recover`); the others cost the store nothing.
 *
 * In a cluster (an `ownership`, src/cluster/ownership.ts) a CONNECT first claims its client id
 * (`claim`): when this node was not its owner, a session it may remember is stale and is let go,
 * and the session as stored (by the node that held it) is loaded. A node that loses a client id
 * to another node's claim closes its connection (0x8E) and lets the session go without writing.
 */
import { NEVER_EXPIRES, type Delivery, type Message } from '../mqtt/types.js'
import { parseSharedFilter } from '../protocol/topic.js'
import type { Subscription } from '../router/topic-tree.js'
import { ADOPT_BATCH, ADOPT_IN_FLIGHT, type ClientOwnership, type OwnershipClaim } from '../cluster/ownership.js'
import { PortcullisError } from '../errors.js'
import type { SessionStore, StoredSession, StoredWill } from '../store/types.js'
import type { Broker } from './broker.js'
import type { Connection } from './connection.js'
import { Session, type LastConnection, type PendingWill } from './session.js'
import { RecentIds } from './recent-ids.js'
import { guarded } from './contain.js'
import { clearLongTimeout, setLongTimeout } from './timers.js'
import { clock } from '../clock.js'
import { inParallel } from '../in-parallel.js'

export interface OpenedSession {
  readonly session: Session
  /** An existing session was resumed (CONNACK Session Present [MQTT-3.2.2-2, MQTT-3.2.2-3]). */
  readonly present: boolean
}

export class SessionManager {
  readonly #broker: Broker
  readonly #store: SessionStore
  /** Live sessions by client id (connected, or persistent and offline). */
  readonly #sessions = new Map<string, Session>()
  readonly #ownership: ClientOwnership | undefined
  /** Claims (and the loads after them) of one client id run one after another. */
  readonly #claims = new Map<string, Promise<void>>()
  /** The client id whose session `open` is replacing: its end does not release the id. */
  #opening: string | undefined

  constructor(broker: Broker, store: SessionStore, ownership?: ClientOwnership) {
    this.#broker = broker
    this.#store = store
    this.#ownership = ownership
    ownership?.onTakenOver((clientId, sessionEnds, willHere, to) => this.#handOver(clientId, sessionEnds, willHere, to))
    ownership?.onTakeoverStarted((clientId, to, sessionEnds) => this.#leaving(clientId, to, sessionEnds))
    ownership?.onNodeDied((nodeId) => {
      void this.adoptOrphans(nodeId).catch((err: unknown) => {
        broker.logger.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'cluster: taking over the sessions of a node that died failed; they are taken when their clients connect or a node starts')
      })
    })
  }

  /** True in a cluster: a CONNECT claims its client id (`claim`) before it opens its session. */
  get claims(): boolean {
    return this.#ownership !== undefined
  }

  /**
   * A CONNECT in a cluster: make this node the client id's only owner [MQTT-3.1.4-3]. When
   * another node (or nobody) held it, what this node remembers of the session is let go and the
   * session as stored is loaded. The stored will of a connection still alive on a live node is
   * that node's to handle; one of a dead node's connection is published now if it is due.
   */
  claim(clientId: string, cleanStart: boolean): Promise<void> {
    const ownership = this.#ownership
    if (ownership === undefined) return Promise.resolve()
    // (The stop waits for the claims in progress, none started after it: see claimsEnded.)
    if (this.#broker.closing) return Promise.reject(new PortcullisError('ERR_SERVER_SHUTTING_DOWN', `client id ${clientId} not claimed: the node is stopping`))
    const bus = this.#broker.bus
    const run = async (): Promise<void> => {
      // What the node it leaves forwards for it only waits until its session is here (see below).
      bus.arriving(clientId)
      let movedIn = false
      try {
        movedIn = await this.#claimed(ownership, clientId, await ownership.claim(clientId, cleanStart))
      } finally {
        bus.arrived(clientId, movedIn)
      }
    }
    return this.#serial(clientId, run)
  }

  /**
   * The rest of a claim: the session as stored loaded (when another node, or nobody, held it).
   * True when a session held by another node moved in here.
   */
  async #claimed(ownership: ClientOwnership, clientId: string, claim: OwnershipClaim): Promise<boolean> {
    if (claim.current) return false
    const stale = this.#sessions.get(clientId)
    if (stale !== undefined) this.#letGo(stale, false, true)
    // A client id nobody held has nothing stored (a clean session's connect: no read).
    if (claim.unowned === true) return false
    // (With what the node it left delivered to it lately: none of those is delivered again here.)
    const [stored, delivered] = await Promise.all([ownership.load(clientId), claim.previous === undefined ? [] : this.#broker.bus.deliveredBefore(clientId)])
    // Claimed by another node meanwhile (that claim won): no session here.
    if (!ownership.holds(clientId)) throw new PortcullisError('ERR_SESSION_TAKEN_OVER', `client id ${clientId} was claimed by another node while its session was loading`)
    if (stored === undefined || this.#sessions.has(clientId)) return false
    const now = clock.now()
    const expired = this.#restore(claim.previousAlive ? { ...stored, will: undefined } : stored, now)
    const session = this.#sessions.get(clientId)
    const will = session?.pendingWill
    if (session !== undefined && will !== undefined && will.publishAt <= now) {
      clearLongTimeout(will.timer)
      session.pendingWill = undefined
      this.#broker.publish(willMessage(will.message, will.expiry))
    }
    if (expired !== undefined) {
      this.end(expired)
      return false
    }
    // Messages forwarded to the previous node for this client and not yet in its session.
    if (claim.previous === undefined || session === undefined) return false
    // The previous node forwards what still reaches it for this client for a while (and what the
    // client had not acknowledged there), and its stream is read below: each message is delivered
    // once [MQTT-4.3.3], counting those loaded with the session and those the previous node
    // delivered lately.
    const seen: number[] = [...delivered]
    for (const d of [...stored.queue, ...stored.inflight.map((f) => f.delivery)]) if (d.message.clusterId !== undefined) seen.push(d.message.clusterId)
    session.recent = new RecentIds(now, seen)
    if (claim.previousAlive) await this.#broker.bus.catchUp(clientId, claim.previous)
    else await this.#broker.bus.takeOver(claim.previous, new Set([clientId]))
    return true
  }

  /**
   * A node died: the stored sessions no live node owns are claimed (each by exactly one
   * survivor) and held here as if recovered at start-up: their messages are queued again, a
   * will whose delay has passed is published, expiry runs [MQTT-3.1.3-9]; then what waited for
   * them in the stream of the node that held them is delivered to them (the cluster bus). Returns
   * how many.
   *
   * ADOPT_BATCH client ids at a time are claimed and loaded together (a few requests for all of
   * them, ownership.adoptOrphans), two batches in flight. A batch holds the turn of each of its
   * client ids (a CONNECT's claim of one waits for the batch); an id whose claim is in progress
   * when its batch starts is adopted on its own after that claim, as is every id each in its turn.
   */
  async adoptOrphans(goneNode: string): Promise<number> {
    const ownership = this.#ownership
    if (ownership === undefined || this.#broker.closing) return 0
    const { clientIds, live } = await ownership.orphanCandidates()
    /** Adopted sessions by the node that held them. */
    const adopted = new Map<string, Set<string>>([[goneNode, new Set()]])
    let n = 0
    const adopt = async (ids: readonly string[]): Promise<void> => {
      const wanted = ids.filter((cid) => !this.#sessions.has(cid))
      if (wanted.length === 0 || this.#broker.closing) return
      for (const got of await ownership.adoptOrphans(wanted, live)) {
        const clientId = got.session.clientId
        if (this.#sessions.has(clientId)) continue
        n++
        if (got.previous !== undefined) {
          let from = adopted.get(got.previous)
          if (from === undefined) adopted.set(got.previous, (from = new Set()))
          from.add(clientId)
        }
        const expired = this.#restore(this.#passShared(got.session), clock.now())
        if (expired !== undefined) this.end(expired)
      }
    }
    const batches: string[][] = []
    for (let i = 0; i < clientIds.length; i += ADOPT_BATCH) batches.push(clientIds.slice(i, i + ADOPT_BATCH))
    await inParallel(batches, 2, async (batch) => {
      const open = batch.filter((cid) => !this.#sessions.has(cid))
      const free = open.filter((cid) => !this.#claims.has(cid))
      const busy = open.filter((cid) => this.#claims.has(cid))
      await Promise.all([
        free.length === 0 ? undefined : this.#serialAll(free, () => adopt(free)),
        inParallel(busy, ADOPT_IN_FLIGHT, (cid) => this.#serial(cid, () => adopt([cid]))),
      ])
    })
    if (n > 0) this.#broker.logger.info({ node: goneNode, sessions: n }, 'cluster: sessions of a node that died taken over')
    // (The dead node's own stream is looked at even when nothing was adopted here: see takeOver.)
    for (const [node, ids] of adopted) await this.#broker.bus.takeOver(node, ids)
    return n
  }

  /**
   * A session adopted from a dead node: its client lost its connection with that node, so what it
   * had through a shared subscription and has not acknowledged (queued, or sent and not
   * acknowledged; not a QoS 2 message it has received) goes to another member of the group, in
   * the commit that takes it out of this session [MQTT-4.8.2-4]. Kept when no other member exists.
   */
  #passShared(s: StoredSession): StoredSession {
    const passed = (d: Delivery): boolean => {
      if (d.group === undefined || !this.#broker.serveShared(d.message, d.group, s.clientId)) return false
      if (d.stored !== undefined) this.#store.deliveryDone(d.stored)
      return true
    }
    const queue = s.queue.filter((d) => !passed(d))
    const inflight = s.inflight.filter((f) => f.state !== 'publish' || !passed(f.delivery))
    if (queue.length === s.queue.length && inflight.length === s.inflight.length) return s
    this.#broker.logger.info({ clientId: s.clientId, messages: s.queue.length + s.inflight.length - queue.length - inflight.length }, 'cluster: shared-subscription messages of a dead node\'s client passed to other members')
    return { ...s, queue, inflight }
  }

  /**
   * The node stops (the broker is closing): wait at most `ms` for the claims in progress (and
   * start-up or dead-node adoptions) to end; returns how many still run. Why: a claim keeps the
   * stream entries that brought what it holds for its client unacknowledged until its session is
   * loaded and that is stored (cluster/redis-bus.ts); a claim cut off by the stop would leave them
   * pending, and the node's next start would read them again and deliver their other messages a
   * second time (exactly once broken). A claim that ends stores what it held, with those entries'
   * acknowledgement, before the stream reader stops.
   */
  async claimsEnded(ms: number): Promise<number> {
    const deadline = clock.now() + ms
    while (this.#claims.size > 0) {
      const left = deadline - clock.now()
      if (left <= 0) break
      let timer: NodeJS.Timeout | undefined
      const out = new Promise<void>((r) => (timer = clock.setTimeout(r, left)))
      await Promise.race([Promise.all(this.#claims.values()), out])
      clearTimeout(timer)
    }
    return this.#claims.size
  }

  /** Claims (and the loads after them) of one client id, one after another. */
  #serial(clientId: string, run: () => Promise<void>): Promise<void> {
    return this.#serialAll([clientId], run)
  }

  /** `run` in the turn of every one of these client ids: after the claims of each in progress, before any asked for later. */
  #serialAll(clientIds: readonly string[], run: () => Promise<void>): Promise<void> {
    const before = Promise.all(clientIds.map((cid) => this.#claims.get(cid) ?? Promise.resolve()))
    const next = before.then(run)
    const settled = next.catch(() => {})
    for (const cid of clientIds) this.#claims.set(cid, settled)
    void settled.then(() => {
      for (const cid of clientIds) if (this.#claims.get(cid) === settled) this.#claims.delete(cid)
    })
    return next
  }

  get(clientId: string): Session | undefined {
    return this.#sessions.get(clientId)
  }

  values(): IterableIterator<Session> {
    return this.#sessions.values()
  }

  /** Sessions held: connected, or persistent and offline. */
  get size(): number {
    return this.#sessions.size
  }

  /** Sessions recorded in the session store (persistent, with persistence on). */
  get storedCount(): number {
    let n = 0
    for (const s of this.#sessions.values()) if (s.stored) n++
    return n
  }

  get connectedCount(): number {
    let n = 0
    for (const s of this.#sessions.values()) if (s.connection !== undefined) n++
    return n
  }

  /**
   * A CONNECT was accepted: the connection holding the client id is told and closed first
   * (session takeover [MQTT-3.1.4-3]); Clean Start ends an existing session [MQTT-3.1.2-4],
   * else it is resumed [MQTT-3.1.2-5], and a will waiting for its delay is cancelled
   * [MQTT-3.1.3-9]. `expiry` is the Session Expiry Interval granted (seconds).
   */
  open(conn: Connection, clientId: string, cleanStart: boolean, expiry: number): OpenedSession {
    const previous = this.#sessions.get(clientId)
    this.#opening = clientId
    try {
      if (previous?.connection !== undefined) previous.connection.takeover()
    } finally {
      this.#opening = undefined
    }
    let session = this.#sessions.get(clientId)
    if (session !== undefined && cleanStart) {
      this.#opening = clientId
      try {
        this.end(session)
      } finally {
        this.#opening = undefined
      }
      session = undefined
    }
    const present = session !== undefined
    if (session === undefined) {
      session = new Session(clientId, expiry)
      this.#sessions.set(clientId, session)
    } else {
      clearLongTimeout(session.expiryTimer)
      session.expiryTimer = undefined
      clearLongTimeout(session.pendingWill?.timer)
      session.pendingWill = undefined
      session.expiryInterval = expiry
    }
    session.connection = conn
    conn.session = session
    if (this.#store.durable) {
      if (expiry > 0) {
        if (!session.stored) {
          // Resumed from memory-only state (expiry was 0): what it holds is stored from now on.
          session.stored = true
          for (const sub of session.subscriptions.values()) this.#storeSubscription(session, sub)
        }
        this.#save(session)
      } else if (session.stored) {
        // A Session Expiry Interval of 0: the session ends with this connection; nothing to keep.
        this.#store.endSession(clientId, session.storedDeliveries())
        session.stored = false
      }
    }
    return { session, present }
  }

  /** Add (or replace) a subscription; true when one with the same filter existed. */
  addSubscription(session: Session, sub: Subscription): boolean {
    const existed = session.subscriptions.has(sub.key)
    session.subscriptions.set(sub.key, sub)
    this.#route(sub)
    if (session.stored) this.#storeSubscription(session, sub)
    return existed
  }

  /** Remove the subscription with this filter; false when there was none. */
  removeSubscription(session: Session, key: string): boolean {
    if (!this.#unsubscribe(session, key)) return false
    if (session.stored) this.#store.removeSubscription(session.clientId, key)
    return true
  }

  /** An incoming QoS 2 packet id was received (PUBREC follows) [MQTT-4.3.3-9]. */
  addIncomingQos2(session: Session, packetId: number): void {
    session.incomingQos2.add(packetId)
    if (session.stored) this.#store.addIncomingQos2(session.clientId, packetId)
  }

  /** PUBREL released an incoming QoS 2 packet id; false when it was not known. */
  releaseIncomingQos2(session: Session, packetId: number): boolean {
    if (!session.incomingQos2.delete(packetId)) return false
    if (session.stored) this.#store.removeIncomingQos2(session.clientId, packetId)
    return true
  }

  /** End a session: subscriptions and queued messages go; a delayed will is published now. */
  end(session: Session): void {
    const owned = this.#sessions.get(session.clientId) === session
    if (owned) this.#sessions.delete(session.clientId)
    if (session.stored) {
      this.#store.endSession(session.clientId, session.storedDeliveries())
      session.stored = false
    }
    // The client id is free cluster-wide (unless a CONNECT here is replacing the session).
    if (owned && this.#opening !== session.clientId) this.#ownership?.release(session.clientId)
    if (session.subscriptionCount > 0) for (const key of [...session.subscriptions.keys()]) this.#unsubscribe(session, key)
    session.clearInflight()
    session.clearQueue()
    clearLongTimeout(session.expiryTimer)
    session.expiryTimer = undefined
    const will = session.pendingWill
    if (will !== undefined) {
      clearLongTimeout(will.timer)
      session.pendingWill = undefined
      this.#broker.publish(willMessage(will.message, will.expiry))
    }
  }

  /**
   * A connection that had completed CONNECT closed, whatever the cause: its will is scheduled
   * (unless the client disconnected normally), then the session ends (expiry 0) or outlives
   * it until its expiry. While the broker closes, sessions are only left as they are.
   */
  connectionClosed(conn: Connection): void {
    const session = conn.session
    if (session === undefined || session.connection !== conn) return
    session.connection = undefined
    const closing = this.#broker.closing
    const will = conn.will
    conn.will = undefined
    if (will !== undefined && !conn.cleanDisconnect && !closing) this.#scheduleWill(session, conn, will)
    if (session.expiryInterval === 0 || closing) {
      if (!closing) this.end(session)
      return
    }
    session.lastConnection = this.#lastConnection(conn, clock.now())
    this.#armExpiry(session, session.expiryInterval * 1000)
    this.#save(session)
  }

  /**
   * Start-up, before anything listens: the stored sessions come back with their subscriptions,
   * queued and in-flight messages and incoming QoS 2 packet ids. One that was connected when
   * the broker stopped is taken as disconnected then (its will is due after its delay); one
   * whose expiry passed while the broker was down ends now, publishing its will.
   */
  async recover(): Promise<number> {
    const stored = await this.#store.recover()
    const now = clock.now()
    // Every session is back before any will is published, so each reaches every subscriber.
    const expired = stored.map((s) => this.#restore(s, now)).filter((s) => s !== undefined)
    for (const session of expired) this.end(session)
    return stored.length
  }

  /** Rebuild one stored session; returns it when it expired while the broker was down. */
  #restore(s: StoredSession, now: number): Session | undefined {
    const session = new Session(s.clientId, s.expiryInterval)
    session.stored = true
    this.#sessions.set(s.clientId, session)
    const disconnectedAt = s.connected ? s.lostAt : (s.lastConnection?.disconnectedAt ?? s.lostAt)
    session.lastConnection = s.lastConnection === undefined
      ? { username: undefined, usernameIsToken: false, remoteAddress: '', protocolVersion: 4, disconnectedAt }
      : { ...s.lastConnection, disconnectedAt }
    for (const stored of s.subscriptions) {
      const shared = parseSharedFilter(stored.key) ?? undefined
      const sub: Subscription = { ...stored, clientId: s.clientId, filter: shared?.filter ?? stored.key, group: shared?.group }
      session.subscriptions.set(sub.key, sub)
      this.#route(sub)
    }
    for (const d of s.queue) session.enqueue(d, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
    for (const f of s.inflight) session.restoreInflight(f.delivery, f.packetId, f.state)
    for (const id of s.incomingQos2) session.incomingQos2.add(id)
    const will = s.will
    if (will !== undefined) {
      const publishAt = s.connected ? disconnectedAt + Math.min(will.delay, s.expiryInterval) * 1000 : (will.publishAt ?? now)
      this.#pendWill(session, will.message, will.expiry, publishAt)
    }
    const left = s.expiryInterval === NEVER_EXPIRES ? undefined : disconnectedAt + s.expiryInterval * 1000 - now
    if (left !== undefined && left <= 0) return session
    // (A will already due goes out as soon as start-up is done: its timer fires at once.)
    if (left !== undefined) this.#armExpiry(session, left)
    if (s.connected) this.#save(session)
    return undefined
  }

  /** Epoch ms at which an offline session ends, undefined when connected or never. */
  expiresAt(session: Session): number | undefined {
    const last = session.lastConnection
    if (session.connection !== undefined || last === undefined || session.expiryInterval === NEVER_EXPIRES) return undefined
    return last.disconnectedAt + session.expiryInterval * 1000
  }

  /** The broker closes: no timer outlives it (sessions are left as they are). */
  close(): void {
    for (const s of this.#sessions.values()) {
      clearLongTimeout(s.expiryTimer)
      clearLongTimeout(s.pendingWill?.timer)
    }
  }

  /**
   * Another node claimed the client id: close its connection here (0x8E) and let the session go.
   * `willHere` false: the claiming node handled the will (this node answered too late: paused or
   * cut off), so none is published here.
   */
  #handOver(clientId: string, sessionEnds: boolean, willHere: boolean, to: string | undefined): void {
    const session = this.#sessions.get(clientId)
    if (session === undefined) {
      this.#ownership?.forget(clientId)
      return
    }
    // What other nodes still send here for it while their route tables change goes on to `to`,
    // and what the client has not acknowledged (the new node delivers each message once).
    if (to !== undefined && !sessionEnds) this.#moveAway(session, to, true)
    if (!willHere) {
      if (session.connection !== undefined) session.connection.will = undefined
      clearLongTimeout(session.pendingWill?.timer)
      session.pendingWill = undefined
    }
    guarded(this.#broker.logger, session, 'session handover', () => this.#letGo(session, sessionEnds, false))
  }

  /**
   * Another node is taking the client over (its answer follows once this node's writes for the
   * client are stored): the client's packets are no longer read here, nothing more is delivered
   * to it here, and what reaches this node for it goes on to `to` from now on — unless the new
   * connection starts clean (`sessionEnds`): the session ends, and nothing of it goes on.
   */
  #leaving(clientId: string, to: string, sessionEnds: boolean): void {
    const session = this.#sessions.get(clientId)
    if (session === undefined) return
    session.connection?.pauseReading()
    session.leaving = true
    if (!sessionEnds) this.#moveAway(session, to, false)
  }

  #moveAway(session: Session, to: string, atHandOver: boolean): void {
    const filters: string[] = []
    for (const sub of session.subscriptions.values()) if (sub.group === undefined) filters.push(sub.key)
    const unacknowledged: Message[] = []
    if (atHandOver) for (const d of session.unacknowledged()) if (d.group === undefined) unacknowledged.push(d.message)
    // (Handed over once, before the answer: see #leaving.)
    const delivered = atHandOver ? undefined : session.recent?.ids() ?? []
    this.#broker.bus.movedAway(session.clientId, to, filters, unacknowledged, delivered)
  }

  /**
   * This node no longer owns the session: nothing more is written for it here. Its connection
   * is closed as on a takeover (its will is handled as the spec says: published now without a
   * delay, else only if the session ends [MQTT-3.1.3-9]); the rest goes from memory.
   * `claimed`: this node has just claimed the id again (a CONNECT here), which stays.
   */
  #letGo(session: Session, sessionEnds: boolean, claimed: boolean): void {
    session.stored = false
    if (!claimed) this.#ownership?.forget(session.clientId)
    this.#opening = claimed ? session.clientId : undefined
    try {
      session.connection?.takeover()
      if (this.#sessions.get(session.clientId) !== session) return
      const will = session.pendingWill
      if (will !== undefined && !sessionEnds) {
        clearLongTimeout(will.timer)
        session.pendingWill = undefined
      }
      this.end(session)
    } finally {
      this.#opening = undefined
    }
  }

  #scheduleWill(session: Session, conn: Connection, stored: Message): void {
    const broker = this.#broker
    // Wills are authorized as the publisher, at publish time.
    if (conn.authz !== undefined && !conn.authz.canPublish(stored.topic, stored.qos, stored.retain)) {
      broker.logger.info({ clientId: conn.clientId, topic: stored.topic }, 'will message not authorized')
      return
    }
    const delay = Math.min(conn.willDelay, session.expiryInterval)
    if (delay <= 0) {
      broker.publish(willMessage(stored, conn.willExpiry))
      return
    }
    this.#pendWill(session, stored, conn.willExpiry, clock.now() + delay * 1000)
  }

  /** A will published at `publishAt` unless the session resumes first [MQTT-3.1.3-9]. */
  #pendWill(session: Session, message: Message, expiry: number | undefined, publishAt: number): void {
    const pending: PendingWill = { message, expiry, publishAt, timer: undefined }
    pending.timer = setLongTimeout(() => {
      if (session.pendingWill !== pending) return
      session.pendingWill = undefined
      guarded(this.#broker.logger, session, 'will delay', () => {
        this.#broker.publish(willMessage(message, expiry))
        this.#save(session)
      })
    }, Math.max(0, publishAt - clock.now()))
    session.pendingWill = pending
  }

  #armExpiry(session: Session, ms: number): void {
    if (session.expiryInterval === NEVER_EXPIRES) return
    session.expiryTimer = setLongTimeout(() => {
      if (session.connection === undefined) guarded(this.#broker.logger, session, 'session expiry', () => this.end(session))
    }, ms)
  }

  #unsubscribe(session: Session, key: string): boolean {
    const sub = session.subscriptions.get(key)
    if (sub === undefined) return false
    session.subscriptions.delete(key)
    // The cluster's route table counts this node's subscriptions per filter (and shared group).
    if (this.#broker.tree.remove(session.clientId, sub.filter, sub.group)) this.#broker.bus.removeRoute(sub.key)
    return true
  }

  /** Into the topic tree; a new entry counts for the cluster's route table. */
  #route(sub: Subscription): void {
    if (this.#broker.tree.add(sub)) this.#broker.bus.addRoute(sub.key)
  }

  #storeSubscription(session: Session, sub: Subscription): void {
    this.#store.addSubscription(session.clientId, {
      key: sub.key,
      qos: sub.qos,
      noLocal: sub.noLocal,
      retainAsPublished: sub.retainAsPublished,
      retainHandling: sub.retainHandling,
      subscriptionId: sub.subscriptionId,
    })
  }

  #lastConnection(conn: Connection, disconnectedAt: number): LastConnection {
    const isToken = this.#broker.auth.usernameIsToken(conn)
    return {
      username: isToken ? undefined : conn.username,
      usernameIsToken: isToken,
      remoteAddress: conn.remoteAddress,
      protocolVersion: conn.protocolVersion,
      disconnectedAt,
    }
  }

  /**
   * Record a stored session's facts: its expiry, whether it is connected, who holds (held) it,
   * and its will — the connection's (due if the broker stops while connected) or a delayed one.
   */
  #save(session: Session): void {
    if (!session.stored) return
    const conn = session.connection
    let will: StoredWill | undefined
    let last = session.lastConnection
    if (conn !== undefined) {
      last = this.#lastConnection(conn, 0)
      const m = conn.will
      if (m !== undefined && (conn.authz === undefined || conn.authz.canPublish(m.topic, m.qos, m.retain))) {
        will = { message: m, delay: conn.willDelay, expiry: conn.willExpiry, publishAt: undefined }
      }
    } else if (session.pendingWill !== undefined) {
      const p = session.pendingWill
      will = { message: p.message, delay: 0, expiry: p.expiry, publishAt: p.publishAt }
    }
    this.#store.saveSession({
      clientId: session.clientId,
      expiryInterval: session.expiryInterval,
      connected: conn !== undefined,
      lastConnection: last,
      will,
    })
  }
}

/** The will as published: its Message Expiry Interval counts from now [MQTT-3.3.2-5]. */
function willMessage(stored: Message, expiry: number | undefined): Message {
  return expiry === undefined ? stored : { ...stored, expiresAt: clock.now() + expiry * 1000 }
}
