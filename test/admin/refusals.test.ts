/**
 * "Why was this client refused?": refused CONNECTs (MQTT 3.1.1 and 5.0) are kept in a bounded
 * ring, listed newest first by GET /api/v1/refusals with filters, never with the token; the
 * MQTT 5 CONNACK Reason String [MQTT-3.2.2.3.9] is sent only when authentication.reasonString is on.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt, { type IClientOptions } from 'mqtt'
import { RefusalLog } from '../../src/broker/refusals.js'
import { SEED_SECRET, baseConfig, hsToken, useAdmin } from './helpers.js'

interface Refused { readonly code: number; readonly reasonString: string | undefined }

/** Connect expecting a refusal; the CONNACK's reason code and Reason String. */
function refused(port: number, opts: IClientOptions): Promise<Refused> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 3000, ...opts })
    const timer = setTimeout(() => { client.end(true); reject(new Error('no answer to CONNECT')) }, 3000)
    let reasonString: string | undefined
    client.on('packetreceive', (p) => {
      if (p.cmd === 'connack') reasonString = (p as { properties?: { reasonString?: string } }).properties?.reasonString
    })
    client.once('connect', () => { clearTimeout(timer); client.end(true); reject(new Error('CONNECT was accepted')) })
    client.once('error', (err: Error & { code?: number }) => {
      clearTimeout(timer)
      client.end(true)
      resolve({ code: Number(err.code), reasonString })
    })
  })
}

const WRONG_SECRET = 'not-the-seed-secret-0123456789-0123456789'

describe('refusals: GET /api/v1/refusals', () => {
  const h = useAdmin()

  it('keeps a refused MQTT 5 CONNECT with the token\'s sub/iss/kid/exp, never the token, and no Reason String by default', async () => {
    const token = hsToken(WRONG_SECRET, { iss: 'https://issuer.example' }, 'mallory')
    const answer = await refused(h.mqttPort, { protocolVersion: 5, clientId: 'bad-signature-5', username: 'u', password: token })
    assert.equal(answer.code, 0x86)
    assert.equal(answer.reasonString, undefined, 'off by default: it would tell an attacker which check failed')
    const list = await h.api('GET', '/api/v1/refusals?clientId=bad-signature-5')
    assert.equal(list.status, 200, list.text)
    assert.equal(list.body.length, 1, list.text)
    const r = list.body[0]
    assert.equal(r.clientId, 'bad-signature-5')
    assert.match(r.address, /127\.0\.0\.1/)
    assert.match(r.listener, /^tcp/)
    assert.equal(r.protocolVersion, 5)
    assert.equal(r.reasonCode, 0x86)
    assert.match(r.code, /^ERR_/)
    assert.ok(r.reason.length > 0)
    assert.equal(r.authenticator, 'seed-hmac')
    assert.equal(r.token.sub, 'mallory')
    assert.equal(r.token.iss, 'https://issuer.example')
    assert.ok(r.token.exp > Date.now() / 1000)
    assert.ok(Date.parse(r.time) <= Date.now())
    assert.ok(!list.text.includes(token) && !list.text.includes(token.split('.')[2]), 'the token is never returned')
  })

  it('keeps MQTT 3.1.1 refusals too, newest first, and filters by client id, address, reason and since', async () => {
    const before = Date.now()
    const answer = await refused(h.mqttPort, { protocolVersion: 4, clientId: 'no-token-3', username: 'u', password: 'not a jwt' })
    assert.equal(answer.code, 4)
    const all = await h.api('GET', '/api/v1/refusals')
    assert.equal(all.body[0].clientId, 'no-token-3', 'newest first')
    assert.equal(all.body[0].protocolVersion, 4)
    assert.equal(all.body[0].token, undefined, 'no JWT, no token fields')
    assert.deepEqual((await h.api('GET', `/api/v1/refusals?since=${before}`)).body.map((r: { clientId: string }) => r.clientId), ['no-token-3'])
    assert.equal((await h.api('GET', `/api/v1/refusals?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.length, 0)
    assert.equal((await h.api('GET', '/api/v1/refusals?address=127.0.0.1')).body.length, 2)
    assert.equal((await h.api('GET', '/api/v1/refusals?address=10.9.9.9')).body.length, 0)
    assert.equal((await h.api('GET', '/api/v1/refusals?reason=0x86')).body.length, 2)
    assert.equal((await h.api('GET', '/api/v1/refusals?reason=135')).body.length, 0)
    const code = all.body[0].code as string
    assert.ok((await h.api('GET', `/api/v1/refusals?reason=${code}`)).body.every((r: { code: string }) => r.code === code))
    const bad = await h.api('GET', '/api/v1/refusals?since=yesterday')
    assert.equal(bad.status, 400)
    assert.match(bad.text, /since/)
    assert.equal((await h.api('GET', `/api/v1/refusals?reason=${code.toLowerCase()}`)).body.length, (await h.api('GET', `/api/v1/refusals?reason=${code}`)).body.length)
    // A reason that is neither an error code nor a reason code would match nothing: a 400 naming the filter, not [].
    for (const typo of ['ERR_JWT_EXPRIED', '0xZZ', '300', 'expired']) {
      const r = await h.api('GET', `/api/v1/refusals?reason=${typo}`)
      assert.equal(r.status, 400, typo)
      assert.equal(r.body.path, 'reason', typo)
      assert.match(r.body.message, /must be an error code .* or a reason code/, typo)
    }
  })

  it('is in the OpenAPI document', async () => {
    const doc = await h.api('GET', '/api/docs')
    assert.equal(doc.status, 200, doc.text)
    const op = doc.body.paths['/api/v1/refusals'].get
    assert.deepEqual(op.parameters.map((p: { name: string }) => p.name), ['clientId', 'address', 'reason', 'since'])
  })
})

describe('refusals: authentication.reasonString', () => {
  const config = baseConfig('unused') as { authentication: Record<string, unknown> }
  const h = useAdmin({ overrides: { authentication: { ...config.authentication, reasonString: true } } })

  it('sends MQTT 5 clients the reason text in CONNACK when switched on [MQTT-3.2.2.3.9]', async () => {
    const answer = await refused(h.mqttPort, { protocolVersion: 5, clientId: 'told-why', username: 'u', password: hsToken(WRONG_SECRET) })
    assert.equal(answer.code, 0x86)
    const kept = (await h.api('GET', '/api/v1/refusals?clientId=told-why')).body[0]
    assert.equal(answer.reasonString, kept.reason)
  })

  it('still admits a good token', async () => {
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, username: 'u', password: hsToken(SEED_SECRET), reconnectPeriod: 0 })
    await client.endAsync()
  })
})

describe('refusals: the ring', () => {
  it('keeps only the most recent entries, newest first', () => {
    const log = new RefusalLog(3)
    for (let i = 0; i < 5; i++) log.record({ clientId: `c${i}`, address: '127.0.0.1', listener: 'tcp', protocolVersion: 5, code: 'ERR_JWT_EXPIRED', reasonCode: 0x86, reason: 'x' }, 1000 + i)
    assert.equal(log.size, 3)
    assert.deepEqual(log.list().map((r) => r.clientId), ['c4', 'c3', 'c2'])
    assert.deepEqual(log.list({ since: 1003 }).map((r) => r.clientId), ['c4', 'c3'])
    assert.deepEqual(log.list({ reason: 'err_jwt_expired' }, 1).map((r) => r.clientId), ['c4'])
  })
})
