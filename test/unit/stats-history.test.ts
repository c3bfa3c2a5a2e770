/**
 * The stats history ring (issue 17 item 12) on node:test's fake clock: a point every 10 s of
 * the broker's clock, rates per second from the counters' differences, at most 360 points
 * (an hour) whatever the uptime, and the 5m / 15m / 1h ranges cut from the newest end.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { ApiError } from '../../src/admin/errors.js'
import { HISTORY_INTERVAL_MS, HISTORY_POINTS, StatsHistory } from '../../src/admin/stats-history.js'
import type { BrokerStatsView } from '../../src/admin/stats.js'

interface Counters { current: number; total: number; received: number; sent: number; dropped: number; failures: number; bytesIn: number; bytesOut: number }

/** The counters the history reads, as GET /stats nests them. */
function statsOf(c: Counters): BrokerStatsView {
  return {
    connections: { current: c.current, open: c.current, total: c.total },
    messages: { received: c.received, sent: c.sent, dropped: c.dropped, receivedByQos: [c.received, 0, 0], sentByQos: [c.sent, 0, 0] },
    bytes: { in: c.bytesIn, out: c.bytesOut },
    authFailures: { total: c.failures, byReason: {}, byAuthenticator: {} },
  } as unknown as BrokerStatsView
}

describe('stats history', () => {
  const T0 = Date.parse('2026-12-03T20:00:00.000Z')
  let history: StatsHistory | undefined
  beforeEach(() => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: T0 })
  })
  afterEach(() => {
    history?.close()
    mock.timers.reset()
  })

  it('takes a point every 10 s: the connected clients, and each counter as a rate per second', () => {
    const c = { current: 0, total: 0, received: 0, sent: 0, dropped: 0, failures: 0, bytesIn: 0, bytesOut: 0 }
    history = new StatsHistory(() => statsOf(c))
    assert.deepEqual(history.view().points, [], 'no point before the first interval has passed')
    Object.assign(c, { current: 3, total: 5, received: 200, sent: 400, dropped: 10, failures: 2, bytesIn: 20_000, bytesOut: 40_000 })
    mock.timers.tick(HISTORY_INTERVAL_MS - 1)
    assert.equal(history.size, 0)
    mock.timers.tick(1)
    Object.assign(c, { current: 1, total: 6, received: 201 })
    mock.timers.tick(HISTORY_INTERVAL_MS)
    const v = history.view({ range: '5m' })
    assert.equal(v.range, '5m')
    assert.equal(v.intervalSeconds, 10)
    assert.equal(v.to, new Date(T0 + 20_000).toISOString())
    assert.equal(v.from, new Date(T0 + 20_000 - 300_000).toISOString())
    assert.deepEqual(v.points, [
      {
        at: new Date(T0 + 10_000).toISOString(), connections: 3, connectsPerSecond: 0.5, messagesInPerSecond: 20, messagesOutPerSecond: 40,
        bytesInPerSecond: 2000, bytesOutPerSecond: 4000, authFailuresPerSecond: 0.2, dropsPerSecond: 1,
      },
      {
        at: new Date(T0 + 20_000).toISOString(), connections: 1, connectsPerSecond: 0.1, messagesInPerSecond: 0.1, messagesOutPerSecond: 0,
        bytesInPerSecond: 0, bytesOutPerSecond: 0, authFailuresPerSecond: 0, dropsPerSecond: 0,
      },
    ])
  })

  it('holds at most 360 points (an hour), the oldest dropped; the ranges cut from the newest end', () => {
    const c = { current: 0, total: 0, received: 0, sent: 0, dropped: 0, failures: 0, bytesIn: 0, bytesOut: 0 }
    history = new StatsHistory(() => statsOf(c))
    const ticks = HISTORY_POINTS + 45
    for (let i = 1; i <= ticks; i++) {
      c.current = i // the gauge names its point
      mock.timers.tick(HISTORY_INTERVAL_MS)
    }
    assert.equal(history.size, HISTORY_POINTS)
    const hour = history.view()
    assert.equal(hour.range, '1h')
    assert.equal(hour.points.length, HISTORY_POINTS)
    assert.deepEqual(hour.points.map((p) => p.connections), Array.from({ length: HISTORY_POINTS }, (_, i) => ticks - HISTORY_POINTS + 1 + i))
    const times = hour.points.map((p) => Date.parse(p.at))
    assert.ok(times.every((t, i) => i === 0 || t - times[i - 1] === HISTORY_INTERVAL_MS), 'oldest first, 10 s apart')
    assert.equal(times[times.length - 1], T0 + ticks * HISTORY_INTERVAL_MS)
    // 15 minutes: the points after now − 900 s (90 of them); 5 minutes: 30
    assert.deepEqual(history.view({ range: '15m' }).points, hour.points.slice(-90))
    assert.deepEqual(history.view({ range: '5m' }).points, hour.points.slice(-30))
  })

  it('an unknown range is refused with the ranges it takes', () => {
    history = new StatsHistory(() => statsOf({ current: 0, total: 0, received: 0, sent: 0, dropped: 0, failures: 0, bytesIn: 0, bytesOut: 0 }))
    for (const range of ['2h', '', '1H', ['1h', '5m']]) {
      assert.throws(() => history!.view({ range }), (e: unknown) => e instanceof ApiError && e.code === 'ERR_VALIDATION' && /range: must be one of 5m, 15m, 1h/.test(e.message))
    }
  })

  it('close() stops taking points', () => {
    history = new StatsHistory(() => statsOf({ current: 0, total: 0, received: 0, sent: 0, dropped: 0, failures: 0, bytesIn: 0, bytesOut: 0 }))
    mock.timers.tick(HISTORY_INTERVAL_MS)
    history.close()
    mock.timers.tick(HISTORY_INTERVAL_MS * 5)
    assert.equal(history.size, 1)
  })
})
