/**
 * Persistent sessions in Redis (`cluster`), change by change, behind the same SessionStore
 * interface as SQLite: every change is queued into the state's next MULTI/EXEC, fenced by
 * the epoch this node holds for the client id (registry.ts): a node writes only the sessions
 * of client ids it owns, and a write after another node claimed the id is refused.
 *
 * Layout (keys of one session share the hash tag `{clientId}`, so they sit in one slot of a
 * Redis Cluster):
 *   pc:sessions            SET of client ids with a stored session
 *   pc:{cid}:owner         HASH the client registry entry: node, epoch (registry.ts)
 *   pc:{cid}:s             HASH facts: expiry, connected, last (JSON), will (JSON), node
 *   pc:{cid}:subs          HASH filter → options (JSON)
 *   pc:{cid}:d             HASH delivery id → { m: message id, qos, retain, sids, pid, st, ord }
 *   pc:{cid}:in            SET incoming QoS 2 packet ids not yet released
 *   pc:msg:{id}            HASH b: a message (JSON), stored once however many deliveries use it;
 *                          n: its deliveries (on any node); it goes with the last one.
 *   pc:held:{node}         SET of the client ids whose stored session the node holds (loaded or
 *                          saved there): when the node dies, its stream (src/cluster/streams.ts)
 *                          is kept until each of them has taken what waited there for it.
 *
 * On a Redis Cluster (`state.sharded`) a fenced write may touch only its client's slot:
 *   - a delivery carries its message's body (`b`) instead of sharing `pc:msg:{id}`;
 *   - `pc:sessions` and `pc:held:{node}` are written beside the fenced write, not inside it:
 *     the SADDs in the same group (a session refused by the fence may stay listed: `load`
 *     tidies it; a held set may keep an id, which only delays the sweep of that node's stream),
 *     the SREMs only once the fenced end has committed (so a session is never unlisted while stored).
 */
import type { Delivery, Message, QoS } from '../../mqtt/types.js'
import type {
  CommitBarrier, SessionFacts, SessionStore, StoredInflight, StoredSession, StoredSubscription,
} from '../types.js'
import { propertiesFromJson, propertiesToJson } from '../sqlite/properties-json.js'
import type { FencedCommand, RedisState } from './redis-state.js'
import { clock } from '../../clock.js'
import { HEARTBEAT_MS } from '../../cluster/membership.js'
import { inParallel } from '../../in-parallel.js'
import { ADOPT_BATCH } from '../../cluster/ownership.js'
import type { OrphanClaim, OrphanHeldSet, OrphanRead, OrphanReads } from '../../cluster/registry.js'

/** The epochs this node holds for client ids (the cluster's client registry). */
export interface ClientEpochs {
  epochOf(clientId: string): string | undefined
  /** Claim a stored session's id unless a live node owns it: false, or the node that held it ('' none). */
  claimOrphan(clientId: string, liveNodes: readonly string[]): Promise<false | { readonly previous: string }>
  /**
   * claimOrphan for many client ids in one request (one Redis): the claimed ids with the node
   * that held each; those with a stored session join `held.set` in the same step (`listed`).
   */
  claimOrphans(clientIds: readonly string[], liveNodes: readonly string[], held: OrphanHeldSet): Promise<ReadonlyMap<string, OrphanClaim>>
  /** claimOrphan for many client ids on a Redis Cluster, each id's keys `reads(cid)` read in its claim's step. */
  claimOrphansReading(
    clientIds: readonly string[], liveNodes: readonly string[], reads: (clientId: string) => OrphanReads,
  ): Promise<ReadonlyMap<string, OrphanRead>>
  liveNodes(): Promise<string[]>
  /** Epoch ms of a node's last heartbeat (when a dead node's connections were lost). */
  lastHeartbeat(nodeId: string): Promise<number | undefined>
}

/** A stored session claimed from no live node, and the node that held it (undefined: none). */
export interface AdoptedSession {
  readonly session: StoredSession
  readonly previous: string | undefined
}

export const SESSION_KEYS = {
  sessions: 'pc:sessions',
  owner: (cid: string) => `pc:{${cid}}:owner`,
  facts: (cid: string) => `pc:{${cid}}:s`,
  subs: (cid: string) => `pc:{${cid}}:subs`,
  deliveries: (cid: string) => `pc:{${cid}}:d`,
  incoming: (cid: string) => `pc:{${cid}}:in`,
  message: (id: number) => `pc:msg:{${id}}`,
  held: (node: string) => `pc:held:{${node}}`,
} as const

/** A message as JSON (payload base64, properties as properties-json.ts). */
export interface MessageJson {
  readonly topic: string
  readonly payload: string
  readonly qos: number
  readonly retain: boolean
  readonly properties: string | null
  readonly expiresAt: number | null
  readonly origin: string | null
  /** Its cluster id (Message.clusterId), when it came from another node. */
  readonly cid?: number
}

interface DeliveryJson {
  readonly m: number
  /** The message itself (Redis Cluster: no shared `pc:msg:{id}`). */
  readonly b?: string
  readonly qos: number
  readonly retain: boolean
  readonly sids: readonly number[] | null
  pid: number | null
  /** 0 queued, 1 PUBLISH sent, 2 PUBREL sent. */
  st: number
  /** Resend order. */
  ord: number
  /** The shared subscription it came through. */
  readonly g?: string
}

/** A session's keys as read by one request (see #loadMany), its deliveries in resend order. */
interface RawSession {
  readonly cid: string
  readonly facts: Record<string, string>
  readonly subs: Record<string, string>
  readonly dels: Record<string, string>
  readonly incoming: string[]
  readonly rows: ReadonlyArray<readonly [number, DeliveryJson]>
}

/** A session's keys as read from Redis, its deliveries parsed and put in resend order. */
function rawSession(cid: string, facts: Record<string, string>, subs: Record<string, string>, dels: Record<string, string>, incoming: string[]): RawSession {
  const rows: Array<[number, DeliveryJson]> = []
  for (const [id, text] of Object.entries(dels)) rows.push([Number(id), JSON.parse(text) as DeliveryJson])
  rows.sort((a, b) => a[1].ord - b[1].ord)
  return { cid, facts, subs, dels, incoming, rows }
}

interface Tracked {
  readonly clientId: string
  readonly json: DeliveryJson
}

export function messageToJson(m: Message): string {
  const j: MessageJson = {
    topic: m.topic,
    payload: m.payload.toString('base64'),
    qos: m.qos,
    retain: m.retain,
    properties: propertiesToJson(m.properties),
    expiresAt: m.expiresAt ?? null,
    origin: m.origin ?? null,
    ...(m.clusterId !== undefined ? { cid: m.clusterId } : {}),
  }
  return JSON.stringify(j)
}

export function messageFromJson(text: string): Message {
  const j = JSON.parse(text) as MessageJson
  const m: Message = {
    topic: j.topic,
    payload: Buffer.from(j.payload, 'base64'),
    qos: j.qos as QoS,
    retain: j.retain,
    properties: propertiesFromJson(j.properties),
    expiresAt: j.expiresAt ?? undefined,
    origin: j.origin ?? undefined,
  }
  if (j.cid !== undefined) m.clusterId = j.cid
  return m
}

export class RedisSessionStore implements SessionStore {
  readonly durable = true
  readonly commits: CommitBarrier
  readonly #state: RedisState
  readonly #epochs: ClientEpochs
  readonly #messageIds = new WeakMap<Message, number>()
  /** Redis Cluster: each message's JSON, written into each of its deliveries. */
  readonly #bodies = new WeakMap<Message, string>()
  /** Deliveries still stored per message id. */
  readonly #refs = new Map<number, number>()
  /** Each stored delivery: its session and its stored record. */
  readonly #deliveries = new Map<number, Tracked>()
  /** The stored deliveries of each client. */
  readonly #byClient = new Map<string, Set<number>>()
  /** Nodes' last heartbeats, as read recently (#lastHeartbeat). */
  readonly #heartbeats = new Map<string, { readonly readAt: number; readonly at: Promise<number | undefined> }>()

  constructor(state: RedisState, epochs: ClientEpochs) {
    this.#state = state
    this.commits = state
    this.#epochs = epochs
  }

  /**
   * Start-up: the stored sessions no live node owns (their node stopped or died, or this is
   * their node starting again) are claimed and loaded; the others stay with their node.
   * ADOPT_BATCH client ids at a time (adoptOrphans), two batches in flight: one is read and built
   * here while Redis answers the other.
   */
  async recover(): Promise<StoredSession[]> {
    const live = await this.liveOthers()
    const ids = await this.storedClientIds()
    const out: StoredSession[] = []
    const batches: string[][] = []
    for (let i = 0; i < ids.length; i += ADOPT_BATCH) batches.push(ids.slice(i, i + ADOPT_BATCH))
    await inParallel(batches, 2, async (batch) => {
      for (const s of await this.adoptOrphans(batch, live)) out.push(s.session)
    })
    return out
  }

  /** The client ids with a stored session, on any node. */
  storedClientIds(): Promise<string[]> {
    return this.#state.client.smembers(SESSION_KEYS.sessions)
  }

  /** The other nodes alive now. */
  async liveOthers(): Promise<string[]> {
    return (await this.#epochs.liveNodes()).filter((n) => n !== this.#state.nodeId)
  }

  /**
   * The sessions of client ids whose node is not among `live`, claimed and loaded (a node that
   * died leaves its sessions to the survivors; the Lua claims let exactly one take each), at most
   * a few hundred at once: one request carries them. Each is claimed as claimOrphan claims it
   * (fenced by its own registry entry, under a newer epoch; not when a live node owns it, or this
   * node already held it). The caller makes sure no other claim of these ids
   * runs on this node meanwhile (start-up; a dead node's adoption holds each id's turn).
   *
   * One Redis: one script call claims them all (each claimed id with a stored session listed in
   * this node's held set in the same step), one MULTI reads the claimed sessions, one pipeline
   * their messages' bodies (a message queued for many sessions read once): three requests instead
   * of three per session. A Redis Cluster (each client id's keys in a slot of their own): each id
   * is claimed and its session read in one script call, the calls to one master sent in one
   * pipeline, the masters' together: one request per session instead of two, a round trip per
   * master instead of one per session.
   */
  async adoptOrphans(clientIds: readonly string[], live: readonly string[]): Promise<AdoptedSession[]> {
    if (clientIds.length === 0) return []
    const out: AdoptedSession[] = []
    const adopted = (session: StoredSession | undefined, previous: string): void => {
      if (session !== undefined) out.push({ session, previous: previous === '' ? undefined : previous })
    }
    const K = SESSION_KEYS
    if (this.#state.sharded) {
      const reads = (cid: string): OrphanReads => ({ hashes: [K.facts(cid), K.subs(cid), K.deliveries(cid)], sets: [K.incoming(cid)] })
      const claimed = await this.#epochs.claimOrphansReading(clientIds, live, reads)
      const none = new Map<number, Message | undefined>()
      await Promise.all([...claimed].map(async ([cid, r]) => {
        this.#forgetDeliveries(cid)
        const [facts = {}, subs = {}, dels = {}] = r.hashes
        adopted(await this.#restoreLoaded(rawSession(cid, facts, subs, dels, [...(r.sets[0] ?? [])]), none, false), r.previous)
      }))
      return out
    }
    const held: OrphanHeldSet = { set: K.held(this.#state.nodeId), facts: K.facts }
    const claimed = await this.#epochs.claimOrphans(clientIds, live, held)
    const ids = [...claimed.keys()]
    const listed = new Set(ids.filter((cid) => claimed.get(cid)?.listed === true))
    for (const [i, s] of (await this.#loadMany(ids, listed)).entries()) adopted(s, claimed.get(ids[i])?.previous ?? '')
    return out
  }

  /**
   * One stored session (after this node claimed its client id), or undefined when none is
   * stored; what this node tracked of the client before is dropped (another node may have
   * changed it since).
   */
  async load(cid: string): Promise<StoredSession | undefined> {
    return (await this.#loadMany([cid]))[0]
  }

  /**
   * Sessions after this node claimed their client ids (see load), in that order: their keys read
   * in one MULTI, the bodies of their messages (one Redis: shared `pc:msg:{id}`) in one pipeline.
   * On a Redis Cluster one client id at a time (a MULTI stays in one slot).
   */
  async #loadMany(cids: readonly string[], listed: ReadonlySet<string> = new Set()): Promise<Array<StoredSession | undefined>> {
    if (cids.length === 0) return []
    if (this.#state.sharded && cids.length > 1) throw new TypeError('#loadMany: one client id at a time on a Redis Cluster')
    const r = this.#state.client
    const K = SESSION_KEYS
    const multi = r.multi()
    for (const cid of cids) {
      this.#forgetDeliveries(cid)
      multi.hgetall(K.facts(cid)).hgetall(K.subs(cid)).hgetall(K.deliveries(cid)).smembers(K.incoming(cid))
    }
    const got = await multi.exec()
    if (got === null) throw new Error('cluster: reading a session from Redis was aborted')
    for (const [err] of got) if (err !== null) throw err
    const raw: RawSession[] = cids.map((cid, i) => {
      type Read = [Record<string, string>, Record<string, string>, Record<string, string>, string[]]
      const [facts, subs, dels, incoming] = got.slice(4 * i, 4 * i + 4).map(([, v]) => v) as Read
      return rawSession(cid, facts, subs, dels, incoming)
    })
    // Each message read and parsed once, however many of these sessions hold it (one object for
    // all, as when it was published).
    const messages = new Map<number, Message | undefined>()
    if (!this.#state.sharded) {
      for (const s of raw) if (s.facts['expiry'] !== undefined) for (const [, d] of s.rows) messages.set(d.m, undefined)
      if (messages.size > 0) {
        const wanted = [...messages.keys()]
        const read = await r.pipeline(wanted.map((m) => ['hget', K.message(m), 'b'])).exec()
        for (const [i, m] of wanted.entries()) {
          const text = read?.[i]?.[1]
          if (typeof text === 'string') messages.set(m, messageFromJson(text))
        }
      }
    }
    return Promise.all(raw.map((s) => this.#restoreLoaded(s, messages, listed.has(s.cid))))
  }

  /** One session as read by #loadMany (undefined: none stored, its leftovers tidied). */
  async #restoreLoaded(raw: RawSession, messages: ReadonlyMap<number, Message | undefined>, heldAlready: boolean): Promise<StoredSession | undefined> {
    const { cid, facts, subs, dels, incoming, rows } = raw
    const K = SESSION_KEYS
    if (facts['expiry'] === undefined) {
      // Listed without facts (its end was half-written), or not stored at all: tidy.
      const leftovers = Object.keys(subs).length + Object.keys(dels).length + incoming.length > 0
      if (this.#state.sharded) {
        // (pc:sessions is another slot: a refused save may have listed the id without facts.)
        if (leftovers) this.#fenced(cid, [K.subs(cid), K.deliveries(cid), K.incoming(cid)], [['DEL', K.subs(cid), K.deliveries(cid), K.incoming(cid)]])
        this.#state.record((m) => m.srem(K.sessions, cid))
      } else if (leftovers) {
        this.#fenced(cid, [K.sessions, K.subs(cid), K.deliveries(cid), K.incoming(cid)], [['SREM', K.sessions, cid], ['DEL', K.subs(cid), K.deliveries(cid), K.incoming(cid)]])
      }
      return undefined
    }
    // Held here from now on (a node's death keeps its stream until its held sessions took their
    // part); a batch claim added it to the held set itself.
    const held = K.held(this.#state.nodeId)
    if (!heldAlready && this.#state.sharded) this.#state.record((m) => m.sadd(held, cid))
    else if (!heldAlready) this.#fenced(cid, [held], [['SADD', held, cid]])
    const node = facts['node'] ?? ''
    const lostAt = (node === '' ? undefined : await this.#lastHeartbeat(node)) ?? clock.now()
    const queue: Delivery[] = []
    const inflight: StoredInflight[] = []
    const orphans: string[] = []
    for (const [id, d] of rows) {
      this.#state.seenId(id)
      this.#state.seenId(d.ord)
      const message = d.b !== undefined ? messageFromJson(d.b) : messages.get(d.m)
      if (message === undefined) {
        orphans.push(String(id))
        continue
      }
      this.#messageIds.set(message, d.m)
      this.#track(id, cid, d)
      this.#refs.set(d.m, (this.#refs.get(d.m) ?? 0) + 1)
      const delivery: Delivery = {
        message, qos: d.qos as QoS, retain: d.retain, subscriptionIds: d.sids ?? undefined, stored: id, ...(d.g !== undefined ? { group: d.g } : {}),
      }
      if (d.pid === null) queue.push(delivery)
      else inflight.push({ delivery, packetId: d.pid, state: d.st === 2 ? 'pubrel' : 'publish' })
    }
    if (orphans.length > 0) this.#fenced(cid, [K.deliveries(cid)], [['HDEL', K.deliveries(cid), ...orphans]])
    queue.sort((a, b) => (a.stored as number) - (b.stored as number))
    return {
      clientId: cid,
      expiryInterval: Number(facts['expiry']),
      connected: facts['connected'] === '1',
      lastConnection: facts['last'] === undefined || facts['last'] === '' ? undefined : (JSON.parse(facts['last']) as SessionFacts['lastConnection']),
      will: facts['will'] === undefined || facts['will'] === '' ? undefined : willFromJson(facts['will']),
      lostAt,
      subscriptions: Object.entries(subs).map(([key, options]) => ({ key, ...(JSON.parse(options) as Omit<StoredSubscription, 'key'>) })),
      queue,
      inflight,
      incomingQos2: incoming.map(Number),
    }
  }

  /** The client id was taken over by another node: forget what is tracked here, write nothing. */
  handedOver(clientId: string): void {
    this.#forgetDeliveries(clientId)
    const held = SESSION_KEYS.held(this.#state.nodeId)
    this.#state.record((m) => m.srem(held, clientId))
  }

  saveSession(f: SessionFacts): void {
    const fields = [
      'expiry', String(f.expiryInterval),
      'connected', f.connected ? '1' : '0',
      'last', f.lastConnection === undefined ? '' : JSON.stringify(f.lastConnection),
      'will', f.will === undefined ? '' : willToJson(f.will),
      'node', this.#state.nodeId,
    ]
    const cid = f.clientId
    const K = SESSION_KEYS
    const held = K.held(this.#state.nodeId)
    if (this.#state.sharded) {
      this.#fenced(cid, [K.facts(cid)], [['HSET', K.facts(cid), ...fields]])
      this.#state.record((m) => m.sadd(K.sessions, cid).sadd(held, cid))
      return
    }
    this.#fenced(cid, [K.sessions, K.facts(cid), held], [['SADD', K.sessions, cid], ['HSET', K.facts(cid), ...fields], ['SADD', held, cid]])
  }

  endSession(clientId: string, deliveries: Iterable<number>): void {
    const K = SESSION_KEYS
    const held = K.held(this.#state.nodeId)
    if (this.#state.sharded) {
      for (const id of deliveries) this.#release(id)
      const state = this.#state
      this.#fenced(clientId, [K.facts(clientId), K.subs(clientId), K.deliveries(clientId), K.incoming(clientId)], [['DEL', K.facts(clientId), K.subs(clientId), K.deliveries(clientId), K.incoming(clientId)]])
      state.afterCommit((err) => {
        if (err === undefined) state.record((m) => m.srem(K.sessions, clientId).srem(held, clientId))
      })
      return
    }
    const keys = [K.sessions, K.facts(clientId), K.subs(clientId), K.deliveries(clientId), K.incoming(clientId), held]
    const commands: FencedCommand[] = [['SREM', K.sessions, clientId], ['DEL', K.facts(clientId), K.subs(clientId), K.deliveries(clientId), K.incoming(clientId)], ['SREM', held, clientId]]
    for (const id of deliveries) {
      const messageKey = this.#release(id)
      if (messageKey === undefined) continue
      keys.push(messageKey)
      commands.push(['UNREF', messageKey])
    }
    this.#fenced(clientId, keys, commands)
  }

  addSubscription(clientId: string, sub: StoredSubscription): void {
    const { key, ...options } = sub
    const json = JSON.stringify(options)
    const k = SESSION_KEYS.subs(clientId)
    this.#fenced(clientId, [k], [['HSET', k, key, json]])
  }

  removeSubscription(clientId: string, key: string): void {
    const k = SESSION_KEYS.subs(clientId)
    this.#fenced(clientId, [k], [['HDEL', k, key]])
  }

  queueDelivery(clientId: string, d: Delivery): number {
    const msg = d.message
    let messageId = this.#messageIds.get(msg)
    if (messageId === undefined) {
      messageId = this.#state.nextId()
      this.#messageIds.set(msg, messageId)
    }
    const refs = this.#refs.get(messageId) ?? 0
    this.#refs.set(messageId, refs + 1)
    const id = this.#state.nextId()
    const json: DeliveryJson = {
      m: messageId, qos: d.qos, retain: d.retain, sids: d.subscriptionIds ?? null, pid: null, st: 0, ord: id, ...(d.group !== undefined ? { g: d.group } : {}),
    }
    const k = SESSION_KEYS.deliveries(clientId)
    if (this.#state.sharded) {
      // The body goes with the delivery, in the client's slot (one copy per delivery).
      let body = this.#bodies.get(msg)
      if (body === undefined) this.#bodies.set(msg, (body = messageToJson(msg)))
      const inline: DeliveryJson = { ...json, b: body }
      this.#track(id, clientId, inline)
      this.#fenced(clientId, [k], [['HSET', k, String(id), JSON.stringify(inline)]])
      return id
    }
    this.#track(id, clientId, json)
    const messageKey = SESSION_KEYS.message(messageId)
    // The body is written with this node's first delivery of the message (the same bytes if
    // another node wrote it already); the count goes up with every delivery.
    const commands: FencedCommand[] = refs === 0 ? [['HSET', messageKey, 'b', messageToJson(msg)]] : []
    commands.push(['HINCRBY', messageKey, 'n', 1], ['HSET', k, String(id), JSON.stringify(json)])
    this.#fenced(clientId, [messageKey, k], commands)
    return id
  }

  deliverySent(delivery: number, packetId: number): void {
    const t = this.#deliveries.get(delivery)
    if (t === undefined) return
    t.json.pid = packetId
    t.json.st = 1
    this.#write(delivery, t.clientId, t.json)
  }

  deliveryReleased(delivery: number): void {
    const t = this.#deliveries.get(delivery)
    if (t === undefined) return
    t.json.st = 2
    t.json.ord = this.#state.nextId()
    this.#write(delivery, t.clientId, t.json)
  }

  deliveryDone(delivery: number): void {
    const t = this.#deliveries.get(delivery)
    if (t === undefined) return
    const messageKey = this.#release(delivery) as string
    const k = SESSION_KEYS.deliveries(t.clientId)
    if (this.#state.sharded) return this.#fenced(t.clientId, [k], [['HDEL', k, String(delivery)]])
    this.#fenced(t.clientId, [k, messageKey], [['HDEL', k, String(delivery)], ['UNREF', messageKey]])
  }

  addIncomingQos2(clientId: string, packetId: number): void {
    const k = SESSION_KEYS.incoming(clientId)
    this.#fenced(clientId, [k], [['SADD', k, packetId]])
  }

  removeIncomingQos2(clientId: string, packetId: number): void {
    const k = SESSION_KEYS.incoming(clientId)
    this.#fenced(clientId, [k], [['SREM', k, packetId]])
  }

  /**
   * A node's last heartbeat, read at most once a HEARTBEAT_MS for all the sessions loaded
   * meanwhile (a dead node's does not change; a live one's moves by a beat at most).
   */
  #lastHeartbeat(node: string): Promise<number | undefined> {
    const now = clock.now()
    const known = this.#heartbeats.get(node)
    if (known !== undefined && now - known.readAt < HEARTBEAT_MS) return known.at
    const at = this.#epochs.lastHeartbeat(node)
    this.#heartbeats.set(node, { readAt: now, at })
    // (A failed read is not kept: the next load asks again.)
    at.catch(() => this.#heartbeats.delete(node))
    return at
  }

  /** Deliveries and distinct messages stored (metrics). */
  counts(): { deliveries: number; messages: number } {
    return { deliveries: this.#deliveries.size, messages: this.#refs.size }
  }

  async close(): Promise<void> {
    // The Redis state is closed by its owner (it also holds retained messages).
  }

  #write(id: number, clientId: string, json: DeliveryJson): void {
    const k = SESSION_KEYS.deliveries(clientId)
    this.#fenced(clientId, [k], [['HSET', k, String(id), JSON.stringify(json)]])
  }

  /** A change to one client's session, applied only while this node holds its epoch. */
  #fenced(clientId: string, keys: readonly string[], commands: readonly FencedCommand[]): void {
    this.#state.recordFenced(clientId, SESSION_KEYS.owner(clientId), this.#epochs.epochOf(clientId), keys, commands)
  }

  /** Forget a delivery here; returns its message's key (the caller sends UNREF with its own change). */
  #release(delivery: number): string | undefined {
    const t = this.#deliveries.get(delivery)
    if (t === undefined) return undefined
    this.#deliveries.delete(delivery)
    const mine = this.#byClient.get(t.clientId)
    mine?.delete(delivery)
    if (mine?.size === 0) this.#byClient.delete(t.clientId)
    const messageId = t.json.m
    const refs = (this.#refs.get(messageId) ?? 1) - 1
    if (refs > 0) this.#refs.set(messageId, refs)
    else this.#refs.delete(messageId)
    return SESSION_KEYS.message(messageId)
  }

  /** Drop what is tracked here of a client's deliveries (no write). */
  #forgetDeliveries(clientId: string): void {
    for (const id of [...(this.#byClient.get(clientId) ?? [])]) this.#release(id)
  }

  #track(id: number, clientId: string, json: DeliveryJson): void {
    this.#deliveries.set(id, { clientId, json })
    let mine = this.#byClient.get(clientId)
    if (mine === undefined) this.#byClient.set(clientId, (mine = new Set()))
    mine.add(id)
  }
}

function willToJson(w: NonNullable<SessionFacts['will']>): string {
  return JSON.stringify({ message: messageToJson(w.message), delay: w.delay, expiry: w.expiry, publishAt: w.publishAt })
}

function willFromJson(text: string): NonNullable<SessionFacts['will']> {
  const j = JSON.parse(text) as { message: string; delay: number; expiry: number | undefined; publishAt: number | undefined }
  return { message: messageFromJson(j.message), delay: j.delay, expiry: j.expiry, publishAt: j.publishAt }
}
