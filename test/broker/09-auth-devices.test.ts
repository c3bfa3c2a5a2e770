/**
 * Per-device keys (`type: devices`) over real sockets, MQTT 3.1.1 and 5.0, with the devices
 * managed through the admin API: a device's token connects as that device; a token signed by
 * another device's key is refused; a rotated key works while the old one is still listed and
 * stops when it is removed (its live connection is dropped at once); a disabled device is
 * refused (0x8A / 3.1.1: 5) and its live connection dropped; a deleted one too; the registry
 * survives a restart.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { removeDir, startAdmin, tempDataDir, type RunningAdmin } from '../admin/helpers.js'
import { connackCode, REFUSED } from '../helpers/auth-broker.js'
import { AUDIENCE, DEVICES_CONFIG, ecPair, type Pair } from '../helpers/devices.js'
import { rawSocket, uid, VERSIONS, type Version } from '../helpers/broker.js'

const BANNED: Record<Version, number> = { 4: 5, 5: 0x8a }

function deviceToken(pair: Pair, claims: Record<string, unknown> = {}, kid?: string): string {
  return mintToken({ privateKey: pair.privateKey, alg: 'ES256', expiresIn: 600, claims: { aud: AUDIENCE, ...claims }, ...(kid !== undefined ? { kid } : {}) })
}

function code(version: Version, c: { reasonCode?: number; returnCode?: number }): number {
  return (version === 5 ? c.reasonCode : c.returnCode) as number
}

describe('09 devices: per-device keys', () => {
  let h: RunningAdmin
  const dataDir = tempDataDir()
  before(async () => {
    h = await startAdmin({ dataDir, overrides: DEVICES_CONFIG })
  })
  after(async () => {
    await h.close()
    removeDir(dataDir)
  })

  for (const version of VERSIONS) {
    const v = version === 5 ? '5.0' : '3.1.1'

    test(`MQTT ${v}: a device's own token connects; a token signed by another device's key is refused`, async () => {
      const a = ecPair()
      const b = ecPair()
      const idA = uid('dev-a')
      const idB = uid('dev-b')
      for (const [id, pair] of [[idA, a], [idB, b]] as const) {
        const res = await h.api('POST', '/api/v1/devices', { id, keys: [{ pem: pair.pem }] })
        assert.equal(res.status, 201, res.text)
      }
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(a), { clientId: idA }), 0)
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(b), { clientId: idB }), 0)
      // B's key signs a token presented as A: only A's keys are tried.
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(b), { clientId: idA }), REFUSED[version])
      // An unregistered client id.
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(a), { clientId: uid('nobody') }), REFUSED[version])
      // The audience is required.
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(a, { aud: 'someone-else' }), { clientId: idA }), REFUSED[version])
      const refusals = await h.api('GET', `/api/v1/refusals?clientId=${idA}`)
      assert.ok(refusals.body.some((r: { code: string }) => r.code === 'ERR_JWT_SIGNATURE_INVALID'), JSON.stringify(refusals.body))
    })

    test(`MQTT ${v}: a rotated key works while the old one is listed; removing the old key drops its live connection`, async () => {
      const oldKey = ecPair()
      const newKey = ecPair()
      const id = uid('rot')
      assert.equal((await h.api('POST', '/api/v1/devices', { id, keys: [{ id: 'k1', pem: oldKey.pem }] })).status, 201)
      const live = await rawSocket(h.mqttPort, version)
      assert.equal(code(version, await live.connect({ clientId: id, username: 'device', password: Buffer.from(deviceToken(oldKey)) })), 0)

      const added = await h.api('POST', `/api/v1/devices/${id}/keys`, { id: 'k2', pem: newKey.pem })
      assert.equal(added.status, 201, added.text)
      assert.deepEqual(added.body.keys.map((k: { id: string }) => k.id), ['k1', 'k2'])
      // Both keys work while both are listed (the token may name its key, or not).
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(newKey, {}, 'k2'), { clientId: `${id}` }), 0)
      // (that CONNECT took the session over from `live`; connect the old-key client again)
      await live.waitClosed().catch(() => {})
      live.destroy()
      const again = await rawSocket(h.mqttPort, version)
      assert.equal(code(version, await again.connect({ clientId: id, username: 'device', password: Buffer.from(deviceToken(oldKey)) })), 0)

      const removed = await h.api('DELETE', `/api/v1/devices/${id}/keys/k1`)
      assert.equal(removed.status, 200, removed.text)
      assert.equal(removed.body.disconnected, 1)
      if (version === 5) {
        const d = await again.next('disconnect')
        assert.equal(d.reasonCode, 0x98)
        assert.match(String(d.properties?.reasonString), /key .* was removed/)
      }
      await again.waitClosed()
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(oldKey), { clientId: id }), REFUSED[version])
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(newKey), { clientId: id }), 0)
    })

    test(`MQTT ${v}: a disabled device is refused (Banned) and its live connection dropped; enabled again it connects; deleted it is dropped`, async () => {
      const pair = ecPair()
      const id = uid('dis')
      assert.equal((await h.api('POST', '/api/v1/devices', { id, keys: [{ pem: pair.pem }] })).status, 201)
      const live = await rawSocket(h.mqttPort, version)
      assert.equal(code(version, await live.connect({ clientId: id, username: 'device', password: Buffer.from(deviceToken(pair)) })), 0)
      const other = await rawSocket(h.mqttPort, version)
      const otherPair = ecPair()
      const otherId = uid('stay')
      await h.api('POST', '/api/v1/devices', { id: otherId, keys: [{ pem: otherPair.pem }] })
      assert.equal(code(version, await other.connect({ clientId: otherId, username: 'device', password: Buffer.from(deviceToken(otherPair)) })), 0)

      const off = await h.api('POST', `/api/v1/devices/${id}/disable`)
      assert.equal(off.status, 200, off.text)
      assert.equal(off.body.enabled, false)
      assert.equal(off.body.disconnected, 1)
      if (version === 5) assert.equal((await live.next('disconnect')).reasonCode, 0x98)
      await live.waitClosed()
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(pair), { clientId: id }), BANNED[version])
      assert.equal(other.closed, false, 'another device stays connected')

      assert.equal((await h.api('POST', `/api/v1/devices/${id}/enable`)).body.enabled, true)
      const back = await rawSocket(h.mqttPort, version)
      assert.equal(code(version, await back.connect({ clientId: id, username: 'device', password: Buffer.from(deviceToken(pair)) })), 0)
      assert.equal((await h.api('DELETE', `/api/v1/devices/${id}`)).status, 204)
      await back.waitClosed()
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(pair), { clientId: id }), REFUSED[version])
      other.send({ cmd: 'pingreq' })
      await other.next('pingresp')
      other.destroy()
    })
  }

  test('the registry survives a restart (stored in the configuration store)', async () => {
    const pair = ecPair()
    const id = uid('keep')
    assert.equal((await h.api('POST', '/api/v1/devices', { id, description: 'boiler', keys: [{ id: 'main', pem: pair.pem }] })).status, 201)
    await h.close()
    h = await startAdmin({ dataDir, overrides: DEVICES_CONFIG })
    const got = await h.api('GET', `/api/v1/devices/${id}`)
    assert.equal(got.status, 200)
    assert.equal(got.body.description, 'boiler')
    assert.equal(got.body.keys[0].id, 'main')
    for (const version of VERSIONS) assert.equal(await connackCode(h.mqttPort, version, deviceToken(pair), { clientId: id }), 0)
  })
})

describe('09 devices: looked up by a claim, with the client id bound to it', () => {
  let h: RunningAdmin
  const dataDir = tempDataDir()
  before(async () => {
    h = await startAdmin({
      dataDir,
      overrides: {
        authentication: {
          allowAnonymous: false,
          authenticators: [{
            type: 'devices', name: 'by-sub', lookup: { claim: 'sub' }, identity: { clientId: 'sub' },
            claims: { audience: AUDIENCE, maxAge: 3600 },
          }],
        },
      },
    })
  })
  after(async () => {
    await h.close()
    removeDir(dataDir)
  })

  for (const version of VERSIONS) {
    const v = version === 5 ? '5.0' : '3.1.1'
    test(`MQTT ${v}: the token's sub names the device; another client id is refused [MQTT-3.1.3-8]; an expired key no longer verifies`, async () => {
      const pair = ecPair()
      const id = uid('sub-dev')
      assert.equal((await h.api('POST', '/api/v1/devices', { id, keys: [{ pem: pair.pem }] })).status, 201)
      const t = deviceToken(pair, { sub: id })
      assert.equal(await connackCode(h.mqttPort, version, t, { clientId: id }), 0)
      // A client id other than the device's: refused (0x85 / 2), not connected as someone else.
      assert.equal(await connackCode(h.mqttPort, version, t, { clientId: uid('other') }), version === 5 ? 0x85 : 2)
      if (version === 5) {
        // An empty client id is assigned the device's [MQTT-3.2.2-16].
        const raw = await rawSocket(h.mqttPort, 5)
        const c = await raw.connect({ clientId: '', clean: true, username: 'device', password: Buffer.from(t) })
        assert.equal(c.reasonCode, 0)
        assert.equal(c.properties?.assignedClientIdentifier, id)
        raw.destroy()
      }
      // A token naming a device that another device's key signed.
      const other = ecPair()
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(other, { sub: id }), { clientId: id }), REFUSED[version])

      const expired = ecPair()
      const old = uid('old-dev')
      const past = Math.floor(Date.now() / 1000) - 60
      assert.equal((await h.api('POST', '/api/v1/devices', { id: old, keys: [{ pem: expired.pem, expiresAt: past }] })).status, 201)
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(expired, { sub: old }), { clientId: old }), REFUSED[version])
      const check = await h.api('POST', '/api/v1/token/check', { token: deviceToken(expired, { sub: old }) })
      assert.equal(check.body.verdict.code, 'ERR_DEVICE_KEY_EXPIRED', JSON.stringify(check.body))
      const good = await h.api('POST', '/api/v1/token/check', { token: t, clientId: id })
      assert.equal(good.body.verdict.outcome, 'allow', JSON.stringify(good.body))
      assert.ok(good.body.authenticators[0].steps.some((s: { check: string; ok: boolean }) => s.check === 'device' && s.ok))
    })
  }
})
