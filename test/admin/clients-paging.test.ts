/**
 * GET /api/v1/clients a page at a time (issue 17 item 12): `limit` and `after` walk every
 * connected client and offline session exactly once, in client id order; `q` narrows by id;
 * without `limit` the whole list comes back as before. Real MQTT 3.1.1 and 5.0 clients.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createConnection } from 'node:net'
import mqtt, { MqttClient } from 'mqtt'
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

  /** A client connecting from another loopback address (sort=address). */
  const connectFrom = (clientId: string, localAddress: string): Promise<MqttClient> => new Promise((resolve, reject) => {
    const c = new MqttClient(() => createConnection({ host: '127.0.0.1', port: h.mqttPort, localAddress }), {
      protocolVersion: 5, clientId, username: 'u', password: hsToken(SEED_SECRET), reconnectPeriod: 0, connectTimeout: 5000,
    })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })

  before(async () => {
    for (let i = 0; i < 23; i++) clients.push(await connect(`dev-${String(i).padStart(2, '0')}`, i % 2 === 0 ? 5 : 4, false))
    // Upper case sorts before lower case in code-unit order
    clients.push(await connect('Zeta', 5, false))
    clients.push(await connectFrom('from-3', '127.0.0.3'), await connectFrom('from-2', '127.0.0.2'))
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
    assert.equal(ids.length, 28)
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
    assert.equal(pages, 5)
    const offline = (await h.api('GET', '/api/v1/clients?state=offline&limit=1&after=away-1')).body as { clientId: string; connected: boolean }[]
    assert.deepEqual(offline.map((c) => [c.clientId, c.connected]), [['away-2', false]])
  })

  it('q keeps the ids containing it; bad parameters are refused', async () => {
    const r = await h.api('GET', '/api/v1/clients?q=dev-1&limit=100')
    assert.deepEqual((r.body as { clientId: string }[]).map((c) => c.clientId), ['dev-10', 'dev-11', 'dev-12', 'dev-13', 'dev-14', 'dev-15', 'dev-16', 'dev-17', 'dev-18', 'dev-19'])
    for (const bad of ['limit=0', 'limit=1001', 'limit=ten', 'state=gone', 'sort=name', 'order=up', 'sort=connectedAt&after=x&afterKey=yesterday']) {
      const e = await h.api('GET', `/api/v1/clients?${bad}`)
      assert.equal(e.status, 400, bad)
      assert.equal(e.body.error, 'ERR_VALIDATION', bad)
    }
  })

  type Entry = { clientId: string; connected: boolean; connectedAt?: string; address?: string }
  /** Every page of `limit` in the order asked, following the cursor of each page's last entry. */
  const walk = async (sort: 'connectedAt' | 'address', order: 'asc' | 'desc', limit: number): Promise<Entry[]> => {
    const walked: Entry[] = []
    for (let cursor = ''; ;) {
      const r = await h.api('GET', `/api/v1/clients?sort=${sort}&order=${order}&limit=${limit}${cursor}`)
      assert.equal(r.status, 200, r.text)
      const page = r.body as unknown as Entry[]
      walked.push(...page)
      if (page.length < limit) return walked
      const last = page[page.length - 1]
      cursor = `&after=${encodeURIComponent(last.clientId)}&afterKey=${encodeURIComponent(last[sort] ?? '')}`
      assert.ok(walked.length <= 100, 'the walk ends')
    }
  }
  const byId = (a: Entry, b: Entry): number => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0)

  it('sort=connectedAt: connected since, ties by id, offline sessions last; pages follow the cursor', async () => {
    const all = (await h.api('GET', '/api/v1/clients')).body as unknown as Entry[]
    const t = (e: Entry): number => Date.parse(e.connectedAt!)
    const online = all.filter((e) => e.connected), offline = all.filter((e) => !e.connected)
    const newestFirst = [...online.sort((a, b) => t(b) - t(a) || -byId(a, b)), ...offline.sort((a, b) => -byId(a, b))]
    assert.deepEqual((await walk('connectedAt', 'desc', 4)).map((e) => e.clientId), newestFirst.map((e) => e.clientId))
    assert.equal(newestFirst[0].clientId, 'from-2', 'the last to connect is first')
    const oldestFirst = [...online.sort((a, b) => t(a) - t(b) || byId(a, b)), ...offline.sort(byId)]
    assert.deepEqual((await walk('connectedAt', 'asc', 6)).map((e) => e.clientId), oldestFirst.map((e) => e.clientId))
    const whole = (await h.api('GET', '/api/v1/clients?sort=connectedAt&order=asc')).body as unknown as Entry[]
    assert.deepEqual(whole.map((e) => e.clientId), oldestFirst.map((e) => e.clientId), 'without limit: the whole list in that order')
  })

  it('sort=address: by the (last) remote address, ties by id', async () => {
    const asc = await walk('address', 'asc', 5)
    assert.equal(asc.length, 28)
    assert.deepEqual(asc.slice(-2).map((e) => [e.clientId, e.address]), [['from-2', '127.0.0.2'], ['from-3', '127.0.0.3']])
    assert.deepEqual(asc.slice(0, -2).map((e) => e.clientId), asc.slice(0, -2).map((e) => e.clientId).sort(), 'the 127.0.0.1 ones by id')
    assert.ok(asc.some((e) => !e.connected && e.address === '127.0.0.1'), 'offline sessions sort by their last address')
    const desc = await walk('address', 'desc', 5)
    assert.deepEqual(desc.map((e) => e.clientId), asc.map((e) => e.clientId).reverse())
  })

  it('a page cursor holds when its client leaves: the next page starts right after it', async () => {
    const first = (await h.api('GET', '/api/v1/clients?sort=connectedAt&state=connected&limit=3')).body as unknown as Entry[]
    const expected = ((await h.api('GET', '/api/v1/clients?sort=connectedAt&state=connected&limit=6')).body as unknown as Entry[]).slice(3)
    const last = first[2]
    const leaving = clients.find((c) => c.options.clientId === last.clientId)!
    await new Promise<void>((resolve) => leaving.end(true, {}, () => resolve()))
    for (const deadline = Date.now() + 5000; (await h.api('GET', `/api/v1/clients/${last.clientId}`)).status !== 404;) {
      assert.ok(Date.now() < deadline, `${last.clientId} is gone`)
      await new Promise((r) => setTimeout(r, 20))
    }
    const next = await h.api('GET', `/api/v1/clients?sort=connectedAt&state=connected&limit=3&after=${last.clientId}&afterKey=${encodeURIComponent(last.connectedAt!)}`)
    assert.deepEqual((next.body as unknown as Entry[]).map((e) => e.clientId), expected.map((e) => e.clientId))
  })
})
