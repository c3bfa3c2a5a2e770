/** POST /token/check: a token checked against the current chain, check by check. */
import type { ManagedAuthenticator } from '../auth/create.js'
import { inspectToken, type TokenInspection } from '../auth/jwt/tools.js'
import type { RevocationList } from '../auth/revocation.js'
import { isMapping } from '../config/check.js'
import { ApiError } from './errors.js'

const KEYS = ['token', 'clientId', 'username']

/** The check-by-check report of `authenticators` for the body's token. The token is never logged or stored. */
export async function checkToken(body: unknown, authenticators: readonly ManagedAuthenticator[], revocations?: RevocationList): Promise<TokenInspection> {
  if (!isMapping(body)) throw new ApiError('ERR_VALIDATION', 'body: must be a mapping { token, clientId?, username? }', 'body')
  const token = body['token']
  if (typeof token !== 'string' || token === '') throw new ApiError('ERR_VALIDATION', 'token: is required (a non-empty string)', 'token')
  const context: { clientId?: string; username?: string } = {}
  for (const key of ['clientId', 'username'] as const) {
    const v = body[key]
    if (v === undefined || v === null) continue
    if (typeof v !== 'string') throw new ApiError('ERR_VALIDATION', `${key}: must be a string`, key)
    context[key] = v
  }
  for (const key of Object.keys(body)) {
    if (!KEYS.includes(key)) throw new ApiError('ERR_VALIDATION', `${key}: unknown key (expected one of: ${KEYS.join(', ')})`, key)
  }
  return inspectToken(token, authenticators, context, revocations)
}
