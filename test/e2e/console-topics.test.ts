/**
 * Issue 17 item 12, in a real headless Chromium: a client's dialog lists its effective
 * permissions as the rules that apply (placeholders substituted, in the order they are asked)
 * and a check in the page names the rule that decides; the Topics page shows the subscribed
 * filters and the retained messages with a payload preview, a page at a time.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import mqtt, { type MqttClient } from 'mqtt'
import { API_KEY, SEED_SECRET, hsToken, startAdmin, type RunningAdmin } from '../admin/helpers.js'
import { launchChromium } from '../helpers/chromium.js'

let browser: Browser
let h: RunningAdmin
let client: MqttClient

before(async () => {
  browser = await launchChromium()
  h = await startAdmin({
    overrides: {
      authorization: {
        noMatch: 'deny',
        policies: [
          { name: 'own-topics', priority: 10, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['devices/${clientid}/#'] },
        ],
      },
    },
  })
  client = await mqtt.connectAsync({
    host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId: 'dev-7', username: 'alice', reconnectPeriod: 0, connectTimeout: 5000,
    password: hsToken(SEED_SECRET, { acl: [{ permission: 'allow', action: 'subscribe', topic: 'alerts/#' }] }),
  })
  await client.subscribeAsync({ 'alerts/#': { qos: 1 }, '$share/workers/devices/dev-7/#': { qos: 0 } })
  await client.publishAsync('devices/dev-7/state', 'online', { qos: 1, retain: true })
  await client.publishAsync('devices/dev-7/raw', Buffer.from([0x00, 0xff]), { qos: 1, retain: true })
  for (let i = 0; i < 55; i++) await client.publishAsync(`devices/dev-7/n/${String(i).padStart(2, '0')}`, `v${i}`, { qos: 0, retain: true })
})
after(async () => {
  await client?.endAsync(true)
  await browser?.close()
  await h?.close()
})

async function signIn(path: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(`${h.adminUrl}/#/${path}`)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.locator(`main#page[data-page="${path}"]`).waitFor()
  return page
}

test('console: a client\'s effective permissions, and a check that names the deciding rule', async () => {
  const page = await signIn('clients')
  await page.click('tr[data-client-id="dev-7"] button[data-action=inspect]')
  const rules = page.locator('#client-permissions table.permission-rules tbody tr')
  await rules.first().waitFor()
  const texts = await rules.allInnerTexts()
  assert.equal(texts.length, 5, texts.join('\n---\n'))
  assert.match(texts[1], /allow[\s\S]*subscribe[\s\S]*alerts\/#[\s\S]*acl\[0\][\s\S]*token ACL/)
  assert.match(texts[2], /allow[\s\S]*publish, subscribe[\s\S]*devices\/dev-7\/#[\s\S]*own-topics[\s\S]*policy/, 'the placeholder is substituted')
  assert.match(texts[4], /deny[\s\S]*anything no rule matched[\s\S]*noMatch/)

  await page.selectOption('#permission-check select[name=action]', 'publish')
  await page.fill('#permission-check input[name=topic]', 'devices/dev-7/temp')
  await page.click('#check-permission')
  await page.locator('#permission-check-result', { hasText: 'allowed' }).waitFor()
  assert.match(await page.locator('#permission-check-result').innerText(), /allowed by policies rule "own-topics"/)
  assert.equal(await page.locator('tr.decides').getAttribute('data-origin'), 'own-topics')

  await page.fill('#permission-check input[name=topic]', 'devices/dev-8/temp')
  await page.click('#check-permission')
  await page.locator('#permission-check-result', { hasText: 'refused' }).waitFor()
  assert.match(await page.locator('#permission-check-result').innerText(), /no rule matched: noMatch is deny/)
  assert.equal(await page.locator('tr.decides').getAttribute('data-rule'), 'noMatch')

  await page.fill('#permission-check input[name=topic]', 'a/#')
  await page.click('#check-permission')
  await page.locator('.alert.error', { hasText: 'not a valid topic name' }).waitFor()
})

test('console: the Topics page shows subscribed filters and retained messages, a page at a time', async () => {
  const page = await signIn('topics')
  const filters = page.locator('#filters-list tbody tr')
  await filters.first().waitFor()
  assert.deepEqual(await filters.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-filter'))), ['alerts/#', 'devices/dev-7/#'])
  assert.match(await filters.nth(1).innerText(), /workers \(1 member\)/)

  const retained = page.locator('#retained-list tbody tr')
  await page.fill('#retained-search input[name=filter]', 'devices/dev-7/#')
  await page.click('#retained-search-go')
  await page.locator('#retained-list tbody tr[data-topic="devices/dev-7/n/00"]').waitFor()
  assert.equal(await retained.count(), 50)
  await page.click('#retained-next')
  await page.locator('#retained-page', { hasText: 'page 2' }).waitFor()
  await page.locator('#retained-list tbody tr[data-topic="devices/dev-7/state"]').waitFor()
  assert.equal(await retained.count(), 7, '57 retained messages: 50, then 7')
  assert.match(await page.locator('tr[data-topic="devices/dev-7/state"]').innerText(), /online/)
  assert.match(await page.locator('tr[data-topic="devices/dev-7/raw"]').innerText(), /binary\s+AP8=/)
  assert.equal(await page.locator('#retained-next').isDisabled(), true)
  await page.click('#retained-previous')
  await page.locator('#retained-page', { hasText: 'page 1' }).waitFor()
  assert.equal(await retained.count(), 50)
})
