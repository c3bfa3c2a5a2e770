/**
 * Metrics of cross-node delivery (`cluster`): messages this node forwarded to other nodes
 * (streams, QoS 0 channels) and received, QoS 0 messages it could not publish, what waits in its stream, its route keys and the other
 * nodes it knows. Read on scrape (the stream's length with one XLEN).
 */
import { Gauge, type Registry } from 'prom-client'
import type { RedisBus } from '../cluster/redis-bus.js'
import { scrapedCounter, scrapedGauge } from './scraped.js'

export function registerClusterMetrics(registry: Registry, bus: RedisBus): void {
  scrapedCounter(registry, 'portcullis_cluster_forwarded_total', 'Messages this node forwarded to other nodes (their streams or QoS 0 channels; one per node and message)', [],
    (add) => add({}, bus.stats.forwarded))
  scrapedCounter(registry, 'portcullis_cluster_received_total', 'Messages read from this node\'s stream or QoS 0 channel and delivered to its subscribers', [],
    (add) => add({}, bus.stats.received))
  scrapedCounter(registry, 'portcullis_cluster_qos0_lost_total', 'QoS 0 messages for other nodes known lost: not sent (Redis unreachable or not reading), or answered as heard by nobody on a live node (a Redis Cluster; one Redis only while the publishing connection is made again); at most once', [],
    (add) => add({}, bus.stats.qos0Lost))
  scrapedGauge(registry, 'portcullis_cluster_stream_entries',
    'Messages waiting in this node\'s stream (forwarded, not yet handled); -1 while Redis is unreachable', () => bus.backlog().catch(() => -1))
  scrapedGauge(registry, 'portcullis_cluster_routes',
    'Topic filters and shared groups with subscribers on this node (its entries in the route table)', () => bus.routes.localKeys)
  new Gauge({
    name: 'portcullis_cluster_peer_nodes', help: 'Other nodes this node forwards to, by whether they are alive', labelNames: ['state'], registers: [registry],
    collect() {
      let alive = 0
      let down = 0
      for (const node of bus.routes.nodes()) {
        if (bus.routes.alive(node)) alive++
        else down++
      }
      this.set({ state: 'alive' }, alive)
      this.set({ state: 'down' }, down)
    },
  })
}
