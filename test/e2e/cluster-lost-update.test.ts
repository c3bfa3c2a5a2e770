/**
 * No lost update across nodes (issue 13 item 6): two nodes' admin APIs changing the same device,
 * policy or authenticator at the same moment each start from their own copy; both changes must
 * end up in force on both nodes (neither silently dropped, neither refused because the other
 * came first). Rounds of concurrent requests, one through node A and one through node B, fired
 * together: different keys added to one device, a device disabled while a key is added, a device
 * deleted while a key is added (it must not come back), a key removed while the device is disabled, a policy's topics patched on A while its
 * clientId is patched on B, a policy's priority while its actions change, an authenticator's
 * claims.maxAge while its `from` changes, the authorization settings while a policy changes.
 * Also If-Match across nodes: the same ETag on both, a tag gone stale through the other node
 * refused (412), two changes sent with one tag: one made, the other refused.
 * Two broker child processes on one real redis-server (unix socket).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { within } from '../helpers/broker.js'
import { freePort, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import { DEVICES_CONFIG, ecPair } from '../helpers/devices.js'
import type { Json } from '../helpers/json.js'
import { adminCall } from '../helpers/admin-call.js'

const API_KEY = 'cluster-lost-update-test-key'
/** Concurrent pairs of requests per case: a lost update shows in most rounds when it can happen. */
const ROUNDS = 8

type Answer = { status: number; body: Json; headers: Headers }

test('cluster: two nodes changing the same thing at once lose neither change', { timeout: 180_000 }, async (t) => {
  const adminPorts = new Map<string, number>()
  const { nodes } = await clusterNodes(t, ['node-a', 'node-b'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return { admin: { host: '127.0.0.1', port, apiKey: API_KEY }, ...DEVICES_CONFIG }
  })
  const [a, b] = nodes as [BrokerProcess, BrokerProcess]
  await a.start()
  await b.start()
  const A = (method: string, path: string, body?: unknown, ifMatch?: string): Promise<Answer> =>
    adminCall(`http://127.0.0.1:${adminPorts.get('node-a') ?? 0}/api/v1`, API_KEY, method, path, body, ifMatch === undefined ? {} : { 'if-match': ifMatch })
  const B = (method: string, path: string, body?: unknown, ifMatch?: string): Promise<Answer> =>
    adminCall(`http://127.0.0.1:${adminPorts.get('node-b') ?? 0}/api/v1`, API_KEY, method, path, body, ifMatch === undefined ? {} : { 'if-match': ifMatch })
  const both = [A, B]

  /** Until `check` holds on both nodes (each node gets 2 s: a change is in force everywhere within about a second). */
  async function onBoth(what: string, check: (api: typeof A) => Promise<boolean>): Promise<void> {
    for (const [i, api] of both.entries()) {
      const took = await within(2000, () => check(api))
      assert.ok(took <= 2000, `${what} on node ${i === 0 ? 'A' : 'B'}`)
    }
  }

  /** Registered on A, seen on B. */
  async function register(id: string): Promise<void> {
    const res = await A('POST', '/devices', { id, keys: [{ id: 'k1', pem: ecPair().pem }] })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    await onBoth(`${id} registered`, async (api) => (await api('GET', `/devices/${id}`)).status === 200)
  }

  const keyIds = (d: Json): string[] => (d.keys as { id: string }[]).map((k) => k.id).sort()

  await t.test('device: a key added through A and another through B at once are both kept', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const id = `keys-${i}`
      await register(id)
      const [ra, rb] = await Promise.all([A('POST', `/devices/${id}/keys`, { id: 'ka', pem: ecPair().pem }), B('POST', `/devices/${id}/keys`, { id: 'kb', pem: ecPair().pem })])
      assert.equal(ra.status, 201, JSON.stringify(ra.body))
      assert.equal(rb.status, 201, JSON.stringify(rb.body))
      await onBoth(`${id}: keys k1, ka and kb`, async (api) => keyIds((await api('GET', `/devices/${id}`)).body).join() === 'k1,ka,kb')
    }
  })

  await t.test('device: disabled through A while a key is added through B: disabled, with the new key', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const id = `switch-${i}`
      await register(id)
      const [ra, rb] = await Promise.all([A('POST', `/devices/${id}/disable`), B('POST', `/devices/${id}/keys`, { id: 'kb', pem: ecPair().pem })])
      assert.equal(ra.status, 200, JSON.stringify(ra.body))
      assert.equal(rb.status, 201, JSON.stringify(rb.body))
      await onBoth(`${id}: disabled, keys k1 and kb`, async (api) => {
        const d = (await api('GET', `/devices/${id}`)).body
        return d.enabled === false && keyIds(d).join() === 'k1,kb'
      })
    }
  })

  await t.test('device: a key removed through A while it is disabled through B: disabled, the key gone', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const id = `remove-${i}`
      const res = await A('POST', '/devices', { id, keys: [{ id: 'k1', pem: ecPair().pem }, { id: 'k2', pem: ecPair().pem }] })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      await onBoth(`${id} registered`, async (api) => (await api('GET', `/devices/${id}`)).status === 200)
      const [ra, rb] = await Promise.all([A('DELETE', `/devices/${id}/keys/k2`), B('POST', `/devices/${id}/disable`)])
      assert.equal(ra.status, 200, JSON.stringify(ra.body))
      assert.equal(rb.status, 200, JSON.stringify(rb.body))
      await onBoth(`${id}: disabled, key k1 only`, async (api) => {
        const d = (await api('GET', `/devices/${id}`)).body
        return d.enabled === false && keyIds(d).join() === 'k1'
      })
    }
  })

  await t.test('device: deleted through A while a key is added through B: it does not come back', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const id = `gone-${i}`
      await register(id)
      const [ra, rb] = await Promise.all([A('DELETE', `/devices/${id}`), B('POST', `/devices/${id}/keys`, { id: 'kb', pem: ecPair().pem })])
      assert.equal(ra.status, 204, JSON.stringify(ra.body))
      assert.ok(rb.status === 201 || rb.status === 404, `the key is added before the deletion, or the device is gone (${rb.status} ${JSON.stringify(rb.body)})`)
      await onBoth(`${id}: deleted`, async (api) => (await api('GET', `/devices/${id}`)).status === 404)
    }
  })

  await t.test('policy: topics patched through A and clientId through B at once are both in force', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const name = `shared-${i}`
      const res = await A('POST', '/policies', { name, priority: 100 + i, effect: 'allow', actions: ['publish'], topics: ['old/#'] })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      await onBoth(`${name} created`, async (api) => (await api('GET', `/policies/${name}`)).status === 200)
      const [ra, rb] = await Promise.all([A('PATCH', `/policies/${name}`, { topics: [`a-${i}/#`] }), B('PATCH', `/policies/${name}`, { clientId: `^b-${i}-` })])
      assert.equal(ra.status, 200, JSON.stringify(ra.body))
      assert.equal(rb.status, 200, JSON.stringify(rb.body))
      await onBoth(`${name}: topics from A, clientId from B`, async (api) => {
        const p = (await api('GET', `/policies/${name}`)).body
        return JSON.stringify(p.topics) === JSON.stringify([`a-${i}/#`]) && p.clientId === `^b-${i}-`
      })
    }
  })

  await t.test("policy: priority changed through A while its actions are patched through B, and settings changed at once", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const name = `ranked-${i}`
      const res = await A('POST', '/policies', { name, priority: 200 + i, effect: 'allow', actions: ['publish'], topics: ['r/#'] })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      await onBoth(`${name} created`, async (api) => (await api('GET', `/policies/${name}`)).status === 200)
      const claim = `acl${i}`
      const [ra, rb, rs] = await Promise.all([
        A('PATCH', `/policies/${name}/priority`, { priority: 300 + i }),
        B('PATCH', `/policies/${name}`, { actions: ['publish', 'subscribe'] }),
        (i % 2 === 0 ? A : B)('PUT', '/authorization/settings', { noMatch: 'allow', aclClaim: claim }),
      ])
      for (const r of [ra, rb, rs]) assert.equal(r.status, 200, JSON.stringify(r.body))
      await onBoth(`${name}: priority from A, actions from B, aclClaim ${claim}`, async (api) => {
        const p = (await api('GET', `/policies/${name}`)).body
        const s = (await api('GET', '/authorization/settings')).body
        return p.priority === 300 + i && JSON.stringify(p.actions) === '["publish","subscribe"]' && s.aclClaim === claim
      })
    }
  })

  await t.test('authenticator: claims.maxAge patched through A and `from` through B at once are both in force', async () => {
    const res = await A('POST', '/authenticators', { type: 'jwt', name: 'pair-hmac', from: 'password', algorithm: 'hmac-based', secret: 'pair-secret-0123456789-0123456789-abcdefgh' })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    await onBoth('pair-hmac created', async (api) => (await api('GET', '/authenticators/pair-hmac')).status === 200)
    for (let i = 0; i < ROUNDS; i++) {
      const from = i % 2 === 0 ? 'username' : 'password'
      const [ra, rb] = await Promise.all([
        A('PATCH', '/authenticators/pair-hmac', { claims: { maxAge: 600 + i } }),
        B('PATCH', '/authenticators/pair-hmac', { from }),
      ])
      assert.equal(ra.status, 200, JSON.stringify(ra.body))
      assert.equal(rb.status, 200, JSON.stringify(rb.body))
      await onBoth(`pair-hmac: maxAge ${600 + i} from A, from ${from} from B`, async (api) => {
        const x = (await api('GET', '/authenticators/pair-hmac')).body
        return x.claims?.maxAge === 600 + i && x.from === from
      })
    }
  })

  await t.test('If-Match across nodes: one ETag on both nodes; a tag read on A and changed through B is refused on A (412) at once; two changes with one tag: one made', async () => {
    const tagOf = (r: Answer): string => r.headers.get('etag') ?? ''
    const things = [
      { path: '/devices/tagged', create: () => A('POST', '/devices', { id: 'tagged', keys: [{ id: 'k1', pem: ecPair().pem }] }),
        changeB: () => B('POST', '/devices/tagged/keys', { id: 'kb', pem: ecPair().pem }),
        edit: (api: typeof A, tag: string, n: number) => api('PUT', '/devices/tagged', { description: `edit ${n}`, keys: [{ id: 'k1', pem: ecPair().pem }] }, tag) },
      { path: '/policies/tagged', create: () => A('POST', '/policies', { name: 'tagged', priority: 400, effect: 'allow', actions: ['publish'], topics: ['t/#'] }),
        changeB: () => B('PATCH', '/policies/tagged', { topics: ['tb/#'] }),
        edit: (api: typeof A, tag: string, n: number) => api('PATCH', '/policies/tagged', { description: `edit ${n}` }, tag) },
      { path: '/authenticators/pair-hmac', create: (): Promise<Answer> => Promise.resolve({ status: 201, body: undefined, headers: new Headers() }),
        changeB: () => B('PATCH', '/authenticators/pair-hmac', { claims: { maxAge: 900 } }),
        edit: (api: typeof A, tag: string, n: number) => api('PATCH', '/authenticators/pair-hmac', { description: `edit ${n}` }, tag) },
    ]
    for (const thing of things) {
      assert.equal((await thing.create()).status, 201)
      let tag = ''
      await onBoth(`${thing.path}: one ETag on both nodes`, async (api) => {
        const r = await api('GET', thing.path)
        if (tag === '' && api === A) tag = tagOf(r)
        return r.status === 200 && tag !== '' && tagOf(r) === tag
      })
      const onA = tagOf(await A('GET', thing.path))
      assert.equal((await thing.changeB()).status < 300, true, `${thing.path}: changed through B`)
      const stale = await thing.edit(A, onA, 0)
      assert.equal(stale.status, 412, `${thing.path}: A's tag is stale (${JSON.stringify(stale.body)})`)
      assert.equal(stale.body.error, 'ERR_PRECONDITION_FAILED')
      let current = ''
      await onBoth(`${thing.path}: B's change seen`, async (api) => {
        current = tagOf(await api('GET', thing.path))
        return current !== onA
      })
      // Both nodes edit with the same current tag at once: exactly one is made, the other is refused.
      const [ra, rb] = await Promise.all([thing.edit(A, current, 1), thing.edit(B, current, 2)])
      assert.deepEqual([ra.status, rb.status].sort(), [200, 412], `${thing.path}: one made, one refused (${JSON.stringify([ra.body, rb.body])})`)
      const made = ra.status === 200 ? ra : rb
      await onBoth(`${thing.path}: the one made is in force, with its ETag`, async (api) => tagOf(await api('GET', thing.path)) === tagOf(made))
    }
  })
})
