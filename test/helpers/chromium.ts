/**
 * Debian's Chromium (/usr/bin/chromium, or PORTCULLIS_CHROMIUM), headless, for the console's
 * end-to-end tests. Nothing is downloaded: without Chromium the test fails and says how to
 * install it.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

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
