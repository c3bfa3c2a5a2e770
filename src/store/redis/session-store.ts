/**
 * Persistent sessions in Redis (`cluster`), change by change, behind the same SessionStore
 * interface as SQLite: every change is a command queued into the state's next MULTI/EXEC.
 *
 * Layout (keys of one session share the hash tag `{clientId}`, so they sit in one slot of a
 * Redis Cluster):
 *   pc:sessions            SET of client ids with a stored session
 *   pc:{cid}:s             HASH facts: expiry, connected, last (JSON), will (JSON), node
 *   pc:{cid}:subs          HASH filter → options (JSON)
 *   pc:{cid}:d             HASH delivery id → { m: message id, qos, retain, sids, pid, st, ord }
 *   pc:{cid}:in            SET incoming QoS 2 packet ids not yet released
 *   pc:msg:{id}            STRING a message (JSON), stored once however many deliveries use it
 * A count kept in memory (message id → deliveries) deletes a message with its last delivery.
 */
import type { Delivery, Message, QoS } from '../../mqtt/types.js'
import type {
  SessionFacts, SessionStore, StoredInflight, StoredSession, StoredSubscription,
} from '../types.js'
import { propertiesFromJson, propertiesToJson } from '../sqlite/properties-json.js'
import type { RedisState } from './redis-state.js'

export const SESSION_KEYS = {
  sessions: 'pc:sessions',
  facts: (cid: string) => `pc:{${cid}}:s`,
  subs: (cid: string) => `pc:{${cid}}:subs`,
  deliveries: (cid: string) => `pc:{${cid}}:d`,
  incoming: (cid: string) => `pc:{${cid}}:in`,
  message: (id: number) => `pc:msg:{${id}}`,
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
}

interface DeliveryJson {
  readonly m: number
  readonly qos: number
  readonly retain: boolean
  readonly sids: readonly number[] | null
  pid: number | null
  /** 0 queued, 1 PUBLISH sent, 2 PUBREL sent. */
  st: number
  /** Resend order. */
  ord: number
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
  }
  return JSON.stringify(j)
}

export function messageFromJson(text: string): Message {
  const j = JSON.parse(text) as MessageJson
  return {
    topic: j.topic,
    payload: Buffer.from(j.payload, 'base64'),
    qos: j.qos as QoS,
    retain: j.retain,
    properties: propertiesFromJson(j.properties),
    expiresAt: j.expiresAt ?? undefined,
    origin: j.origin ?? undefined,
  }
}

export class RedisSessionStore implements SessionStore {
  readonly durable = true
  readonly #state: RedisState
  readonly #messageIds = new WeakMap<Message, number>()
  /** Deliveries still stored per message id. */
  readonly #refs = new Map<number, number>()
  /** Each stored delivery: its session and its stored record. */
  readonly #deliveries = new Map<number, Tracked>()

  constructor(state: RedisState) {
    this.#state = state
  }

  get pending(): boolean {
    return this.#state.pending
  }

  get recorded(): number {
    return this.#state.recorded
  }

  get available(): boolean {
    return this.#state.available
  }

  afterCommit(done: (err: Error | undefined) => void): void {
    this.#state.afterCommit(done)
  }

  async recover(): Promise<StoredSession[]> {
    const r = this.#state.client
    const K = SESSION_KEYS
    const ids = await r.smembers(K.sessions)
    const out: StoredSession[] = []
    const messages = new Map<number, Message>()
    const orphans: Array<[string, string]> = []
    const lostAtOf = new Map<string, number>()
    const now = Date.now()
    for (const cid of ids) {
      const got = await r.multi().hgetall(K.facts(cid)).hgetall(K.subs(cid)).hgetall(K.deliveries(cid)).smembers(K.incoming(cid)).exec()
      if (got === null) throw new Error('cluster: reading a session from Redis was aborted')
      for (const [err] of got) if (err !== null) throw err
      const [facts, subs, dels, incoming] = got.map(([, v]) => v) as [Record<string, string>, Record<string, string>, Record<string, string>, string[]]
      if (facts['expiry'] === undefined) {
        // Listed without facts (its end was half-written): tidy.
        this.#state.record((m) => m.srem(K.sessions, cid).del(K.subs(cid), K.deliveries(cid), K.incoming(cid)))
        continue
      }
      const node = facts['node'] ?? ''
      let lostAt = lostAtOf.get(node)
      if (lostAt === undefined) {
        lostAt = (node === '' ? undefined : await this.#state.aliveAt(node)) ?? now
        lostAtOf.set(node, lostAt)
      }
      const rows: Array<[number, DeliveryJson]> = []
      for (const [id, text] of Object.entries(dels)) rows.push([Number(id), JSON.parse(text) as DeliveryJson])
      rows.sort((a, b) => a[1].ord - b[1].ord)
      const queue: Delivery[] = []
      const inflight: StoredInflight[] = []
      for (const [id, d] of rows) {
        this.#state.seenId(id)
        this.#state.seenId(d.ord)
        let message = messages.get(d.m)
        if (message === undefined) {
          const text = await r.get(K.message(d.m))
          if (text !== null) {
            message = messageFromJson(text)
            messages.set(d.m, message)
            this.#messageIds.set(message, d.m)
          }
        }
        if (message === undefined) {
          orphans.push([cid, String(id)])
          continue
        }
        this.#deliveries.set(id, { clientId: cid, json: d })
        this.#refs.set(d.m, (this.#refs.get(d.m) ?? 0) + 1)
        const delivery: Delivery = { message, qos: d.qos as QoS, retain: d.retain, subscriptionIds: d.sids ?? undefined, stored: id }
        if (d.pid === null) queue.push(delivery)
        else inflight.push({ delivery, packetId: d.pid, state: d.st === 2 ? 'pubrel' : 'publish' })
      }
      queue.sort((a, b) => (a.stored as number) - (b.stored as number))
      out.push({
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
      })
    }
    for (const [cid, id] of orphans) this.#state.record((m) => m.hdel(K.deliveries(cid), id))
    return out
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
    this.#state.record((m) => m.sadd(SESSION_KEYS.sessions, cid).hset(SESSION_KEYS.facts(cid), ...fields))
  }

  endSession(clientId: string, deliveries: Iterable<number>): void {
    for (const id of deliveries) this.#release(id)
    const K = SESSION_KEYS
    this.#state.record((m) => m.srem(K.sessions, clientId).del(K.facts(clientId), K.subs(clientId), K.deliveries(clientId), K.incoming(clientId)))
  }

  addSubscription(clientId: string, sub: StoredSubscription): void {
    const { key, ...options } = sub
    const json = JSON.stringify(options)
    this.#state.record((m) => m.hset(SESSION_KEYS.subs(clientId), key, json))
  }

  removeSubscription(clientId: string, key: string): void {
    this.#state.record((m) => m.hdel(SESSION_KEYS.subs(clientId), key))
  }

  queueDelivery(clientId: string, d: Delivery): number {
    const msg = d.message
    let messageId = this.#messageIds.get(msg)
    if (messageId === undefined) {
      messageId = this.#state.nextId()
      this.#messageIds.set(msg, messageId)
    }
    const refs = this.#refs.get(messageId) ?? 0
    if (refs === 0) {
      const key = SESSION_KEYS.message(messageId)
      const text = messageToJson(msg)
      this.#state.record((m) => m.set(key, text))
    }
    this.#refs.set(messageId, refs + 1)
    const id = this.#state.nextId()
    const json: DeliveryJson = { m: messageId, qos: d.qos, retain: d.retain, sids: d.subscriptionIds ?? null, pid: null, st: 0, ord: id }
    this.#deliveries.set(id, { clientId, json })
    this.#write(id, clientId, json)
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
    this.#release(delivery)
    this.#state.record((m) => m.hdel(SESSION_KEYS.deliveries(t.clientId), String(delivery)))
  }

  addIncomingQos2(clientId: string, packetId: number): void {
    this.#state.record((m) => m.sadd(SESSION_KEYS.incoming(clientId), packetId))
  }

  removeIncomingQos2(clientId: string, packetId: number): void {
    this.#state.record((m) => m.srem(SESSION_KEYS.incoming(clientId), packetId))
  }

  /** Deliveries and distinct messages stored (metrics). */
  counts(): { deliveries: number; messages: number } {
    return { deliveries: this.#deliveries.size, messages: this.#refs.size }
  }

  async close(): Promise<void> {
    // The Redis state is closed by its owner (it also holds retained messages).
  }

  #write(id: number, clientId: string, json: DeliveryJson): void {
    const text = JSON.stringify(json)
    this.#state.record((m) => m.hset(SESSION_KEYS.deliveries(clientId), String(id), text))
  }

  /** Forget a delivery; its message goes with the last delivery that referenced it. */
  #release(delivery: number): void {
    const t = this.#deliveries.get(delivery)
    if (t === undefined) return
    this.#deliveries.delete(delivery)
    const messageId = t.json.m
    const refs = (this.#refs.get(messageId) ?? 1) - 1
    if (refs > 0) {
      this.#refs.set(messageId, refs)
      return
    }
    this.#refs.delete(messageId)
    this.#state.record((m) => m.del(SESSION_KEYS.message(messageId)))
  }
}

function willToJson(w: NonNullable<SessionFacts['will']>): string {
  return JSON.stringify({ message: messageToJson(w.message), delay: w.delay, expiry: w.expiry, publishAt: w.publishAt })
}

function willFromJson(text: string): NonNullable<SessionFacts['will']> {
  const j = JSON.parse(text) as { message: string; delay: number; expiry: number | undefined; publishAt: number | undefined }
  return { message: messageFromJson(j.message), delay: j.delay, expiry: j.expiry, publishAt: j.publishAt }
}
