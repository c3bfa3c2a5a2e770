/**
 * The last link of the chain: a subscription that can reach `$`-topics (`$SYS/#`, `$foo`)
 * is refused unless an earlier source allowed it by name — even with `noMatch: allow`.
 * Every other check is passed through to `noMatch`. (Publishing to `$`-topics is refused by
 * the chain itself.)
 */
import type { Authorizer, AuthzAction, AuthzDecision, ClientRules, RuleView } from './types.js'

const view: RuleView = {
  source: 'dollar-topics', origin: '$-topic guard', effect: 'deny', actions: ['subscribe'], topics: ['$…'],
  note: 'a subscription to $-topics ($SYS/#) that no rule above allowed is refused, whatever noMatch says',
}

const isDollar = (filter: string): boolean => filter.charCodeAt(0) === 0x24 /* $ */

const rules: ClientRules = Object.freeze({
  connect: (): AuthzDecision => 'ignore',
  publish: (): AuthzDecision => 'ignore',
  subscribe: (filter: string): AuthzDecision => (isDollar(filter) ? 'deny' : 'ignore'),
  describe: (): readonly RuleView[] => [view],
  explain: (action: AuthzAction, filter: string): RuleView | undefined => (action === 'subscribe' && isDollar(filter) ? view : undefined),
})

export class DollarTopicsAuthorizer implements Authorizer {
  readonly name = 'dollar-topics'

  compile(): ClientRules {
    return rules
  }
}
