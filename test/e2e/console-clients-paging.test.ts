/**
 * The console's Clients page a page at a time (issue 17 item 12), in a real headless Chromium
 * against 70 connected MQTT.js clients and 45 offline sessions: 50 rows a page from the API
 * (never the whole list), Next / Previous, a search by client id on the server, and the orders
 * the API sorts in (connected since, newest first: offline sessions last). The controls fit
 * the window at 1400×900 and 1024×768.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { API_KEY, SEED_SECRET, hsToken, removeDir, startAdmin, type RunningAdmin } from '../admin/helpers.js'

let browser: Browser
let h: RunningAdmin
const clients: MqttClient[] = []
const id = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(3, '0')}`

const connect = (clientId: string, clean: boolean): Promise<MqttClient> => new Promise((resolve, reject) => {
  const c = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 4, clientId, clean, username: 'u', password: hsToken(SEED_SECRET), reconnectPeriod: 0, connectTimeout: 10_000 })
  c.once('connect', () => resolve(c))
  c.once('error', reject)
})

before(async () => {
  browser = await launchChromium()
  h = await startAdmin()
  for (let i = 0; i < 45; i++) {
    const c = await connect(id('s', i), false)
    await new Promise<void>((resolve) => c.end(false, {}, () => resolve()))
  }
  for (let i = 0; i < 70; i++) clients.push(await connect(id('c', i), true))
})
after(async () => {
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))))
  await browser?.close()
  await h?.close()
  if (h !== undefined) removeDir(h.dataDir)
})

async function clientsPage(width: number, height: number): Promise<{ page: Page; requests: string[] }> {
  const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
  page.setDefaultTimeout(15_000)
  const requests: string[] = []
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/v1/clients') requests.push(r.url()) })
  await page.goto(`${h.adminUrl}/#/clients`)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.locator('#client-table tbody tr').first().waitFor()
  return { page, requests }
}

const rowIds = (page: Page): Promise<string[]> =>
  page.locator('#client-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-client-id') ?? ''))

/** Bounded wait until the pager says `text` (the page it names has been drawn). */
const at = (page: Page, text: string): Promise<void> => page.locator('#clients-position', { hasText: new RegExp(`^${text}$`) }).waitFor()

test('console: the Clients page pages, searches and sorts through the API, 50 at a time', async () => {
  const { page, requests } = await clientsPage(1400, 900)
  await at(page, '1–50')
  assert.deepEqual(await rowIds(page), Array.from({ length: 50 }, (_, i) => id('c', i)))
  assert.equal(await page.locator('#clients-previous').isDisabled(), true)

  await page.click('#clients-next')
  await at(page, '51–100')
  assert.deepEqual(await rowIds(page), [...Array.from({ length: 20 }, (_, i) => id('c', 50 + i)), ...Array.from({ length: 30 }, (_, i) => id('s', i))])
  assert.equal(await page.locator('#client-table tr[data-client-id="s-000"]').getAttribute('data-state'), 'offline')
  await page.click('#clients-next')
  await at(page, '101–115')
  assert.deepEqual(await rowIds(page), Array.from({ length: 15 }, (_, i) => id('s', 30 + i)))
  assert.equal(await page.locator('#clients-next').isDisabled(), true, 'the last page')
  await page.click('#clients-previous')
  await at(page, '51–100')
  assert.equal((await rowIds(page))[0], 'c-050')

  // A search goes to the server and starts from the first page
  await page.fill('#client-filter', 's-04')
  await at(page, '1–5')
  assert.deepEqual(await rowIds(page), ['s-040', 's-041', 's-042', 's-043', 's-044'])
  await page.fill('#client-filter', '')
  await at(page, '1–50')

  // Connected since, newest first: the last to connect leads; offline sessions (no connection) come last
  await page.selectOption('#client-sort', 'connectedAt:desc')
  await page.locator('#client-table tbody tr').first().and(page.locator('[data-client-id="c-069"]')).waitFor()
  assert.deepEqual(await rowIds(page), Array.from({ length: 50 }, (_, i) => id('c', 69 - i)))
  await page.click('#clients-next')
  await at(page, '51–100')
  assert.deepEqual(await rowIds(page), [...Array.from({ length: 20 }, (_, i) => id('c', 19 - i)), ...Array.from({ length: 30 }, (_, i) => id('s', 44 - i))])
  await page.click('#clients-next')
  await at(page, '101–115')
  assert.deepEqual(await rowIds(page), Array.from({ length: 15 }, (_, i) => id('s', 14 - i)))

  // Every list request asked for one page (51: one more says whether a next page exists), never the whole list
  assert.ok(requests.length >= 8, `${requests.length} requests`)
  for (const url of requests) assert.equal(new URL(url).searchParams.get('limit'), '51', url)
  await page.context().close()
})

for (const [width, height] of [[1400, 900], [1024, 768]] as const) {
  test(`console ${width}×${height}: the Clients page's controls and pager fit the window`, async () => {
    const { page } = await clientsPage(width, height)
    const boxes = await page.evaluate<{ what: string; left: number; right: number; top: number; bottom: number }[]>(`[
      '#client-state', '#client-sort', '#client-filter', '#refresh-clients', '#clients-previous', '#clients-next', '.page-head h1',
    ].map((sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return { what: sel, left: r.left, right: r.right, top: r.top, bottom: r.bottom } })`)
    for (const b of boxes) assert.ok(b.left >= 0 && b.right <= width + 0.5 && b.bottom > b.top, `${b.what} x [${b.left}, ${b.right}] inside 0..${width}`)
    const title = boxes.find((b) => b.what === '.page-head h1')!
    for (const b of boxes.filter((x) => ['#client-state', '#client-sort', '#client-filter'].includes(x.what))) {
      assert.ok(b.left >= title.right || b.top >= title.bottom, `${b.what} does not overlap the title`)
    }
    await page.context().close()
  })
}
