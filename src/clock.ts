/**
 * The broker's one clock: wall-clock time and the timers that wait on it, instead of
 * `Date.now()` and `setTimeout` written out wherever time matters (token expiry, the
 * keep-alive wheel, JWKS refresh, back-off and grace period, revocations).
 *
 * The system clock reads `Date` and the global timers at every call, so a test moves it with
 * node:test's fake timers — `mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'] })`
 * then `mock.timers.tick(ms)` — and tests time rules at their real, configured values instead
 * of shortened test-only timings. `setClock` puts another clock in place (a test's own).
 */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout
  setInterval(fn: () => void, ms: number): NodeJS.Timeout
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
}

let current: Clock = systemClock

/** The clock in use. */
export const clock: Clock = {
  now: () => current.now(),
  setTimeout: (fn, ms) => current.setTimeout(fn, ms),
  setInterval: (fn, ms) => current.setInterval(fn, ms),
}

/** Put `next` in place of the clock in use; returns a function that puts the previous one back. */
export function setClock(next: Clock): () => void {
  const previous = current
  current = next
  return () => {
    current = previous
  }
}

/** Seconds since the epoch, with a fraction (JWT NumericDate scale). */
export function nowSeconds(): number {
  return clock.now() / 1000
}
