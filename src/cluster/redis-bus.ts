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
 *
 * A client moving between live nodes (a takeover): every forwarded message carries a cluster id
 * (the same in every copy). The node it left keeps routes for its subscriptions for a grace
 * period and forwards what still reaches it for that client to the new node (other nodes' route
 * tables follow within a poll); the old node hands over the ids it delivered to the client lately
 * (deliveredBefore) and the new node delivers each id to that client once (broker/recent-ids.ts),
 * so a message that came both ways, or late from a node's stream (catch-up, or the new node's own
 * stream from a grace of its own), counts once.
 *
 * QoS 0 (`qos0: 'pubsub'`, the default): the delivery to a node's non-shared subscriptions goes
 * over that node's pub/sub channel instead of its stream (qos0-channel.ts says why and what
 * stays on the stream).
 */
import type { Logger } from '../log.js'
import type { Message } from '../mqtt/types.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { SESSION_KEYS } from '../store/redis/session-store.js'
import { TopicTree } from '../router/topic-tree.js'
import { clock } from '../clock.js'
import { MOVE_GRACE_MS, RECENT_IDS_MS, type ClusterBus, type Forwarded } from './bus.js'
import { NODE_KEYS } from './membership.js'
import { RouteTable } from './routes.js'
import { StreamTakeover } from './stream-takeover.js'
import { TO_ALL, type ForwardEntry } from './entry-codec.js'
import { StreamReader, recordForward, streamKey } from './streams.js'
import { Qos0Receiver, Qos0Sender } from './qos0-channel.js'

/**
 * `pc:{<cid>}:delivered`: the cluster ids a node delivered to a client lately, written when
 * another node takes the client over (movedAway) and read by that node (deliveredBefore): 8 bytes
 * each; it lasts as long as they matter there.
 */
const deliveredKey = (clientId: string): string => `pc:{${clientId}}:delivered`
const DELIVERED_TTL_MS = 2 * RECENT_IDS_MS

export interface RedisBusOptions {
  /** Apply a retained message forwarded by another node to this node's retained mirror. */
  readonly mirrorRetained?: (message: Message) => void
  /** How QoS 0 messages reach the other nodes' non-shared subscriptions (default 'pubsub'). */
  readonly qos0?: 'pubsub' | 'stream'
  /** Over pub/sub: how long QoS 0 messages for another node are held after its last PUBLISH while more come (default 0). */
  readonly qos0BatchMs?: number
}

/** Counters for /stats and tests. */
export interface RedisBusStats {
  /** Messages forwarded to other nodes (their streams or QoS 0 channels), one per node and message. */
  forwarded: number
  /** Messages read from this node's stream or QoS 0 channel and handed to its subscribers. */
  received: number
  /** QoS 0 messages for other nodes that were lost (Redis away, or the node's subscription being made again). */
  qos0Lost: number
  /** PUBLISHes received through this node's QoS 0 channel (each carries one or more messages). */
  qos0Entries: number
}

/** A forwarded message kept for a client being claimed here, with the stream entry it came in (left unacknowledged meanwhile). */
interface HeldEntry extends ForwardEntry {
  readonly entry: Buffer | undefined
}

interface Target {
  all: boolean
  groups: string[]
}

/** A client a live node took over from this one, for the grace period (see movedAway). */
interface Moved {
  readonly to: string
  readonly filters: readonly string[]
  readonly timer: NodeJS.Timeout
}

export class RedisBus implements ClusterBus {
  readonly #state: RedisState
  readonly #logger: Logger
  readonly #routes: RouteTable
  readonly #mirror: ((message: Message) => void) | undefined
  readonly #cursors = new Map<string, number>()
  #handler: (message: Message, forwarded: Forwarded) => readonly string[] = () => []
  #reader: StreamReader | undefined
  /** QoS 0 over pub/sub (undefined: `qos0: 'stream'`). */
  readonly #qos0Out: Qos0Sender | undefined
  #qos0In: Qos0Receiver | undefined
  #forwarded = 0
  #started = false
  #closed: Promise<void> | undefined
  /** Nodes found not alive by prepare(), with the stored sessions each held. */
  #deadOwners = new Map<string, Set<string>>()
  readonly #takeover: StreamTakeover
  /** Clients taken over by live nodes, in their grace period; their filters in `#movedTree`. */
  readonly #moved = new Map<string, Moved>()
  readonly #movedTree = new TopicTree()
  /**
   * Clients being claimed here, with what other nodes forwarded for them only meanwhile, and where
   * they started in `#readMeanwhile` (in the order they started: the first started first).
   */
  readonly #arriving = new Map<string, { readonly held: HeldEntry[]; readonly from: number }>()
  /**
   * Messages for every matching subscription read while some client was being claimed here: one
   * that matched such a client's subscriptions reached no session of it yet (see arrived). The
   * first is number `#meanwhileBase`.
   */
  #readMeanwhile: HeldEntry[] = []
  #meanwhileBase = 0

  constructor(state: RedisState, logger: Logger, options: RedisBusOptions = {}) {
    this.#state = state
    this.#logger = logger
    this.#routes = new RouteTable(state, logger)
    this.#mirror = options.mirrorRetained
    this.#qos0Out = options.qos0 === 'stream' ? undefined : new Qos0Sender(state, logger, (node) => this.#routes.alive(node), options.qos0BatchMs ?? 0)
    this.#takeover = new StreamTakeover({
      state, logger, routes: this.#routes,
      deliver: (message, forwarded) => this.#handler(message, forwarded),
      serveGroups: (message, groups) => this.#serveGroups(message, groups),
    })
  }

  get nodeId(): string {
    return this.#state.nodeId
  }

  get stats(): RedisBusStats {
    return {
      forwarded: this.#forwarded,
      received: (this.#reader?.received ?? 0) + (this.#qos0In?.received ?? 0),
      qos0Lost: this.#qos0Out?.lost ?? 0,
      qos0Entries: this.#qos0In?.entries ?? 0,
    }
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
   * stored sessions each held (recovery claims some of them here), for start() to take over.
   */
  async prepare(): Promise<void> {
    const r = this.#state.client
    const others = (await r.smembers(NODE_KEYS.nodes)).filter((id) => id !== this.nodeId)
    this.#deadOwners = new Map()
    // (A node is alive while its liveness key lasts: membership.ts.)
    for (const id of others) {
      if (await r.exists(NODE_KEYS.alive(id)) === 0) this.#deadOwners.set(id, new Set(await r.smembers(SESSION_KEYS.held(id))))
    }
  }

  /**
   * Publish this node's routes, follow the others', take over the streams of dead nodes whose
   * sessions this node now holds (`holds`), and start reading this node's own stream (pending
   * entries first). Called once the node's sessions are recovered.
   */
  async start(holds: (clientId: string) => boolean = () => false): Promise<void> {
    const listener = this.#state.connection('portcullis-routes')
    const reader = this.#state.connection('portcullis-stream')
    // (Subscribed whatever this node's own `qos0`: other nodes may send QoS 0 that way.)
    const qos0 = new Qos0Receiver(this.#state, this.#logger, this.#receive)
    // (The main connection logs Redis trouble; without a listener ioredis prints each failed reconnection.)
    for (const c of [listener, reader]) c.on('error', () => {})
    try {
      await listener.connect()
      await reader.connect()
      // Subscribed before this node's routes are written: nothing another node sends for them is missed.
      await qos0.start()
      await this.#qos0Out?.start()
      this.#qos0In = qos0
      await this.#routes.start(listener)
      for (const [node, owned] of this.#deadOwners) {
        const held = new Set([...owned].filter(holds))
        const n = await this.#takeover.copy(node, held)
        if (n > 0) this.#logger.info({ node, messages: n, sessions: held.size }, 'cluster: took over a dead node\'s forwarded messages')
      }
      this.#reader = new StreamReader(this.#state, reader, this.#logger, this.#receive)
      await this.#reader.start()
    } catch (err) {
      this.#routes.close()
      qos0.close()
      this.#qos0Out?.close()
      reader.disconnect()
      listener.disconnect()
      throw err
    }
    this.#started = true
  }

  /**
   * Sessions this node holds now that node `node` held when it died (or was cut off): what waits
   * for them in its stream is delivered to them here; the stream goes once every session it
   * held took its part (stream-takeover.ts). Returns the messages read for them.
   */
  takeOver(node: string, clientIds: ReadonlySet<string>): Promise<number> {
    if (node === this.nodeId) return Promise.resolve(0)
    return this.#takeover.copy(node, clientIds)
  }

  publish(message: Message, localGroups: readonly string[]): readonly string[] {
    if (!this.#started || message.topic.startsWith('$SYS/')) return localGroups
    // One id for every copy, and for a stored copy here (a client moving between nodes gets it once).
    message.clusterId = this.#state.nextId()
    if (this.#moved.size > 0) this.#forwardMoved(message, undefined)
    const match = this.#routes.match(message.topic)
    const mirror = message.retain && this.#mirror !== undefined
    // QoS 0 to every matching subscription: by the node's channel (its shared groups and the
    // retained mirror by its stream, below). Every QoS 0 message of a topic reaches a non-shared
    // subscription through the channel, retained or not: in order [MQTT-4.6.0-5].
    const channel = message.qos === 0 ? this.#qos0Out : undefined
    if (match.groups.length === 0 && !mirror) {
      // The common case: to every matching subscription of each node that has one (no object per node).
      if (channel !== undefined) for (const c of match.clients) channel.forward(c.clientId, message)
      else for (const c of match.clients) recordForward(this.#state, c.clientId, message, TO_ALL, false)
      this.#forwarded += match.clients.length
      return localGroups
    }
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
    if (mirror) {
      for (const node of this.#routes.nodes()) if (!targets.has(node)) targets.set(node, { all: false, groups: [] })
    }
    for (const [node, t] of targets) {
      this.#forwarded++
      if (channel !== undefined && t.all) {
        channel.forward(node, message)
        // What is left for the stream: the node's shared groups, the mirror update (no delivery).
        if (t.groups.length === 0 && !mirror) continue
        t.all = false
      }
      recordForward(this.#state, node, message, t, mirror)
    }
    return served
  }

  movedAway(clientId: string, to: string, filters: readonly string[], unacknowledged: readonly Message[], delivered?: readonly number[]): void {
    if (!this.#started || to === this.nodeId) return
    if (delivered !== undefined) {
      const ids = Buffer.allocUnsafe(delivered.length * 8)
      for (const [i, id] of delivered.entries()) ids.writeDoubleLE(id, i * 8)
      this.#state.recordCommand(() => ['SET', deliveredKey(clientId), ids, 'PX', DELIVERED_TTL_MS])
    }
    this.#stopMoved(clientId)
    const only = new Set([clientId])
    for (const message of unacknowledged) {
      message.clusterId ??= this.#state.nextId()
      recordForward(this.#state, to, message, { all: true, groups: [], clients: only }, false)
      this.#forwarded++
    }
    for (const filter of filters) {
      // (Counted like a subscription: the route stays while the session's own count goes.)
      this.#routes.add(filter)
      this.#movedTree.add({
        clientId, key: filter, filter, group: undefined, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined,
      })
    }
    const timer = clock.setTimeout(() => this.#stopMoved(clientId), MOVE_GRACE_MS)
    timer.unref()
    this.#moved.set(clientId, { to, filters, timer })
  }

  async deliveredBefore(clientId: string): Promise<readonly number[]> {
    const ids = await this.#state.client.getBuffer(deliveredKey(clientId))
    const out: number[] = []
    for (let at = 0; ids !== null && at + 8 <= ids.length; at += 8) out.push(ids.readDoubleLE(at))
    return out
  }

  arriving(clientId: string): void {
    this.#stopMoved(clientId)
    if (!this.#arriving.has(clientId)) this.#arriving.set(clientId, { held: [], from: this.#meanwhileBase + this.#readMeanwhile.length })
  }

  arrived(clientId: string, movedIn: boolean): void {
    const arrival = this.#arriving.get(clientId)
    if (arrival === undefined) return
    this.#arriving.delete(clientId)
    // The stream entries that brought what was kept for it are acknowledged with what it stores now.
    const recorded = this.#state.recorded
    const entries: Buffer[] = []
    if (movedIn) {
      // What reached this node for everyone while the session was not here yet: its share now
      // (a copy it had another way, or had on the node it left, is not delivered twice).
      const only = new Set([clientId])
      const meanwhile = this.#readMeanwhile
      for (let i = arrival.from - this.#meanwhileBase; i < meanwhile.length; i++) {
        const e = meanwhile[i]
        this.#handler(e.message, { all: true, groups: [], clients: only })
        if (this.#moved.size > 0) this.#forwardMoved(e.message, only)
      }
    }
    // Kept from the first client still arriving on (nothing once none is).
    const first = this.#arriving.values().next().value
    const drop = first === undefined ? this.#readMeanwhile.length : first.from - this.#meanwhileBase
    if (drop > 0) {
      for (let i = 0; i < drop; i++) {
        const entry = this.#readMeanwhile[i].entry
        if (entry !== undefined) entries.push(entry)
      }
      this.#readMeanwhile = this.#readMeanwhile.slice(drop)
      this.#meanwhileBase += drop
    }
    for (const e of arrival.held) {
      this.#receive(e.message, e.forwarded, e.mirror, e.passedOn)
      if (e.entry !== undefined) entries.push(e.entry)
    }
    if (entries.length > 0) this.#reader?.release(entries, this.#state.recorded !== recorded)
  }

  /** The grace of a client that moved away ends (or it is back): its kept routes go. */
  #stopMoved(clientId: string): void {
    const moved = this.#moved.get(clientId)
    if (moved === undefined) return
    this.#moved.delete(clientId)
    clearTimeout(moved.timer)
    for (const filter of moved.filters) {
      this.#movedTree.remove(clientId, filter, undefined)
      this.#routes.remove(filter)
    }
  }

  /**
   * A message this node handles (published here, or read from its stream: `only` the clients it was
   * for) that matches clients that moved to other nodes: forwarded to each client's new node, for
   * that client only, with the node's other changes (from the stream: in the commit of its XACK).
   */
  #forwardMoved(message: Message, only: ReadonlySet<string> | undefined): void {
    for (const { clientId } of this.#movedTree.match(message.topic).clients) {
      const moved = this.#moved.get(clientId)
      if (moved === undefined || (only !== undefined && !only.has(clientId))) continue
      message.clusterId ??= this.#state.nextId()
      recordForward(this.#state, moved.to, message, { all: true, groups: [], clients: new Set([clientId]) }, false)
      this.#forwarded++
    }
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
      for (const clientId of [...this.#moved.keys()]) this.#stopMoved(clientId)
      this.#takeover.close()
      this.#routes.close()
      this.#qos0In?.close()
      this.#qos0Out?.close()
      await this.#reader?.close()
    })()
    return this.#closed
  }

  /** A client this node has just claimed from live node `previous`: see StreamTakeover.catchUp. */
  async catchUp(clientId: string, previous: string): Promise<number> {
    if (!this.#started || previous === this.nodeId) return 0
    return this.#takeover.catchUp(clientId, previous)
  }

  /** A message read from this node's stream: to the retained mirror, then to the subscriptions it names. */
  readonly #receive = (message: Message, forwarded: Forwarded, mirror: boolean, passedOn: boolean): void => {
    if (mirror) this.#mirror?.(message)
    if (!forwarded.all && forwarded.groups.length === 0) return
    const only = forwarded.clients
    if (only !== undefined) {
      // For a client being claimed here (forwarded by the node it left): once its session is here.
      for (const clientId of only) {
        const arrival = this.#arriving.get(clientId)
        if (arrival === undefined) continue
        // (Its entry stays unacknowledged until then: a crash before it is stored loses nothing.)
        arrival.held.push({ message, forwarded, mirror, passedOn, entry: this.#reader?.hold() })
        return
      }
    } else if (forwarded.all && this.#arriving.size > 0) {
      this.#readMeanwhile.push({ message, forwarded, mirror, passedOn, entry: this.#reader?.hold() })
    }
    const missed = this.#handler(message, forwarded)
    if (missed.length > 0 && !passedOn) this.#passOn(message, missed)
    if (this.#moved.size > 0 && forwarded.all) this.#forwardMoved(message, only)
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

  serveElsewhere(message: Message, key: string): boolean {
    if (!this.#started) return false
    const group = this.#routes.match(message.topic).groups.find((g) => g.key === key)
    const live = (group?.members ?? []).map((m) => m.clientId).filter((n) => this.#routes.alive(n))
    const pick = this.#pick(key, live, false)
    if (pick === undefined) return false
    recordForward(this.#state, pick, message, { all: false, groups: [key] }, false, true)
    this.#forwarded++
    return true
  }

  /**
   * A message for these shared groups that no member has had (a dead node's stream): each goes
   * to one member, here or on another node, as when it was published.
   */
  #serveGroups(message: Message, keys: readonly string[]): void {
    const groups = this.#routes.match(message.topic).groups
    const here: string[] = []
    for (const key of keys) {
      const members = groups.find((g) => g.key === key)?.members.map((m) => m.clientId) ?? []
      const pick = this.#pick(key, members, this.#routes.hasLocal(key))
      if (pick === undefined) here.push(key)
      else {
        recordForward(this.#state, pick, message, { all: false, groups: [key] }, false)
        this.#forwarded++
      }
    }
    if (here.length === 0) return
    const missed = this.#handler(message, { all: false, groups: here })
    if (missed.length > 0) this.#passOn(message, missed)
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
