/**
 * The cluster's route table: which node has subscribers for which filter, so that a message
 * published on one node is forwarded only to the nodes that want it.
 *
 * Each node counts its own subscriptions per filter in memory (a shared subscription counts
 * under its key `$share/<group>/<filter>`) and writes the set of filters to Redis when a
 * filter gets its first subscription or loses its last, through the node's group commit —
 * so a SUBACK goes out only once the route is in Redis. Every node keeps a copy of the other
 * nodes' sets, indexed like the subscriptions themselves (a topic tree whose "clients" are
 * node ids): a change notice on a pub/sub channel applies it within milliseconds, and a poll
 * each second catches anything a notice missed (a notice is a hint; the set is the truth).
 *
 * Layout:
 *   pc:routes:{<node>}   SET of the node's filters and shared group keys
 *   pc:routes:{<node>}:v the version of that set (a fresh id per change), in the set's slot so
 *                        both are written and read together, on a Redis Cluster too
 *   pc:routes:ver        HASH node → version: the index of every node's set (a poll reads it
 *                        to see what changed; the version beside the set is the truth)
 *   pc:routes            channel: JSON { node, from, to, add, del } per change
 */
import type { Logger } from '../log.js'
import { parseSharedFilter } from '../protocol/topic.js'
import { TopicTree, type MatchResult } from '../router/topic-tree.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import { NODE_DEAD_AFTER_MS, NODE_KEYS } from './membership.js'
import { clock } from '../clock.js'
import { parseNotice } from './notice.js'

export const ROUTE_KEYS = {
  routes: (node: string) => `pc:routes:{${node}}`,
  version: (node: string) => `pc:routes:{${node}}:v`,
  versions: 'pc:routes:ver',
  channel: 'pc:routes',
} as const

/** How often every other node's version (and liveness) is read. */
export const ROUTE_POLL_MS = 1000

interface Notice {
  readonly node: string
  readonly from: string
  readonly to: string
  readonly add: readonly string[]
  readonly del: readonly string[]
}

interface RemoteNode {
  version: string
  keys: Set<string>
  alive: boolean
}

export class RouteTable {
  readonly #state: RedisState
  readonly #logger: Logger
  /** This node's subscriptions per route key. */
  readonly #local = new Map<string, number>()
  /** The other nodes' routes: "client id" is the node id. */
  readonly #remote = new TopicTree()
  readonly #nodes = new Map<string, RemoteNode>()
  #version = ''
  #started = false
  #closed = false
  #poll: NodeJS.Timeout | undefined
  #polling = false
  #listener: RedisClient | undefined

  constructor(state: RedisState, logger: Logger) {
    this.#state = state
    this.#logger = logger
  }

  get nodeId(): string {
    return this.#state.nodeId
  }

  /** Keys with subscribers on this node. */
  get localKeys(): number {
    return this.#local.size
  }

  /** True when this node has subscriptions to `key`. */
  hasLocal(key: string): boolean {
    return this.#local.has(key)
  }

  /** A subscription to `key` was added on this node. */
  add(key: string): void {
    const n = this.#local.get(key) ?? 0
    this.#local.set(key, n + 1)
    if (n === 0 && this.#started) this.#write([key], [])
  }

  /** A subscription to `key` went from this node. */
  remove(key: string): void {
    const n = this.#local.get(key)
    if (n === undefined) return
    if (n > 1) {
      this.#local.set(key, n - 1)
      return
    }
    this.#local.delete(key)
    if (this.#started) this.#write([], [key])
  }

  /** The other nodes whose subscriptions match `topic` (clients are node ids), and their shared groups. */
  match(topic: string): MatchResult {
    return this.#remote.match(topic)
  }

  /** Other nodes known (they have written a route set), alive or not. */
  nodes(): IterableIterator<string> {
    return this.#nodes.keys()
  }

  /** True while the node's liveness note is fresh (as of the last poll). */
  alive(node: string): boolean {
    return this.#nodes.get(node)?.alive ?? false
  }

  /**
   * Write this node's whole set (replacing what an earlier run left), read every other node's,
   * and follow their changes. Called once the node's sessions are recovered.
   */
  async start(listener: RedisClient): Promise<void> {
    this.#listener = listener
    listener.on('message', (_channel: string, text: string) => this.#notice(text))
    await listener.subscribe(ROUTE_KEYS.channel)
    this.#started = true
    this.#writeAll()
    const err = await new Promise<Error | undefined>((r) => this.#state.afterCommit(r))
    if (err !== undefined) throw err
    await this.#pollOnce()
    this.#poll = clock.setInterval(() => void this.#pollOnce(), ROUTE_POLL_MS)
    this.#poll.unref()
  }

  /**
   * A dead node's routes go (its sessions are served elsewhere now): other nodes stop
   * forwarding to it at the notice, or at their next poll.
   */
  drop(node: string): void {
    const notice = JSON.stringify({ node, from: '', to: '', add: [], del: [] } satisfies Notice)
    this.#state.record((m) => m.del(ROUTE_KEYS.routes(node), ROUTE_KEYS.version(node)).hdel(ROUTE_KEYS.versions, node).publish(ROUTE_KEYS.channel, notice))
    this.#forget(node)
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#poll)
    this.#listener?.disconnect()
  }

  /** Record this node's whole set (replacing what is there) with a fresh version and its notice. */
  #writeAll(): void {
    const keys = [...this.#local.keys()]
    const to = String(this.#state.nextId())
    this.#version = to
    const notice = JSON.stringify({ node: this.nodeId, from: '', to, add: [], del: [] } satisfies Notice)
    const key = ROUTE_KEYS.routes(this.nodeId)
    this.#state.record((m) => {
      m.del(key)
      if (keys.length > 0) m.sadd(key, ...keys)
      m.set(ROUTE_KEYS.version(this.nodeId), to).hset(ROUTE_KEYS.versions, this.nodeId, to).publish(ROUTE_KEYS.channel, notice)
    })
  }

  /** Record a change of this node's set with its notice (one version step). */
  #write(add: string[], del: string[]): void {
    const from = this.#version
    const to = String(this.#state.nextId())
    this.#version = to
    const notice = JSON.stringify({ node: this.nodeId, from, to, add, del } satisfies Notice)
    const key = ROUTE_KEYS.routes(this.nodeId)
    this.#state.record((m) => {
      if (add.length > 0) m.sadd(key, ...add)
      if (del.length > 0) m.srem(key, ...del)
      m.set(ROUTE_KEYS.version(this.nodeId), to).hset(ROUTE_KEYS.versions, this.nodeId, to).publish(ROUTE_KEYS.channel, notice)
    })
  }

  #notice(text: string): void {
    const n = parseNotice<Notice>(text)
    if (n === undefined || n.node === this.nodeId || this.#closed) return
    const known = this.#nodes.get(n.node)
    if (known === undefined || known.version !== n.from) {
      // A notice missed (or a node's fresh start): read its whole set.
      void this.#reload(n.node)
      return
    }
    known.version = n.to
    for (const key of n.add) this.#addRemote(n.node, known, key)
    for (const key of n.del) this.#removeRemote(n.node, known, key)
  }

  /** Every other node's version and liveness; reload the sets that changed, forget nodes that are gone. */
  async #pollOnce(): Promise<void> {
    if (this.#polling || this.#closed) return
    this.#polling = true
    try {
      const r = this.#state.client
      const versions = await r.hgetall(ROUTE_KEYS.versions)
      // Dropped by the others while this node was paused or cut off (counted as dead): written again.
      if (!(this.nodeId in versions) && !this.#closed) {
        this.#logger.warn('cluster: this node was counted as dead (paused or cut off); its routes are written again')
        this.#writeAll()
      }
      const now = clock.now()
      const others = Object.keys(versions).filter((id) => id !== this.nodeId)
      const notes = others.length === 0 ? [] : await Promise.all(others.map((id) => r.hmget(NODE_KEYS.node(id), 'at', 'stopped')))
      for (const [i, id] of others.entries()) {
        const [at, stopped] = notes[i] ?? []
        const alive = stopped !== '1' && now - Number(at ?? 0) < NODE_DEAD_AFTER_MS
        const known = this.#nodes.get(id)
        if (known !== undefined) known.alive = alive
        if (known === undefined || known.version !== versions[id]) await this.#reload(id, alive)
      }
      for (const id of [...this.#nodes.keys()]) if (!(id in versions)) this.#forget(id)
    } catch (err) {
      // Redis unreachable: the copy stays as it is; the next poll tries again.
      this.#logger.debug({ err: { message: err instanceof Error ? err.message : String(err) } }, 'cluster: route poll failed')
    } finally {
      this.#polling = false
    }
  }

  /** Read one node's version and set together, and make the copy equal to it. */
  async #reload(node: string, alive?: boolean): Promise<void> {
    const got = await this.#state.client.multi().get(ROUTE_KEYS.version(node)).smembers(ROUTE_KEYS.routes(node)).exec()
    if (got === null || this.#closed) return
    const [[e1, version], [e2, members]] = got as [[Error | null, string | null], [Error | null, string[]]]
    if (e1 !== null || e2 !== null) return
    let known = this.#nodes.get(node)
    if (known === undefined) {
      known = { version: '', keys: new Set(), alive: alive ?? true }
      this.#nodes.set(node, known)
    }
    if (alive !== undefined) known.alive = alive
    known.version = version ?? ''
    const fresh = new Set(members)
    for (const key of [...known.keys]) if (!fresh.has(key)) this.#removeRemote(node, known, key)
    for (const key of fresh) if (!known.keys.has(key)) this.#addRemote(node, known, key)
  }

  #forget(node: string): void {
    const known = this.#nodes.get(node)
    if (known === undefined) return
    for (const key of [...known.keys]) this.#removeRemote(node, known, key)
    this.#nodes.delete(node)
  }

  #addRemote(node: string, known: RemoteNode, key: string): void {
    if (known.keys.has(key)) return
    const shared = parseSharedFilter(key)
    if (shared === null) return
    known.keys.add(key)
    this.#remote.add({
      clientId: node, key, filter: shared?.filter ?? key, group: shared?.group,
      qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined,
    })
  }

  #removeRemote(node: string, known: RemoteNode, key: string): void {
    if (!known.keys.delete(key)) return
    const shared = parseSharedFilter(key)
    if (shared === null) return
    this.#remote.remove(node, shared?.filter ?? key, shared?.group)
  }
}
