/**
 * The web console end to end, in a real headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core): sign in, create a JWKS authenticator that points at a real
 * loopback key-set server, watch its status become ok, see an MQTT client that
 * authenticated with a token signed by that key, disconnect it from the console, and take
 * the screenshot of the overview the README shows (docs/console.png). Then: change the
 * authorization settings and add a claims.match entry and see both take effect on new MQTT
 * connections and in the API; edit an HMAC authenticator without re-typing its secret; end
 * an offline session from the clients list.
 *
 * No browser is downloaded: without Chromium the test fails and says how to install it.
 */
import assert from 'node:assert/strict'
import { mkdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import type { Browser, Page } from 'playwright-core'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { HISTORY_INTERVAL_MS } from '../../src/admin/stats-history.js'
import { connect } from '../helpers/broker.js'
import { launchChromium } from '../helpers/chromium.js'
import { fakeTime, realTime, tick } from '../helpers/fake-time.js'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { sign, testKey } from '../helpers/tokens.js'
import type { Json } from '../helpers/json.js'

const API_KEY = 'console-test-key-0123'
// docs/console.png (the README's picture) is rewritten only when asked: UPDATE_SCREENSHOT=1.
const SCREENSHOT =
  process.env['UPDATE_SCREENSHOT'] === '1'
    ? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'console.png')
    : join(tmpdir(), `portcullis-console-${process.pid}.png`)
const WAIT = 15_000

let jwks: JwksServer
let server: PortcullisServer
let browser: Browser
let page: Page
let dataDir: string
let adminUrl: string
let mqttPort: number
const clients: MqttClient[] = []
const pageErrors: string[] = []
const key = testKey('ES256', { kid: 'console-e2e' })

before(async () => {
  jwks = await startJwksServer([key.publicJwk])
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-console-'))
  // The broker's intervals (the stats history's 10 s) run on fake setInterval, moved on by the
  // overview test; Date and setTimeout stay real (MQTT.js, Playwright and the waits below use them)
  fakeTime(['setInterval'])
  server = await createServer(validateConfig({
    admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY },
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    authentication: { allowAnonymous: false },
    authorization: { noMatch: 'allow' },
    dataDir,
    log: { level: 'silent' },
  }), { logger: silentLogger() })
  assert.ok(server.admin !== undefined, 'the admin listener is not running')
  adminUrl = server.admin.url
  mqttPort = (server.listeners[0] as { port: number }).port
  const index = await fetch(`${adminUrl}/`)
  assert.equal(index.status, 200, 'the admin listener does not serve the console at / (registerConsole(app) must be called in src/admin/server.ts)')
  browser = await launchChromium()
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  context.setDefaultTimeout(WAIT)
  page = await context.newPage()
  page.on('pageerror', (err) => pageErrors.push(err.message))
  if (process.env['PORTCULLIS_E2E_DEBUG'] !== undefined) {
    page.on('console', (m) => console.log(`[browser ${m.type()}] ${m.text()}`))
    page.on('response', (r) => console.log(`[browser] ${r.status()} ${r.request().method()} ${r.url()}`))
  }
})

after(async () => {
  for (const c of clients) c.end(true)
  await browser?.close()
  await server?.close()
  realTime()
  await jwks?.stop()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

/** A promise that settles when `client` loses its connection. */
function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected) resolve()
    client.once('close', () => resolve())
  })
}

test('console: the page and its assets are served with content types, cache and security headers', async () => {
  const index = await fetch(`${adminUrl}/`)
  assert.match(index.headers.get('content-type') ?? '', /^text\/html/)
  assert.equal(index.headers.get('cache-control'), 'no-cache')
  assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/)
  const etag = index.headers.get('etag')
  assert.ok(etag !== null)
  assert.equal((await fetch(`${adminUrl}/`, { headers: { 'if-none-match': etag } })).status, 304)
  const js = await fetch(`${adminUrl}/console/app.js`)
  assert.equal(js.status, 200)
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/)
  const css = await fetch(`${adminUrl}/console/console.css`)
  assert.match(css.headers.get('content-type') ?? '', /^text\/css/)
  assert.equal((await fetch(`${adminUrl}/console/..%2Fregister.ts`)).status, 404)
  assert.equal((await fetch(`${adminUrl}/console/nope.js`)).status, 404)
})

test('console: sign in, add a JWKS authenticator, see a token client, disconnect it', async () => {
  // Sign in: a wrong key is refused, the right one opens the overview; the key is never in the URL.
  await page.goto(adminUrl)
  await page.fill('#api-key', 'wrong-key')
  await page.click('#signin button[type=submit]')
  await page.waitForSelector('#signin .alert.error')
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.waitForSelector('#stat-tiles .tile')
  assert.ok(!page.url().includes(API_KEY))
  assert.equal(await page.evaluate(`sessionStorage.getItem('portcullis.apiKey')`), API_KEY)

  // Authentication: the form validates while typing.
  await page.click('nav a[data-route=authentication]')
  await page.click('#add-authenticator')
  const form = page.locator('#authenticator-form')
  await form.waitFor()
  await form.locator('#f-name').fill('idp')
  await form.locator('#f-type-jwks').check()
  await form.locator('#f-from-password').check()
  await form.locator('#f-source-endpoint').check()
  await form.locator('#f-endpoint').fill(`${jwks.endpoint}/.well-known/jwks.json`)
  await form.locator('[data-field=endpoint] .field-warning', { hasText: '/.well-known/jwks.json' }).waitFor()
  await form.locator('#f-refreshInterval').fill('30')
  await form.locator('[data-field=refreshInterval] .field-error', { hasText: '60' }).waitFor()
  await form.locator('#f-description').fill('x'.repeat(129))
  assert.equal(await form.locator('[data-counter=description]').textContent(), '129/128')
  await form.locator('[data-field=description] .field-error', { hasText: '128' }).waitFor()
  // Submitting with errors sends nothing.
  await form.locator('#save-authenticator').click()
  assert.equal(await form.isVisible(), true)

  await form.locator('#f-endpoint').fill(jwks.endpoint)
  await form.locator('#f-refreshInterval').fill('60')
  await form.locator('#f-description').fill('Loopback identity provider (e2e)')
  assert.equal(await form.locator('[data-field=endpoint] .field-warning').textContent(), '')
  assert.equal(await form.locator('.field.invalid').count(), 0)
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })
  const row = page.locator('#authenticator-table tr[data-name="idp"]')
  await row.waitFor()

  // Its key set: status becomes ok with our key; "Refresh now" fetches again.
  await row.locator('[data-action=status]').click()
  await page.locator('#jwks-status [data-state="ok"]').waitFor()
  await page.locator('#jwks-status code.kid', { hasText: 'console-e2e' }).waitFor()
  const fetched = jwks.requests
  await page.click('#refresh-now')
  await waitUntil(() => jwks.requests > fetched, 'Refresh now did not fetch the key set')
  await page.keyboard.press('Escape')
  await page.locator('dialog.modal').waitFor({ state: 'detached' })

  // The token checker shows each check of a token signed by that key.
  const token = sign(key, { sub: 'sensor-7' })
  await page.click('nav a[data-route=token]')
  await page.fill('#f-token', token)
  await page.click('#check-token')
  await page.locator('#verdict[data-outcome="allow"]', { hasText: 'idp' }).waitFor()
  assert.ok(await page.locator('[data-authenticator="idp"] li.pass').count() > 0)
  assert.equal(await page.locator('[data-authenticator="idp"] li.fail').count(), 0)

  // Authorization: a policy, validated live, then created.
  await page.click('nav a[data-route=authorization]')
  await page.click('#add-policy')
  const policy = page.locator('#policy-form')
  await policy.locator('#f-name').fill('s')
  await policy.locator('#f-topics').fill('sensors/#/temp')
  await policy.locator('[data-field=topics] .field-error', { hasText: '#' }).waitFor()
  await policy.locator('[data-field=name] .field-error', { hasText: '3..64' }).waitFor()
  await policy.locator('#f-name').fill('sensors-own-topics')
  await policy.locator('#f-topics').fill('sensors/${clientid}/#')
  await policy.locator('#save-policy').click()
  await policy.waitFor({ state: 'detached' })
  await page.locator('#policy-table tr[data-name="sensors-own-topics"]').waitFor()

  // A client with a token signed by the key set's key connects…
  const client = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-sensor-7', username: 'sensor-7', password: Buffer.from(token) })
  clients.push(client)
  client.publish('sensors/e2e-sensor-7/temp', '21.5', { qos: 1 })
  const gone = closed(client)

  // …and shows in the clients list, where the console disconnects it.
  await page.click('nav a[data-route=clients]')
  const clientRow = page.locator('#client-table tr[data-client-id="e2e-sensor-7"]')
  await clientRow.waitFor()
  assert.match((await clientRow.textContent()) ?? '', /sensor-7/)
  await clientRow.locator('[data-action=disconnect]').click()
  await page.click('dialog.confirm [data-action=confirm]')
  await withTimeout(gone, WAIT, 'the MQTT client was not disconnected')
  assert.equal(client.connected, false)
  await clientRow.waitFor({ state: 'detached' })
})

test('console: the overview charts the broker (screenshot for the README)', async () => {
  // A history point before the clients below (the broker's 10 s interval moved on by fake setInterval)
  tick(HISTORY_INTERVAL_MS)
  // A refused token, so the authentication chart has a failure to show.
  const stranger = testKey('ES256', { kid: 'stranger', fresh: true })
  await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-stranger', username: 'x', password: Buffer.from(sign(stranger, {})) }, 3000).then(
    (c) => { clients.push(c); assert.fail('a token signed by an unknown key was accepted') },
    () => {},
  )
  const client = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-sensor-8', username: 'sensor-8', password: Buffer.from(sign(key, { sub: 'sensor-8' })) })
  clients.push(client)
  // A second history point, 0.5 s after the first like those below: the overview has a line to draw when it opens
  await new Promise((r) => setTimeout(r, 500))
  tick(HISTORY_INTERVAL_MS)
  await page.click('nav a[data-route=overview]')
  await page.locator('#charts polyline').first().waitFor()
  await new Promise<void>((resolve, reject) => client.subscribe('sensors/#', { qos: 0 }, (err) => (err ? reject(err) : resolve())))
  // 7 s of traffic drawn: a burst of publishes every 200 ms, a history point every 0.5 s (the
  // broker's 10 s interval moved on: the screenshot's charts have a line); the page fetches the
  // history every 10 s of its own clock
  let n = 0
  const since = Date.now()
  let nextPoint = since
  await waitUntil(async () => {
    for (let i = 0; i < 1 + (n % 7); i++) client.publish(`sensors/e2e-sensor-8/temp`, String(20 + (n++ % 50) / 10), { qos: 0 })
    if (Date.now() >= nextPoint) {
      tick(HISTORY_INTERVAL_MS)
      nextPoint += 500
    }
    await new Promise((r) => setTimeout(r, 150))
    return Date.now() - since > 7000 && Number(await page.locator('#charts').getAttribute('data-points')) >= 12
  }, 'the overview did not draw the stats history', 25_000)
  mkdirSync(dirname(SCREENSHOT), { recursive: true })
  await page.screenshot({ path: SCREENSHOT })
  const size = statSync(SCREENSHOT).size
  assert.ok(size < 300 * 1024, `docs/console.png is ${size} bytes; keep it under 300 KB`)
  assert.deepEqual(pageErrors, [], 'the page threw')
})

/** An admin API call from the test itself (to see what the console did take effect). */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

/** The v5 PUBACK reason code of a QoS 1 publish (0 when accepted). */
async function publishCode(c: MqttClient, topic: string): Promise<number> {
  try {
    const r = await c.publishAsync(topic, 'x', { qos: 1 })
    return (r as { reasonCode?: number } | undefined)?.reasonCode ?? 0
  } catch (err) {
    const code = (err as { code?: number }).code
    if (typeof code !== 'number') throw err
    return code
  }
}

/** The CONNACK reason code of a refused v5 CONNECT. */
async function refusedWith(opts: Parameters<typeof connect>[1]): Promise<number> {
  return connect(mqttPort, opts, 3000).then(
    (c) => { clients.push(c); return assert.fail(`CONNECT of ${String(opts.clientId)} was accepted`) },
    (err: { code?: number }) => Number(err.code),
  )
}

test('console: authorization settings are validated, saved, and take effect', async () => {
  // Sub-page of Authorization: the nav marks its parent; the tabs lead between the two.
  await page.click('nav a[data-route=authorization]')
  await page.click('.tabs a[data-tab=settings]')
  const form = page.locator('#authorization-settings-form')
  await form.waitFor()
  assert.equal(await page.locator('nav a[data-route=authorization]').getAttribute('aria-current'), '')
  assert.equal(await form.locator('#f-noMatch-allow').isChecked(), true, 'shows the running setting (noMatch: allow)')
  await form.locator('[data-field=noMatch] .field-warning', { hasText: 'allowed' }).waitFor()

  // Live validation, as the server's: the ACL claim is required, claim names are 1..256 characters.
  await form.locator('#f-aclClaim').fill('')
  await form.locator('[data-field=aclClaim] .field-error', { hasText: '1..256' }).waitFor()
  await form.locator('#f-superuserClaim').fill('s'.repeat(257))
  await form.locator('[data-field=superuserClaim] .field-error', { hasText: '1..256' }).waitFor()
  await form.locator('#save-authorization-settings').click()
  assert.deepEqual((await api('GET', '/authorization/settings')).body, { noMatch: 'allow', aclClaim: 'acl', superuserClaim: null }, 'nothing was sent')

  await form.locator('#f-noMatch-deny').check()
  await form.locator('#f-aclClaim').fill('perms')
  await form.locator('#f-superuserClaim').fill('is_admin')
  assert.equal(await form.locator('.field.invalid').count(), 0)
  await form.locator('#save-authorization-settings').click()
  await waitUntil(async () => (await api('GET', '/authorization/settings')).body.noMatch === 'deny', 'the settings were not saved')
  try {
    assert.deepEqual((await api('GET', '/authorization/settings')).body, { noMatch: 'deny', aclClaim: 'perms', superuserClaim: 'is_admin' })
    // Reloaded from the API after saving.
    await page.locator('#authorization-settings-form #f-noMatch-deny:checked').waitFor()
    assert.equal(await page.locator('#authorization-settings-form #f-aclClaim').inputValue(), 'perms')

    // New connections get the new rules: an ACL in the `perms` claim, deny when nothing matched, the superuser claim.
    const withAcl = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-acl', username: 'u', password: Buffer.from(sign(key, { sub: 'acl', perms: { pub: ['lab/#'] } })) })
    clients.push(withAcl)
    assert.equal(await publishCode(withAcl, 'lab/1'), 0, 'allowed by the token ACL in the perms claim')
    assert.equal(await publishCode(withAcl, 'elsewhere/1'), 0x87, 'nothing matched: noMatch deny')
    const admin = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-admin', username: 'u', password: Buffer.from(sign(key, { sub: 'admin', is_admin: true })) })
    clients.push(admin)
    assert.equal(await publishCode(admin, 'elsewhere/1'), 0, 'the superuser claim bypasses the rules')
  } finally {
    await api('PUT', '/authorization/settings', { noMatch: 'allow' })
  }
})

test('console: a claims.match entry is added to an authenticator and takes effect', async () => {
  await page.click('nav a[data-route=authentication]')
  const row = page.locator('#authenticator-table tr[data-name="idp"]')
  await row.locator('[data-action=edit]').click()
  const form = page.locator('#authenticator-form')
  await form.waitFor()
  await form.locator('details.claims summary').click()
  await form.locator('#add-match').click()
  const entry = form.locator('.match-row').last()
  await entry.locator('.match-claim').fill('sub')
  await entry.locator('.match-template').fill('${user}')
  await form.locator('[data-field=match] .field-error', { hasText: 'unknown placeholder ${user}' }).waitFor()
  assert.equal(await entry.locator('.match-template').getAttribute('aria-invalid'), 'true')
  await form.locator('#save-authenticator').click()
  assert.equal(await form.isVisible(), true, 'not sent with an error')
  await entry.locator('.match-template').fill('${username}')
  assert.equal(await form.locator('[data-field=match] .field-error').textContent(), '')
  assert.equal(await form.locator('.field.invalid').count(), 0)
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })

  const stored = await api('GET', '/authenticators/idp')
  assert.deepEqual(stored.body.claims.match, { sub: '${username}' })
  assert.equal(stored.body.endpoint, jwks.endpoint, 'the rest of the entry is as it was')
  // The token's sub must now be the CONNECT username.
  const same = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-match', username: 'sensor-9', password: Buffer.from(sign(key, { sub: 'sensor-9' })) })
  clients.push(same)
  assert.equal(await refusedWith({ protocolVersion: 5, clientId: 'e2e-mismatch', username: 'intruder', password: Buffer.from(sign(key, { sub: 'sensor-9' })) }), 0x86)

  // The editor shows the stored entry; removing it sends no match.
  await row.locator('[data-action=edit]').click()
  await form.waitFor()
  assert.equal(await form.locator('.match-row .match-claim').inputValue(), 'sub')
  assert.equal(await form.locator('.match-row .match-template').inputValue(), '${username}')
  await form.locator('.match-row [data-action=remove-match]').click()
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })
  assert.equal((await api('GET', '/authenticators/idp')).body.claims.match, undefined)
})

test('console: editing an HMAC authenticator without typing its secret keeps the secret', async () => {
  const secret = 'console-hmac-secret-0123456789-0123456789'
  assert.equal((await api('POST', '/authenticators', { type: 'jwt', name: 'e2e-hmac', from: 'password', algorithm: 'hmac-based', secret })).status, 201)
  await page.click('nav a[data-route=overview]')
  await page.click('nav a[data-route=authentication]')
  await page.locator('#authenticator-table tr[data-name="e2e-hmac"] [data-action=edit]').click()
  const form = page.locator('#authenticator-form')
  await form.waitFor()
  await form.locator('#f-secret').focus()
  await form.locator('#f-description').fill('edited in the console')
  assert.equal(await form.locator('[data-field=secret] .field-error').textContent(), '', 'an empty secret is not an error when one is stored')
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })
  const stored = await api('GET', '/authenticators/e2e-hmac')
  assert.equal(stored.body.description, 'edited in the console')
  assert.equal(stored.body.hasSecret, true)
  const c = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-hmac-client', username: 'u', password: mintToken({ privateKey: secret, alg: 'HS256', sub: 'u', expiresIn: 600 }) })
  clients.push(c)
})

test('console: an offline session is listed, filtered and ended', async () => {
  const persistent = await connect(mqttPort, { protocolVersion: 5, clientId: 'e2e-persistent', clean: false, properties: { sessionExpiryInterval: 600 }, username: 'u', password: Buffer.from(sign(key, { sub: 'p' })) })
  await persistent.subscribeAsync('sensors/#', { qos: 1 })
  await persistent.endAsync()
  await page.click('nav a[data-route=clients]')
  const row = page.locator('#client-table tr[data-client-id="e2e-persistent"][data-state="offline"]')
  await row.waitFor()
  assert.match((await row.textContent()) ?? '', /offline/)
  assert.match((await row.textContent()) ?? '', /1 \/ 0/, 'one subscription, nothing queued')
  await page.selectOption('#client-state', 'connected')
  await row.waitFor({ state: 'detached' })
  await page.selectOption('#client-state', 'offline')
  await row.waitFor()
  assert.equal(await page.locator('#client-table tr[data-state="connected"]').count(), 0)
  await row.locator('[data-action=end-session]').click()
  await page.click('dialog.confirm [data-action=confirm]')
  await row.waitFor({ state: 'detached' })
  assert.equal((await api('GET', '/clients/e2e-persistent')).status, 404)
  assert.deepEqual(pageErrors, [], 'the page threw')
})

async function waitUntil(check: () => boolean | Promise<boolean>, message: string, timeout = WAIT): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(message)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) }),
  ]).finally(() => clearTimeout(timer))
}
