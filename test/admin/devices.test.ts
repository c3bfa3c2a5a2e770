/**
 * The device registry through the admin API: create / get / list (paged) / replace / delete,
 * keys (at most 3, secrets never returned), validation errors with their paths, and bulk
 * import from JSON and CSV with an error for every bad row (nothing imported unless
 * partial=true; existing devices only with replace=true); requests at once on one device each
 * keep the others' changes.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { DEVICES, ecPem, useAdmin } from './helpers.js'

function ecJwk(): Record<string, unknown> {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
}

const SECRET = 'device-secret-0123456789-0123456789-abc'

describe('admin API: devices', () => {
  const h = useAdmin({ overrides: DEVICES })

  test('create, get, replace, delete; a secret is never returned; a public key shows its PEM and fingerprint', async () => {
    const pem = ecPem()
    const created = await h.api('POST', '/api/v1/devices', { id: 'meter-1', description: 'hall', keys: [{ id: 'k1', pem }, { id: 'k2', secret: SECRET, expiresAt: '2030-01-01T00:00:00Z' }] })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.enabled, true)
    assert.equal(created.body.keys[0].description, 'EC prime256v1')
    assert.deepEqual(created.body.keys[0].algorithms, ['ES256'])
    assert.match(created.body.keys[0].fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    assert.match(created.body.keys[0].pem, /BEGIN PUBLIC KEY/)
    assert.equal(created.body.keys[1].format, 'secret')
    assert.equal(created.body.keys[1].expires, '2030-01-01T00:00:00.000Z')
    assert.ok(!created.text.includes(SECRET), 'the secret is write-only')
    assert.equal(created.body.keys[1].pem, undefined)

    assert.equal((await h.api('POST', '/api/v1/devices', { id: 'meter-1', keys: [] })).status, 409)
    const got = await h.api('GET', '/api/v1/devices/meter-1')
    assert.deepEqual(got.body, created.body)
    assert.ok(!got.text.includes(SECRET))

    const replaced = await h.api('PUT', '/api/v1/devices/meter-1', { keys: [{ jwk: { ...ecJwk(), kid: 'from-jwk' } }] })
    assert.equal(replaced.status, 200, replaced.text)
    assert.equal(replaced.body.description, undefined)
    assert.deepEqual(replaced.body.keys.map((k: { id: string }) => k.id), ['from-jwk'])
    assert.equal(replaced.body.createdAt, created.body.createdAt)
    assert.equal(replaced.body.disconnected, 0)
    const renamed = await h.api('PUT', '/api/v1/devices/meter-1', { id: 'other', keys: [] })
    assert.equal(renamed.status, 400)
    assert.equal(renamed.body.path, 'device.id')

    assert.equal((await h.api('DELETE', '/api/v1/devices/meter-1')).status, 204)
    assert.equal((await h.api('GET', '/api/v1/devices/meter-1')).status, 404)
    assert.equal((await h.api('DELETE', '/api/v1/devices/meter-1')).status, 404)
  })

  test('bad devices are refused with the path at fault', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ keys: [] }, 'device.id', /is required/],
      [{ id: 'x', keys: [{ pem: 'nope' }] }, 'device.keys[0].pem', /not PEM/],
      [{ id: 'x', keys: [{ pem: ecPem(), secret: SECRET }] }, 'device.keys[0]', /exactly one of pem .*, jwk .* or secret/],
      [{ id: 'x', keys: [{ secret: 'short' }] }, 'device.keys[0].secret', /at least 32 bytes/],
      [{ id: 'x', keys: [{ pem: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----' }] }, 'device.keys[0].pem', /private key/],
      [{ id: 'x', keys: [{ jwk: { ...ecJwk(), d: 'AAAA' } }] }, 'device.keys[0].jwk', /private key material/],
      [{ id: 'x', keys: [{ pem: ecPem() }, { pem: ecPem() }, { pem: ecPem() }, { pem: ecPem() }] }, 'device.keys', /at most 3/],
      [{ id: 'x', keys: [{ id: 'a', pem: ecPem() }, { id: 'a', pem: ecPem() }] }, 'device.keys[1].id', /used by another key/],
      [{ id: 'x', keys: [{ pem: ecPem(), expiresAt: 'soon' }] }, 'device.keys[0].expiresAt', /epoch seconds or an ISO 8601 date/],
      [{ id: 'a\u0000b', keys: [] }, 'device.id', /control characters/],
      [{ id: 'x', colour: 'red' }, 'device.colour', /unknown key/],
    ]
    for (const [body, path, message] of cases) {
      const res = await h.api('POST', '/api/v1/devices', body)
      assert.equal(res.status, 400, `${path}: ${res.text}`)
      assert.equal(res.body.error, 'ERR_VALIDATION')
      assert.equal(res.body.path, path, res.text)
      assert.match(res.body.message, message)
    }
    assert.equal((await h.api('GET', '/api/v1/devices?prefix=x')).body.total >= 0, true)
    assert.equal((await h.api('GET', '/api/v1/devices/x')).status, 404, 'nothing was registered')
  })

  test('keys: add up to 3, remove one; 409 past 3', async () => {
    assert.equal((await h.api('POST', '/api/v1/devices', { id: 'rot-1', keys: [{ id: 'a', pem: ecPem() }] })).status, 201)
    assert.equal((await h.api('POST', '/api/v1/devices/rot-1/keys', { id: 'b', pem: ecPem() })).status, 201)
    const bad = await h.api('POST', '/api/v1/devices/rot-1/keys', { id: 'c', pem: 'nope' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.path, 'key.pem')
    assert.equal((await h.api('POST', '/api/v1/devices/rot-1/keys', { id: 'c', secret: SECRET })).status, 201)
    assert.equal((await h.api('POST', '/api/v1/devices/rot-1/keys', { id: 'd', pem: ecPem() })).status, 409)
    const removed = await h.api('DELETE', '/api/v1/devices/rot-1/keys/a')
    assert.deepEqual(removed.body.keys.map((k: { id: string }) => k.id), ['b', 'c'])
    assert.equal((await h.api('DELETE', '/api/v1/devices/rot-1/keys/a')).status, 404)
    // The kept secret survived the rewrite of the device.
    const again = await h.api('GET', '/api/v1/devices/rot-1')
    assert.equal(again.body.keys[1].description, `HMAC secret (${SECRET.length} bytes)`)
  })

  test('one node, requests at once on one device (a key added, another key added, disabled): none undone', async () => {
    for (let i = 0; i < 5; i++) {
      const id = `busy-${i}`
      assert.equal((await h.api('POST', '/api/v1/devices', { id, keys: [{ id: 'k1', pem: ecPem() }] })).status, 201)
      const answers = await Promise.all([
        h.api('POST', `/api/v1/devices/${id}/keys`, { id: 'ka', pem: ecPem() }),
        h.api('POST', `/api/v1/devices/${id}/keys`, { id: 'kb', secret: SECRET }),
        h.api('POST', `/api/v1/devices/${id}/disable`),
      ])
      assert.deepEqual(answers.map((a) => a.status), [201, 201, 200], answers.map((a) => a.text).join('\n'))
      const d = (await h.api('GET', `/api/v1/devices/${id}`)).body
      assert.equal(d.enabled, false)
      assert.deepEqual(d.keys.map((k: { id: string }) => k.id).sort(), ['k1', 'ka', 'kb'])
    }
  })

  test('JSON import: every bad row is reported and nothing is imported; partial=true imports the good ones', async () => {
    const rows = [
      { id: 'imp-1', keys: [{ pem: ecPem() }] },
      { id: 'imp-2', keys: [{ pem: 'broken' }] },
      'not a device',
      { id: 'imp-1', keys: [] },
      { id: 'imp-4', enabled: false, keys: [{ jwk: ecJwk() }] },
    ]
    const all = await h.api('POST', '/api/v1/devices/import', rows)
    assert.equal(all.status, 400, all.text)
    assert.equal(all.body.error, 'ERR_VALIDATION')
    assert.match(all.body.message, /3 row\(s\) cannot be imported; nothing was imported/)
    assert.deepEqual(all.body.errors.map((e: { row: number; path: string }) => [e.row, e.path]), [
      [2, 'devices[1].keys[0].pem'], [3, 'devices[2]'], [4, 'devices[3].id'],
    ])
    assert.equal((await h.api('GET', '/api/v1/devices/imp-1')).status, 404)

    const part = await h.api('POST', '/api/v1/devices/import?partial=true', { devices: rows })
    assert.equal(part.status, 200, part.text)
    assert.equal(part.body.created, 2)
    assert.equal(part.body.errors.length, 3)
    assert.equal((await h.api('GET', '/api/v1/devices/imp-4')).body.enabled, false)

    const again = await h.api('POST', '/api/v1/devices/import', [{ id: 'imp-1', keys: [] }])
    assert.equal(again.status, 400)
    assert.match(again.body.errors[0].message, /already registered \(import with replace=true/)
    const replaced = await h.api('POST', '/api/v1/devices/import?replace=true', [{ id: 'imp-1', keys: [] }])
    assert.equal(replaced.body.replaced, 1)
    assert.deepEqual((await h.api('GET', '/api/v1/devices/imp-1')).body.keys, [])
  })

  test('CSV import: one key per row, rows of one id make one device, errors name the row and line', async () => {
    const pem1 = ecPem()
    const pem2 = ecPem()
    const csv = [
      'id,enabled,description,key_id,pem,expires_at',
      `csv-1,true,first,k1,"${pem1.trim()}",`,
      `csv-1,,,k2,${pem2.replace(/\n/g, '')},2031-05-01T00:00:00Z`,
      'csv-2,maybe,,,,',
      'csv-3,,,k1,not a pem,',
      ',,,,,',
      'csv-4,false,no key yet,,,',
    ].join('\r\n')
    const post = (query: string): Promise<Response> => fetch(`${h.adminUrl}/api/v1/devices/import${query}`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-key-0123456789abcdef', 'content-type': 'text/csv' }, body: csv,
    })
    const res = await post('')
    const body = await res.json() as { errors: Array<{ row: number; line: number; path: string; message: string }> }
    assert.equal(res.status, 400, JSON.stringify(body))
    const pemLines = pem1.trim().split('\n').length
    assert.deepEqual(body.errors.map((e) => [e.row, e.line, e.path]), [
      [3, 3 + pemLines, 'row 3: enabled'],
      [4, 4 + pemLines, 'row 4: pem'],
    ], JSON.stringify(body.errors))
    assert.equal((await h.api('GET', '/api/v1/devices/csv-1')).status, 404)

    const part = await post('?partial=true')
    const result = await part.json() as { created: number; errors: unknown[] }
    assert.equal(part.status, 200)
    assert.equal(result.created, 2)
    const one = (await h.api('GET', '/api/v1/devices/csv-1')).body
    assert.deepEqual(one.keys.map((k: { id: string }) => k.id), ['k1', 'k2'])
    assert.equal(one.keys[1].expires, '2031-05-01T00:00:00.000Z')
    assert.equal(one.description, 'first')
    assert.equal((await h.api('GET', '/api/v1/devices/csv-4')).body.enabled, false)

    const badHeader = await fetch(`${h.adminUrl}/api/v1/devices/import`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-key-0123456789abcdef', 'content-type': 'text/csv' }, body: 'id,colour\nx,red\n',
    })
    assert.equal(badHeader.status, 400)
    assert.match(((await badHeader.json()) as { message: string }).message, /unknown column "colour"/)
    // CSV only where a route takes it.
    const wrong = await fetch(`${h.adminUrl}/api/v1/devices`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-key-0123456789abcdef', 'content-type': 'text/csv' }, body: 'id\nx\n',
    })
    assert.equal(wrong.status, 400)
  })

  test('list: paged by id, filtered by prefix and enabled', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: `page-${String(i).padStart(2, '0')}`, enabled: i % 5 !== 0, keys: [] }))
    assert.equal((await h.api('POST', '/api/v1/devices/import', rows)).status, 200)
    const seen: string[] = []
    let after: string | null = ''
    while (after !== null) {
      const res = await h.api('GET', `/api/v1/devices?prefix=page-&limit=10${after !== '' ? `&after=${after}` : ''}`)
      assert.equal(res.status, 200)
      seen.push(...res.body.devices.map((d: { id: string }) => d.id))
      after = res.body.next
    }
    assert.deepEqual(seen, rows.map((r) => r.id))
    const disabled = await h.api('GET', '/api/v1/devices?prefix=page-&enabled=false')
    assert.deepEqual(disabled.body.devices.map((d: { id: string }) => d.id), ['page-00', 'page-05', 'page-10', 'page-15', 'page-20'])
    assert.equal((await h.api('GET', '/api/v1/devices?limit=0')).status, 400)
  })

  test('OpenAPI documents the devices routes and schemas', async () => {
    const doc = (await h.api('GET', '/api/docs')).body
    for (const path of ['/api/v1/devices', '/api/v1/devices/import', '/api/v1/devices/{id}', '/api/v1/devices/{id}/keys', '/api/v1/devices/{id}/keys/{keyId}', '/api/v1/devices/{id}/disable']) {
      assert.ok(doc.paths[path] !== undefined, path)
    }
    assert.ok(doc.paths['/api/v1/devices/import'].post.requestBody.content['text/csv'])
    for (const name of ['Device', 'DeviceInput', 'DeviceKeyInput', 'DevicePage', 'DeviceImportResult', 'DeviceImportRowError']) assert.ok(doc.components.schemas[name], name)
  })
})
