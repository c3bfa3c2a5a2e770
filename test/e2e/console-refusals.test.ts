/**
 * The console's Refusals page, in a real headless Chromium: refused MQTT 5 and 3.1.1 CONNECTs
 * are listed with what the page shows (client, reason, authenticator, the token's subject),
 * never the token, and the filters narrow the list.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import mqtt from 'mqtt'
import { chromium, type Browser } from 'playwright-core'
import { API_KEY, hsToken, startAdmin, type RunningAdmin } from '../admin/helpers.js'

const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
const WRONG_SECRET = 'not-the-seed-secret-0123456789-0123456789'

let browser: Browser
let h: RunningAdmin

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium'`)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 30_000 })
  h = await startAdmin()
})
after(async () => {
  await browser?.close()
  await h?.close()
})

function refusedConnect(protocolVersion: 4 | 5, clientId: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion, clientId, username: 'u', password, reconnectPeriod: 0, connectTimeout: 3000 })
    client.once('connect', () => { client.end(true); reject(new Error('accepted')) })
    client.once('error', () => { client.end(true); resolve() })
  })
}

test('console: the Refusals page lists refused clients and filters them', async () => {
  const token = hsToken(WRONG_SECRET, {}, 'mallory')
  await refusedConnect(5, 'forged-5', token)
  await refusedConnect(4, 'garbage-3', 'not a jwt')
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(`${h.adminUrl}/#/refusals`)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.locator('main#page[data-page="refusals"]').waitFor()
  const rows = page.locator('#refusal-list tbody tr')
  await rows.first().waitFor()
  assert.equal(await rows.count(), 2)
  const newest = await rows.nth(0).innerText()
  assert.match(newest, /garbage-3/)
  assert.match(newest, /MQTT 3\.1\.1/)
  assert.match(newest, /no JWT/)
  const forged = await page.locator('tr[data-refusal="forged-5"]').innerText()
  assert.match(forged, /0x86/)
  assert.match(forged, /seed-hmac/)
  assert.match(forged, /sub\s+mallory/)
  assert.match(forged, /MQTT 5/)
  assert.ok(!(await page.content()).includes(token.split('.')[2]), 'the token is never shown')

  await page.fill('#refusal-filter input[name=clientId]', 'forged')
  await page.click('#filter-refusals')
  await page.locator('#refusal-list tbody tr[data-refusal="garbage-3"]').waitFor({ state: 'detached' })
  assert.equal(await rows.count(), 1)
  assert.match(await rows.nth(0).innerText(), /forged-5/)
  await page.fill('#refusal-filter input[name=clientId]', 'nobody')
  await page.click('#filter-refusals')
  await page.locator('#no-refusals').waitFor()
})
