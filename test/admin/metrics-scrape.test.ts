/**
 * What one /metrics scrape costs the broker (issue 19: no event-loop stall over 5 ms): the
 * broker's stats and cache sizes are read once per scrape, not once per metric that shows a
 * part of them, and prom-client's default metrics that walk every handle or file descriptor
 * (one per connection) are not served.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { BrokerAdmin } from '../../src/admin/broker-admin.js'
import { WALKING_DEFAULT_METRICS, createMetrics, type MetricsSource } from '../../src/metrics/metrics.js'
import { connect, end, useBroker } from '../helpers/broker.js'

const broker = useBroker()

/** The broker's own admin facade, with its stats() and caches() reads counted. */
function counted(admin: BrokerAdmin): { source: MetricsSource; reads: { stats: number; caches: number } } {
  const reads = { stats: 0, caches: 0 }
  const source: MetricsSource = {
    stats: () => { reads.stats++; return admin.stats() },
    caches: () => { reads.caches++; return admin.caches() },
    get authenticators() { return admin.authenticators },
    authenticatorStats: (a) => admin.authenticatorStats(a),
    jwksFetches: (a) => admin.jwksFetches(a),
  }
  return { source, reads }
}

test('one scrape reads the broker stats and cache sizes once; the next scrape reads them again (fresh values)', async () => {
  const { source, reads } = counted(broker.server.brokerAdmin)
  const metrics = createMetrics(source)
  try {
    const first = await metrics.registry.metrics()
    assert.deepEqual(reads, { stats: 1, caches: 1 })
    assert.match(first, /^portcullis_connections 0$/m)
    const client = await connect(broker.port, { clientId: 'scrape-1', protocolVersion: 4 })
    try {
      const second = await metrics.registry.metrics()
      assert.deepEqual(reads, { stats: 2, caches: 2 })
      assert.match(second, /^portcullis_connections 1$/m)
      assert.match(second, /^portcullis_connections_open 1$/m)
      assert.match(second, /^portcullis_cache_entries\{cache="authz_decisions"\} \d+$/m)
    } finally {
      await end(client)
    }
  } finally {
    metrics.close()
  }
})

test('the default metrics that walk every socket (one per connection) are not served; the cheap ones are', async () => {
  const metrics = createMetrics(broker.server.brokerAdmin)
  try {
    const text = await metrics.registry.metrics()
    for (const name of WALKING_DEFAULT_METRICS) assert.doesNotMatch(text, new RegExp(`^# TYPE ${name} `, 'm'), name)
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_max_fds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
  } finally {
    metrics.close()
  }
})
