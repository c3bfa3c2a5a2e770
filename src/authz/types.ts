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
  /** These rules as an operator reads them, in the order they are asked (the admin API's permissions view). */
  describe(): readonly RuleView[]
  /** The rule of `describe()` that gives `decision` for this check ('ignore' never has one). */
  explain(action: AuthzAction, topic: string, qos: QoS, retain: boolean): RuleView | undefined
}

/** Which part of the chain a rule comes from. */
export type RuleSource = 'broker' | 'superuser' | 'token-acl' | 'policies' | 'dollar-topics'

/** One rule that applies to a client, as the admin API and console show it (placeholders substituted). */
export interface RuleView {
  readonly source: RuleSource
  /** A policy name, the ACL claim entry (`acl[2]`, `acl.pub`), or what the built-in rule is. */
  readonly origin: string
  readonly effect: 'allow' | 'deny'
  readonly actions: readonly AuthzAction[]
  /** Topic filters after substitution; empty for connect-only rules. */
  readonly topics: readonly string[]
  /** QoS levels the rule is limited to (absent: any). */
  readonly qos?: readonly QoS[]
  /** Publish rules limited to retained (true) or non-retained (false) messages. */
  readonly retain?: boolean
  /** Why the rule is there, for rules that are not a configured or claimed one. */
  readonly note?: string
}

/** A client's effective permissions: the rules that apply to it, first match decides. */
export interface PermissionsView {
  readonly rules: readonly RuleView[]
  /** What decides a publish or subscribe that no rule matched (connect: allowed). */
  readonly noMatch: 'allow' | 'deny'
}

/** One check worked out with the rule that decided it. */
export interface CheckExplained {
  readonly allowed: boolean
  /** The rule that decided; absent when no rule matched and `noMatch` (or connect's default) decided. */
  readonly decidedBy?: RuleView
  /** The decision in words. */
  readonly because: string
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
  /** The rules that apply to this client (the admin API's permissions view). */
  describe(): PermissionsView
  /** A check, with the rule that decides it: the same answer the can* methods give. */
  explain(action: AuthzAction, topic: string, qos: QoS, retain: boolean): CheckExplained
}

export interface AuthorizerChainOptions {
  /** Decides publish and subscribe when no rule anywhere matched. */
  readonly noMatch: 'allow' | 'deny'
}
