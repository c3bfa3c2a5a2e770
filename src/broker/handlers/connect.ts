/**
 * CONNECT [MQTT-3.1]: validate, authenticate (asynchronously, holding later packets),
 * authorize the connection, take over or resume the session, then CONNACK.
 */
import { randomBytes } from 'node:crypto'
import type mqtt from 'mqtt-packet'
import type { ChainResult } from '../../auth/chain.js'
import { bindClientId } from '../../auth/identity.js'
import type { Credentials, Identity, PeerCertificate } from '../../auth/types.js'
import type { AuthzSubject } from '../../authz/types.js'
import type { ProtocolVersion } from '../../mqtt/types.js'
import { PortcullisError, toReasonCode, type ErrorCode } from '../../errors.js'
import { describeRefusedToken } from '../refusals.js'
import { ReasonCode, v3ConnackCode } from '../../protocol/reason-codes.js'
import { hasMoreLevels, isValidTopicName } from '../../protocol/topic.js'
import { isValidUtf8Field } from '../../protocol/utf8.js'
import type { Connection } from '../connection.js'
import { NEVER_EXPIRES } from '../../mqtt/types.js'
import { forwardableProperties } from '../properties.js'
import { contained } from '../contain.js'
import type { Session } from '../session.js'
import type { Limits } from '../limits.js'
import { encodePacket } from '../../protocol/encode.js'
/** MQTT 3.1.1 CONNACK "accepted" (without / with session present) — the same bytes every time. */
const V3_CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00])
const V3_CONNACK_ACCEPTED_PRESENT = Buffer.from([0x20, 0x02, 0x01, 0x00])

/** The properties of every MQTT 5 CONNACK "accepted": what this broker allows and offers. */
function connackProperties(limits: Limits): NonNullable<mqtt.IConnackPacket['properties']> {
  return {
    receiveMaximum: limits.receiveMaximum,
    maximumPacketSize: limits.maxPacketSize,
    topicAliasMaximum: limits.topicAliasMaximum,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  }
}

/**
 * MQTT 5 CONNACK "accepted" with only connackProperties() (no Server Keep Alive, assigned client
 * id, changed Session Expiry or authentication method: most clients), without / with session
 * present: the same bytes for every such client of a broker, so encoded once per broker (its
 * limits). Why: mqtt-packet took 4-6 us to encode it, per connect.
 */
const ACCEPTED_V5 = new WeakMap<Limits, readonly [Buffer, Buffer]>()

function acceptedV5(limits: Limits, sessionPresent: boolean): Buffer {
  let pair = ACCEPTED_V5.get(limits)
  if (pair === undefined) {
    const encode = (present: boolean): Buffer => encodePacket({ cmd: 'connack', sessionPresent: present, reasonCode: 0, properties: connackProperties(limits) }, 5)
    pair = [encode(false), encode(true)]
    ACCEPTED_V5.set(limits, pair)
  }
  return pair[sessionPresent ? 1 : 0]
}

/*
 * What a CONNECT hands to the authentication chain and to the authorizers: classes with the
 * address getter on their prototype, not object literals with a getter. Why: V8 builds a literal
 * with a getter in its runtime, as a dictionary (~0.6 us each, measured), where a class instance
 * costs ~10 ns; two per connect. The address is read only if an authenticator or a policy with an
 * IP condition asks (connection.ts).
 */
class ConnectCredentials implements Credentials {
  readonly #conn: Connection
  readonly clientId: string
  readonly username: string | undefined
  readonly password: Buffer | undefined
  readonly authMethod: string | undefined
  readonly authData: Buffer | undefined
  readonly protocolVersion: ProtocolVersion
  readonly reauth = false
  // absent, not undefined, unless given (as the literal's optional keys were)
  declare readonly upgradeToken?: string
  declare readonly certificate?: PeerCertificate

  constructor(conn: Connection, clientId: string, packet: mqtt.IConnectPacket, upgradeToken: string | undefined, certificate: PeerCertificate | undefined) {
    this.#conn = conn
    this.clientId = clientId
    this.username = packet.username
    this.password = packet.password
    this.authMethod = packet.properties?.authenticationMethod
    this.authData = packet.properties?.authenticationData
    this.protocolVersion = conn.protocolVersion
    if (upgradeToken !== undefined) (this as { upgradeToken?: string }).upgradeToken = upgradeToken
    if (certificate !== undefined) (this as { certificate?: PeerCertificate }).certificate = certificate
  }

  get remoteAddress(): string {
    return this.#conn.remoteAddress
  }
}

class ConnectAuthzSubject implements AuthzSubject {
  readonly #conn: Connection
  readonly clientId: string
  readonly username: string | undefined
  readonly identity: Identity

  constructor(conn: Connection, clientId: string, identity: Identity) {
    this.#conn = conn
    this.clientId = clientId
    this.username = conn.username
    this.identity = identity
  }

  get remoteAddress(): string {
    return this.#conn.remoteAddress
  }
}

/** Refuse a CONNECT with a v5 reason code (v3 return code derived from it) and close. */
export function refuseConnect(conn: Connection, reason: number, reasonString?: string): void {
  if (conn.v5) {
    const properties = reasonString !== undefined ? { reasonString } : undefined
    conn.send({ cmd: 'connack', sessionPresent: false, reasonCode: reason, properties })
  } else {
    conn.send({ cmd: 'connack', sessionPresent: false, returnCode: v3ConnackCode(reason) })
  }
  conn.close()
}

/**
 * Refuse an authenticated-or-not CONNECT for an authentication or authorization reason: the
 * refusal is kept in the broker's refusal log (with the token's unverified sub/iss/kid/exp, never
 * the token), and MQTT 5 clients are told the reason text only when `authentication.reasonString`
 * is on — it tells an attacker which check failed.
 */
function refuseCredentials(
  conn: Connection, packet: mqtt.IConnectPacket, clientId: string, code: ErrorCode, message: string, authenticator: string | undefined,
): void {
  const reasonCode = toReasonCode(code)
  const token = describeRefusedToken(packet.password, packet.username, packet.properties?.authenticationData)
  conn.broker.refusals.record({
    clientId, address: conn.remoteAddress, listener: conn.listener, protocolVersion: conn.protocolVersion,
    ...(authenticator !== undefined ? { authenticator } : {}), code, reasonCode, reason: message, ...(token !== undefined ? { token } : {}),
  })
  refuseConnect(conn, reasonCode, conn.broker.connackReasonString ? message.slice(0, 1024) : undefined)
}

/**
 * Refuse a CONNECT before authentication (a protocol error, an invalid client id or will
 * topic, a protocol level we do not speak, the connection rate): kept in the refusal log like
 * the credential refusals — so "why was this client refused?" has an answer for these too —
 * then CONNACK with the code's reason (`close` instead: 3.1.1 has no such return code).
 */
export function refuseBeforeAuthentication(conn: Connection, code: ErrorCode, message: string, close = false): void {
  recordPreAuthRefusal(conn, code, message)
  if (close) conn.close()
  else refuseConnect(conn, toReasonCode(code))
}

/** The refusal log entry for a client refused before authentication (no token is read). */
export function recordPreAuthRefusal(conn: Connection, code: ErrorCode, message: string): void {
  conn.broker.refusals.record({
    clientId: conn.clientId, address: conn.remoteAddress, listener: conn.listener, protocolVersion: conn.protocolVersion,
    code, reasonCode: toReasonCode(code), reason: message.slice(0, 1024),
  })
}

/** The authenticator and token subject a log line names (never the token). */
export function identityFields(identity: Identity | undefined): { authenticator?: string; sub?: string } {
  if (identity === undefined) return {}
  const sub = identity.claims?.['sub']
  return { authenticator: identity.authenticator, ...(typeof sub === 'string' ? { sub } : {}) }
}

/**
 * Refuse a CONNECT with a protocol level we do not support [MQTT-3.1.2-2]: a newer level
 * gets the MQTT 5 CONNACK 0x84 (the form a newer client is most likely to read), an older
 * one the 3.1.1 return code 1.
 */
export function refuseProtocolVersion(conn: Connection, level: number): void {
  conn.broker.logger.info({ remote: conn.remoteAddress, level }, 'unsupported protocol level')
  conn.protocolVersion = level > 5 ? 5 : 4
  refuseBeforeAuthentication(conn, 'ERR_UNSUPPORTED_PROTOCOL_VERSION', `protocol level ${level} is not supported (3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0)`)
}

export function handleConnect(conn: Connection, packet: mqtt.IConnectPacket): void {
  const broker = conn.broker
  const version = packet.protocolVersion ?? 4
  conn.protocolVersion = version
  // From here on packets are decoded as this client's protocol version (v5 properties etc.).
  const props = packet.properties ?? {}
  const log = broker.logger
  // Named in a refusal before authentication (the refusal log); a session is bound to it only once accepted.
  if (isValidUtf8Field(packet.clientId ?? '')) conn.clientId = packet.clientId ?? ''

  if (version === 5) {
    if (props.receiveMaximum === 0 || props.maximumPacketSize === 0) {
      log.info({ remote: conn.remoteAddress }, 'CONNECT with Receive Maximum or Maximum Packet Size 0')
      refuseBeforeAuthentication(conn, 'ERR_PROTOCOL', 'CONNECT with Receive Maximum or Maximum Packet Size 0 [MQTT-3.1.2-23]')
      return
    }
    if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
      refuseBeforeAuthentication(conn, 'ERR_PROTOCOL', 'CONNECT with Authentication Data but no Authentication Method')
      return
    }
  }

  let clientId = packet.clientId ?? ''
  let assigned: string | undefined
  if (!isValidUtf8Field(clientId) || (packet.username !== undefined && !isValidUtf8Field(packet.username))) {
    conn.fail('ERR_MALFORMED_PACKET', 'CONNECT with an ill-formed UTF-8 string')
    return
  }
  if (clientId === '') {
    // 3.1.1 allows an empty id only with clean session [MQTT-3.1.3-7, MQTT-3.1.3-8]; 3.1 never.
    if (version === 3 || (version === 4 && packet.clean === false)) {
      log.info({ remote: conn.remoteAddress }, 'empty client id refused')
      refuseBeforeAuthentication(conn, 'ERR_CLIENT_ID_INVALID', `an empty client id needs ${version === 3 ? 'MQTT 3.1.1 or 5.0' : 'clean session'} [MQTT-3.1.3-8]`)
      return
    }
    clientId = `portcullis-${randomBytes(9).toString('base64url')}`
    if (version === 5) assigned = clientId
  }

  const will = packet.will
  if (will !== undefined) {
    // A will topic deeper than maxTopicLevels could never be published: refused like an invalid one.
    if (!isValidTopicName(will.topic) || hasMoreLevels(will.topic, broker.limits.maxTopicLevels)) {
      log.info({ remote: conn.remoteAddress }, 'will topic invalid')
      refuseBeforeAuthentication(conn, 'ERR_TOPIC_NAME_INVALID', 'the will topic is not a valid topic name (or has more levels than maxTopicLevels)', !conn.v5)
      return
    }
  }

  conn.clientId = clientId
  conn.username = packet.username
  conn.connectUsername = packet.username
  conn.keepAlive = packet.keepalive ?? 0
  let serverKeepAlive: number | undefined
  const max = broker.limits.maxKeepAlive
  if (version === 5 && max > 0 && (conn.keepAlive === 0 || conn.keepAlive > max)) {
    serverKeepAlive = max
    conn.keepAlive = max
  }
  if (conn.keepAlive === 0) conn.probePeerWhenSilent()
  conn.authMethod = props.authenticationMethod

  // A listener that requests certificates admits no client whose certificate is missing or
  // failed verification (expired, revoked, another CA's), whatever else it presents.
  const presented = conn.clientCertificate
  if (presented !== undefined && !presented.ok) {
    broker.countAuthFailure(presented.error.code, undefined)
    log.info({ clientId, remote: conn.remoteAddress, listener: conn.listener, code: presented.error.code }, `connection refused: ${presented.error.message}`)
    refuseCredentials(conn, packet, clientId, presented.error.code, presented.error.message, undefined)
    return
  }

  conn.state = 'authenticating'
  conn.stream.pause()
  const upgradeToken = conn.upgradeToken
  // handed to this authentication only, then dropped (never kept on the connection)
  conn.upgradeToken = undefined
  broker.auth
    .authenticate(new ConnectCredentials(conn, clientId, packet, upgradeToken, presented?.ok === true ? presented.certificate : undefined))
    .then(
      (result) => completeConnect(conn, packet, result, { clientId, sentClientId: packet.clientId ?? '', assigned, serverKeepAlive }),
      (err: unknown) => {
        log.error({ err, clientId }, 'authentication failed unexpectedly')
        if (conn.open) refuseConnect(conn, ReasonCode.UnspecifiedError)
      },
    )
    // A fault while completing CONNECT costs this connection, not the process (unhandled rejection).
    .catch((err: unknown) => contained(log, conn, 'completing CONNECT', err))
}

/**
 * The client id and username the credential names (authenticator `identity`), applied to
 * the connection; undefined when the client was refused for sending another client id.
 */
function bindIdentity(conn: Connection, packet: mqtt.IConnectPacket, d: ConnectDecisions, identity: Identity): ConnectDecisions | undefined {
  if (identity.username !== undefined) conn.username = identity.username
  const binding = bindClientId(d.sentClientId, identity)
  if (binding === undefined) return d
  if (!binding.ok) {
    conn.broker.countAuthFailure(binding.error.code, identity.authenticator)
    conn.broker.logger.info({ clientId: d.sentClientId, remote: conn.remoteAddress, authenticator: identity.authenticator, code: binding.error.code }, `connection refused: ${binding.error.message}`)
    refuseCredentials(conn, packet, d.sentClientId, binding.error.code, binding.error.message, identity.authenticator)
    return undefined
  }
  conn.clientId = binding.clientId
  // MQTT 5 tells the client the id it now has [MQTT-3.2.2-16]; a 3.1.1 client cannot be told.
  const assigned = conn.v5 && binding.assigned ? binding.clientId : undefined
  return { ...d, clientId: binding.clientId, assigned }
}

interface ConnectDecisions {
  readonly clientId: string
  /** The client id the CONNECT carried ('' for none). */
  readonly sentClientId: string
  readonly assigned: string | undefined
  readonly serverKeepAlive: number | undefined
}

function completeConnect(conn: Connection, packet: mqtt.IConnectPacket, result: ChainResult, decided: ConnectDecisions): void {
  if (!conn.open) return
  const broker = conn.broker
  const log = broker.logger
  if (broker.closing) {
    refuseConnect(conn, ReasonCode.ServerUnavailable)
    return
  }
  if (!result.ok) {
    broker.countAuthFailure(result.error.code, result.authenticator)
    // An authenticator's fault is logged as an error, with its stack (never the token). When
    // every authenticator passed the client on, each one's reason is listed.
    const fault = result.error.code === 'ERR_AUTH_INTERNAL'
    log[fault ? 'error' : 'info'](
      {
        clientId: decided.clientId, remote: conn.remoteAddress, authenticator: result.authenticator, code: result.error.code,
        ...(fault ? { err: result.error.cause } : {}),
        ...(result.reasons !== undefined && result.reasons.length > 1 ? { reasons: result.reasons } : {}),
      },
      `authentication refused: ${result.error.message}`,
    )
    refuseCredentials(conn, packet, decided.clientId, result.error.code, result.error.message, result.authenticator)
    return
  }
  const identity = result.identity
  const d = bindIdentity(conn, packet, decided, identity)
  if (d === undefined) return
  const authz = broker.authz.compile(new ConnectAuthzSubject(conn, d.clientId, identity))
  if (!authz.canConnect()) {
    broker.stats.authzDenied.connect++
    log.info({ clientId: d.clientId, remote: conn.remoteAddress, authenticator: identity.authenticator }, 'connection not authorized')
    refuseCredentials(conn, packet, d.clientId, 'ERR_AUTHZ_DENIED', 'not authorized to connect', identity.authenticator)
    return
  }

  // Nothing could be stored (the cluster's Redis is down): refuse rather than accept a session
  // that a takeover elsewhere could not see, or acknowledge what cannot be kept.
  if (!broker.commits.available) {
    log.warn({ clientId: d.clientId, remote: conn.remoteAddress }, 'connection refused: the state store is unreachable')
    refuseCredentials(conn, packet, d.clientId, 'ERR_STORE_UNAVAILABLE', 'the cluster state store (Redis) is unreachable', identity.authenticator)
    return
  }

  const props = packet.properties ?? {}
  const version = conn.protocolVersion
  const requested = version === 5 ? (props.sessionExpiryInterval ?? 0) : packet.clean === false ? NEVER_EXPIRES : 0
  const expiry = Math.min(requested, broker.limits.maxSessionExpiry)

  const will = packet.will
  if (will !== undefined) {
    const wp = will.properties ?? {}
    conn.will = {
      topic: will.topic,
      payload: Buffer.isBuffer(will.payload) ? will.payload : Buffer.from(will.payload),
      qos: (will.qos ?? 0),
      retain: will.retain === true,
      properties: version === 5 ? forwardableProperties(wp) : undefined,
      expiresAt: undefined,
      origin: d.clientId,
    }
    conn.willExpiry = wp.messageExpiryInterval
    conn.willDelay = wp.willDelayInterval ?? 0
  }
  conn.identity = identity
  conn.authz = authz

  if (!broker.sessions.claims) {
    openSession(conn, packet, d, expiry, requested)
    return
  }
  // A cluster: the client id is claimed cluster-wide first (the node holding it closes its
  // connection with 0x8E) and the session as stored comes with the claim.
  broker.sessions.claim(d.clientId, packet.clean !== false).then(() => {
    if (!conn.open) return
    if (broker.closing) {
      refuseConnect(conn, ReasonCode.ServerUnavailable)
      return
    }
    openSession(conn, packet, d, expiry, requested)
  }, (err: unknown) => {
    log.warn({ clientId: d.clientId, remote: conn.remoteAddress, err: { message: err instanceof Error ? err.message : String(err) } }, 'connection refused: the client id could not be claimed in the cluster')
    // A newer connection of the same client id on another node won the claim: server unavailable
    // (try again), like a claim Redis could not answer.
    const overtaken = err instanceof PortcullisError && err.code === 'ERR_SESSION_TAKEN_OVER'
    if (conn.open) refuseCredentials(conn, packet, d.clientId, 'ERR_STORE_UNAVAILABLE', overtaken ? 'a newer connection of this client id on another node claimed it first' : 'the cluster state store (Redis) is unreachable', identity.authenticator)
  }).catch((err: unknown) => contained(log, conn, 'completing CONNECT', err))
}

function openSession(conn: Connection, packet: mqtt.IConnectPacket, d: ConnectDecisions, expiry: number, requested: number): void {
  const broker = conn.broker
  const version = conn.protocolVersion
  const props = packet.properties ?? {}
  const mark = broker.commits.recorded
  const { session, present: sessionPresent } = broker.sessions.open(conn, d.clientId, packet.clean !== false, expiry)
  // A session kept after the connection shows its last address (admin API), read while the socket is open.
  if (session.expiryInterval > 0) conn.keepAddress()
  conn.connectSessionExpiry = expiry
  if (version === 5) {
    conn.sendQuota = Math.min(props.receiveMaximum ?? 65535, broker.limits.maxInflight)
    if (props.maximumPacketSize !== undefined) conn.maxOutgoingPacket = props.maximumPacketSize
    conn.outAliasMax = props.topicAliasMaximum ?? 0
  } else {
    conn.sendQuota = broker.limits.maxInflight
  }

  // CONNACK (Session Present above all) once the session is stored; the store failing refuses
  // the CONNECT. Until then the connection is not 'connected': nothing is sent to it before CONNACK.
  broker.afterCommit((err) => {
    if (!conn.open) return
    if (err !== undefined) {
      conn.will = undefined
      refuseConnect(conn, toReasonCode(err instanceof PortcullisError && err.code === 'ERR_STORE_UNAVAILABLE' ? err.code : 'ERR_STORE_WRITE'))
      return
    }
    acceptConnect(conn, session, sessionPresent, expiry, requested, d)
  }, mark)
}

function acceptConnect(conn: Connection, session: Session, sessionPresent: boolean, expiry: number, requested: number, d: ConnectDecisions): void {
  const broker = conn.broker
  const version = conn.protocolVersion
  conn.state = 'connected'
  if (version === 5 && d.serverKeepAlive === undefined && d.assigned === undefined && expiry === requested && conn.authMethod === undefined) {
    conn.write(acceptedV5(broker.limits, sessionPresent))
  } else if (version === 5) {
    const properties = connackProperties(broker.limits)
    if (d.serverKeepAlive !== undefined) properties.serverKeepAlive = d.serverKeepAlive
    if (d.assigned !== undefined) properties.assignedClientIdentifier = d.assigned
    if (expiry !== requested) properties.sessionExpiryInterval = expiry
    if (conn.authMethod !== undefined) properties.authenticationMethod = conn.authMethod
    conn.send({ cmd: 'connack', sessionPresent, reasonCode: 0, properties })
  } else {
    conn.write(sessionPresent ? V3_CONNACK_ACCEPTED_PRESENT : V3_CONNACK_ACCEPTED)
  }
  // The address is read only when the line is written; then the disconnect line has it too.
  if (broker.logger.isLevelEnabled('info')) broker.logger.info({ clientId: d.clientId, remote: conn.remoteAddress, listener: conn.listener, version, sessionPresent, ...identityFields(conn.identity) }, 'client connected')
  conn.resumeReading()
  broker.resend(session)
  conn.releaseHeld()
}
