/**
 * The benchmark scenarios (issue #5). Each run measures one fresh broker process; the
 * runner alternates brokers round by round. Broker CPU per operation is the main figure.
 */
import { randomBytes } from 'node:crypto'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { cpuSeconds, mallocHeapKiB, rssKiB, HOST, type BrokerSpec, type ProbedMemory, type RunningBroker } from './brokers.js'
import type { Generator } from './generator.js'
import type { PubSpec, SubSpec, TransportTls } from './jobs.js'
import { offlineQueueRun } from './offline-queue.js'
import { stormMemoryRun } from './storm-memory.js'

export interface Sizes {
  readonly faninWarm: number // messages per publisher
  readonly faninCount: number
  readonly fanin1Warm: number
  readonly fanin1Count: number
  readonly fanoutWarm: number // messages (each → 100 deliveries)
  readonly fanoutCount: number
  readonly fixedWarmMs: number
  readonly fixedMs: number
  /** fleet: publishers (each at FLEET_RATE_PER_PUB msg/s), warm-up and measured time. */
  readonly fleetPubs: number
  readonly fleetWarmMs: number
  readonly fleetMs: number
  readonly connectWarm: number
  readonly connectCount: number
  readonly memoryConnections: readonly number[]
  /** idle-memory: connections held. */
  readonly idleConnections: number
  /** storm-memory: connects (each followed by a disconnect), and how long the broker may settle after them. */
  readonly stormConnects: number
  readonly stormSettleMs: number
  readonly authzWarm: number
  readonly authzCount: number
  /** offline-queue: persistent sessions offline, QoS 1 messages queued for each. */
  readonly offlineSessions: number
  readonly offlineMessages: number
  /**
   * fanin-qos1-durable against Mosquitto with autosave_on_changes: it rewrites its whole snapshot
   * after each change (~200 msg/s here), so every run hits the time bound; the full run reports
   * that, the smoke run (which must finish and lose nothing) leaves it out.
   */
  readonly faninMosquittoAutosave: boolean
  /** Upper bound of one measured phase. */
  readonly phaseMs: number
}

export const FULL: Sizes = {
  faninWarm: 2_000, faninCount: 20_000,
  fanin1Warm: 1_000, fanin1Count: 10_000,
  fanoutWarm: 300, fanoutCount: 3_000,
  fixedWarmMs: 1_000, fixedMs: 5_000,
  fleetPubs: 2_000, fleetWarmMs: 2_000, fleetMs: 6_000,
  // A fresh Node process needs about 2,000 connects before V8 has optimised the connect path (the
  // first 1,000 cost 2–3× the steady state); 3,000 warm-up connects measure the steady state, and
  // the warm-up's own cost is reported beside it as the cold figure.
  connectWarm: 3_000, connectCount: 10_000,
  memoryConnections: [10_000, 100_000],
  idleConnections: 10_000,
  stormConnects: 20_000, stormSettleMs: 40_000,
  authzWarm: 2_000, authzCount: 20_000,
  offlineSessions: 1_000, offlineMessages: 50, faninMosquittoAutosave: true,
  phaseMs: 30_000,
}

export const QUICK: Sizes = {
  faninWarm: 100, faninCount: 1_000,
  fanin1Warm: 100, fanin1Count: 500,
  fanoutWarm: 20, fanoutCount: 200,
  fixedWarmMs: 200, fixedMs: 800,
  fleetPubs: 500, fleetWarmMs: 400, fleetMs: 1_000,
  connectWarm: 30, connectCount: 200,
  memoryConnections: [1_000],
  idleConnections: 1_000,
  stormConnects: 300, stormSettleMs: 1_000,
  authzWarm: 100, authzCount: 1_000,
  offlineSessions: 50, offlineMessages: 10, faninMosquittoAutosave: false,
  phaseMs: 10_000,
}

export interface Measurement {
  ok: boolean
  error?: string
  /** Operations measured: messages, deliveries, connects, or connections held. */
  ops: number
  seconds: number
  brokerCpuSeconds: number
  cpuPerOpUs?: number
  throughput?: number
  /** Generator process CPU, fraction of one core (all threads). */
  genCpu?: number
  brokerCpu?: number
  p50Ms?: number
  p99Ms?: number
  p999Ms?: number
  /**
   * Portcullis only: the longest event-loop stall inside the broker during the measured phase
   * (its portcullis_event_loop_stall_max_seconds gauge, read before and after the phase).
   */
  stallMaxMs?: number
  /**
   * Node brokers serving /metrics (Portcullis, the relay floor): their garbage collections during the
   * measured phase (nodejs_gc_duration_seconds, read with the stall gauge), main-thread ms and count.
   */
  gcMajorMs?: number
  gcMajorCount?: number
  gcMinorMs?: number
  gcMinorCount?: number
  kibPerConn?: number
  /** Memory scenarios: RSS growth per connection 2 s after connecting, before the broker settled. */
  kibPerConnSoon?: number
  /**
   * idle-memory: bytes held per connection. Node brokers, read right after two full GCs: V8 heap
   * in use + the C library's heap (`[heap]` resident); Mosquitto: RSS growth.
   */
  bytesPerConn?: number
  /** idle-memory, Node brokers: the plain RSS growth per connection after the GCs (bytes). */
  rawBytesPerConn?: number
  /** idle-memory, Node brokers: V8 heap in use per connection after a full GC (bytes). */
  heapBytesPerConn?: number
  /** Connect scenarios: broker CPU per connect during the warm-up (a fresh process, cold JIT). */
  coldCpuPerOpUs?: number
  /** Token connect scenarios: the broker's own mean signature-verification time (its metrics). */
  verifyUs?: number
  /** Token connect scenarios: node:crypto's verification in a hot loop (this run, this algorithm). */
  rawVerifyUs?: number
  /** The same with 2 MiB of other memory touched between two verifications (caches cold). */
  coldVerifyUs?: number
  /** The same, one verification per 1/TOKEN_CONNECT_RATE s with the thread asleep between (the broker's pace). */
  pacedVerifyUs?: number
  rssBeforeKiB?: number
  rssAfterKiB?: number
  /** storm-memory: RSS growth (MiB) right after the storm, and once the broker settled (no forced GC). */
  stormRssSoonMiB?: number
  stormRssSettledMiB?: number
  /** storm-memory, Node brokers, settled: V8 heap committed and in use as it is (no forced GC), and in use after two full GCs (MiB growth). */
  stormHeapTotalMiB?: number
  stormHeapUsedMiB?: number
  stormHeapUsedGcMiB?: number
  held?: number
  lostQos0?: number
  /** QoS 1 deliveries missing of messages whose PUBACK the publisher received: the broker lost them. */
  lostQos1?: number
  /**
   * QoS 1 messages sent and never acknowledged by the time bound (a slow broker, not a loss: the
   * broker promised nothing for them), and those of them not delivered either.
   */
  unackedQos1?: number
  /**
   * A peer's run that hit its time bound: deliveries missing of acknowledged QoS 1 messages at
   * that moment (still queued in the broker, or lost: a slow run cannot tell). Portcullis's are
   * counted in lostQos1 whatever the time bound.
   */
  undeliveredAtBoundQos1?: number
  duplicates?: number
  /** offline-queue: broker CPU per delivery while queueing, and while draining; the drain's duration. */
  queueCpuPerOpUs?: number
  drainCpuPerOpUs?: number
  drainSeconds?: number
  /** TLS connect scenarios: handshakes of the measured block that resumed a session. */
  resumed?: number
  flags: string[]
}

export interface Ctx {
  readonly gen: Generator
  readonly sizes: Sizes
  readonly localAddresses: string[]
  readonly quick: boolean
  readonly hardFileLimit: number
}

export interface Scenario {
  readonly id: string
  readonly title: string
  /** Unit of the main figure. */
  readonly unit: string
  /** Which value is the main figure. */
  readonly main: 'cpuPerOpUs' | 'p99Ms' | 'kibPerConn' | 'bytesPerConn' | 'stormRssSettledMiB'
  /** Smaller is better for the main figure (all of ours). */
  readonly target?: string
  /** 'difference': brokers are compared by this − other (same round), not ÷ — for a growth that
   *  may be zero or below zero, where a ratio says nothing. */
  readonly compare?: 'difference'
  /** Specs to run, from the selected broker kinds; may be empty (scenario skipped). */
  specs(kinds: readonly string[]): BrokerSpec[]
  /** Set when the scenario cannot run here (reason shown in the report). */
  skip?(ctx: Ctx): string | undefined
  run(ctx: Ctx, broker: RunningBroker): Promise<Measurement>
  /** Broker start-up probe failure that means "not supported yet" rather than a failure. */
  unsupported?(startError: string): boolean
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Report label of the bare node:net server (the floor under any Node broker). */
export const NODE_FLOOR_LABEL = 'node floor'

export function standard(kinds: readonly string[]): BrokerSpec[] {
  return (['portcullis', 'mosquitto', 'aedes'] as const).filter((k) => kinds.includes(k)).map((k) => ({ label: k, kind: k }))
}

/** The standard brokers and, beside them, the node floor (bench/peers/node-floor-server.mjs) when selected. */
function withFloor(kinds: readonly string[]): BrokerSpec[] {
  return kinds.includes('node-floor') ? [...standard(kinds), { label: NODE_FLOOR_LABEL, kind: 'node-floor' }] : standard(kinds)
}

/** Durable scenarios: Portcullis memory-only and with persistence; Mosquitto with persistence, twice. */
function durable(kinds: readonly string[], mosquittoAutosave = true): BrokerSpec[] {
  const out: BrokerSpec[] = []
  if (kinds.includes('portcullis')) {
    out.push({ label: 'portcullis (memory only)', kind: 'portcullis' })
    out.push({ label: 'portcullis (persistence)', kind: 'portcullis', portcullisConfig: { persistence: { sessions: true, retained: true, sync: 'normal' }, dataDir: './data' } })
  }
  if (kinds.includes('mosquitto')) {
    out.push({ label: 'mosquitto (persistence, defaults)', kind: 'mosquitto', mosquittoPersistence: 'defaults' })
    if (mosquittoAutosave) out.push({ label: 'mosquitto (autosave_on_changes)', kind: 'mosquitto', mosquittoPersistence: 'autosave-on-changes' })
  }
  return out
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))]
}

export interface MessageLoad {
  readonly pubs: PubSpec[]
  readonly subs: SubSpec[]
  readonly fanout: number
  readonly warmPerPub: number
  readonly countPerPub: number
  readonly window: number
  readonly maxInflightPerPub: number
  readonly rate?: number
  readonly warmMs?: number
  readonly measureMs?: number
  readonly latency: boolean
  readonly qos: 0 | 1
}

/**
 * How long deliveries may pause before the generator stops waiting for the rest: 1 s at QoS 0
 * (a message dropped never comes); 5 s at QoS 1, where every message comes unless lost — on a
 * machine shared with other work a broker or generator descheduled for over a second was
 * counted as losing what it still had queued.
 */
function idleStopMs(l: MessageLoad): number {
  return l.qos === 1 ? 5_000 : 1_000
}

/** One message-scenario run: connect, warm up, measure, tear down, check losses. */
export async function messageRun(ctx: Ctx, broker: RunningBroker, l: MessageLoad): Promise<Measurement> {
  const { gen } = ctx
  const flags: string[] = []
  await gen.setup(HOST, broker.port, l.pubs, l.subs, [], 30_000, broker.spec.tls)
  const warm = await gen.load({
    phase: 1, countPerPub: l.warmPerPub, pubCount: l.pubs.length, fanout: l.fanout, window: l.window,
    maxInflightPerPub: l.maxInflightPerPub, deadline: Date.now() + (l.warmMs !== undefined ? l.warmMs * 3 + 2_000 : ctx.sizes.phaseMs),
    ...(l.rate !== undefined ? { rate: l.rate } : {}), collectLatency: false, idleMs: idleStopMs(l),
  })
  if (warm.timedOut) flags.push('warm-up hit its time bound')
  if (warm.idleStop) flags.push(`warm-up: deliveries stopped for ${idleStopMs(l) / 1000} s with messages outstanding`)
  const stallGauge = broker.metricsUrl !== undefined && l.latency
  const before = stallGauge ? await stallMaxMs(broker) : undefined // starts the broker's stall window
  const b0 = cpuSeconds(broker.pid)
  const g0 = cpuSeconds('self')
  const t0 = performance.now()
  const meas = await gen.load({
    phase: 2, countPerPub: l.countPerPub, pubCount: l.pubs.length, fanout: l.fanout, window: l.window,
    maxInflightPerPub: l.maxInflightPerPub, deadline: Date.now() + (l.measureMs !== undefined ? l.measureMs * 2 + 2_000 : ctx.sizes.phaseMs),
    ...(l.rate !== undefined ? { rate: l.rate } : {}), collectLatency: l.latency, idleMs: idleStopMs(l),
  })
  const seconds = (performance.now() - t0) / 1000
  const b1 = cpuSeconds(broker.pid)
  const g1 = cpuSeconds('self')
  const after = stallGauge ? await stallMaxMs(broker) : undefined
  const stall = after?.stallMs
  if (meas.timedOut) flags.push('measurement hit its time bound')
  if (meas.idleStop) flags.push(`measurement: deliveries stopped for ${idleStopMs(l) / 1000} s with messages outstanding`)
  const td = await gen.teardown(l.fanout)
  const expectedWarm = warm.sent * l.fanout
  const expectedMeas = meas.sent * l.fanout
  const lost = Math.max(0, expectedWarm - td.unique[0]) + Math.max(0, expectedMeas - td.unique[1])
  const ops = meas.delivered
  const m: Measurement = {
    ok: ops > 0,
    ops,
    seconds,
    brokerCpuSeconds: b1 - b0,
    cpuPerOpUs: ops > 0 ? ((b1 - b0) / ops) * 1e6 : NaN,
    throughput: ops / seconds,
    genCpu: (g1 - g0) / seconds,
    brokerCpu: (b1 - b0) / seconds,
    duplicates: td.duplicates,
    flags,
  }
  if (l.qos === 1) {
    const portcullis = broker.spec.kind === 'portcullis'
    if (!portcullis && (warm.timedOut || meas.timedOut)) m.undeliveredAtBoundQos1 = td.ackedLost
    else m.lostQos1 = td.ackedLost
    m.unackedQos1 = td.unacked
  } else m.lostQos0 = lost
  if (l.latency) {
    const sorted = td.latencies.sort()
    m.p50Ms = percentile(sorted, 0.5)
    m.p99Ms = percentile(sorted, 0.99)
    m.p999Ms = percentile(sorted, 0.999)
    if (stall !== undefined) m.stallMaxMs = stall
    // (A kind the broker has not run yet has no line: 0 while it serves any.)
    const gc = (kind: string, i: 0 | 1): number | undefined =>
      after === undefined || after.gc.size === 0 ? undefined : (after.gc.get(kind)?.[i] ?? 0) - (before?.gc.get(kind)?.[i] ?? 0)
    const majorMs = gc('major', 0)
    if (majorMs !== undefined) {
      m.gcMajorMs = majorMs
      m.gcMajorCount = gc('major', 1) ?? 0
    }
    const minorMs = gc('minor', 0)
    if (minorMs !== undefined) {
      m.gcMinorMs = minorMs
      m.gcMinorCount = gc('minor', 1) ?? 0
    }
    const achieved = meas.sent / seconds
    if (l.rate !== undefined && achieved < l.rate * 0.95) flags.push(`saturated: offered ${Math.round(achieved)}/s < 95% of ${l.rate}/s`)
    if ((m.brokerCpu ?? 0) > 0.9) flags.push('saturated: broker CPU > 90%')
  }
  if ((m.genCpu ?? 0) > 0.85) flags.push('generator CPU > 85%')
  if (ops === 0) m.error = 'no message delivered'
  if ((m.lostQos1 ?? 0) > 0) {
    const what = `${m.lostQos1} acknowledged QoS 1 message(s) lost (warm-up: sent ${warm.sent}, delivered ${td.unique[0]}; measured: sent ${meas.sent}, delivered ${td.unique[1]}; unacked ${td.unacked})`
    // Portcullis losing what it acknowledged fails the run; a peer's loss is a figure of the report.
    if (broker.spec.kind === 'portcullis') {
      m.ok = false
      m.error = what
    } else flags.push(what)
  }
  return m
}

/**
 * The broker's longest event-loop stall (ms) since the previous read: Portcullis's
 * portcullis_event_loop_stall_max_seconds gauge (reset by each read of /metrics); and its garbage
 * collections so far by kind (nodejs_gc_duration_seconds: total ms and count; none when not served).
 */
async function stallMaxMs(broker: RunningBroker): Promise<{ stallMs: number | undefined; gc: Map<string, [number, number]> } | undefined> {
  if (broker.metricsUrl === undefined) return undefined
  try {
    const text = await (await fetch(broker.metricsUrl)).text()
    const m = /^portcullis_event_loop_stall_max_seconds ([0-9.e+-]+)$/m.exec(text)
    const gc = new Map<string, [number, number]>()
    for (const g of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{kind="([a-z]+)"\} ([0-9.e+-]+)$/gm)) {
      const t = gc.get(g[2]) ?? [0, 0]
      if (g[1] === 'sum') t[0] = Number(g[3]) * 1000
      else t[1] = Number(g[3])
      gc.set(g[2], t)
    }
    return { stallMs: m === null ? undefined : Number(m[1]) * 1000, gc }
  } catch {
    return undefined
  }
}

/** Report label of the bare node:net relay (the floor under any Node broker for message traffic). */
export const NODE_RELAY_LABEL = 'node relay floor'

/**
 * Portcullis serving /metrics (for its stall gauge) beside Mosquitto and Aedes, and with node-floor
 * selected the relay floor (bench/peers/node-relay-floor.mjs), its stall gauge served the same way.
 */
export function withStallGauge(kinds: readonly string[]): BrokerSpec[] {
  const specs = standard(kinds).map((s) => (s.kind === 'portcullis' ? { ...s, metrics: true } : s))
  return kinds.includes('node-floor') ? [...specs, { label: NODE_RELAY_LABEL, kind: 'node-relay', metrics: true }] : specs
}

/** Messages per second each fleet publisher sends. */
const FLEET_RATE_PER_PUB = 5
/** Fleet subscribers: subscriber i holds `fleet/gNNN/+`, the slice of publishers with index % FLEET_SUBS = i. */
const FLEET_SUBS = 100

/** 100 publishers → 1 subscriber at 20,000 msg/s in all, open loop, at `qos` end to end. */
export function fixedRateLoad(qos: 0 | 1, sizes: Sizes): MessageLoad {
  const rate = 20_000
  const pubs: PubSpec[] = Array.from({ length: 100 }, (_, i) => ({ index: i, clientId: `bench-pub-${i}`, qos, topics: [`bench/r/${String(i).padStart(3, '0')}`] }))
  return {
    pubs, subs: [{ index: 0, clientId: 'bench-sub-0', filter: 'bench/r/+', qos }], fanout: 1,
    warmPerPub: Math.ceil((rate * sizes.fixedWarmMs) / 1000 / 100), countPerPub: Math.ceil((rate * sizes.fixedMs) / 1000 / 100),
    window: 1 << 30, maxInflightPerPub: 1 << 30, rate, warmMs: sizes.fixedWarmMs, measureMs: sizes.fixedMs, latency: true, qos,
  }
}

/** Many devices at a modest rate: `fleetPubs` publishers at 5 msg/s each, QoS 1, 100 wildcard subscribers each on a slice. */
function fleetLoad(sizes: Sizes): MessageLoad {
  const n = sizes.fleetPubs
  const rate = n * FLEET_RATE_PER_PUB
  const group = (i: number): string => String(i % FLEET_SUBS).padStart(3, '0')
  const pubs: PubSpec[] = Array.from({ length: n }, (_, i) => ({ index: i, clientId: `dev-${i}`, qos: 1, topics: [`fleet/g${group(i)}/dev-${i}`] }))
  const subs: SubSpec[] = Array.from({ length: FLEET_SUBS }, (_, i) => ({ index: i, clientId: `app-${i}`, filter: `fleet/g${group(i)}/+`, qos: 1 }))
  return {
    pubs, subs, fanout: 1,
    warmPerPub: Math.ceil((FLEET_RATE_PER_PUB * sizes.fleetWarmMs) / 1000), countPerPub: Math.ceil((FLEET_RATE_PER_PUB * sizes.fleetMs) / 1000),
    window: 1 << 30, maxInflightPerPub: 1 << 30, rate, warmMs: sizes.fleetWarmMs, measureMs: sizes.fleetMs, latency: true, qos: 1,
  }
}

function faninLoad(qos: 0 | 1, warm: number, count: number, topicsPerPub: number): Omit<MessageLoad, 'fanout'> & { fanout: number } {
  const pubs: PubSpec[] = Array.from({ length: 10 }, (_, i) => ({
    index: i, clientId: `bench-pub-${i}`, qos,
    topics: Array.from({ length: topicsPerPub }, (_x, j) => `bench/p${String(i).padStart(3, '0')}/t${String(j).padStart(3, '0')}`),
  }))
  return {
    pubs, subs: [{ index: 0, clientId: 'bench-sub-0', filter: 'bench/#', qos }], fanout: 1,
    warmPerPub: warm, countPerPub: count, window: qos === 1 ? 200 : 500, maxInflightPerPub: 50, latency: false, qos,
  }
}

/** 1,000 policies, the one that lets the bench through evaluated last (noMatch deny). */
export function thousandPolicies(): Record<string, unknown>[] {
  const list: Record<string, unknown>[] = []
  for (let i = 0; i < 999; i++) {
    const id = String(i).padStart(4, '0')
    switch (i % 5) {
      case 0: list.push({ name: `device-${id}`, priority: i, effect: 'allow', actions: ['publish', 'subscribe'], topics: [`devices/device-${id}/#`], clientId: `^device-${id}$` }); break
      case 1: list.push({ name: `user-${id}`, priority: i, effect: 'allow', actions: ['subscribe'], topics: [`users/u${id}/#`], username: `u${id}` }); break
      case 2: list.push({ name: `net-${id}`, priority: i, effect: 'deny', actions: ['publish'], topics: ['restricted/#'], ip: `10.${i % 256}.${(i >> 8) % 256}.0/24` }); break
      case 3: list.push({ name: `general-${id}`, priority: i, effect: 'deny', actions: ['publish'], topics: [`area-${id}/+/\${clientid}/#`], qos: [2], retain: true }); break
      default: list.push({ name: `family-${id}`, priority: i, effect: 'allow', actions: ['publish'], topics: [`family/${id}/#`], clientId: `^sensor-${id}-` })
    }
  }
  list.push({ name: 'bench-allow', priority: 10_000, effect: 'allow', actions: ['connect', 'publish', 'subscribe'], topics: ['bench/#'] })
  return list
}

/**
 * A 50-rule token ACL (rule-list format) for authz-1000-acl: 48 rules that match no bench topic, then
 * the two that let the bench traffic through, so a decision-cache miss walks the whole list.
 * The publish rules are indexed by their first topic level, so a rule for another tree is skipped
 * for `bench/…` topics without being tested: 36 of the 48 sit where a bench topic must test them
 * (`bench/…` that differs further down, or `+/…`), 12 are for other trees (`devices/…`).
 */
export function fiftyRuleAcl(): Record<string, unknown>[] {
  const rules: Record<string, unknown>[] = []
  for (let i = 0; i < 48; i++) {
    const permission = i % 3 === 0 ? 'deny' : 'allow'
    switch (i % 4) {
      case 0: rules.push({ permission, action: 'all', topic: `devices/\${clientid}/zone-${i}/#`, qos: [0, 1] }); break
      case 1: rules.push({ permission, action: 'publish', topic: `+/zone-${i}/\${clientid}/#`, qos: [0, 1] }); break
      case 2: rules.push({ permission, action: 'all', topic: `bench/archive-${i}/#` }); break
      default: rules.push({ permission, action: 'publish', topic: `bench/+/+/cmd-${i}`, qos: [0, 1] })
    }
  }
  rules.push({ permission: 'allow', action: 'publish', topic: 'bench/#', qos: [0, 1] })
  rules.push({ permission: 'allow', action: 'subscribe', topic: 'bench/#', qos: [0, 1] })
  return rules
}

const ACL_HEAVY_LABEL = 'portcullis (1,000 policies + 50-rule token ACL)'
let aclSecret: string | undefined
/** HS256 secret shared by the authz-1000-acl broker config and the tokens (43 bytes, UTF-8). */
function aclBenchSecret(): string {
  aclSecret ??= randomBytes(32).toString('base64url')
  return aclSecret
}

/** Every client of the load gets its own token (sub = client id) in the password, the same 50-rule ACL. */
function withAclTokens(load: MessageLoad): MessageLoad {
  const acl = fiftyRuleAcl()
  const privateKey = aclBenchSecret()
  const creds = (clientId: string): { username: string; password: string } => ({
    username: clientId, password: mintToken({ privateKey, alg: 'HS256', sub: clientId, expiresIn: 3600, acl }),
  })
  return {
    ...load,
    pubs: load.pubs.map((p) => ({ ...p, ...creds(p.clientId) })),
    subs: load.subs.map((s) => ({ ...s, ...creds(s.clientId) })),
  }
}

export const JWT_ALGS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const
export type JwtAlg = (typeof JWT_ALGS)[number]

/**
 * Token material for the connect-<alg> scenarios, filled by the runner: the authenticator, one
 * distinct token per connection, and node:crypto's own verification time for the algorithm
 * (hot loop, prepared KeyObject, measured in this run: the issue's "raw verification"; the
 * same with the caches made cold between verifications; and the same at the scenarios' pace).
 */
export const jwtMaterial = new Map<JwtAlg, {
  authenticator: Record<string, unknown>; tokens: string[]; rawVerifyUs: number; coldVerifyUs: number; pacedVerifyUs: number
  /** The key for the bare check: the HMAC secret (base64url) or the public-key PEM. */
  bareKey: string
}>()

/**
 * Token connects and their anonymous baseline run at this many connects per second. A token
 * connect costs 2–4× an anonymous one, so unpaced they would run at different rates, and CPU per
 * connect depends on the rate (at a lower rate each event-loop wake-up serves fewer connects):
 * the anonymous broker costs 20–40 µs more per connect at 3,000/s than at 7,000/s. Pacing both
 * at one rate, below what the slowest algorithm saturates at, compares like with like.
 */
export const TOKEN_CONNECT_RATE = 2_000

/** The baseline broker of the token scenarios (same config as the token broker, anonymous). */
export const TOKEN_BASELINE_LABEL = 'portcullis (anonymous)'

const bareTokenLabel = (alg: JwtAlg): string => `portcullis+${alg} (bare node:crypto check)`

/** The algorithm of a Portcullis token broker's label (`portcullis+ES256`), if it is one. */
function tokenAlgOf(label: string): JwtAlg | undefined {
  const alg = /^portcullis\+(\w+)$/.exec(label)?.[1]
  return alg !== undefined && (JWT_ALGS as readonly string[]).includes(alg) ? (alg as JwtAlg) : undefined
}

/** Portcullis with only the bare check, for a Portcullis token broker's label, if any. */
export function tokenBareOf(label: string): string | undefined {
  const alg = tokenAlgOf(label)
  return alg !== undefined ? bareTokenLabel(alg) : undefined
}

/**
 * The `connect-services` scenario's material, filled by the runner: its loopback services
 * (bench/lib/auth-services.ts), an HS256 secret with one distinct token per connection (the
 * JWT figure beside the services), and as many distinct opaque tokens.
 */
export const serviceMaterial: {
  value?: { introspectionUrl: string; httpUrl: string; hsSecret: string; hsTokens: string[]; opaque: string[] }
} = {}

/**
 * Connects per second of `connect-services` (every broker of it, the baseline included): below
 * what the service path saturates at on a shared 2-core machine.
 */
export const SERVICE_CONNECT_RATE = 1_000

const SERVICE_LABELS = {
  jwt: 'portcullis+jwt HS256',
  introspectionMiss: 'portcullis+introspection (cache miss)',
  introspectionHit: 'portcullis+introspection (cache hit)',
  httpMiss: 'portcullis+http (cache miss)',
  httpHit: 'portcullis+http (cache hit)',
} as const

/** The brokers of `connect-services` and the tokens each is sent (usernames, as the generator sends them). */
function serviceSpecs(kinds: readonly string[]): BrokerSpec[] {
  const m = serviceMaterial.value
  if (!kinds.includes('portcullis') || m === undefined) return []
  const introspection = { type: 'introspection', name: 'bench-introspection', endpoint: m.introspectionUrl, clientId: 'bench', clientSecret: 'bench-client-secret' }
  const auth = (authenticator: Record<string, unknown>): BrokerSpec['portcullisConfig'] => ({ authentication: { allowAnonymous: false, authenticators: [authenticator] } })
  return [
    { label: TOKEN_BASELINE_LABEL, kind: 'portcullis', metrics: true },
    { label: SERVICE_LABELS.jwt, kind: 'portcullis', metrics: true, portcullisConfig: auth({ type: 'jwt', name: 'bench-HS256', algorithm: 'hmac-based', secret: m.hsSecret, secretBase64: true, algorithms: ['HS256'] }) },
    { label: SERVICE_LABELS.introspectionMiss, kind: 'portcullis', metrics: true, portcullisConfig: auth(introspection) },
    { label: SERVICE_LABELS.introspectionHit, kind: 'portcullis', metrics: true, portcullisConfig: auth(introspection) },
    // the default request body (client id, username, password, peer address), no cache
    { label: SERVICE_LABELS.httpMiss, kind: 'portcullis', metrics: true, portcullisConfig: auth({ type: 'http', name: 'bench-http', url: m.httpUrl }) },
    // a body without the (per-connection) client id, so the same username is the same request: cached allows
    { label: SERVICE_LABELS.httpHit, kind: 'portcullis', metrics: true, portcullisConfig: auth({ type: 'http', name: 'bench-http', url: m.httpUrl, body: { username: '${username}' }, cacheTtl: 3600 }) },
  ]
}

function serviceTokens(label: string): string[] | undefined {
  const m = serviceMaterial.value
  if (m === undefined) return undefined
  switch (label) {
    case SERVICE_LABELS.jwt: return m.hsTokens
    case SERVICE_LABELS.introspectionMiss:
    case SERVICE_LABELS.httpMiss: return m.opaque
    // one token for every connection: the first request fills the cache, the warm-up's others hit it
    case SERVICE_LABELS.introspectionHit:
    case SERVICE_LABELS.httpHit: return m.opaque.map(() => m.opaque[0])
    default: return undefined
  }
}

/** The fleet of `connect-es256-reconnect`: this many devices come back with the tokens they had. */
export const RECONNECT_FLEET = 2_000

type TokenMaterial = NonNullable<ReturnType<typeof jwtMaterial.get>>

/**
 * The brokers of a token scenario — the anonymous baseline and the token broker, same
 * configuration otherwise, both serving /metrics; with `bare`, also the same broker with a bare
 * node:crypto check in place of its authenticators — and how each runs: the baseline paced at
 * TOKEN_CONNECT_RATE without tokens, the token broker by `runToken`, the bare one with the same
 * tokens at the same rate.
 */
function tokenPair(
  alg: JwtAlg, bare: boolean, runToken: (ctx: Ctx, broker: RunningBroker, m: TokenMaterial) => Promise<Measurement>,
): Pick<Scenario, 'specs' | 'unsupported' | 'run'> {
  return {
    specs: (kinds) => {
      const m = jwtMaterial.get(alg)
      if (!kinds.includes('portcullis') || m === undefined) return []
      const specs: BrokerSpec[] = [
        { label: TOKEN_BASELINE_LABEL, kind: 'portcullis', metrics: true },
        {
          label: `portcullis+${alg}`, kind: 'portcullis', metrics: true,
          portcullisConfig: { authentication: { allowAnonymous: false, authenticators: [m.authenticator] } },
        },
      ]
      if (bare) {
        specs.push({
          label: bareTokenLabel(alg), kind: 'portcullis', metrics: true, bareJwt: { alg, key: m.bareKey },
          portcullisConfig: { authentication: { allowAnonymous: false } },
        })
      }
      return specs
    },
    unsupported: (e) => /authenticators are not available|authentication\.authenticators/.test(e),
    run: (ctx, b) => {
      const m = jwtMaterial.get(alg)
      if (m === undefined || b.spec.label === TOKEN_BASELINE_LABEL) return connectRun(ctx, b, undefined, TOKEN_CONNECT_RATE)
      if (b.spec.bareJwt !== undefined) return connectRun(ctx, b, m.tokens, TOKEN_CONNECT_RATE)
      return runToken(ctx, b, m)
    },
  }
}

export async function connectRun(ctx: Ctx, broker: RunningBroker, tokens: string[] | undefined, rate?: number, reconnect = false): Promise<Measurement> {
  const { gen, sizes } = ctx
  const flags: string[] = []
  /** One block of connects: the broker CPU it cost, and the generator's own CPU. */
  const block = async (count: number, pool: string[] | undefined, idPrefix: string, paced: number | undefined) => {
    const b0 = cpuSeconds(broker.pid)
    const g0 = cpuSeconds('self')
    const t0 = performance.now()
    const r = await gen.connect({
      host: HOST, port: broker.port, concurrency: 20, localAddresses: ctx.localAddresses, hold: false, ...transport(broker),
      ...(pool !== undefined ? { tokens: pool } : {}), ...(paced !== undefined ? { rate: paced } : {}),
      count, deadline: Date.now() + sizes.phaseMs, idPrefix,
    })
    const seconds = (performance.now() - t0) / 1000
    await sleep(100) // let the broker finish the last closes
    const cpu = cpuSeconds(broker.pid) - b0
    if (process.env['BENCH_DEBUG'] !== undefined) console.error(`  block ${idPrefix}: ${r.ok} ok, ${((cpu / Math.max(1, r.ok)) * 1e6).toFixed(1)} µs/connect, ${(r.ok / seconds).toFixed(0)}/s`)
    return { ...r, cpu, seconds, genCpu: (cpuSeconds('self') - g0) / seconds }
  }

  // Token scenarios (`rate` set): the token broker and its anonymous baseline, each a fresh
  // process serving /metrics, get the token path's warm-up (twice the anonymous one: it settles
  // more slowly), unpaced, then the measured block paced at `rate`. /metrics is answered once
  // before the warm-up, so what its first HTTP request makes V8 compile is not measured, and the
  // broker's own verification time is read around the measured block.
  await verificationCounters(broker)
  const warmCount = rate === undefined ? sizes.connectWarm : 2 * sizes.connectWarm
  // Reconnect runs cycle through one fleet's tokens in both blocks: the warm-up verifies each
  // once (and connects with each again), the measured block finds every one remembered.
  const fleet = reconnect ? tokens?.slice(0, RECONNECT_FLEET) : undefined
  const warm = await block(warmCount, fleet ?? tokens?.slice(0, warmCount), 'warm-', undefined)
  if (warm.failed > 0) flags.push(`warm-up: ${warm.failed} failed (${warm.firstError})`)
  const v0 = await verificationCounters(broker)
  // Measured tokens are the pool's tail, so none was seen in the warm-up (no cache hits).
  const m = await block(sizes.connectCount, fleet ?? tokens?.slice(warmCount, warmCount + sizes.connectCount), 'c-', rate)
  const v1 = await verificationCounters(broker)
  const verifyUs = v0 !== undefined && v1 !== undefined && v1.count > v0.count ? ((v1.seconds - v0.seconds) / (v1.count - v0.count)) * 1e6 : undefined
  if (m.failed > 0) flags.push(`${m.failed} connect(s) failed: ${m.firstError}`)
  if (m.genCpu > 0.85) flags.push('generator CPU > 85%')
  if (broker.spec.tls?.resume === true && m.resumed < m.ok) flags.push(`${m.ok - m.resumed} of ${m.ok} TLS handshakes not resumed`)
  const throughput = m.ok / m.seconds
  if (rate !== undefined && throughput < rate * 0.95) flags.push(`saturated: ${Math.round(throughput)}/s < 95% of the paced ${rate}/s`)
  return {
    ok: m.ok > 0 && m.failed === 0,
    ...(m.failed > 0 ? { error: `${m.failed} connect(s) failed: ${m.firstError}` } : {}),
    ops: m.ok, seconds: m.seconds, brokerCpuSeconds: m.cpu,
    cpuPerOpUs: (m.cpu / Math.max(1, m.ok)) * 1e6, throughput, genCpu: m.genCpu, brokerCpu: m.cpu / m.seconds,
    coldCpuPerOpUs: (warm.cpu / Math.max(1, warm.ok)) * 1e6,
    ...(verifyUs !== undefined ? { verifyUs } : {}),
    ...(broker.spec.tls !== undefined ? { resumed: m.resumed } : {}),
    flags,
  }
}

/** The broker's own signature-verification counters (token scenarios serve /metrics). */
async function verificationCounters(broker: RunningBroker): Promise<{ count: number; seconds: number } | undefined> {
  if (broker.metricsUrl === undefined) return undefined
  try {
    const text = await (await fetch(broker.metricsUrl)).text()
    const sum = (family: string): number => {
      let total = 0
      for (const m of text.matchAll(new RegExp(`^${family}\\{[^}]*\\} ([0-9.e+-]+)$`, 'gm'))) total += Number(m[1])
      return total
    }
    return { count: sum('portcullis_token_verifications_total'), seconds: sum('portcullis_token_verification_seconds_total') }
  } catch {
    return undefined
  }
}

/** The generator's TLS options for a broker whose spec listens over TLS. */
function transport(broker: RunningBroker): { tls?: TransportTls } {
  return broker.spec.tls !== undefined ? { tls: broker.spec.tls } : {}
}

/** Longest wait for an idle broker's memory to settle (full runs only). */
const SETTLE_MS = 45_000

async function memoryRun(ctx: Ctx, broker: RunningBroker, n: number): Promise<Measurement> {
  const { gen } = ctx
  const flags: string[] = []
  // A few connections first so lazily-initialised paths are not charged to the measurement.
  await gen.connect({ host: HOST, port: broker.port, count: 50, concurrency: 10, deadline: Date.now() + 10_000, idPrefix: 'warm-', localAddresses: ctx.localAddresses, hold: false })
  await sleep(500)
  const before = rssKiB(broker.pid)
  const t0 = performance.now()
  const r = await gen.connect({
    host: HOST, port: broker.port, count: n, concurrency: 100, deadline: Date.now() + (ctx.quick ? 20_000 : 120_000),
    idPrefix: 'idle-', localAddresses: ctx.localAddresses, hold: true,
  })
  const seconds = (performance.now() - t0) / 1000
  await sleep(ctx.quick ? 500 : 2_000)
  const soon = rssKiB(broker.pid)
  // Idle memory is what an idle broker settles at. Right after a connect storm a garbage-collected
  // broker still holds the storm's garbage and a grown young generation (tens of MB, whatever the
  // connection count); V8's memory reducer gives it back once the process is idle, typically
  // 25–35 s later. Wait for that (same wait for every broker; a drop followed by 3 s of steady
  // RSS ends the wait early), and report the figure 2 s after connecting beside it.
  let after = soon
  if (!ctx.quick) {
    const until = Date.now() + SETTLE_MS
    let low = soon
    let steadySince = 0
    while (Date.now() < until) {
      await sleep(1_000)
      const now = rssKiB(broker.pid)
      if (now < low * 0.9) { low = now; steadySince = Date.now() } else if (steadySince > 0 && Math.abs(now - low) > low * 0.02) steadySince = Date.now()
      after = now
      if (steadySince > 0 && Date.now() - steadySince >= 3_000) break
    }
  }
  await gen.release()
  if (r.failed > 0) flags.push(`${r.failed} of ${n} connections failed: ${r.firstError}`)
  const held = r.ok
  return {
    ok: held === n,
    ...(held !== n ? { error: `held ${held} of ${n} connections (${r.firstError ?? 'time bound'})` } : {}),
    ops: held, seconds, brokerCpuSeconds: 0,
    kibPerConn: held > 0 ? (after - before) / held : NaN,
    ...(held > 0 && after !== soon ? { kibPerConnSoon: (soon - before) / held } : {}),
    rssBeforeKiB: before, rssAfterKiB: after, held, throughput: held / seconds, flags,
  }
}

/** A broker's memory for idle-memory: after two full GCs for Node brokers, VmRSS for Mosquitto. */
async function memoryNow(broker: RunningBroker): Promise<Pick<ProbedMemory, 'rss'> & Partial<ProbedMemory> & { malloc: number }> {
  const m = broker.probeMemory !== undefined ? await broker.probeMemory() : { rss: rssKiB(broker.pid) * 1024 }
  return { ...m, malloc: mallocHeapKiB(broker.pid) * 1024 }
}

/**
 * idle-memory: what an idle connection costs, read so that garbage does not count. Node brokers
 * collect garbage (two full GCs, memory-probe.mjs) right before each reading; Mosquitto frees
 * as it goes. RSS before and 2 s after `n` connections, and for Node brokers the V8 heap in use.
 */
export async function idleMemoryRun(ctx: Ctx, broker: RunningBroker, n: number): Promise<Measurement> {
  const { gen } = ctx
  const flags: string[] = []
  // A few connections first so lazily-initialised paths are not charged to the measurement.
  await gen.connect({ host: HOST, port: broker.port, count: 50, concurrency: 10, deadline: Date.now() + 10_000, idPrefix: 'warm-', localAddresses: ctx.localAddresses, hold: false, ...transport(broker) })
  await sleep(500)
  const before = await memoryNow(broker)
  const t0 = performance.now()
  const r = await gen.connect({
    host: HOST, port: broker.port, count: n, concurrency: 100, deadline: Date.now() + (ctx.quick ? 20_000 : 120_000),
    idPrefix: 'idle-', localAddresses: ctx.localAddresses, hold: true, ...transport(broker),
  })
  const seconds = (performance.now() - t0) / 1000
  await sleep(2_000)
  const after = await memoryNow(broker)
  await gen.release()
  if (r.failed > 0) flags.push(`${r.failed} of ${n} connections failed: ${r.firstError}`)
  const held = r.ok
  const heap = before.heapUsed !== undefined && after.heapUsed !== undefined ? (after.heapUsed - before.heapUsed) / held : undefined
  // Right after a connect storm V8 keeps pages resident that its GCs emptied (a grown young
  // generation, pooled pages; given back ~30 s later by its memory reducer): in the RSS, but not
  // held by any connection. What a connection holds is its V8 objects and what native code
  // malloc'd for it (socket handle, libuv request structures).
  const rss = after.rss - before.rss
  const native = after.malloc - before.malloc
  return {
    ok: held === n,
    ...(held !== n ? { error: `held ${held} of ${n} connections (${r.firstError ?? 'time bound'})` } : {}),
    ops: held, seconds, brokerCpuSeconds: 0,
    bytesPerConn: held > 0 ? (heap !== undefined ? heap + native / held : rss / held) : NaN,
    ...(heap !== undefined && held > 0 ? { heapBytesPerConn: heap, rawBytesPerConn: rss / held } : {}),
    rssBeforeKiB: before.rss / 1024, rssAfterKiB: after.rss / 1024, held, throughput: held / seconds, flags,
  }
}

export function scenarios(sizes: Sizes): Scenario[] {
  const list: Scenario[] = [
    {
      id: 'fanin-qos0', title: 'Fan-in QoS 0 (10 publishers → 1 wildcard subscriber)', unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'Mosquitto 13.4, Aedes 25.4, Portcullis ≤ 16',
      specs: standard,
      run: (ctx, b) => messageRun(ctx, b, faninLoad(0, sizes.faninWarm, sizes.faninCount, 1)),
    },
    {
      id: 'fanin-qos1', title: 'Fan-in QoS 1 (10 publishers → 1 wildcard subscriber)', unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'Mosquitto 26.3, Aedes 34.2, Portcullis ≤ 32',
      specs: standard,
      run: (ctx, b) => messageRun(ctx, b, faninLoad(1, sizes.fanin1Warm, sizes.fanin1Count, 1)),
    },
    {
      id: 'fanin-qos1-durable', title: 'Fan-in QoS 1 to a persistent subscriber (10 publishers → 1 wildcard subscriber, Clean Session 0), brokers storing its messages', unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'Portcullis durable ≤ 1.5 × Portcullis memory-only, and ≤ Mosquitto with autosave_on_changes (issue #12)',
      specs: (kinds) => durable(kinds, sizes.faninMosquittoAutosave),
      run: (ctx, b) => messageRun(ctx, b, { ...faninLoad(1, sizes.fanin1Warm, sizes.fanin1Count, 1), subs: [{ index: 0, clientId: 'bench-durable-sub', filter: 'bench/#', qos: 1, persistent: true }] }),
    },
    {
      id: 'offline-queue', title: `Offline queue: ${sizes.offlineSessions.toLocaleString('en-US')} persistent sessions offline, ${sizes.offlineMessages} QoS 1 messages queued for each, then they reconnect and drain`, unit: 'µs/delivery', main: 'cpuPerOpUs',
      target: 'Portcullis durable against Mosquitto with persistence (issue #12); every queued message delivered',
      specs: durable,
      run: (ctx, b) => offlineQueueRun(b, { sessions: sizes.offlineSessions, messages: sizes.offlineMessages, phaseMs: Math.max(ctx.sizes.phaseMs, 30_000) }),
    },
    {
      id: 'fanout-qos0', title: 'Fan-out QoS 0 (1 publisher → 100 subscribers)', unit: 'µs/delivery', main: 'cpuPerOpUs',
      target: 'Mosquitto 10.4, Aedes 13.7, Portcullis ≤ 12.5',
      specs: standard,
      run: (ctx, b) => messageRun(ctx, b, {
        pubs: [{ index: 0, clientId: 'bench-pub-0', qos: 0, topics: ['bench/fanout'] }],
        subs: Array.from({ length: 100 }, (_, i) => ({ index: i, clientId: `bench-sub-${i}`, filter: 'bench/fanout', qos: 0 as const })),
        fanout: 100, warmPerPub: sizes.fanoutWarm, countPerPub: sizes.fanoutCount, window: 64, maxInflightPerPub: 64, latency: false, qos: 0,
      }),
    },
    {
      id: 'fixed-rate-qos0', title: 'Fixed rate 20,000 msg/s QoS 0, 100 publishers → 1 subscriber (CPU per message, latency, broker event-loop stall)', unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'CPU per message and p99 at or below Mosquitto (issue #19)',
      specs: withStallGauge,
      run: (ctx, b) => messageRun(ctx, b, fixedRateLoad(0, sizes)),
    },
    {
      id: 'fixed-rate-qos1', title: 'Fixed rate 20,000 msg/s QoS 1, 100 publishers → 1 subscriber (CPU per message, latency, broker event-loop stall)', unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'CPU per message and p99 at or below Mosquitto; no broker event-loop stall over 5 ms (issue #19)',
      specs: withStallGauge,
      run: (ctx, b) => messageRun(ctx, b, fixedRateLoad(1, sizes)),
    },
    {
      id: 'fleet', title: `Fleet: ${sizes.fleetPubs.toLocaleString('en-US')} publishers at ${FLEET_RATE_PER_PUB} msg/s each, QoS 1 → ${FLEET_SUBS} subscribers, each on fleet/gNNN/+ (a slice of the publishers)`, unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'CPU per message at or below Mosquitto (issue #19)',
      specs: withStallGauge,
      run: (ctx, b) => messageRun(ctx, b, fleetLoad(sizes)),
    },
    {
      id: 'connect', title: 'Connect rate, no authentication (CONNECT → CONNACK → DISCONNECT, 20 in parallel)', unit: 'µs/connect', main: 'cpuPerOpUs',
      target: 'CPU per connect at or below Mosquitto (issue #19); the node floor shows what Node itself spends (socket create, read, write, destroy)',
      specs: withFloor,
      run: (ctx, b) => connectRun(ctx, b, undefined),
    },
  ]
  for (const alg of JWT_ALGS) {
    list.push({
      id: `connect-${alg.toLowerCase()}`,
      title: `Connects with ${alg} tokens at ${TOKEN_CONNECT_RATE.toLocaleString('en-US')}/s (distinct token per connection) against the same broker without authentication at the same rate, and beside it the same broker with a bare node:crypto token check in place of its authenticators`,
      unit: 'µs/connect', main: 'cpuPerOpUs',
      target: 'extra CPU per connect over the anonymous baseline ≤ raw verification (node:crypto hot loop, this run) + 20 µs (issue #3)',
      ...tokenPair(alg, true, async (ctx, b, m) => {
        const r = await connectRun(ctx, b, m.tokens, TOKEN_CONNECT_RATE)
        return { ...r, rawVerifyUs: m.rawVerifyUs, coldVerifyUs: m.coldVerifyUs, pacedVerifyUs: m.pacedVerifyUs }
      }),
    })
  }
  list.push({
    id: 'connect-es256-reconnect',
    title: `Reconnects with ES256 tokens already verified (a fleet of ${RECONNECT_FLEET.toLocaleString('en-US')} devices coming back with the tokens they had, after a network blip) at ${TOKEN_CONNECT_RATE.toLocaleString('en-US')}/s, against the same broker without authentication at the same rate`,
    unit: 'µs/connect', main: 'cpuPerOpUs',
    target: 'the verified-token cache answers every reconnect: no signature verification in the measured block',
    ...tokenPair('ES256', false, async (ctx, b, m) => {
      const r = await connectRun(ctx, b, m.tokens, TOKEN_CONNECT_RATE, true)
      if (r.verifyUs !== undefined) r.flags.push('signatures were verified in the measured block: the cache missed')
      return r
    }),
  })
  list.push({
    id: 'connect-services',
    title: `Connects at ${SERVICE_CONNECT_RATE.toLocaleString('en-US')}/s through the authenticators that ask a service (OAuth 2.0 introspection, HTTP auth service; loopback services in the harness process answering at once), cache miss (a distinct token per connection) and cache hit (one token), beside an HS256 JWT (distinct tokens) and the same broker without authentication at the same rate`,
    unit: 'µs/connect', main: 'cpuPerOpUs',
    target: 'issue #15: CPU per connect with the introspection and HTTP authenticators, cache hit and miss, beside the HS256 JWT figure',
    specs: serviceSpecs,
    unsupported: (e) => /authenticators are not available|authentication\.authenticators/.test(e),
    run: (ctx, b) => connectRun(ctx, b, serviceTokens(b.spec.label), SERVICE_CONNECT_RATE),
  })
  for (const n of sizes.memoryConnections) {
    list.push({
      id: `memory-${n >= 1000 ? `${n / 1000}k` : n}`, title: `Idle memory per connection, ${n.toLocaleString('en-US')} connections (RSS growth once the broker has settled, at most 45 s idle)`, unit: 'KiB/conn', main: 'kibPerConn',
      target: 'Mosquitto 0.7, Aedes 17, Portcullis ≤ 4 (and 100,000 held); issue #19: ≤ 1.5 KB',
      specs: withFloor,
      skip: (ctx) => ctx.hardFileLimit < n + 1_000
        ? `open-file hard limit is ${ctx.hardFileLimit} (ulimit -Hn; raising it needs CAP_SYS_RESOURCE), so neither the broker nor the generator can hold ${n} sockets`
        : undefined,
      run: (ctx, b) => memoryRun(ctx, b, n),
    })
  }
  list.push({
    id: 'idle-memory',
    title: `Idle memory per connection, ${sizes.idleConnections.toLocaleString('en-US')} connections held 2 s: bytes held — Node brokers, right after two full GCs: V8 heap in use + the C library's heap (resident); Mosquitto: RSS growth`,
    unit: 'B/conn', main: 'bytesPerConn',
    target: 'Portcullis ≤ 1,500 B/conn (issue 19; Mosquitto ~740)',
    specs: (kinds) => withFloor(kinds).map((spec) => ({ ...spec, memoryProbe: true })),
    skip: (ctx) => ctx.hardFileLimit < sizes.idleConnections + 1_000
      ? `open-file hard limit is ${ctx.hardFileLimit} (ulimit -Hn), too low for ${sizes.idleConnections} sockets`
      : undefined,
    run: (ctx, b) => idleMemoryRun(ctx, b, sizes.idleConnections),
  })
  list.push({
    id: 'storm-memory',
    title: `Memory a connect storm leaves behind: ${sizes.stormConnects.toLocaleString('en-US')} connects + disconnects (20 at a time), then idle: RSS growth right after and once settled (at most ${sizes.stormSettleMs / 1000} s, no forced GC); Node brokers: V8 heap as it is then, and after two full GCs`,
    unit: 'MiB', main: 'stormRssSettledMiB', compare: 'difference',
    target: 'issue 19: bound the V8 heap growth a connect storm leaves behind',
    specs: (kinds) => withFloor(kinds).map((spec) => ({ ...spec, memoryProbe: true })),
    run: (ctx, b) => stormMemoryRun(ctx, b, sizes.stormConnects, sizes.stormSettleMs),
  })
  list.push({
    id: 'authz-1000', title: 'Authorization-heavy publish: fan-in QoS 0, 10×100 topics, 1,000 policies vs noMatch allow (Portcullis)', unit: 'µs/msg', main: 'cpuPerOpUs',
    target: 'throughput with 1,000 policies ≥ 90% of noMatch allow',
    specs: (kinds) => kinds.includes('portcullis')
      ? [
          { label: 'portcullis (noMatch allow)', kind: 'portcullis' },
          { label: 'portcullis (1,000 policies)', kind: 'portcullis', portcullisConfig: { authorization: { noMatch: 'deny', policies: thousandPolicies() } } },
        ]
      : [],
    run: (ctx, b) => messageRun(ctx, b, faninLoad(0, sizes.authzWarm, sizes.authzCount, 100)),
  })
  list.push({
    id: 'authz-1000-acl', title: 'Authorization-heavy publish with tokens: fan-in QoS 0, 10×100 topics, 1,000 policies + HS256 token (password) with a 50-rule ACL vs anonymous noMatch allow (Portcullis)', unit: 'µs/msg', main: 'cpuPerOpUs',
    target: 'throughput with 1,000 policies and a 50-rule token ACL ≥ 90% of noMatch allow (issue #4)',
    specs: (kinds) => kinds.includes('portcullis')
      ? [
          { label: 'portcullis (noMatch allow)', kind: 'portcullis' },
          {
            label: ACL_HEAVY_LABEL, kind: 'portcullis',
            portcullisConfig: {
              authentication: {
                allowAnonymous: false,
                authenticators: [{ type: 'jwt', name: 'bench-acl', algorithm: 'hmac-based', secret: aclBenchSecret(), from: 'password', algorithms: ['HS256'] }],
              },
              authorization: { noMatch: 'deny', aclClaim: 'acl', policies: thousandPolicies() },
            },
          },
        ]
      : [],
    run: (ctx, b) => {
      const load = faninLoad(0, sizes.authzWarm, sizes.authzCount, 100)
      return messageRun(ctx, b, b.spec.label === ACL_HEAVY_LABEL ? withAclTokens(load) : load)
    },
  })
  return list
}
