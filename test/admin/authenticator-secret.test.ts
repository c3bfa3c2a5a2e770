/**
 * The HMAC secret is write-only: GET never returns it, so PUT /authenticators/:name may
 * leave it out and the stored secret stays (only when the stored entry is hmac-based too);
 * a PUT that sends one replaces it. Checked with real MQTT clients and across a restart.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { generateKeyPair, mintToken } from '../../src/auth/jwt/tools.js'
import { connect, end } from '../helpers/broker.js'
import { NEW_SECRET, SEED_SECRET, hsToken, removeDir, startAdmin, tempDataDir, useAdmin } from './helpers.js'

const OTHER_SECRET = 'another-secret-0123456789-0123456789-qrstu'
/** 48 bytes, base64. */
const BASE64_SECRET = Buffer.alloc(48, 7).toString('base64')

/** Whether a v5 CONNECT with `token` in the password is accepted (true) or refused (its reason code). */
function connectWith(port: number, clientId: string, token: string): Promise<true | number> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, clientId, username: 'u', password: token, reconnectPeriod: 0, connectTimeout: 3000 })
    const timer = setTimeout(() => { client.end(true); reject(new Error('no answer to CONNECT')) }, 3000)
    client.once('connect', () => { clearTimeout(timer); client.end(true, () => resolve(true)) })
    client.once('error', (err: Error & { code?: number }) => { clearTimeout(timer); client.end(true); resolve(Number(err.code)) })
  })
}

describe('admin API: the HMAC secret is write-only and kept by a PUT that leaves it out', () => {
  const h = useAdmin()

  it('PUT without secret keeps the stored one: tokens signed with it still connect', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'keep', from: 'password', algorithm: 'hmac-based', secret: NEW_SECRET })
    assert.equal(created.status, 201, created.text)
    assert.equal(await connectWith(h.mqttPort, 'k1', hsToken(NEW_SECRET)), true)

    const put = await h.api('PUT', '/api/v1/authenticators/keep', { type: 'jwt', from: 'password', algorithm: 'hmac-based', description: 'edited without the secret', claims: { required: ['exp'] } })
    assert.equal(put.status, 200, put.text)
    assert.equal(put.body.description, 'edited without the secret')
    assert.equal(put.body.hasSecret, true)
    assert.equal(put.body.secretBase64, false)
    assert.equal(put.body.secret, undefined)
    assert.ok(!put.text.includes(NEW_SECRET), 'the kept secret is not returned either')
    assert.deepEqual(put.body.claims.required, ['exp'], 'the rest of the body applied')
    assert.equal(await connectWith(h.mqttPort, 'k2', hsToken(NEW_SECRET)), true, 'the stored secret still verifies')

    // `secret: null` reads as "not given", as everywhere in the configuration.
    const nulled = await h.api('PUT', '/api/v1/authenticators/keep', { type: 'jwt', from: 'password', algorithm: 'hmac-based', secret: null })
    assert.equal(nulled.status, 200, nulled.text)
    assert.equal(await connectWith(h.mqttPort, 'k3', hsToken(NEW_SECRET)), true)
  })

  it('PUT with a secret replaces it: the old one stops working at once', async () => {
    const put = await h.api('PUT', '/api/v1/authenticators/keep', { type: 'jwt', from: 'password', algorithm: 'hmac-based', secret: OTHER_SECRET })
    assert.equal(put.status, 200, put.text)
    assert.equal(await connectWith(h.mqttPort, 'r1', hsToken(NEW_SECRET)), 0x86, 'the replaced secret no longer verifies')
    assert.equal(await connectWith(h.mqttPort, 'r2', hsToken(OTHER_SECRET)), true)
  })

  it('the secret from the configuration file is kept too', async () => {
    const put = await h.api('PUT', '/api/v1/authenticators/seed-hmac', { type: 'jwt', from: 'password', algorithm: 'hmac-based', description: 'still the file\'s secret' })
    assert.equal(put.status, 200, put.text)
    assert.equal(await connectWith(h.mqttPort, 's1', hsToken(SEED_SECRET)), true)
  })

  it('secretBase64 goes with its secret: unchanged it is kept, changed alone it is refused', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'b64', from: 'password', algorithm: 'hmac-based', secret: BASE64_SECRET, secretBase64: true })
    assert.equal(created.status, 201, created.text)
    const token = mintToken({ privateKey: Buffer.from(BASE64_SECRET, 'base64'), alg: 'HS256', sub: 'u', expiresIn: 3600 })
    assert.equal(await connectWith(h.mqttPort, 'b1', token), true)
    const same = await h.api('PUT', '/api/v1/authenticators/b64', { type: 'jwt', from: 'password', algorithm: 'hmac-based', secretBase64: true, description: 'same encoding' })
    assert.equal(same.status, 200, same.text)
    assert.equal(same.body.secretBase64, true)
    const omitted = await h.api('PUT', '/api/v1/authenticators/b64', { type: 'jwt', from: 'password', algorithm: 'hmac-based' })
    assert.equal(omitted.status, 200, omitted.text)
    assert.equal(omitted.body.secretBase64, true, 'left out: the stored encoding stays with the stored secret')
    const flipped = await h.api('PUT', '/api/v1/authenticators/b64', { type: 'jwt', from: 'password', algorithm: 'hmac-based', secretBase64: false })
    assert.equal(flipped.status, 400, flipped.text)
    assert.equal(flipped.body.error, 'ERR_VALIDATION')
    assert.match(flipped.body.path, /^authentication\.authenticators\[\d+\]\.secret$/)
    assert.match(flipped.body.message, /secretBase64/)
    const still = await h.api('GET', '/api/v1/authenticators/b64')
    assert.equal(still.body.description, undefined, 'the last accepted PUT had no description')
    assert.equal(still.body.secretBase64, true)
    assert.equal(await connectWith(h.mqttPort, 'b2', token), true, 'the decoded stored secret still verifies')
  })

  it('a kept secret is validated like a sent one (the message says it is the stored secret)', async () => {
    // NEW_SECRET-sized secrets (40 bytes) are too short for HS512.
    const r = await h.api('PUT', '/api/v1/authenticators/seed-hmac', { type: 'jwt', from: 'password', algorithm: 'hmac-based', algorithms: ['HS512'] })
    assert.equal(r.status, 400, r.text)
    assert.match(r.body.path, /\.secret$/)
    assert.match(r.body.message, /64 bytes.*stored secret/)
    assert.equal(await connectWith(h.mqttPort, 's2', hsToken(SEED_SECRET)), true, 'a refused PUT changes nothing')
  })

  it('no stored HMAC secret to keep: the secret is required as before', async () => {
    const key = generateKeyPair('ES256')
    const pk = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'was-pk', algorithm: 'public-key', publicKey: key.publicPem })
    assert.equal(pk.status, 201, pk.text)
    const r = await h.api('PUT', '/api/v1/authenticators/was-pk', { type: 'jwt', algorithm: 'hmac-based' })
    assert.equal(r.status, 400, r.text)
    assert.match(r.body.path, /\.secret$/)
    assert.match(r.body.message, /is required/)
    // Switching a kept-secret entry to public-key does not carry the secret over either.
    const toPk = await h.api('PUT', '/api/v1/authenticators/keep', { type: 'jwt', algorithm: 'public-key', publicKey: key.publicPem })
    assert.equal(toPk.status, 200, toPk.text)
    assert.equal(toPk.body.hasSecret, false)
    const back = await h.api('PUT', '/api/v1/authenticators/keep', { type: 'jwt', algorithm: 'hmac-based' })
    assert.equal(back.status, 400, 'the secret went away with the switch to public-key')
  })

  it('the OpenAPI document says so on PUT', async () => {
    const doc = (await h.api('GET', '/api/docs', undefined, null)).body
    const put = doc.paths['/api/v1/authenticators/{name}'].put
    assert.match(put.description, /without `secret` keeps the stored secret/)
  })
})

describe('admin API: a kept secret is persisted', () => {
  it('after a PUT without the secret and a restart, the secret still verifies', async () => {
    const dataDir = tempDataDir()
    try {
      const first = await startAdmin({ dataDir })
      try {
        const put = await first.api('PUT', '/api/v1/authenticators/seed-hmac', { type: 'jwt', from: 'password', algorithm: 'hmac-based', description: 'kept across restarts' })
        assert.equal(put.status, 200, put.text)
      } finally {
        await first.close()
      }
      const second = await startAdmin({ dataDir })
      try {
        assert.equal(second.server.configSource, 'database')
        const one = await second.api('GET', '/api/v1/authenticators/seed-hmac')
        assert.equal(one.body.description, 'kept across restarts')
        const client = await connect(second.mqttPort, { protocolVersion: 5, clientId: 'p1', username: 'u', password: hsToken(SEED_SECRET) })
        await end(client)
      } finally {
        await second.close()
      }
    } finally {
      removeDir(dataDir)
    }
  })
})
