/**
 * The console's forms for the authenticator types beyond JWT / JWKS, in a real headless
 * Chromium (Debian's /usr/bin/chromium via playwright-core): an OAuth 2.0 introspection
 * authenticator against a real loopback introspection server (validated while typing,
 * created, then edited without re-typing its secret — an MQTT client's token is still
 * introspected with it), an HTTP auth service, and an x509 authenticator with its identity
 * fields — then a device with an openssl-made certificate connects over a requestCert TLS
 * listener through that x509 authenticator, and its details show the certificate. Each is
 * checked through the API and by what it does.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { AuthService } from '../helpers/auth-service.js'
import { connect, end } from '../helpers/broker.js'
import { TestCa } from '../helpers/certs.js'
import { launchChromium } from '../helpers/chromium.js'
import mqtt from 'mqtt'

const API_KEY = 'console-types-test-key'
const WAIT = 15_000
const SECRET = 'broker-client-secret'

let server: PortcullisServer
let browser: Browser
let page: Page
let dataDir: string
let adminUrl: string
let mqttPort: number
let tlsPort: number
let ca: TestCa
const pageErrors: string[] = []
// Active only for the right client credentials: a lost secret would make every token inactive.
const introspection = new AuthService((r) => {
  const basic = Buffer.from(`mqtt-broker:${SECRET}`).toString('base64')
  const authorized = r.headers['authorization'] === `Basic ${basic}`
  return { body: authorized && r.fields['token'] === 'opaque-token-1' ? { active: true, sub: 'sensor-1', exp: Math.floor(Date.now() / 1000) + 600 } : { active: false } }
})

async function api(method: string, path: string): Promise<Record<string, unknown>> {
  const r = await fetch(`${adminUrl}/api/v1${path}`, { method, headers: { authorization: `Bearer ${API_KEY}` } })
  assert.equal(r.status, 200, `${method} ${path}`)
  return await r.json() as Record<string, unknown>
}

before(async () => {
  await introspection.start()
  ca = TestCa.create('Console Devices CA')
  const serverCert = ca.issue('127.0.0.1', { server: true, san: ['IP:127.0.0.1'] })
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-console-types-'))
  server = await createServer(validateConfig({
    admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY },
    listeners: [
      { type: 'tcp', host: '127.0.0.1', port: 0 },
      { type: 'tls', host: '127.0.0.1', port: 0, cert: serverCert.certFile, key: serverCert.keyFile, ca: ca.certFile, requestCert: true },
    ],
    authentication: { allowAnonymous: false },
    authorization: { noMatch: 'allow' },
    dataDir,
    log: { level: 'silent' },
  }), { logger: silentLogger() })
  assert.ok(server.admin !== undefined)
  adminUrl = server.admin.url
  mqttPort = (server.listeners[0] as { port: number }).port
  tlsPort = (server.listeners[1] as { port: number }).port
  browser = await launchChromium()
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  context.setDefaultTimeout(WAIT)
  page = await context.newPage()
  page.on('pageerror', (err) => pageErrors.push(err.message))
  await page.goto(adminUrl)
  await page.fill('#api-key', API_KEY)
  await page.click('#signin button[type=submit]')
  await page.waitForSelector('#stat-tiles .tile')
  await page.click('nav a[data-route=authentication]')
})

after(async () => {
  await browser?.close()
  await server?.close()
  await introspection.stop()
  ca?.remove()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

test('console: an introspection authenticator is validated, created, and edited without re-typing its secret', async () => {
  await page.click('#add-authenticator')
  const form = page.locator('#authenticator-form')
  await form.waitFor()
  await form.locator('#f-name').fill('oauth')
  await form.locator('#f-type-introspection').check()
  // Only this type's section and the token fields show.
  assert.equal(await form.locator('#f-introspectionEndpoint').isVisible(), true)
  assert.equal(await form.locator('#f-secret').isVisible(), false)
  assert.equal(await form.locator('#f-httpUrl').isVisible(), false)
  assert.equal(await form.locator('#f-from').isVisible(), true)
  await form.locator('#f-introspectionEndpoint').fill('ftp://id.example.com/introspect')
  await form.locator('[data-field=introspectionEndpoint] .field-error', { hasText: 'http:// or https://' }).waitFor()
  await form.locator('#save-authenticator').click()
  await form.locator('[data-field=clientSecret] .field-error', { hasText: 'is required' }).waitFor()
  assert.equal(await form.isVisible(), true, 'nothing sent with errors')

  await form.locator('#f-introspectionEndpoint').fill(introspection.url)
  await form.locator('#f-introspectionClientId').fill('mqtt-broker')
  await form.locator('#f-clientSecret').fill(SECRET)
  await form.locator('#f-from-password').check()
  await form.locator('#f-clientAuth').selectOption('post')
  assert.equal(await form.locator('.field.invalid').count(), 0)
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })
  const row = page.locator('#authenticator-table tr[data-name="oauth"]')
  await row.waitFor()
  assert.match(await row.textContent() ?? '', /OAuth 2.0 introspection/)
  const created = await api('GET', '/authenticators/oauth')
  assert.equal(created['endpoint'], introspection.url)
  assert.equal(created['clientId'], 'mqtt-broker')
  assert.equal(created['clientAuth'], 'post')
  assert.equal(created['hasSecret'], true)
  assert.equal(created['clientSecret'], undefined, 'write-only')

  // Edit: switch to HTTP Basic, leave the secret empty: the stored one is kept and used.
  await row.locator('[data-action=edit]').click()
  const edit = page.locator('#authenticator-form')
  await edit.waitFor()
  assert.equal(await edit.locator('#f-clientSecret').inputValue(), '')
  await edit.locator('[data-field=clientSecret] .hint, [data-field=clientSecret]', { hasText: 'never shown' }).first().waitFor()
  await edit.locator('#f-clientAuth').selectOption('basic')
  await edit.locator('#save-authenticator').click()
  await edit.waitFor({ state: 'detached' })
  const saved = await api('GET', '/authenticators/oauth')
  assert.equal(saved['clientAuth'], 'basic')
  assert.equal(saved['hasSecret'], true)
  const client = await connect(mqttPort, { protocolVersion: 5, clientId: 'sensor-1', username: 'u', password: 'opaque-token-1' })
  await end(client)
  assert.equal(introspection.requests.at(-1)?.headers['authorization'], `Basic ${Buffer.from(`mqtt-broker:${SECRET}`).toString('base64')}`)
})

test('console: an HTTP auth service and an x509 authenticator are created with their own fields', async () => {
  await page.click('#add-authenticator')
  let form = page.locator('#authenticator-form')
  await form.waitFor()
  await form.locator('#f-name').fill('auth-service')
  await form.locator('#f-type-http').check()
  assert.equal(await form.locator('#f-from').isVisible(), false, 'no token field for an HTTP service')
  await form.locator('#save-authenticator').click()
  await form.locator('[data-field=httpUrl] .field-error', { hasText: 'is required' }).waitFor()
  await form.locator('#f-httpUrl').fill('http://127.0.0.1:9/mqtt/auth')
  await form.locator('#f-httpFormat').selectOption('form')
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })
  await page.locator('#authenticator-table tr[data-name="auth-service"]', { hasText: 'HTTP auth service' }).waitFor()
  const http = await api('GET', '/authenticators/auth-service')
  assert.equal(http['url'], 'http://127.0.0.1:9/mqtt/auth')
  assert.equal(http['format'], 'form')

  await page.click('#add-authenticator')
  form = page.locator('#authenticator-form')
  await form.waitFor()
  await form.locator('#f-name').fill('devices')
  await form.locator('#f-type-x509').check()
  assert.equal(await form.locator('#f-x509Username').isVisible(), true)
  await form.locator('#f-x509Username').selectOption('cn')
  await form.locator('#f-x509ClientId').selectOption('san.uri')
  await form.locator('#f-requireToken').check()
  await form.locator('#save-authenticator').click()
  await form.waitFor({ state: 'detached' })
  await page.locator('#authenticator-table tr[data-name="devices"]', { hasText: 'Client certificate + token' }).waitFor()
  const x509 = await api('GET', '/authenticators/devices')
  assert.deepEqual(x509['identity'], { username: 'cn', clientId: 'san.uri' })
  assert.equal(x509['requireToken'], true)
  assert.deepEqual(pageErrors, [])
})

test('console: a device connects through the x509 authenticator made in the console; its details show the certificate', async () => {
  // Edit: no token required any more (the identity fields are kept as they were).
  const row = page.locator('#authenticator-table tr[data-name="devices"]')
  await row.locator('[data-action=edit]').click()
  const edit = page.locator('#authenticator-form')
  await edit.waitFor()
  assert.equal(await edit.locator('#f-x509ClientId').inputValue(), 'san.uri')
  await edit.locator('#f-requireToken').uncheck()
  await edit.locator('#save-authenticator').click()
  await edit.waitFor({ state: 'detached' })
  const saved = await api('GET', '/authenticators/devices')
  assert.equal(saved['requireToken'], false)
  assert.deepEqual(saved['identity'], { username: 'cn', clientId: 'san.uri' })

  const device = ca.issue('device-7', { san: ['URI:urn:dev:7'] })
  const client = mqtt.connect(`mqtts://127.0.0.1:${tlsPort}`, {
    protocolVersion: 5, clientId: 'urn:dev:7', ca: ca.cert, cert: device.cert, key: device.key, rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: WAIT,
  })
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', reject)
    })
    await page.click('nav a[data-route=clients]')
    const clientRow = page.locator('#client-table tr[data-client-id="urn:dev:7"]')
    await clientRow.waitFor()
    assert.match(await clientRow.textContent() ?? '', /device-7/, 'the username is the certificate CN')
    await clientRow.locator('[data-action=inspect]').click()
    const fingerprint = page.locator('#client-detail [data-cert=fingerprint]')
    await fingerprint.waitFor()
    assert.equal(await fingerprint.textContent(), new X509Certificate(device.cert).fingerprint256)
    assert.match(await page.locator('#client-detail').textContent() ?? '', /CN=device-7/)
    await page.locator('#client-detail [data-cert=validTo]').waitFor()
    await page.keyboard.press('Escape')
  } finally {
    client.end(true)
  }
  assert.deepEqual(pageErrors, [])
})
