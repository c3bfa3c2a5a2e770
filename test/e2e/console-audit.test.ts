/**
 * The console's Audit page, in a real headless Chromium: changes made through the API by two
 * named keys — and one made in the console itself (an authenticator switched off) — are listed with who, operation and each
 * changed key, a changed secret shows as "[redacted]" and never as itself, and the pager
 * leads to older entries and back.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { chromium, type Browser } from 'playwright-core'
import { API_KEY, NEW_SECRET, startAdmin, type RunningAdmin } from '../admin/helpers.js'

const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
const OPS_KEY = 'ops-team-key-0123456789abcdef'

let browser: Browser
let h: RunningAdmin

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium'`)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 30_000 })
  h = await startAdmin({ overrides: { admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY, apiKeys: [{ name: 'ops', key: OPS_KEY }] } } })
})
after(async () => {
  await browser?.close()
  await h?.close()
})

test('console: the Audit page shows who changed what (secrets redacted) and pages back', async () => {
  assert.equal((await h.api('PATCH', '/api/v1/authenticators/seed-hmac', { secret: NEW_SECRET, description: 'rotated by ops' }, OPS_KEY)).status, 200)
  // 30 more entries: the page shows 25, the rest are one "Older" away
  for (let i = 0; i < 30; i++) {
    const r = await h.api('PATCH', '/api/v1/policies/file-policy', { description: `edit ${i}` })
    assert.equal(r.status, 200, r.text)
  }
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(`${h.adminUrl}/#/audit`)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.locator('main#page[data-page="audit"]').waitFor()
  const rows = page.locator('#audit-list tbody tr')
  await rows.first().waitFor()
  assert.equal(await rows.count(), 25)
  const newest = await rows.nth(0).innerText()
  assert.match(newest, /\badmin\b/)
  assert.match(newest, /PATCH \/api\/v1\/policies\/file-policy/)
  assert.match(newest, /authorization\.policies\[file-policy\]\.description\s+edit 28\s+→\s+edit 29/)
  assert.equal(await page.locator('#audit-newer').isDisabled(), true)

  await page.click('#audit-older')
  await page.locator('#audit-page', { hasText: 'page 2' }).waitFor()
  assert.equal(await rows.count(), 6)
  const rotated = await rows.nth(5).innerText()
  assert.match(rotated, /\bops\b/)
  assert.match(rotated, /127\.0\.0\.1/)
  assert.match(rotated, /authentication\.authenticators\[seed-hmac\]\.secret\s+\[redacted\]\s+→\s+\[redacted\]/)
  assert.match(rotated, /from the file\s+→\s+rotated by ops/)
  assert.ok(!(await page.content()).includes(NEW_SECRET), 'the secret is never shown')
  assert.equal(await page.locator('#audit-older').isDisabled(), true)
  await page.click('#audit-newer')
  await page.locator('#audit-page', { hasText: 'page 1' }).waitFor()
  assert.equal(await rows.count(), 25)

  // a change made in the console is audited too: switch the authenticator off
  await page.click('nav a[data-route=authentication]')
  await page.locator('main#page[data-page="authentication"]').waitFor()
  await page.locator('label.switch:has(input[aria-label="Enable seed-hmac"])').click()
  await page.locator('text=seed-hmac disabled.').waitFor()
  await page.click('nav a[data-route=audit]')
  await page.locator('#audit-list tbody tr', { hasText: 'POST /api/v1/authenticators/seed-hmac/disable' }).waitFor()
  assert.match(await rows.nth(0).innerText(), /authentication\.authenticators\[seed-hmac\]\.enabled\s+true\s+→\s+false/)
})
