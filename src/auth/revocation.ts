/**
 * Token revocation: an operator cuts off a leaked or withdrawn token before its `exp`.
 *
 *   { jti }                  the one token with that `jti`
 *   { sub }                  every token of that subject
 *   { sub, issuedBefore }    the subject's tokens with `iat` before that time (a token
 *                            without `iat` counts as issued before)
 *
 * Checked after an authenticator accepted (CONNECT and re-authentication), in O(1): one map
 * per kind. An entry ends at `expiresAt`, once no token it covers can still be valid (see
 * `revocationExpiry`); it is then dropped.
 */
import { randomUUID } from 'node:crypto'
import { absent, isMapping } from '../config/check.js'
import { PortcullisError } from '../errors.js'
import { clock } from '../clock.js'

export type RevocationKind = 'jti' | 'sub' | 'issuedBefore'

export interface Revocation {
  readonly id: string
  readonly kind: RevocationKind
  /** The jti or the subject. */
  readonly value: string
  /** issuedBefore: epoch seconds; tokens with an earlier iat are revoked. */
  readonly issuedBefore?: number
  /** Epoch ms after which the entry covers no token that can still be valid (dropped then). */
  readonly expiresAt?: number
  readonly reason?: string
  readonly createdAt: number
}

/** Where revocations are kept across restarts. */
export interface RevocationStore {
  loadRevocations(): Revocation[]
  addRevocation(entry: Revocation): void
  removeRevocations(ids: readonly string[]): void
}

/** Thrown for a bad revocation request; `path` names the field. */
export class RevocationInputError extends Error {
  readonly path: string
  constructor(path: string, message: string) {
    super(`${path}: ${message}`)
    this.path = path
  }
}

const INPUT_KEYS = ['jti', 'sub', 'issuedBefore', 'exp', 'reason']
const MAX_VALUE = 1024

/** A time given as epoch seconds or an ISO 8601 date → epoch seconds. */
function seconds(value: unknown, path: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value < 8.64e12) return Math.floor(value)
  if (typeof value === 'string' && value !== '') {
    const ms = Date.parse(value)
    if (Number.isFinite(ms)) return Math.floor(ms / 1000)
  }
  throw new RevocationInputError(path, 'must be epoch seconds or an ISO 8601 date')
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_VALUE) throw new RevocationInputError(path, `must be a non-empty string of at most ${MAX_VALUE} characters`)
  return value
}

/** What a revocation request asks for, validated (before its expiry is decided). */
export interface RevocationRequest {
  readonly kind: RevocationKind
  readonly value: string
  readonly issuedBefore?: number
  /** jti: the token's exp (epoch seconds), when known. */
  readonly exp?: number
  readonly reason?: string
}

/**
 * Parses `{ jti, exp? }`, `{ sub }` or `{ sub, issuedBefore }` (+ `reason`). `issuedBefore: "now"`
 * is the time of the request.
 */
export function parseRevocationRequest(body: unknown, now = clock.now()): RevocationRequest {
  if (!isMapping(body)) throw new RevocationInputError('body', 'must be a mapping { jti } | { sub } | { sub, issuedBefore }')
  for (const key of Object.keys(body)) {
    if (!INPUT_KEYS.includes(key)) throw new RevocationInputError(key, `unknown key (expected one of: ${INPUT_KEYS.join(', ')})`)
  }
  const reason = absent(body['reason']) ? undefined : text(body['reason'], 'reason')
  const extra = reason !== undefined ? { reason } : {}
  if (!absent(body['jti'])) {
    if (!absent(body['sub']) || !absent(body['issuedBefore'])) throw new RevocationInputError('jti', 'revoke by jti, or by sub (with issuedBefore), not both')
    const exp = absent(body['exp']) ? undefined : seconds(body['exp'], 'exp')
    return { kind: 'jti', value: text(body['jti'], 'jti'), ...(exp !== undefined ? { exp } : {}), ...extra }
  }
  if (absent(body['sub'])) throw new RevocationInputError('body', 'names nothing to revoke (jti, or sub with an optional issuedBefore)')
  if (!absent(body['exp'])) throw new RevocationInputError('exp', 'is only used with jti')
  const sub = text(body['sub'], 'sub')
  if (absent(body['issuedBefore'])) return { kind: 'sub', value: sub, ...extra }
  const before = body['issuedBefore'] === 'now' ? Math.floor(now / 1000) : seconds(body['issuedBefore'], 'issuedBefore')
  return { kind: 'issuedBefore', value: sub, issuedBefore: before, ...extra }
}

/**
 * When an entry stops mattering (epoch ms), given the longest a token may live
 * (`maxLifetime`, seconds: the largest `claims.maxAge` when every token authenticator sets
 * one; undefined when some token may live for ever):
 *   jti           the token's exp when given, else now + maxLifetime
 *   issuedBefore  issuedBefore + maxLifetime
 *   sub           never (until deleted)
 */
export function revocationExpiry(request: RevocationRequest, maxLifetime: number | undefined, now = clock.now()): number | undefined {
  switch (request.kind) {
    case 'jti':
      if (request.exp !== undefined) return request.exp * 1000
      return maxLifetime === undefined ? undefined : now + maxLifetime * 1000
    case 'issuedBefore':
      return maxLifetime === undefined ? undefined : ((request.issuedBefore ?? 0) + maxLifetime) * 1000
    case 'sub':
      return undefined
  }
}

export function revocationFromRequest(request: RevocationRequest, maxLifetime: number | undefined, now = clock.now()): Revocation {
  const expiresAt = revocationExpiry(request, maxLifetime, now)
  return {
    id: randomUUID(),
    kind: request.kind,
    value: request.value,
    createdAt: now,
    ...(request.issuedBefore !== undefined ? { issuedBefore: request.issuedBefore } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(request.reason !== undefined ? { reason: request.reason } : {}),
  }
}

/** The error a revoked token is refused with (and that `token inspect` shows). */
export function revokedError(entry: Revocation): PortcullisError {
  const what = entry.kind === 'jti'
    ? `its jti ${JSON.stringify(entry.value)} was revoked`
    : entry.kind === 'sub'
      ? `tokens of subject ${JSON.stringify(entry.value)} are revoked`
      : `tokens of subject ${JSON.stringify(entry.value)} issued before ${new Date((entry.issuedBefore ?? 0) * 1000).toISOString()} are revoked`
  return new PortcullisError('ERR_TOKEN_REVOKED', `token revoked: ${what}${entry.reason !== undefined ? ` (${entry.reason})` : ''}`)
}

/** The revocations in force, indexed for an O(1) check per CONNECT. */
export class RevocationList {
  readonly #byId = new Map<string, Revocation>()
  readonly #jti = new Map<string, Revocation>()
  readonly #sub = new Map<string, Revocation>()
  /** subject → the latest issuedBefore entry (a later cut-off covers every earlier one). */
  readonly #before = new Map<string, Revocation[]>()
  readonly #store: RevocationStore | undefined

  constructor(store?: RevocationStore) {
    this.#store = store
    for (const entry of store?.loadRevocations() ?? []) this.#index(entry)
    this.prune()
  }

  get size(): number {
    return this.#byId.size
  }

  list(): Revocation[] {
    return [...this.#byId.values()].sort((a, b) => a.createdAt - b.createdAt)
  }

  get(id: string): Revocation | undefined {
    return this.#byId.get(id)
  }

  /** Adds (and stores) an entry. The store is written first: nothing is in force that a restart would lose. */
  add(entry: Revocation): void {
    // One entry per jti and per subject: a new one replaces the old (its expiry and reason).
    const same = this.replaces(entry)
    this.#store?.addRevocation(entry)
    if (same !== undefined) {
      this.#store?.removeRevocations([same.id])
      this.#unindex(same)
    }
    this.#index(entry)
  }

  /** The entry `entry` would replace (one entry per jti and per subject), if any. */
  replaces(entry: Revocation): Revocation | undefined {
    return entry.kind === 'jti' ? this.#jti.get(entry.value) : entry.kind === 'sub' ? this.#sub.get(entry.value) : undefined
  }

  /**
   * Makes `entries` the list (a cluster's shared list): what is new is added, what is gone
   * removed, in the store too. Returns how many entries were added.
   */
  replaceAll(entries: readonly Revocation[], now = clock.now()): number {
    // (Entries past their expiry are not taken: no node enforces them any more.)
    const next = new Map(entries.filter((e) => e.expiresAt === undefined || e.expiresAt > now).map((e) => [e.id, e]))
    const gone = [...this.#byId.keys()].filter((id) => !next.has(id))
    if (gone.length > 0) this.#store?.removeRevocations(gone)
    for (const id of gone) this.#unindex(this.#byId.get(id) as Revocation)
    let added = 0
    for (const entry of next.values()) {
      if (this.#byId.has(entry.id)) continue
      this.#store?.addRevocation(entry)
      this.#index(entry)
      added++
    }
    return added
  }

  remove(id: string): boolean {
    const entry = this.#byId.get(id)
    if (entry === undefined) return false
    this.#store?.removeRevocations([id])
    this.#unindex(entry)
    return true
  }

  /** Drops entries past their expiry. */
  prune(now = clock.now()): number {
    const gone = this.expired(now)
    if (gone.length === 0) return 0
    this.#store?.removeRevocations(gone.map((e) => e.id))
    for (const e of gone) this.#unindex(e)
    return gone.length
  }

  /** The entries past their expiry (prune drops them). */
  expired(now = clock.now()): Revocation[] {
    return [...this.#byId.values()].filter((e) => e.expiresAt !== undefined && e.expiresAt <= now)
  }

  /** The entry that revokes a token with these claims, if any. */
  match(claims: Readonly<Record<string, unknown>> | undefined, now = clock.now()): Revocation | undefined {
    if (claims === undefined || this.#byId.size === 0) return undefined
    const live = (e: Revocation | undefined): Revocation | undefined => (e !== undefined && (e.expiresAt === undefined || e.expiresAt > now) ? e : undefined)
    const jti = claims['jti']
    if (typeof jti === 'string') {
      const hit = live(this.#jti.get(jti))
      if (hit !== undefined) return hit
    }
    const sub = claims['sub']
    if (typeof sub !== 'string') return undefined
    const bySub = live(this.#sub.get(sub))
    if (bySub !== undefined) return bySub
    const cutoffs = this.#before.get(sub)
    if (cutoffs === undefined) return undefined
    const iat = claims['iat']
    for (const e of cutoffs) {
      if (live(e) !== undefined && (typeof iat !== 'number' || iat < (e.issuedBefore ?? 0))) return e
    }
    return undefined
  }

  #index(entry: Revocation): void {
    this.#byId.set(entry.id, entry)
    if (entry.kind === 'jti') this.#jti.set(entry.value, entry)
    else if (entry.kind === 'sub') this.#sub.set(entry.value, entry)
    else {
      const list = this.#before.get(entry.value) ?? []
      list.push(entry)
      // latest cut-off first: it is the one most likely to match
      list.sort((a, b) => (b.issuedBefore ?? 0) - (a.issuedBefore ?? 0))
      this.#before.set(entry.value, list)
    }
  }

  #unindex(entry: Revocation): void {
    this.#byId.delete(entry.id)
    if (entry.kind === 'jti') {
      if (this.#jti.get(entry.value) === entry) this.#jti.delete(entry.value)
    } else if (entry.kind === 'sub') {
      if (this.#sub.get(entry.value) === entry) this.#sub.delete(entry.value)
    } else {
      const list = (this.#before.get(entry.value) ?? []).filter((e) => e !== entry)
      if (list.length === 0) this.#before.delete(entry.value)
      else this.#before.set(entry.value, list)
    }
  }
}
