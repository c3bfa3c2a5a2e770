/** The Redis bus of an in-process cluster node (startBroker with `cluster`), for tests that look inside it. */
import assert from 'node:assert/strict'
import { RedisBus } from '../../src/cluster/redis-bus.js'
import { until, type RunningBroker } from './broker.js'

export function busOf(node: RunningBroker): RedisBus {
  const bus = node.server.broker.bus
  assert.ok(bus instanceof RedisBus, 'a cluster node runs the Redis bus')
  return bus
}

/** Wait until `from` knows that `to` has subscribers for `topic` (or shared group `group`); route notices take milliseconds. */
export async function routed(from: RunningBroker, to: string, topic: string, group?: string): Promise<void> {
  const routes = busOf(from).routes
  await until(() => {
    const m = routes.match(topic)
    return group === undefined ? m.clients.some((c) => c.clientId === to) : m.groups.some((g) => g.key === group && g.members.some((s) => s.clientId === to))
  }, `${busOf(from).nodeId} learns ${to}'s route for ${topic}`, 5000)
}
