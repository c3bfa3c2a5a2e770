/**
 * A device key's expiry while a connection it admitted is open, over real sockets, MQTT 3.1.1
 * and 5.0: when the key's `expiresAt` passes, the client is disconnected (v5 DISCONNECT 0xA0
 * Maximum connect time, as at a token's exp; v3 the connection is closed) even though its
 * token is still valid, and its next CONNECT is refused; a client of another key stays; a key
 * whose expiry is moved later through the API keeps its client past the old expiry.
 *
 * Time is faked (node:test mock.timers: Date and setInterval): the broker's clock
 * (src/clock.ts) and its keep-alive wheel move only when a test ticks them, so no test sleeps
 * until a key expires. Sockets, HTTP and the helpers' timeouts run in real time.
 */
import assert from 'node:assert/strict'
import { after, before, describe, mock, test } from 'node:test'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { removeDir, startAdmin, tempDataDir, type RunningAdmin } from '../admin/helpers.js'
import { connackCode, REFUSED } from '../helpers/auth-broker.js'
import { AUDIENCE, DEVICES_CONFIG, ecPair, type Pair } from '../helpers/devices.js'
import { persistenceDefaults, rawSocket, uid, VERSIONS, type RawClient, type Version } from '../helpers/broker.js'


/** A token valid for an hour: it outlives the key expiries below. */
function deviceToken(pair: Pair, kid: string): string {
  return mintToken({ privateKey: pair.privateKey, alg: 'ES256', expiresIn: 3600, kid, claims: { aud: AUDIENCE } })
}

async function connected(h: RunningAdmin, version: Version, id: string, token: string): Promise<RawClient> {
  const raw = await rawSocket(h.mqttPort, version)
  const c = await raw.connect({ clientId: id, username: 'device', password: Buffer.from(token) })
  assert.equal(version === 5 ? c.reasonCode : c.returnCode, 0)
  return raw
}

async function stillConnected(raw: RawClient): Promise<void> {
  raw.send({ cmd: 'pingreq' })
  await raw.next('pingresp', 5000)
  assert.equal(raw.closed, false)
}

describe('09 devices: a connection ends when the device key it connected with expires', () => {
  let h: RunningAdmin
  const dataDir = tempDataDir()
  before(async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: Date.now() })
    h = await startAdmin({ dataDir, overrides: { ...DEVICES_CONFIG, ...persistenceDefaults({ dataDir }).raw } })
  })
  after(async () => {
    await h.close()
    mock.timers.reset()
    removeDir(dataDir)
  })

  for (const version of VERSIONS) {
    const v = version === 5 ? '5.0' : '3.1.1'

    test(`MQTT ${v}: at the key's expiry the client is disconnected (0xA0) and refused on reconnect; another key's client stays`, async () => {
      const expiring = ecPair()
      const lasting = ecPair()
      const id = uid('exp-dev')
      const otherId = uid('keep-dev')
      const expiresAt = new Date(Date.now() + 30_000).toISOString()
      assert.equal((await h.api('POST', '/api/v1/devices', { id, keys: [{ id: 'k1', pem: expiring.pem, expiresAt }] })).status, 201)
      assert.equal((await h.api('POST', '/api/v1/devices', { id: otherId, keys: [{ id: 'k1', pem: lasting.pem }] })).status, 201)
      const live = await connected(h, version, id, deviceToken(expiring, 'k1'))
      const other = await connected(h, version, otherId, deviceToken(lasting, 'k1'))

      mock.timers.tick(29_000)
      await stillConnected(live)
      mock.timers.tick(2_000) // past the key's expiry; the token is good for another hour
      if (version === 5) {
        const d = await live.next('disconnect', 5000)
        assert.equal(d.reasonCode, 0xa0, 'DISCONNECT Maximum connect time')
        assert.match(String(d.properties?.reasonString), /key 'k1' of device .* has expired/)
      }
      await live.waitClosed(5000)
      assert.equal(await connackCode(h.mqttPort, version, deviceToken(expiring, 'k1'), { clientId: id }), REFUSED[version])
      await stillConnected(other)
      other.destroy()
    })

    test(`MQTT ${v}: a key whose expiry is moved later keeps its client past the old expiry, and ends it at the new one`, async () => {
      const pair = ecPair()
      const id = uid('ext-dev')
      const soon = Date.now() + 30_000
      assert.equal((await h.api('POST', '/api/v1/devices', { id, keys: [{ id: 'k1', pem: pair.pem, expiresAt: new Date(soon).toISOString() }] })).status, 201)
      const live = await connected(h, version, id, deviceToken(pair, 'k1'))
      const later = soon + 60_000
      const put = await h.api('PUT', `/api/v1/devices/${id}`, { keys: [{ id: 'k1', pem: pair.pem, expiresAt: new Date(later).toISOString() }] })
      assert.equal(put.status, 200, put.text)
      assert.equal(put.body.disconnected, 0)

      mock.timers.tick(40_000) // past the old expiry
      await stillConnected(live)
      mock.timers.tick(52_000) // past the new one
      if (version === 5) assert.equal((await live.next('disconnect', 5000)).reasonCode, 0xa0)
      await live.waitClosed(5000)
    })
  }
})
