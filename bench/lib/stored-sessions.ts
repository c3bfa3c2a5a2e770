/**
 * Offline persistent sessions written straight into a store, through the store the broker
 * uses (as the broker records them), so a broker started on it holds them all without a
 * connect storm: the SQLite state database of a data directory (bench/durable-startup.ts,
 * bench/admin-clients.ts), or a cluster's Redis for one node (bench/admin-clients-cluster.ts).
 */
import { NodeMembership } from '../../src/cluster/membership.js'
import { ClientRegistry } from '../../src/cluster/registry.js'
import { silentLogger } from '../../src/log.js'
import { NEVER_EXPIRES } from '../../src/mqtt/types.js'
import { RedisState, type RedisTarget } from '../../src/store/redis/redis-state.js'
import { RedisSessionStore } from '../../src/store/redis/session-store.js'
import { SqliteSessionStore } from '../../src/store/sqlite/session-store.js'
import { StateDatabase } from '../../src/store/sqlite/state-database.js'
import type { SessionStore } from '../../src/store/types.js'

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

export interface StoredSessionsOptions {
  readonly count: number
  /** QoS 1 messages queued for each session (default 0). */
  readonly queued?: number
  /** The id of session i (default `device-${i}`). */
  readonly clientId?: (i: number) => string
  /** The remote address its last connection had (default 127.0.0.1). */
  readonly address?: (i: number) => string
  /** Its client was connected when the node stopped (default false: offline). */
  readonly connected?: boolean
  /** Session i has a will (QoS 1, no delay, on `wills/<i>`; default none). */
  readonly will?: (i: number) => boolean
}

/** Session i as the broker records it: never expires, one subscription `devices/<i>/cmd` (QoS 1), `queued` messages. */
function recordSession(store: SessionStore, i: number, o: StoredSessionsOptions, payload: Buffer): void {
  const clientId = o.clientId?.(i) ?? `device-${i}`
  store.saveSession({
    clientId,
    expiryInterval: NEVER_EXPIRES,
    connected: o.connected ?? false,
    lastConnection: { username: undefined, usernameIsToken: false, remoteAddress: o.address?.(i) ?? '127.0.0.1', protocolVersion: 4, disconnectedAt: Date.now() },
    will: o.will?.(i) === true
      ? { message: { topic: `wills/${i}`, payload, qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'bench' }, delay: 0, expiry: undefined, publishAt: undefined }
      : undefined,
  })
  store.addSubscription(clientId, { key: `devices/${i}/cmd`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
  for (let q = 0; q < (o.queued ?? 0); q++) {
    store.queueDelivery(clientId, { message: { topic: `devices/${i}/cmd`, payload, qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'bench' }, qos: 1, retain: false, subscriptionIds: undefined })
  }
}

/** `count` offline sessions in `dir`'s state.sqlite. */
export async function writeStoredSessions(dir: string, o: StoredSessionsOptions): Promise<void> {
  const state = new StateDatabase(dir, 'normal', silentLogger())
  const store = new SqliteSessionStore(state)
  const payload = Buffer.from('x'.repeat(64))
  for (let i = 0; i < o.count; i++) {
    recordSession(store, i, o, payload)
    // group commits of 2,000 sessions' changes
    if (i % 2_000 === 1_999) await turn()
  }
  await turn()
  state.close()
}

/**
 * `count` sessions in the cluster's Redis (unix socket `socket`, or any target), held by node
 * `nodeId` as it would record them (each client id claimed in the registry first). This process
 * joins as that node and leaves cleanly: the node, started next with the same id, takes them all
 * back. `stay`: it does not leave (it goes on beating as that node until the process ends: a
 * SIGKILL then is that node's death).
 */
export async function writeRedisSessions(socket: string | RedisTarget, nodeId: string, o: StoredSessionsOptions & { readonly stay?: boolean }): Promise<void> {
  const logger = silentLogger()
  const state = await RedisState.open(typeof socket === 'string' ? { path: socket } : socket, nodeId, logger)
  const membership = await NodeMembership.join(state, logger)
  const registry = new ClientRegistry(state, membership, logger)
  await registry.start()
  const store = new RedisSessionStore(state, registry)
  const payload = Buffer.from('x'.repeat(64))
  const BATCH = 1_000
  for (let from = 0; from < o.count; from += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, o.count - from) }, (_, k) => from + k)
    await Promise.all(ids.map((i) => registry.claim(o.clientId?.(i) ?? `device-${i}`, false)))
    for (const i of ids) recordSession(store, i, o, payload)
    await new Promise<void>((resolve, reject) => state.afterCommit((err) => (err === undefined ? resolve() : reject(err))))
  }
  if (o.stay === true) return
  membership.leave()
  await registry.close()
  await state.close()
}
