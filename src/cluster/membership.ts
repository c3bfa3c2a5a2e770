/**
 * Node membership on the cluster's Redis: every node that starts registers its id in
 * `pc:nodes` and keeps a liveness key `pc:alive:{<id>}` that expires NODE_DEAD_AFTER_MS after
 * its last heartbeat (one a second, sent with the state's commits). A node whose key has
 * lapsed is dead: its clients may be claimed by any other node (registry.ts). A clean stop
 * deletes the key at once and notes `stopped` in `pc:node:<id>`, whose `at` field (the last
 * heartbeat, epoch ms) tells a survivor when a dead node's connections were lost.
 *
 * Node ids are unique among live nodes: a node that starts with the id of a live node waits
 * for that node's key to lapse (a restart after a crash), then refuses to start.
 *
 * Redis trouble is not death: when Redis (or the link to it) stalls or goes away for longer than
 * the keys last — a Sentinel failover, a Redis restart, a pause — every node's key may lapse at
 * once, though every node is alive. So a node judges no other node dead until its own heartbeat
 * has been committed again after the trouble and the others have had TROUBLE_GRACE_MS more to
 * renew theirs. Nor does a look that Redis answered slowly (the others get TROUBLE_GRACE_MS from
 * then), one it failed to answer (the same: on a Redis Cluster the master of another node's key
 * may fail over while this node's heartbeats go on), or one made while this node's own last
 * heartbeat committed over BEAT_LATE_MS ago (the trouble holding it may have held the others'
 * too, while the keys the look reads are on masters that answer at once). A node that finds its
 * own key lapsed renews it (SET, never NX) and goes on: it does not fight the others, and they do
 * not take its sessions while they wait.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { clock } from '../clock.js'

export const HEARTBEAT_MS = 1000
/** A node whose liveness key is older than this is dead (three missed heartbeats). */
export const NODE_DEAD_AFTER_MS = 3000
/**
 * After Redis trouble, how long the other nodes get to renew their keys before any is judged dead,
 * from this node's own first heartbeat stored again (or from a look Redis answered late or not at
 * all): a key's life, plus their reconnection (a back-off of at most 2 s, redis-state.ts) and
 * their next heartbeat.
 */
const TROUBLE_GRACE_MS = NODE_DEAD_AFTER_MS + 2000 + HEARTBEAT_MS
/** This node's own last heartbeat committed longer ago than this: Redis trouble, whether or not a commit failed yet. */
const BEAT_LATE_MS = NODE_DEAD_AFTER_MS - HEARTBEAT_MS

export const NODE_KEYS = {
  nodes: 'pc:nodes',
  node: (id: string) => `pc:node:${id}`,
  /** Hash-tagged like the node's stream and held set (one Redis Cluster slot per node). */
  alive: (id: string) => `pc:alive:{${id}}`,
} as const

/** A node as the admin API shows it (GET /cluster/nodes). */
export interface ClusterNodeView {
  readonly nodeId: string
  /** up: heartbeat within NODE_DEAD_AFTER_MS; stopped: left cleanly; down: died (no heartbeat). */
  readonly state: 'up' | 'stopped' | 'down'
  /** This node (the one answering). */
  readonly self: boolean
  readonly lastHeartbeat?: string
  /** What the node reported with its last heartbeat (clients, rates per second over the last beat…). */
  readonly report: Readonly<Record<string, number>>
}

export class NodeMembership {
  readonly nodeId: string
  readonly #state: RedisState
  /** This start's value of the liveness key (another start with the same id holds another). */
  readonly #token = randomBytes(8).toString('hex')
  #heartbeat: NodeJS.Timeout | undefined
  #left = false
  /** The other nodes seen alive at the last look, and who is told when one is gone. */
  #seen = new Set<string>()
  #looking = false
  #onGone: (nodeId: string, stopped: boolean) => void = () => {}
  /** The last heartbeat failed (or Redis was unreachable): no node is judged dead until one succeeds. */
  #troubled = false
  /** When (clock ms) the last heartbeat was committed. */
  #beatAt = 0
  /** No node is judged dead by a look that started before this (clock ms): see the file's comment. */
  #trustAfter = 0
  #report: () => Readonly<Record<string, number>> = () => ({})

  private constructor(state: RedisState) {
    this.#state = state
    this.nodeId = state.nodeId
  }

  /**
   * Register this node: wait (at most NODE_DEAD_AFTER_MS + a beat) for a live node with the
   * same id to lapse, else throw; then heartbeat until `leave()`.
   */
  static async join(state: RedisState, logger: Logger): Promise<NodeMembership> {
    const m = new NodeMembership(state)
    const r = state.client
    const deadline = clock.now() + NODE_DEAD_AFTER_MS + HEARTBEAT_MS
    for (;;) {
      if (await r.set(NODE_KEYS.alive(m.nodeId), m.#token, 'PX', NODE_DEAD_AFTER_MS, 'NX') === 'OK') break
      if (clock.now() > deadline) {
        throw new Error(`cluster.nodeId: a live node already uses the id "${m.nodeId}" on this Redis; give each node its own cluster.nodeId`)
      }
      logger.info({ node: m.nodeId }, 'cluster: a node with this id was alive moments ago; waiting for its liveness key to expire')
      await new Promise<void>((res) => clock.setTimeout(res, 250))
    }
    // (Two keys of two slots: no MULTI, which a Redis Cluster refuses across slots.)
    await Promise.all([r.sadd(NODE_KEYS.nodes, m.nodeId), r.hset(NODE_KEYS.node(m.nodeId), 'at', String(clock.now()), 'stopped', '0')])
    m.#beatAt = clock.now()
    m.#heartbeat = clock.setInterval(() => m.#beat(), HEARTBEAT_MS)
    m.#heartbeat.unref()
    return m
  }

  /** The ids of the nodes alive now (this one included while it runs). */
  async liveNodes(): Promise<string[]> {
    const r = this.#state.client
    const ids = await r.smembers(NODE_KEYS.nodes)
    if (ids.length === 0) return []
    // One command per node, sent together (a pipeline would have to stay in one slot on a Redis Cluster).
    const got = await Promise.all(ids.map((id) => r.exists(NODE_KEYS.alive(id))))
    return ids.filter((_, i) => got[i] === 1)
  }

  /** What each heartbeat also writes into `pc:node:<id>` for the other nodes' admin API (numbers only). */
  report(fn: () => Readonly<Record<string, number>>): void {
    this.#report = fn
  }

  /** Every node that ever joined this Redis, with its state and its last report. */
  async nodes(): Promise<ClusterNodeView[]> {
    const r = this.#state.client
    const ids = (await r.smembers(NODE_KEYS.nodes)).sort()
    if (ids.length === 0) return []
    const got = await Promise.all(ids.map((id) => Promise.all([r.hgetall(NODE_KEYS.node(id)), r.exists(NODE_KEYS.alive(id))])))
    return ids.map((nodeId, i) => {
      const h: Record<string, string> = got[i]?.[0] ?? {}
      const alive = got[i]?.[1] === 1
      const report: Record<string, number> = {}
      for (const [k, v] of Object.entries(h)) if (k.startsWith('r:')) report[k.slice(2)] = Number(v)
      return {
        nodeId,
        state: alive ? 'up' : h['stopped'] === '1' ? 'stopped' : 'down',
        self: nodeId === this.nodeId,
        ...(h['at'] !== undefined ? { lastHeartbeat: new Date(Number(h['at'])).toISOString() } : {}),
        report,
      }
    })
  }

  /** Epoch ms of a node's last heartbeat, or undefined for a node never seen. */
  async lastHeartbeat(nodeId: string): Promise<number | undefined> {
    const at = await this.#state.client.hget(NODE_KEYS.node(nodeId), 'at')
    return at === null ? undefined : Number(at)
  }

  /**
   * `handler` runs when a node seen alive is no longer: `stopped` when it stopped cleanly, else
   * it died (no heartbeat for NODE_DEAD_AFTER_MS). Every node looks once a second, with its heartbeat.
   */
  onNodeGone(handler: (nodeId: string, stopped: boolean) => void): void {
    this.#onGone = handler
  }

  /** A clean stop: the liveness key goes now (the node's clients are free at once). Recorded with the last commit. */
  leave(): void {
    if (this.#left) return
    this.#left = true
    clearInterval(this.#heartbeat)
    const id = this.nodeId
    this.#state.record((m) => m.del(NODE_KEYS.alive(id)).hset(NODE_KEYS.node(id), 'at', String(clock.now()), 'stopped', '1'))
  }

  #beat(): void {
    // `at` is a wall-clock time other nodes read: wall clock, through the clock so tests can move it.
    const id = this.nodeId
    const now = String(clock.now())
    const token = this.#token
    const fields: string[] = ['at', now]
    try {
      for (const [k, v] of Object.entries(this.#report())) fields.push(`r:${k}`, String(v))
    } catch {
      // a report that fails leaves the heartbeat as it is
    }
    this.#state.record((m) => m.set(NODE_KEYS.alive(id), token, 'PX', NODE_DEAD_AFTER_MS).hset(NODE_KEYS.node(id), ...fields))
    if (!this.#state.available) this.#troubled = true
    this.#state.afterCommit((err) => this.#beaten(err))
    void this.#look()
  }

  /** Redis trouble seen at `now`: the other nodes get TROUBLE_GRACE_MS from then to renew their keys. */
  #graceFrom(now: number): void {
    this.#trustAfter = Math.max(this.#trustAfter, now + TROUBLE_GRACE_MS)
  }

  /**
   * A heartbeat's commit answered. After a failure, or a gap long enough that keys may have lapsed
   * (Redis or the link stalled: the other nodes' heartbeats stalled too), the others get
   * TROUBLE_GRACE_MS from now to renew their keys before any is judged dead.
   */
  #beaten(err: Error | undefined): void {
    if (err !== undefined) {
      this.#troubled = true
      return
    }
    const now = clock.now()
    if (this.#troubled || now - this.#beatAt > BEAT_LATE_MS) this.#graceFrom(now)
    this.#troubled = false
    this.#beatAt = now
  }

  /** Compare the live nodes with the last look; tell of each one gone. Redis trouble: next time. */
  async #look(): Promise<void> {
    if (this.#looking || !this.#state.available) return
    this.#looking = true
    const started = clock.now()
    try {
      const live = new Set((await this.liveNodes()).filter((n) => n !== this.nodeId))
      const now = clock.now()
      // A slow answer: Redis or the link stalled meanwhile, and the keys with it.
      if (now - started > HEARTBEAT_MS) this.#graceFrom(now)
      // This node's own heartbeat is late (its commit neither answered nor failed yet): the trouble
      // that holds it may have held the others' heartbeats too (on a Redis Cluster, a master their
      // heartbeats also write to), though this look, on other masters, was answered at once.
      // #beaten gives the grace once it commits.
      if (this.#troubled || started < this.#trustAfter || now - this.#beatAt > BEAT_LATE_MS) {
        // Not now (see the file's comment): the nodes seen stay seen, and are looked at again later.
        for (const n of live) this.#seen.add(n)
        return
      }
      const gone = [...this.#seen].filter((n) => !live.has(n))
      // Read before the nodes gone leave #seen: a failed read leaves them there, judged next time.
      const stopped = await Promise.all(gone.map((n) => this.#state.client.hget(NODE_KEYS.node(n), 'stopped')))
      this.#seen = live
      for (const [i, n] of gone.entries()) this.#onGone(n, stopped[i] === '1')
    } catch {
      // Redis could not say whether a node is alive (the state's connection logs the trouble). On a
      // Redis Cluster that can be the master of another node's key alone, failing over while this
      // node's own heartbeats succeed: the key may lapse meanwhile, and that node renews it only once
      // it reaches the promoted replica. So the others get TROUBLE_GRACE_MS from now, as after
      // this node's own trouble.
      this.#graceFrom(clock.now())
    } finally {
      this.#looking = false
    }
  }
}
