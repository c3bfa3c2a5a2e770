/**
 * The token authenticator behind `type: jwt` and `type: jwks`: reads the token from its
 * field (or MQTT 5 Authentication Method `JWT`), verifies the signature with the keys of
 * its key source, then checks the claims.
 *
 *   no token in my field                    → ignore (no error)
 *   not a JWS / too large / no key verifies → ignore + ERR_JWT_* (the next authenticator tries)
 *   no key set loaded yet (JWKS)            → ignore + ERR_JWKS_UNAVAILABLE (0x88 if no one accepts)
 *   signature verifies, a claim fails       → deny + the claim's ERR_JWT_* (the chain stops)
 *   all good                                → allow, identity with claims and expiresAt
 */
import * as nodeCrypto from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { BoundedCache, NO_USAGE, type CacheUsage } from '../../bounded-cache.js'
import { PortcullisError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { bindClientId, describeIdentity, identityFromClaims, type ClaimedIdentity } from '../identity.js'
import type { AuthOutcome, Authenticator, Credentials, Identity, PeerCertificate, Relevance } from '../types.js'
import type { KeySource, KeySourceStatus } from '../jwks/source.js'
import { deepFreeze } from '../deep-freeze.js'
import type { JwsAlgorithm } from './algorithms.js'
import { compileMatch, evaluateClaims, type ClaimCheck, type ClaimContext, type CompiledMatch } from './claims.js'
import type { AuthenticatorConfig as JwtOrJwksConfig, TokenSource } from './config.js'
import type { DevicesAuthenticatorConfig } from '../devices/config.js'

/** The configurations of authenticators that verify a token's signature themselves. */
type AuthenticatorConfig = JwtOrJwksConfig | DevicesAuthenticatorConfig
import { decodeJws, decodePayload, printable, verifyWithKeys, type DecodedJws } from './jws.js'
import type { VerifyKey } from './keys.js'
import { nowSeconds } from '../../clock.js'
import type { AuthenticatorReport } from '../managed.js'

export const JWT_AUTH_METHOD = 'JWT'

export interface TokenAuthenticatorStats {
  readonly allow: number
  /** ERR_JWT_* code → count. */
  readonly deny: Readonly<Record<string, number>>
  /** ERR_* code (or 'no-credentials') → count. */
  readonly ignore: Readonly<Record<string, number>>
  /** Signature verifications run (cache hits excluded) and their total time. */
  readonly verifyCount: number
  readonly verifyMicrosTotal: number
  readonly cacheHits: number
}

export interface TokenAuthenticatorStatus extends KeySourceStatus {
  readonly name: string
  readonly type: 'jwt' | 'jwks' | 'devices'
  readonly enabled: boolean
}

/** One step of the token pipeline as `inspect` reports it (the claim checks' shape). */
export type InspectStep = ClaimCheck

/** A token authenticator's report on a token: its type is a token type, its key's alg a JWS algorithm. */
export interface AuthenticatorInspection extends AuthenticatorReport {
  readonly type: 'jwt' | 'jwks' | 'devices'
  /** The key that verified the signature (never key material). */
  readonly key?: { readonly index: number; readonly kid?: string; readonly description: string; readonly alg: JwsAlgorithm }
  readonly steps: readonly InspectStep[]
}

interface Verified {
  readonly payload: Readonly<Record<string, unknown>>
  readonly key: VerifyKey
  readonly alg: JwsAlgorithm
}

/** A token whose signature verified but whose payload is not a JWT claims set. */
interface Unreadable {
  readonly unreadable: PortcullisError
  readonly key: VerifyKey
  readonly alg: JwsAlgorithm
}

type TokenRead = { readonly token: string | Buffer } | { readonly error: PortcullisError } | undefined

/** What the token pipeline found, before it is counted (CONNECT) or reported (inspect). */
type Verdict =
  | { readonly result: 'allow'; readonly verified: Verified; readonly claimed: ClaimedIdentity }
  | { readonly result: 'deny'; readonly error: PortcullisError; readonly verified: Verified | Unreadable }
  | { readonly result: 'ignore'; readonly error: PortcullisError; readonly relevance: Relevance }

export interface TokenAuthenticatorOptions {
  readonly logger: Logger
  /** Overrides the config's `verifiedTokenCache` (entries; 0 disables). Claims are re-checked on every use. */
  readonly cacheSize?: number
}

/**
 * SHA-256 of a token as base64: node:crypto's one-shot `hash` (Node ≥ 20.12) costs a third of
 * a Hash object; older Node 20 releases fall back to createHash.
 */
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash
const sha256 = oneShotHash !== undefined
  ? (token: string): string => oneShotHash('sha256', token, 'base64')
  : (token: string): string => nodeCrypto.createHash('sha256').update(token).digest('base64')

/** Tokens longer than this are verified every time. */
const CACHE_MAX_TOKEN_CHARS = 2048
/** Bytes the verified-token cache of one authenticator may hold (10,000 RS256 tokens fit in half). */
export const VERIFIED_TOKEN_CACHE_BYTES = 64 * 1024 * 1024

export class TokenAuthenticator implements Authenticator {
  readonly name: string
  readonly type: 'jwt' | 'jwks' | 'devices'
  readonly enabled: boolean
  readonly authMethods: readonly string[] = Object.freeze([JWT_AUTH_METHOD])
  readonly tokenFrom: TokenSource
  readonly config: AuthenticatorConfig
  readonly #source: KeySource
  readonly #match: readonly CompiledMatch[]
  readonly #log: Logger
  readonly #cacheSize: number
  /**
   * Verified tokens in two generations of cacheSize entries each (BoundedCache): the last
   * cacheSize distinct tokens used are always there (a fleet of that size reconnecting in any
   * order hits every time) as long as they fit in half of VERIFIED_TOKEN_CACHE_BYTES, and a
   * miss costs one insertion (no per-insert eviction).
   */
  readonly #cache: BoundedCache<Verified> | undefined
  #cacheGeneration = -1
  #allow = 0
  readonly #deny: Record<string, number> = {}
  readonly #ignore: Record<string, number> = {}
  #verifyCount = 0
  #verifyMicros = 0
  #cacheHits = 0

  constructor(config: AuthenticatorConfig, source: KeySource, options: TokenAuthenticatorOptions) {
    this.config = config
    this.name = config.name
    this.type = config.type
    this.enabled = config.enabled
    this.tokenFrom = config.from
    this.#source = source
    this.#match = compileMatch(config.claims.match)
    this.#log = options.logger.child({ authenticator: config.name })
    this.#cacheSize = options.cacheSize ?? config.verifiedTokenCache
    this.#cache = this.#cacheSize > 0 ? new BoundedCache(2 * this.#cacheSize, VERIFIED_TOKEN_CACHE_BYTES) : undefined
  }

  async start(): Promise<void> {
    if (this.enabled) await this.#source.start?.()
  }

  async close(): Promise<void> {
    await this.#source.close?.()
  }

  /**
   * Loads the key set again now (an operator's "refresh now"). Remote key sets are fetched
   * under the rules of a scheduled refresh: a failure keeps the last good set through the
   * grace period. Static keys (configured or pasted) have nothing to fetch. Resolves true
   * when a new key set arrived.
   */
  async refreshKeys(): Promise<boolean> {
    if (!this.enabled || this.#source.refresh === undefined) return false
    return this.#source.refresh('manual')
  }

  status(): TokenAuthenticatorStatus {
    const s = this.enabled ? this.#source.status() : { ...this.#source.status(), state: 'disabled' as const }
    return { name: this.name, type: this.type, enabled: this.enabled, ...s }
  }

  /** What the verified-token cache holds (for /metrics). */
  cacheUsage(): CacheUsage {
    return this.#cache?.usage ?? NO_USAGE
  }

  stats(): TokenAuthenticatorStats {
    return {
      allow: this.#allow,
      deny: { ...this.#deny },
      ignore: { ...this.#ignore },
      verifyCount: this.#verifyCount,
      verifyMicrosTotal: Math.round(this.#verifyMicros),
      cacheHits: this.#cacheHits,
    }
  }

  authenticate(credentials: Credentials): AuthOutcome | Promise<AuthOutcome> {
    const read = this.#readToken(credentials)
    if (read === undefined) return this.#ignored(undefined, credentials)
    if ('error' in read) return this.#ignored(read.error, credentials)
    const ctx = this.#claimContext(credentials.clientId, credentials.username, credentials.certificate)
    const verdict = this.#evaluate(read.token, ctx, undefined, credentials.uncounted !== true)
    return verdict instanceof Promise
      ? verdict.then((v) => this.#outcome(v, credentials))
      : this.#outcome(verdict, credentials)
  }

  /**
   * Check-by-check evaluation of a token, for `portcullis token inspect` and the admin API:
   * the same pipeline as a CONNECT (same size measure, same key refresh rules, same checks,
   * same answer), with every step reported. Counters are not touched; nothing is logged.
   */
  async inspect(token: string, context: { clientId?: string; username?: string } = {}): Promise<AuthenticatorInspection> {
    const steps: InspectStep[] = []
    let v = await this.#evaluate(token, this.#claimContext(context.clientId ?? '', context.username), steps)
    // The client id a CONNECT would carry, against the one the token names (as the broker binds it).
    if (v.result === 'allow' && context.clientId !== undefined) {
      const binding = bindClientId(context.clientId, v.claimed)
      if (binding !== undefined) {
        if (binding.ok) steps.push({ check: 'client id', ok: true, detail: binding.assigned ? `${JSON.stringify(binding.clientId)} (from the token)` : 'the one the token names' })
        else {
          steps.push({ check: 'client id', ok: false, detail: binding.error.message, code: binding.error.code })
          v = { result: 'deny', error: binding.error, verified: v.verified }
        }
      }
    }
    const verified = v.result === 'ignore' ? undefined : v.verified
    const key = verified === undefined ? undefined : {
      index: verified.key.index, description: verified.key.description, alg: verified.alg,
      ...(verified.key.kid !== undefined ? { kid: verified.key.kid } : {}),
    }
    return {
      name: this.name, type: this.type, enabled: this.enabled, outcome: v.result,
      ...(v.result !== 'allow' ? { code: v.error.code, message: v.error.message } : {}),
      ...(v.result === 'ignore' ? { relevance: v.relevance } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(v.result === 'allow' && this.config.identity !== undefined ? { identity: v.claimed } : {}),
      steps,
    }
  }

  /**
   * The token pipeline, shared by CONNECT (`authenticate`) and `inspect`: size → JWS format →
   * keys (refetched once when none are held or the kid is unknown) → signature → payload →
   * claims. With `report`, every step is recorded and nothing is counted (nor without `count`).
   * Answers without a promise unless keys must be fetched first.
   */
  #evaluate(token: string | Buffer, ctx: ClaimContext, report?: InspectStep[], count = report === undefined): Verdict | Promise<Verdict> {
    const max = this.config.maxTokenBytes
    const bytes = typeof token === 'string' ? Buffer.byteLength(token) : token.length
    if (bytes > max) {
      const error = new PortcullisError('ERR_JWT_TOO_LARGE', `token is ${bytes} bytes, larger than maxTokenBytes ${max}`)
      report?.push({ check: 'size', ok: false, detail: error.message, code: error.code })
      return { result: 'ignore', error, relevance: 0 }
    }
    report?.push({ check: 'size', ok: true, detail: `${bytes} bytes (limit ${max})` })
    const text = typeof token === 'string' ? token : token.toString('utf8')
    let jws: DecodedJws
    try {
      jws = decodeJws(text, max)
    } catch (err) {
      const error = err as PortcullisError
      report?.push({ check: 'format', ok: false, detail: error.message, code: error.code })
      // Not a JWS this authenticator can read (often: another authenticator's field held the token).
      return { result: 'ignore', error, relevance: 0 }
    }
    report?.push({ check: 'format', ok: true, detail: `JWS, alg ${printable(jws.alg)}${jws.kid !== undefined ? `, kid ${printable(jws.kid)}` : ''}` })

    // A device registry answers the keys of the token's device only (or why there are none).
    const picked = this.#source.keysFor?.(jws, ctx.clientId)
    if (picked instanceof PortcullisError) {
      report?.push({ check: 'device', ok: false, detail: picked.message, code: picked.code })
      return { result: 'ignore', error: picked, relevance: this.#relevance(jws, picked) }
    }
    if (picked !== undefined && picked.length > 0) report?.push({ check: 'device', ok: true, detail: `device ${JSON.stringify(picked[0].owner)}` })
    const keys = picked ?? this.#source.current()
    const verified = keys === undefined ? undefined : this.#verify(text, jws, keys, count)
    const retry = keys === undefined || (verified instanceof PortcullisError && verified.code === 'ERR_JWT_KID_UNKNOWN')
    if (this.#source.refresh === undefined || !retry) return this.#afterKeys(jws, keys, verified, ctx, report)
    const reason = keys === undefined ? 'unavailable' : 'kid'
    return this.#source.refresh(reason).then(() => {
      const fresh = this.#source.current()
      // An unknown kid still unknown after the refetch keeps its first answer.
      const again = fresh === undefined || (reason === 'kid' && fresh.every((k) => k.kid !== jws.kid))
        ? verified
        : this.#verify(text, jws, fresh, count)
      return this.#afterKeys(jws, fresh, again, ctx, report)
    })
  }

  /** The pipeline from the key set on: what the signature check found decides the rest. */
  #afterKeys(
    jws: DecodedJws,
    keys: readonly VerifyKey[] | undefined,
    verified: Verified | Unreadable | PortcullisError | undefined,
    ctx: ClaimContext,
    report?: InspectStep[],
  ): Verdict {
    if (keys === undefined) {
      const error = new PortcullisError('ERR_JWKS_UNAVAILABLE', `no key set loaded (${this.#source.status().lastError ?? 'not fetched yet'})`)
      report?.push({ check: 'keys', ok: false, detail: error.message, code: error.code })
      return { result: 'ignore', error, relevance: this.#relevance(jws, error) }
    }
    if (report !== undefined) {
      report.push({ check: 'keys', ok: true, detail: `${keys.length} key(s): ${keys.map((k) => `${k.kid ?? `#${k.index}`} ${k.description} [${[...k.algorithms].join(',')}]`).join('; ')}` })
    }
    if (verified === undefined || verified instanceof PortcullisError) {
      const error = verified ?? new PortcullisError('ERR_JWKS_UNAVAILABLE')
      report?.push({ check: 'signature', ok: false, detail: error.message, code: error.code })
      return { result: 'ignore', error, relevance: this.#relevance(jws, error) }
    }
    report?.push({ check: 'signature', ok: true, detail: `verified with key ${verified.key.kid ?? `#${verified.key.index}`} (${verified.key.description}) as ${verified.alg}` })
    if ('unreadable' in verified) {
      report?.push({ check: 'payload', ok: false, detail: verified.unreadable.message, code: verified.unreadable.code })
      return { result: 'deny', error: verified.unreadable, verified }
    }
    const failure = evaluateClaims(verified.payload, this.config.claims, this.#match, ctx, nowSeconds(), report)
    if (failure !== undefined) return { result: 'deny', error: failure, verified }
    const claimed = identityFromClaims(this.config.identity, verified.payload)
    if (claimed instanceof PortcullisError) {
      report?.push({ check: 'identity', ok: false, detail: claimed.message, code: claimed.code })
      return { result: 'deny', error: claimed, verified }
    }
    if (this.config.identity !== undefined) report?.push({ check: 'identity', ok: true, detail: describeIdentity(claimed) })
    return { result: 'allow', verified, claimed }
  }

  /**
   * How surely a token this authenticator passed on was meant for it (see Relevance). The
   * issuer is read from the unverified payload only to pick whose reason a refusal gives.
   */
  #relevance(jws: DecodedJws, error: PortcullisError): Relevance {
    const trusted = this.config.claims.issuer
    if (trusted !== undefined) {
      let iss: unknown
      try {
        iss = decodePayload(jws)['iss']
      } catch {
        iss = undefined
      }
      if (typeof iss === 'string' && trusted.includes(iss)) return 3
      return 0
    }
    switch (error.code) {
      case 'ERR_JWT_KID_UNKNOWN':
      case 'ERR_JWT_ALG_NOT_ALLOWED':
      case 'ERR_DEVICE_UNKNOWN':
        return 0
      // The token names a registered device: surely meant for this authenticator.
      case 'ERR_DEVICE_DISABLED':
      case 'ERR_DEVICE_KEY_EXPIRED':
        return 3
      case 'ERR_JWT_SIGNATURE_INVALID':
        return jws.kid !== undefined && !this.#source.kidless ? 2 : 1
      default:
        return 1
    }
  }

  /** A CONNECT's verdict as the chain's outcome, counted and logged. */
  #outcome(v: Verdict, credentials: Credentials): AuthOutcome {
    if (v.result === 'ignore') return this.#ignored(v.error, credentials, v.relevance)
    if (v.result === 'deny') return this.#denied(v.error, credentials)
    const verified = v.verified
    if (credentials.uncounted !== true) this.#allow++
    const exp = verified.payload['exp']
    const identity: Identity = {
      authenticator: this.name,
      anonymous: false,
      claims: verified.payload,
      ...v.claimed,
      ...(verified.key.owner !== undefined ? { device: deviceOf(verified.key, verified.key.owner) } : {}),
      ...(typeof exp === 'number' ? { expiresAt: exp * 1000 } : {}),
      disconnectOnExpiry: this.config.disconnectOnExpiry,
    }
    if (credentials.uncounted !== true && this.#log.isLevelEnabled('debug')) this.#log.debug({ clientId: credentials.clientId, kid: verified.key.kid, alg: verified.alg }, 'token accepted')
    return { result: 'allow', identity }
  }

  /** Signature verification (with the verified-token cache). */
  #verify(token: string, jws: DecodedJws, keys: readonly VerifyKey[], count: boolean): Verified | Unreadable | PortcullisError {
    // Entries are keyed by the token's SHA-256, so the cache keeps no bearer token that a memory
    // dump could replay; for HMAC tokens by the token itself: whoever can read this process's
    // memory has the secret and can mint tokens anyway, and hashing would cost as much as the
    // HMAC it saves. Large tokens are not kept.
    const useCache = this.#cacheSize > 0 && token.length <= CACHE_MAX_TOKEN_CHARS
    let id: string | undefined
    if (useCache) {
      if (this.#cacheGeneration !== this.#source.generation) {
        this.#cache?.clear()
        this.#cacheGeneration = this.#source.generation
      }
      id = jws.alg.startsWith('HS') ? token : sha256(token)
      const hit = this.#cache?.get(id)
      if (hit !== undefined) {
        if (count) this.#cacheHits++
        return hit
      }
    }
    const t0 = performance.now()
    const match = verifyWithKeys(jws, keys, this.#source.kidless)
    if (count) {
      this.#verifyMicros += (performance.now() - t0) * 1000
      this.#verifyCount++
    }
    if (!match.ok) return match.error
    let payload: Record<string, unknown>
    try {
      payload = decodePayload(jws)
    } catch (err) {
      // The signature verified, so the token is ours: a payload that is no claims object is refused.
      return { unreadable: err as PortcullisError, key: match.key, alg: match.alg }
    }
    const verified: Verified = { payload: deepFreeze(payload), key: match.key, alg: match.alg }
    // the decoded claims take about three times the token's text
    if (id !== undefined) this.#cache?.set(id, verified, token.length * 3)
    return verified
  }


  #denied(error: PortcullisError, credentials: Credentials): AuthOutcome {
    if (credentials.uncounted === true) return { result: 'deny', error }
    this.#deny[error.code] = (this.#deny[error.code] ?? 0) + 1
    this.#log.debug({ clientId: credentials.clientId, code: error.code, reason: error.message }, 'token refused')
    return { result: 'deny', error }
  }

  #ignored(error: PortcullisError | undefined, credentials: Credentials, relevance: Relevance = 1): AuthOutcome {
    if (credentials.uncounted === true) return error === undefined ? { result: 'ignore' } : { result: 'ignore', error, relevance }
    const reason = error?.code ?? 'no-credentials'
    this.#ignore[reason] = (this.#ignore[reason] ?? 0) + 1
    if (error === undefined) return { result: 'ignore' }
    this.#log.debug({ clientId: credentials.clientId, code: error.code, reason: error.message, relevance }, 'token not accepted by this authenticator')
    return { result: 'ignore', error, relevance }
  }

  #claimContext(clientId: string, username: string | undefined, certificate?: PeerCertificate): ClaimContext {
    // With the token in the username, ${username} has no meaning (config refuses it).
    return { clientId, username: this.config.from === 'username' ? undefined : username, certificate }
  }

  /** The token a client presented to this authenticator, if any. Never logged. */
  #readToken(c: Credentials): TokenRead {
    if (c.authMethod !== undefined) {
      if (c.authMethod !== JWT_AUTH_METHOD) return undefined
      if (c.authData === undefined || c.authData.length === 0) {
        return { error: new PortcullisError('ERR_AUTH_NO_CREDENTIALS', 'authentication method JWT without a token in the authentication data') }
      }
      return { token: c.authData }
    }
    // A token from the WebSocket upgrade stands for an empty field.
    if (this.config.from === 'username') {
      if (c.username === undefined || c.username === '') return c.upgradeToken === undefined ? undefined : { token: c.upgradeToken }
      return { token: c.username }
    }
    if (c.password === undefined || c.password.length === 0) return c.upgradeToken === undefined ? undefined : { token: c.upgradeToken }
    return { token: c.password }
  }
}

/** The device a device key verified a token for, with the key's expiry (the connection ends then). */
function deviceOf(key: VerifyKey, owner: string): NonNullable<Identity['device']> {
  return { id: owner, key: key.kid ?? '', ...(key.expiresAt !== undefined ? { keyExpiresAt: key.expiresAt } : {}) }
}
