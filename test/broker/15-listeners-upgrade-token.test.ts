/**
 * A token on the WebSocket upgrade (ws listener `upgradeToken`), MQTT 3.1.1 and 5.0, from a
 * node client (MQTT.js over `ws`): `Authorization: Bearer`, a named cookie, a query
 * parameter — each only where the listener enables it; CONNECT fields win; the token is
 * never logged, also at trace level. (The browser side is test/e2e/ws-upgrade-token.test.ts.)
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { validateConfig } from '../../src/config/schema.js'
import { ConfigError } from '../../src/errors.js'
import { createLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { assertHealthy, end, uid, VERSIONS, withTimeout, type Version } from '../helpers/broker.js'

const SECRET = 'upgrade-token-secret-of-at-least-32-bytes'
const token = (sub = 'browser'): string => mintToken({ privateKey: SECRET, alg: 'HS256', sub, expiresIn: 600, claims: { jti: uid('j') } })

/** Connects; resolves the client, or the CONNACK code it was refused with. */
async function attempt(url: string, version: Version, extra: mqtt.IClientOptions = {}): Promise<MqttClient | number> {
  const client = mqtt.connect(url, { protocolVersion: version, clientId: uid('ws'), reconnectPeriod: 0, connectTimeout: 3000, ...extra })
  try {
    return await withTimeout(new Promise<MqttClient | number>((resolve, reject) => {
      client.once('connect', () => resolve(client))
      client.once('error', (err: Error & { code?: number }) => (typeof err.code === 'number' ? resolve(err.code) : reject(err)))
      client.once('close', () => reject(new Error('closed before CONNACK')))
    }), 3000, 'connect')
  } finally {
    if (!client.connected) client.end(true)
  }
}

describe('15 WebSocket upgrade token', () => {
  let server: PortcullisServer
  let logged = ''
  const ports: Record<string, number> = {}
  before(async () => {
    const sink = new Writable({ write(chunk, _enc, done) { logged += String(chunk); done() } })
    const config = validateConfig({
      listeners: [
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt', upgradeToken: { authorization: true, cookie: 'mqtt_token', query: 'access_token' } },
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt', upgradeToken: { cookie: 'mqtt_token' } },
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
      ],
      persistence: false,
      authentication: { allowAnonymous: false, authenticators: [{ type: 'jwt', from: 'password', algorithm: 'hmac-based', secret: SECRET }] },
      authorization: { noMatch: 'allow' },
    })
    server = await createServer(config, { logger: createLogger({ level: 'trace', destination: sink }) })
    ports['all'] = server.listeners[0].port
    ports['cookie'] = server.listeners[1].port
    ports['none'] = server.listeners[2].port
  })
  after(() => server.close())

  for (const version of VERSIONS) {
    const REFUSED = version === 5 ? 0x86 : 4
    describe(`MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
      const used: string[] = []
      test('Authorization: Bearer on the upgrade stands for the CONNECT password', async () => {
        const t = token()
        used.push(t)
        const c = await attempt(`ws://127.0.0.1:${ports['all']}/mqtt`, version, { wsOptions: { headers: { authorization: `Bearer ${t}` } } })
        if (typeof c === 'number') assert.fail(`refused with ${c}`)
        await assertHealthy(c)
        await end(c)
      })
      test('a named cookie, and a query parameter, carry the token', async () => {
        const t1 = token()
        const t2 = token()
        used.push(t1, t2)
        const byCookie = await attempt(`ws://127.0.0.1:${ports['all']}/mqtt`, version, { wsOptions: { headers: { cookie: `other=1; mqtt_token=${t1}` } } })
        assert.ok(typeof byCookie !== 'number')
        const byQuery = await attempt(`ws://127.0.0.1:${ports['all']}/mqtt?access_token=${t2}`, version)
        assert.ok(typeof byQuery !== 'number')
        await end(byCookie, byQuery)
      })
      test('only where the listener enables it: the header and the query are not read by a cookie-only listener, nothing by a plain one', async () => {
        const t = token()
        used.push(t)
        assert.equal(await attempt(`ws://127.0.0.1:${ports['cookie']}/mqtt?access_token=${t}`, version, { wsOptions: { headers: { authorization: `Bearer ${t}` } } }), REFUSED)
        assert.equal(await attempt(`ws://127.0.0.1:${ports['none']}/mqtt?access_token=${t}`, version, { wsOptions: { headers: { cookie: `mqtt_token=${t}`, authorization: `Bearer ${t}` } } }), REFUSED)
        const ok = await attempt(`ws://127.0.0.1:${ports['cookie']}/mqtt`, version, { wsOptions: { headers: { cookie: `mqtt_token=${t}` } } })
        assert.ok(typeof ok !== 'number')
        await end(ok)
      })
      test('a CONNECT password wins over the upgrade token; a bad upgrade token is refused (0x86 / 4)', async () => {
        const t = token()
        used.push(t)
        assert.equal(await attempt(`ws://127.0.0.1:${ports['all']}/mqtt`, version, { password: 'not-a-token', username: 'u', wsOptions: { headers: { authorization: `Bearer ${t}` } } }), REFUSED)
        const bad = `${t.slice(0, -4)}AAAA`
        used.push(bad)
        assert.equal(await attempt(`ws://127.0.0.1:${ports['all']}/mqtt?access_token=${bad}`, version), REFUSED)
      })
      test('no upgrade token appears in the log, even at trace level', () => {
        assert.ok(logged.length > 0, 'the trace log was written')
        for (const t of used) {
          assert.equal(logged.includes(t), false)
          assert.equal(logged.includes(t.split('.')[2]), false, 'not even the signature')
        }
      })
    })
  }

  test('configuration: upgradeToken only on ws/wss, with something enabled and valid names', () => {
    const listener = (l: Record<string, unknown>): unknown => validateConfig({ listeners: [l] })
    const fails = (l: Record<string, unknown>, path: string): void => {
      assert.throws(() => listener(l), (e: unknown) => e instanceof ConfigError && e.path === path, JSON.stringify(l))
    }
    fails({ type: 'tcp', upgradeToken: { authorization: true } }, 'listeners[0].upgradeToken')
    fails({ type: 'ws', upgradeToken: {} }, 'listeners[0].upgradeToken')
    fails({ type: 'ws', upgradeToken: { cookie: 'a b' } }, 'listeners[0].upgradeToken.cookie')
    fails({ type: 'ws', upgradeToken: { header: true } }, 'listeners[0].upgradeToken.header')
    assert.ok(listener({ type: 'ws', upgradeToken: { query: 'token' } }))
  })
})
