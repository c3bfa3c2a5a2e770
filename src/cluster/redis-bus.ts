/**
 * The cluster bus over Redis: several nodes on one Redis act as one broker.
 *
 * A message published on a node is delivered to that node's subscribers directly and
 * forwarded (streams.ts) to each other node whose route set (routes.ts) matches it — once per
 * node, however many of its subscribers match. A shared group gets each message on exactly
 * one node: the publishing node picks, round robin, among the nodes with members of the group
 * (itself included; live nodes preferred), and the chosen node gives it to one local member.
 * A retained message (or its clearing) also goes to every other node's stream, so each node's
 * retained mirror follows the one in Redis; a node's own `$SYS` topics stay on that node.
 */
import type { Logger } from '../log.js'
import type { Message } from '../mqtt/types.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { SESSION_KEYS } from '../store/redis/session-store.js'
import type { ClusterBus, Forwarded } from './bus.js'
import { NODE_KEYS } from './membership.js'
import { RouteTable } from './routes.js'
import { StreamReader, entryMessages, recordForward, streamKey, type ForwardEntry } from './streams.js'

export interface RedisBusOptions {
  /** Apply a retained message forwarded by another node to this node's retained mirror. */
  readonly mirrorRetained?: (message: Message) => void
}

/** Counters for /stats and tests. */
export interface RedisBusStats {
  /** Stream entries appended for other nodes. */
  forwarded: number
  /** Stream entries read from this node's stream and handed to its subscribers. */
  received: number
}

/** Entries read per XRANGE while catching up a claimed client. */
const CATCH_UP_PAGE = 256

interface Target {
  all: boolean
  groups: string[]
}

export class RedisBus implements ClusterBus {
  readonly #state: RedisState
  readonly #logger: Logger
  readonly #routes: RouteTable
  readonly #mirror: ((message: Message) => void) | undefined
  readonly #cursors = new Map<string, number>()
  #handler: (message: Message, forwarded: Forwarded) => readonly string[] = () => []
  #reader: StreamReader | undefined
  #forwarded = 0
  #started = false
  #closed: Promise<void> | undefined
  /** Nodes found dead by prepare(), with the stored sessions each held last. */
  #deadOwners = new Map<string, Set<string>>()

  constructor(state: RedisState, logger: Logger, options: RedisBusOptions = {}) {
    this.#state = state
    this.#logger = logger
    this.#routes = new RouteTable(state, logger)
    this.#mirror = options.mirrorRetained
  }

  get nodeId(): string {
    return this.#state.nodeId
  }

  get stats(): RedisBusStats {
    return { forwarded: this.#forwarded, received: this.#reader?.received ?? 0 }
  }

  /** Entries waiting in this node's stream (metrics). */
  backlog(): Promise<number> {
    return this.#state.client.xlen(streamKey(this.nodeId))
  }

  /** The route table (tests and the admin view read it). */
  get routes(): RouteTable {
    return this.#routes
  }

  /**
   * Before the node's sessions are recovered: note the nodes that are not alive and which
   * stored sessions each held last (recovery rewrites that), for start() to take over.
   */
  async prepare(): Promise<void> {
    const r = this.#state.client
    const others = (await r.smembers(NODE_KEYS.nodes)).filter((id) => id !== this.nodeId)
    const dead = new Set<string>()
    // (A node is alive while its liveness key lasts: membership.ts.)
    for (const id of others) if (await r.exists(NODE_KEYS.alive(id)) === 0) dead.add(id)
    this.#deadOwners = new Map([...dead].map((id) => [id, new Set<string>()]))
    if (dead.size === 0) return
    const ids = await r.smembers(SESSION_KEYS.sessions)
    for (let i = 0; i < ids.length; i += 1000) {
      const slice = ids.slice(i, i + 1000)
      const p = r.pipeline()
      for (const cid of slice) p.hget(SESSION_KEYS.facts(cid), 'node')
      const got = (await p.exec()) ?? []
      for (const [k, [, node]] of got.entries()) {
        const owned = typeof node === 'string' ? this.#deadOwners.get(node) : undefined
        owned?.add(slice[k])
      }
    }
  }

  /**
   * Publish this node's routes, follow the others', take over the streams of dead nodes whose
   * sessions this node now holds (`holds`), and start reading this node's own stream (pending
   * entries first). Called once the node's sessions are recovered.
   */
  async start(holds: (clientId: string) => boolean = () => false): Promise<void> {
    const client = this.#state.client
    const listener = client.duplicate()
    const reader = client.duplicate()
    try {
      await listener.connect()
      await reader.connect()
      await this.#routes.start(listener)
      for (const [node, owned] of this.#deadOwners) {
        const held = new Set([...owned].filter(holds))
        // A dead node whose sessions another node holds is that node's to take over.
        if (owned.size > 0 && held.size === 0) continue
        const n = await this.drainNode(node, held)
        if (n > 0) this.#logger.info({ node, messages: n, sessions: held.size }, 'cluster: took over a dead node\'s forwarded messages')
      }
      this.#reader = new StreamReader(this.#state, reader, this.#logger, (e) => this.#receive(e))
      await this.#reader.start()
    } catch (err) {
      this.#routes.close()
      reader.disconnect()
      listener.disconnect()
      throw err
    }
    this.#started = true
  }

  /**
   * A dead node's sessions are served here now: its routes go (nobody forwards to it any
   * more) and what waits in its stream — read by it and never acknowledged, or never read —
   * is delivered here, to those sessions only (its other subscribers got their copies where
   * they are). Returns the messages handed over.
   */
  async drainNode(node: string, clients: ReadonlySet<string>): Promise<number> {
    this.#routes.drop(node)
    const drainer = new StreamReader(this.#state, this.#state.client, this.#logger, (e) => this.#receive(e, clients), node)
    return drainer.drain()
  }

  publish(message: Message, localGroups: readonly string[]): readonly string[] {
    if (!this.#started || message.topic.startsWith('$SYS/')) return localGroups
    const match = this.#routes.match(message.topic)
    const targets = new Map<string, Target>()
    for (const c of match.clients) targets.set(c.clientId, { all: true, groups: [] })
    let served = localGroups
    if (match.groups.length > 0) {
      served = localGroups.filter((key) => !match.groups.some((g) => g.key === key))
      for (const group of match.groups) {
        const pick = this.#pick(group.key, group.members.map((m) => m.clientId), localGroups.includes(group.key))
        if (pick === undefined) (served as string[]).push(group.key)
        else {
          let t = targets.get(pick)
          if (t === undefined) targets.set(pick, (t = { all: false, groups: [] }))
          t.groups.push(group.key)
        }
      }
    }
    // A retained message goes to every node (their mirrors), delivered only where it matched.
    if (message.retain && this.#mirror !== undefined) {
      for (const node of this.#routes.nodes()) if (!targets.has(node)) targets.set(node, { all: false, groups: [] })
    }
    for (const [node, t] of targets) {
      recordForward(this.#state, node, message, t, message.retain && this.#mirror !== undefined)
      this.#forwarded++
    }
    return served
  }

  onMessage(handler: (message: Message, forwarded: Forwarded) => readonly string[]): void {
    this.#handler = handler
  }

  addRoute(key: string): void {
    this.#routes.add(key)
  }

  removeRoute(key: string): void {
    this.#routes.remove(key)
  }

  /** Stop reading and following routes (the route set stays in Redis: forwards wait in the stream). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#started = false
      this.#routes.close()
      await this.#reader?.close()
    })()
    return this.#closed
  }

  /**
   * A client this node has just claimed from node `previous` (dead, or alive and letting it
   * go): what still waits in that node's stream for it — forwarded before its routes here were
   * known — is delivered to it here. The entries are copied, not acknowledged: the stream stays
   * that node's (or its taker's) for its other clients, and this client is no longer among
   * theirs. Returns the messages read.
   */
  async catchUp(clientId: string, previous: string): Promise<number> {
    if (!this.#started || previous === this.nodeId) return 0
    const only = new Set([clientId])
    const key = streamKey(previous)
    let n = 0
    for (let from = '-'; ;) {
      const page = await this.#state.client.callBuffer('XRANGE', key, from, '+', 'COUNT', CATCH_UP_PAGE) as Array<[Buffer, Buffer[]]>
      for (const [id, fields] of page) {
        try {
          for (const entry of entryMessages(fields)) {
            // (Groups it cannot serve for this client were meant for another member of that node.)
            if (entry.forwarded.all || entry.forwarded.groups.length > 0) this.#handler(entry.message, { ...entry.forwarded, clients: only })
            n++
          }
        } catch (err) {
          this.#logger.error({ err: { message: err instanceof Error ? err.message : String(err) }, entry: id.toString() }, 'cluster: forwarded message not delivered')
        }
      }
      if (page.length < CATCH_UP_PAGE) return n
      from = `(${page[page.length - 1][0].toString()}`
    }
  }

  #receive(entry: ForwardEntry, clients?: ReadonlySet<string>): void {
    // Another node's stream (clients set) carries retained updates this node had from its own
    // stream or loaded at start: applying that node's older ones could make the mirror stale.
    if (entry.mirror && clients === undefined) this.#mirror?.(entry.message)
    if (!entry.forwarded.all && entry.forwarded.groups.length === 0) return
    const missed = this.#handler(entry.message, clients === undefined ? entry.forwarded : { ...entry.forwarded, clients })
    if (missed.length > 0 && !entry.passedOn) this.#passOn(entry.message, missed)
  }

  /**
   * Shared groups this node was picked for but whose last member here has just left: each goes
   * to another node with members (once: a message is passed on at most one time), recorded in
   * the same commit as the acknowledgement of the entry that brought it.
   */
  #passOn(message: Message, keys: readonly string[]): void {
    const groups = this.#routes.match(message.topic).groups
    for (const key of keys) {
      const group = groups.find((g) => g.key === key)
      const pick = group === undefined ? undefined : this.#pick(key, group.members.map((m) => m.clientId), false)
      if (pick === undefined) {
        this.#logger.debug({ group: key, topic: message.topic }, 'cluster: shared group has no member left; message dropped')
        continue
      }
      recordForward(this.#state, pick, message, { all: false, groups: [key] }, false, true)
      this.#forwarded++
    }
  }

  /**
   * The node that serves a shared group this message (undefined: this node), round robin over
   * the nodes with members — live ones when there are any, so a dead node's turn goes on.
   */
  #pick(key: string, remote: readonly string[], local: boolean): string | undefined {
    const live = remote.filter((n) => this.#routes.alive(n))
    const candidates = live.length > 0 || local ? live : remote
    const n = candidates.length + (local ? 1 : 0)
    if (n === 0) return undefined
    const cursor = this.#cursors.get(key) ?? 0
    this.#cursors.set(key, (cursor + 1) % n)
    const i = cursor % n
    return i < candidates.length ? candidates[i] : undefined
  }
}
