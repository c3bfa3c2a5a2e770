/**
 * The session lifecycle, in one place [MQTT-4.1]: the live sessions by client id, opening a
 * session at CONNECT (create, resume or take over [MQTT-3.1.4-3]), a connection ending (its
 * will, with Will Delay [MQTT-3.1.3-9], the session's expiry timer, who held it last) and a
 * session ending (subscriptions, queue and in-flight messages dropped, a delayed will
 * published now). Handlers and the admin API go through it; nothing else keeps sessions.
 */
import { NEVER_EXPIRES, type Message } from '../mqtt/types.js'
import type { Subscription } from '../router/topic-tree.js'
import type { Broker } from './broker.js'
import type { Connection } from './connection.js'
import { Session, type PendingWill } from './session.js'
import { guarded } from './contain.js'
import { clearLongTimeout, setLongTimeout } from './timers.js'

export interface OpenedSession {
  readonly session: Session
  /** An existing session was resumed (CONNACK Session Present [MQTT-3.2.2-2, MQTT-3.2.2-3]). */
  readonly present: boolean
}

export class SessionManager {
  readonly #broker: Broker
  /** Live sessions by client id (connected, or persistent and offline). */
  readonly #sessions = new Map<string, Session>()

  constructor(broker: Broker) {
    this.#broker = broker
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
    if (previous?.connection !== undefined) previous.connection.takeover()
    let session = this.#sessions.get(clientId)
    if (session !== undefined && cleanStart) {
      this.end(session)
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
    return { session, present }
  }

  /** Add (or replace) a subscription; true when one with the same filter existed. */
  addSubscription(session: Session, sub: Subscription): boolean {
    const existed = session.subscriptions.has(sub.key)
    session.subscriptions.set(sub.key, sub)
    this.#broker.tree.add(sub)
    return existed
  }

  /** Remove the subscription with this filter; false when there was none. */
  removeSubscription(session: Session, key: string): boolean {
    const sub = session.subscriptions.get(key)
    if (sub === undefined) return false
    session.subscriptions.delete(key)
    this.#broker.tree.remove(session.clientId, sub.filter, sub.group)
    return true
  }

  /** End a session: subscriptions and queued messages go; a delayed will is published now. */
  end(session: Session): void {
    if (this.#sessions.get(session.clientId) === session) this.#sessions.delete(session.clientId)
    if (session.subscriptionCount > 0) for (const key of [...session.subscriptions.keys()]) this.removeSubscription(session, key)
    session.clearInflight()
    session.clearQueue()
    clearLongTimeout(session.expiryTimer)
    session.expiryTimer = undefined
    const will = session.pendingWill
    if (will !== undefined) {
      clearLongTimeout(will.timer)
      session.pendingWill = undefined
      this.#broker.publish(will.message)
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
    const isToken = this.#broker.auth.usernameIsToken(conn)
    session.lastConnection = {
      username: isToken ? undefined : conn.username,
      usernameIsToken: isToken,
      remoteAddress: conn.remoteAddress,
      protocolVersion: conn.protocolVersion,
      disconnectedAt: Date.now(),
    }
    if (session.expiryInterval !== NEVER_EXPIRES) {
      session.expiryTimer = setLongTimeout(() => {
        if (session.connection === undefined) guarded(this.#broker.logger, session, 'session expiry', () => this.end(session))
      }, session.expiryInterval * 1000)
    }
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

  #scheduleWill(session: Session, conn: Connection, stored: Message): void {
    const broker = this.#broker
    const expiry = conn.willExpiry
    // Wills are authorized as the publisher, at publish time.
    if (conn.authz !== undefined && !conn.authz.canPublish(stored.topic, stored.qos, stored.retain)) {
      broker.logger.info({ clientId: conn.clientId, topic: stored.topic }, 'will message not authorized')
      return
    }
    const delay = Math.min(conn.willDelay, session.expiryInterval)
    const will = (): Message =>
      expiry === undefined ? stored : { ...stored, expiresAt: Date.now() + expiry * 1000 }
    if (delay <= 0) {
      broker.publish(will())
      return
    }
    const pending: PendingWill = { message: stored, timer: undefined }
    pending.timer = setLongTimeout(() => {
      if (session.pendingWill === pending) {
        session.pendingWill = undefined
        guarded(broker.logger, session, 'will delay', () => broker.publish(will()))
      }
    }, delay * 1000)
    session.pendingWill = pending
  }
}
