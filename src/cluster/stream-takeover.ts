/**
 * What waits in another node's stream for sessions that move to this node.
 *
 * - A client claimed from a live node (a takeover): what waits for it in that node's stream is
 *   copied to it here (`catchUp`); the stream stays that node's.
 * - Sessions taken from a node that is not alive (a CONNECT here after a crash, a survivor's
 *   adoption, a node's start-up): what waits for them is copied to them here, and the same
 *   commit takes them out of the node's held set `pc:held:{node}` (`copy`). Several survivors
 *   may each take some of a dead node's sessions: nothing is acknowledged or removed for the
 *   others.
 * - Once the node is dead and its held set is empty (every session it held took its part), its
 *   routes go, and one survivor (RENAME is atomic: exactly one wins) takes the stream whole
 *   (`sweep`): the shared-group messages in it (meant for a member on that node, which never
 *   had them) go to another member of their group; then the stream is deleted.
 */
import type { Logger } from '../log.js'
import type { Message } from '../mqtt/types.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { SESSION_KEYS } from '../store/redis/session-store.js'
import type { Forwarded } from './bus.js'
import { NODE_KEYS } from './membership.js'
import { ROUTE_POLL_MS, type RouteTable } from './routes.js'
import { readStream, streamKey } from './streams.js'
import { clock } from '../clock.js'

/**
 * KEYS: the node's liveness key, its held set, its stream, the new name. Renames the stream when
 * the node is dead and holds no session any more; 1 when it did.
 */
const SWEEP_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('SCARD', KEYS[2]) > 0 or redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('RENAME', KEYS[3], KEYS[4])
return 1
`

/** KEYS: the node's liveness key and held set: 1 when the node is dead and holds no session any more. */
const ABANDONED_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('SCARD', KEYS[2]) > 0 then return 0 end
return 1
`

export interface StreamTakeoverDeps {
  readonly state: RedisState
  readonly logger: Logger
  readonly routes: RouteTable
  /** Deliver to this node's subscriptions (Broker.route); returns the groups it could not serve. */
  readonly deliver: (message: Message, forwarded: Forwarded) => readonly string[]
  /** Give a message to one member of each of these shared groups, on any node. */
  readonly serveGroups: (message: Message, groups: readonly string[]) => void
}

export class StreamTakeover {
  readonly #d: StreamTakeoverDeps
  readonly #sweeping = new Set<string>()
  #closed = false

  constructor(deps: StreamTakeoverDeps) {
    this.#d = deps
  }

  close(): void {
    this.#closed = true
  }

  /**
   * A client claimed from live node `previous`: what waits for it in that node's stream (forwarded
   * before its routes here were known) is delivered to it here. Copied, not acknowledged: the
   * stream stays that node's, and this client is no longer among its sessions. Returns the messages.
   */
  async catchUp(clientId: string, previous: string): Promise<number> {
    const only = new Set([clientId])
    let n = 0
    for (const entry of await readStream(this.#d.state.client, streamKey(previous), this.#d.logger)) {
      // An entry forwarded for other clients only (a client that moved) is not this client's.
      if (entry.forwarded.clients !== undefined && !entry.forwarded.clients.has(clientId)) continue
      // (Groups it cannot serve for this client were meant for another member of that node.)
      if (entry.forwarded.all || entry.forwarded.groups.length > 0) this.#d.deliver(entry.message, { ...entry.forwarded, clients: only })
      n++
    }
    return n
  }

  /**
   * Sessions this node holds now that node `node` (not alive, or cut off) held: what waits for
   * them in its stream is delivered to them here (non-shared subscriptions; its shared-group
   * messages are the sweep's), and the same commit takes them out of its held set. Then, in the
   * background, the stream is swept if nothing else waits for it. Returns the messages read for them.
   */
  async copy(node: string, clientIds: ReadonlySet<string>): Promise<number> {
    const state = this.#d.state
    let n = 0
    if (clientIds.size > 0) {
      for (const entry of await readStream(state.client, streamKey(node), this.#d.logger)) {
        if (!entry.forwarded.all) continue
        // An entry forwarded for some clients only (a client that moved: the others had their copy
        // another way) goes to those of them taken here, no one else: a copy more would be a
        // duplicate, which QoS 2 must never deliver.
        const meant = entry.forwarded.clients
        const to = meant === undefined ? clientIds : new Set([...meant].filter((c) => clientIds.has(c)))
        if (to.size === 0) continue
        this.#d.deliver(entry.message, { all: true, groups: [], clients: to })
        n++
      }
      if (state.sharded) {
        // Redis Cluster: the copies (the clients' slots) commit before the held set (the node's
        // slot) lets go of them; a crash between the two copies them again (at least once).
        const copied = await new Promise<Error | undefined>((r) => state.afterCommit(r))
        if (copied !== undefined) throw copied
      }
      const held = SESSION_KEYS.held(node)
      const ids = [...clientIds]
      state.record((m) => m.srem(held, ...ids))
      const err = await new Promise<Error | undefined>((r) => state.afterCommit(r))
      if (err !== undefined) throw err
    }
    this.sweepSoon(node)
    return n
  }

  /** Sweep `node`'s stream in the background (see sweep). */
  sweepSoon(node: string): void {
    if (this.#sweeping.has(node) || this.#closed) return
    this.#sweeping.add(node)
    void this.sweep(node).catch((err: unknown) => {
      this.#d.logger.warn({ node, err: { message: err instanceof Error ? err.message : String(err) } }, 'cluster: sweeping a dead node\'s stream failed; the next node death or start tries again')
    }).finally(() => this.#sweeping.delete(node))
  }

  /**
   * When `node` is dead and every session it held has taken its part: its routes go, and once the
   * other nodes had time to stop forwarding to it (a route poll), the stream is taken whole by one
   * node, its shared-group messages are served, and it is deleted. True when this node swept it.
   */
  async sweep(node: string): Promise<boolean> {
    const { state, routes } = this.#d
    const r = state.client
    const alive = NODE_KEYS.alive(node)
    const held = SESSION_KEYS.held(node)
    if (await r.eval(ABANDONED_LUA, 2, alive, held) !== 1) return false
    routes.drop(node)
    const dropped = await new Promise<Error | undefined>((res) => state.afterCommit(res))
    if (dropped !== undefined) throw dropped
    await new Promise<void>((res) => clock.setTimeout(res, ROUTE_POLL_MS + 200))
    if (this.#closed) return false
    const key = streamKey(node)
    const taken = `${key}:swept:${state.nodeId}:${state.nextId()}`
    if (await r.eval(SWEEP_LUA, 4, alive, held, key, taken) !== 1) return false
    let groups = 0
    for (const entry of await readStream(r, taken, this.#d.logger)) {
      if (entry.forwarded.groups.length === 0) continue
      this.#d.serveGroups(entry.message, entry.forwarded.groups)
      groups++
    }
    state.record((m) => m.del(taken))
    const err = await new Promise<Error | undefined>((res) => state.afterCommit(res))
    if (err !== undefined) throw err
    this.#d.logger.info({ node, sharedMessages: groups }, 'cluster: a dead node\'s stream swept: its shared-group messages went to other members')
    return true
  }
}
