/**
 * The device registry in Redis (cluster/shared-devices.ts), two "nodes" in this process on a
 * real redis-server (unix socket): a node behind reads only the devices changed since its
 * version (from the change log), the whole registry when the log does not reach back that far
 * or a change was too large to list; a new device already registered is refused with nothing
 * written; a change worked out from a device that changed since it was read is not written; the registry is seeded once.
 */
import assert from 'node:assert/strict'
import { after, afterEach, before, test } from 'node:test'
import type { StoredDevice } from '../../src/auth/devices/device.js'
import { SHARED_DEVICES_KEY, SHARED_DEVICES_VERSION_KEY, SharedDevices, type SharedDevicesCopy } from '../../src/cluster/shared-devices.js'
import { SharedConfigError } from '../../src/cluster/shared-versioned.js'
import { silentLogger } from '../../src/log.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { delay, withTimeout } from '../helpers/broker.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

let redis: RedisServer
const states: RedisState[] = []
const shares: SharedDevices[] = []

before(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  for (const s of shares.splice(0)) s.close()
  for (const s of states.splice(0)) await withTimeout(s.close(), 5000, 'redis close').catch(() => {})
})
after(async () => {
  await redis.destroy()
})

async function node(nodeId: string): Promise<{ shared: SharedDevices; state: RedisState }> {
  const state = await RedisState.open({ path: redis.socket }, nodeId, silentLogger())
  states.push(state)
  const shared = new SharedDevices(state, silentLogger())
  shares.push(shared)
  return { shared, state }
}

function device(id: string, enabled = true): StoredDevice {
  return { id, enabled, keys: [{ id: 'k1', format: 'secret', material: `secret-of-${id}-0123456789abcdef0123456789` }], createdAt: 1, updatedAt: 2 }
}

/** A follower: every copy it is handed. */
async function follower(nodeId: string, version: number): Promise<{ shared: SharedDevices; copies: SharedDevicesCopy[] }> {
  const { shared } = await node(nodeId)
  const copies: SharedDevicesCopy[] = []
  shared.ran(version)
  await shared.follow((c) => { copies.push(c) })
  return { shared, copies }
}

/** Until `ok` holds (a check every 20 ms, at most 3 s). */
async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 150 && !ok(); i++) await delay(20)
  assert.ok(ok(), what)
}

test('a node behind reads only the devices changed since its version; a deletion comes as undefined', { timeout: 30_000 }, async () => {
  const { shared: a, state } = await node('node-a')
  await state.client.flushall()
  assert.equal(await a.seed([device('old-1')]), true)
  assert.equal(await a.seed([device('other')]), false, 'seeded once')
  const loaded = await a.load()
  assert.deepEqual(loaded?.devices.map((d) => d.id), ['old-1'])
  a.ran(loaded?.version ?? 0)
  const b = await follower('node-b', loaded?.version ?? 0)

  await a.write({ puts: [device('d1'), device('d2'), device('d3', false)] })
  await until(() => b.copies.length > 0, 'node B hears of the change')
  const first = b.copies.at(-1)
  assert.equal(first?.all, undefined, 'not the whole registry')
  assert.deepEqual([...(first?.changed?.keys() ?? [])].sort(), ['d1', 'd2', 'd3'])
  assert.equal(first?.changed?.get('d3')?.enabled, false)

  await a.write({ puts: [], removes: ['d2'] })
  await until(() => b.copies.some((c) => c.changed?.has('d2') === true && c.changed.get('d2') === undefined), 'the deletion reaches node B as undefined')
})

test('a change too large to list, or a node further behind than the log, reads the whole registry', { timeout: 60_000 }, async () => {
  const { shared: a, state } = await node('node-a')
  await state.client.flushall()
  await a.seed([])
  // Seeded at version 1 (no log entry): a node at 0 cannot read the log from there.
  const fresh = await follower('node-c', 0)
  await until(() => fresh.copies.length > 0, 'node C reads the registry')
  assert.deepEqual(fresh.copies[0].all, [])
  const b = await follower('node-b', 1)
  const many = Array.from({ length: 1001 }, (_, i) => device(`m-${i}`))
  await a.write({ puts: many })
  await until(() => b.copies.length > 0, 'node B hears of the import')
  assert.equal(b.copies[0].changed, undefined)
  assert.equal(b.copies[0].all?.length, 1001, 'the whole registry')
})

test('a new device already registered (through another node) is refused and nothing is written', { timeout: 30_000 }, async () => {
  const { shared: a, state } = await node('node-a')
  await state.client.flushall()
  await a.seed([device('taken')])
  const version = await state.client.get(SHARED_DEVICES_VERSION_KEY)
  await assert.rejects(a.write({ puts: [device('fresh'), device('taken')], mustBeNew: true }), (err: unknown) => {
    assert.ok(err instanceof SharedConfigError)
    assert.equal(err.code, 'ERR_CONFLICT')
    assert.match(err.message, /'taken'/)
    return true
  })
  assert.equal(await state.client.hexists(SHARED_DEVICES_KEY, 'fresh'), 0, 'the other device was not written either')
  assert.equal(await state.client.get(SHARED_DEVICES_VERSION_KEY), version, 'no version bump')
})

test('a change worked out from a device as read is written only while the device is still that; else it is answered as it is now', { timeout: 30_000 }, async () => {
  const { shared: a, state } = await node('node-a')
  const { shared: b } = await node('node-b')
  await state.client.flushall()
  await a.seed([device('d1')])
  const read = await a.read('d1')
  assert.equal(read, JSON.stringify(device('d1')))
  assert.equal(await a.read('none'), undefined)
  // Node B changes d1 after node A read it: A's change, worked out from what it read, is not written.
  assert.deepEqual(await b.write({ puts: [{ ...device('d1'), description: 'from b' }], readAs: new Map([['d1', read]]) }), { written: true })
  const version = await state.client.get(SHARED_DEVICES_VERSION_KEY)
  const stale = await a.write({ puts: [device('d1', false)], readAs: new Map([['d1', read]]) })
  assert.deepEqual(stale, { written: false, id: 'd1', now: JSON.stringify({ ...device('d1'), description: 'from b' }) })
  assert.equal(await state.client.get(SHARED_DEVICES_VERSION_KEY), version, 'nothing written: no version bump')
  // Deleted meanwhile: answered as none; a deletion worked out from "none" is refused once it exists.
  assert.deepEqual(await b.write({ puts: [], removes: ['d1'], readAs: new Map([['d1', stale.written ? '' : stale.now]]) }), { written: true })
  assert.deepEqual(await a.write({ puts: [device('d1', false)], readAs: new Map([['d1', stale.written ? '' : stale.now]]) }), { written: false, id: 'd1', now: undefined })
  assert.equal(await state.client.hexists(SHARED_DEVICES_KEY, 'd1'), 0, 'not brought back')
})

test('100,000 devices in one change (an import) and in a seed are written whole (no call-stack limit on the arguments)', { timeout: 60_000 }, async () => {
  const { shared: a, state } = await node('node-a')
  await state.client.flushall()
  const fleet = Array.from({ length: 100_000 }, (_, i) => device(`f-${i}`))
  assert.equal(await a.seed(fleet), true)
  assert.equal(await state.client.hlen(SHARED_DEVICES_KEY), 100_000)
  await a.write({ puts: fleet.map((d) => ({ ...d, enabled: false })), removes: ['f-0'] })
  assert.equal(await state.client.hlen(SHARED_DEVICES_KEY), 99_999)
  assert.equal((JSON.parse((await state.client.hget(SHARED_DEVICES_KEY, 'f-99999')) ?? '{}') as StoredDevice).enabled, false)
})
