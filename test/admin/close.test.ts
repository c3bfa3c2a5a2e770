/**
 * Closing the broker with clients of the admin listener still connected: a connection that
 * sent nothing yet (a browser opens one ahead of its next request — the console in Chromium
 * held close() for over a minute this way), or sits idle between keep-alive requests, is
 * closed at once; one whose request is still arriving keeps close() waiting at most
 * CLOSE_GRACE_MS, then it is destroyed.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { CLOSE_GRACE_MS } from '../../src/admin/server.js'
import { withTimeout } from '../helpers/broker.js'
import { API_KEY, removeDir, startAdmin } from './helpers.js'

function open(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: hostname, port: Number(port) }, () => resolve(s))
    s.once('error', reject)
  })
}
const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())))

test('connections with no request in progress do not hold close(); a request still arriving holds it at most the grace', async () => {
  const h = await startAdmin()
  try {
    const silent = await open(h.adminUrl)
    const idle = await open(h.adminUrl)
    const answered = new Promise<string>((resolve) => {
      let text = ''
      idle.on('data', (d: Buffer) => {
        text += d.toString()
        if (text.includes('\r\n\r\n')) resolve(text)
      })
    })
    idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n')
    assert.match(await withTimeout(answered, 5_000, 'healthz answer'), /^HTTP\/1\.1 200/)

    const t0 = performance.now()
    await withTimeout(h.close(), 5_000, 'close with a silent and an idle connection')
    assert.ok(performance.now() - t0 < CLOSE_GRACE_MS, 'closed before the grace ran out: nothing was in progress')
    await withTimeout(Promise.all([closed(silent), closed(idle)]), 2_000, 'both connections closed by the broker')
  } finally {
    removeDir(h.dataDir)
  }

  const h2 = await startAdmin()
  try {
    const sending = await open(h2.adminUrl)
    // A body announced and not sent: the request is in progress until the grace ends.
    sending.write(`POST /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na')
    await new Promise((r) => setTimeout(r, 200))
    const t0 = performance.now()
    await withTimeout(h2.close(), CLOSE_GRACE_MS + 3_000, 'close with a request in progress')
    assert.ok(performance.now() - t0 >= CLOSE_GRACE_MS - 100, 'the request in progress was given the grace')
    await withTimeout(closed(sending), 2_000, 'the unfinished request\'s connection destroyed')
  } finally {
    removeDir(h2.dataDir)
  }
})
