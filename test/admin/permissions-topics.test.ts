/**
 * Issue 17 item 12: a client's effective permissions shown as the rules that apply to it
 * (GET /clients/:id/permissions, with one check worked out), and the topic browser
 * (GET /topics: subscribed filters; GET /retained: retained messages with a payload
 * preview). The permissions answer is checked against what the broker really does with the
 * same client's PUBLISH and SUBSCRIBE packets. Real MQTT 3.1.1 and 5.0 clients.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

interface Rule { source: string; origin: string; effect: string; actions: string[]; topics: string[]; qos?: number[]; note?: string }
interface Permissions {
  clientId: string; rules: Rule[]; noMatch: string; expiresAt?: string
  check?: { action: string; topic?: string; qos: number; retain: boolean; allowed: boolean; decidedBy?: Rule; because: string }
}

const ACL = [{ permission: 'allow', action: 'subscribe', topic: 'alerts/#', qos: [0, 1] }]

describe('admin API: effective permissions and the topic browser', () => {
  const h = useAdmin({
    overrides: {
      authorization: {
        noMatch: 'deny',
        policies: [
          { name: 'no-admin', priority: 5, effect: 'deny', actions: ['publish'], topics: ['admin/#'] },
          { name: 'own-topics', priority: 10, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['devices/${clientid}/#'], clientId: '^dev-' },
          { name: 'bob-only', priority: 20, effect: 'allow', actions: ['subscribe'], topics: ['x/#'], username: 'bob' },
        ],
      },
    },
  })
  const clients: MqttClient[] = []
  const connect = (clientId: string, protocolVersion: 4 | 5, persistent = false): Promise<MqttClient> => new Promise((resolve, reject) => {
    const c = mqtt.connect({
      host: '127.0.0.1', port: h.mqttPort, protocolVersion, clientId, username: 'alice', password: hsToken(SEED_SECRET, { acl: ACL }),
      clean: !persistent, ...(persistent && protocolVersion === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
      reconnectPeriod: 0, connectTimeout: 5000,
    })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  const permissions = async (path: string): Promise<Permissions> => {
    const r = await h.api('GET', `/api/v1/clients/${path}`)
    assert.equal(r.status, 200, r.text)
    return r.body as Permissions
  }
  let dev1: MqttClient
  let dev2: MqttClient

  before(async () => {
    dev1 = await connect('dev-1', 5)
    dev2 = await connect('dev-2', 4)
    clients.push(dev1, dev2)
    const away = await connect('away', 5, true)
    await away.subscribeAsync('alerts/#', { qos: 1 })
    await new Promise<void>((resolve) => away.end(false, {}, () => resolve()))
  })
  after(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))))
  })

  it('lists the rules that apply, in the order they are asked, placeholders substituted', async () => {
    const p = await permissions('dev-1/permissions')
    assert.equal(p.clientId, 'dev-1')
    assert.equal(p.noMatch, 'deny')
    assert.ok(p.expiresAt !== undefined && Date.parse(p.expiresAt) > Date.now(), 'the token expiry the rules end with')
    assert.deepEqual(p.rules.map((r) => [r.source, r.origin, r.effect, r.actions.join('+'), r.topics.join(' ')]), [
      ['broker', '$-topics', 'deny', 'publish', '$…'],
      ['token-acl', 'acl[0]', 'allow', 'subscribe', 'alerts/#'],
      ['policies', 'no-admin', 'deny', 'publish', 'admin/#'],
      ['policies', 'own-topics', 'allow', 'publish+subscribe', 'devices/dev-1/#'],
      ['dollar-topics', '$-topic guard', 'deny', 'subscribe', '$…'],
    ])
    assert.deepEqual(p.rules[1].qos, [0, 1])
    assert.ok(!p.rules.some((r) => r.origin === 'bob-only'), 'a policy whose username condition fails is not listed')
    const other = await permissions('dev-2/permissions')
    assert.deepEqual(other.rules.find((r) => r.origin === 'own-topics')?.topics, ['devices/dev-2/#'])
  })

  it('a check names the rule that decides, and the broker decides the same', async () => {
    const check = async (q: string): Promise<NonNullable<Permissions['check']>> => (await permissions(`dev-1/permissions?${q}`)).check!

    const own = await check('action=publish&topic=devices/dev-1/temp&qos=1')
    assert.equal(own.allowed, true)
    assert.equal(own.decidedBy?.origin, 'own-topics')
    assert.match(own.because, /allowed by policies rule "own-topics"/)
    const admin = await check('action=publish&topic=admin/reboot')
    assert.equal(admin.allowed, false)
    assert.equal(admin.decidedBy?.origin, 'no-admin')
    const nobody = await check('action=publish&topic=elsewhere/x&qos=1')
    assert.equal(nobody.allowed, false)
    assert.equal(nobody.decidedBy, undefined)
    assert.match(nobody.because, /no rule matched: noMatch is deny/)
    const sys = await check('action=publish&topic=%24SYS/x')
    assert.equal(sys.allowed, false)
    assert.equal(sys.decidedBy?.source, 'broker')
    // The ACL rule is limited to QoS 0 and 1: at QoS 2 nothing matches and noMatch refuses.
    assert.equal((await check('action=subscribe&topic=alerts/%23&qos=1')).decidedBy?.origin, 'acl[0]')
    const qos2 = await check('action=subscribe&topic=alerts/%23&qos=2')
    assert.equal(qos2.allowed, false)
    assert.equal(qos2.decidedBy, undefined)
    const shared = await check('action=subscribe&topic=%24share/g/devices/dev-1/%23')
    assert.equal(shared.allowed, true, 'a shared subscription is checked on the filter it shares')
    assert.equal((await check('action=subscribe&topic=%24SYS/%23')).decidedBy?.origin, '$-topic guard')
    assert.equal((await check('action=connect')).allowed, true)

    // The same client's packets, as the broker answers them (MQTT 5 reason codes).
    const puback = (topic: string, opts: IClientPublishOptions): Promise<number> => new Promise((resolve, reject) => {
      dev1.publish(topic, 'x', opts, (err, packet) => {
        if (err !== undefined && err !== null && (err as { code?: number }).code === undefined) reject(err)
        else resolve((packet as { reasonCode?: number } | undefined)?.reasonCode ?? (err as { code?: number } | undefined)?.code ?? 0)
      })
    })
    assert.equal(await puback('devices/dev-1/temp', { qos: 1 }), 0x00)
    assert.equal(await puback('elsewhere/x', { qos: 1 }), 0x87)
    assert.equal(await puback('admin/reboot', { qos: 1 }), 0x87)
    const suback = await new Promise<number[]>((resolve) => {
      dev1.subscribe({ 'alerts/#': { qos: 1 }, 'alerts/+/x': { qos: 2 }, '$share/g/devices/dev-1/#': { qos: 0 } }, (err, granted) => {
        resolve((err as { packet?: { granted?: number[] } } | null)?.packet?.granted ?? (granted ?? []).map((g) => g.qos))
      })
    })
    assert.deepEqual(suback, [1, 0x87, 0], 'alerts/# at QoS 1 by acl[0]; alerts/+/x at QoS 2 refused; the shared one by own-topics')
    await dev2.subscribeAsync('alerts/#', { qos: 0 })
  })

  it('refuses bad checks and clients it cannot answer for', async () => {
    for (const bad of ['action=fly', 'action=publish', 'action=publish&topic=a/%23', 'action=subscribe&topic=a/%23/b', 'action=publish&topic=a&qos=3',
      'action=publish&topic=a&retain=yes', 'topic=a', 'action=subscribe&topic=%24share/%2B/a']) {
      const r = await h.api('GET', `/api/v1/clients/dev-1/permissions?${bad}`)
      assert.equal(r.status, 400, bad)
      assert.equal(r.body.error, 'ERR_VALIDATION', bad)
    }
    const offline = await h.api('GET', '/api/v1/clients/away/permissions')
    assert.equal(offline.status, 404)
    assert.match(offline.body.message, /not connected/)
    assert.equal((await h.api('GET', '/api/v1/clients/nobody/permissions')).status, 404)
  })

  it('GET /topics lists the subscribed filters with their sessions, shared groups apart, a page at a time', async () => {
    const r = await h.api('GET', '/api/v1/topics')
    assert.equal(r.status, 200, r.text)
    assert.deepEqual(r.body, [
      { filter: 'alerts/#', subscribers: 3, shared: [] },
      { filter: 'devices/dev-1/#', subscribers: 0, shared: [{ group: 'g', members: 1 }] },
    ], 'dev-1, dev-2 and the offline session "away" hold alerts/#')
    const first = (await h.api('GET', '/api/v1/topics?limit=1')).body as { filter: string }[]
    assert.deepEqual(first.map((f) => f.filter), ['alerts/#'])
    const next = (await h.api('GET', `/api/v1/topics?limit=1&after=${encodeURIComponent('alerts/#')}`)).body as { filter: string }[]
    assert.deepEqual(next.map((f) => f.filter), ['devices/dev-1/#'])
    assert.deepEqual(((await h.api('GET', '/api/v1/topics?q=devices')).body as { filter: string }[]).map((f) => f.filter), ['devices/dev-1/#'])
    assert.equal((await h.api('GET', '/api/v1/topics?limit=0')).status, 400)
  })

  it('GET /retained lists retained messages under a filter with a payload preview, a page at a time', async () => {
    await dev1.publishAsync('devices/dev-1/a', 'hello', { qos: 1, retain: true, properties: { contentType: 'text/plain' } })
    await dev1.publishAsync('devices/dev-1/b', Buffer.from([0xff, 0xfe]), { qos: 1, retain: true })
    await dev1.publishAsync('devices/dev-1/big', 'é'.repeat(1000), { qos: 0, retain: true })
    await dev1.publishAsync('devices/dev-1/gone', 'x', { qos: 1, retain: true })
    await dev1.publishAsync('devices/dev-1/gone', '', { qos: 1, retain: true }) // cleared
    const r = await h.api('GET', `/api/v1/retained?filter=${encodeURIComponent('devices/#')}`)
    assert.equal(r.status, 200, r.text)
    const list = r.body as { topic: string; qos: number; bytes: number; text?: string; base64?: string; truncated: boolean; contentType?: string }[]
    assert.deepEqual(list.map((m) => m.topic), ['devices/dev-1/a', 'devices/dev-1/b', 'devices/dev-1/big'])
    assert.deepEqual(list[0], { topic: 'devices/dev-1/a', qos: 1, bytes: 5, text: 'hello', truncated: false, contentType: 'text/plain' })
    assert.equal(list[1].base64, '//4=')
    assert.equal(list[1].text, undefined)
    assert.equal(list[2].bytes, 2000)
    assert.equal(list[2].truncated, true)
    assert.equal(list[2].text, 'é'.repeat(512), 'the first 1,024 bytes, whole characters only')
    const page = (await h.api('GET', `/api/v1/retained?filter=${encodeURIComponent('devices/#')}&limit=2&after=${encodeURIComponent('devices/dev-1/a')}`)).body as { topic: string }[]
    assert.deepEqual(page.map((m) => m.topic), ['devices/dev-1/b', 'devices/dev-1/big'])
    const all = (await h.api('GET', '/api/v1/retained')).body as { topic: string }[]
    assert.ok(all.every((m) => !m.topic.startsWith('$')), 'the default # leaves $SYS out')
    assert.equal((await h.api('GET', '/api/v1/retained?filter=a/%23/b')).status, 400)
  })
})
