/**
 * Secrets never reach a log line: tokens (good, bad, expired), HMAC secrets and passwords
 * are absent from the broker's output at the most verbose level.
 */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { connect, delay, end, rawSocket, uid } from '../helpers/broker.js'
import { hmacWith, now } from '../helpers/tokens.js'

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
