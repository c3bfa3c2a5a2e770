/**
 * The broker's longest event-loop stall, measured inside the process with
 * perf_hooks.monitorEventLoopDelay: a libuv timer due every RESOLUTION_MS records how late it
 * fires. Nothing on the message path is touched; the cost is the timer's wake-ups.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

/**
 * Sampling period of the delay timer. A stall longer than this is always seen (as at least its
 * length minus the period); 2 ms keeps a 5 ms stall visible at 500 wake-ups a second.
 */
const RESOLUTION_MS = 2

export interface EventLoopStallMonitor {
  /** Longest stall (seconds) since the previous call, then start a new window. */
  takeMaxSeconds(): number
  close(): void
}

export function startEventLoopStallMonitor(): EventLoopStallMonitor {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  h.enable()
  return {
    takeMaxSeconds() {
      // The histogram holds how late each sample fired (ns); max is 0 before the first sample.
      const max = h.count > 0 ? h.max / 1e9 : 0
      h.reset()
      return max
    },
    close() {
      h.disable()
    },
  }
}
