/**
 * Fake time for tests of time rules at their configured values: node:test's mock.timers moves
 * `Date` and `setTimeout` — and with them the broker's clock (src/clock.ts) and its timers —
 * so a 60 s refresh interval or an hour of grace period passes in one `tick`. Real I/O
 * (a loopback key server, a socket) still runs on real time: `settle` lets it run until a
 * condition holds, bounded on the monotonic clock (performance.now, which is not faked).
 */
import assert from 'node:assert/strict'
import { mock } from 'node:test'

/** Fakes Date and setTimeout from now on (until `realTime()`). */
export function fakeTime(): void {
  mock.timers.enable({ apis: ['Date', 'setTimeout'], now: Date.now() })
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
