/**
 * What the management plane (admin API, metrics, `token inspect`) needs of an authenticator
 * created from configuration, whatever its type: its configuration, live status, counters,
 * a check-by-check evaluation of a token, and a manual refresh where there is anything to
 * refresh.
 */
import type { ClaimedIdentity } from './identity.js'
import type { CacheUsage } from '../bounded-cache.js'
import type { ErrorCode } from '../errors.js'
import type { KeySourceStatus } from './jwks/source.js'
import type { TokenAuthenticatorStats } from './jwt/authenticator.js'
import type { AuthenticatorConfig } from './config.js'
import type { Authenticator, Relevance } from './types.js'

export type AuthenticatorType = AuthenticatorConfig['type']

/**
 * Token authenticators report their key set; authenticators that ask a remote service
 * report the service (state `unavailable` while its last request failed) and hold no keys.
 */
export interface AuthenticatorStatus extends KeySourceStatus {
  readonly name: string
  readonly type: AuthenticatorType
  readonly enabled: boolean
  /** Services asked per client: requests by outcome (ok: an answer used; error; rejected). */
  readonly requests?: { readonly ok: number; readonly error: number; readonly rejected: number; readonly lastDurationMs: number | null }
}

/**
 * Counters. For authenticators that ask a remote service, `verifyCount` counts requests
 * made, `verifyMicrosTotal` their time and `cacheHits` answers taken from the cache.
 */
export type AuthenticatorStats = TokenAuthenticatorStats

export interface AuthenticatorReportStep {
  readonly check: string
  readonly ok: boolean
  readonly detail: string
  readonly code?: ErrorCode
}

/** How one authenticator judges a token (no secrets, never the token). */
export interface AuthenticatorReport {
  readonly name: string
  readonly type: AuthenticatorType
  readonly enabled: boolean
  readonly outcome: 'allow' | 'deny' | 'ignore'
  readonly code?: ErrorCode
  readonly message?: string
  /** Passed on (ignore): how surely the token was meant for this authenticator (see Relevance). */
  readonly relevance?: Relevance
  readonly key?: { readonly index: number; readonly kid?: string; readonly description: string; readonly alg: string }
  readonly steps: readonly AuthenticatorReportStep[]
  /** Accepted: the username / client id its `identity` block took from the claims. */
  readonly identity?: ClaimedIdentity
}

export interface ManagedAuthenticator extends Authenticator {
  readonly type: AuthenticatorType
  readonly config: AuthenticatorConfig
  start(): Promise<void>
  close(): Promise<void>
  status(): AuthenticatorStatus
  stats(): AuthenticatorStats
  /** What its per-token cache holds (verified tokens, service answers), for /metrics. */
  cacheUsage(): CacheUsage
  /** Loads keys again now; resolves false when there is nothing to load. */
  refreshKeys(): Promise<boolean>
  inspect(token: string, context?: { clientId?: string; username?: string }): Promise<AuthenticatorReport>
}
