/**
 * A browser page connects to a ws listener with its token on the WebSocket upgrade — in a
 * cookie the page set, and in a query parameter — using MQTT.js's browser build in a real
 * headless Chromium (Debian's /usr/bin/chromium, or PORTCULLIS_CHROMIUM), MQTT 3.1.1 and 5.0.
 * The page comes from a loopback HTTP server on the same host as the listener, as a web app
 * would; the broker logs at trace level and no token may appear there.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { createRequire } from 'node:module'
import { after, before, test } from 'node:test'
import { chromium, type Browser, type Page } from 'playwright-core'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import type { MqttClient } from 'mqtt'

const CHROMIUM = process.env['PORTCULLIS_CHROMIUM'] ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]
const SECRET = 'browser-upgrade-secret-of-at-least-32-bytes'
const MQTT_BROWSER_BUILD = readFileSync(createRequire(import.meta.url).resolve('mqtt/dist/mqtt.min'), 'utf8')

let server: PortcullisServer
let web: Server
let browser: Browser
let page: Page
let wsPort: number
let logged = ''
const used: string[] = []

const token = (sub: string): string => {
  const t = mintToken({ privateKey: SECRET, alg: 'HS256', sub, expiresIn: 600 })
  used.push(t)
  return t
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium' or set PORTCULLIS_CHROMIUM`)
  const sink = new Writable({ write(chunk, _enc, done) { logged += String(chunk); done() } })
  server = await createServer(validateConfig({
    listeners: [{ type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt', upgradeToken: { cookie: 'mqtt_token', query: 'access_token' } }],
    authentication: { allowAnonymous: false, authenticators: [{ type: 'jwt', from: 'password', algorithm: 'hmac-based', secret: SECRET }] },
    authorization: { noMatch: 'allow' },
  }), { logger: createLogger({ level: 'trace', destination: sink }) })
  wsPort = server.listeners[0].port
  web = createHttpServer((req, res) => {
    if (req.url === '/mqtt.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(MQTT_BROWSER_BUILD)
      return
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title><script src="/mqtt.min.js"></script>')
  })
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 })
  page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`)
})

after(async () => {
  await browser?.close()
  web?.close()
  await server?.close()
})

/** What the page's globals used here look like (the test is compiled without the DOM types). */
interface PageGlobals { document: { cookie: string } }

/** In the page: connect with MQTT.js, publish to itself, and answer 'ok' or the refusal. */
function roundTrip(url: string, protocolVersion: number): Promise<string> {
  return page.evaluate(([u, v]) => new Promise<string>((resolve) => {
    const w = globalThis as unknown as { mqtt: { connect(url: string, o: object): MqttClient } }
    const client = w.mqtt.connect(u, { protocolVersion: v, reconnectPeriod: 0, connectTimeout: 5000, clientId: `page-${Math.random().toString(36).slice(2)}` })
    const topic = `browser/${Math.random().toString(36).slice(2)}`
    client.on('connect', () => {
      client.subscribe(topic, () => client.publish(topic, 'from the page'))
    })
    client.on('message', (_t: string, payload: Uint8Array) => {
      client.end(true)
      resolve(new TextDecoder().decode(payload) === 'from the page' ? 'ok' : 'wrong payload')
    })
    client.on('error', (err: { code?: number; message: string }) => {
      client.end(true)
      resolve(`refused ${err.code ?? err.message}`)
    })
    client.on('close', () => resolve('closed'))
  }), [url, protocolVersion] as const)
}

for (const version of [4, 5]) {
  const REFUSED = `refused ${version === 5 ? 0x86 : 4}`
  test(`MQTT ${version === 5 ? '5.0' : '3.1.1'}: a token in a cookie the page set is the CONNECT's credential`, async () => {
    await page.evaluate((t) => { (globalThis as unknown as PageGlobals).document.cookie = `mqtt_token=${t}; path=/; SameSite=Lax` }, token(`cookie-${version}`))
    assert.equal(await roundTrip(`ws://127.0.0.1:${wsPort}/mqtt`, version), 'ok')
    await page.evaluate(() => { (globalThis as unknown as PageGlobals).document.cookie = 'mqtt_token=; path=/; max-age=0' })
    assert.equal(await roundTrip(`ws://127.0.0.1:${wsPort}/mqtt`, version), REFUSED)
  })
  test(`MQTT ${version === 5 ? '5.0' : '3.1.1'}: a token in the query parameter`, async () => {
    assert.equal(await roundTrip(`ws://127.0.0.1:${wsPort}/mqtt?access_token=${token(`query-${version}`)}`, version), 'ok')
    assert.equal(await roundTrip(`ws://127.0.0.1:${wsPort}/mqtt?access_token=garbage`, version), REFUSED)
  })
}

test('no token from the browser appears in the trace-level log', () => {
  assert.ok(logged.includes('"level":10') || logged.includes('"level":20'), 'the log was written at trace/debug level')
  for (const t of used) assert.equal(logged.includes(t.split('.')[2]), false)
})
