/**
 * GET /api/v1/refusals: the broker's record of recently refused CONNECTs, filtered. The
 * filters are checked here (a clear 400 for a bad one); the record itself is the broker's.
 */
import type { RefusalFilter, RefusalLog, RefusalRecord } from '../broker/refusals.js'
import { ErrorCodes } from '../errors.js'
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

/**
 * `reason`: an error code (`ERR_JWT_EXPIRED`, any case) or a reason code (134 or 0x86). Anything
 * else would match nothing, so a typo (`ERR_JWT_EXPRIED`) is told rather than answered with [].
 */
function checkReason(value: string): void {
  if (/^0x[0-9a-f]{1,2}$/i.test(value) || (/^[0-9]{1,3}$/.test(value) && Number(value) <= 255)) return
  if (Object.hasOwn(ErrorCodes, value.toUpperCase())) return
  throw new ApiError('ERR_VALIDATION', `reason: must be an error code (ERR_…, see the README's error codes) or a reason code (134 or 0x86) (got ${JSON.stringify(value)})`, 'reason')
}

export function listRefusals(log: RefusalLog, query: Readonly<Record<string, unknown>>): RefusalRecord[] {
  const filter: { -readonly [K in keyof RefusalFilter]: RefusalFilter[K] } = {}
  for (const name of TEXT_FILTERS) {
    const value = text(query, name)
    if (value !== undefined) filter[name] = value
  }
  if (filter.reason !== undefined) checkReason(filter.reason)
  const at = since(query)
  if (at !== undefined) filter.since = at
  return log.list(filter)
}
