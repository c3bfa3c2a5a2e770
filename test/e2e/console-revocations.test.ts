/**
 * The console's Revocations page, in a real headless Chromium, with real MQTT.js clients:
 * revoking a token's jti in the page lists the entry, drops the MQTT 5 client connected with
 * that token at once (DISCONNECT 0x98 Administrative action) and refuses it on reconnect
 * (0x86); revoking a subject drops that subject's MQTT 3.1.1 client (closed) and refuses it,
 * while another subject's client stays; withdrawing the jti entry in the page lets the token in
 * again. Nothing is mocked: the page talks to the admin API of the broker the clients use.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import mqtt, { type IDisconnectPacket, type MqttClient } from 'mqtt'
import type { Browser } from 'playwright-core'
import { API_KEY, hsToken, SEED_SECRET, startAdmin, type RunningAdmin } from '../admin/helpers.js'
import { launchChromium, openConsolePage } from '../helpers/chromium.js'

let browser: Browser
let h: RunningAdmin
const clients: MqttClient[] = []

before(async () => {
  browser = await launchChromium()
  h = await startAdmin()
})
after(async () => {
  for (const c of clients) c.end(true)
  await browser?.close()
  await h?.close()
})

/** A CONNECT with the token as password: the client once accepted, or the refusal's error. */
function connect(version: 4 | 5, clientId: string, token: string): Promise<{ client: MqttClient } | { error: Error }> {
  return new Promise((resolve) => {
    const client = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: version, clientId, username: 'u', password: token, reconnectPeriod: 0, connectTimeout: 5000 })
    clients.push(client)
    client.once('connect', () => resolve({ client }))
    client.once('error', (error) => {
      client.end(true)
      resolve({ error })
    })
  })
}

async function connected(version: 4 | 5, clientId: string, token: string): Promise<MqttClient> {
  const r = await connect(version, clientId, token)
  assert.ok('client' in r, `connected: ${'error' in r ? r.error.message : ''}`)
  return r.client
}

/** Resolves when the client's connection closes, with the server's DISCONNECT if one came; rejects after 5 s. */
function dropped(client: MqttClient): Promise<IDisconnectPacket | undefined> {
  return new Promise((resolve, reject) => {
    let disconnect: IDisconnectPacket | undefined
    const timer = setTimeout(() => reject(new Error('the client stayed connected')), 5000)
    client.once('disconnect', (packet) => {
      disconnect = packet
    })
    client.once('close', () => {
      clearTimeout(timer)
      resolve(disconnect)
    })
  })
}

test('console: a jti and a subject revoked in the Revocations page are listed, their connected clients dropped (0x98) and refused; withdrawn, the token works again', async () => {
  const leaked = hsToken(SEED_SECRET, { jti: 'leaked-token-1' }, 'sensor-1')
  const mallory = hsToken(SEED_SECRET, { jti: 'mallory-1' }, 'mallory')
  const alice = hsToken(SEED_SECRET, { jti: 'alice-1' }, 'alice')
  const v5 = await connected(5, 'rev-v5', leaked)
  const v3 = await connected(4, 'rev-v3', mallory)
  const bystander = await connected(5, 'rev-alice', alice)

  const { page, errors: pageErrors } = await openConsolePage(browser, h.adminUrl, API_KEY, 'revocations')
  await page.locator('#no-revocations').waitFor()

  // one token, by its jti: listed, its MQTT 5 client gets DISCONNECT 0x98 at once
  const gone5 = dropped(v5)
  await page.selectOption('#revoke-form select[name=kind]', 'jti')
  await page.fill('#revoke-form input[name=value]', 'leaked-token-1')
  await page.fill('#revoke-form input[name=reason]', 'found in a public repository')
  await page.click('#revoke')
  await page.locator('#toast', { hasText: 'Revoked; 1 connected client(s) disconnected' }).waitFor()
  const jtiRow = page.locator('#revocation-list tr', { hasText: 'leaked-token-1' })
  await jtiRow.waitFor()
  assert.match(await jtiRow.innerText(), /jti/)
  assert.match(await jtiRow.innerText(), /found in a public repository/)
  const disconnect = await gone5
  assert.equal(disconnect?.reasonCode, 0x98, 'DISCONNECT Administrative action')
  assert.match(String(disconnect?.properties?.reasonString), /leaked-token-1/)
  const again = await connect(5, 'rev-v5', leaked)
  assert.ok('error' in again, 'the revoked token is refused on reconnect')
  assert.match(again.error.message, /Bad User Name or Password/)

  // every token of a subject: its MQTT 3.1.1 client is closed; another subject's client stays
  const gone3 = dropped(v3)
  await page.selectOption('#revoke-form select[name=kind]', 'sub')
  await page.fill('#revoke-form input[name=value]', 'mallory')
  await page.click('#revoke')
  await page.locator('#revocation-list tr', { hasText: 'mallory' }).waitFor()
  await gone3
  const refused3 = await connect(4, 'rev-v3', hsToken(SEED_SECRET, { jti: 'mallory-2' }, 'mallory'))
  assert.ok('error' in refused3, 'a new token of the revoked subject is refused')
  assert.match(refused3.error.message, /Bad username or password/i)
  assert.equal(bystander.connected, true, 'another subject stays connected')

  // withdrawn in the page: the leaked token is accepted again
  await jtiRow.locator('button[data-action=withdraw]').click()
  await page.click('dialog button[data-action=confirm]')
  await jtiRow.waitFor({ state: 'detached' })
  assert.ok('client' in (await connect(5, 'rev-v5', leaked)), 'accepted once the revocation is withdrawn')
  const listed = await h.api('GET', '/api/v1/revocations')
  assert.deepEqual(listed.body.map((r: { kind: string; value: string }) => `${r.kind}:${r.value}`), ['sub:mallory'])
  assert.deepEqual(pageErrors, [])
})
