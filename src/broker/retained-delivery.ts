/**
 * Retained messages for new subscriptions, sent after the SUBACK [MQTT-3.3.1-9, MQTT-3.8.4]
 * without holding the event loop: the store is walked in slices (RetainedScan), with a turn
 * of the event loop between slices, so other clients are served while one subscriber
 * receives 100,000 retained messages.
 *
 * The walk follows the subscriber's pace. While its socket holds more than its high-water
 * mark, no QoS 0 copy is made (it would only sit in memory, or be dropped once the socket is
 * congested); the walk resumes on 'drain'. QoS 1/2 copies go through the session's window and
 * queue like any delivery; the walk waits while the queue has no room for a slice, so that
 * retained copies never push messages out of a full queue.
 *
 * All the filters of one SUBSCRIBE are walked together, so a message matched by several of
 * them (or by the same filter listed many times) is sent once, at the highest QoS granted
 * among the filters that match it, with the SUBSCRIBE's Subscription Identifier (v5). One
 * SUBSCRIBE's retained messages are sent before the next SUBSCRIBE's (per connection).
 */
import { toDelivery, type QoS } from '../mqtt/types.js'
import type { Subscription } from '../router/topic-tree.js'
import type { RetainedScan } from '../store/types.js'
import type { Connection } from './connection.js'
import type { Session } from './session.js'

/** Messages per slice: a few hundred keep one slice well under a millisecond or two. */
const SLICE = 256
/** How often to look again while the session queue is full (QoS 1/2 waiting for acks). */
const QUEUE_POLL_MS = 5

/** Per connection, the end of the retained delivery last started (one SUBSCRIBE at a time). */
const running = new WeakMap<Connection, Promise<void>>()

/** Send the retained messages matching `subs` (all from one SUBSCRIBE), after what is already going. */
export function deliverRetained(conn: Connection, subs: readonly Subscription[]): void {
  const session = conn.session
  if (session === undefined || subs.length === 0) return
  const filters = mergeFilters(subs)
  const first = subs[0] as Subscription
  const ids = first.subscriptionId === undefined ? undefined : [first.subscriptionId]
  const previous = running.get(conn) ?? Promise.resolve()
  const next = previous
    .then(() => sendAll(conn, session, filters, ids))
    .catch((err: unknown) => {
      conn.broker.logger.error({ err, clientId: conn.clientId }, 'retained delivery failed')
    })
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
  for (;;) {
    if (!live()) return
    const room = await roomFor(conn, session, live)
    if (room === 0) return
    const batch = await scan.next(room)
    if (!live()) return
    for (const hit of batch.hits) {
      // A retained message sent for a new subscription has RETAIN set [MQTT-3.3.1-9].
      broker.deliver(session, toDelivery(hit.message, (filters[hit.filter] as RetainedFilter).qos, true, ids))
    }
    if (batch.done) return
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/**
 * Wait until the subscriber can take a slice: its socket below the high-water mark and its
 * queue with room. Returns how many messages to produce now, 0 when the connection ended.
 */
async function roomFor(conn: Connection, session: Session, live: () => boolean): Promise<number> {
  const max = conn.broker.limits.maxQueuedMessages
  for (;;) {
    if (!live()) return 0
    if (conn.stream.writableNeedDrain) {
      await writable(conn)
      continue
    }
    // maxQueuedMessages 0: nothing is ever queued (copies beyond the window are dropped), nothing to wait for.
    if (max === 0) return SLICE
    const room = Math.min(SLICE, max - session.queue.length)
    if (room > 0) return room
    await new Promise<void>((resolve) => setTimeout(resolve, QUEUE_POLL_MS))
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
