/**
 * A remote key set shared by the nodes of a cluster (implemented over Redis in
 * cluster/shared-jwks.ts): the last good JWK Set any node fetched from an endpoint, and the
 * endpoint's unknown-kid refetch cooldown, so that a node which cannot reach the issuer still
 * verifies with the set another node fetched, and a flood of unknown kids spread over the
 * nodes makes one fetch per cooldown across the cluster, not one per node.
 *
 * An entry is the document as fetched, the URL it was fetched from, and its key set id (the
 * SHA-256 of the document). A node uses an entry only when the URL is its own, the id
 * matches the document, and the set is not older than the node's own rules allow
 * (`checkSharedSet`): a foreign, damaged or stale entry is never used.
 */
import { createHash } from 'node:crypto'

export interface SharedKeySet {
  readonly url: string
  /** The key set id: SHA-256 (base64url) of `document`. */
  readonly setId: string
  /** The JWK Set document, as JSON text. */
  readonly document: string
  /** When a node fetched it from the issuer (epoch ms; wall clock: other processes read it). */
  readonly fetchedAt: number
  /** The node that fetched it. */
  readonly node: string
}

export interface JwksShare {
  /** The set last fetched by any node for `url`; undefined when none (or the cluster's store cannot be reached: logged there). */
  read(url: string): Promise<SharedKeySet | undefined>
  /** Offers a set this node just fetched; a newer one already there is kept. `keepMs`: how long it may matter. */
  write(url: string, document: string, fetchedAt: number, keepMs: number): Promise<void>
  /**
   * Takes the endpoint's unknown-kid refetch cooldown cluster-wide for `cooldownMs`: `mine`
   * when this node may ask the issuer now, else another node took it at `takenAt` (epoch ms).
   * undefined when the cluster's store cannot be reached (the node then decides alone, as a
   * single node does).
   */
  claimRefetch(url: string, cooldownMs: number): Promise<RefetchClaim | undefined>
  /** Calls `onStored` whenever a node stores a newer set for `url`; returns the way to stop. */
  watch(url: string, onStored: () => void): () => void
}

export interface RefetchClaim {
  readonly mine: boolean
  readonly takenAt: number
}

/** The key set id of a document. */
export function keySetId(document: string): string {
  return createHash('sha256').update(document).digest('base64url')
}

/**
 * Why a shared entry must not be used by the source of `url` at `now`, or undefined when it
 * may: another endpoint's set, an id that does not match the document, or a set older than
 * `maxAgeMs` (a single node would have dropped it by now).
 */
export function checkSharedSet(entry: SharedKeySet, url: string, now: number, maxAgeMs: number): string | undefined {
  if (entry.url !== url) return 'it was fetched from another endpoint'
  if (keySetId(entry.document) !== entry.setId) return 'its key set id does not match its document'
  if (!Number.isFinite(entry.fetchedAt) || now - entry.fetchedAt > maxAgeMs) return 'it is older than the refresh interval plus the grace period'
  return undefined
}
