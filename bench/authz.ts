/**
 * Authorization cost per check, in process: the AuthorizerChain with 1,000 policies and a
 * 50-rule token ACL against `noMatch: allow` with no rules.
 *
 *   node --import tsx bench/authz.ts [--rounds 7] [--ops 200000]
 *
 * Bounded: at most `rounds` rounds of `ops` checks per scenario, and each scenario stops
 * early once it has run for 5 s. Prints the median ns per check of the rounds.
 */
import { parseArgs } from 'node:util'
import type { Identity } from '../src/auth/types.js'
import { parseAuthorizationConfig } from '../src/authz/config.js'
import { createAuthorizerChain } from '../src/authz/create.js'
import type { AuthzSubject, ClientAuthz } from '../src/authz/types.js'

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, ops: { type: 'string', default: '200000' } },
})
const ROUNDS = Math.min(Math.max(Number(values.rounds) || 7, 1), 50)
const OPS = Math.min(Math.max(Number(values.ops) || 200_000, 1_000), 5_000_000)
const SCENARIO_BUDGET_MS = 5_000

const CLIENT = 'device-0777'

/** 1,000 policies: most are per-device or per-user and do not apply to our client. */
function policies(): Record<string, unknown>[] {
  const list: Record<string, unknown>[] = []
  for (let i = 0; i < 1000; i++) {
    const id = String(i).padStart(4, '0')
    switch (i % 5) {
      case 0: // per device, by client id
        list.push({ name: `device-${id}`, priority: i, effect: 'allow', actions: ['publish', 'subscribe'], topics: [`devices/device-${id}/#`], clientId: `^device-${id}$` })
        break
      case 1: // per user
        list.push({ name: `user-${id}`, priority: i, effect: 'allow', actions: ['subscribe'], topics: [`users/u${id}/#`], username: `u${id}` })
        break
      case 2: // per network
        list.push({ name: `net-${id}`, priority: i, effect: 'deny', actions: ['publish'], topics: ['restricted/#'], ip: `10.${i % 256}.${(i >> 8) % 256}.0/24` })
        break
      case 3: // general rules everyone gets (placeholders, qos/retain conditions)
        list.push({ name: `general-${id}`, priority: i, effect: 'deny', actions: ['publish'], topics: [`area-${id}/+/\${clientid}/#`], qos: [2], retain: true })
        break
      default: // by client id pattern
        list.push({ name: `family-${id}`, priority: i, effect: 'allow', actions: ['publish'], topics: [`family/${id}/#`], clientId: `^sensor-${id}-` })
    }
  }
  return list
}

/** 50 rules; the topics we publish to are allowed by the last one. */
function acl(): Record<string, unknown>[] {
  const rules: Record<string, unknown>[] = []
  for (let i = 0; i < 49; i++) {
    rules.push({ permission: i % 3 === 0 ? 'deny' : 'allow', action: i % 2 === 0 ? 'publish' : 'all', topic: `zone/${i}/+/\${clientid}/#`, qos: [0, 1] })
  }
  rules.push({ permission: 'allow', action: 'all', topic: 'tenants/${claims.tenant}/${clientid}/#' })
  return rules
}

function subject(claims: Record<string, unknown> | undefined): AuthzSubject {
  const identity: Identity = { authenticator: 'bench', anonymous: false, claims, expiresAt: Date.now() + 3_600_000 }
  return { clientId: CLIENT, username: 'bench-user', remoteAddress: '10.77.3.9', identity }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function measure(name: string, authz: ClientAuthz, topics: readonly string[]): number {
  const perRound: number[] = []
  let sink = 0
  // warm-up (JIT)
  for (let i = 0; i < Math.min(OPS, 50_000); i++) if (authz.canPublish(topics[i % topics.length], 1, false)) sink++
  const started = performance.now()
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < OPS; i++) if (authz.canPublish(topics[i % topics.length], 1, false)) sink++
    perRound.push(Number(process.hrtime.bigint() - t0) / OPS)
    if (performance.now() - started > SCENARIO_BUDGET_MS) break
  }
  const ns = median(perRound)
  const allowed = sink / (OPS * perRound.length + Math.min(OPS, 50_000))
  console.log(`${name.padEnd(52)} ${ns.toFixed(1).padStart(8)} ns/check  (${perRound.length} rounds, ${(allowed * 100).toFixed(0)}% allowed)`)
  return ns
}

// Flat strings, as the packet decoder produces them (template literals would be cons strings).
const wire = (s: string): string => Buffer.from(s).toString()
const hotTopics = Array.from({ length: 100 }, (_, i) => wire(`tenants/acme/${CLIENT}/sensor/${i}`))
const coldTopics = Array.from({ length: 5_000 }, (_, i) => wire(`tenants/acme/${CLIENT}/sensor/${i}`))

const baselineChain = createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'allow' }))
const baseline = baselineChain.compile(subject(undefined))

const heavyConfig = parseAuthorizationConfig({ noMatch: 'deny', policies: policies() })
const heavyChain = createAuthorizerChain(heavyConfig)
const heavySubject = subject({ tenant: 'acme', acl: acl() })

const compileRounds: number[] = []
let heavy: ClientAuthz = heavyChain.compile(heavySubject)
for (let i = 0; i < 200; i++) heavy = heavyChain.compile(heavySubject) // warm-up
for (let r = 0; r < 7; r++) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < 20; i++) heavy = heavyChain.compile(heavySubject)
  compileRounds.push(Number(process.hrtime.bigint() - t0) / 20 / 1000)
}

console.log(`node ${process.version}, ${ROUNDS} rounds × ${OPS} checks, median per round`)
console.log(`compile at CONNECT (1,000 policies + 50-rule ACL): ${median(compileRounds).toFixed(1)} µs/client`)
const base = measure('noMatch allow, no rules', baseline, hotTopics)
const hot = measure('1,000 policies + 50-rule ACL, 100 topics (cached)', heavy, hotTopics)
const cold = measure('1,000 policies + 50-rule ACL, 5,000 topics (misses)', heavy, coldTopics)
console.log(`cached:   ${(base / hot * 100).toFixed(0)}% of baseline throughput (+${(hot - base).toFixed(1)} ns/check)`)
console.log(`uncached: ${(base / cold * 100).toFixed(0)}% of baseline throughput (+${(cold - base).toFixed(1)} ns/check)`)
