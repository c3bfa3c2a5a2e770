/**
 * The cluster's audit trail in Redis (admin/cluster-audit.ts) on a real redis-server (unix
 * socket), two "nodes" in this process: entries from both nodes in one order, each naming its
 * node; only the newest `keep` entries stay (the single-node cap); `before` pages back; Redis
 * unreachable: writing and reading fail within the bound with ERR_UNAVAILABLE.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AUDIT_RETAINED, AuditLog } from '../../src/admin/audit.js'
import type { AuditRecord } from '../../src/store/audit-types.js'
import { ClusterAudit } from '../../src/admin/cluster-audit.js'
import { SharedConfigError } from '../../src/cluster/shared-versioned.js'
import { silentLogger } from '../../src/log.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { withTimeout } from '../helpers/broker.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

let redis: RedisServer
const states: RedisState[] = []

before(async () => {
  redis = await startRedis()
})
after(async () => {
  for (const s of states.splice(0)) await withTimeout(s.close(), 5000, 'redis close').catch(() => {})
  await redis.destroy()
})

async function node(nodeId: string): Promise<ClusterAudit> {
  const state = await RedisState.open({ path: redis.socket }, nodeId, silentLogger())
  states.push(state)
  return new ClusterAudit(state)
}

function entry(operation: string): AuditRecord {
  return { at: new Date(0).toISOString(), who: 'admin', address: '127.0.0.1', operation, summary: 's', changes: [] }
}

test("both nodes' entries in one order, each naming its node; the newest `keep` stay; `before` pages back", { timeout: 30_000 }, async () => {
  const a = await node('node-a')
  const b = await node('node-b')
  for (let i = 0; i < 6; i++) await (i % 2 === 0 ? a : b).addAudit(entry(`op-${i}`), 4)
  const newest = await b.listAudit(undefined, 10)
  assert.deepEqual(newest.map((e) => `${e.node} ${e.operation}`), ['node-b op-5', 'node-a op-4', 'node-b op-3', 'node-a op-2'], 'only the newest 4, newest first')
  assert.deepEqual(newest.map((e) => e.id), [6, 5, 4, 3])
  assert.deepEqual((await a.listAudit(5, 2)).map((e) => e.operation), ['op-3', 'op-2'])
  // Through the AuditLog as the admin API uses it (the single-node cap).
  const log = new AuditLog(a)
  await log.record(entry('op-6'))
  const page = await log.page(undefined, 2)
  assert.deepEqual(page.entries.map((e) => e.operation), ['op-6', 'op-5'])
  assert.equal(page.next, 6)
  assert.equal(AUDIT_RETAINED, 10_000)
})

test('Redis unreachable: recording and reading fail within the bound with ERR_UNAVAILABLE', { timeout: 30_000 }, async () => {
  const a = await node('node-a')
  await redis.stop('SIGKILL')
  try {
    for (const attempt of [() => a.addAudit(entry('lost'), 10), () => a.listAudit(undefined, 10)]) {
      const t0 = performance.now()
      await assert.rejects(attempt(), (err: unknown) => err instanceof SharedConfigError && err.code === 'ERR_UNAVAILABLE')
      assert.ok(performance.now() - t0 < 5000, 'within the bound')
    }
  } finally {
    await redis.start()
  }
})
