/**
 * Debian's Chromium (/usr/bin/chromium, or PORTCULLIS_CHROMIUM), headless, for the console's
 * end-to-end tests. Nothing is downloaded: without Chromium the test fails and says how to
 * install it.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

export async function launchChromium(): Promise<Browser> {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium' (Debian), ` +
      'or point PORTCULLIS_CHROMIUM at a Chromium binary. The console end-to-end test needs a real browser.',
  )
  return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 })
}

/**
 * A new 1400×900 page signed in to the console at `adminUrl` with `apiKey`, on the page of
 * `route` (a navigation entry's data-route); page errors are collected in `errors`.
 */
export async function openConsolePage(browser: Browser, adminUrl: string, apiKey: string, route: string): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
  page.setDefaultTimeout(10_000)
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${adminUrl}/`)
  await page.fill('#api-key', apiKey)
  await page.click('#signin button[type=submit]')
  await page.click(`nav a[data-route=${route}]`)
  await page.locator(`main#page[data-page="${route}"]`).waitFor()
  return { page, errors }
}
