/**
 * The clients part of the admin API: connected clients and offline persistent sessions,
 * as views (never a token), and disconnecting a client or ending an offline session.
 */
import type { AuthenticatorChain } from '../auth/chain.js'
import type { AuthorizationConfig } from '../authz/config.js'
import type { Broker } from '../broker/broker.js'
import type { Connection } from '../broker/connection.js'
import type { Session } from '../broker/session.js'
import { isMapping } from '../config/check.js'
import type { Logger } from '../log.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import { ApiError } from './errors.js'
import { optionalText, pageNumber } from './query.js'
import { clientOrderOf, compareKeyed, firstInOrder, sortKeyOf, type Keyed } from './client-order.js'
import { clientPermissions, type ClientPermissionsView } from './permissions.js'
import type { ProtocolVersion } from '../mqtt/types.js'
import { clock } from '../clock.js'

/** The session behind a client entry: how long it outlives its connection, and when an offline one ends. */
export interface SessionView {
  /** Seconds the session outlives its connection (0: ends with it; 4294967295: never expires). */
  readonly expiryInterval: number
  /** Offline sessions that expire: when, and how many seconds are left. Absent otherwise. */
  readonly expiresAt?: string
  readonly expiresInSeconds?: number
}

/** A connected client, as GET /clients shows it (never its token). */
export interface ConnectedClientView {
  readonly clientId: string
  readonly connected: true
  /** Cluster: the node that holds the client. */
  readonly node?: string
  /** Absent when the username carried the token (`from: username`). */
  readonly username?: string
  readonly usernameIsToken?: true
  readonly address: string
  readonly protocolVersion: ProtocolVersion
  readonly listener: string
  readonly connectedAt: string
  readonly keepAlive: number
  readonly authenticator: string | null
  readonly anonymous: boolean
  readonly token?: { readonly subject?: string; readonly issuer?: string; readonly expiresAt?: string }
  /** The verified client certificate it connected with (tls/wss listeners with requestCert). */
  readonly certificate?: {
    readonly cn?: string; readonly san: readonly string[]; readonly fingerprint256: string; readonly serialNumber: string
    readonly issuer: string; readonly validFrom: string; readonly validTo: string
  }
  /** An x509 authenticator with requireToken that accepted the certificate before `authenticator` accepted the token. */
  readonly vouchedBy?: string
  readonly acl: { readonly tokenRules: number; readonly superuser: boolean }
  readonly subscriptions: number
  readonly queued: number
  readonly session: SessionView
}

/**
 * A persistent session whose client is away (clean session false, or a session expiry
 * interval above 0): it keeps its subscriptions and queues QoS 1/2 messages. Who held it
 * last (username, address, protocol) and when they left come from the connection that
 * left it; what only a live connection has (listener, identity, ACL…) is absent.
 */
export interface OfflineClientView {
  readonly clientId: string
  readonly connected: false
  /** Cluster: the node that holds the session. */
  readonly node?: string
  /** The last connection's; absent when its username carried the token (`usernameIsToken`). */
  readonly username?: string
  readonly usernameIsToken?: true
  /** The last connection's remote address. */
  readonly address?: string
  readonly protocolVersion?: ProtocolVersion
  /** When the last connection ended. */
  readonly disconnectedAt?: string
  readonly subscriptions: number
  readonly queued: number
  readonly session: SessionView
}

export type ClientView = ConnectedClientView | OfflineClientView

export type ClientDetail = ClientView & {
  readonly subscriptionList: readonly { readonly topic: string; readonly qos: number }[]
  readonly inflight: number
  readonly queued: number
}

/** Most clients one GET /clients page holds. */
export const CLIENT_PAGE_MAX = 1000

/** GET /clients?state=: connected clients, offline sessions, or both (the default). */
export const CLIENT_STATES = ['all', 'connected', 'offline'] as const
export type ClientState = (typeof CLIENT_STATES)[number]

/** Number of rules an ACL claim carries (list form, or the pub/sub/all map). */
function countAclRules(acl: unknown): number {
  if (Array.isArray(acl)) return acl.length
  if (isMapping(acl)) {
    let n = 0
    for (const v of Object.values(acl)) n += Array.isArray(v) ? v.length : typeof v === 'string' ? 1 : 0
    return n
  }
  return 0
}

export interface ClientsAdminOptions {
  readonly broker: Broker
  readonly chain: AuthenticatorChain
  readonly logger: Logger
  /** The current authorization settings (the ACL and superuser claim names). */
  readonly authorization: () => AuthorizationConfig
  /** Cluster: this node's id, shown on each entry (`node`). */
  readonly nodeId?: string
}

export class ClientsAdmin {
  readonly #options: ClientsAdminOptions

  constructor(options: ClientsAdminOptions) {
    this.#options = options
  }

  /** The session held for `clientId` (connected, or persistent and offline), or 404. */
  #session(clientId: string): Session {
    const session = this.#options.broker.sessions.get(clientId)
    if (session === undefined || (session.connection !== undefined && session.connection.state !== 'connected')) {
      throw new ApiError('ERR_NOT_FOUND', `no connected client or offline session with id '${clientId}'`)
    }
    return session
  }

  #connectedView(conn: Connection, session: Session): ConnectedClientView {
    const identity = conn.identity
    const claims = identity?.claims
    // With `from: username` the username IS the token: never shown.
    const usernameIsToken = this.#options.chain.usernameIsToken(conn)
    const superuserClaim = this.#options.authorization().superuserClaim
    const sub = claims?.['sub']
    const iss = claims?.['iss']
    const cert = identity?.certificate
    // A client that only an x509 authenticator accepted has certificate fields for claims, no token.
    const byCertificate = this.#options.chain.authenticators.find((a) => a.name === identity?.authenticator)?.type === 'x509'
    const token = claims === undefined || byCertificate ? undefined : {
      ...(typeof sub === 'string' ? { subject: sub } : {}),
      ...(typeof iss === 'string' ? { issuer: iss } : {}),
      ...(identity?.expiresAt !== undefined ? { expiresAt: new Date(identity.expiresAt).toISOString() } : {}),
    }
    return {
      clientId: conn.clientId,
      connected: true,
      ...(this.#options.nodeId !== undefined ? { node: this.#options.nodeId } : {}),
      ...(conn.username !== undefined && !usernameIsToken ? { username: conn.username } : {}),
      ...(usernameIsToken ? { usernameIsToken: true as const } : {}),
      address: conn.remoteAddress,
      protocolVersion: conn.protocolVersion,
      listener: conn.listener,
      connectedAt: new Date(conn.createdAt).toISOString(),
      keepAlive: conn.keepAlive,
      authenticator: identity?.authenticator ?? null,
      anonymous: identity?.anonymous ?? true,
      ...(token !== undefined ? { token } : {}),
      ...(cert !== undefined
        ? {
          certificate: {
            ...(cert.cn !== undefined ? { cn: cert.cn } : {}), san: cert.san, fingerprint256: cert.fingerprint256, serialNumber: cert.serialNumber,
            issuer: cert.issuer, validFrom: new Date(cert.validFrom).toISOString(), validTo: new Date(cert.validTo).toISOString(),
          },
        }
        : {}),
      ...(identity?.vouchedBy !== undefined ? { vouchedBy: identity.vouchedBy } : {}),
      acl: {
        tokenRules: countAclRules(claims?.[this.#options.authorization().aclClaim]),
        superuser: superuserClaim !== undefined && claims?.[superuserClaim] === true,
      },
      subscriptions: session.subscriptionCount,
      queued: session.queue.length,
      session: { expiryInterval: session.expiryInterval },
    }
  }

  /** An offline session; when it ends comes from the record the broker stored at disconnect,
   *  who left it and when from the session's last connection. */
  #offlineView(session: Session): OfflineClientView {
    const expiresAt = this.#options.broker.sessions.expiresAt(session)
    const last = session.lastConnection
    return {
      clientId: session.clientId,
      connected: false,
      ...(this.#options.nodeId !== undefined ? { node: this.#options.nodeId } : {}),
      ...(last === undefined ? {} : {
        ...(last.username !== undefined ? { username: last.username } : {}),
        ...(last.usernameIsToken ? { usernameIsToken: true as const } : {}),
        address: last.remoteAddress,
        protocolVersion: last.protocolVersion,
        disconnectedAt: new Date(last.disconnectedAt).toISOString(),
      }),
      subscriptions: session.subscriptionCount,
      queued: session.queue.length,
      session: {
        expiryInterval: session.expiryInterval,
        ...(expiresAt !== undefined
          ? { expiresAt: new Date(expiresAt).toISOString(), expiresInSeconds: Math.max(0, Math.ceil((expiresAt - clock.now()) / 1000)) }
          : {}),
      },
    }
  }

  #view(session: Session): ClientView {
    const conn = session.connection
    return conn !== undefined ? this.#connectedView(conn, session) : this.#offlineView(session)
  }

  /**
   * Connected clients and offline persistent sessions (`state`: all, the default;
   * connected; offline). Every entry says `connected`. In client id order (code-unit order),
   * or by `sort` (connectedAt, address; ties by client id; entries without the key last) in
   * `order` (asc, desc). `q` keeps the ids containing it; `limit` (1..CLIENT_PAGE_MAX)
   * answers one page — the entries after `after` (and `afterKey`, its sort key) — picked
   * without sorting the whole list, and views are built for that page only. A page shorter
   * than `limit` is the last.
   */
  listClients(query: Readonly<Record<string, unknown>> = {}): ClientView[] {
    const state = query['state'] ?? 'all'
    if (typeof state !== 'string' || !(CLIENT_STATES as readonly string[]).includes(state)) {
      throw new ApiError('ERR_VALIDATION', `state: must be one of ${CLIENT_STATES.join(', ')} (got ${JSON.stringify(state)})`, 'state')
    }
    const q = optionalText(query, 'q')
    const limit = query['limit'] === undefined ? undefined : pageNumber(query, 'limit', CLIENT_PAGE_MAX, CLIENT_PAGE_MAX)
    const { sort, direction, after } = clientOrderOf(query)
    const wanted: { readonly id: string; readonly key: number | string | undefined; readonly session: Session }[] = []
    for (const session of this.#options.broker.sessions.values()) {
      const conn = session.connection
      if (conn !== undefined && conn.state !== 'connected') continue // being taken over or closed
      if (state !== 'all' && (state === 'connected') !== (conn !== undefined)) continue
      if (q !== undefined && !session.clientId.includes(q)) continue
      const entry = { id: session.clientId, key: sortKeyOf(session, sort), session }
      if (after !== undefined && compareKeyed(entry, after, direction) <= 0) continue
      wanted.push(entry)
    }
    const compare = (a: Keyed, b: Keyed): number => compareKeyed(a, b, direction)
    const page = limit === undefined ? wanted.sort(compare) : firstInOrder(wanted, limit, compare)
    return page.map((e) => this.#view(e.session))
  }

  getClient(clientId: string): ClientDetail {
    const session = this.#session(clientId)
    return {
      ...this.#view(session),
      subscriptionList: [...(session.subscriptionCount > 0 ? session.subscriptions.values() : [])].map((s) => ({ topic: s.key, qos: s.qos })),
      inflight: session.inflightCount,
      queued: session.queue.length,
    }
  }

  /** A connected client's effective permissions, and one check worked out (`action`, `topic`, `qos`, `retain`). */
  getPermissions(clientId: string, query: Readonly<Record<string, unknown>> = {}): ClientPermissionsView {
    const conn = this.#session(clientId).connection
    if (conn === undefined) {
      throw new ApiError('ERR_NOT_FOUND', `client '${clientId}' is not connected: permissions are worked out when a client connects (an offline session has none)`)
    }
    return clientPermissions(conn, query)
  }

  /**
   * A connected client: DISCONNECT 0x98 (Administrative action) for MQTT 5, the connection
   * closed for 3.x; its session then lives on or ends as its expiry says. An offline
   * session: ended now (subscriptions and queued messages dropped, a delayed will published
   * now, as when a session ends (MQTT 5 §3.1.3.2.2)); the client's next CONNECT starts a new session.
   */
  disconnectClient(clientId: string): void {
    const session = this.#session(clientId)
    const conn = session.connection
    if (conn !== undefined) {
      this.#options.logger.info({ clientId }, 'admin: client disconnected')
      conn.disconnect(ReasonCode.AdministrativeAction, 'disconnected by an administrator')
      return
    }
    this.#options.logger.info({ clientId, subscriptions: session.subscriptionCount, queued: session.queue.length }, 'admin: offline session ended')
    this.#options.broker.sessions.end(session)
  }
}
