/**
 * GET /api/v1/refusals: the broker's record of recently refused CONNECTs, filtered. The
 * filters are checked here (a clear 400 for a bad one); the record itself is the broker's.
 */
import type { RefusalFilter, RefusalLog, RefusalRecord } from '../broker/refusals.js'
import { ApiError } from './errors.js'

const TEXT_FILTERS = ['clientId', 'address', 'reason'] as const

function text(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = query[name]
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string' || value.length > 256) throw new ApiError('ERR_VALIDATION', `${name}: must be one string of at most 256 characters`, name)
  return value
}

/** `since`: epoch milliseconds, or an ISO 8601 time. */
function since(query: Readonly<Record<string, unknown>>): number | undefined {
  const value = text(query, 'since')
  if (value === undefined) return undefined
  const at = /^[0-9]{1,15}$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(at)) throw new ApiError('ERR_VALIDATION', `since: must be epoch milliseconds or an ISO 8601 time (got ${JSON.stringify(value)})`, 'since')
  return at
}

export function listRefusals(log: RefusalLog, query: Readonly<Record<string, unknown>>): RefusalRecord[] {
  const filter: { -readonly [K in keyof RefusalFilter]: RefusalFilter[K] } = {}
  for (const name of TEXT_FILTERS) {
    const value = text(query, name)
    if (value !== undefined) filter[name] = value
  }
  const at = since(query)
  if (at !== undefined) filter.since = at
  return log.list(filter)
}
