/**
 * Superusers: a token whose `authorization.superuserClaim` claim is literally `true`
 * (not "true", not 1) may publish and subscribe anywhere — including `$SYS/#` — except that
 * the chain still refuses every client publish to a `$`-topic. It does not bypass connect
 * policies (an IP block still applies), and it ends when the token expires.
 */
import type { Authorizer, AuthzDecision, AuthzSubject, ClientRules, RuleView } from './types.js'
import { clock } from '../clock.js'

class SuperuserRules implements ClientRules {
  readonly #expiresAt: number | undefined
  readonly #claim: string

  constructor(expiresAt: number | undefined, claim: string) {
    this.#expiresAt = expiresAt
    this.#claim = claim
  }

  describe(): readonly RuleView[] {
    return [{
      source: 'superuser', origin: `claim ${this.#claim}: true`, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['#'],
      note: 'a superuser publishes and subscribes anywhere, $SYS included, until its token expires (connect policies still apply)',
    }]
  }

  explain(action: 'connect' | 'publish' | 'subscribe'): RuleView | undefined {
    if (this.#decision() === 'deny') {
      return { source: 'superuser', origin: 'token expired', effect: 'deny', actions: ['connect', 'publish', 'subscribe'], topics: ['#'],
        note: 'the superuser token has expired: it refuses everything' }
    }
    return action === 'connect' ? undefined : this.describe()[0]
  }

  #decision(): AuthzDecision {
    return this.#expiresAt !== undefined && clock.now() >= this.#expiresAt ? 'deny' : 'allow'
  }

  connect(): AuthzDecision {
    return this.#decision() === 'deny' ? 'deny' : 'ignore'
  }

  publish(): AuthzDecision {
    return this.#decision()
  }

  subscribe(): AuthzDecision {
    return this.#decision()
  }
}

export class SuperuserAuthorizer implements Authorizer {
  readonly name = 'superuser'
  readonly #claim: string

  constructor(claim: string) {
    this.#claim = claim
  }

  compile(subject: AuthzSubject): ClientRules | undefined {
    const claims = subject.identity.claims
    if (claims === undefined || !Object.hasOwn(claims, this.#claim) || claims[this.#claim] !== true) return undefined
    return new SuperuserRules(subject.identity.expiresAt, this.#claim)
  }
}
