/**
 * Persistent sessions in the state database (`persistence.sessions`), change by change: a
 * session's facts, its subscriptions, each QoS 1/2 message queued for it and that message's
 * way through the protocol (packet id assigned, PUBREL sent, acknowledged), and incoming
 * QoS 2 packet ids. A message is stored once however many sessions it is queued for: the
 * deliveries reference it and a count kept in memory deletes it with its last delivery.
 * Nothing is read after recovery; every write goes into the database's next group commit.
 */
import type { Statement } from 'better-sqlite3'
import type { Delivery, Message, QoS } from '../../mqtt/types.js'
import type {
  SessionFacts, SessionStore, StoredInflight, StoredSession, StoredSubscription,
} from '../types.js'
import { propertiesFromJson, propertiesToJson } from './properties-json.js'
import type { StateDatabase } from './state-database.js'

interface MessageRow {
  readonly id: number
  readonly topic: string
  readonly payload: Buffer
  readonly qos: number
  readonly retain: number
  readonly properties: string | null
  readonly expires_at: number | null
  readonly origin: string | null
}

interface DeliveryRow {
  readonly id: number
  readonly client_id: string
  readonly message_id: number
  readonly qos: number
  readonly retain: number
  readonly subscription_ids: string | null
  readonly packet_id: number | null
  readonly state: number
}

interface SessionRow {
  readonly client_id: string
  readonly expiry_interval: number
  readonly connected: number
  readonly last_connection: string | null
  readonly will: string | null
}

interface WillJson {
  readonly message: Omit<Message, 'payload' | 'properties' | 'encoded'> & { payload: string; properties: string | null }
  readonly delay: number
  readonly expiry: number | undefined
  readonly publishAt: number | undefined
}

const STATE_SENT = 1
const STATE_PUBREL = 2

export class SqliteSessionStore implements SessionStore {
  readonly durable = true
  readonly #state: StateDatabase
  readonly #s: Record<string, Statement>
  /** The stored id of each message object written (a message is written once). */
  readonly #messageIds = new WeakMap<Message, number>()
  /** Deliveries still stored per message id. */
  readonly #refs = new Map<number, number>()
  /** The message id of each stored delivery. */
  readonly #deliveryMessage = new Map<number, number>()
  #nextMessageId = 1
  /** Delivery ids and resend order share one counter. */
  #nextSeq = 1

  constructor(state: StateDatabase) {
    this.#state = state
    const db = state.db
    this.#s = {
      saveSession: db.prepare(`INSERT INTO sessions (client_id, expiry_interval, connected, last_connection, will) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(client_id) DO UPDATE SET expiry_interval = excluded.expiry_interval, connected = excluded.connected,
          last_connection = excluded.last_connection, will = excluded.will`),
      deleteSession: db.prepare('DELETE FROM sessions WHERE client_id = ?'),
      deleteSubscriptions: db.prepare('DELETE FROM subscriptions WHERE client_id = ?'),
      deleteDeliveries: db.prepare('DELETE FROM deliveries WHERE client_id = ?'),
      deleteIncoming: db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ?'),
      addSubscription: db.prepare(`INSERT INTO subscriptions (client_id, key, options) VALUES (?, ?, ?)
        ON CONFLICT(client_id, key) DO UPDATE SET options = excluded.options`),
      removeSubscription: db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND key = ?'),
      insertMessage: db.prepare(`INSERT OR REPLACE INTO messages (id, topic, payload, qos, retain, properties, expires_at, origin)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
      insertDelivery: db.prepare(`INSERT INTO deliveries (id, client_id, message_id, qos, retain, subscription_ids, packet_id, state, ord)
        VALUES (?, ?, ?, ?, ?, ?, NULL, 0, ?)`),
      deliverySent: db.prepare(`UPDATE deliveries SET packet_id = ?, state = ${STATE_SENT} WHERE id = ?`),
      deliveryReleased: db.prepare(`UPDATE deliveries SET state = ${STATE_PUBREL}, ord = ? WHERE id = ?`),
      deleteDelivery: db.prepare('DELETE FROM deliveries WHERE id = ?'),
      addIncoming: db.prepare('INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?)'),
      removeIncoming: db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?'),
    }
  }

  get pending(): boolean {
    return this.#state.pending
  }

  readonly available = true

  get recorded(): number {
    return this.#state.recorded
  }

  afterCommit(done: (err: Error | undefined) => void): void {
    this.#state.afterCommit(done)
  }

  recover(): Promise<StoredSession[]> {
    return Promise.resolve(this.#recover())
  }

  #recover(): StoredSession[] {
    const db = this.#state.db
    const lostAt = this.#state.aliveAt() ?? Date.now()
    const messages = new Map<number, Message>()
    for (const r of db.prepare('SELECT * FROM messages').iterate() as IterableIterator<MessageRow>) {
      const m = messageFromRow(r)
      messages.set(r.id, m)
      this.#messageIds.set(m, r.id)
      if (r.id >= this.#nextMessageId) this.#nextMessageId = r.id + 1
    }
    const byClient = new Map<string, {
      facts: SessionFacts; subs: StoredSubscription[]; queue: Delivery[]; inflight: StoredInflight[]; incoming: number[]
    }>()
    for (const r of db.prepare('SELECT * FROM sessions').iterate() as IterableIterator<SessionRow>) {
      byClient.set(r.client_id, { facts: factsFromRow(r), subs: [], queue: [], inflight: [], incoming: [] })
    }
    for (const r of db.prepare('SELECT client_id, key, options FROM subscriptions').iterate() as IterableIterator<{ client_id: string; key: string; options: string }>) {
      byClient.get(r.client_id)?.subs.push({ key: r.key, ...(JSON.parse(r.options) as Omit<StoredSubscription, 'key'>) })
    }
    const orphans: number[] = []
    const maxSeq = (db.prepare('SELECT max(max(id), max(ord)) AS n FROM deliveries').get() as { n: number | null }).n
    this.#nextSeq = (maxSeq ?? 0) + 1
    for (const r of db.prepare('SELECT * FROM deliveries ORDER BY ord').iterate() as IterableIterator<DeliveryRow>) {
      const s = byClient.get(r.client_id)
      const message = messages.get(r.message_id)
      if (s === undefined || message === undefined) {
        orphans.push(r.id)
        continue
      }
      const delivery: Delivery = {
        message,
        qos: r.qos as QoS,
        retain: r.retain === 1,
        subscriptionIds: r.subscription_ids === null ? undefined : (JSON.parse(r.subscription_ids) as number[]),
        stored: r.id,
      }
      this.#deliveryMessage.set(r.id, r.message_id)
      this.#refs.set(r.message_id, (this.#refs.get(r.message_id) ?? 0) + 1)
      if (r.packet_id === null) s.queue.push(delivery)
      else s.inflight.push({ delivery, packetId: r.packet_id, state: r.state === STATE_PUBREL ? 'pubrel' : 'publish' })
    }
    // Queued messages in the order they were queued (ORDER BY ord put resends in their order).
    for (const s of byClient.values()) s.queue.sort((a, b) => (a.stored as number) - (b.stored as number))
    for (const r of db.prepare('SELECT client_id, packet_id FROM incoming_qos2').iterate() as IterableIterator<{ client_id: string; packet_id: number }>) {
      byClient.get(r.client_id)?.incoming.push(r.packet_id)
    }
    // Tidy what no session references (left by a crash between lazy deletions).
    db.transaction(() => {
      for (const id of orphans) this.#s['deleteDelivery']?.run(id)
      for (const id of messages.keys()) if (!this.#refs.has(id)) this.#s['deleteMessage']?.run(id)
    })()
    return [...byClient.values()].map((s) => ({
      ...s.facts,
      lostAt,
      subscriptions: s.subs,
      queue: s.queue,
      inflight: s.inflight,
      incomingQos2: s.incoming,
    }))
  }

  saveSession(f: SessionFacts): void {
    const lastConnection = f.lastConnection === undefined ? null : JSON.stringify(f.lastConnection)
    const will = f.will === undefined ? null : JSON.stringify(willToJson(f.will))
    const st = this.#statement('saveSession')
    this.#state.record(() => st.run(f.clientId, f.expiryInterval, f.connected ? 1 : 0, lastConnection, will))
  }

  endSession(clientId: string, deliveries: Iterable<number>): void {
    for (const id of deliveries) this.#release(id)
    const s = this.#s
    this.#state.record(() => {
      s['deleteSession']?.run(clientId)
      s['deleteSubscriptions']?.run(clientId)
      s['deleteDeliveries']?.run(clientId)
      s['deleteIncoming']?.run(clientId)
    })
  }

  addSubscription(clientId: string, sub: StoredSubscription): void {
    const { key, ...options } = sub
    const json = JSON.stringify(options)
    const st = this.#statement('addSubscription')
    this.#state.record(() => st.run(clientId, key, json))
  }

  removeSubscription(clientId: string, key: string): void {
    const st = this.#statement('removeSubscription')
    this.#state.record(() => st.run(clientId, key))
  }

  queueDelivery(clientId: string, d: Delivery): number {
    const m = d.message
    let messageId = this.#messageIds.get(m)
    if (messageId === undefined) {
      messageId = this.#nextMessageId++
      this.#messageIds.set(m, messageId)
    }
    const refs = this.#refs.get(messageId) ?? 0
    if (refs === 0) {
      const id = messageId
      const st = this.#statement('insertMessage')
      const properties = propertiesToJson(m.properties)
      this.#state.record(() => st.run(id, m.topic, m.payload, m.qos, m.retain ? 1 : 0, properties, m.expiresAt ?? null, m.origin ?? null))
    }
    this.#refs.set(messageId, refs + 1)
    const id = this.#nextSeq++
    this.#deliveryMessage.set(id, messageId)
    const ids = d.subscriptionIds === undefined ? null : JSON.stringify(d.subscriptionIds)
    const st = this.#statement('insertDelivery')
    const mid = messageId
    this.#state.record(() => st.run(id, clientId, mid, d.qos, d.retain ? 1 : 0, ids, id))
    return id
  }

  deliverySent(delivery: number, packetId: number): void {
    const st = this.#statement('deliverySent')
    this.#state.record(() => st.run(packetId, delivery))
  }

  deliveryReleased(delivery: number): void {
    const ord = this.#nextSeq++
    const st = this.#statement('deliveryReleased')
    this.#state.record(() => st.run(ord, delivery))
  }

  deliveryDone(delivery: number): void {
    if (!this.#deliveryMessage.has(delivery)) return
    this.#release(delivery)
    const st = this.#statement('deleteDelivery')
    this.#state.record(() => st.run(delivery))
  }

  addIncomingQos2(clientId: string, packetId: number): void {
    const st = this.#statement('addIncoming')
    this.#state.record(() => st.run(clientId, packetId))
  }

  removeIncomingQos2(clientId: string, packetId: number): void {
    const st = this.#statement('removeIncoming')
    this.#state.record(() => st.run(clientId, packetId))
  }

  /** Deliveries and distinct messages stored (metrics). */
  counts(): { deliveries: number; messages: number } {
    return { deliveries: this.#deliveryMessage.size, messages: this.#refs.size }
  }

  async close(): Promise<void> {
    // The state database is closed by its owner (it also holds retained messages).
  }

  /** Forget a delivery; its message goes with the last delivery that referenced it. */
  #release(delivery: number): void {
    const messageId = this.#deliveryMessage.get(delivery)
    if (messageId === undefined) return
    this.#deliveryMessage.delete(delivery)
    const refs = (this.#refs.get(messageId) ?? 1) - 1
    if (refs > 0) {
      this.#refs.set(messageId, refs)
      return
    }
    this.#refs.delete(messageId)
    const st = this.#statement('deleteMessage')
    this.#state.record(() => st.run(messageId))
  }

  #statement(name: string): Statement {
    return this.#s[name]
  }
}

function messageFromRow(r: MessageRow): Message {
  return {
    topic: r.topic,
    payload: r.payload,
    qos: r.qos as QoS,
    retain: r.retain === 1,
    properties: propertiesFromJson(r.properties),
    expiresAt: r.expires_at ?? undefined,
    origin: r.origin ?? undefined,
  }
}

function willToJson(w: NonNullable<SessionFacts['will']>): WillJson {
  const { payload, properties, encoded: _encoded, ...rest } = w.message
  return {
    message: { ...rest, payload: payload.toString('base64'), properties: propertiesToJson(properties) },
    delay: w.delay,
    expiry: w.expiry,
    publishAt: w.publishAt,
  }
}

function factsFromRow(r: SessionRow): SessionFacts {
  let will: SessionFacts['will']
  if (r.will !== null) {
    const j = JSON.parse(r.will) as WillJson
    will = {
      message: { ...j.message, payload: Buffer.from(j.message.payload, 'base64'), properties: propertiesFromJson(j.message.properties) },
      delay: j.delay,
      expiry: j.expiry,
      publishAt: j.publishAt,
    }
  }
  return {
    clientId: r.client_id,
    expiryInterval: r.expiry_interval,
    connected: r.connected === 1,
    lastConnection: r.last_connection === null ? undefined : (JSON.parse(r.last_connection) as SessionFacts['lastConnection']),
    will,
  }
}
