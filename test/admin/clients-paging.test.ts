/**
 * GET /api/v1/clients a page at a time (issue 17 item 12): `limit` and `after` walk every
 * connected client and offline session exactly once, in client id order; `q` narrows by id;
 * without `limit` the whole list comes back as before. Real MQTT 3.1.1 and 5.0 clients.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

describe('admin API: clients, a page at a time', () => {
  const h = useAdmin()
  const clients: MqttClient[] = []
  const connect = (clientId: string, protocolVersion: 4 | 5, persistent: boolean): Promise<MqttClient> => new Promise((resolve, reject) => {
    const c = mqtt.connect({
      host: '127.0.0.1', port: h.mqttPort, protocolVersion, clientId, username: 'u', password: hsToken(SEED_SECRET),
      clean: !persistent, ...(persistent && protocolVersion === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
      reconnectPeriod: 0, connectTimeout: 5000,
    })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })

  before(async () => {
    for (let i = 0; i < 23; i++) clients.push(await connect(`dev-${String(i).padStart(2, '0')}`, i % 2 === 0 ? 5 : 4, false))
    // Upper case sorts before lower case in code-unit order
    clients.push(await connect('Zeta', 5, false))
    for (const id of ['away-1', 'away-2']) {
      const c = await connect(id, 5, true)
      await new Promise<void>((resolve) => c.end(false, {}, () => resolve()))
    }
  })
  after(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))))
  })

  it('limit and after walk every client once, in id order; a short page is the last', async () => {
    const all = (await h.api('GET', '/api/v1/clients')).body as { clientId: string; connected: boolean }[]
    const ids = all.map((c) => c.clientId)
    assert.equal(ids.length, 26)
    assert.deepEqual(ids, [...ids].sort(), 'code-unit order')
    assert.equal(ids[0], 'Zeta')
    const walked: string[] = []
    let cursor: string | undefined
    let pages = 0
    for (;;) {
      const r = await h.api('GET', `/api/v1/clients?limit=7${cursor !== undefined ? `&after=${encodeURIComponent(cursor)}` : ''}`)
      assert.equal(r.status, 200, r.text)
      const page = r.body as { clientId: string }[]
      pages++
      walked.push(...page.map((c) => c.clientId))
      if (page.length < 7) break
      cursor = page[page.length - 1].clientId
    }
    assert.deepEqual(walked, ids)
    assert.equal(pages, 4)
    const offline = (await h.api('GET', '/api/v1/clients?state=offline&limit=1&after=away-1')).body as { clientId: string; connected: boolean }[]
    assert.deepEqual(offline.map((c) => [c.clientId, c.connected]), [['away-2', false]])
  })

  it('q keeps the ids containing it; bad parameters are refused', async () => {
    const r = await h.api('GET', '/api/v1/clients?q=dev-1&limit=100')
    assert.deepEqual((r.body as { clientId: string }[]).map((c) => c.clientId), ['dev-10', 'dev-11', 'dev-12', 'dev-13', 'dev-14', 'dev-15', 'dev-16', 'dev-17', 'dev-18', 'dev-19'])
    for (const bad of ['limit=0', 'limit=1001', 'limit=ten', 'state=gone']) {
      const e = await h.api('GET', `/api/v1/clients?${bad}`)
      assert.equal(e.status, 400, bad)
      assert.equal(e.body.error, 'ERR_VALIDATION', bad)
    }
  })
})
