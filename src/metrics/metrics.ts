/**
 * Prometheus metrics for /metrics, in a per-server Registry (never the global one, so
 * several servers can run in one process). Broker and authenticator numbers are read on
 * scrape from the counters they keep anyway; nothing is counted twice on the hot path.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { AuthenticatorStats, ManagedAuthenticator } from '../auth/create.js'
import type { JwksFetchCounts } from '../auth/jwks/source.js'
import { COUNTED_LIMITS, type CountedLimit } from '../broker/limits.js'
import { startEventLoopStallMonitor } from './event-loop-stall.js'
import { scrapedCounter, scrapedGauge, type AddTotal } from './scraped.js'
import type { CacheUsage } from '../bounded-cache.js'

/** The caches /metrics reports (portcullis_cache_entries / portcullis_cache_bytes, label `cache`). */
export const CACHE_NAMES = ['topic_match', 'authz_decisions', 'verified_tokens', 'jws_headers', 'topic_templates'] as const
export type CacheName = (typeof CACHE_NAMES)[number]

/** What the metrics read (BrokerAdmin provides it). */
export interface MetricsSource {
  stats(): {
    readonly uptimeSeconds: number
    readonly connections: { readonly current: number; readonly open: number; readonly total: number }
    readonly sessions: number
    readonly retained: number
    readonly messages: { readonly dropped: number; readonly receivedByQos: readonly number[]; readonly sentByQos: readonly number[] }
    readonly bytes: { readonly in: number; readonly out: number }
    readonly authFailures: { readonly byAuthenticator: Readonly<Record<string, Readonly<Record<string, number>>>> }
    readonly authzDenied: Readonly<Record<'connect' | 'publish' | 'subscribe', number>>
    readonly limitsHit: Readonly<Record<CountedLimit, number>>
  }
  readonly authenticators: readonly ManagedAuthenticator[]
  authenticatorStats(a: ManagedAuthenticator): AuthenticatorStats
  /** JWKS authenticators that fetch a key set: fetches by outcome (carried over across replacements). */
  jwksFetches(a: ManagedAuthenticator): JwksFetchCounts | undefined
  /** Entries and estimated bytes of each cache. */
  caches(): Readonly<Record<CacheName, CacheUsage>>
}

const FETCH_OUTCOMES = ['ok', 'error', 'rejected'] as const

const STATES = ['ok', 'stale', 'unavailable', 'disabled'] as const

export interface ServerMetrics {
  readonly registry: Registry
  close(): void
}

export interface MetricsOptions {
  readonly version?: string
  /** Cluster: this node's id, a `node` label on every series (each node serves its own /metrics). */
  readonly node?: string
}

/**
 * prom-client's default metrics that walk every handle or file descriptor of the process at each
 * scrape: one per connection. At 10,000 connections they took most of a scrape's ~18 ms of CPU
 * (process_open_fds lists /proc/self/fd), in one turn of the event loop every client waits
 * for. Not served; portcullis_connections_open counts the client sockets.
 */
export const WALKING_DEFAULT_METRICS = [
  'process_open_fds', 'nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total',
] as const

/**
 * `read` once per scrape: the collects of one scrape all start in the same turn of the event
 * loop, and the broker's stats walk every session (connected count) and its cache sizes every
 * connection (authorization caches) — once, not once per metric that shows a part of them.
 */
function oncePerScrape<T>(read: () => T): () => T {
  let value: T | undefined
  let held = false
  return () => {
    if (!held) {
      value = read()
      held = true
      setImmediate(() => {
        held = false
        value = undefined
      })
    }
    return value as T
  }
}

export function createMetrics(source: MetricsSource, options: MetricsOptions = {}): ServerMetrics {
  const registry = new Registry()
  if (options.node !== undefined) registry.setDefaultLabels({ node: options.node })
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })
  for (const name of WALKING_DEFAULT_METRICS) registry.removeSingleMetric(name)
  const stats = oncePerScrape(() => source.stats())
  const caches = oncePerScrape(() => source.caches())
  const registers = [registry]

  new Gauge({
    name: 'portcullis_info', help: 'Portcullis build information', labelNames: ['version'], registers,
    collect() {
      this.set({ version: options.version ?? 'unknown' }, 1)
    },
  })
  const gauge = (name: string, help: string, read: () => number): void => scrapedGauge(registry, name, help, read)
  const stalls = startEventLoopStallMonitor()
  gauge('portcullis_event_loop_stall_max_seconds',
    'Longest event-loop stall since the previous read of this gauge (monitorEventLoopDelay, 2 ms sampling)',
    () => stalls.takeMaxSeconds())
  gauge('portcullis_uptime_seconds', 'Seconds since the broker started', () => stats().uptimeSeconds)
  gauge('portcullis_connections', 'Connected clients (CONNECT accepted)', () => stats().connections.current)
  gauge('portcullis_connections_open', 'Open network connections, including those still in CONNECT', () => stats().connections.open)
  gauge('portcullis_sessions', 'Sessions held (connected, or persistent and offline)', () => stats().sessions)
  gauge('portcullis_retained_messages', 'Retained messages stored by clients ($SYS not counted)', () => stats().retained)
  const cacheGauge = (name: string, help: string, read: (u: CacheUsage) => number): void => {
    new Gauge({
      name, help, labelNames: ['cache'], registers,
      collect() {
        const usage = caches()
        for (const cache of CACHE_NAMES) this.set({ cache }, read(usage[cache]))
      },
    })
  }
  cacheGauge('portcullis_cache_entries', 'Entries held by each cache (authz_decisions: all connected clients together)', (u) => u.entries)
  cacheGauge('portcullis_cache_bytes', 'Estimated bytes held by each cache (keys, values and entry overhead); each is bounded by bytes', (u) => u.bytes)

  const counter = (name: string, help: string, labelNames: string[], totals: (add: AddTotal) => void): void =>
    scrapedCounter(registry, name, help, labelNames, totals)
  /** A counter of one total per authenticator, read from its stats. */
  const perAuthenticatorTotal = (name: string, help: string, read: (s: AuthenticatorStats) => number): void => {
    counter(name, help, ['authenticator'], (add) => {
      for (const a of source.authenticators) add({ authenticator: a.name }, read(source.authenticatorStats(a)))
    })
  }
  counter('portcullis_connections_accepted_total', 'Network connections accepted', [], (add) => add({}, stats().connections.total))
  new Counter({
    name: 'portcullis_messages_total', help: 'PUBLISH packets by direction (in: from clients, out: to clients) and QoS',
    labelNames: ['direction', 'qos'], registers,
    collect() {
      const m = stats().messages
      this.reset()
      for (const qos of [0, 1, 2]) {
        this.inc({ direction: 'in', qos: String(qos) }, m.receivedByQos[qos] ?? 0)
        this.inc({ direction: 'out', qos: String(qos) }, m.sentByQos[qos] ?? 0)
      }
    },
  })
  counter('portcullis_messages_dropped_total', 'Messages dropped (queue full, congested client, too large, expired)', [],
    (add) => add({}, stats().messages.dropped))
  new Counter({
    name: 'portcullis_bytes_total', help: 'Bytes on MQTT connections by direction', labelNames: ['direction'], registers,
    collect() {
      const b = stats().bytes
      this.reset()
      this.inc({ direction: 'in' }, b.in)
      this.inc({ direction: 'out' }, b.out)
    },
  })
  new Counter({
    name: 'portcullis_auth_failures_total',
    help: "Refused CONNECTs and re-authentications by reason (error code) and the authenticator whose reason it is ('none': no one's)",
    labelNames: ['reason', 'authenticator'], registers,
    collect() {
      this.reset()
      for (const [authenticator, byCode] of Object.entries(stats().authFailures.byAuthenticator)) {
        for (const [reason, n] of Object.entries(byCode)) this.inc({ reason, authenticator }, n)
      }
    },
  })
  new Counter({
    name: 'portcullis_authz_denied_total', help: 'Authorization denials by action', labelNames: ['action'], registers,
    collect() {
      const d = stats().authzDenied
      this.reset()
      for (const action of ['connect', 'publish', 'subscribe'] as const) this.inc({ action }, d[action])
    },
  })
  new Counter({
    name: 'portcullis_limit_hits_total',
    help: 'Times a per-client or per-address limit acted, by limit (the limits: key): a filter refused, a message dropped or held back, a connection or client refused',
    labelNames: ['limit'], registers,
    collect() {
      const hits = stats().limitsHit
      this.reset()
      for (const limit of COUNTED_LIMITS) this.inc({ limit }, hits[limit])
    },
  })
  new Counter({
    name: 'portcullis_authentication_outcomes_total',
    help: 'Authenticator answers: allow; deny (token ours, a claim failed) or ignore (passed on) with the reason code',
    labelNames: ['authenticator', 'outcome', 'reason'], registers,
    collect() {
      this.reset()
      for (const a of source.authenticators) {
        const s = source.authenticatorStats(a)
        this.inc({ authenticator: a.name, outcome: 'allow', reason: 'ok' }, s.allow)
        for (const [reason, n] of Object.entries(s.deny)) this.inc({ authenticator: a.name, outcome: 'deny', reason }, n)
        for (const [reason, n] of Object.entries(s.ignore)) this.inc({ authenticator: a.name, outcome: 'ignore', reason }, n)
      }
    },
  })
  perAuthenticatorTotal('portcullis_token_verifications_total',
    'Credential checks run, cache hits excluded: token signature verifications (jwt, jwks) or requests to the service (introspection, http); x509 certificates are verified in the TLS handshake, not here',
    (s) => s.verifyCount)
  perAuthenticatorTotal('portcullis_token_verification_seconds_total',
    'Time spent in credential checks, cache hits excluded: verifying token signatures (jwt, jwks) or waiting for the service (introspection, http); divide by portcullis_token_verifications_total for the mean',
    (s) => s.verifyMicrosTotal / 1e6)
  perAuthenticatorTotal('portcullis_token_verification_cache_hits_total',
    'Credential checks answered from the cache: verified tokens (jwt, jwks) or service answers (introspection, http)',
    (s) => s.cacheHits)
  new Gauge({
    name: 'portcullis_authenticator_state', help: 'Key state of each authenticator (1 for the current state)',
    labelNames: ['authenticator', 'type', 'state'], registers,
    collect() {
      this.reset()
      for (const a of source.authenticators) {
        const st = a.status()
        for (const state of STATES) this.set({ authenticator: a.name, type: a.type, state }, st.state === state ? 1 : 0)
      }
    },
  })
  const perAuthenticator = (name: string, help: string, read: (s: ReturnType<ManagedAuthenticator['status']>) => number | null): void => {
    new Gauge({
      name, help, labelNames: ['authenticator', 'type'], registers,
      collect() {
        this.reset()
        for (const a of source.authenticators) {
          const v = read(a.status())
          if (v !== null) this.set({ authenticator: a.name, type: a.type }, v)
        }
      },
    })
  }
  new Counter({
    name: 'portcullis_jwks_fetches_total',
    help: 'Key set fetches by outcome: ok (loaded); error (no usable answer: network, TLS, timeout, HTTP error status); ' +
      'rejected (an answer refused: redirect, over maxResponseBytes, not JSON, not a JWK Set)',
    labelNames: ['authenticator', 'outcome'], registers,
    collect() {
      this.reset()
      for (const a of source.authenticators) {
        const f = source.jwksFetches(a)
        if (f !== undefined) for (const outcome of FETCH_OUTCOMES) this.inc({ authenticator: a.name, outcome }, f[outcome])
      }
    },
  })
  new Gauge({
    name: 'portcullis_jwks_last_fetch_duration_seconds', help: 'How long the last key set fetch took, whatever its outcome (answer and import)',
    labelNames: ['authenticator'], registers,
    collect() {
      this.reset()
      for (const a of source.authenticators) {
        const ms = source.jwksFetches(a)?.lastDurationMs
        if (ms !== undefined && ms !== null) this.set({ authenticator: a.name }, ms / 1000)
      }
    },
  })
  perAuthenticator('portcullis_authenticator_keys', 'Verification keys held (JWKS: keys of the current key set)', (s) => s.keyCount)
  perAuthenticator('portcullis_jwks_consecutive_failures', 'Failed key set fetches since the last success', (s) => s.consecutiveFailures)
  perAuthenticator('portcullis_jwks_last_success_timestamp_seconds', 'When the key set was last loaded (epoch seconds)',
    (s) => (s.lastSuccessAt === null ? null : s.lastSuccessAt / 1000))

  return { registry, close: () => { stalls.close(); registry.clear() } }
}
