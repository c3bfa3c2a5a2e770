/**
 * `type: introspection`: OAuth 2.0 Token Introspection (RFC 7662). The token a client
 * presents (username, password, or MQTT 5 Authentication Data under `authMethod`) is POSTed
 * to the authorization server; an active answer is treated like a verified JWT's claims set:
 * the same claims checks, placeholders, ACL and superuser claims, and disconnection at `exp`.
 *
 *   no token in my field                     → ignore (no error)
 *   token too large                          → ignore + ERR_JWT_TOO_LARGE
 *   endpoint down, slow, erroring, garbage   → ignore + ERR_AUTH_SERVICE_UNAVAILABLE (0x88 when no one
 *                                              accepts; never an allow)
 *   `active: false`                          → ignore + ERR_TOKEN_INACTIVE (0x86 when no one
 *                                              accepts: the token may be another issuer's)
 *   active, a claims check fails             → deny + the check's ERR_JWT_* (the chain stops)
 *   active, all good                         → allow, identity with the answer as claims
 *
 * Answers are cached by the token's SHA-256 (never the token) until `exp`, at most
 * cacheMaxTtl seconds; concurrent CONNECTs with the same token share one request.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { PortcullisError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { deepFreeze } from '../deep-freeze.js'
import { describeIdentity, identityFromClaims } from '../identity.js'
import { compileMatch, evaluateClaims, type ClaimCheck, type ClaimContext, type CompiledMatch } from '../jwt/claims.js'
import type { AuthenticatorReport, ManagedAuthenticator } from '../managed.js'
import { SingleFlight } from '../remote/answer-cache.js'
import { HttpExchangeError, httpExchange, jsonObject } from '../remote/http-exchange.js'
import { ServiceAuthenticator } from '../remote/service-authenticator.js'
import type { AuthOutcome, Credentials, Identity, PeerCertificate } from '../types.js'
import { INTROSPECTION_DEFAULTS, type IntrospectionAuthenticatorConfig } from './config.js'
import { clock, nowSeconds } from '../../clock.js'

/** An introspection answer: active with its (frozen) claims, or inactive. */
type Answer =
  | { readonly active: true; readonly claims: Readonly<Record<string, unknown>>; readonly bytes: number }
  | { readonly active: false; readonly bytes: number }

/** What the answer cache may hold per authenticator (entries are also bounded by cacheSize). */

export interface IntrospectionOptions {
  readonly logger: Logger
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2)
}

export class IntrospectionAuthenticator extends ServiceAuthenticator<Answer> implements ManagedAuthenticator {
  readonly type = 'introspection' as const
  readonly authMethods: readonly string[]
  readonly tokenFrom: 'username' | 'password'
  readonly config: IntrospectionAuthenticatorConfig
  readonly #match: readonly CompiledMatch[]
  readonly #flights = new SingleFlight<Answer>()

  constructor(config: IntrospectionAuthenticatorConfig, options: IntrospectionOptions) {
    super(config, { url: config.endpoint, logger: options.logger, service: 'introspection endpoint', cacheEntries: config.cacheMaxTtl === 0 ? 0 : config.cacheSize })
    this.config = config
    this.tokenFrom = config.from
    this.authMethods = Object.freeze([config.authMethod])
    this.#match = compileMatch(config.claims.match)
  }

  authenticate(credentials: Credentials): AuthOutcome | Promise<AuthOutcome> {
    const read = this.#readToken(credentials)
    if (read === undefined) return this.#ignored(undefined, credentials)
    if (read instanceof PortcullisError) return this.#ignored(read, credentials)
    const id = createHash('sha256').update(read).digest('base64')
    const cached = this.cache.get(id, clock.now())
    if (cached !== undefined) {
      if (credentials.uncounted !== true) this.cacheHits++
      return this.#judge(cached, credentials)
    }
    return this.#flights.run(id, () => this.#introspect(read, id)).then(
      (answer) => this.#judge(answer, credentials),
      (err: unknown) => this.#ignored(err instanceof PortcullisError ? err : new PortcullisError('ERR_AUTH_SERVICE_UNAVAILABLE', 'introspection failed', { cause: err }), credentials),
    )
  }

  /** One request (shared by concurrent CONNECTs with the token); remembers the answer. */
  async #introspect(token: string, id: string): Promise<Answer> {
    const t0 = performance.now()
    try {
      const answer = await this.#request(token)
      this.health.succeeded(t0)
      const now = clock.now()
      const maxTtl = this.config.cacheMaxTtl * 1000
      if (answer.active) {
        const exp = answer.claims['exp']
        this.cache.set(id, answer, answer.bytes, typeof exp === 'number' ? Math.min(exp * 1000, now + maxTtl) : now + maxTtl, now)
      } else {
        this.cache.set(id, answer, answer.bytes, now + Math.min(maxTtl, INTROSPECTION_DEFAULTS.inactiveTtl * 1000), now)
      }
      return answer
    } catch (err) {
      this.health.failed(err instanceof HttpExchangeError ? err.kind : 'error', t0, (err as Error).message)
      throw new PortcullisError('ERR_AUTH_SERVICE_UNAVAILABLE', `introspection failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** POST token=…&token_type_hint=access_token (RFC 7662 §2.1) with the broker's client credentials. */
  async #request(token: string): Promise<Answer> {
    const c = this.config
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' })
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      'user-agent': 'portcullis-introspection',
    }
    if (c.clientAuth === 'basic') {
      headers['authorization'] = `Basic ${Buffer.from(`${formEncode(c.clientId)}:${formEncode(c.clientSecret)}`).toString('base64')}`
    } else {
      form.set('client_id', c.clientId)
      form.set('client_secret', c.clientSecret)
    }
    const answer = await httpExchange(this.url, {
      method: 'POST', headers, body: form.toString(), timeoutMs: this.timeoutMs, maxBytes: c.maxResponseBytes,
      agent: this.agent, signal: this.abort.signal,
    })
    if (answer.status === 401 || answer.status === 403) {
      throw new HttpExchangeError(`HTTP ${answer.status}: the endpoint refused the broker's client credentials (clientId, clientSecret, clientAuth)`, 'rejected')
    }
    if (answer.status !== 200) throw new HttpExchangeError(`HTTP ${answer.status}`, 'error')
    const doc = jsonObject(answer)
    const active = doc['active']
    // A parsed JSON object keeps about twice its text alive (UTF-16 strings, object shapes).
    const bytes = answer.body.length * 2
    if (active === false) return { active: false, bytes }
    if (active !== true) throw new HttpExchangeError('answer has no boolean "active" (RFC 7662 §2.2)', 'rejected')
    return { active: true, claims: deepFreeze(doc), bytes }
  }

  #judge(answer: Answer, credentials: Credentials): AuthOutcome {
    if (!answer.active) return this.#ignored(new PortcullisError('ERR_TOKEN_INACTIVE', 'the authorization server says the token is not active'), credentials)
    const context = this.#claimContext(credentials.clientId, credentials.username, credentials.certificate)
    const failure = evaluateClaims(answer.claims, this.config.claims, this.#match, context, nowSeconds())
    if (failure !== undefined) return this.counts.deny(failure, credentials)
    const claimed = identityFromClaims(this.config.identity, answer.claims)
    if (claimed instanceof PortcullisError) return this.counts.deny(claimed, credentials)
    const exp = answer.claims['exp']
    const identity: Identity = {
      ...claimed,
      authenticator: this.name,
      anonymous: false,
      claims: answer.claims,
      ...(typeof exp === 'number' ? { expiresAt: exp * 1000 } : {}),
      disconnectOnExpiry: this.config.disconnectOnExpiry,
    }
    return this.counts.allow(identity, credentials)
  }

  #ignored(error: PortcullisError | undefined, credentials: Credentials): AuthOutcome {
    return this.counts.ignore(error, credentials)
  }

  #claimContext(clientId: string, username: string | undefined, certificate?: PeerCertificate): ClaimContext {
    return { clientId, username: this.config.from === 'username' ? undefined : username, certificate }
  }

  /** The token a client presented to this authenticator, if any. Never logged. */
  #readToken(c: Credentials): string | PortcullisError | undefined {
    const max = this.config.maxTokenBytes
    let bytes: Buffer | string | undefined
    if (c.authMethod !== undefined) {
      if (c.authMethod !== this.config.authMethod) return undefined
      if (c.authData === undefined || c.authData.length === 0) {
        return new PortcullisError('ERR_AUTH_NO_CREDENTIALS', `authentication method ${this.config.authMethod} without a token in the authentication data`)
      }
      bytes = c.authData
    } else if (this.config.from === 'username') {
      bytes = c.username === '' ? undefined : c.username
    } else {
      bytes = c.password === undefined || c.password.length === 0 ? undefined : c.password
    }
    if (bytes === undefined) return undefined
    if (Buffer.byteLength(bytes) > max) return new PortcullisError('ERR_JWT_TOO_LARGE', `token is larger than ${max} bytes`)
    return typeof bytes === 'string' ? bytes : bytes.toString('utf8')
  }

  /**
   * Check-by-check evaluation for `portcullis token inspect` and the admin token check: asks
   * the endpoint (a fresh request, not the cache), then runs the claims checks. Counters are
   * not touched.
   */
  async inspect(token: string, context: { clientId?: string; username?: string } = {}): Promise<AuthenticatorReport> {
    const steps: ClaimCheck[] = []
    const base = { name: this.name, type: this.type, enabled: this.enabled }
    const stop = (outcome: 'deny' | 'ignore', error: PortcullisError): AuthenticatorReport => ({ ...base, outcome, code: error.code, message: error.message, steps })
    const bytes = Buffer.byteLength(token)
    if (bytes > this.config.maxTokenBytes) {
      steps.push({ check: 'size', ok: false, detail: `${bytes} bytes > maxTokenBytes ${this.config.maxTokenBytes}`, code: 'ERR_JWT_TOO_LARGE' })
      return stop('ignore', new PortcullisError('ERR_JWT_TOO_LARGE'))
    }
    steps.push({ check: 'size', ok: true, detail: `${bytes} bytes (limit ${this.config.maxTokenBytes})` })
    let answer: Answer
    const t0 = performance.now()
    try {
      answer = await this.#request(token)
    } catch (err) {
      const e = new PortcullisError('ERR_AUTH_SERVICE_UNAVAILABLE', `introspection at ${this.url.host} failed: ${(err as Error).message}`)
      steps.push({ check: 'introspection', ok: false, detail: e.message, code: e.code })
      return stop('ignore', e)
    }
    const took = `${Math.round(performance.now() - t0)} ms`
    if (!answer.active) {
      const e = new PortcullisError('ERR_TOKEN_INACTIVE', 'the authorization server says the token is not active')
      steps.push({ check: 'introspection', ok: false, detail: `${this.url.host} answered active: false (${took})`, code: e.code })
      return stop('ignore', e)
    }
    const shown = ['sub', 'client_id', 'scope'].filter((k) => typeof answer.claims[k] === 'string').map((k) => `${k} ${JSON.stringify(answer.claims[k])}`)
    steps.push({ check: 'introspection', ok: true, detail: `${this.url.host} answered active: true (${took})${shown.length > 0 ? `; ${shown.join(', ')}` : ''}` })
    const failure = evaluateClaims(answer.claims, this.config.claims, this.#match, this.#claimContext(context.clientId ?? '', context.username), nowSeconds(), steps)
    if (failure !== undefined) return stop('deny', failure)
    const claimed = identityFromClaims(this.config.identity, answer.claims)
    if (claimed instanceof PortcullisError) {
      steps.push({ check: 'identity', ok: false, detail: claimed.message, code: claimed.code })
      return stop('deny', claimed)
    }
    if (this.config.identity === undefined) return { ...base, outcome: 'allow', steps }
    steps.push({ check: 'identity', ok: true, detail: describeIdentity(claimed) })
    return { ...base, outcome: 'allow', steps, identity: claimed }
  }
}
