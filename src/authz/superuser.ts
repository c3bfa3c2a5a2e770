/**
 * Superusers: a token whose `authorization.superuserClaim` claim is literally `true`
 * (not "true", not 1) may publish and subscribe anywhere — including `$SYS/#` — except that
 * the chain still refuses every client publish to a `$`-topic. It does not bypass connect
 * policies (an IP block still applies), and it ends when the token expires.
 */
import type { Authorizer, AuthzDecision, AuthzSubject, ClientRules } from './types.js'
import { clock } from '../clock.js'

class SuperuserRules implements ClientRules {
  readonly #expiresAt: number | undefined

  constructor(expiresAt: number | undefined) {
    this.#expiresAt = expiresAt
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
    return new SuperuserRules(subject.identity.expiresAt)
  }
}
