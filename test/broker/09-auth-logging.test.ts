/**
 * Secrets never reach a log line: tokens (good, bad, expired), HMAC secrets and passwords
 * are absent from the broker's output at the most verbose level; so are device tokens
 * (accepted, signed by another device's key, revoked, of a disabled device) and tokens bound
 * to a client id (`identity.clientId`, accepted and refused).
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { connect, delay, end, rawSocket, uid } from '../helpers/broker.js'
import { hmacWith, now } from '../helpers/tokens.js'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { API_KEY, baseConfig, hsToken, removeDir, SEED_SECRET, tempDataDir } from '../admin/helpers.js'

test('09 tokens, secrets and passwords are never logged (trace level)', async () => {
  const secret = 'logging-test-secret-that-is-32-bytes-long!'
  const sink = new PassThrough()
  let output = ''
  sink.on('data', (d: Buffer) => (output += d.toString()))
  const server = await createServer(
    validateConfig({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
      persistence: false,
      authentication: { authenticators: [{ type: 'jwt', algorithm: 'hmac-based', from: 'password', secret }] },
      authorization: { noMatch: 'allow' },
    }),
    { logger: createLogger({ level: 'trace', destination: sink }) },
  )
  const port = (server.listeners[0] as { port: number }).port
  const good = hmacWith(secret, { sub: 'a', exp: now() + 60 })
  const expired = hmacWith(secret, { sub: 'a', exp: now() - 60 })
  const forged = hmacWith('a-completely-different-secret-of-32-bytes', { sub: 'a', exp: now() + 60 })
  const client = await connect(port, { protocolVersion: 5, clientId: uid(), username: 'user', password: good })
  for (const token of [expired, forged, 'plain-password-123']) {
    const raw = await rawSocket(port, 4)
    await raw.connect({ clientId: uid(), username: 'user', password: Buffer.from(token) })
    raw.destroy()
  }
  await end(client)
  await server.close()
  await delay(50)
  assert.ok(output.includes('authentication refused'), 'refusals were logged')
  for (const s of [secret, good, expired, forged, 'plain-password-123']) {
    assert.equal(output.includes(s), false, 'a secret appeared in the log')
  }
  // signatures alone are secret-derived too
  for (const t of [good, expired, forged]) assert.equal(output.includes(t.split('.')[2]), false)
})

test('09 device tokens, revoked tokens and identity-bound tokens are never logged (trace level) [issue 14]', async () => {
  const dataDir = tempDataDir()
  const sink = new PassThrough()
  let output = ''
  sink.on('data', (d: Buffer) => (output += d.toString()))
  const audience = 'logging-devices'
  const server = await createServer(validateConfig(baseConfig(dataDir, {
    persistence: false,
    authentication: {
      allowAnonymous: false,
      authenticators: [
        { type: 'devices', name: 'fleet', claims: { audience, maxAge: 600 } },
        { type: 'jwt', name: 'bound', from: 'password', algorithm: 'hmac-based', secret: SEED_SECRET, identity: { clientId: 'cid' } },
      ],
    },
  })), { logger: createLogger({ level: 'trace', destination: sink }) })
  const port = server.listeners[0].port
  const api = (method: string, path: string, body?: unknown): Promise<Response> => fetch(`${server.admin!.url}/api/v1${path}`, {
    method, headers: { authorization: `Bearer ${API_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(10_000),
  })
  try {
    const mine = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    assert.equal((await api('POST', '/devices', { id: 'meter-1', keys: [{ id: 'k1', pem: String(mine.publicKey.export({ type: 'spki', format: 'pem' })) }] })).status, 201)
    const deviceToken = (key: KeyObject, jti: string): string => mintToken({ privateKey: key, alg: 'ES256', expiresIn: 600, claims: { aud: audience, jti } })
    const goodJti = uid('jti')
    const good = deviceToken(mine.privateKey, goodJti)
    const forged = deviceToken(other.privateKey, uid('jti'))
    const bound = hsToken(SEED_SECRET, { cid: 'pump-1', jti: 'bound-1' })
    const tokens = [good, forged, bound]
    const live = await rawSocket(port, 5)
    assert.equal((await live.connect({ clientId: 'meter-1', username: 'device', password: Buffer.from(good) })).reasonCode, 0)
    for (const [clientId, token] of [['meter-1', forged], ['pump-2', bound], ['pump-1', bound]] as const) {
      const raw = await rawSocket(port, 4)
      await raw.connect({ clientId, username: 'u', password: Buffer.from(token) })
      raw.destroy()
    }
    // revoked while connected, then refused at CONNECT
    assert.equal((await api('POST', '/revocations', { jti: goodJti })).status, 201)
    await live.waitClosed(5000)
    const again = await rawSocket(port, 5)
    assert.equal((await again.connect({ clientId: 'meter-1', username: 'device', password: Buffer.from(good) })).reasonCode, 0x86)
    again.destroy()
    // and the device disabled
    assert.equal((await api('POST', '/devices/meter-1/disable')).status, 200)
    await delay(50)
    assert.ok(output.includes('"level":10') || output.includes('"level":20'), 'the log was written at trace/debug level')
    assert.ok(output.includes('authentication refused'), 'refusals were logged')
    for (const t of tokens) {
      assert.equal(output.includes(t), false, 'a token appeared in the log')
      assert.equal(output.includes(t.split('.')[2]), false, 'a token signature appeared in the log')
    }
  } finally {
    await server.close()
    removeDir(dataDir)
  }
})
