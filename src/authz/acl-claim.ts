/**
 * The ACL a token carries in a claim (`authorization.aclClaim`, default `acl`), in either
 * format:
 * - a rule list: `[{"permission":"allow"|"deny","action":"publish"|"subscribe"|"all",
 *   "topic":"a/${clientid}" | "topics":[…],"qos":[0,1],"retain":true|false}]`,
 *   first matching rule decides;
 * - a map `{"pub":[…],"sub":[…],"all":[…]}`: an allow-list.
 * The claim may also be a string holding that JSON (for identity providers that only issue
 * string claims).
 *
 * Compiled once per client. An ACL that cannot be read (wrong shape, unknown key, bad topic,
 * unknown placeholder) never crashes and never grants anything: the client gets rules that
 * deny everything from this source, and the reason is reported through `onProblem`.
 * All rules are void once the token has expired (every check answers 'deny').
 */
import { isMapping } from '../config/check.js'
import { type PlaceholderContext, parseTopicTemplateCached, renderTopicTemplate } from './placeholders.js'
import { type CompiledRule, compileRule, DenyAllRules, type RetainCondition, RuleSet } from './rule-set.js'
import type { Authorizer, AuthzSubject, ClientRules, QoS } from './types.js'

export type AclParseResult =
  | { readonly ok: true; readonly rules: readonly CompiledRule[] }
  | { readonly ok: false; readonly reason: string }

class AclError extends Error {}

const RULE_KEYS = new Set(['permission', 'action', 'topic', 'topics', 'qos', 'retain'])
type ActionScope = { readonly publish: boolean; readonly subscribe: boolean }
const PUB: ActionScope = { publish: true, subscribe: false }
const SUB: ActionScope = { publish: false, subscribe: true }
const ALL: ActionScope = { publish: true, subscribe: true }
const MAP_KEYS: ReadonlyMap<string, ActionScope> = new Map([['pub', PUB], ['sub', SUB], ['all', ALL]])
const ACTIONS: ReadonlyMap<string, ActionScope> = new Map([
  ['publish', PUB], ['pub', PUB], ['subscribe', SUB], ['sub', SUB], ['all', ALL],
])

function topicList(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) throw new AclError(`${where}: must be a list of topic filters`)
  return value.map((t, i) => {
    if (typeof t !== 'string') throw new AclError(`${where}[${i}]: must be a string`)
    return t
  })
}

function renderTopics(
  topics: readonly string[],
  where: string,
  ctx: PlaceholderContext,
  effect: 'allow' | 'deny',
): string[] {
  const out: string[] = []
  topics.forEach((t, i) => {
    const parsed = parseTopicTemplateCached(t)
    if (!parsed.ok) throw new AclError(`${where}[${i}]: ${parsed.reason}`)
    const rendered = renderTopicTemplate(parsed.template, ctx, effect)
    if (rendered !== undefined) out.push(rendered)
  })
  return out
}

function parseQos(value: unknown, where: string): QoS[] | undefined {
  if (value === undefined) return undefined
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new AclError(`${where}: must not be empty`)
  return list.map((q) => {
    if (q !== 0 && q !== 1 && q !== 2) throw new AclError(`${where}: must be 0, 1, 2 or a list of them`)
    return q
  })
}

function parseRetain(value: unknown, where: string): RetainCondition {
  if (value === undefined || value === 'all' || value === 'any') return 'any'
  if (value === true || value === false) return value
  throw new AclError(`${where}: must be true, false or "all"`)
}

function parseRuleList(list: readonly unknown[], ctx: PlaceholderContext): CompiledRule[] {
  return list.map((raw, i) => {
    const where = `[${i}]`
    if (!isMapping(raw)) throw new AclError(`${where}: must be a mapping`)
    for (const key of Object.keys(raw)) {
      if (!RULE_KEYS.has(key)) throw new AclError(`${where}.${key}: unknown key (expected one of: ${[...RULE_KEYS].join(', ')})`)
    }
    const permission = raw['permission']
    if (permission !== 'allow' && permission !== 'deny') throw new AclError(`${where}.permission: must be "allow" or "deny"`)
    const action = typeof raw['action'] === 'string' ? ACTIONS.get(raw['action']) : undefined
    if (action === undefined) throw new AclError(`${where}.action: must be "publish", "subscribe" or "all"`)
    let topics: string[]
    if (raw['topic'] !== undefined && raw['topics'] !== undefined) {
      throw new AclError(`${where}: give either topic or topics, not both`)
    } else if (typeof raw['topic'] === 'string') {
      topics = renderTopics([raw['topic']], `${where}.topic`, ctx, permission)
    } else if (raw['topics'] !== undefined) {
      const list = topicList(raw['topics'], `${where}.topics`)
      if (list.length === 0) throw new AclError(`${where}.topics: must not be empty`)
      topics = renderTopics(list, `${where}.topics`, ctx, permission)
    } else {
      throw new AclError(`${where}: topic (a string) or topics (a list) is required`)
    }
    const qos = parseQos(raw['qos'], `${where}.qos`)
    const retain = parseRetain(raw['retain'], `${where}.retain`)
    if (retain !== 'any' && !action.publish) throw new AclError(`${where}.retain: applies to publish only`)
    return compileRule({
      effect: permission,
      connect: false,
      publish: action.publish,
      subscribe: action.subscribe,
      filters: topics,
      qos,
      retain,
      origin: `acl${where}`,
    })
  })
}

function parseAclMap(map: Record<string, unknown>, ctx: PlaceholderContext): CompiledRule[] {
  const rules: CompiledRule[] = []
  for (const [key, value] of Object.entries(map)) {
    const action = MAP_KEYS.get(key)
    if (action === undefined) {
      throw new AclError(`.${key}: unknown key (expected one of: ${[...MAP_KEYS.keys()].join(', ')})`)
    }
    const topics = renderTopics(topicList(value, `.${key}`), `.${key}`, ctx, 'allow')
    rules.push(compileRule({ effect: 'allow', connect: false, ...action, filters: topics, origin: `acl.${key}` }))
  }
  return rules
}

/**
 * Read an ACL claim value for one client (placeholders substituted). Never throws.
 */
export function parseAclClaim(value: unknown, ctx: PlaceholderContext): AclParseResult {
  try {
    let acl = value
    if (typeof acl === 'string') {
      try {
        acl = JSON.parse(acl) as unknown
      } catch {
        return { ok: false, reason: 'ACL claim is a string that is not JSON' }
      }
    }
    if (Array.isArray(acl)) return { ok: true, rules: parseRuleList(acl, ctx) }
    if (isMapping(acl)) return { ok: true, rules: parseAclMap(acl, ctx) }
    return { ok: false, reason: 'ACL claim must be a list of rules or a {pub, sub, all} map' }
  } catch (err) {
    if (err instanceof AclError) return { ok: false, reason: `ACL claim${err.message}` }
    return { ok: false, reason: `ACL claim unreadable: ${(err as Error).message}` }
  }
}

export interface ClaimsAuthorizerOptions {
  /** The top-level claim holding the ACL (exact key, so `https://example.com/acl` works). */
  readonly aclClaim: string
  /** Called when a client's ACL claim cannot be read; the client is refused everything by this source. */
  readonly onProblem?: (subject: AuthzSubject, reason: string) => void
}

export class ClaimsAuthorizer implements Authorizer {
  readonly name = 'token-acl'
  readonly #aclClaim: string
  readonly #onProblem: ((subject: AuthzSubject, reason: string) => void) | undefined

  constructor(options: ClaimsAuthorizerOptions) {
    this.#aclClaim = options.aclClaim
    this.#onProblem = options.onProblem
  }

  compile(subject: AuthzSubject): ClientRules | undefined {
    const claims = subject.identity.claims
    if (claims === undefined || !Object.hasOwn(claims, this.#aclClaim)) return undefined
    const result = parseAclClaim(claims[this.#aclClaim], {
      clientId: subject.clientId,
      username: subject.username,
      claims,
      certificate: subject.identity.certificate,
    })
    if (!result.ok) {
      this.#onProblem?.(subject, result.reason)
      return new DenyAllRules(result.reason, 'token-acl')
    }
    return new RuleSet(result.rules, { expiresAt: subject.identity.expiresAt, source: 'token-acl' })
  }
}
