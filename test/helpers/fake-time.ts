/**
 * Fake time for tests of time rules at their configured values: node:test's mock.timers moves
 * `Date` and `setTimeout` — and with them the broker's clock (src/clock.ts) and its timers —
 * so a 60 s refresh interval or an hour of grace period passes in one `tick`. Real I/O
 * (a loopback key server, a socket) still runs on real time: `settle` lets it run until a
 * condition holds, bounded on the monotonic clock (performance.now, which is not faked).
 */
import assert from 'node:assert/strict'
import { mock } from 'node:test'

/** What can be faked: `Date` and the timers the broker's clock waits on. */
export type FakeApi = 'Date' | 'setTimeout' | 'setInterval'

/**
 * Fakes `apis` (default Date and setTimeout) from now on (until `realTime()`). Leave setTimeout
 * real where clients or the test itself wait on it (MQTT.js, a bounded poll) and only the
 * broker's intervals (the stats history) are to be moved.
 */
export function fakeTime(apis: readonly FakeApi[] = ['Date', 'setTimeout']): void {
  mock.timers.enable({ apis: [...apis], now: Date.now() })
}

/** Back to real time (safe to call when time is not faked). */
export function realTime(): void {
  mock.timers.reset()
}

/** Moves fake time on by `ms`, firing the timers that fall due. */
export function tick(ms: number): void {
  mock.timers.tick(ms)
}

/** Lets real I/O run until `cond` holds; fails naming `what` after `ms` of real time. */
export async function settle(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for: ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
