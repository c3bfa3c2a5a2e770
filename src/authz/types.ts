/**
 * The authorization seam. Rules are compiled once per client (at CONNECT and after
 * re-authentication); the per-message checks are synchronous and cheap.
 */
import type { CacheUsage } from '../bounded-cache.js'
import type { Identity } from '../auth/types.js'
import type { QoS } from '../mqtt/types.js'

export type { QoS }
export type AuthzAction = 'connect' | 'publish' | 'subscribe'
/** 'ignore' means "no rule of mine matched": the next source is asked. */
export type AuthzDecision = 'allow' | 'deny' | 'ignore'

export interface AuthzSubject {
  readonly clientId: string
  readonly username: string | undefined
  readonly remoteAddress: string
  readonly identity: Identity
}

/** One source's rules, compiled for one client. */
export interface ClientRules {
  connect(): AuthzDecision
  publish(topic: string, qos: QoS, retain: boolean): AuthzDecision
  /** `filter` is the underlying filter (a shared subscription's `$share/g/` prefix removed). */
  subscribe(filter: string, qos: QoS): AuthzDecision
  /** What the rules' decision caches hold (rules without a cache leave it out). */
  cacheUsage?(): CacheUsage
}

export interface Authorizer {
  readonly name: string
  /** Compile this source's rules for a client; undefined when the source has nothing for it. */
  compile(subject: AuthzSubject): ClientRules | undefined
}

/** What the broker holds per client: final yes/no answers. */
export interface ClientAuthz {
  canConnect(): boolean
  canPublish(topic: string, qos: QoS, retain: boolean): boolean
  canSubscribe(filter: string, qos: QoS): boolean
  /** What this client's decision caches hold (for /metrics). */
  cacheUsage(): CacheUsage
}

export interface AuthorizerChainOptions {
  /** Decides publish and subscribe when no rule anywhere matched. */
  readonly noMatch: 'allow' | 'deny'
}
