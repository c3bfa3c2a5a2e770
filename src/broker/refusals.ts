/**
 * "Why was this client refused?": a bounded ring of the most recent refused CONNECTs, kept in
 * memory for the admin API and console. An entry names the client, where it came from, the
 * authenticator whose reason was given, the reason code and text, and the token's unverified
 * `sub`/`iss`/`kid`/`exp` — never the token itself.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { clock } from '../clock.js'

/** How many refusals are kept; the oldest is dropped first. */
export const REFUSALS_KEPT = 1000
/** Longer credentials are not decoded for the record (the verifier refuses them anyway). */
const MAX_DECODED_TOKEN_BYTES = 16 * 1024

/** What the token said about itself (read without verifying it: for diagnosis only). */
export interface RefusedToken {
  readonly sub?: string
  readonly iss?: string
  readonly kid?: string
  readonly exp?: number
}

export interface RefusalRecord {
  /** ISO 8601. */
  readonly time: string
  readonly clientId: string
  readonly address: string
  readonly listener: string
  readonly protocolVersion: number
  /** The authenticator whose reason was given, when one was. */
  readonly authenticator?: string
  /** Stable error code (ERR_…). */
  readonly code: string
  /** MQTT 5 reason code sent in CONNACK (a 3.1.1 client got the return code derived from it). */
  readonly reasonCode: number
  readonly reason: string
  readonly token?: RefusedToken
  /** The same refusal repeated (same client id, address, listener and code, each within
   *  REPEAT_WINDOW_MS of the previous): how many times, and the last time. */
  readonly count?: number
  readonly lastTime?: string
}

/** Repeats of one refusal closer than this are counted on one entry, so one client retrying
 *  (or a flood over the connection rate) cannot push every other refusal out of the ring. */
export const REPEAT_WINDOW_MS = 10_000

export interface RefusalFilter {
  readonly clientId?: string
  readonly address?: string
  /** An error code (ERR_…) or a reason code (decimal or 0x hex). */
  readonly reason?: string
  /** Epoch milliseconds: only refusals at or after it. */
  readonly since?: number
}

/**
 * The token's unverified claims worth showing, from the first credential (username, password,
 * authentication data) that is a JWT; undefined when none is.
 */
export function describeRefusedToken(...credentials: (Buffer | string | undefined)[]): RefusedToken | undefined {
  for (const c of credentials) {
    const token = describeOne(c)
    if (token !== undefined) return token
  }
  return undefined
}

function describeOne(credential: Buffer | string | undefined): RefusedToken | undefined {
  if (credential === undefined || credential.length === 0 || credential.length > MAX_DECODED_TOKEN_BYTES) return undefined
  const token = typeof credential === 'string' ? credential : credential.toString('utf8')
  try {
    const claims = decodeJwt(token)
    const header = decodeProtectedHeader(token)
    const out: { sub?: string; iss?: string; kid?: string; exp?: number } = {}
    if (typeof claims.sub === 'string') out.sub = claims.sub.slice(0, 256)
    if (typeof claims.iss === 'string') out.iss = claims.iss.slice(0, 256)
    if (typeof header.kid === 'string') out.kid = header.kid.slice(0, 256)
    if (typeof claims.exp === 'number' && Number.isFinite(claims.exp)) out.exp = claims.exp
    return out
  } catch {
    return undefined
  }
}

export class RefusalLog {
  readonly #capacity: number
  /** `at`: when it was last seen (the `since` filter reads it). */
  readonly #ring: (RefusalRecord & { readonly at: number })[] = []
  #next = 0

  constructor(capacity = REFUSALS_KEPT) {
    this.#capacity = capacity
  }

  record(entry: Omit<RefusalRecord, 'time' | 'count' | 'lastTime'>, now = clock.now()): RefusalRecord {
    const newest = this.#ring.length === 0 ? undefined : (this.#next - 1 + this.#ring.length) % this.#ring.length
    const last = newest === undefined ? undefined : this.#ring[newest]
    if (last !== undefined && newest !== undefined && now - last.at < REPEAT_WINDOW_MS && last.code === entry.code && last.clientId === entry.clientId &&
        last.address === entry.address && last.listener === entry.listener && last.reason === entry.reason) {
      const repeated = { ...last, count: (last.count ?? 1) + 1, lastTime: new Date(now).toISOString(), at: now }
      this.#ring[newest] = repeated
      return repeated
    }
    const full = { ...entry, time: new Date(now).toISOString(), at: now }
    if (this.#ring.length < this.#capacity) this.#ring.push(full)
    else this.#ring[this.#next] = full
    this.#next = (this.#next + 1) % this.#capacity
    return full
  }

  get size(): number {
    return this.#ring.length
  }

  /** Matching refusals, newest first. */
  list(filter: RefusalFilter = {}, limit = this.#capacity): RefusalRecord[] {
    const out: RefusalRecord[] = []
    const reason = filter.reason === undefined ? undefined : parseReason(filter.reason)
    for (let i = 1; i <= this.#ring.length && out.length < limit; i++) {
      const r = this.#ring[(this.#next - i + this.#ring.length * 2) % this.#ring.length]
      if (filter.since !== undefined && r.at < filter.since) continue
      if (filter.clientId !== undefined && !r.clientId.includes(filter.clientId)) continue
      if (filter.address !== undefined && !r.address.includes(filter.address)) continue
      if (reason !== undefined && (typeof reason === 'number' ? r.reasonCode !== reason : r.code !== reason)) continue
      const { at: _at, ...view } = r
      out.push(view)
    }
    return out
  }
}

function parseReason(text: string): string | number {
  if (/^0x[0-9a-f]{1,2}$/i.test(text)) return Number.parseInt(text.slice(2), 16)
  if (/^[0-9]{1,3}$/.test(text)) return Number(text)
  return text.toUpperCase()
}
