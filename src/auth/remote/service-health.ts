/**
 * How a remote service an authenticator asks per client is doing: requests by outcome, their
 * time, the last success and error, consecutive failures (while > 0 the authenticator's state
 * is `unavailable`). The first failure after a success, and every 100th, is logged as a
 * warning; the credential is never part of the message.
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from '../../log.js'
import type { AuthenticatorStatus } from '../managed.js'
import type { HttpFailure } from './http-exchange.js'
import { clock } from '../../clock.js'

export type ServiceStatus = Omit<AuthenticatorStatus, 'name' | 'type' | 'enabled'>

export class ServiceHealth {
  readonly #log: Logger
  readonly #what: string
  readonly #outcomes = { ok: 0, error: 0, rejected: 0 }
  #requests = 0
  #micros = 0
  #lastDurationMs: number | null = null
  #lastSuccessAt: number | null = null
  #lastError: string | null = null
  #failures = 0

  /** `what`: the service as log lines name it (e.g. 'introspection endpoint'). */
  constructor(log: Logger, what: string) {
    this.#log = log
    this.#what = what
  }

  /** A request that started at performance.now() `t0` got a usable answer. */
  succeeded(t0: number): void {
    this.#count('ok', t0)
    this.#lastSuccessAt = clock.now()
    this.#failures = 0
    this.#lastError = null
  }

  failed(kind: HttpFailure, t0: number, reason: string): void {
    this.#count(kind, t0)
    this.#failures++
    this.#lastError = reason
    if (this.#failures === 1 || this.#failures % 100 === 0) {
      this.#log.warn({ failures: this.#failures, reason }, `${this.#what} unusable: clients get "server unavailable"`)
    }
  }

  /** Requests made and their total time (µs). */
  get requests(): number {
    return this.#requests
  }

  get micros(): number {
    return Math.round(this.#micros)
  }

  status(enabled: boolean): ServiceStatus {
    return {
      state: !enabled ? 'disabled' : this.#failures > 0 ? 'unavailable' : 'ok',
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      consecutiveFailures: this.#failures,
      kids: [],
      keyCount: 0,
      nextRefreshAt: null,
      requests: { ...this.#outcomes, lastDurationMs: this.#lastDurationMs },
    }
  }

  #count(kind: HttpFailure | 'ok', t0: number): void {
    const ms = performance.now() - t0
    this.#requests++
    this.#micros += ms * 1000
    this.#outcomes[kind]++
    this.#lastDurationMs = Math.round(ms * 10) / 10
  }
}
