/** setTimeout for delays beyond its 2^31-1 ms limit (session expiry may be ~136 years). */
import { clock } from '../clock.js'

const MAX_DELAY = 0x7fffffff

export interface LongTimer {
  handle: NodeJS.Timeout
}

export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  const timer: LongTimer = { handle: undefined as unknown as NodeJS.Timeout }
  const due = clock.now() + ms
  const arm = (): void => {
    const left = due - clock.now()
    timer.handle = left > MAX_DELAY ? clock.setTimeout(arm, MAX_DELAY) : clock.setTimeout(fn, Math.max(0, left))
  }
  arm()
  return timer
}

export function clearLongTimeout(timer: LongTimer | undefined): void {
  if (timer !== undefined) clearTimeout(timer.handle)
}
