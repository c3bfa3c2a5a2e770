/**
 * Rules compiled for one client, shared by the policy and token-ACL authorizers: an ordered
 * list (first match decides), split by action, with a bounded per-client decision cache so
 * that a client publishing to the same topics again pays one Map lookup.
 *
 * Subscribe semantics: a rule (allow or deny) decides a subscription only when one of its
 * filters covers the whole subscription (`filterCovers`). An allow on `a/b/#` does not grant
 * `a/#`; a deny on `test/nosubscribe` refuses that filter but leaves `+/+` and `#` to later
 * rules (as Mosquitto and EMQX do, and as the Paho suite expects). To keep a subtree private
 * from wide wildcards, use an allow-list (`noMatch: deny`) or deny the wide filters too.
 */
import { BoundedCache, addUsage, type CacheUsage } from '../bounded-cache.js'
import type { AuthzAction, AuthzDecision, ClientRules, QoS, RuleSource, RuleView } from './types.js'
import {
  type CompiledFilter,
  compileFilter,
  filterCoversLevels,
  matchCompiled,
} from './topic-match.js'
import { clock } from '../clock.js'

export type RetainCondition = 'any' | boolean

export interface CompiledRule {
  readonly effect: 'allow' | 'deny'
  readonly connect: boolean
  readonly publish: boolean
  readonly subscribe: boolean
  /** Filters after placeholder substitution (empty for connect-only rules). */
  readonly filters: readonly CompiledFilter[]
  /** Bit n set: QoS n allowed by the rule's condition. 0b111 when unconditioned. */
  readonly qosMask: number
  readonly retain: RetainCondition
  /** Where the rule came from, for logs and the admin API: a policy name or `acl[3]`. */
  readonly origin: string
}

export interface RuleInput {
  readonly effect: 'allow' | 'deny'
  readonly connect: boolean
  readonly publish: boolean
  readonly subscribe: boolean
  readonly filters: readonly string[]
  readonly qos?: readonly QoS[] | undefined
  readonly retain?: RetainCondition | undefined
  readonly origin: string
}

export function compileRule(input: RuleInput): CompiledRule {
  let qosMask = 0b111
  if (input.qos !== undefined) {
    qosMask = 0
    for (const q of input.qos) qosMask |= 1 << q
  }
  return {
    effect: input.effect,
    connect: input.connect,
    publish: input.publish,
    subscribe: input.subscribe,
    filters: input.filters.map(compileFilter),
    qosMask,
    retain: input.retain ?? 'any',
    origin: input.origin,
  }
}

/**
 * Budget per client and per kind (publish / subscribe): 1,024 topics and 32 KiB. A topic
 * longer than 2,000 characters or so is not cached (its decision is worked out each time):
 * every connected client has these caches, so their bound is what a client can make the
 * broker hold.
 */
export const DECISION_CACHE_SIZE = 1024
export const DECISION_CACHE_BYTES = 32 * 1024

// Decisions are packed two bits per slot: 0 unknown, 1 allow, 2 deny, 3 ignore.
const ENCODE = { allow: 1, deny: 2, ignore: 3 } as const
const DECODE: readonly AuthzDecision[] = ['ignore', 'allow', 'deny', 'ignore']

class DecisionCache {
  readonly #cache = new BoundedCache<number>(DECISION_CACHE_SIZE, DECISION_CACHE_BYTES)

  get(key: string, slot: number): AuthzDecision | undefined {
    const packed = this.#cache.get(key)
    if (packed === undefined) return undefined
    const code = (packed >>> (slot * 2)) & 3
    return code === 0 ? undefined : DECODE[code]
  }

  set(key: string, slot: number, decision: AuthzDecision): void {
    const packed = this.#cache.get(key)
    this.#cache.set(key, (packed ?? 0) | (ENCODE[decision] << (slot * 2)), 8)
  }

  get usage(): CacheUsage {
    return this.#cache.usage
  }
}

interface Entry {
  readonly rule: CompiledRule
  readonly filter: CompiledFilter
}

/** Above this many entries the first-level index is not built (wildcard-first filters are copied per bucket). */
const MAX_INDEX_ENTRIES = 8192
/** Below this many publish filters a plain scan is as fast as the index. */
const MIN_INDEXED_FILTERS = 8

/**
 * Publish filters bucketed by their first topic level, so a topic is tested only against
 * filters that can match it. Each bucket keeps rule order (wildcard-first filters are in
 * every bucket), so the first match found is still the first matching rule.
 */
function buildPublishIndex(rules: readonly CompiledRule[]): ((topic: string) => readonly Entry[]) | undefined {
  const entries: Entry[] = []
  for (const rule of rules) for (const filter of rule.filters) entries.push({ rule, filter })
  if (entries.length < MIN_INDEXED_FILTERS) return undefined
  // One pass in rule order: a wildcard-first entry joins every bucket (and the fallback);
  // a new bucket starts with the wildcard-first entries seen so far.
  const fallback: Entry[] = []
  const buckets = new Map<string, Entry[]>()
  let size = 0
  for (const e of entries) {
    const first = e.filter.levels[0]
    if (first === '+' || first === '#') {
      fallback.push(e)
      for (const bucket of buckets.values()) bucket.push(e)
      size += buckets.size + 1
    } else {
      let bucket = buckets.get(first)
      if (bucket === undefined) {
        bucket = [...fallback]
        buckets.set(first, bucket)
        size += fallback.length
      }
      bucket.push(e)
      size++
    }
    if (size > MAX_INDEX_ENTRIES) return undefined
  }
  return (topic) => {
    const slash = topic.indexOf('/')
    return buckets.get(slash === -1 ? topic : topic.slice(0, slash)) ?? fallback
  }
}

export interface RuleSetOptions {
  /** Epoch ms after which every check answers 'deny' (the token the rules came from expired). */
  readonly expiresAt?: number | undefined
  /** Where the rules come from (the permissions view says so). */
  readonly source: RuleSource
}

const ALL_QOS = 0b111

/** A compiled rule as an operator reads it. */
export function ruleView(rule: CompiledRule, source: RuleSource): RuleView {
  const actions: AuthzAction[] = []
  if (rule.connect) actions.push('connect')
  if (rule.publish) actions.push('publish')
  if (rule.subscribe) actions.push('subscribe')
  const qos = ([0, 1, 2] as const).filter((q) => (rule.qosMask & (1 << q)) !== 0)
  return {
    source,
    origin: rule.origin,
    effect: rule.effect,
    actions,
    topics: rule.filters.map((f) => f.filter),
    ...(rule.qosMask !== ALL_QOS ? { qos } : {}),
    ...(rule.retain !== 'any' ? { retain: rule.retain } : {}),
  }
}

function expired(expiresAt: number | undefined): boolean {
  return expiresAt !== undefined && clock.now() >= expiresAt
}

/** An ordered rule list for one client. */
export class RuleSet implements ClientRules {
  readonly #connect: readonly CompiledRule[]
  readonly #publish: readonly CompiledRule[]
  readonly #subscribe: readonly CompiledRule[]
  readonly #publishIndex: ((topic: string) => readonly Entry[]) | undefined
  readonly #expiresAt: number | undefined
  readonly #rules: readonly CompiledRule[]
  readonly #source: RuleSource
  readonly #publishCache = new DecisionCache()
  readonly #subscribeCache = new DecisionCache()

  constructor(rules: readonly CompiledRule[], options: RuleSetOptions) {
    this.#rules = rules
    this.#source = options.source
    this.#connect = rules.filter((r) => r.connect)
    this.#publish = rules.filter((r) => r.publish && r.filters.length > 0)
    this.#subscribe = rules.filter((r) => r.subscribe && r.filters.length > 0)
    this.#publishIndex = buildPublishIndex(this.#publish)
    this.#expiresAt = options.expiresAt
  }

  /** Number of rules that take part in each check (for logs and tests). */
  get counts(): { connect: number; publish: number; subscribe: number } {
    return { connect: this.#connect.length, publish: this.#publish.length, subscribe: this.#subscribe.length }
  }

  /** What this client's decision caches hold. */
  cacheUsage(): CacheUsage {
    return addUsage(this.#publishCache.usage, this.#subscribeCache.usage)
  }

  connect(): AuthzDecision {
    if (expired(this.#expiresAt)) return 'deny'
    const rule = this.#connect[0]
    return rule === undefined ? 'ignore' : rule.effect
  }

  publish(topic: string, qos: QoS, retain: boolean): AuthzDecision {
    if (expired(this.#expiresAt)) return 'deny'
    if (this.#publish.length === 0) return 'ignore'
    const slot = qos * 2 + (retain ? 1 : 0)
    const cached = this.#publishCache.get(topic, slot)
    if (cached !== undefined) return cached
    const rule = this.matchPublish(topic, qos, retain)
    const decision: AuthzDecision = rule === undefined ? 'ignore' : rule.effect
    this.#publishCache.set(topic, slot, decision)
    return decision
  }

  subscribe(filter: string, qos: QoS): AuthzDecision {
    if (expired(this.#expiresAt)) return 'deny'
    if (this.#subscribe.length === 0) return 'ignore'
    const cached = this.#subscribeCache.get(filter, qos)
    if (cached !== undefined) return cached
    const rule = this.matchSubscribe(filter, qos)
    const decision: AuthzDecision = rule === undefined ? 'ignore' : rule.effect
    this.#subscribeCache.set(filter, qos, decision)
    return decision
  }

  describe(): readonly RuleView[] {
    return this.#rules.map((r) => ruleView(r, this.#source))
  }

  explain(action: AuthzAction, topic: string, qos: QoS, retain: boolean): RuleView | undefined {
    if (expired(this.#expiresAt)) {
      return { source: this.#source, origin: 'token expired', effect: 'deny', actions: ['connect', 'publish', 'subscribe'], topics: ['#'],
        note: 'the token these rules came from has expired: they refuse everything' }
    }
    const rule = action === 'connect' ? this.#connect[0] : action === 'publish' ? this.matchPublish(topic, qos, retain) : this.matchSubscribe(topic, qos)
    return rule === undefined ? undefined : ruleView(rule, this.#source)
  }

  /** The rule that decides a publish, uncached (for diagnostics). */
  matchPublish(topic: string, qos: QoS, retain: boolean): CompiledRule | undefined {
    const qosBit = 1 << qos
    if (this.#publishIndex !== undefined) {
      const candidates = this.#publishIndex(topic)
      for (let i = 0; i < candidates.length; i++) {
        const { rule, filter } = candidates[i]
        if ((rule.qosMask & qosBit) === 0) continue
        if (rule.retain !== 'any' && rule.retain !== retain) continue
        if (matchCompiled(filter, topic)) return rule
      }
      return undefined
    }
    const rules = this.#publish
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]
      if ((rule.qosMask & qosBit) === 0) continue
      if (rule.retain !== 'any' && rule.retain !== retain) continue
      const filters = rule.filters
      for (let j = 0; j < filters.length; j++) if (matchCompiled(filters[j], topic)) return rule
    }
    return undefined
  }

  /** The rule that decides a subscription, uncached (for diagnostics). */
  matchSubscribe(filter: string, qos: QoS): CompiledRule | undefined {
    const qosBit = 1 << qos
    const levels = filter.split('/')
    for (const rule of this.#subscribe) {
      if ((rule.qosMask & qosBit) === 0) continue
      for (const f of rule.filters) if (filterCoversLevels(f.levels, levels)) return rule
    }
    return undefined
  }
}

/**
 * Rules that refuse everything: what a client gets from a source whose input was unusable
 * (a malformed ACL claim). `reason` says why, for the log line.
 */
export class DenyAllRules implements ClientRules {
  readonly reason: string
  readonly #view: RuleView
  constructor(reason: string, source: RuleSource) {
    this.reason = reason
    this.#view = { source, origin: source === 'token-acl' ? 'ACL claim' : source, effect: 'deny', actions: ['connect', 'publish', 'subscribe'], topics: ['#'], note: reason }
  }
  describe(): readonly RuleView[] {
    return [this.#view]
  }
  explain(): RuleView {
    return this.#view
  }
  connect(): AuthzDecision {
    return 'deny'
  }
  publish(): AuthzDecision {
    return 'deny'
  }
  subscribe(): AuthzDecision {
    return 'deny'
  }
}
