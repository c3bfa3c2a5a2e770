/**
 * Metrics of the state store (`persistence`): commit latency and batch size (histograms fed by
 * each group commit), commits and failed commits, changes cancelled before their commit, the file's size, and the persistent
 * sessions and queued messages it holds. Read on scrape, apart from the two histograms.
 */
import { Histogram, type Registry } from 'prom-client'
import type { CommitStats } from '../store/group-commit.js'
import { scrapedCounter, scrapedGauge } from './scraped.js'

/** What the store metrics read (server.ts wires the state database and the broker). */
export interface StoreMetricsSource {
  readonly stats: CommitStats
  sizeBytes(): number
  /** Persistent sessions held (connected or offline). */
  storedSessions(): number
  /** QoS 1/2 messages stored for sessions (queued or in flight), and distinct messages. */
  storedDeliveries(): { readonly deliveries: number; readonly messages: number }
}

export function registerStoreMetrics(registry: Registry, source: StoreMetricsSource): void {
  const registers = [registry]
  const latency = new Histogram({
    name: 'portcullis_store_commit_seconds', help: 'Time one group commit of the state store takes',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers,
  })
  const batch = new Histogram({
    name: 'portcullis_store_commit_changes', help: 'Changes committed together in one group commit',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000], registers,
  })
  source.stats.observe = (seconds, changes) => {
    latency.observe(seconds)
    batch.observe(changes)
  }
  scrapedCounter(registry, 'portcullis_store_commit_failures_total', 'Group commits the state store could not write (disk full, read-only)', [],
    (add) => add({}, source.stats.failures))
  scrapedCounter(registry, 'portcullis_store_changes_cancelled_total',
    'Changes dropped before their commit (a message acknowledged before it was written): never written', [], (add) => add({}, source.stats.cancelled))
  const gauge = (name: string, help: string, read: () => number): void => scrapedGauge(registry, name, help, read)
  gauge('portcullis_store_size_bytes', 'Size of the state store file and its write-ahead log', () => source.sizeBytes())
  gauge('portcullis_store_sessions', 'Persistent sessions held in the state store', () => source.storedSessions())
  gauge('portcullis_store_queued_messages', 'QoS 1/2 messages stored for sessions (queued or in flight)', () => source.storedDeliveries().deliveries)
}
