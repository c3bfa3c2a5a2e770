/**
 * GET /clients lists offline persistent sessions beside connected clients (`connected`,
 * subscriptions, queued messages, session expiry, and who left the session when: username
 * unless it was the token, address, protocol version), filtered by `?state=`; GET
 * /clients/:id shows one; DELETE /clients/:id ends an offline session. Real MQTT clients,
 * real HTTP.
 */
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { describe, it } from 'node:test'
import type { MqttClient } from 'mqtt'
import { connect, connectForConnack, end, nextMessage, subscribe, waitForClose } from '../helpers/broker.js'
import { NEW_SECRET, SEED_SECRET, hsToken, useAdmin } from './helpers.js'
import type { Json } from '../helpers/json.js'

const NEVER = 0xffffffff
const token = hsToken(SEED_SECRET)
const creds = { username: 'u', password: token }

/** Lose the connection without DISCONNECT (the will is due). */
async function kill(client: MqttClient): Promise<void> {
  const closed = waitForClose(client)
  client.stream.destroy()
  await closed
}

type Entry = Record<string, Json>
const byId = (list: Entry[], id: string): Entry | undefined => list.find((c) => c.clientId === id)

/** `disconnectedAt` is an ISO time between `from` and now. */
function assertDisconnectedSince(entry: Entry, from: number): void {
  const at = Date.parse(entry.disconnectedAt)
  assert.ok(typeof entry.disconnectedAt === 'string' && new Date(at).toISOString() === entry.disconnectedAt, `ISO time: ${entry.disconnectedAt}`)
  assert.ok(at >= from - 5 && at <= Date.now(), `${entry.disconnectedAt} is within the last seconds`)
}

describe('admin API: offline persistent sessions in /clients', () => {
  const h = useAdmin()
  let live: MqttClient

  it('lists connected clients and offline sessions, with `connected`, queued messages, expiry and who left when', async () => {
    live = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'live', ...creds })
    const leftFrom = Date.now()
    // An MQTT 5 session that outlives its connection by 300 s, with a QoS 1 subscription.
    const v5 = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'away-5', clean: false, properties: { sessionExpiryInterval: 300 }, ...creds, username: 'sensor-5' })
    await subscribe(v5, 'file/q', { qos: 1 })
    await end(v5)
    // An MQTT 3.1.1 clean-session-0 session: it never expires.
    const v4 = await connect(h.mqttPort, { protocolVersion: 4, clientId: 'away-4', clean: false, ...creds, username: 'sensor-4' })
    await subscribe(v4, ['file/q', 'file/r'], { qos: 1 })
    await end(v4)
    // A clean session ends with its connection: never listed.
    const gone = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'clean-5', ...creds })
    await subscribe(gone, 'file/q', { qos: 1 })
    await end(gone)
    // Two QoS 1 messages and one QoS 0 (not queued for offline clients) wait for the away sessions.
    await live.publishAsync('file/q', 'one', { qos: 1 })
    await live.publishAsync('file/q', 'two', { qos: 1 })
    await live.publishAsync('file/q', 'zero', { qos: 0 })

    const r = await h.api('GET', '/api/v1/clients')
    assert.equal(r.status, 200, r.text)
    assert.deepEqual(r.body.map((c: Entry) => c.clientId), ['away-4', 'away-5', 'live'], 'sorted by client id; the clean session is gone')

    const l = byId(r.body, 'live')!
    assert.equal(l.connected, true)
    assert.match(l.address, /127\.0\.0\.1/)
    assert.equal(l.protocolVersion, 5)
    assert.equal(l.authenticator, 'seed-hmac')
    assert.equal(l.subscriptions, 0)
    assert.equal(l.queued, 0)
    assert.deepEqual(l.session, { expiryInterval: 0 })

    const a5 = byId(r.body, 'away-5')!
    assert.equal(a5.connected, false)
    assert.equal(a5.subscriptions, 1)
    assert.equal(a5.queued, 2, 'the QoS 1 messages are queued; QoS 0 is not')
    assert.equal(a5.session.expiryInterval, 300)
    assert.ok(a5.session.expiresInSeconds > 290 && a5.session.expiresInSeconds <= 300, JSON.stringify(a5.session))
    const ends = Date.parse(a5.session.expiresAt)
    assert.ok(Math.abs(ends - (Date.now() + a5.session.expiresInSeconds * 1000)) < 2000, a5.session.expiresAt)
    // Who left the session, and when.
    assert.equal(a5.username, 'sensor-5')
    assert.equal(a5.usernameIsToken, undefined)
    assert.match(a5.address, /^(::ffff:)?127\.0\.0\.1$/)
    assert.equal(a5.protocolVersion, 5)
    assertDisconnectedSince(a5, leftFrom)
    for (const connectionOnly of ['listener', 'connectedAt', 'keepAlive', 'authenticator', 'anonymous', 'token', 'acl']) {
      assert.equal(a5[connectionOnly], undefined, `${connectionOnly} is absent from an offline entry`)
    }
    assert.equal(l.disconnectedAt, undefined, 'a connected entry has no disconnectedAt')

    const a4 = byId(r.body, 'away-4')!
    assert.equal(a4.connected, false)
    assert.equal(a4.subscriptions, 2)
    assert.equal(a4.queued, 2)
    assert.deepEqual(a4.session, { expiryInterval: NEVER }, 'a 3.1.1 persistent session never expires')
    assert.equal(a4.username, 'sensor-4')
    assert.match(a4.address, /^(::ffff:)?127\.0\.0\.1$/)
    assert.equal(a4.protocolVersion, 4)
    assertDisconnectedSince(a4, leftFrom)
    assert.ok(!r.text.includes(token), 'no token in the answer')
  })

  it('?state=connected is the list as it was; ?state=offline the sessions only; anything else is 400', async () => {
    const connected = await h.api('GET', '/api/v1/clients?state=connected')
    assert.equal(connected.status, 200, connected.text)
    assert.deepEqual(connected.body.map((c: Entry) => c.clientId), ['live'])
    const offline = await h.api('GET', '/api/v1/clients?state=offline')
    assert.deepEqual(offline.body.map((c: Entry) => c.clientId), ['away-4', 'away-5'])
    assert.ok(offline.body.every((c: Entry) => c.connected === false))
    const all = await h.api('GET', '/api/v1/clients?state=all')
    assert.equal(all.body.length, 3)
    for (const bad of ['?state=online', '?state=', '?state=all&state=offline']) {
      const r = await h.api('GET', `/api/v1/clients${bad}`)
      assert.equal(r.status, 400, `${bad} → ${r.text}`)
      assert.equal(r.body.error, 'ERR_VALIDATION')
      assert.equal(r.body.path, 'state')
    }
    const stats = await h.api('GET', '/api/v1/stats')
    assert.equal(stats.body.sessions, 3, 'the list agrees with the session count')
    assert.equal(stats.body.connections.current, 1)
  })

  it('GET /clients/:id shows an offline session with its subscriptions', async () => {
    const r = await h.api('GET', '/api/v1/clients/away-4')
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.connected, false)
    assert.equal(r.body.username, 'sensor-4')
    assert.equal(r.body.protocolVersion, 4)
    assert.match(r.body.address, /127\.0\.0\.1/)
    assert.equal(typeof r.body.disconnectedAt, 'string')
    assert.deepEqual(r.body.subscriptionList, [{ topic: 'file/q', qos: 1 }, { topic: 'file/r', qos: 1 }])
    assert.equal(r.body.queued, 2)
    assert.equal(r.body.inflight, 0)
    assert.equal((await h.api('GET', '/api/v1/clients/clean-5')).status, 404)
  })

  it('DELETE /clients/:id ends an offline session: gone from the list, nothing delivered on return', async () => {
    const del = await h.api('DELETE', '/api/v1/clients/away-5')
    assert.equal(del.status, 204, del.text)
    assert.equal((await h.api('GET', '/api/v1/clients/away-5')).status, 404)
    assert.deepEqual((await h.api('GET', '/api/v1/clients?state=offline')).body.map((c: Entry) => c.clientId), ['away-4'])
    assert.equal((await h.api('DELETE', '/api/v1/clients/away-5')).status, 404)

    // Coming back asking to resume: no session is present, and the queued messages went with it.
    const { client, connack } = await connectForConnack(h.mqttPort, { protocolVersion: 5, clientId: 'away-5', clean: false, properties: { sessionExpiryInterval: 300 }, ...creds })
    assert.equal(connack.sessionPresent, false)
    await assert.rejects(nextMessage(client, 'file/q', 300), /no message/)
    await end(client)

    // The untouched session still holds its messages and delivers them on return.
    const back = await connectForConnack(h.mqttPort, {
      protocolVersion: 4, clientId: 'away-4', clean: false, ...creds,
    })
    assert.equal(back.connack.sessionPresent, true)
    await end(back.client)
  })

  it('ending an offline session publishes its delayed will now (as when it expires)', async () => {
    const watcher = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'watcher', ...creds })
    await subscribe(watcher, 'file/will', { qos: 1 })
    const dying = await connect(h.mqttPort, {
      protocolVersion: 5, clientId: 'with-will', clean: false, properties: { sessionExpiryInterval: 3600 }, ...creds,
      will: { topic: 'file/will', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 3600 } },
    })
    await kill(dying)
    const listed = byId((await h.api('GET', '/api/v1/clients?state=offline')).body, 'with-will')
    assert.equal(listed?.connected, false)
    const got = nextMessage(watcher, 'file/will', 2000)
    assert.equal((await h.api('DELETE', '/api/v1/clients/with-will')).status, 204)
    assert.equal((await got).payload.toString(), 'gone')
    await end(watcher)
  })

  it('an offline session leaves the list when it expires', async () => {
    const c = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'short', properties: { sessionExpiryInterval: 1 }, ...creds })
    await end(c)
    const listed = byId((await h.api('GET', '/api/v1/clients')).body, 'short')
    assert.equal(listed?.connected, false)
    assert.ok(listed.session.expiresInSeconds <= 1)
    await new Promise((r) => setTimeout(r, 1300))
    assert.equal(byId((await h.api('GET', '/api/v1/clients')).body, 'short'), undefined)
    await end(live)
  })

  it('a username that was the token is never kept: offline entries say usernameIsToken', async () => {
    // `from: username`: the username IS the token.
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'in-username', from: 'username', algorithm: 'hmac-based', secret: `${NEW_SECRET}-u` })
    assert.equal(created.status, 201, created.text)
    const inUsername = hsToken(`${NEW_SECRET}-u`, {}, 'bob')
    // `from: password`, but the username is shaped like a token too (a JWS is never shown).
    const jwsUsername = hsToken(SEED_SECRET, {}, 'carol')
    const leftFrom = Date.now()
    const v4 = await connect(h.mqttPort, { protocolVersion: 4, clientId: 'token-4', clean: false, username: inUsername })
    const connected = await h.api('GET', '/api/v1/clients/token-4')
    assert.equal(connected.body.connected, true)
    assert.equal(connected.body.usernameIsToken, true, 'the same rule while connected')
    assert.ok(!connected.text.includes(inUsername))
    await end(v4)
    const v5 = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'token-5', clean: false, properties: { sessionExpiryInterval: 300 }, username: inUsername })
    await end(v5)
    const jws = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'jws-5', clean: false, properties: { sessionExpiryInterval: 300 }, username: jwsUsername, password: token })
    await end(jws)

    const list = await h.api('GET', '/api/v1/clients?state=offline')
    assert.equal(list.status, 200, list.text)
    for (const [id, version] of [['token-4', 4], ['token-5', 5], ['jws-5', 5]] as const) {
      const e = byId(list.body, id)!
      assert.equal(e.connected, false, id)
      assert.equal(e.username, undefined, `${id}: no username`)
      assert.equal(e.usernameIsToken, true, id)
      assert.equal(e.protocolVersion, version, id)
      assert.match(e.address, /127\.0\.0\.1/, id)
      assertDisconnectedSince(e, leftFrom)
    }
    const answers = [list, await h.api('GET', '/api/v1/clients'), await h.api('GET', '/api/v1/clients/token-4'), await h.api('GET', '/api/v1/clients/jws-5')]
    for (const a of answers) {
      assert.equal(a.status, 200, a.text)
      for (const secret of [inUsername, jwsUsername, token]) {
        assert.ok(!a.text.includes(secret), 'no token in the answer')
        assert.ok(!a.text.includes(secret.split('.')[2]), 'no part of a token signature in the answer')
      }
    }
    assert.equal(answers[2].body.usernameIsToken, true)
  })

  it('the OpenAPI document describes the state filter and the offline fields', async () => {
    const doc = (await h.api('GET', '/api/docs', undefined, null)).body
    const op = doc.paths['/api/v1/clients'].get
    const state = op.parameters.find((p: Entry) => p.name === 'state')
    assert.equal(state.in, 'query')
    assert.deepEqual(state.schema.enum, ['all', 'connected', 'offline'])
    assert.equal(state.schema.default, 'all')
    assert.ok(op.responses['400'])
    assert.ok(doc.components.schemas.Client.properties.connected)
    assert.ok(doc.components.schemas.Client.properties.session.properties.expiresAt)
    // Every field an offline entry carries is documented.
    const documented = new Set([
      ...Object.keys(doc.components.schemas.Client.properties),
      ...Object.keys(doc.components.schemas.ClientDetail.allOf[1].properties),
    ])
    const offline = (await h.api('GET', '/api/v1/clients?state=offline')).body as Entry[]
    assert.ok(offline.some((c) => c.disconnectedAt !== undefined) && offline.some((c) => c.usernameIsToken === true), 'entries with the new fields to check')
    const detail = (await h.api('GET', '/api/v1/clients/token-5')).body as Entry
    for (const e of [...offline, detail]) {
      for (const key of Object.keys(e)) assert.ok(documented.has(key), `${key} is documented`)
    }
    assert.equal(doc.components.schemas.Client.properties.disconnectedAt.format, 'date-time')
    assert.match(doc.paths['/api/v1/clients/{id}'].delete.summary, /offline session/)
  })
})

describe('admin API: the last address of an offline session, memory only', () => {
  // No persistence and no rate limit per address: nothing else reads the address while connected,
  // so only the broker's own read keeps it.
  const m = useAdmin({ overrides: { persistence: false, limits: { connectRatePerAddress: 0 } } })

  it('a session whose connection was reset or dropped keeps its last address (read while connected)', async () => {
    // The broker reads a client's address only when something needs it, and a closed socket no
    // longer knows it: a reset (RST) is seen only after Node closed the socket.
    const lose = { reset: (c: MqttClient) => (c.stream as Socket).resetAndDestroy(), dropped: (c: MqttClient) => c.stream.destroy() }
    for (const [how, drop] of Object.entries(lose)) {
      for (const version of [4, 5] as const) {
        const id = `${how}-${version}`
        const expiry = version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}
        const c = await connect(m.mqttPort, { protocolVersion: version, clientId: id, clean: false, ...expiry, ...creds })
        const closed = waitForClose(c)
        drop(c)
        await closed
        let entry: Entry | undefined
        for (let i = 0; i < 100 && entry?.connected !== false; i++) {
          if (i > 0) await new Promise((r) => setTimeout(r, 20))
          entry = (await m.api('GET', `/api/v1/clients/${id}`)).body as Entry
        }
        assert.equal(entry?.connected, false, `${id}: offline`)
        assert.match(entry.address, /^(::ffff:)?127\.0\.0\.1$/, id)
        assert.equal((await m.api('DELETE', `/api/v1/clients/${id}`)).status, 204)
      }
    }
  })
})
