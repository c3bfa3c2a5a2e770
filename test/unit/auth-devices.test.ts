/** The device registry (load, key cache, expiry) and the CSV import parser. */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { inspect } from 'node:util'
import { parseCsvImport } from '../../src/auth/devices/import.js'
import { DeviceRegistry, type DeviceKeys } from '../../src/auth/devices/registry.js'
import type { VerifyKey } from '../../src/auth/jwt/keys.js'
import type { StoredDevice } from '../../src/auth/devices/device.js'
import { PortcullisError } from '../../src/errors.js'

const pem = (): string => String(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }))

function stored(id: string, material: string, expiresAt?: number): StoredDevice {
  return { id, enabled: true, keys: [{ id: 'k1', format: 'pem', material, ...(expiresAt !== undefined ? { expiresAt } : {}) }], createdAt: 1, updatedAt: 1 }
}

function kids(v: DeviceKeys): (string | undefined)[] {
  assert.ok(Array.isArray(v), inspect(v))
  return (v as readonly VerifyKey[]).map((k) => k.kid)
}

function codeOf(v: unknown): string | undefined {
  return v instanceof PortcullisError ? v.code : undefined
}

test('stored devices load at once, keys unimported; a CONNECT imports a device\'s keys once and the cache keeps them; an unreadable stored key refuses that device only', () => {
  const devices = [stored('a', pem()), stored('b', 'not a pem'), stored('c', pem(), Date.now() - 1000), stored('d', pem())]
  const writes: string[] = []
  const registry = new DeviceRegistry({ loadDevices: () => devices, putDevices: (d) => writes.push(...d.map((x) => x.id)), removeDevices: () => {} })
  assert.equal(registry.size, 4)
  assert.deepEqual(registry.keyCache, { entries: 0, bytes: 0, limit: 10_000, hits: 0, misses: 0 }, 'nothing imported at load')
  const keys = registry.keysFor('d')
  assert.ok(Array.isArray(keys) && keys.length === 1 && keys[0]!.owner === 'd' && keys[0]!.kid === 'k1')
  assert.equal(registry.keysFor('d'), keys, 'the second lookup finds the same imported keys')
  assert.equal(registry.keyCache.misses, 1)
  assert.equal(registry.keyCache.hits, 1)
  assert.equal(registry.keyCache.entries, 1)
  const b = registry.keysFor('b')
  assert.equal(codeOf(b), 'ERR_DEVICE_KEY_EXPIRED')
  assert.match((b as PortcullisError).message, /stored key that cannot be read: .*not PEM/)
  assert.equal(codeOf(registry.keysFor('c')), 'ERR_DEVICE_KEY_EXPIRED')
  assert.equal(registry.keyCache.misses, 2, 'a device whose keys have all expired imports nothing')
  assert.equal(codeOf(registry.keysFor('zzz')), 'ERR_DEVICE_UNKNOWN')
  assert.ok(Array.isArray(registry.keysFor('a')))
  assert.deepEqual(writes, [], 'loading writes nothing')
})

test('the key cache is bounded: the devices used most recently stay imported, a device pushed out is imported again; a replaced device is never served its old keys', () => {
  const devices = Array.from({ length: 50 }, (_, i) => stored(`dev-${i}`, pem()))
  const registry = new DeviceRegistry({ loadDevices: () => devices, putDevices: () => {}, removeDevices: () => {} }, { keyCache: 8 })
  for (const d of devices) assert.ok(Array.isArray(registry.keysFor(d.id)))
  assert.ok(registry.keyCache.entries <= 8, `${registry.keyCache.entries} devices held`)
  assert.equal(registry.keyCache.misses, 50)
  // The last ones used are still there (at least half the bound).
  for (const d of devices.slice(-4)) registry.keysFor(d.id)
  assert.equal(registry.keyCache.hits, 4)
  registry.keysFor('dev-0')
  assert.equal(registry.keyCache.misses, 51, 'pushed out: imported again')

  const before = registry.keysFor('dev-49') as readonly VerifyKey[]
  const other = pem()
  registry.put([stored('dev-49', other)])
  const after = registry.keysFor('dev-49') as readonly VerifyKey[]
  assert.notEqual(after[0].key, before[0].key)
  assert.equal(String(after[0].key.export({ type: 'spki', format: 'pem' })), other)
  registry.remove(['dev-49'])
  assert.equal(codeOf(registry.keysFor('dev-49')), 'ERR_DEVICE_UNKNOWN')

  const none = new DeviceRegistry({ loadDevices: () => devices.slice(0, 2), putDevices: () => {}, removeDevices: () => {} }, { keyCache: 0 })
  none.keysFor('dev-0')
  none.keysFor('dev-0')
  assert.deepEqual([none.keyCache.entries, none.keyCache.misses], [0, 2], 'keyCache 0: every lookup imports')
})

test('a device with one expired and one live key verifies with the live one only', () => {
  const registry = new DeviceRegistry()
  const live = pem()
  const device: StoredDevice = {
    id: 'x', enabled: true, createdAt: 1, updatedAt: 1,
    keys: [{ id: 'old', format: 'pem', material: pem(), expiresAt: Date.now() + 60_000 }, { id: 'new', format: 'pem', material: live }],
  }
  const r = new DeviceRegistry({ loadDevices: () => [device], putDevices: () => {}, removeDevices: () => {} })
  assert.deepEqual(kids(r.keysFor('x')), ['old', 'new'])
  assert.deepEqual(kids(r.keysFor('x', Date.now() + 120_000)), ['new'])
  assert.equal(registry.size, 0)
})

test('CSV: BOM, CRLF, a quoted multi-line PEM, rows grouped by id, row and line numbers, empty rows skipped', () => {
  const p = pem().trim()
  const csv = `\uFEFFid,key_id,pem\r\nd1,a,"${p}"\r\n,,\r\nd1,b,${p.replace(/\n/g, '')}\r\n,x,\r\n`
  const parsed = parseCsvImport(csv)
  assert.equal(parsed.items.length, 1)
  const item = parsed.items[0]
  assert.equal(item.raw['id'], 'd1')
  assert.equal((item.raw['keys'] as unknown[]).length, 2)
  const lines = p.split('\n').length
  assert.deepEqual(item.keyRows, [{ row: 1, line: 2 }, { row: 3, line: 3 + lines }])
  assert.deepEqual(parsed.errors, [{ row: 4, line: 4 + lines, path: 'row 4: id', message: 'is required' }])
  assert.throws(() => parseCsvImport('id,pem\n"d1,unterminated\n'), /line \d+: is not valid CSV/)
  assert.throws(() => parseCsvImport('pem\nx\n'), /header: has no id column/)
})
