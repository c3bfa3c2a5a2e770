/**
 * The console's configuration banner, in a real headless Chromium: when the configuration
 * file differs from the stored configuration the broker uses, every page says so (and
 * names what differs); when it does not, there is no banner.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { chromium, type Browser } from 'playwright-core'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { API_KEY, SEED_SECRET, baseConfig, removeDir, tempDataDir } from '../admin/helpers.js'

const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
const hmac = (name: string): Record<string, unknown> => ({ type: 'jwt', name, from: 'password', algorithm: 'hmac-based', secret: SEED_SECRET })
const file = (dir: string, names: string[]): Record<string, unknown> =>
  baseConfig(dir, { authentication: { allowAnonymous: false, authenticators: names.map(hmac) } })

let browser: Browser
const dirs: string[] = []
const servers: PortcullisServer[] = []

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium'`)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 30_000 })
})
after(async () => {
  await browser?.close()
  for (const s of servers) await s.close()
  for (const d of dirs) removeDir(d)
})

/** Start twice on one data directory: first with `firstNames`, then with `secondNames` in the file. */
async function restartedWith(firstNames: string[], secondNames: string[]): Promise<PortcullisServer> {
  const dir = tempDataDir()
  dirs.push(dir)
  await (await createServer(validateConfig(file(dir, firstNames)), { logger: silentLogger() })).close()
  const server = await createServer(validateConfig(file(dir, secondNames)), { logger: silentLogger() })
  servers.push(server)
  return server
}

async function signedInPage(server: PortcullisServer) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(`${server.admin!.url}/#/overview`)
  await page.fill('#api-key', API_KEY)
  const configuration = page.waitForResponse((r) => r.url().endsWith('/api/v1/configuration'))
  await page.click('#signin button[type=submit]')
  await page.locator('main#page[data-page="overview"]').waitFor()
  assert.equal((await configuration).status(), 200)
  return page
}

test('console: a banner names what differs between the file and the stored configuration', async () => {
  const server = await restartedWith(['corp', 'first-try'], ['corp', 'second-try'])
  const page = await signedInPage(server)
  const banner = page.locator('#config-drift')
  await banner.waitFor()
  const text = await banner.innerText()
  assert.match(text, /first-try/)
  assert.match(text, /second-try/)
  assert.match(text, /--reset-config/)
  await page.click('nav a[data-route="clients"]')
  await page.locator('main#page[data-page="clients"]').waitFor()
  assert.equal(await page.locator('#config-drift').count(), 1, 'the banner stays on every page')
})

test('console: no banner when the file and the stored configuration agree', async () => {
  const server = await restartedWith(['corp'], ['corp'])
  const page = await signedInPage(server)
  await page.waitForTimeout(200)
  assert.equal(await page.locator('#config-drift').count(), 0)
})
