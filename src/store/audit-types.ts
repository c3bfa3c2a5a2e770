/**
 * The shape of the management audit trail as stores keep it (the configuration store, the
 * cluster's Redis, memory): what the admin API's audit log (admin/audit.ts) writes and reads.
 */

/** One changed key: absent `before` means added, absent `after` removed. */
export interface AuditChange {
  readonly path: string
  readonly before?: unknown
  readonly after?: unknown
}

export interface AuditEntry {
  /** Increasing; `?before=ID` pages back from it. */
  readonly id: number
  /** ISO time. */
  readonly at: string
  /** The API key's name (`admin` for admin.apiKey or the generated key). */
  readonly who: string
  readonly address: string
  /** `PATCH /api/v1/authenticators/corp` */
  readonly operation: string
  /** The route's summary (`Change some keys of an authenticator`). */
  readonly summary: string
  /** What the configuration changed by (may be empty: a change to the same values, or an action). */
  readonly changes: readonly AuditChange[]
  /** For actions that are not configuration (revocations, disconnects): the request's body, secrets redacted. */
  readonly request?: unknown
  /** Cluster: the node whose admin API made the change. */
  readonly node?: string
}

export type AuditRecord = Omit<AuditEntry, 'id'>

/** Where entries are kept: the configuration store implements it, and the cluster's Redis. */
export interface AuditStore {
  addAudit(entry: AuditRecord, keep: number): number | Promise<number>
  listAudit(before: number | undefined, limit: number): AuditEntry[] | Promise<AuditEntry[]>
}
