/**
 * The last hour of the broker's statistics, at 10 s resolution, for the console's charts and
 * GET /api/v1/stats/history: a fixed ring of 360 points (memory does not grow with uptime or
 * traffic; lost on restart). Every point is read from the same counters GET /stats and
 * /metrics answer (`brokerStats`): the connected clients at that moment, and each counter's
 * per-second rate over the interval that ended then.
 */
import { clock } from '../clock.js'
import { ApiError } from './errors.js'
import type { BrokerStatsView } from './stats.js'

/** One point every 10 s … */
export const HISTORY_INTERVAL_MS = 10_000
/** … for an hour. */
export const HISTORY_POINTS = 360

/** The ranges GET /stats/history?range= takes, in seconds. */
export const HISTORY_RANGES = { '5m': 300, '15m': 900, '1h': 3600 } as const
export type HistoryRange = keyof typeof HISTORY_RANGES
export const HISTORY_RANGE_NAMES = Object.keys(HISTORY_RANGES) as HistoryRange[]

/** What a point holds besides its time: a gauge, then rates per second over the interval that ended at `at`. */
const FIELDS = [
  'connections',
  'connectsPerSecond',
  'messagesInPerSecond',
  'messagesOutPerSecond',
  'bytesInPerSecond',
  'bytesOutPerSecond',
  'authFailuresPerSecond',
  'dropsPerSecond',
] as const
type Field = (typeof FIELDS)[number]

export type StatsPoint = { readonly at: string } & { readonly [F in Field]: number }

export interface StatsHistoryView {
  readonly range: HistoryRange
  /** Seconds between points. */
  readonly intervalSeconds: number
  /** The time span the range covers, ending now. */
  readonly from: string
  readonly to: string
  /** Oldest first; none until the first interval has passed. */
  readonly points: readonly StatsPoint[]
}

/** The counters a rate is taken of, in FIELDS order after `connections`. */
function counters(s: BrokerStatsView): number[] {
  return [s.connections.total, s.messages.received, s.messages.sent, s.bytes.in, s.bytes.out, s.authFailures.total, s.messages.dropped]
}

export class StatsHistory {
  readonly #read: () => BrokerStatsView
  /** Point times (epoch ms) and values, one column per field: fixed size, written round the ring. */
  readonly #times = new Float64Array(HISTORY_POINTS)
  readonly #columns: Float64Array[] = FIELDS.map(() => new Float64Array(HISTORY_POINTS))
  /** Where the next point goes, and how many the ring holds. */
  #next = 0
  #count = 0
  #lastAt: number
  #last: number[]
  #timer: NodeJS.Timeout | undefined

  constructor(read: () => BrokerStatsView) {
    this.#read = read
    this.#lastAt = clock.now()
    this.#last = counters(read())
    this.#timer = clock.setInterval(() => this.sample(), HISTORY_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Points held (at most HISTORY_POINTS). */
  get size(): number {
    return this.#count
  }

  /** Take a point now: the interval since the previous one ends here. */
  sample(): void {
    const now = clock.now()
    const s = this.#read()
    const values = counters(s)
    const seconds = (now - this.#lastAt) / 1000
    if (!(seconds > 0)) return
    const i = this.#next
    this.#times[i] = now
    this.#columns[0][i] = s.connections.current
    values.forEach((v, k) => {
      // A counter never goes down; a negative difference could only come from a clock set back.
      this.#columns[k + 1][i] = Math.max(0, v - this.#last[k]) / seconds
    })
    this.#next = (i + 1) % HISTORY_POINTS
    this.#count = Math.min(HISTORY_POINTS, this.#count + 1)
    this.#lastAt = now
    this.#last = values
  }

  /** GET /stats/history: the points of the last `range` (5m, 15m or 1h; default 1h), oldest first. */
  view(query: Readonly<Record<string, unknown>> = {}): StatsHistoryView {
    const raw = query['range'] ?? '1h'
    if (typeof raw !== 'string' || !(HISTORY_RANGE_NAMES as string[]).includes(raw)) {
      throw new ApiError('ERR_VALIDATION', `range: must be one of ${HISTORY_RANGE_NAMES.join(', ')} (got ${JSON.stringify(raw)})`, 'range')
    }
    const range = raw as HistoryRange
    const now = clock.now()
    const from = now - HISTORY_RANGES[range] * 1000
    const points: StatsPoint[] = []
    for (let n = this.#count; n > 0; n--) {
      const i = (this.#next - n + HISTORY_POINTS) % HISTORY_POINTS
      const at = this.#times[i]
      if (at <= from) continue
      const point: Record<string, number | string> = { at: new Date(at).toISOString() }
      FIELDS.forEach((f, k) => {
        point[f] = round(this.#columns[k][i])
      })
      points.push(point as StatsPoint)
    }
    return { range, intervalSeconds: HISTORY_INTERVAL_MS / 1000, from: new Date(from).toISOString(), to: new Date(now).toISOString(), points }
  }

  close(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

/** Rates to 3 decimals (a message per 10 s is 0.1/s; more digits are noise). */
function round(v: number): number {
  return Math.round(v * 1000) / 1000
}
