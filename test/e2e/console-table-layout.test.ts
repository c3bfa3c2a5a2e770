/**
 * Console tables, in a real headless Chromium at 1400×900 and 1024×768: every cell of the
 * authentication, policies and clients tables lies inside its column header's x-range (the description and action
 * cells used to render inside ENABLED, the actions cell left the row as a flex box). The clients
 * table is shown with a connected MQTT 5 client and an offline persistent session.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { chromium, type Browser } from 'playwright-core'
import { API_KEY, SEED_SECRET, hsToken, startAdmin, type RunningAdmin } from '../admin/helpers.js'

const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
let browser: Browser
let h: RunningAdmin
let client: MqttClient | undefined

/** An MQTT 5 client with a session that outlives it; resolves once connected and subscribed. */
function connectClient(clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({
      host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId, username: 'alice', password: hsToken(SEED_SECRET),
      clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0, connectTimeout: 5000,
    })
    c.once('connect', () => c.subscribe('file/#', { qos: 1 }, (err) => (err ? reject(err) : resolve(c))))
    c.once('error', reject)
  })
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 30_000 })
  h = await startAdmin()
  // one client away (its session kept), one connected
  const away = await connectClient('sensor-away')
  await new Promise<void>((resolve) => away.end(false, {}, () => resolve()))
  client = await connectClient('sensor-with-a-rather-long-client-identifier-17')
})
after(async () => {
  await new Promise<void>((resolve) => (client === undefined ? resolve() : client.end(true, {}, () => resolve())))
  await browser?.close()
  await h?.close()
})

for (const [width, height] of [[1400, 900], [1024, 768]] as const) for (const route of ['authentication', 'authorization', 'clients'] as const) {
  test(`console ${width}×${height}: ${route} table cells sit under their headers`, async () => {
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
    page.setDefaultTimeout(15_000)
    await page.goto(`${h.adminUrl}/#/${route}`)
    await page.fill('#api-key', API_KEY)
    await page.click('#signin button[type=submit]')
    await page.locator(`main#page[data-page="${route}"] tbody tr`).first().waitFor()
    const headers = await page.locator('main#page thead th').evaluateAll((ths) => ths.map((th) => {
      const r = th.getBoundingClientRect()
      return { text: th.textContent ?? '', left: r.left, right: r.right }
    }))
    const rows = await page.locator('main#page tbody tr').evaluateAll((trs) => trs.map((tr) => {
      const row = tr.getBoundingClientRect()
      return { top: row.top, bottom: row.bottom, cells: [...tr.children].map((td) => {
        const r = td.getBoundingClientRect()
        return { text: (td.textContent ?? '').trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom }
      }) }
    }))
    assert.ok(rows.length > 0)
    if (route === 'clients') {
      assert.equal(rows.length, 2, 'the connected client and the offline session')
      const ids = rows.map((r) => r.cells.map((c) => c.text).join(' '))
      assert.ok(ids.some((t) => t.includes('sensor-away')) && ids.some((t) => t.includes('sensor-with-a-rather-long-client-identifier-17')), ids.join(' | '))
    }
    for (const row of rows) {
      assert.equal(row.cells.length, headers.length, 'one cell per column')
      row.cells.forEach((c, i) => {
        const th = headers[i]
        assert.ok(c.left >= th.left - 1 && c.right <= th.right + 1, `${th.text || 'actions'} cell [${c.left}, ${c.right}] inside its header [${th.left}, ${th.right}]`)
        assert.ok(c.top >= row.top - 1 && c.bottom <= row.bottom + 1, `${th.text || 'actions'} cell inside its row`)
      })
      const desc = headers.findIndex((t) => /description/i.test(t.text))
      if (route === 'authentication') assert.match(row.cells[desc].text, /from the file/, 'the description is in the DESCRIPTION column')
    }
    const buttons = await page.locator('main#page tbody button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().right))
    const pageWidth = await page.evaluate<number>('document.documentElement.scrollWidth')
    const displays = await page.evaluate<string[]>("[...document.querySelectorAll('main#page tbody td')].map((td) => getComputedStyle(td).display)")
    assert.ok(displays.every((d) => d === 'table-cell'), `every cell is a table cell: ${displays.join(', ')}`)
    for (const right of buttons) assert.ok(right <= pageWidth, 'buttons inside the page')
  })
}
