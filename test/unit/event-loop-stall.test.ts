/**
 * The in-broker event-loop stall monitor behind portcullis_event_loop_stall_max_seconds: a
 * synchronous block of the loop shows up as the window's longest stall, and each read starts
 * a new window.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startEventLoopStallMonitor } from '../../src/metrics/event-loop-stall.js'

function blockFor(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) { /* a stalled event loop */ }
}

describe('event-loop stall monitor', () => {
  test('a 40 ms block is the window\'s longest stall; the next window starts empty', async () => {
    const m = startEventLoopStallMonitor()
    try {
      await sleep(20)
      m.takeMaxSeconds()
      await sleep(10)
      blockFor(40)
      await sleep(20)
      const stalled = m.takeMaxSeconds()
      assert.ok(stalled >= 0.03 && stalled < 1, `stall seen: ${stalled} s`)
      await sleep(30)
      const quiet = m.takeMaxSeconds()
      assert.ok(quiet < stalled, `a new window after the read: ${quiet} s`)
    } finally {
      m.close()
    }
  })
})
