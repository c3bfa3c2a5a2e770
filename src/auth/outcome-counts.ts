/**
 * An authenticator's answers, counted by outcome and reason (for the admin API and
 * portcullis_authentication_outcomes_total) and logged at debug level — never with the
 * credential itself.
 */
import type { PortcullisError } from '../errors.js'
import type { Logger } from '../log.js'
import type { AuthOutcome, Credentials, Identity } from './types.js'

export class OutcomeCounts {
  readonly #log: Logger
  #allow = 0
  readonly #deny: Record<string, number> = {}
  readonly #ignore: Record<string, number> = {}

  constructor(log: Logger) {
    this.#log = log
  }

  /** (A token check's answers — `credentials.uncounted` — are neither counted nor logged.) */
  allow(identity: Identity, credentials: Credentials): AuthOutcome {
    if (credentials.uncounted !== true) this.#allow++
    return { result: 'allow', identity }
  }

  /** The credential is this authenticator's and is refused: the chain stops. */
  deny(error: PortcullisError, credentials: Credentials): AuthOutcome {
    if (credentials.uncounted !== true) {
      this.#deny[error.code] = (this.#deny[error.code] ?? 0) + 1
      this.#log.debug({ clientId: credentials.clientId, code: error.code, reason: error.message }, 'client refused')
    }
    return { result: 'deny', error }
  }

  /** Not this authenticator's (or it cannot tell now): the next one is tried. */
  ignore(error: PortcullisError | undefined, credentials: Credentials): AuthOutcome {
    if (credentials.uncounted !== true) {
      const reason = error?.code ?? 'no-credentials'
      this.#ignore[reason] = (this.#ignore[reason] ?? 0) + 1
      if (error !== undefined) this.#log.debug({ clientId: credentials.clientId, code: error.code, reason: error.message }, 'client not accepted by this authenticator')
    }
    return error === undefined ? { result: 'ignore' } : { result: 'ignore', error }
  }

  snapshot(): { allow: number; deny: Record<string, number>; ignore: Record<string, number> } {
    return { allow: this.#allow, deny: { ...this.#deny }, ignore: { ...this.#ignore } }
  }
}
