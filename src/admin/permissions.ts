/**
 * A connected client's effective permissions, for the admin API and the console: the rules
 * that apply to it (placeholders substituted, policies whose conditions it does not meet
 * left out) in the order the broker asks them — the first that matches decides — and, on
 * request, one check worked out with the rule that decides it ("why can't this client
 * publish to a/b?"). The answer is the broker's own: the same compiled rules decide the
 * client's PUBLISH and SUBSCRIBE packets.
 */
import { CHECK_ACTIONS, checkTopicProblem, explainCheck, type AskedCheck, type CheckAction, type PermissionCheck } from '../authz/permission-check.js'
import type { PermissionsView, QoS } from '../authz/types.js'
import type { Connection } from '../broker/connection.js'
import { optionalText } from './query.js'
import { ApiError } from './errors.js'

export { CHECK_ACTIONS, type PermissionCheck }

export interface ClientPermissionsView extends PermissionsView {
  readonly clientId: string
  /** When the rules stop applying (the token they came from expires): every check is refused from then on. */
  readonly expiresAt?: string
  readonly check?: PermissionCheck
}

function parseQos(text: string | undefined): QoS {
  if (text === undefined) return 0
  if (text === '0' || text === '1' || text === '2') return Number(text) as QoS
  throw new ApiError('ERR_VALIDATION', `qos: must be 0, 1 or 2 (got ${JSON.stringify(text)})`, 'qos')
}

function parseRetain(text: string | undefined): boolean {
  if (text === undefined || text === 'false') return false
  if (text === 'true') return true
  throw new ApiError('ERR_VALIDATION', `retain: must be true or false (got ${JSON.stringify(text)})`, 'retain')
}

/** The check a query asks for (`action`, `topic`, `qos`, `retain`), or undefined without `action`. */
function parseCheck(query: Readonly<Record<string, unknown>>): AskedCheck | undefined {
  const action = optionalText(query, 'action')
  const topic = optionalText(query, 'topic')
  if (action === undefined) {
    if (topic !== undefined) throw new ApiError('ERR_VALIDATION', 'action: required with topic (connect, publish or subscribe)', 'action')
    return undefined
  }
  if (!(CHECK_ACTIONS as readonly string[]).includes(action)) {
    throw new ApiError('ERR_VALIDATION', `action: must be one of ${CHECK_ACTIONS.join(', ')} (got ${JSON.stringify(action)})`, 'action')
  }
  const qos = parseQos(optionalText(query, 'qos'))
  const retain = parseRetain(optionalText(query, 'retain'))
  if (action === 'connect') return { action, qos, retain }
  const problem = checkTopicProblem(action as CheckAction, topic)
  if (problem !== undefined) throw new ApiError('ERR_VALIDATION', `topic: ${problem}`, 'topic')
  return { action: action as CheckAction, topic, qos, retain }
}

/** The permissions view of a connected client (404 for one that has no compiled rules: not connected yet). */
export function clientPermissions(conn: Connection, query: Readonly<Record<string, unknown>>): ClientPermissionsView {
  const authz = conn.authz
  if (authz === undefined) throw new ApiError('ERR_NOT_FOUND', `client '${conn.clientId}' has no permissions yet: it is still connecting`)
  const asked = parseCheck(query)
  const check = asked === undefined ? undefined : explainCheck(authz, asked)
  const expiresAt = conn.identity?.expiresAt
  return {
    clientId: conn.clientId,
    ...authz.describe(),
    ...(expiresAt !== undefined ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
    ...(check !== undefined ? { check } : {}),
  }
}
