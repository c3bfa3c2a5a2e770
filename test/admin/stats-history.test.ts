/**
 * GET /api/v1/stats/history (issue 17 item 12) against a real broker at its real 10 s history
 * interval, moved by node:test's fake Date and setInterval (test/helpers/fake-time.ts): real MQTT
 * 5.0 and 3.1.1 traffic shows up in the points as rates whose integral over time is exactly the
 * traffic (the same counters as GET /stats), the gauge says who is connected, and the answer has
 * the documented shape. setTimeout stays real: MQTT.js and the bounded waits below run on it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { HISTORY_INTERVAL_MS } from '../../src/admin/stats-history.js'
import { fakeTime, realTime, tick } from '../helpers/fake-time.js'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

interface Point { at: string; [field: string]: number | string }
interface History { range: string; intervalSeconds: number; from: string; to: string; points: Point[] }

const FIELDS = ['connections', 'connectsPerSecond', 'messagesInPerSecond', 'messagesOutPerSecond', 'bytesInPerSecond', 'bytesOutPerSecond',
  'authFailuresPerSecond', 'dropsPerSecond']

describe('admin API: stats history', () => {
  // Faked before the broker starts (its history interval is set up then), real again after it closed
  before(() => fakeTime(['Date', 'setInterval']))
  const h = useAdmin()
  after(() => realTime())
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
    // A first point, so that everything below happens inside the interval the next one closes
    tick(HISTORY_INTERVAL_MS)
    const first = await history()
    assert.equal(first.points.length, 1, 'one point per 10 s')
    const t0 = Date.parse(first.points[0].at)
    const sub = await connect('hist-sub', 5, hsToken(SEED_SECRET))
    await sub.subscribeAsync('file/h/#', { qos: 1 })
    const pub = await connect('hist-pub', 4, hsToken(SEED_SECRET))
    for (let i = 0; i < 20; i++) await pub.publishAsync(`file/h/${i}`, 'x'.repeat(100), { qos: 1 })
    await assert.rejects(connect('hist-bad', 5, hsToken('not-the-secret-0123456789-0123456789-abcdef')))
    // Every delivery made before the point that closes the traffic's interval (a bounded wait, in real time)
    for (const deadline = performance.now() + 5000; ((await h.api('GET', '/api/v1/stats')).body as { messages: { sent: number } }).messages.sent < 20;) {
      assert.ok(performance.now() < deadline, 'the subscriber got its 20 messages')
      await new Promise((r) => setTimeout(r, 20))
    }
    tick(HISTORY_INTERVAL_MS)
    const v = await history()

    assert.equal(v.range, '1h')
    assert.equal(v.intervalSeconds, 10)
    assert.equal(v.points.length, 2)
    assert.equal(Date.parse(v.points[1].at) - t0, HISTORY_INTERVAL_MS, 'the next point 10 s of the broker\'s clock later')
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
