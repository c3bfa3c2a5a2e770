/**
 * The audit trail of management changes: every successful change through the admin API (and
 * so through the console) — when, who (the API key's name), from which address, which
 * operation, and what changed, with secrets redacted. Kept in the configuration store
 * (`dataDir/portcullis.db`) when there is one, else in memory; in a cluster, in Redis
 * (cluster/shared-audit.ts: one trail for every node, each entry naming its node). The newest
 * AUDIT_RETAINED entries are kept. Read newest first, a page at a time.
 *
 * The API layer opens an `AuditContext` around a request (`auditContext.run`); the code that
 * applies a change adds what it changed to the context it runs in (`noteChanges`), so the
 * diff is taken inside the change's own serial turn, never mixed with a concurrent one.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { AuditChange, AuditEntry, AuditRecord, AuditStore } from '../store/audit-types.js'

/** How many entries are kept (the oldest go first). */
export const AUDIT_RETAINED = 10_000
export const AUDIT_PAGE_DEFAULT = 50
export const AUDIT_PAGE_MAX = 500

/** In memory, when there is no configuration store. */
class MemoryAuditStore implements AuditStore {
  readonly #entries: AuditEntry[] = []
  #next = 1

  addAudit(entry: AuditRecord, keep: number): number {
    const id = this.#next++
    this.#entries.push({ id, ...entry })
    if (this.#entries.length > keep) this.#entries.splice(0, this.#entries.length - keep)
    return id
  }

  listAudit(before: number | undefined, limit: number): AuditEntry[] {
    const older = before === undefined ? this.#entries : this.#entries.filter((e) => e.id < before)
    return older.slice(-limit).reverse()
  }
}

export interface AuditContext {
  readonly changes: AuditChange[]
}

export const auditContext = new AsyncLocalStorage<AuditContext>()

/** Called where a change is applied: adds what it changed to the request's audit entry. */
export function noteChanges(changes: readonly AuditChange[]): void {
  auditContext.getStore()?.changes.push(...changes)
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[]
  /** `?before=` for the next (older) page; null on the last page. */
  readonly next: number | null
}

export class AuditLog {
  readonly #store: AuditStore

  constructor(store?: AuditStore) {
    this.#store = store ?? new MemoryAuditStore()
  }

  async record(entry: AuditRecord): Promise<number> {
    return await this.#store.addAudit(entry, AUDIT_RETAINED)
  }

  /** Newest first, `limit` entries older than `before`. */
  async page(before: number | undefined, limit: number): Promise<AuditPage> {
    const entries = await this.#store.listAudit(before, limit + 1)
    const more = entries.length > limit
    const shown = more ? entries.slice(0, limit) : entries
    return { entries: shown, next: more ? shown[shown.length - 1].id : null }
  }
}
