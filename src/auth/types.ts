/**
 * The authentication seam. The broker knows only these types; concrete authenticators
 * (JWT, JWKS, …) live in their own folders and are created from configuration.
 */
import type { PortcullisError } from '../errors.js'
import type { ClaimedIdentity } from './identity.js'
import type { ProtocolVersion } from '../mqtt/types.js'

/** What a client presented, at CONNECT or in an MQTT 5 AUTH (re-authentication). */
export interface Credentials {
  readonly clientId: string
  readonly username: string | undefined
  readonly password: Buffer | undefined
  /** MQTT 5 Authentication Method / Data (CONNECT or AUTH). */
  readonly authMethod: string | undefined
  readonly authData: Buffer | undefined
  readonly protocolVersion: ProtocolVersion
  readonly remoteAddress: string
  /** true when this is an MQTT 5 re-authentication (AUTH reason 0x19). */
  readonly reauth: boolean
  /** The client certificate the TLS handshake verified (tls/wss listeners with requestCert). */
  readonly certificate?: PeerCertificate
  /** ws/wss: a token from the WebSocket upgrade request (listener `upgradeToken`). It stands
   *  for the username or password an authenticator reads when the CONNECT left that field empty. */
  readonly upgradeToken?: string
  /** A token check of the management plane (`token inspect`, POST /token/check), not a client:
   *  the authenticator answers as for a CONNECT but counts nothing (outcome counters, verify
   *  time); requests to remote services are still counted, as they are made. */
  readonly uncounted?: true
}

/** A verified client certificate, as authenticators and the admin API see it. */
export interface PeerCertificate {
  /** Subject common name (the last CN when there are several). */
  readonly cn: string | undefined
  /** subjectAltName entries as `DNS:…`, `IP Address:…`, `URI:…`, `email:…`. */
  readonly san: readonly string[]
  /** SHA-256 fingerprint, colon-separated hex (as openssl prints it). */
  readonly fingerprint256: string
  readonly serialNumber: string
  readonly issuer: string
  /** Epoch milliseconds. */
  readonly validFrom: number
  readonly validTo: number
}

/**
 * Who a client turned out to be. Kept on the connection for authorization. `username` and
 * `clientId` (with `clientIdMode`) are set when the authenticator's `identity` block took
 * them from the credential's claims: they replace what the CONNECT carried.
 */
export interface Identity extends ClaimedIdentity {
  /** Name of the authenticator that accepted the client ('anonymous' for anonymous). */
  readonly authenticator: string
  readonly anonymous: boolean
  /**
   * A registered device's token (`type: devices`): the device, the id of the key that verified
   * it, and that key's expiry (epoch ms): the broker disconnects the client then.
   */
  readonly device?: { readonly id: string; readonly key: string; readonly keyExpiresAt?: number }
  /** The verified token's claims, when the client was authenticated by a token. */
  readonly claims?: Readonly<Record<string, unknown>>
  /** Epoch milliseconds after which the identity is no longer valid (token `exp`): rules
   *  carried by the token are void from then on. */
  readonly expiresAt?: number
  /** Disconnect the client at `expiresAt` (default true). */
  readonly disconnectOnExpiry?: boolean
  /** The verified client certificate it connected with (tls/wss listeners with requestCert). */
  readonly certificate?: PeerCertificate
  /** An x509 authenticator with `requireToken` that accepted the certificate before `authenticator` accepted the token. */
  readonly vouchedBy?: string
}

export type AuthOutcome =
  /** The authenticator vouches for the client. */
  | { readonly result: 'allow'; readonly identity: Identity }
  /**
   * The authenticator vouches for the device (an x509 authenticator with `requireToken`: the
   * certificate is good) but a later authenticator must accept the client's token too. Its
   * identity's username / client id win over the token's.
   */
  | { readonly result: 'vouch'; readonly identity: Identity; readonly error?: undefined }
  /** The authenticator recognised the credential as its own and refuses it: the chain stops. */
  | { readonly result: 'deny'; readonly error: PortcullisError }
  /**
   * Not mine: the next authenticator is tried. `error` says why, and `relevance` how surely
   * this authenticator's key material was meant for the token, so that a refusal names the
   * right authenticator's reason (see Relevance).
   */
  | { readonly result: 'ignore'; readonly error?: PortcullisError; readonly relevance?: Relevance }

/**
 * How surely a token was meant for an authenticator that passed it on:
 * 3 its issuer is one this authenticator trusts (`claims.issuer`);
 * 2 this authenticator holds a key with the token's `kid`;
 * 1 nothing says otherwise (a key for its alg that did not verify it, no key set loaded);
 * 0 meant for someone else (no key for its alg or kid here, an issuer this one does not
 *   trust), or no token this authenticator can read (not a JWS, too large).
 */
export type Relevance = 0 | 1 | 2 | 3

export interface Authenticator {
  readonly name: string
  readonly type: string
  readonly enabled: boolean
  /** MQTT 5 Authentication Methods this authenticator accepts (e.g. ['JWT']). */
  readonly authMethods: readonly string[]
  /** Token authenticators: where a CONNECT without an Authentication Method carries the
   *  token (`from`). With 'username' the username is the token (see usernameIsToken). */
  readonly tokenFrom?: 'username' | 'password'
  /** Called once before the broker listens (may start background work; must not throw for
   *  remote failures — report them through status instead). */
  start?(): Promise<void>
  close?(): Promise<void>
  authenticate(credentials: Credentials): AuthOutcome | Promise<AuthOutcome>
}
