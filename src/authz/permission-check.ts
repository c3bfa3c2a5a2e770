/**
 * One authorization check as an operator asks it ("may this client publish to a/b?"), worked
 * out by a client's compiled rules with the rule that decides it. Shared by the admin API's
 * permissions view of a connected client and the token tools (`token inspect`, POST
 * /token/check), so all three validate and answer a check the same way.
 */
import { isValidTopicFilter, isValidTopicName, parseSharedFilter } from '../protocol/topic.js'
import type { CheckExplained, ClientAuthz, QoS } from './types.js'

export const CHECK_ACTIONS = ['connect', 'publish', 'subscribe'] as const
export type CheckAction = (typeof CHECK_ACTIONS)[number]

/** A check as asked. */
export interface AskedCheck {
  readonly action: CheckAction
  readonly topic?: string
  readonly qos: QoS
  readonly retain: boolean
}

/** One check as asked, with its answer. */
export interface PermissionCheck extends AskedCheck, CheckExplained {}

/**
 * Why `topic` cannot be checked for `action` (the message without the key it came from), or
 * undefined when it can. A shared subscription is checked on the filter it shares.
 */
export function checkTopicProblem(action: CheckAction, topic: string | undefined): string | undefined {
  if (action === 'connect') return undefined
  if (topic === undefined || topic === '') return `required to check ${action}`
  if (action === 'publish' && !isValidTopicName(topic)) return 'not a valid topic name to publish to (no + or #, not empty, no U+0000)'
  if (action === 'subscribe') {
    if (!isValidTopicFilter(topic)) return 'not a valid topic filter (+ and # only as whole levels, # last)'
    if (parseSharedFilter(topic) === null) return 'not a valid shared subscription ($share/<group>/<filter>)'
  }
  return undefined
}

/** The answer to a check `checkTopicProblem` found nothing wrong with: the same the client's packets get. */
export function explainCheck(authz: ClientAuthz, asked: AskedCheck): PermissionCheck {
  // A shared subscription is authorized on the filter it shares (`$share/g/a/#` → `a/#`), as SUBSCRIBE does.
  const shared = asked.action === 'subscribe' && asked.topic !== undefined ? parseSharedFilter(asked.topic) : undefined
  const topic = shared?.filter ?? asked.topic ?? ''
  return { ...asked, ...authz.explain(asked.action, topic, asked.qos, asked.retain) }
}
