/**
 * GET /api/v1/stats/history (issue 17 item 12) against a real broker whose history interval is
 * shortened to 200 ms: real MQTT 5.0 and 3.1.1 traffic shows up in the points as rates whose
 * integral over time is exactly the traffic (the same counters as GET /stats), the gauge says
 * who is connected, and the answer has the documented shape.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

interface Point { at: string; [field: string]: number | string }
interface History { range: string; intervalSeconds: number; from: string; to: string; points: Point[] }

const FIELDS = ['connections', 'connectsPerSecond', 'messagesInPerSecond', 'messagesOutPerSecond', 'bytesInPerSecond', 'bytesOutPerSecond',
  'authFailuresPerSecond', 'dropsPerSecond']

describe('admin API: stats history', () => {
  const h = useAdmin({ statsHistoryIntervalMs: 200 })
  const clients: MqttClient[] = []
  after(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))))
  })

  const connect = (clientId: string, protocolVersion: 4 | 5, password: string): Promise<MqttClient> => new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion, clientId, username: 'u', password, reconnectPeriod: 0, connectTimeout: 5000 })
    clients.push(c)
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  const history = async (range = ''): Promise<History> => {
    const r = await h.api('GET', `/api/v1/stats/history${range}`)
    assert.equal(r.status, 200, r.text)
    return r.body
  }
  /** Bounded wait until the history holds a point taken after `t` (epoch ms). */
  const pointAfter = async (t: number): Promise<History> => {
    for (const deadline = Date.now() + 10_000; ;) {
      const v = await history()
      if (v.points.some((p) => Date.parse(p.at) > t)) return v
      assert.ok(Date.now() < deadline, 'no history point within 10 s')
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  /** Σ rate × seconds over the points after `t0`: how many of the counter's events they cover. */
  const integral = (v: History, field: string, t0: number): number => {
    let sum = 0
    for (let i = 1; i < v.points.length; i++) {
      const at = Date.parse(v.points[i].at), prev = Date.parse(v.points[i - 1].at)
      if (prev >= t0) sum += Number(v.points[i][field]) * ((at - prev) / 1000)
    }
    return sum
  }

  it('MQTT traffic shows up as rates whose sum over time is the traffic; the gauge as connected clients', async () => {
    // A first point, so that everything below happens inside intervals the answer covers whole
    const first = await pointAfter(0)
    const t0 = Date.parse(first.points[first.points.length - 1].at)
    const sub = await connect('hist-sub', 5, hsToken(SEED_SECRET))
    await sub.subscribeAsync('file/h/#', { qos: 1 })
    const pub = await connect('hist-pub', 4, hsToken(SEED_SECRET))
    for (let i = 0; i < 20; i++) await pub.publishAsync(`file/h/${i}`, 'x'.repeat(100), { qos: 1 })
    await assert.rejects(connect('hist-bad', 5, hsToken('not-the-secret-0123456789-0123456789-abcdef')))
    // Every delivery made before the point that closes the traffic's interval
    for (const deadline = Date.now() + 5000; ((await h.api('GET', '/api/v1/stats')).body as { messages: { sent: number } }).messages.sent < 20;) {
      assert.ok(Date.now() < deadline, 'the subscriber got its 20 messages')
      await new Promise((r) => setTimeout(r, 20))
    }
    const v = await pointAfter(Date.now() + 10)

    assert.equal(v.range, '1h')
    assert.equal(v.intervalSeconds, 0.2)
    assert.ok(v.points.length <= 360, 'bounded: an hour of points at most')
    assert.ok(Date.parse(v.to) - Date.parse(v.from) === 3600_000)
    const times = v.points.map((p) => Date.parse(p.at))
    assert.ok(times.every((t, i) => i === 0 || t > times[i - 1]), 'oldest first')
    for (const p of v.points) {
      assert.deepEqual(Object.keys(p).sort(), ['at', ...FIELDS].sort())
      for (const f of FIELDS) assert.ok(typeof p[f] === 'number' && Number(p[f]) >= 0, `${f} ${String(p[f])}`)
    }
    const near = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 0.05, `${what}: ${actual} ≠ ${expected}`)
    near(integral(v, 'messagesInPerSecond', t0), 20, 'messages in')
    near(integral(v, 'messagesOutPerSecond', t0), 20, 'messages out')
    near(integral(v, 'connectsPerSecond', t0), 3, 'connects (the refused one too)')
    near(integral(v, 'authFailuresPerSecond', t0), 1, 'authentication failures')
    near(integral(v, 'dropsPerSecond', t0), 0, 'drops')
    assert.ok(integral(v, 'bytesInPerSecond', t0) > 20 * 100, 'bytes in: at least the payloads')
    assert.equal(v.points[v.points.length - 1].connections, 2, 'connected now: the subscriber and the publisher')
  })

  it('range takes 5m, 15m and 1h; anything else is a 400', async () => {
    for (const range of ['5m', '15m', '1h']) {
      const v = await history(`?range=${range}`)
      assert.equal(v.range, range)
      assert.equal(Date.parse(v.to) - Date.parse(v.from), { '5m': 300, '15m': 900, '1h': 3600 }[range]! * 1000)
      assert.ok(v.points.length > 0)
    }
    const bad = await h.api('GET', '/api/v1/stats/history?range=2h')
    assert.equal(bad.status, 400)
    assert.equal((bad.body as { error: string }).error, 'ERR_VALIDATION')
    assert.match((bad.body as { message: string }).message, /range: must be one of 5m, 15m, 1h/)
  })
})
