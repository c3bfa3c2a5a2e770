/**
 * What the broker knows of the cluster's client registry (registry.ts): before a CONNECT
 * opens its session the node claims the client id; a session that ends releases it; another
 * node's claim takes a client away. A single node has no registry (every id is its own).
 */
import type { StoredSession } from '../store/types.js'

/**
 * Stored sessions claimed and loaded by one batch when a node starts, or takes over a dead
 * node's (RedisSessionStore.adoptOrphans: one Redis, one script call claims them all; a Redis
 * Cluster, one pipeline per master): a claim script over this many registry entries keeps Redis
 * busy for about 6 ms (SLOWLOG median, 2026-12-05; 14 ms when it also read the sessions, which
 * was tried and not kept), so other clients of that Redis wait at most that long behind it.
 */
export const ADOPT_BATCH = 512

/**
 * A dead node's sessions whose client id is being claimed on this node when the adoption comes
 * to them are adopted each on its own, after that claim; this many at once.
 */
export const ADOPT_IN_FLIGHT = 256

/**
 * How long a node's clean stop waits for the claims in progress to end (broker.close): a claim
 * is a few round trips to Redis, at most TAKEOVER_ANSWER_MS (1 s) waiting for the previous
 * owner's answer, and the session's load; this leaves room for a slow Redis without holding a
 * stop for long when Redis does not answer at all.
 */
export const CLAIMS_AT_STOP_MS = 5000

export interface OwnershipClaim {
  /** This node already owned the id: the session it holds in memory (if any) is the latest. */
  readonly current: boolean
  /** Another node held it and answered in time: it closes the old connection and handles its will. */
  readonly previousAlive: boolean
  /** The other node that held it, if one did (what waits for the client in its stream comes here). */
  readonly previous?: string
  /**
   * No node held the id: nothing is stored for it (a stored session always keeps its owner
   * entry; a session's end deletes both in one commit), so there is nothing to load.
   */
  readonly unowned?: boolean
}

/** A session adoptOrphans took, with the node that held it (undefined: none). */
export interface AdoptedOrphan {
  readonly session: StoredSession
  readonly previous: string | undefined
}

export interface ClientOwnership {
  /** Make this node the only owner of the client id cluster-wide (the previous one is told). */
  claim(clientId: string, cleanStart: boolean): Promise<OwnershipClaim>
  /** True while this node holds the client id (another node's claim takes it away). */
  holds(clientId: string): boolean
  /** The session ended here for good: the client id is free. */
  release(clientId: string): void
  /** Another node holds the client id now: nothing more is written for it here. */
  forget(clientId: string): void
  /**
   * `handler` runs when another node took a client id over from this one; `willHere`: this node
   * handles the old connection's will (else the claiming node did: this node did not answer in time);
   * `to`: the claiming node, when known (it signalled).
   */
  onTakenOver(handler: (clientId: string, sessionEnds: boolean, willHere: boolean, to: string | undefined) => void): void
  /**
   * `handler` runs when another node starts taking a client id over (onTakenOver follows once
   * this node's writes for it are stored): the client's packets are no longer read here, and
   * what this node handles for it goes on to node `to` (ClusterBus.movedAway) — unless the new
   * connection starts clean (`sessionEnds`).
   */
  onTakeoverStarted(handler: (clientId: string, to: string, sessionEnds: boolean) => void): void
  /** The session as stored, read after a claim that was not `current` (undefined: none stored). */
  load(clientId: string): Promise<StoredSession | undefined>
  /** `handler` runs when a node died (its sessions are the survivors'); not on a clean stop. */
  onNodeDied(handler: (nodeId: string) => void): void
  /** The client ids with a stored session, and the other nodes alive now. */
  orphanCandidates(): Promise<{ readonly clientIds: readonly string[]; readonly live: readonly string[] }>
  /**
   * Claim and load the sessions of client ids no node in `live` owns (at most ADOPT_BATCH, in a
   * few requests), each with the node that held it; those not taken are left out. No other claim
   * of these ids may run on this node meanwhile.
   */
  adoptOrphans(clientIds: readonly string[], live: readonly string[]): Promise<readonly AdoptedOrphan[]>
}
