/** GET /stats and the cache sizes /metrics reports: read from counters the broker keeps anyway. */
import type { ManagedAuthenticator } from '../auth/create.js'
import { headerCacheUsage } from '../auth/jwt/jws.js'
import { templateCacheUsage } from '../authz/placeholders.js'
import { NO_USAGE, addUsage, type CacheUsage } from '../bounded-cache.js'
import type { Broker } from '../broker/broker.js'
import type { CountedLimit } from '../broker/limits.js'
import type { CacheName } from '../metrics/metrics.js'
import { clock } from '../clock.js'

export interface BrokerStatsView {
  readonly startedAt: string
  readonly uptimeSeconds: number
  readonly connections: { readonly current: number; readonly open: number; readonly total: number }
  readonly sessions: number
  readonly retained: number
  readonly messages: {
    readonly received: number
    readonly sent: number
    readonly dropped: number
    readonly receivedByQos: readonly number[]
    readonly sentByQos: readonly number[]
  }
  readonly bytes: { readonly in: number; readonly out: number }
  readonly authFailures: {
    readonly total: number
    readonly byReason: Readonly<Record<string, number>>
    /** By the authenticator whose reason was given ('none': no one's), then by code. */
    readonly byAuthenticator: Readonly<Record<string, Readonly<Record<string, number>>>>
  }
  readonly authzDenied: { readonly connect: number; readonly publish: number; readonly subscribe: number }
  /** Times each per-client / per-address limit acted (refused, dropped or held back). */
  readonly limitsHit: Readonly<Record<CountedLimit, number>>
}

/** Entries and estimated bytes of every cache, by name (each is bounded by bytes; README "Limits"). */
export function cacheUsage(broker: Broker, authenticators: readonly ManagedAuthenticator[]): Readonly<Record<CacheName, CacheUsage>> {
  let tokens = NO_USAGE
  for (const a of authenticators) tokens = addUsage(tokens, a.cacheUsage())
  return {
    topic_match: broker.tree.cacheUsage,
    authz_decisions: broker.authzCacheUsage(),
    verified_tokens: tokens,
    jws_headers: headerCacheUsage(),
    topic_templates: templateCacheUsage(),
  }
}

/** The broker's counters, as GET /stats answers them. */
export function brokerStats(b: Broker): BrokerStatsView {
  const s = b.stats
  return {
    startedAt: new Date(b.startedAt).toISOString(),
    uptimeSeconds: Math.floor((clock.now() - b.startedAt) / 1000),
    connections: { current: b.sessions.connectedCount, open: b.connectionCount, total: s.connectionsTotal },
    sessions: b.sessions.size,
    retained: b.retained.userSize ?? b.retained.size,
    messages: {
      received: s.messagesReceived,
      sent: s.messagesSent,
      dropped: s.messagesDropped,
      receivedByQos: [...s.messagesReceivedByQos],
      sentByQos: [...s.messagesSentByQos],
    },
    bytes: { in: s.bytesIn, out: s.bytesOut },
    authFailures: {
      total: s.authFailures,
      byReason: { ...s.authFailuresByReason },
      byAuthenticator: Object.fromEntries(Object.entries(s.authFailuresByAuthenticator).map(([a, byCode]) => [a, { ...byCode }])),
    },
    authzDenied: { ...s.authzDenied },
    limitsHit: { ...s.limitsHit },
  }
}
