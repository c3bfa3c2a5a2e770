/**
 * The last link of the chain: a subscription that can reach `$`-topics (`$SYS/#`, `$foo`)
 * is refused unless an earlier source allowed it by name — even with `noMatch: allow`.
 * Every other check is passed through to `noMatch`. (Publishing to `$`-topics is refused by
 * the chain itself.)
 */
import type { Authorizer, AuthzDecision, ClientRules } from './types.js'

const rules: ClientRules = Object.freeze({
  connect: (): AuthzDecision => 'ignore',
  publish: (): AuthzDecision => 'ignore',
  subscribe: (filter: string): AuthzDecision => (filter.charCodeAt(0) === 0x24 /* $ */ ? 'deny' : 'ignore'),
})

export class DollarTopicsAuthorizer implements Authorizer {
  readonly name = 'dollar-topics'

  compile(): ClientRules {
    return rules
  }
}
