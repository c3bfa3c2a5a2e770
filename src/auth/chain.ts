/**
 * The authenticator chain: authenticators are tried in order; the first 'allow' admits,
 * the first 'deny' refuses; when every one ignores, the client is refused.
 *
 * An authenticator that throws has a fault, not an answer: the chain stops there and the
 * client is refused with ERR_AUTH_INTERNAL (0x80; 3.1.1 has only 3). It is neither "not
 * mine" (the next authenticator's reason would then be reported for a token it was never
 * meant for) nor "keys unavailable" (which tells clients to retry).
 */
import { PortcullisError, type ErrorCode } from '../errors.js'
import { revokedError, type RevocationList } from './revocation.js'
import type { Authenticator, Credentials, Identity, PeerCertificate, Relevance } from './types.js'

export type ChainResult =
  | { readonly ok: true; readonly identity: Identity }
  | {
    readonly ok: false
    readonly error: PortcullisError
    /** The authenticator that refused, or whose reason to pass the client on is given. */
    readonly authenticator?: string
    /** When every authenticator passed the client on: each one's reason, in chain order. */
    readonly reasons?: readonly PassReason[]
  }

export interface AuthenticatorChainOptions {
  /** Admit clients that present no credentials at all. */
  readonly allowAnonymous: boolean
  /** Revoked tokens: checked on the claims of an accepted client (CONNECT and re-authentication). */
  readonly revocations?: RevocationList
}

/** What a client connected with, as its connection keeps it. */
export interface ConnectedWith {
  readonly username: string | undefined
  /** MQTT 5 Authentication Method given at CONNECT. */
  readonly authMethod: string | undefined
  readonly identity: Identity | undefined
}

/** A compact JWS (its header starts with `{"`, base64url `eyJ`). */
const JWS_LIKE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

const ANONYMOUS: Identity = Object.freeze({ authenticator: 'anonymous', anonymous: true })

/** What an authenticator that threw is taken to have answered (see above). The cause is kept for the log. */
export function authenticatorFault(cause: unknown): PortcullisError {
  return new PortcullisError('ERR_AUTH_INTERNAL', `authenticator failed unexpectedly: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
}

/** An authenticator that passed a client on ("not mine"), why, and how surely it was meant for the token. */
export interface PassedOn {
  readonly authenticator: string
  readonly error: PortcullisError | undefined
  readonly relevance?: Relevance
}

/** One authenticator's reason for passing a client on, as logs and reports list it. */
export interface PassReason {
  readonly authenticator: string
  readonly code: ErrorCode
  readonly reason: string
}

export interface Refusal {
  readonly error: PortcullisError
  /** The authenticator whose reason this is; absent when no one was meant for the token more than another. */
  readonly authenticator?: string
  /** Every authenticator's reason, in chain order. */
  readonly reasons: readonly PassReason[]
}

/**
 * The refusal when every enabled authenticator passed the client on — the one rule, used
 * by a CONNECT and by `token inspect` alike. The reason given is that of the authenticator
 * whose key material was meant for the token (highest relevance: trusted issuer, then a key
 * with the token's kid, then "nothing says otherwise"); among equals, one that could not
 * check it (no key set loaded, introspection service down) comes first (the token may be
 * good: 0x88 tells the client to retry). When several
 * equally unrelated authenticators disagree, the refusal lists each one's reason.
 */
export function refusalReason(passed: readonly PassedOn[], hasCredentials: boolean): Refusal {
  const withError = passed.filter((p): p is PassedOn & { error: PortcullisError } => p.error !== undefined)
  const reasons = withError.map((p) => ({ authenticator: p.authenticator, code: p.error.code, reason: p.error.message }))
  if (withError.length === 0) {
    const error = hasCredentials
      ? new PortcullisError('ERR_AUTH_BAD_CREDENTIALS', 'no authenticator accepted the credentials')
      : new PortcullisError('ERR_AUTH_NO_CREDENTIALS')
    return { error, reasons }
  }
  const best = Math.max(...withError.map((p) => p.relevance ?? 1))
  const top = withError.filter((p) => (p.relevance ?? 1) === best)
  const pick = top.find((p) => p.error.code === 'ERR_JWKS_UNAVAILABLE' || p.error.code === 'ERR_AUTH_SERVICE_UNAVAILABLE') ?? (top.length === 1 || best >= 2 ? top[0] : undefined)
  if (pick !== undefined) return { error: pick.error, authenticator: pick.authenticator, reasons }
  const first = top[0]
  if (top.every((p) => p.error.code === first.error.code)) return { error: first.error, reasons }
  const list = reasons.map((r) => `${r.authenticator}: ${r.reason}`).join('; ')
  return { error: new PortcullisError('ERR_AUTH_BAD_CREDENTIALS', `no authenticator accepted the token (${list})`), reasons }
}

/**
 * The identity an x509 authenticator with `requireToken` vouched for (`device`), joined with
 * the one that accepted the token: the token's claims and rights, the certificate's username
 * and client id when it names them, the earlier expiry.
 */
function joinVouched(device: Identity, token: Identity): Identity {
  const expiresAt = Math.min(device.expiresAt ?? Infinity, token.expiresAt ?? Infinity)
  return {
    ...token,
    vouchedBy: device.authenticator,
    ...(device.username !== undefined ? { username: device.username } : {}),
    ...(device.clientId !== undefined ? { clientId: device.clientId, clientIdMode: device.clientIdMode ?? 'enforce' } : {}),
    ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
    disconnectOnExpiry: device.disconnectOnExpiry !== false && token.disconnectOnExpiry !== false,
  }
}

/**
 * An accepted client's identity with the client certificate it connected with: placeholders
 * (`${cert_cn}`) and the admin API see it, and the connection ends when it expires, whoever
 * accepted the client (the certificate is part of the connection's credentials).
 */
function withCertificate(identity: Identity, certificate: PeerCertificate | undefined): Identity {
  if (certificate === undefined) return identity
  const expiresAt = Math.min(identity.expiresAt ?? Infinity, certificate.validTo)
  return { ...identity, certificate, ...(Number.isFinite(expiresAt) ? { expiresAt } : {}) }
}

export class AuthenticatorChain {
  #authenticators: readonly Authenticator[]
  /** The enabled ones, in order (computed when the list changes, not per CONNECT). */
  #enabled: readonly Authenticator[]
  readonly #options: AuthenticatorChainOptions

  constructor(authenticators: readonly Authenticator[], options: AuthenticatorChainOptions) {
    this.#authenticators = authenticators
    this.#enabled = authenticators.filter((a) => a.enabled)
    this.#options = options
  }

  get authenticators(): readonly Authenticator[] {
    return this.#authenticators
  }

  /**
   * Swap the whole list (admin API). The caller starts new authenticators before and closes
   * retired ones after; a CONNECT already being authenticated finishes with the old list.
   */
  replace(authenticators: readonly Authenticator[]): void {
    this.#authenticators = authenticators
    this.#enabled = authenticators.filter((a) => a.enabled)
  }

  /**
   * True when the client's username carried its token, so is never to be shown or kept:
   * the authenticator that admitted it reads the token from the username (`from: username`,
   * CONNECT without an Authentication Method), or the username is shaped like a compact
   * JWS, whoever admitted the client.
   */
  usernameIsToken(client: ConnectedWith): boolean {
    const username = client.username
    // A username taken from the token's claims is a name, not the token.
    if (username === undefined || client.identity?.username !== undefined) return false
    if (JWS_LIKE.test(username)) return true
    if (client.authMethod !== undefined) return false
    const name = client.identity?.authenticator
    return this.#authenticators.find((a) => a.name === name)?.tokenFrom === 'username'
  }

  async start(): Promise<void> {
    for (const a of this.#authenticators) if (a.start !== undefined) await a.start()
  }

  async close(): Promise<void> {
    for (const a of this.#authenticators) if (a.close !== undefined) await a.close()
  }

  async authenticate(credentials: Credentials): Promise<ChainResult> {
    const enabled = this.#enabled
    const hasToken =
      credentials.username !== undefined ||
      credentials.password !== undefined ||
      credentials.authMethod !== undefined ||
      credentials.upgradeToken !== undefined
    // a certificate is a credential where an authenticator reads certificates
    const hasCredentials = hasToken || (credentials.certificate !== undefined && enabled.some((a) => a.type === 'x509'))

    if (credentials.authMethod !== undefined) {
      const method = credentials.authMethod
      if (!enabled.some((a) => a.authMethods.includes(method))) {
        return { ok: false, error: new PortcullisError('ERR_AUTH_METHOD_UNSUPPORTED', `authentication method '${method}' is not supported`) }
      }
    }
    if (!hasCredentials && this.#options.allowAnonymous && !credentials.reauth) {
      return { ok: true, identity: withCertificate(ANONYMOUS, credentials.certificate) }
    }
    // With anonymous access on and no authenticator at all, a username is only a label.
    if (enabled.length === 0 && this.#options.allowAnonymous && credentials.authMethod === undefined && !credentials.reauth) {
      return { ok: true, identity: withCertificate(ANONYMOUS, credentials.certificate) }
    }

    const passed: PassedOn[] = []
    let vouched: Identity | undefined
    for (const authenticator of enabled) {
      let outcome
      try {
        outcome = authenticator.authenticate(credentials)
        // Token authenticators answer synchronously unless they must fetch keys first.
        if (outcome instanceof Promise) outcome = await outcome
      } catch (cause) {
        return { ok: false, error: authenticatorFault(cause), authenticator: authenticator.name }
      }
      if (outcome.result === 'vouch') {
        // the first certificate authenticator's word counts; the chain goes on for the token
        vouched ??= outcome.identity
        continue
      }
      if (outcome.result === 'allow') {
        const revoked = this.#options.revocations?.match(outcome.identity.claims)
        if (revoked !== undefined) return { ok: false, error: revokedError(revoked), authenticator: authenticator.name }
        const identity = vouched === undefined ? outcome.identity : joinVouched(vouched, outcome.identity)
        return { ok: true, identity: withCertificate(identity, credentials.certificate) }
      }
      if (outcome.result === 'deny') return { ok: false, error: outcome.error, authenticator: authenticator.name }
      passed.push({ authenticator: authenticator.name, error: outcome.error, ...(outcome.relevance !== undefined ? { relevance: outcome.relevance } : {}) })
    }
    const refusal = refusalReason(passed, vouched === undefined ? hasCredentials : hasToken)
    if (vouched === undefined) return { ok: false, ...refusal }
    // The certificate was good, the token missing or refused: say both.
    const error = new PortcullisError(refusal.error.code, `client certificate accepted by '${vouched.authenticator}', which requires a token as well: ${refusal.error.message}`)
    return { ok: false, ...refusal, error, authenticator: refusal.authenticator ?? vouched.authenticator }
  }
}
