/**
 * Typed errors with stable codes. Every error a client can cause carries one of these
 * codes; `toReasonCode` is the only mapping from errors to MQTT reason codes.
 */
import { ReasonCode } from './protocol/reason-codes.js'

export const ErrorCodes = {
  // configuration (start-up only)
  ERR_CONFIG: 'invalid configuration',
  // protocol
  ERR_MALFORMED_PACKET: 'malformed packet',
  ERR_PROTOCOL: 'protocol error',
  ERR_UNSUPPORTED_PROTOCOL_VERSION: 'unsupported protocol version',
  ERR_CLIENT_ID_INVALID: 'client identifier not valid',
  ERR_PACKET_TOO_LARGE: 'packet too large',
  ERR_TOPIC_NAME_INVALID: 'topic name invalid',
  ERR_TOPIC_FILTER_INVALID: 'topic filter invalid',
  ERR_TOPIC_ALIAS_INVALID: 'topic alias invalid',
  ERR_RECEIVE_MAXIMUM_EXCEEDED: 'receive maximum exceeded',
  ERR_KEEP_ALIVE_TIMEOUT: 'keep alive timeout',
  ERR_CONNECT_TIMEOUT: 'connect timeout',
  ERR_SESSION_TAKEN_OVER: 'session taken over',
  ERR_SERVER_SHUTTING_DOWN: 'server shutting down',
  ERR_QUOTA_EXCEEDED: 'quota exceeded',
  ERR_CONNECTION_RATE_EXCEEDED: 'connection rate exceeded',
  ERR_STORE_WRITE: 'the state store cannot write',
  ERR_STORE_UNAVAILABLE: 'the cluster state store (Redis) is unreachable',
  ERR_PAYLOAD_FORMAT_INVALID: 'payload format invalid',
  ERR_ADMINISTRATIVE_ACTION: 'administrative action',
  ERR_INTERNAL: 'internal fault while serving the client',
  // authentication
  ERR_AUTH_NO_CREDENTIALS: 'no credentials',
  ERR_AUTH_BAD_CREDENTIALS: 'bad credentials',
  ERR_AUTH_METHOD_UNSUPPORTED: 'unsupported authentication method',
  ERR_AUTH_INTERNAL: 'authenticator failed unexpectedly',
  ERR_JWT_MALFORMED: 'token malformed',
  ERR_JWT_TOO_LARGE: 'token too large',
  ERR_JWT_ALG_NOT_ALLOWED: 'token algorithm not allowed',
  ERR_JWT_SIGNATURE_INVALID: 'token signature invalid',
  ERR_JWT_KID_UNKNOWN: 'token key id unknown',
  ERR_JWT_CRIT_UNSUPPORTED: 'token crit header not understood',
  ERR_JWT_EXPIRED: 'token expired',
  ERR_JWT_NOT_YET_VALID: 'token not yet valid',
  ERR_JWT_ISSUED_IN_FUTURE: 'token issued in the future',
  ERR_JWT_TOO_OLD: 'token issued too early',
  ERR_JWT_ISSUER: 'token issuer not trusted',
  ERR_JWT_AUDIENCE: 'token audience not accepted',
  ERR_JWT_CLAIM_MISSING: 'required claim missing',
  ERR_JWT_CLAIM_MISMATCH: 'claim does not match',
  ERR_JWKS_UNAVAILABLE: 'key set not available',
  ERR_TOKEN_INACTIVE: 'token not active',
  ERR_AUTH_SERVICE_UNAVAILABLE: 'authentication service unavailable',
  ERR_IDENTITY_CLAIM: 'identity claim missing or unusable',
  ERR_AUTH_SERVICE_DENIED: 'authentication service denied',
  ERR_TOKEN_REVOKED: 'token revoked',
  ERR_CERT_MISSING: 'no client certificate',
  ERR_CERT_UNTRUSTED: 'client certificate not issued by a trusted CA',
  ERR_CERT_EXPIRED: 'client certificate expired or not yet valid',
  ERR_CERT_REVOKED: 'client certificate revoked',
  ERR_CERT_INVALID: 'client certificate not accepted',
  ERR_DEVICE_UNKNOWN: 'device not registered',
  ERR_DEVICE_DISABLED: 'device disabled',
  ERR_DEVICE_KEY_EXPIRED: 'device has no valid key',
  // authorization
  ERR_AUTHZ_DENIED: 'not authorized',
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class PortcullisError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code], options)
    this.name = 'PortcullisError'
    this.code = code
  }
}

/** A configuration mistake, raised at start-up (or on an admin change), never per client. */
export class ConfigError extends PortcullisError {
  readonly path: string
  /** What is wrong at `path` (the message without the path). */
  readonly reason: string
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', `${path}: ${reason}`, options)
    this.name = 'ConfigError'
    this.path = path
    this.reason = reason
  }
}

/** The one mapping from error codes to MQTT 5 reason codes (v3 codes derive from these). */
export function toReasonCode(code: ErrorCode): number {
  switch (code) {
    case 'ERR_MALFORMED_PACKET':
      return ReasonCode.MalformedPacket
    case 'ERR_PROTOCOL':
    case 'ERR_CONNECT_TIMEOUT':
      return ReasonCode.ProtocolError
    case 'ERR_UNSUPPORTED_PROTOCOL_VERSION':
      return ReasonCode.UnsupportedProtocolVersion
    case 'ERR_CLIENT_ID_INVALID':
      return ReasonCode.ClientIdentifierNotValid
    case 'ERR_PACKET_TOO_LARGE':
      return ReasonCode.PacketTooLarge
    case 'ERR_TOPIC_NAME_INVALID':
      return ReasonCode.TopicNameInvalid
    case 'ERR_TOPIC_FILTER_INVALID':
      return ReasonCode.TopicFilterInvalid
    case 'ERR_TOPIC_ALIAS_INVALID':
      return ReasonCode.TopicAliasInvalid
    case 'ERR_RECEIVE_MAXIMUM_EXCEEDED':
      return ReasonCode.ReceiveMaximumExceeded
    case 'ERR_KEEP_ALIVE_TIMEOUT':
      return ReasonCode.KeepAliveTimeout
    case 'ERR_SESSION_TAKEN_OVER':
      return ReasonCode.SessionTakenOver
    case 'ERR_SERVER_SHUTTING_DOWN':
      return ReasonCode.ServerShuttingDown
    // ERR_STORE_WRITE: disk full or a read-only file: what the client sent could not be stored.
    case 'ERR_QUOTA_EXCEEDED':
    case 'ERR_STORE_WRITE':
      return ReasonCode.QuotaExceeded
    case 'ERR_CONNECTION_RATE_EXCEEDED':
      return ReasonCode.ConnectionRateExceeded
    case 'ERR_PAYLOAD_FORMAT_INVALID':
      return ReasonCode.PayloadFormatInvalid
    case 'ERR_ADMINISTRATIVE_ACTION':
      return ReasonCode.AdministrativeAction
    case 'ERR_INTERNAL':
      return ReasonCode.ImplementationSpecificError
    case 'ERR_AUTH_METHOD_UNSUPPORTED':
      return ReasonCode.BadAuthenticationMethod
    case 'ERR_JWKS_UNAVAILABLE':
    case 'ERR_AUTH_SERVICE_UNAVAILABLE':
    case 'ERR_STORE_UNAVAILABLE':
      return ReasonCode.ServerUnavailable
    case 'ERR_AUTH_INTERNAL':
      return ReasonCode.UnspecifiedError
    case 'ERR_AUTHZ_DENIED':
      return ReasonCode.NotAuthorized
    case 'ERR_JWT_EXPIRED':
      return ReasonCode.BadUserNameOrPassword
    case 'ERR_AUTH_NO_CREDENTIALS':
    case 'ERR_AUTH_BAD_CREDENTIALS':
    case 'ERR_JWT_MALFORMED':
    case 'ERR_JWT_TOO_LARGE':
    case 'ERR_JWT_ALG_NOT_ALLOWED':
    case 'ERR_JWT_SIGNATURE_INVALID':
    case 'ERR_JWT_KID_UNKNOWN':
    case 'ERR_JWT_CRIT_UNSUPPORTED':
    case 'ERR_JWT_NOT_YET_VALID':
    case 'ERR_JWT_ISSUED_IN_FUTURE':
    case 'ERR_JWT_TOO_OLD':
    case 'ERR_JWT_ISSUER':
    case 'ERR_JWT_AUDIENCE':
    case 'ERR_JWT_CLAIM_MISSING':
    case 'ERR_JWT_CLAIM_MISMATCH':
    case 'ERR_TOKEN_INACTIVE':
    case 'ERR_IDENTITY_CLAIM':
    case 'ERR_AUTH_SERVICE_DENIED':
    case 'ERR_TOKEN_REVOKED':
    case 'ERR_CERT_MISSING':
    case 'ERR_CERT_UNTRUSTED':
    case 'ERR_CERT_EXPIRED':
    case 'ERR_CERT_REVOKED':
    case 'ERR_CERT_INVALID':
    case 'ERR_DEVICE_UNKNOWN':
    case 'ERR_DEVICE_KEY_EXPIRED':
      return ReasonCode.BadUserNameOrPassword
    // An operator switched the device off: MQTT 5 Banned (3.1.1: 5 not authorized).
    case 'ERR_DEVICE_DISABLED':
      return ReasonCode.Banned
    case 'ERR_CONFIG':
      return ReasonCode.UnspecifiedError
  }
}

/** Reason codes a DISCONNECT may carry (MQTT 5 §3.14.2.1); the others are CONNACK (or ack) codes only. */
const DISCONNECT_REASONS: ReadonlySet<number> = new Set([
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
  0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
])

/**
 * The reason a client that is already connected is disconnected with for an error: the
 * credential it connected with ran out (a token's exp, its certificate's notAfter, its device
 * key's expiry) → 0xA0 Maximum connect time; one an operator withdrew → 0x98 Administrative
 * action; otherwise toReasonCode's, where DISCONNECT may carry it, else 0x87 Not authorized for
 * a refused credential and 0x80 Unspecified error for the rest. (3.1.1 has no reason: the
 * connection is closed.)
 */
export function toDisconnectReasonCode(code: ErrorCode): number {
  switch (code) {
    case 'ERR_JWT_EXPIRED':
    case 'ERR_CERT_EXPIRED':
    case 'ERR_DEVICE_KEY_EXPIRED':
      return ReasonCode.MaximumConnectTime
    case 'ERR_TOKEN_REVOKED':
    case 'ERR_CERT_REVOKED':
    case 'ERR_DEVICE_DISABLED':
      return ReasonCode.AdministrativeAction
  }
  const reason = toReasonCode(code)
  if (DISCONNECT_REASONS.has(reason)) return reason
  return reason === ReasonCode.BadUserNameOrPassword || reason === ReasonCode.Banned || reason === ReasonCode.BadAuthenticationMethod
    ? ReasonCode.NotAuthorized
    : ReasonCode.UnspecifiedError
}
