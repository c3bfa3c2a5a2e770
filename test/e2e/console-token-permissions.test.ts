/**
 * In a real headless Chromium: the Token checker page shows what an accepted token may do, as
 * POST /token/check answers it (`permissions`): connect, one check with the rule that decides
 * it (or noMatch) marked in the rules table, the rules; a refused token shows none; a check
 * the API refuses (400) shows its message on the page and on the field; a username that is
 * the token is never displayed.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { API_KEY, NEW_SECRET, SEED_SECRET, hsToken, startAdmin, type RunningAdmin } from '../admin/helpers.js'
import { launchChromium } from '../helpers/chromium.js'

let browser: Browser
let h: RunningAdmin
const ACL = [{ permission: 'allow', action: 'all', topic: 'a/#' }]

before(async () => {
  browser = await launchChromium()
  h = await startAdmin({ overrides: { authorization: { noMatch: 'deny' } } })
})
after(async () => {
  await browser?.close()
  await h?.close()
})

async function tokenPage(): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(`${h.adminUrl}/#/token`)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.locator('main#page[data-page="token"]').waitFor()
  return page
}

/** Checks `token` with one publish check of `topic`, the previous answer cleared first. */
async function checkPublish(page: Page, token: string, topic: string): Promise<void> {
  await page.fill('#f-token', token)
  await page.selectOption('#f-action', 'publish')
  await page.fill('#f-topic', topic)
  await page.evaluate(`document.getElementById('token-result').replaceChildren()`)
  await page.click('#check-token')
}

test('console token checker: an accepted token\'s permissions, the check and the rule that decides it', async () => {
  const page = await tokenPage()
  const token = hsToken(SEED_SECRET, { acl: ACL })
  assert.equal(await page.locator('#f-topic').isDisabled(), true, 'no check asked: no topic to type')
  await page.fill('#f-clientId', 'dev-1')
  await page.fill('#f-username', 'alice')
  await checkPublish(page, token, 'a/x')
  await page.locator('#verdict[data-outcome="allow"]').waitFor()
  assert.match(await page.locator('#permissions-client').innerText(), /client id dev-1, username alice, from 127\.0\.0\.1/)
  assert.match(await page.locator('#permissions-connect').innerText(), /allowed\s+no connect rule matched/)
  const check = page.locator('#permissions-check')
  assert.equal(await check.getAttribute('data-allowed'), 'true')
  assert.match(await check.innerText(), /publish a\/x\s+QoS 0, not retained — allowed\s+by token-acl rule "acl\[0\]"/, 'the answer\'s word once')
  const rules = page.locator('#token-permissions table.permission-rules tbody tr')
  const texts = await rules.allInnerTexts()
  assert.equal(texts.length, 4, texts.join('\n---\n'))
  assert.match(texts[1] ?? '', /allow[\s\S]*a\/#[\s\S]*acl\[0\][\s\S]*token ACL/)
  assert.match(texts[3] ?? '', /deny[\s\S]*anything no rule matched[\s\S]*noMatch/)
  assert.equal(await page.locator('#token-permissions tr.decides').getAttribute('data-origin'), 'acl[0]')
  assert.ok(!(await page.locator('#token-result').innerText()).includes(token))

  // b: no rule matches, noMatch (deny) decides.
  await checkPublish(page, token, 'b')
  await page.locator('#permissions-check[data-allowed="false"]').waitFor()
  assert.match(await page.locator('#permissions-check').innerText(), /refused\s+no rule matched: noMatch is deny/)
  assert.equal(await page.locator('#token-permissions tr.decides').getAttribute('data-rule'), 'noMatch')

  // The API's 400 for a check it cannot work out, shown as the page shows errors, on the field too.
  await checkPublish(page, token, 'a/#')
  await page.locator('.alert.error', { hasText: 'not a valid topic name' }).waitFor()
  await page.locator('[data-field=topic].invalid .field-error', { hasText: 'not a valid topic name' }).waitFor()
  assert.equal(await page.locator('#token-permissions').count(), 0)
  await page.fill('#f-ip', '10.0.0.300')
  await checkPublish(page, token, 'a/x')
  await page.locator('.alert.error', { hasText: 'must be an IPv4 or IPv6 address' }).waitFor()
  await page.fill('#f-ip', '10.1.2.3')
  await checkPublish(page, token, 'a/x')
  await page.locator('#permissions-check[data-allowed="true"]').waitFor()
  assert.equal(await page.locator('.alert.error').count(), 0, 'the error is cleared by the next answer')
  assert.equal(await page.locator('[data-field=topic].invalid').count(), 0)
  assert.match(await page.locator('#permissions-client').innerText(), /from 10\.1\.2\.3/)
})

test('console token checker: a refused token shows no permissions', async () => {
  const page = await tokenPage()
  await checkPublish(page, hsToken(`${SEED_SECRET}-wrong`, { acl: ACL }), 'a/x')
  await page.locator('#verdict').waitFor()
  assert.notEqual(await page.locator('#verdict').getAttribute('data-outcome'), 'allow')
  assert.equal(await page.locator('#token-permissions').count(), 0)
  assert.equal(await page.locator('table.permission-rules').count(), 0)
})

test('console token checker: a username that is the token is never displayed', async () => {
  const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'in-username', from: 'username', algorithm: 'hmac-based', secret: `${NEW_SECRET}-u` })
  assert.equal(created.status, 201, created.text)
  const page = await tokenPage()
  const token = hsToken(`${NEW_SECRET}-u`, { acl: ACL })
  await checkPublish(page, token, 'a/x')
  await page.locator('#verdict[data-outcome="allow"]', { hasText: 'in-username' }).waitFor()
  assert.match(await page.locator('#permissions-client').innerText(), /username the token,/)
  await page.locator('#permissions-check[data-allowed="true"]').waitFor()
  assert.ok(!(await page.locator('#token-result').innerText()).includes(token))
})
