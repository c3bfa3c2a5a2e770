/**
 * The Overview charts draw the broker's history (issue 17 item 12), in a real headless Chromium:
 * after MQTT traffic (MQTT.js; the broker's 10 s history interval moved on by node:test's fake
 * Date and setInterval, test/helpers/fake-time.ts), a page loaded afterwards shows the
 * points taken before it was opened — the traffic's peak on a value axis scaled to the history's
 * largest rate, clock-time labels on the time axis — and the range chosen (5 min / 15 min / 1 h)
 * stays after a reload. The range selector fits the window at 1400×900 and 1024×768.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser, Page } from 'playwright-core'
import { HISTORY_INTERVAL_MS } from '../../src/admin/stats-history.js'
import { launchChromium } from '../helpers/chromium.js'
import { fakeTime, realTime, tick } from '../helpers/fake-time.js'
import { API_KEY, SEED_SECRET, hsToken, removeDir, startAdmin, type RunningAdmin } from '../admin/helpers.js'

interface Point { at: string; messagesInPerSecond: number }
interface History { range: string; points: Point[] }

let browser: Browser
let h: RunningAdmin
const clients: MqttClient[] = []

before(async () => {
  browser = await launchChromium()
  // Faked before the broker starts (its history interval is set up then); setTimeout stays real
  // (MQTT.js and Playwright wait on it)
  fakeTime(['Date', 'setInterval'])
  h = await startAdmin()
})
after(async () => {
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))))
  await browser?.close()
  await h?.close()
  realTime()
  if (h !== undefined) removeDir(h.dataDir)
})

const connect = (clientId: string, protocolVersion: 4 | 5): Promise<MqttClient> => new Promise((resolve, reject) => {
  const c = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion, clientId, username: 'u', password: hsToken(SEED_SECRET), reconnectPeriod: 0, connectTimeout: 5000 })
  clients.push(c)
  c.once('connect', () => resolve(c))
  c.once('error', reject)
})

async function history(range: string): Promise<History> {
  const r = await h.api('GET', `/api/v1/stats/history?range=${range}`)
  assert.equal(r.status, 200, r.text)
  return r.body
}

/** Moves the broker's clock on by `n` history intervals: `n` more points. */
async function morePoints(n: number): Promise<void> {
  const had = (await history('1h')).points.length
  for (let i = 0; i < n; i++) tick(HISTORY_INTERVAL_MS)
  assert.equal((await history('1h')).points.length, had + n)
}

async function signedIn(width: number, height: number): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(`${h.adminUrl}/#/overview`)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  return page
}

/** What the Messages chart shows: the "in" line's points, the value axis labels and the time labels. */
async function messagesChart(page: Page): Promise<{ ys: number[]; valueLabels: string[]; times: { text: string; t: number }[]; from: number; to: number }> {
  return await page.evaluate(`(() => {
    const fig = document.querySelector('figure[data-chart="messages"]')
    const svg = fig.querySelector('svg')
    const line = fig.querySelector('[data-series="in"]')
    const ys = line.tagName === 'circle' ? [Number(line.getAttribute('cy'))] : line.getAttribute('points').trim().split(' ').map((p) => Number(p.split(',')[1]))
    return {
      ys,
      valueLabels: [...svg.querySelectorAll('text.axis:not(.time)')].map((t) => t.textContent),
      times: [...svg.querySelectorAll('text.axis.time')].map((t) => ({ text: t.textContent, t: Number(t.getAttribute('data-t')) })),
      from: Number(svg.getAttribute('data-from')), to: Number(svg.getAttribute('data-to')),
    }
  })()`)
}

/** "1.5k" → 1500 (the chart's short numbers). */
const unshort = (s: string): number => Number(s.replace(/[kM]$/, '')) * (s.endsWith('M') ? 1e6 : s.endsWith('k') ? 1e3 : 1)

test('console: a page opened after the traffic charts it from the history; the range chosen stays', async () => {
  await morePoints(10) // 100 s of history before the traffic, 50 s after: a time axis with several labels
  const sub = await connect('chart-sub', 5)
  await sub.subscribeAsync('file/chart/#', { qos: 1 })
  const pub = await connect('chart-pub', 4)
  for (let i = 0; i < 60; i++) await pub.publishAsync(`file/chart/${i}`, 'x', { qos: 1 })
  // Quiet points after the traffic, so the peak is not the last point (5: within the clients' 60 s keep-alive)
  await morePoints(5)
  const before = await history('15m')
  const peak = Math.max(...before.points.map((p) => p.messagesInPerSecond))
  assert.ok(peak > 0, 'the API has the traffic')

  const page = await signedIn(1400, 900)
  await page.locator('figure[data-chart="messages"] [data-series="in"]').waitFor()
  assert.equal(await page.locator('#history-range button[aria-pressed="true"]').innerText(), '15 min', 'the default range')
  assert.equal(await page.locator('#charts').getAttribute('data-range'), '15m')
  const shown = await messagesChart(page)
  // Drawn at once from the history: every point taken before the page was opened, not one sample of its own
  assert.ok(shown.ys.length >= before.points.length, `${shown.ys.length} points drawn, ${before.points.length} in the history before the page opened`)
  const zero = Math.max(...shown.ys)
  assert.ok(Math.min(...shown.ys) < zero - 20, 'the traffic peak stands above the zero line')
  assert.equal(shown.ys[shown.ys.length - 1], zero, 'quiet since: the newest point is on the zero line')
  // The value axis is scaled to the history's largest rate (rounded up to 1, 2 or 5 × 10^n)
  const top = Math.max(...shown.valueLabels.map(unshort))
  assert.ok(top >= peak && top <= peak * 2.5, `axis top ${top} for a peak of ${peak}/s`)
  // Clock times along the time axis, evenly spaced inside the span shown
  assert.ok(shown.times.length >= 2, `time labels: ${JSON.stringify(shown.times)}`)
  for (const [i, l] of shown.times.entries()) {
    assert.match(l.text, /^\d\d:\d\d(:\d\d)?$/)
    assert.ok(l.t >= shown.from && l.t <= shown.to, `${l.text} inside the axis`)
    const d = new Date(l.t)
    assert.ok(l.text.startsWith(`${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`), `${l.text} is the local time of its tick`)
    if (i > 1) assert.equal(l.t - shown.times[i - 1].t, shown.times[1].t - shown.times[0].t, 'evenly spaced')
  }

  // Another range: drawn from its own answer, and kept after a reload
  await page.click('#history-range button[data-range="5m"]')
  await page.locator('#charts[data-range="5m"]').waitFor()
  assert.equal(await page.locator('#history-range button[aria-pressed="true"]').innerText(), '5 min')
  await page.reload()
  await page.locator('#charts[data-range="5m"] figure[data-chart="messages"] [data-series="in"]').waitFor()
  assert.equal(await page.locator('#history-range button[aria-pressed="true"]').innerText(), '5 min')
  const reloaded = await messagesChart(page)
  assert.ok(reloaded.ys.length >= before.points.length, 'the reloaded page has the history again')
  assert.ok(Math.min(...reloaded.ys) < Math.max(...reloaded.ys) - 20, 'and the peak')
  await page.context().close()
})

for (const [width, height] of [[1400, 900], [1024, 768]] as const) {
  test(`console ${width}×${height}: the range selector and the charts fit the window`, async () => {
    const page = await signedIn(width, height)
    await page.locator('figure[data-chart="connections"]').waitFor()
    const boxes = await page.evaluate<{ what: string; left: number; right: number; top: number; bottom: number }[]>(`[
      ...[...document.querySelectorAll('#history-range button')].map((e) => ['range ' + e.textContent, e]),
      ['title', document.querySelector('.page-head h1')],
      ...[...document.querySelectorAll('#charts figure')].map((e) => ['chart ' + e.dataset.chart, e]),
    ].map(([what, e]) => { const r = e.getBoundingClientRect(); return { what, left: r.left, right: r.right, top: r.top, bottom: r.bottom } })`)
    const title = boxes.find((b) => b.what === 'title')!
    for (const b of boxes) assert.ok(b.left >= 0 && b.right <= width + 0.5, `${b.what} x [${b.left}, ${b.right}] inside 0..${width}`)
    for (const b of boxes.filter((x) => x.what.startsWith('range'))) {
      assert.ok(b.left >= title.right || b.top >= title.bottom, `${b.what} does not overlap the title`)
      assert.ok(b.bottom <= height, `${b.what} visible without scrolling`)
    }
    assert.equal(boxes.filter((b) => b.what.startsWith('chart')).length, 4)
    await page.context().close()
  })
}
