/**
 * Retained messages for new subscriptions (Retain Handling [MQTT-3.3.1-9, MQTT-3.3.1-10]),
 * sent after the SUBACK without holding the event loop: the store is walked in slices
 * (RetainedScan), with a turn of the event loop between slices, so other clients are served
 * while one subscriber receives 100,000 retained messages.
 *
 * The walk follows the subscriber's pace. Once its socket holds more than its high-water
 * mark, no further QoS 0 copy is made (it would only sit in memory, or be dropped once the
 * socket is congested); the walk resumes on 'drain'. QoS 1/2 copies go through the session's
 * window and queue like any delivery; the walk stops while the queue is full (or holds half
 * of maxQueuedBytes), so that retained copies never push messages out of the queue.
 *
 * All the filters of one SUBSCRIBE are walked together, so a message matched by several of
 * them (or by the same filter listed many times) is sent once, at the highest QoS granted
 * among the filters that match it [MQTT-3.3.4-2], with the SUBSCRIBE's Subscription
 * Identifier (v5, [MQTT-3.3.4-4]). One SUBSCRIBE's retained messages are sent before the
 * next SUBSCRIBE's (per connection).
 */
import { toDelivery, type QoS } from '../mqtt/types.js'
import type { Subscription } from '../router/topic-tree.js'
import type { RetainedHit, RetainedScan } from '../store/types.js'
import type { Connection } from './connection.js'
import { contained } from './contain.js'
import type { Session } from './session.js'
import { clock } from '../clock.js'

/** Messages per slice: a few hundred keep one slice well under a millisecond or two. */
const SLICE = 256
/** How often to look again while the session queue is full (QoS 1/2 waiting for acks): from
 *  the first to the last, doubling, so a client that never acknowledges costs little. */
const QUEUE_POLL_FIRST_MS = 2
const QUEUE_POLL_LAST_MS = 250

/** Per connection, the end of the retained delivery last started (one SUBSCRIBE at a time). */
const running = new WeakMap<Connection, Promise<void>>()

/** Send the retained messages matching `subs` (all from one SUBSCRIBE), after what is already going. */
export function deliverRetained(conn: Connection, subs: readonly Subscription[]): void {
  const session = conn.session
  if (session === undefined || subs.length === 0) return
  const filters = mergeFilters(subs)
  const first = subs[0]
  const ids = first.subscriptionId === undefined ? undefined : [first.subscriptionId]
  const previous = running.get(conn) ?? Promise.resolve()
  const next = previous
    .then(() => sendAll(conn, session, filters, ids))
    .catch((err: unknown) => contained(conn.broker.logger, conn, 'retained delivery', err))
  running.set(conn, next)
}

interface RetainedFilter {
  readonly filter: string
  readonly qos: QoS
}

/** One entry per distinct filter with its highest granted QoS, highest QoS first (the scan reports the first match). */
function mergeFilters(subs: readonly Subscription[]): RetainedFilter[] {
  const byFilter = new Map<string, QoS>()
  for (const s of subs) {
    const q = byFilter.get(s.filter)
    if (q === undefined || s.qos > q) byFilter.set(s.filter, s.qos)
  }
  return [...byFilter].map(([filter, qos]) => ({ filter, qos })).sort((a, b) => b.qos - a.qos)
}

async function sendAll(conn: Connection, session: Session, filters: readonly RetainedFilter[], ids: number[] | undefined): Promise<void> {
  const broker = conn.broker
  const scan: RetainedScan = broker.retained.scan(filters.map((f) => f.filter))
  const live = (): boolean => conn.state === 'connected' && conn.session === session && session.connection === conn
  // Hits found but not yet delivered (the subscriber filled up in the middle of a slice).
  let pending: readonly RetainedHit[] = []
  let next = 0
  let walked = false
  for (;;) {
    let room = await roomFor(conn, session, live)
    if (room === 0) return
    if (next === pending.length) {
      if (walked) return
      const batch = await scan.next(room)
      if (!live()) return
      pending = batch.hits
      next = 0
      walked = batch.done
    }
    while (next < pending.length && room-- > 0) {
      const hit = pending[next++]
      // A message sent because of a new subscription has RETAIN set (3.1.1 [MQTT-3.3.1-8]).
      broker.deliver(session, toDelivery(hit.message, (filters[hit.filter]).qos, true, ids))
      if (full(conn, session)) break
    }
    if (walked && next === pending.length) return
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** The subscriber's socket is over its high-water mark, or its queue is near a limit. */
function full(conn: Connection, session: Session): boolean {
  const limits = conn.broker.limits
  return conn.stream.writableNeedDrain ||
    (limits.maxQueuedMessages > 0 && session.queue.length >= limits.maxQueuedMessages) ||
    session.queuedBytes >= limits.maxQueuedBytes / 2
}

/**
 * Wait until the subscriber can take a slice: its socket below the high-water mark and its
 * queue with room. Returns how many messages to produce now, 0 when the connection ended.
 */
async function roomFor(conn: Connection, session: Session, live: () => boolean): Promise<number> {
  const max = conn.broker.limits.maxQueuedMessages
  let wait = QUEUE_POLL_FIRST_MS
  for (;;) {
    if (!live()) return 0
    if (conn.stream.writableNeedDrain) {
      await writable(conn)
      continue
    }
    // maxQueuedMessages 0: nothing is ever queued (copies beyond the window are dropped), nothing to wait for.
    if (max === 0) return SLICE
    // Room in messages, and half the byte limit left for a slice of retained payloads.
    const room = Math.min(SLICE, max - session.queue.length)
    if (room > 0 && session.queuedBytes < conn.broker.limits.maxQueuedBytes / 2) return room
    await new Promise<void>((resolve) => clock.setTimeout(resolve, wait))
    wait = Math.min(wait * 2, QUEUE_POLL_LAST_MS)
  }
}

/** Resolves on 'drain', or when the stream closes or fails (the caller then sees the connection gone). */
function writable(conn: Connection): Promise<void> {
  const stream = conn.stream
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done)
      stream.off('close', done)
      stream.off('error', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
    stream.on('error', done)
  })
}
