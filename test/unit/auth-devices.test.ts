/** The device registry (load, background import, expiry, on-demand import) and the CSV import parser. */
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

test('stored devices load at once; keys are imported on demand or by warm(); a key that cannot be imported is reported', async () => {
  const devices = [stored('a', pem()), stored('b', 'not a pem'), stored('c', pem(), Date.now() - 1000), stored('d', pem())]
  const writes: string[] = []
  const registry = new DeviceRegistry({ loadDevices: () => devices, putDevices: (d) => writes.push(...d.map((x) => x.id)), removeDevices: () => {} })
  assert.equal(registry.size, 4)
  assert.equal(registry.pendingImport, 4)
  // Asked for before warming: imported now.
  const keys = registry.keysFor('d')
  assert.ok(Array.isArray(keys) && keys.length === 1 && keys[0]!.owner === 'd' && keys[0]!.kid === 'k1')
  assert.equal(registry.pendingImport, 3)
  await registry.warm()
  assert.equal(registry.pendingImport, 0)
  assert.deepEqual(registry.unreadable.map((u) => u.id), ['b'])
  assert.match(registry.unreadable[0].reason, /not PEM/)
  assert.equal(codeOf(registry.keysFor('b')), 'ERR_DEVICE_UNKNOWN')
  assert.equal(codeOf(registry.keysFor('c')), 'ERR_DEVICE_KEY_EXPIRED')
  assert.equal(codeOf(registry.keysFor('zzz')), 'ERR_DEVICE_UNKNOWN')
  assert.ok(Array.isArray(registry.keysFor('a')))
  assert.deepEqual(writes, [], 'loading writes nothing')
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
