/**
 * log.format: pretty gives people ISO times, the level and the message, secrets still redacted;
 * connect and disconnect are logged at info with the authenticator and the token's subject,
 * never the token.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { SEED_SECRET, baseConfig, hsToken, removeDir, tempDataDir } from '../admin/helpers.js'

function collector(): { stream: Writable; text: () => string } {
  const chunks: string[] = []
  return {
    stream: new Writable({ write(c: Buffer, _e, done) { chunks.push(c.toString()); done() } }),
    text: () => chunks.join(''),
  }
}

test('log.format pretty: ISO time, level, message, fields; secrets redacted', async () => {
  const out = collector()
  const log = createLogger({ format: 'pretty', destination: out.stream, level: 'info' })
  log.info({ clientId: 'dev 1', token: 'eyJhbGciOi.secret.part' }, 'hello there')
  log.debug('not shown at info')
  await new Promise((r) => setImmediate(r))
  const lines = out.text().trim().split('\n')
  assert.equal(lines.length, 1, out.text())
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}hello there clientId="dev 1" token=\[redacted\]$/)
  assert.ok(!out.text().includes('secret.part'))
})

test('log.format is validated: json or pretty', () => {
  const dir = tempDataDir()
  try {
    assert.equal(validateConfig(baseConfig(dir, { log: { format: 'pretty' } })).logFormat, 'pretty')
    assert.equal(validateConfig(baseConfig(dir)).logFormat, 'json')
    assert.throws(() => validateConfig(baseConfig(dir, { log: { format: 'colour' } })), /log\.format/)
  } finally {
    removeDir(dir)
  }
})

test('connect and disconnect are logged at info with the authenticator and token subject, never the token', async () => {
  const out = collector()
  const dir = tempDataDir()
  const server = await createServer(validateConfig(baseConfig(dir)), { logger: createLogger({ destination: out.stream, level: 'info' }) })
  try {
    const token = hsToken(SEED_SECRET, {}, 'sensor-17')
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: server.listeners[0].port, clientId: 'logged-1', username: 'u', password: token, reconnectPeriod: 0 })
    await client.endAsync()
    for (let i = 0; i < 50 && !out.text().includes('client disconnected'); i++) await new Promise((r) => setTimeout(r, 20))
    const entries = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const connected = entries.find((e) => e['msg'] === 'client connected')
    const disconnected = entries.find((e) => e['msg'] === 'client disconnected')
    assert.ok(connected && disconnected, out.text())
    for (const e of [connected, disconnected]) {
      assert.equal(e['level'], 30)
      assert.equal(e['clientId'], 'logged-1')
      assert.equal(e['authenticator'], 'seed-hmac')
      assert.equal(e['sub'], 'sensor-17')
    }
    assert.ok(!out.text().includes(token.split('.')[2]), 'the token is never logged')
  } finally {
    await server.close()
    removeDir(dir)
  }
})
