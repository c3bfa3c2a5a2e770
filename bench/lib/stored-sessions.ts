/**
 * Offline persistent sessions written straight into a data directory's state.sqlite, through
 * the store the broker uses (as the broker records them), so a broker started on it holds them
 * all without a connect storm: bench/durable-startup.ts, bench/admin-clients.ts.
 */
import { silentLogger } from '../../src/log.js'
import { NEVER_EXPIRES } from '../../src/mqtt/types.js'
import { SqliteSessionStore } from '../../src/store/sqlite/session-store.js'
import { StateDatabase } from '../../src/store/sqlite/state-database.js'

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

export interface StoredSessionsOptions {
  readonly count: number
  /** QoS 1 messages queued for each session (default 0). */
  readonly queued?: number
  /** The id of session i (default `device-${i}`). */
  readonly clientId?: (i: number) => string
  /** The remote address its last connection had (default 127.0.0.1). */
  readonly address?: (i: number) => string
}

/** `count` offline sessions that never expire, each with one subscription `devices/<i>/cmd` (QoS 1). */
export async function writeStoredSessions(dir: string, o: StoredSessionsOptions): Promise<void> {
  const state = new StateDatabase(dir, 'normal', silentLogger())
  const store = new SqliteSessionStore(state)
  const payload = Buffer.from('x'.repeat(64))
  for (let i = 0; i < o.count; i++) {
    const clientId = o.clientId?.(i) ?? `device-${i}`
    store.saveSession({
      clientId,
      expiryInterval: NEVER_EXPIRES,
      connected: false,
      lastConnection: { username: undefined, usernameIsToken: false, remoteAddress: o.address?.(i) ?? '127.0.0.1', protocolVersion: 4, disconnectedAt: Date.now() },
      will: undefined,
    })
    store.addSubscription(clientId, { key: `devices/${i}/cmd`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
    for (let q = 0; q < (o.queued ?? 0); q++) {
      store.queueDelivery(clientId, { message: { topic: `devices/${i}/cmd`, payload, qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'bench' }, qos: 1, retain: false, subscriptionIds: undefined })
    }
    // group commits of 2,000 sessions' changes
    if (i % 2_000 === 1_999) await turn()
  }
  await turn()
  state.close()
}
