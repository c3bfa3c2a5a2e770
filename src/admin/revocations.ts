/**
 * The revocations part of the admin API: list, revoke (by jti, by subject, or a subject's
 * tokens issued before a time), withdraw. A revocation is stored before it is in force and
 * disconnects the matching connected clients at once (MQTT 5: DISCONNECT 0x98
 * Administrative action; 3.1.1: the connection is closed). In a cluster the list is shared
 * (cluster/shared-revocations.ts): a change is stored in Redis first, and every node puts the
 * cluster's list in place of its own and disconnects its own matching clients.
 */
import type { ManagedAuthenticator } from '../auth/create.js'
import {
  parseRevocationRequest, revocationFromRequest, RevocationInputError, revokedError, type Revocation, type RevocationList,
} from '../auth/revocation.js'
import type { Broker } from '../broker/broker.js'
import type { Logger } from '../log.js'
import { SharedConfigError } from '../cluster/shared-versioned.js'
import type { SharedRevocations } from '../cluster/shared-revocations.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import { ApiError } from './errors.js'

export interface RevocationsAdminOptions {
  readonly broker: Broker
  readonly list: RevocationList
  readonly logger: Logger
  /** The live authenticators (their claims.maxAge bound how long a revocation must last). */
  readonly authenticators: () => readonly ManagedAuthenticator[]
}

/** A revocation as the API shows it (times as ISO 8601 too). */
export interface RevocationView extends Revocation {
  readonly expires: string | null
}

/** What POST answers: the entry and how many connected clients it disconnected. */
export interface RevocationResult {
  readonly revocation: RevocationView
  readonly disconnected: number
}

function view(r: Revocation): RevocationView {
  return { ...r, expires: r.expiresAt === undefined ? null : new Date(r.expiresAt).toISOString() }
}

/**
 * The longest a token accepted now may stay valid, in seconds: the largest `claims.maxAge`
 * (plus leeway) when every enabled authenticator bounds token age; undefined otherwise.
 */
export function longestTokenLife(authenticators: readonly ManagedAuthenticator[]): number | undefined {
  let longest = 0
  for (const a of authenticators) {
    if (!a.enabled) continue
    const claims = (a.config as { claims?: { maxAge?: number; leeway?: number } }).claims
    if (claims?.maxAge === undefined) return undefined
    longest = Math.max(longest, claims.maxAge + (claims.leeway ?? 0))
  }
  return longest
}

export class RevocationsAdmin {
  readonly #broker: Broker
  readonly #list: RevocationList
  readonly #log: Logger
  readonly #authenticators: () => readonly ManagedAuthenticator[]
  #shared: SharedRevocations | undefined

  constructor(options: RevocationsAdminOptions) {
    this.#broker = options.broker
    this.#list = options.list
    this.#log = options.logger
    this.#authenticators = options.authenticators
  }

  listRevocations(): RevocationView[] {
    this.#list.prune()
    return this.#list.list().map(view)
  }

  getRevocation(id: string): RevocationView {
    const r = this.#list.get(id)
    if (r === undefined) throw new ApiError('ERR_NOT_FOUND', `revocation '${id}' not found`)
    return view(r)
  }

  /**
   * Cluster: enforce the cluster's list (or share this node's when no node did yet), then
   * every change another node makes. Before the MQTT listeners open.
   */
  async followShared(shared: SharedRevocations): Promise<{ readonly entries: number; readonly seeded: boolean }> {
    let seeded = false
    let copy = await shared.load()
    if (copy === undefined) {
      this.#list.prune()
      seeded = await shared.seed(this.#list.list())
      copy = await shared.load()
    }
    if (copy !== undefined) {
      if (!seeded) this.#list.replaceAll(copy.entries)
      shared.ran(copy.version)
    }
    this.#shared = shared
    await shared.follow((entries) => this.#applyShared(entries))
    return { entries: this.#list.size, seeded }
  }

  /** The cluster's list changed on another node: it replaces this node's; matching clients here are disconnected. */
  #applyShared(entries: readonly Revocation[]): void {
    const added = this.#list.replaceAll(entries)
    const disconnected = added > 0 ? this.#disconnectMatching() : 0
    this.#log.info({ revocations: this.#list.size, added, disconnected }, 'cluster: revocations changed on another node applied here')
  }

  /** Cluster: the change is stored in Redis before it applies here (ERR_UNAVAILABLE: 503). */
  async #share(change: (shared: SharedRevocations) => Promise<void>): Promise<void> {
    if (this.#shared === undefined) return
    try {
      await change(this.#shared)
    } catch (err) {
      if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
      throw err
    }
  }

  async revoke(body: unknown): Promise<RevocationResult> {
    let request
    try {
      request = parseRevocationRequest(body)
    } catch (err) {
      if (err instanceof RevocationInputError) throw new ApiError('ERR_VALIDATION', err.message, err.path)
      throw err
    }
    // Entries past their expiry leave the cluster's list with this change (each node prunes its own copy).
    const expired = this.#list.expired().map((e) => e.id)
    this.#list.prune()
    const entry = revocationFromRequest(request, longestTokenLife(this.#authenticators()))
    const replaced = this.#list.replaces(entry)
    await this.#share((shared) => shared.add(entry, [...expired, ...(replaced === undefined ? [] : [replaced.id])]))
    this.#list.add(entry)
    const disconnected = this.#disconnectMatching()
    this.#log.info({ revocation: entry.id, kind: entry.kind, disconnected }, 'admin: token revoked')
    return { revocation: view(entry), disconnected }
  }

  async deleteRevocation(id: string): Promise<void> {
    if (this.#list.get(id) === undefined) throw new ApiError('ERR_NOT_FOUND', `revocation '${id}' not found`)
    await this.#share((shared) => shared.remove([id]))
    if (!this.#list.remove(id)) throw new ApiError('ERR_NOT_FOUND', `revocation '${id}' not found`)
    this.#log.info({ revocation: id }, 'admin: revocation withdrawn')
  }

  /** Disconnects every connected client whose token a revocation now covers. */
  #disconnectMatching(): number {
    let count = 0
    for (const session of this.#broker.sessions.values()) {
      const conn = session.connection
      const entry = conn?.identity === undefined ? undefined : this.#list.match(conn.identity.claims)
      if (conn === undefined || entry === undefined) continue
      this.#log.info({ clientId: conn.clientId, revocation: entry.id }, 'client disconnected: its token was revoked')
      conn.disconnect(ReasonCode.AdministrativeAction, revokedError(entry).message)
      count++
    }
    return count
  }
}
