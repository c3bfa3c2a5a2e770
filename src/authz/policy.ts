/**
 * Authorization policies from the configuration. At CONNECT, `compile` keeps only the
 * policies whose clientId / username / ip conditions hold for that client and substitutes
 * their placeholders once; per-message checks then walk that short list (and a cache).
 */
import { BlockList, isIP, SocketAddress } from 'node:net'
import { addIpCondition, type PolicyConfig } from './config.js'
import { type PlaceholderContext, parseTopicTemplate, renderTopicTemplate, type TopicTemplate } from './placeholders.js'
import { type CompiledRule, compileRule, RuleSet } from './rule-set.js'
import type { Authorizer, AuthzSubject } from './types.js'

interface PreparedPolicy {
  readonly policy: PolicyConfig
  readonly clientId: RegExp | undefined
  readonly ip: BlockList | undefined
  readonly templates: readonly TopicTemplate[]
  /** The compiled rule, shared by every client, when no topic has a placeholder. */
  readonly shared: CompiledRule | undefined
}

/**
 * The client's address, parsed once for BlockList checks (a string would be parsed again by
 * every check: ~2 µs each): no brackets, no IPv6 zone; undefined if it is not an IP address.
 */
export function normaliseAddress(address: string | undefined): SocketAddress | undefined {
  if (typeof address !== 'string' || address.length === 0) return undefined
  let a = address
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1)
  const zone = a.indexOf('%')
  if (zone !== -1) a = a.slice(0, zone)
  const family = isIP(a)
  if (family === 0) return undefined
  return new SocketAddress({ address: a, family: family === 4 ? 'ipv4' : 'ipv6' })
}

function prepare(policy: PolicyConfig): PreparedPolicy {
  let ip: BlockList | undefined
  if (policy.ip !== undefined) {
    ip = new BlockList()
    for (const entry of policy.ip) addIpCondition(ip, entry)
  }
  const templates = policy.topics.map((t) => {
    const parsed = parseTopicTemplate(t)
    // parseAuthorizationConfig validated every topic; a direct caller gets a TypeError.
    if (!parsed.ok) throw new TypeError(`policy "${policy.name}": topic ${JSON.stringify(t)}: ${parsed.reason}`)
    return parsed.template
  })
  const shared = templates.some((t) => t.hasPlaceholders) ? undefined : ruleFor(policy, policy.topics)
  return {
    policy,
    clientId: policy.clientId === undefined ? undefined : new RegExp(policy.clientId),
    ip,
    templates,
    shared,
  }
}

function ruleFor(policy: PolicyConfig, filters: readonly string[]): CompiledRule {
  return compileRule({
    effect: policy.effect,
    connect: policy.actions.includes('connect'),
    publish: policy.actions.includes('publish'),
    subscribe: policy.actions.includes('subscribe'),
    filters,
    qos: policy.qos,
    retain: policy.retain,
    origin: policy.name,
  })
}

export class PolicyAuthorizer implements Authorizer {
  readonly name = 'policies'
  readonly #policies: readonly PreparedPolicy[]
  /** Whether any policy has an IP condition (the only use of the client address here). */
  readonly #anyIp: boolean

  /** `policies` as validated by parseAuthorizationConfig; evaluated by ascending priority. */
  constructor(policies: readonly PolicyConfig[]) {
    this.#policies = [...policies].sort((a, b) => a.priority - b.priority).map(prepare)
    this.#anyIp = this.#policies.some((p) => p.ip !== undefined)
  }

  get size(): number {
    return this.#policies.length
  }

  compile(subject: AuthzSubject): RuleSet | undefined {
    if (this.#policies.length === 0) return undefined
    // The address only when a policy has an IP condition (reading it costs the connection a system call).
    const address = this.#anyIp ? normaliseAddress(subject.remoteAddress) : undefined
    const ctx: PlaceholderContext = {
      clientId: subject.clientId,
      username: subject.username,
      claims: subject.identity.claims,
      certificate: subject.identity.certificate,
    }
    const rules: CompiledRule[] = []
    for (const p of this.#policies) {
      const { policy } = p
      if (p.clientId !== undefined && !p.clientId.test(subject.clientId)) continue
      if (policy.username !== undefined && policy.username !== subject.username) continue
      if (p.ip !== undefined && (address === undefined || !p.ip.check(address))) continue
      if (p.shared !== undefined) {
        rules.push(p.shared)
        continue
      }
      const filters: string[] = []
      for (const t of p.templates) {
        const f = renderTopicTemplate(t, ctx, policy.effect)
        if (f !== undefined) filters.push(f)
      }
      rules.push(ruleFor(policy, filters))
    }
    return rules.length === 0 ? undefined : new RuleSet(rules, { source: 'policies' })
  }
}
