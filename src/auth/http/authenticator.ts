/**
 * `type: http`: the client's credentials, as `body`'s templated fields, are POSTed (JSON or
 * form) to an authentication service over a bounded keep-alive connection pool. A 2xx answer
 * `{"result": "allow" | "deny" | "ignore", "is_superuser"?, "acl"?, "expire_at"?}` decides:
 *
 *   CONNECT with an Authentication Method   → ignore (not mine: the service sees passwords)
 *   result allow                            → allow; the answer's fields are the client's
 *                                             claims (acl → authorization.aclClaim,
 *                                             is_superuser → authorization.superuserClaim),
 *                                             expire_at (epoch seconds) ends the connection
 *   result deny                             → deny ERR_AUTH_SERVICE_DENIED (the chain stops)
 *   result ignore                           → ignore (the next authenticator is tried)
 *   down, slow, non-2xx, garbage, too many
 *   requests already waiting                → ignore + ERR_AUTH_SERVICE_UNAVAILABLE (0x88
 *                                             when no one accepts; never an allow)
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { PortcullisError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { deepFreeze } from '../deep-freeze.js'
import type { AuthenticatorReport, ManagedAuthenticator } from '../managed.js'
import { HttpExchangeError, httpExchange, jsonObject } from '../remote/http-exchange.js'
import { ServiceAuthenticator } from '../remote/service-authenticator.js'
import type { AuthOutcome, Credentials, Identity } from '../types.js'
import type { HttpAuthenticatorConfig } from './config.js'
import { compileRequestTemplate, renderRequestTemplate, type RequestTemplate } from './request-template.js'
import { clock } from '../../clock.js'

/** A service's decision, its fields kept as the client's claims. */
type Decision =
  | { readonly result: 'allow'; readonly claims: Readonly<Record<string, unknown>>; readonly expiresAt?: number; readonly bytes: number }
  | { readonly result: 'deny' }
  | { readonly result: 'ignore' }

export interface HttpAuthenticatorOptions {
  readonly logger: Logger
}

/** Reads `{"result": …, "expire_at"?: …}`; throws a `rejected` HttpExchangeError for anything else. */
function decisionOf(doc: Record<string, unknown>, bytes: number): Decision {
  const result = doc['result']
  if (result === 'deny') return { result }
  if (result === 'ignore') return { result }
  if (result !== 'allow') throw new HttpExchangeError('answer has no "result" of allow, deny or ignore', 'rejected')
  const expireAt = doc['expire_at']
  if (expireAt !== undefined && (typeof expireAt !== 'number' || !Number.isFinite(expireAt) || expireAt <= 0)) {
    throw new HttpExchangeError('answer has an "expire_at" that is not a positive number (epoch seconds)', 'rejected')
  }
  const { result: _result, ...claims } = doc
  void _result
  return { result: 'allow', claims: deepFreeze(claims), bytes, ...(expireAt !== undefined ? { expiresAt: expireAt * 1000 } : {}) }
}

export class HttpAuthenticator extends ServiceAuthenticator<Decision> implements ManagedAuthenticator {
  readonly type = 'http' as const
  readonly authMethods: readonly string[] = Object.freeze([])
  readonly config: HttpAuthenticatorConfig
  readonly #fields: ReadonlyArray<readonly [string, RequestTemplate]>
  #inFlight = 0
  #shed = 0

  constructor(config: HttpAuthenticatorConfig, options: HttpAuthenticatorOptions) {
    super(config, { url: config.url, logger: options.logger, service: 'HTTP auth service', cacheEntries: config.cacheTtl === 0 ? 0 : config.cacheSize })
    this.config = config
    this.#fields = Object.entries(config.body).map(([field, template]) => [field, compileRequestTemplate(template)] as const)
  }

  /** Requests not sent because maxPending were already waiting. */
  get shed(): number {
    return this.#shed
  }

  authenticate(credentials: Credentials): AuthOutcome | Promise<AuthOutcome> {
    if (credentials.authMethod !== undefined) return this.counts.ignore(undefined, credentials)
    if (credentials.username === undefined && credentials.password === undefined && credentials.certificate === undefined) {
      return this.counts.ignore(undefined, credentials)
    }
    const body = this.#body(credentials)
    let id: string | undefined
    if (this.config.cacheTtl > 0) {
      // Keyed by a digest of the whole request (the password included), never the request itself.
      id = createHash('sha256').update(body).digest('base64')
      const hit = this.cache.get(id, clock.now())
      if (hit !== undefined) {
        if (credentials.uncounted !== true) this.cacheHits++
        return this.#judge(hit, credentials)
      }
    }
    if (this.#inFlight >= this.config.maxConnections + this.config.maxPending) {
      this.#shed++
      return this.counts.ignore(new PortcullisError('ERR_AUTH_SERVICE_UNAVAILABLE', `HTTP auth service behind: ${this.#inFlight} requests waiting (maxPending)`), credentials)
    }
    return this.#ask(body).then(
      (decision) => {
        if (id !== undefined && decision.result === 'allow') {
          const now = clock.now()
          this.cache.set(id, decision, decision.bytes, Math.min(decision.expiresAt ?? Infinity, now + this.config.cacheTtl * 1000), now)
        }
        return this.#judge(decision, credentials)
      },
      (err: unknown) => this.counts.ignore(err as PortcullisError, credentials),
    )
  }

  #body(credentials: Credentials): string {
    if (this.config.format === 'form') {
      const form = new URLSearchParams()
      for (const [field, template] of this.#fields) form.set(field, renderRequestTemplate(template, credentials))
      return form.toString()
    }
    const json: Record<string, string> = {}
    for (const [field, template] of this.#fields) json[field] = renderRequestTemplate(template, credentials)
    return JSON.stringify(json)
  }

  /** One request; a failure is an ERR_AUTH_SERVICE_UNAVAILABLE PortcullisError. */
  async #ask(body: string): Promise<Decision> {
    const t0 = performance.now()
    this.#inFlight++
    try {
      const decision = await this.#request(body)
      this.health.succeeded(t0)
      return decision
    } catch (err) {
      this.health.failed(err instanceof HttpExchangeError ? err.kind : 'error', t0, (err as Error).message)
      throw new PortcullisError('ERR_AUTH_SERVICE_UNAVAILABLE', `HTTP auth service: ${(err as Error).message}`, { cause: err })
    } finally {
      this.#inFlight--
    }
  }

  async #request(body: string): Promise<Decision> {
    const answer = await httpExchange(this.url, {
      method: 'POST',
      headers: {
        ...this.config.headers,
        'content-type': this.config.format === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
        accept: 'application/json',
        'user-agent': 'portcullis-http-auth',
      },
      body,
      timeoutMs: this.timeoutMs,
      maxBytes: this.config.maxResponseBytes,
      agent: this.agent,
      signal: this.abort.signal,
    })
    if (answer.status < 200 || answer.status > 299) throw new HttpExchangeError(`HTTP ${answer.status}`, 'error')
    return decisionOf(jsonObject(answer), answer.body.length * 2)
  }

  #judge(decision: Decision, credentials: Credentials): AuthOutcome {
    if (decision.result === 'ignore') return this.counts.ignore(undefined, credentials)
    if (decision.result === 'deny') return this.counts.deny(new PortcullisError('ERR_AUTH_SERVICE_DENIED', 'the HTTP auth service denied the client'), credentials)
    if (decision.expiresAt !== undefined && decision.expiresAt <= clock.now()) {
      return this.counts.deny(new PortcullisError('ERR_AUTH_SERVICE_DENIED', `the HTTP auth service's allow expired at ${new Date(decision.expiresAt).toISOString()}`), credentials)
    }
    const identity: Identity = {
      authenticator: this.name,
      anonymous: false,
      claims: decision.claims,
      ...(decision.expiresAt !== undefined ? { expiresAt: decision.expiresAt } : {}),
      disconnectOnExpiry: this.config.disconnectOnExpiry,
    }
    return this.counts.allow(identity, credentials)
  }

  /**
   * For `token inspect` and the admin token check: the token is sent as the password (with
   * the context's client id and username), and the service's answer explained. Counters are
   * not touched; nothing is cached.
   */
  async inspect(token: string, context: { clientId?: string; username?: string } = {}): Promise<AuthenticatorReport> {
    const base = { name: this.name, type: this.type, enabled: this.enabled }
    const credentials: Credentials = {
      clientId: context.clientId ?? '', username: context.username, password: Buffer.from(token), authMethod: undefined, authData: undefined,
      protocolVersion: 5, remoteAddress: '127.0.0.1', reauth: false,
    }
    const t0 = performance.now()
    let decision: Decision
    try {
      decision = await this.#request(this.#body(credentials))
    } catch (err) {
      const e = new PortcullisError('ERR_AUTH_SERVICE_UNAVAILABLE', `${this.url.host}: ${(err as Error).message}`)
      return { ...base, outcome: 'ignore', code: e.code, message: e.message, steps: [{ check: 'service', ok: false, detail: e.message, code: e.code }] }
    }
    const took = `${Math.round(performance.now() - t0)} ms`
    const detail = `${this.url.host} answered result: ${decision.result} (${took}; the token sent as \${password})`
    if (decision.result === 'ignore') return { ...base, outcome: 'ignore', steps: [{ check: 'service', ok: false, detail }] }
    if (decision.result === 'deny') {
      return { ...base, outcome: 'deny', code: 'ERR_AUTH_SERVICE_DENIED', message: 'the HTTP auth service denied the client', steps: [{ check: 'service', ok: false, detail, code: 'ERR_AUTH_SERVICE_DENIED' }] }
    }
    const fields = Object.keys(decision.claims)
    return { ...base, outcome: 'allow', steps: [{ check: 'service', ok: true, detail: `${detail}${fields.length > 0 ? `; fields: ${fields.join(', ')}` : ''}` }] }
  }
}
