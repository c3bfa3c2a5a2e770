/**
 * Listener configuration: `sessionResumption` (tls and wss listeners; default true). What it does
 * on the wire is tested over real sockets in test/broker/15-listeners-tls-resumption.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { validateConfig } from '../../src/config/schema.js'

const files = { cert: 'server.crt', key: 'server.key' }

describe('listeners: sessionResumption', () => {
  it('is on by default on tls and wss listeners, and can be turned off', () => {
    // (each on its own port: two listeners on one port are refused)
    const c = validateConfig({ listeners: [{ type: 'tls', ...files }, { type: 'wss', ...files }, { type: 'tls', port: 8885, ...files, sessionResumption: false }] })
    assert.deepEqual(c.listeners.map((l) => l.sessionResumption), [true, true, false])
  })

  it('is refused on tcp and ws listeners, and when not a boolean', () => {
    for (const type of ['tcp', 'ws']) {
      assert.throws(() => validateConfig({ listeners: [{ type, sessionResumption: false }] }), /listeners\[0\]\.sessionResumption: is only used on tls and wss listeners/)
    }
    assert.throws(() => validateConfig({ listeners: [{ type: 'tls', ...files, sessionResumption: 'no' }] }), /listeners\[0\]\.sessionResumption/)
  })
})
