/**
 * The console's Devices page, in a real headless Chromium: a device added in the page (its
 * public key pasted as PEM) lets a real MQTT.js client connect with a token its private key
 * signed; disabling it in the page drops that connection and refuses the next CONNECT (0x8A
 * Banned); a key added in the page (rotation) signs accepted tokens; a secret key is never
 * shown; a bulk import with a bad row shows that row's error and imports nothing; the search by
 * id prefix and the state filter narrow the list, and the pager walks 25 devices at a time.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, before, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser } from 'playwright-core'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { API_KEY, startAdmin, type RunningAdmin } from '../admin/helpers.js'
import { launchChromium, openConsolePage } from '../helpers/chromium.js'

const AUDIENCE = 'portcullis-console-devices'
const DEVICES = {
  authentication: {
    allowAnonymous: false,
    authenticators: [{ type: 'devices', name: 'fleet', claims: { audience: AUDIENCE, maxAge: 600 } }],
  },
}

let browser: Browser
let h: RunningAdmin
const clients: MqttClient[] = []

before(async () => {
  browser = await launchChromium()
  h = await startAdmin({ overrides: DEVICES })
})
after(async () => {
  for (const c of clients) c.end(true)
  await browser?.close()
  await h?.close()
})

/** A CONNECT as MQTT 5 with the token as password: the client once accepted, or the refusal's error. */
function connect(clientId: string, token: string): Promise<{ client: MqttClient } | { error: Error }> {
  return new Promise((resolve) => {
    const client = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId, username: 'device', password: token, reconnectPeriod: 0, connectTimeout: 5000 })
    clients.push(client)
    client.once('connect', () => resolve({ client }))
    client.once('error', (error) => { client.end(true); resolve({ error }) })
  })
}

test('console: a device added in the Devices page connects with its key; disabled in the page it is dropped and refused; an import shows each bad row', async () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = String(pair.publicKey.export({ type: 'spki', format: 'pem' }))
  const token = (): string => mintToken({ privateKey: pair.privateKey, alg: 'ES256', expiresIn: 600, claims: { aud: AUDIENCE } })

  const { page, errors: pageErrors } = await openConsolePage(browser, h.adminUrl, API_KEY, 'devices')
  await page.locator('#no-devices').waitFor()

  // the form says what is missing before anything is sent
  await page.click('#add-section summary')
  await page.click('#add-device')
  await page.locator('.field[data-field="pem"] .field-error', { hasText: 'public key' }).waitFor()

  // the broker's refusal lands on the field at fault
  await page.fill('#f-id', 'meter-7')
  await page.fill('#f-pem', 'not a key')
  await page.click('#add-device')
  await page.locator('.field[data-field="pem"] .field-error', { hasText: 'not PEM' }).waitFor()
  assert.equal((await h.api('GET', '/api/v1/devices/meter-7')).status, 404)

  await page.fill('#f-description', 'hall meter')
  await page.fill('#f-pem', pem)
  await page.click('#add-device')
  const row = page.locator('tr[data-device="meter-7"]')
  await row.waitFor()
  assert.match(await row.innerText(), /enabled/)
  assert.match(await row.innerText(), /EC prime256v1/)

  const accepted = await connect('meter-7', token())
  assert.ok('client' in accepted, `the device's token is accepted: ${'error' in accepted ? accepted.error.message : ''}`)
  const dropped = new Promise<void>((resolve) => accepted.client.once('close', () => resolve()))

  await row.locator('button[data-action=disable]').click()
  await row.locator('text=disabled').waitFor()
  await Promise.race([dropped, new Promise((_, reject) => setTimeout(() => reject(new Error('the disabled device stayed connected')), 5000))])
  const refused = await connect('meter-7', token())
  assert.ok('error' in refused, 'a disabled device is refused')
  assert.match(refused.error.message, /Banned/)
  await row.locator('button[data-action=enable]').click()
  await row.locator('text=enabled').waitFor()
  assert.ok('client' in (await connect('meter-7', token())), 'enabled again, the device connects')

  // rotation: a second key added in the page signs tokens the broker accepts
  const next = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await row.locator('button[data-action=add-key]').click()
  await page.fill('#new-key', JSON.stringify(next.publicKey.export({ format: 'jwk' })))
  await page.fill('#new-key-id', '2027a')
  await page.click('#add-key')
  await row.locator('li[data-key="2027a"]').waitFor()
  const rotated = await connect('meter-7', mintToken({ privateKey: next.privateKey, alg: 'ES256', expiresIn: 600, claims: { aud: AUDIENCE } }))
  assert.ok('client' in rotated, `the new key's token is accepted: ${'error' in rotated ? rotated.error.message : ''}`)

  // the state filter and the search
  await page.selectOption('#device-state', 'false')
  await page.locator('#no-devices').waitFor()
  await page.selectOption('#device-state', '')
  await row.waitFor()
  await page.fill('#device-prefix', 'pump')
  await page.locator('#no-devices').waitFor()
  await page.fill('#device-prefix', 'met')
  await row.waitFor()

  // an import with a bad second row: that row's error is shown, nothing is imported
  await page.click('#import-section summary')
  await page.fill('#import-text', JSON.stringify([{ id: 'meter-8', keys: [{ pem }] }, { id: 'meter-9', keys: [{ pem: 'not a key' }] }]))
  await page.click('#import-devices')
  const bad = page.locator('#import-errors tr[data-row="2"]')
  await bad.waitFor()
  assert.match(await bad.innerText(), /meter-9/)
  assert.match(await bad.innerText(), /keys\[0\]\.pem/)
  assert.match(await bad.innerText(), /not PEM/)
  assert.match(await page.locator('#import-result').innerText(), /nothing was imported/)
  assert.equal((await h.api('GET', '/api/v1/devices/meter-8')).status, 404)

  // CSV, importing the good rows: the bad row is listed with its line
  await page.fill('#import-text', `id,pem\nmeter-8,"${pem.trim()}"\nmeter-9,not a key\n`)
  await page.check('#import-partial')
  await page.click('#import-devices')
  await page.locator('#import-result', { hasText: '1 created' }).waitFor()
  assert.match(await page.locator('#import-errors tr[data-row="2"]').innerText(), /meter-9/)
  await page.locator('tr[data-device="meter-8"]').waitFor()

  // a secret key (added through the API) is never shown
  const SECRET = 'device-secret-0123456789-0123456789-abc'
  assert.equal((await h.api('POST', '/api/v1/devices', { id: 'meter-10', keys: [{ id: 'hmac', secret: SECRET }] })).status, 201)
  await page.fill('#device-prefix', 'meter-1')
  await page.locator('tr[data-device="meter-10"]', { hasText: 'HMAC secret (not shown)' }).waitFor()
  assert.ok(!(await page.content()).includes(SECRET), 'a secret is never shown')
  await page.fill('#device-prefix', '')

  // remove a key, then delete the device
  const imported = page.locator('tr[data-device="meter-8"]')
  await imported.locator('button[data-action=remove-key]').click()
  await page.click('dialog button[data-action=confirm]')
  await imported.locator('text=no key').waitFor()
  await imported.locator('button[data-action=delete]').click()
  await page.click('dialog button[data-action=confirm]')
  await imported.waitFor({ state: 'detached' })
  assert.equal((await h.api('GET', '/api/v1/devices/meter-8')).status, 404)

  // 30 devices: 25 a page, Next and Previous
  const many = await h.api('POST', '/api/v1/devices/import', Array.from({ length: 30 }, (_, i) => ({ id: `pump-${String(i).padStart(2, '0')}`, keys: [] })))
  assert.equal(many.status, 200, many.text)
  await page.fill('#device-prefix', 'pump-')
  const rows = page.locator('#device-list tbody tr')
  await page.locator('tr[data-device="pump-24"]').waitFor()
  assert.equal(await rows.count(), 25)
  assert.equal(await page.locator('#devices-previous').isDisabled(), true)
  await page.click('#devices-next')
  await page.locator('#devices-page', { hasText: 'page 2' }).waitFor()
  assert.deepEqual(await page.locator('#device-list tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-device'))), ['pump-25', 'pump-26', 'pump-27', 'pump-28', 'pump-29'])
  assert.equal(await page.locator('#devices-next').isDisabled(), true)
  await page.click('#devices-previous')
  await page.locator('tr[data-device="pump-00"]').waitFor()
  assert.deepEqual(pageErrors, [])
})
