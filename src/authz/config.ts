/**
 * The `authorization` block of the configuration: validated once, then frozen. Every error
 * is a ConfigError naming the full key path (`authorization.policies[2].ip`).
 */
import { BlockList, isIP } from 'node:net'
import { ConfigError } from '../errors.js'
import { describe, expected, knownKeys, mapping } from '../config/check.js'
import { parseTopicTemplate } from './placeholders.js'
import type { AuthzAction, QoS } from './types.js'

export interface PolicyConfig {
  /** 3..64 characters, unique. */
  readonly name: string
  /** Smaller is evaluated first; unique. */
  readonly priority: number
  readonly effect: 'allow' | 'deny'
  /** Normalised (`pub` → publish, `sub` → subscribe), without duplicates. */
  readonly actions: readonly AuthzAction[]
  /** Topic filters, placeholders allowed; empty for connect-only policies. */
  readonly topics: readonly string[]
  /** A regular expression searched in the client id (anchor it with ^…$ for a full match). */
  readonly clientId?: string
  /** The exact user name (no pattern). */
  readonly username?: string
  /** Addresses or CIDR blocks, IPv4 or IPv6; the policy applies when any one holds. */
  readonly ip?: readonly string[]
  /** QoS levels the policy applies to (sorted, no duplicates); absent: all. */
  readonly qos?: readonly QoS[]
  /** Publish only: true = retained messages, false = not retained, any = both. */
  readonly retain: 'any' | boolean
  readonly description?: string
}

export interface AuthorizationConfig {
  /** Decides publish and subscribe when no rule anywhere matched. Default deny. */
  readonly noMatch: 'allow' | 'deny'
  /** The top-level token claim carrying an ACL. Default `acl`. */
  readonly aclClaim: string
  /** A top-level claim that, when literally `true`, makes the client a superuser. Off by default. */
  readonly superuserClaim: string | undefined
  readonly policies: readonly PolicyConfig[]
}

export const DEFAULT_AUTHORIZATION: AuthorizationConfig = Object.freeze({
  noMatch: 'deny',
  aclClaim: 'acl',
  superuserClaim: undefined,
  policies: Object.freeze([]),
})

const AUTHORIZATION_KEYS = new Set(['noMatch', 'aclClaim', 'superuserClaim', 'policies'])
const POLICY_KEYS = new Set([
  'name', 'priority', 'effect', 'actions', 'topics', 'clientId', 'username', 'ip', 'qos', 'retain', 'description',
])
const ACTION_ALIASES: ReadonlyMap<string, AuthzAction> = new Map([
  ['connect', 'connect'],
  ['publish', 'publish'],
  ['subscribe', 'subscribe'],
  ['pub', 'publish'],
  ['sub', 'subscribe'],
])
const ACTION_ORDER: readonly AuthzAction[] = ['connect', 'publish', 'subscribe']

function claimName(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw expected(path, 'a claim name (1..256 characters)', value)
  }
  return value
}

function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

/** Check one address or CIDR block; throws a ConfigError naming `path`. */
export function parseIpCondition(value: unknown, path: string): string {
  const reason = 'must be an IPv4/IPv6 address or a CIDR block such as 10.0.0.0/8 or fd00::/8'
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(path, `${reason} (got ${describe(value)})`)
  const slash = value.indexOf('/')
  const address = slash === -1 ? value : value.slice(0, slash)
  const family = isIP(address)
  if (family === 0 || address.includes('%')) throw new ConfigError(path, `${reason} (got ${describe(value)})`)
  if (slash !== -1) {
    const prefixText = value.slice(slash + 1)
    const prefix = Number(prefixText)
    const max = family === 4 ? 32 : 128
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
      throw new ConfigError(path, `CIDR prefix must be an integer 0..${max} (got ${describe(value)})`)
    }
  }
  try {
    addIpCondition(new BlockList(), value)
  } catch (err) {
    throw new ConfigError(path, `${reason} (got ${describe(value)})`, { cause: err })
  }
  return value
}

/** Add a validated address or CIDR block to a BlockList. */
export function addIpCondition(list: BlockList, value: string): void {
  const slash = value.indexOf('/')
  const address = slash === -1 ? value : value.slice(0, slash)
  const type = isIP(address) === 4 ? 'ipv4' : 'ipv6'
  if (slash === -1) list.addAddress(address, type)
  else list.addSubnet(address, Number(value.slice(slash + 1)), type)
}

function parseStringList(value: unknown, path: string, what: string): unknown[] {
  if (!Array.isArray(value)) throw expected(path, `a list of ${what}`, value)
  return value
}

function parsePolicy(value: unknown, path: string): PolicyConfig {
  const raw = mapping(value, path)
  knownKeys(raw, path, POLICY_KEYS)

  const name = raw['name']
  if (typeof name !== 'string' || [...name].length < 3 || [...name].length > 64 || hasControlCharacter(name)) {
    throw expected(`${path}.name`, 'a string of 3..64 characters without control characters', name)
  }
  if (name.trim() !== name) throw new ConfigError(`${path}.name`, 'must not start or end with white space')

  const priority = raw['priority']
  if (typeof priority !== 'number' || !Number.isSafeInteger(priority)) {
    throw expected(`${path}.priority`, 'an integer', priority)
  }

  const effect = raw['effect']
  if (effect !== 'allow' && effect !== 'deny') {
    throw expected(`${path}.effect`, 'allow or deny', effect)
  }

  const rawActions = raw['actions']
  if (!Array.isArray(rawActions) || rawActions.length === 0) {
    throw expected(`${path}.actions`, 'a non-empty list such as [publish, subscribe]', rawActions)
  }
  const actionSet = new Set<AuthzAction>()
  rawActions.forEach((a, i) => {
    const action = typeof a === 'string' ? ACTION_ALIASES.get(a.toLowerCase()) : undefined
    if (action === undefined) {
      throw expected(`${path}.actions[${i}]`, 'connect, publish, subscribe, pub or sub', a)
    }
    actionSet.add(action)
  })
  const actions = ACTION_ORDER.filter((a) => actionSet.has(a))
  const usesTopics = actionSet.has('publish') || actionSet.has('subscribe')

  let topics: string[] = []
  if (raw['topics'] !== undefined) {
    if (!usesTopics) {
      throw new ConfigError(`${path}.topics`, 'is not used for connect-only policies (remove it, or add publish/subscribe to actions)')
    }
    const list = parseStringList(raw['topics'], `${path}.topics`, 'topic filters')
    topics = list.map((t, i) => {
      const p = `${path}.topics[${i}]`
      if (typeof t !== 'string') throw expected(p, 'a topic filter string', t)
      const parsed = parseTopicTemplate(t)
      if (!parsed.ok) throw new ConfigError(p, parsed.reason)
      return t
    })
  }
  if (usesTopics && topics.length === 0) {
    throw new ConfigError(`${path}.topics`, 'is required (a non-empty list of topic filters) for policies with publish or subscribe')
  }

  const policy: {
    -readonly [K in keyof PolicyConfig]: PolicyConfig[K]
  } = { name, priority, effect, actions, topics, retain: 'any' }

  const clientId = raw['clientId']
  if (clientId !== undefined) {
    if (typeof clientId !== 'string' || clientId.length === 0) {
      throw expected(`${path}.clientId`, 'a non-empty regular expression string', clientId)
    }
    try {
      new RegExp(clientId)
    } catch (err) {
      throw new ConfigError(`${path}.clientId`, `invalid regular expression: ${(err as Error).message}`, { cause: err })
    }
    policy.clientId = clientId
  }

  const username = raw['username']
  if (username !== undefined) {
    if (typeof username !== 'string' || username.length === 0) {
      throw expected(`${path}.username`, 'a non-empty string (matched exactly)', username)
    }
    policy.username = username
  }

  const ip = raw['ip']
  if (ip !== undefined) {
    if (Array.isArray(ip)) {
      if (ip.length === 0) throw new ConfigError(`${path}.ip`, 'must not be an empty list')
      policy.ip = ip.map((v, i) => parseIpCondition(v, `${path}.ip[${i}]`))
    } else {
      policy.ip = [parseIpCondition(ip, `${path}.ip`)]
    }
  }

  const qos = raw['qos']
  if (qos !== undefined) {
    if (!usesTopics) throw new ConfigError(`${path}.qos`, 'applies to publish and subscribe only')
    const list = parseStringList(qos, `${path}.qos`, 'QoS levels (0, 1, 2)')
    if (list.length === 0) throw new ConfigError(`${path}.qos`, 'must not be an empty list (omit it for all QoS levels)')
    const set = new Set<QoS>()
    list.forEach((q, i) => {
      if (q !== 0 && q !== 1 && q !== 2) throw expected(`${path}.qos[${i}]`, '0, 1 or 2', q)
      set.add(q)
    })
    policy.qos = [...set].sort()
  }

  const retain = raw['retain']
  if (retain !== undefined) {
    if (retain !== true && retain !== false && retain !== 'any') {
      throw expected(`${path}.retain`, 'true, false or any', retain)
    }
    if (retain !== 'any' && !actionSet.has('publish')) {
      throw new ConfigError(`${path}.retain`, 'applies to publish only')
    }
    policy.retain = retain
  }

  const description = raw['description']
  if (description !== undefined) {
    if (typeof description !== 'string' || [...description].length > 128) {
      throw expected(`${path}.description`, 'a string of at most 128 characters', description)
    }
    policy.description = description
  }

  return Object.freeze(policy)
}

/** Validate the `authorization` block (undefined or null: the defaults). */
export function parseAuthorizationConfig(value: unknown, path = 'authorization'): AuthorizationConfig {
  if (value === undefined || value === null) return DEFAULT_AUTHORIZATION
  const raw = mapping(value, path)
  knownKeys(raw, path, AUTHORIZATION_KEYS)

  const noMatch = raw['noMatch'] ?? 'deny'
  if (noMatch !== 'allow' && noMatch !== 'deny') {
    throw expected(`${path}.noMatch`, 'allow or deny', noMatch)
  }
  const aclClaim = raw['aclClaim'] === undefined ? 'acl' : claimName(raw['aclClaim'], `${path}.aclClaim`)
  const superuserClaim =
    raw['superuserClaim'] === undefined || raw['superuserClaim'] === null
      ? undefined
      : claimName(raw['superuserClaim'], `${path}.superuserClaim`)

  const rawPolicies = raw['policies'] ?? []
  if (!Array.isArray(rawPolicies)) {
    throw expected(`${path}.policies`, 'a list of policies', rawPolicies)
  }
  const names = new Map<string, number>()
  const priorities = new Map<number, number>()
  const policies = rawPolicies.map((p, i) => {
    const policyPath = `${path}.policies[${i}]`
    const policy = parsePolicy(p, policyPath)
    const sameName = names.get(policy.name)
    if (sameName !== undefined) {
      throw new ConfigError(`${policyPath}.name`, `"${policy.name}" is already used by ${path}.policies[${sameName}]`)
    }
    const samePriority = priorities.get(policy.priority)
    if (samePriority !== undefined) {
      throw new ConfigError(`${policyPath}.priority`, `${policy.priority} is already used by ${path}.policies[${samePriority}]`)
    }
    names.set(policy.name, i)
    priorities.set(policy.priority, i)
    return policy
  })

  return Object.freeze({ noMatch, aclClaim, superuserClaim, policies: Object.freeze(policies) })
}

export interface WarningContext {
  /** Whether some authenticator can admit clients with token claims (an ACL claim is possible). Default true. */
  readonly tokens?: boolean
}

function unconditioned(p: PolicyConfig): boolean {
  return p.clientId === undefined && p.username === undefined && p.ip === undefined
}

/**
 * A one-line warning for the start-up log when the configuration refuses everything (or
 * everything that does not come from a token), else undefined.
 */
export function authorizationWarning(config: AuthorizationConfig, context: WarningContext = {}): string | undefined {
  const sorted = [...config.policies].sort((a, b) => a.priority - b.priority)
  const firstConnect = sorted.find((p) => p.actions.includes('connect'))
  if (firstConnect !== undefined && firstConnect.effect === 'deny' && unconditioned(firstConnect)) {
    return `authorization: policy "${firstConnect.name}" denies connect to every client and no earlier policy allows any: every connection will be refused`
  }
  if (config.noMatch === 'allow') return undefined
  const allows = config.policies.some(
    (p) => p.effect === 'allow' && (p.actions.includes('publish') || p.actions.includes('subscribe')),
  )
  if (allows) return undefined
  if (context.tokens === false) {
    return 'authorization: noMatch is deny, no policy allows publish or subscribe, and no authenticator issues token claims: every publish and subscribe will be refused'
  }
  const superuser = config.superuserClaim === undefined ? '' : ` or its "${config.superuserClaim}" claim is true`
  return `authorization: noMatch is deny and no policy allows publish or subscribe: a client may publish or subscribe only when its token's "${config.aclClaim}" claim allows it${superuser}`
}
