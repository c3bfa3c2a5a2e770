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
import type { RecordedChange } from '../group-commit.js'
import type {
  CommitBarrier, SessionFacts, SessionStore, StoredInflight, StoredSession, StoredSubscription,
} from '../types.js'
import { propertiesFromJson, propertiesToJson } from './properties-json.js'
import type { CommitTail, StateDatabase } from './state-database.js'
import { clock } from '../../clock.js'

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
  readonly ord: number
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

/**
 * A stored message: its id, the deliveries referencing it, and its row's INSERT while not
 * committed (else 0). It is its own INSERT (run by the commit): no closure per message.
 */
class MessageRecord {
  refs = 0
  insert: RecordedChange = 0

  constructor(readonly id: number, readonly message: Message, readonly st: Statement) {}

  run(): void {
    const m = this.message
    this.st.run(this.id, m.topic, m.payload, m.qos, m.retain ? 1 : 0, propertiesToJson(m.properties), m.expiresAt ?? null, m.origin ?? null)
  }
}

/**
 * A stored delivery as this store knows it: where it stands, and its changes not committed yet
 * (RecordedChange numbers, 0 for none: no object per change). It is its own INSERT, which
 * writes the row as the delivery stands at commit time (sent already, with its packet id).
 */
class DeliveryRecord {
  packetId: number | null = null
  state = 0
  /** Its row's INSERT, while not committed. */
  insert: RecordedChange = 0
  /** An UPDATE of packetId, state and ord, while not committed. */
  update: RecordedChange = 0
  /** The change whose group's commit it holds while its PUBLISH, sent before it, waits for its PUBACK. */
  hold: RecordedChange = 0

  constructor(
    readonly id: number, readonly clientId: string, readonly message: MessageRecord, readonly qos: number, readonly retain: number,
    readonly subscriptionIds: string | null, public ord: number, readonly st: Statement,
  ) {}

  run(): void {
    this.st.run(this.id, this.clientId, this.message.id, this.qos, this.retain, this.subscriptionIds, this.packetId, this.state, this.ord)
  }
}

/** Ids of rows to delete at the end of the next commit (lazily: a crash may leave them, never lose one). */
class LazyDeletes implements CommitTail {
  readonly #ids: number[] = []
  readonly #statement: Statement
  #writing = 0

  constructor(statement: Statement) {
    this.#statement = statement
  }

  get pending(): boolean {
    return this.#ids.length > 0
  }

  add(id: number): void {
    this.#ids.push(id)
  }

  write(): void {
    this.#writing = this.#ids.length
    this.#statement.run(JSON.stringify(this.#ids))
  }

  written(): void {
    this.#ids.splice(0, this.#writing)
    this.#writing = 0
  }
}

export class SqliteSessionStore implements SessionStore {
  readonly durable = true
  readonly commits: CommitBarrier
  readonly #state: StateDatabase
  readonly #s: Record<string, Statement>
  /**
   * Each message object stored (a message is written once, however many deliveries reference
   * it), until its last delivery goes: a plain Map (cheaper than a WeakMap per message), which
   * holds the message no longer than its deliveries do.
   */
  readonly #messages = new Map<Message, MessageRecord>()
  /** Stored deliveries by id. */
  readonly #deliveries = new Map<number, DeliveryRecord>()
  /** The statements each stored message and delivery runs as its INSERT. */
  readonly #insertMessage: Statement
  readonly #insertDelivery: Statement
  readonly #deleteDeliveries: LazyDeletes
  readonly #deleteMessages: LazyDeletes
  #nextMessageId = 1
  /** Delivery ids and resend order share one counter. */
  #nextSeq = 1

  constructor(state: StateDatabase) {
    this.#state = state
    this.commits = state
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
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      updateDelivery: db.prepare('UPDATE deliveries SET packet_id = ?, state = ?, ord = ? WHERE id = ?'),
      deleteDelivery: db.prepare('DELETE FROM deliveries WHERE id = ?'),
      addIncoming: db.prepare('INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?)'),
      removeIncoming: db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?'),
    }
    this.#insertMessage = this.#statement('insertMessage')
    this.#insertDelivery = this.#statement('insertDelivery')
    // One statement per commit for every acknowledged delivery (and message) however many.
    this.#deleteDeliveries = new LazyDeletes(db.prepare('DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?))'))
    this.#deleteMessages = new LazyDeletes(db.prepare('DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))'))
    state.addTail(this.#deleteDeliveries)
    state.addTail(this.#deleteMessages)
  }

  recover(): Promise<StoredSession[]> {
    return Promise.resolve(this.#recover())
  }

  #recover(): StoredSession[] {
    const db = this.#state.db
    const lostAt = this.#state.aliveAt() ?? clock.now()
    const messages = new Map<number, Message>()
    /** Each message a delivery references. */
    const records = new Map<number, MessageRecord>()
    for (const r of db.prepare('SELECT * FROM messages').iterate() as IterableIterator<MessageRow>) {
      const m = messageFromRow(r)
      messages.set(r.id, m)
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
      let m = records.get(r.message_id)
      if (m === undefined) {
        m = new MessageRecord(r.message_id, message, this.#insertMessage)
        records.set(r.message_id, m)
        this.#messages.set(message, m)
      }
      m.refs++
      const dr = new DeliveryRecord(r.id, r.client_id, m, r.qos, r.retain, r.subscription_ids, r.ord, this.#insertDelivery)
      dr.packetId = r.packet_id
      dr.state = r.state
      this.#deliveries.set(r.id, dr)
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
      for (const id of messages.keys()) if (!records.has(id)) this.#s['deleteMessage']?.run(id)
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
    for (const id of deliveries) this.#forget(id)
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
    let mr = this.#messages.get(m)
    if (mr === undefined) {
      mr = new MessageRecord(this.#nextMessageId++, m, this.#insertMessage)
      mr.insert = this.#state.record(mr)
      this.#messages.set(m, mr)
    }
    mr.refs++
    const id = this.#nextSeq++
    const ids = d.subscriptionIds === undefined ? null : JSON.stringify(d.subscriptionIds)
    const r = new DeliveryRecord(id, clientId, mr, d.qos, d.retain ? 1 : 0, ids, id, this.#insertDelivery)
    this.#deliveries.set(id, r)
    // The row is written as the delivery stands at commit time (sent already, with its packet id).
    r.insert = this.#state.record(r)
    return id
  }

  deliverySent(delivery: number, packetId: number, sentNow = false): void {
    const r = this.#deliveries.get(delivery)
    if (r === undefined) return
    r.packetId = packetId
    r.state = STATE_SENT
    const change = this.#changed(delivery, r)
    // Its PUBACK usually comes within a round trip: then the commit need not write it at all.
    if (sentNow && r.hold === 0 && this.#state.hold(change)) r.hold = change
  }

  deliveryReleased(delivery: number): void {
    const r = this.#deliveries.get(delivery)
    if (r === undefined) return
    r.state = STATE_PUBREL
    r.ord = this.#nextSeq++
    this.#changed(delivery, r)
  }

  deliveryDone(delivery: number): void {
    const r = this.#forget(delivery)
    // Never committed: nothing to delete. Else lazily, with the next commit.
    if (r !== undefined && !r.dropped) {
      this.#deleteDeliveries.add(delivery)
      this.#state.lazyWrite()
    }
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
    return { deliveries: this.#deliveries.size, messages: this.#messages.size }
  }

  async close(): Promise<void> {
    // The state database is closed by its owner (it also holds retained messages).
  }

  /** The row's fields changed: its pending INSERT or UPDATE writes them, else a new UPDATE. */
  #changed(delivery: number, r: DeliveryRecord): RecordedChange {
    if (r.insert !== 0 && this.#state.uncommitted(r.insert)) return r.insert
    if (r.update !== 0 && this.#state.uncommitted(r.update)) return r.update
    r.insert = 0
    const st = this.#statement('updateDelivery')
    r.update = this.#state.record(() => st.run(r.packetId, r.state, r.ord, delivery))
    return r.update
  }

  /**
   * Forget a delivery: what of it is not committed yet is dropped (`dropped`: its row was never
   * written), and its message goes with the last delivery that referenced it.
   */
  #forget(delivery: number): { dropped: boolean } | undefined {
    const r = this.#deliveries.get(delivery)
    if (r === undefined) return undefined
    this.#deliveries.delete(delivery)
    if (r.hold !== 0) this.#state.release(r.hold)
    const dropped = this.#state.cancel(r.insert)
    this.#state.cancel(r.update)
    const m = r.message
    if (--m.refs === 0) {
      // A later delivery of the same message object is written again, under a new id.
      this.#messages.delete(m.message)
      if (!this.#state.cancel(m.insert)) {
        this.#deleteMessages.add(m.id)
        this.#state.lazyWrite()
      }
    }
    return { dropped }
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
