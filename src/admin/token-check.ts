/**
 * POST /token/check: a token checked against the current chain, check by check, and when it
 * is accepted what the client it admits may do under the current authorization (`permissions`).
 */
import { isIP } from 'node:net'
import type { ManagedAuthenticator } from '../auth/create.js'
import { inspectToken, type TokenInspection } from '../auth/jwt/tools.js'
import type { RevocationList } from '../auth/revocation.js'
import type { AuthorizationConfig } from '../authz/config.js'
import { CHECK_ACTIONS, checkTopicProblem, type AskedCheck, type CheckAction, type PermissionCheck } from '../authz/permission-check.js'
import { tokenPermissions, type TokenPermissions } from '../authz/token-permissions.js'
import { isMapping } from '../config/check.js'
import { ApiError } from './errors.js'

const KEYS = ['token', 'clientId', 'username', 'ip', 'check']
const CHECK_KEYS = ['action', 'topic', 'qos', 'retain']

/** The permissions part of the answer: the one check asked for as `check`. */
export type TokenCheckPermissions = Omit<TokenPermissions, 'checks'> & { readonly check?: PermissionCheck }

export type TokenCheckAnswer = TokenInspection & {
  /** Accepted tokens: what the client may do; `{ refused }` when the CONNECT path refused it after all. */
  readonly permissions?: TokenCheckPermissions | { readonly refused: string }
}

/** The body's `check`, validated as GET /clients/:id/permissions validates its query. */
function parseCheck(value: unknown): AskedCheck | undefined {
  if (value === undefined || value === null) return undefined
  if (!isMapping(value)) throw new ApiError('ERR_VALIDATION', 'check: must be a mapping { action, topic?, qos?, retain? }', 'check')
  for (const key of Object.keys(value)) {
    if (!CHECK_KEYS.includes(key)) throw new ApiError('ERR_VALIDATION', `check.${key}: unknown key (expected one of: ${CHECK_KEYS.join(', ')})`, `check.${key}`)
  }
  const action = value['action']
  if (typeof action !== 'string' || !(CHECK_ACTIONS as readonly string[]).includes(action)) {
    throw new ApiError('ERR_VALIDATION', `check.action: must be one of ${CHECK_ACTIONS.join(', ')}`, 'check.action')
  }
  const topic = value['topic']
  if (topic !== undefined && typeof topic !== 'string') throw new ApiError('ERR_VALIDATION', 'check.topic: must be a string', 'check.topic')
  const qos = value['qos'] ?? 0
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new ApiError('ERR_VALIDATION', 'check.qos: must be 0, 1 or 2', 'check.qos')
  const retain = value['retain'] ?? false
  if (typeof retain !== 'boolean') throw new ApiError('ERR_VALIDATION', 'check.retain: must be true or false', 'check.retain')
  const problem = checkTopicProblem(action as CheckAction, topic)
  if (problem !== undefined) throw new ApiError('ERR_VALIDATION', `check.topic: ${problem}`, 'check.topic')
  return { action: action as CheckAction, ...(action !== 'connect' ? { topic } : {}), qos, retain }
}

/**
 * The check-by-check report of `authenticators` for the body's token, with the permissions
 * `authorization` gives the client it admits. The token is never logged, stored or answered.
 */
export async function checkToken(
  body: unknown,
  authenticators: readonly ManagedAuthenticator[],
  authorization: AuthorizationConfig,
  revocations?: RevocationList,
): Promise<TokenCheckAnswer> {
  if (!isMapping(body)) throw new ApiError('ERR_VALIDATION', 'body: must be a mapping { token, clientId?, username?, ip?, check? }', 'body')
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
  const ip = body['ip'] ?? '127.0.0.1'
  if (typeof ip !== 'string' || isIP(ip) === 0) throw new ApiError('ERR_VALIDATION', 'ip: must be an IPv4 or IPv6 address', 'ip')
  const check = parseCheck(body['check'])
  const report = await inspectToken(token, authenticators, context, revocations)
  const accepting = report.verdict.outcome === 'allow' ? authenticators.find((a) => a.name === report.verdict.authenticator) : undefined
  if (accepting === undefined) return report
  const worked = await tokenPermissions({
    token, authenticator: accepting, presented: context, ip, authorization, ...(revocations !== undefined ? { revocations } : {}),
    checks: check === undefined ? [] : [check],
  })
  if ('refused' in worked) return { ...report, permissions: worked }
  const { checks, ...rest } = worked
  return { ...report, permissions: { ...rest, ...(checks[0] !== undefined ? { check: checks[0] } : {}) } }
}
