/**
 * What the console shows fits, in a real headless Chromium at 1400×900 and 1024×768 (issue 17
 * item 5). The add-authenticator form is taller than the window: its Create and Cancel buttons
 * must be visible and clickable without scrolling — inside the dialog, inside the viewport, and
 * the topmost element at their centre; clicking Create with an empty form shows the form's
 * errors (the click reached the button). The overview's bar chart labels are whole and inside
 * the chart (ERR_AUTH_METHOD_UNSUPPORTED was shown as "R_AUTH_METHOD_UNSUPPORT…"). Every navigation
 * link and "Sign out" are inside the window (with the Devices page, 1024 px pushed them out).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import mqtt from 'mqtt'
import { chromium, type Browser } from 'playwright-core'
import { API_KEY, startAdmin, type RunningAdmin } from '../admin/helpers.js'

interface Box { top: number; bottom: number; left: number; right: number }

const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
let browser: Browser
let h: RunningAdmin

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 30_000 })
  h = await startAdmin()
})
after(async () => {
  await browser?.close()
  await h?.close()
})

for (const [width, height] of [[1400, 900], [1024, 768]] as const) {
  test(`console ${width}×${height}: the add-authenticator dialog's buttons are visible without scrolling`, async () => {
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
    page.setDefaultTimeout(15_000)
    await page.goto(`${h.adminUrl}/#/authentication`)
    await page.fill('#api-key', API_KEY)
    await page.click('#signin button[type=submit]')
    await page.click('#add-authenticator')
    await page.locator('#save-authenticator').waitFor()
    // (a string, not a function: the test's compiler would add helpers the page does not have)
    const boxes = await page.evaluate<{ dialog: Box; scrolls: boolean; buttons: (Box & { text: string; topmost: boolean })[] }>(`(() => {
      const box = (el) => { const r = el.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, left: r.left, right: r.right } }
      const dialog = document.querySelector('dialog.modal')
      const form = dialog.querySelector('form')
      const buttons = [...dialog.querySelectorAll('form > .actions:last-child button')]
      return {
        dialog: box(dialog),
        scrolls: form.scrollHeight > form.clientHeight,
        buttons: buttons.map((b) => {
          const r = box(b)
          const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2)
          return { text: b.textContent, ...r, topmost: top === b || b.contains(top) }
        }),
      }
    })()`)
    assert.ok(boxes.scrolls, 'the form is taller than the dialog (the case this test is about)')
    assert.deepEqual(boxes.buttons.map((b) => b.text), ['Cancel', 'Create'])
    for (const b of boxes.buttons) {
      assert.ok(b.top >= boxes.dialog.top && b.bottom <= boxes.dialog.bottom, `${b.text} [${b.top}, ${b.bottom}] inside the dialog [${boxes.dialog.top}, ${boxes.dialog.bottom}]`)
      assert.ok(b.bottom <= height && b.top >= 0, `${b.text} inside the ${height} px viewport`)
      assert.ok(b.topmost, `${b.text} is not covered by anything`)
    }
    // The click lands on Create: the empty form's errors are shown, the dialog stays open.
    await page.locator('#save-authenticator').click()
    await page.locator('dialog.modal .field.invalid').first().waitFor()
  })
}

/** An MQTT 5 CONNECT with an authentication method no authenticator knows: refused 0x8C. */
function unsupportedMethod(): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId: 'kerberos-fan', reconnectPeriod: 0, connectTimeout: 3000,
      properties: { authenticationMethod: 'GSSAPI', authenticationData: Buffer.from('x') },
    })
    client.once('connect', () => { client.end(true); reject(new Error('accepted')) })
    client.once('error', () => { client.end(true); resolve() })
  })
}

for (const [width, height] of [[1400, 900], [1024, 768]] as const) {
  test(`console ${width}×${height}: bar chart labels are whole and inside the chart`, async () => {
    await unsupportedMethod()
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
    page.setDefaultTimeout(15_000)
    await page.goto(`${h.adminUrl}/#/overview`)
    await page.fill('#api-key', API_KEY)
    await page.click('#signin button[type=submit]')
    const chart = page.locator('figure.chart-card', { hasText: 'Authentication outcomes' })
    await chart.locator('svg text', { hasText: 'ERR_AUTH_METHOD_UNSUPPORTED' }).waitFor()
    const labels = await page.evaluate<{ text: string; left: number; right: number; svgLeft: number; svgRight: number }[]>(`(() => {
      const svg = [...document.querySelectorAll('figure.chart-card')].find((f) => f.textContent.includes('Authentication outcomes')).querySelector('svg')
      const s = svg.getBoundingClientRect()
      return [...svg.querySelectorAll('text')].map((t) => { const r = t.getBoundingClientRect(); return { text: t.textContent, left: r.left, right: r.right, svgLeft: s.left, svgRight: s.right } })
    })()`)
    const label = labels.find((l) => l.text === 'ERR_AUTH_METHOD_UNSUPPORTED')
    assert.ok(label, `the whole code is the label: ${labels.map((l) => l.text).join(', ')}`)
    for (const l of labels) {
      assert.doesNotMatch(l.text, /…/, 'no label is cut short')
      assert.ok(l.left >= l.svgLeft - 0.5 && l.right <= l.svgRight + 0.5, `${l.text} [${l.left}, ${l.right}] inside the chart [${l.svgLeft}, ${l.svgRight}]`)
    }
  })
}

for (const [width, height] of [[1400, 900], [1024, 768]] as const) {
  test(`console ${width}×${height}: every navigation link and "Sign out" are inside the window`, async () => {
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
    page.setDefaultTimeout(15_000)
    await page.goto(`${h.adminUrl}/#/overview`)
    await page.fill('#api-key', API_KEY)
    await page.click('#signin button[type=submit]')
    await page.locator('nav a[data-route=devices]').waitFor()
    // A broker that runs alone drops the Nodes link once /cluster/nodes has answered: count after that.
    await page.locator('nav a[data-route=nodes]').waitFor({ state: 'detached' })
    const boxes = await page.evaluate<Array<{ text: string } & Box>>(`[...document.querySelectorAll('header.top nav a, #signout')].map((e) => { const r = e.getBoundingClientRect(); return { text: e.textContent, top: r.top, bottom: r.bottom, left: r.left, right: r.right } })`)
    assert.equal(boxes.length, 11, 'ten pages and Sign out')
    for (const b of boxes) assert.ok(b.left >= 0 && b.right <= width + 0.5 && b.top >= 0, `${b.text} x [${b.left}, ${b.right}] y ${b.top} inside 0..${width}`)
    await page.click('#signout')
    await page.locator('#signin').waitFor()
  })
}
