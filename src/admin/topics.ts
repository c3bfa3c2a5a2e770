/**
 * The topic browser of the admin API: the filters clients are subscribed to (with how many
 * sessions hold each, shared groups apart), and the retained messages under a filter with a
 * preview of their payload. Both are read-only and paged by topic in code-unit order.
 */
import type { Broker } from '../broker/broker.js'
import { isValidTopicFilter } from '../protocol/topic.js'
import { ApiError } from './errors.js'
import { optionalText, pageNumber, type Query } from './query.js'

export const TOPIC_PAGE_DEFAULT = 100
export const TOPIC_PAGE_MAX = 1000
/** Bytes of a retained payload shown in a listing. */
export const PAYLOAD_PREVIEW_BYTES = 1024
/** Hits taken from a retained scan per step (the scan also bounds the work of one step). */
const SCAN_SLICE = 1000

/** A subscribed filter: how many sessions hold it, shared groups apart. */
export interface SubscribedFilterView {
  readonly filter: string
  /** Sessions subscribed to it directly (connected or offline). */
  readonly subscribers: number
  /** Shared subscription groups on it (`$share/<group>/<filter>`), members each. */
  readonly shared: readonly { readonly group: string; readonly members: number }[]
}

export interface RetainedMessageView {
  readonly topic: string
  readonly qos: number
  readonly bytes: number
  /** The payload (its first PAYLOAD_PREVIEW_BYTES) as text when it is UTF-8, else absent. */
  readonly text?: string
  /** The payload (its first PAYLOAD_PREVIEW_BYTES) in base64 when it is not UTF-8 text. */
  readonly base64?: string
  /** The preview holds only the first PAYLOAD_PREVIEW_BYTES bytes. */
  readonly truncated: boolean
  readonly contentType?: string
  readonly payloadFormatIndicator?: boolean
  readonly expiresAt?: string
}

function filterParam(query: Query, fallback: string): string {
  const filter = optionalText(query, 'filter') ?? fallback
  if (!isValidTopicFilter(filter)) throw new ApiError('ERR_VALIDATION', `filter: not a valid topic filter (got ${JSON.stringify(filter)})`, 'filter')
  return filter
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function preview(payload: Buffer): { text?: string; base64?: string; truncated: boolean } {
  const truncated = payload.length > PAYLOAD_PREVIEW_BYTES
  const head = truncated ? payload.subarray(0, PAYLOAD_PREVIEW_BYTES) : payload
  try {
    // a cut may split a character: decode what stays whole
    return { text: utf8.decode(head, { stream: truncated }), truncated }
  } catch {
    return { base64: head.toString('base64'), truncated }
  }
}

export class TopicsAdmin {
  readonly #broker: Broker

  constructor(broker: Broker) {
    this.#broker = broker
  }

  /** GET /topics: the subscribed filters containing `q`, after `after`, at most `limit`. */
  subscriptions(query: Query = {}): SubscribedFilterView[] {
    const q = optionalText(query, 'q')
    const after = optionalText(query, 'after')
    const limit = pageNumber(query, 'limit', TOPIC_PAGE_DEFAULT, TOPIC_PAGE_MAX)
    const byFilter = new Map<string, { subscribers: number; shared: Map<string, number> }>()
    for (const session of this.#broker.sessions.values()) {
      if (session.subscriptionCount === 0) continue
      for (const sub of session.subscriptions.values()) {
        if (q !== undefined && !sub.filter.includes(q)) continue
        if (after !== undefined && !(sub.filter > after)) continue
        let entry = byFilter.get(sub.filter)
        if (entry === undefined) byFilter.set(sub.filter, (entry = { subscribers: 0, shared: new Map() }))
        if (sub.group === undefined) entry.subscribers++
        else entry.shared.set(sub.group, (entry.shared.get(sub.group) ?? 0) + 1)
      }
    }
    const filters = [...byFilter.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, limit)
    return filters.map((filter) => {
      const entry = byFilter.get(filter)!
      const shared = [...entry.shared].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([group, members]) => ({ group, members }))
      return { filter, subscribers: entry.subscribers, shared }
    })
  }

  /**
   * GET /retained: the retained messages matching `filter` (default `#`: every topic not
   * starting with `$`; `$SYS/#` shows the broker's), after `after`, at most `limit`. Every
   * match is visited to answer a page in topic order: a narrow filter answers faster.
   */
  async retained(query: Query = {}): Promise<RetainedMessageView[]> {
    const filter = filterParam(query, '#')
    const after = optionalText(query, 'after')
    const limit = pageNumber(query, 'limit', TOPIC_PAGE_DEFAULT, TOPIC_PAGE_MAX)
    const scan = this.#broker.retained.scan([filter])
    const found: { topic: string; view: () => RetainedMessageView }[] = []
    for (;;) {
      const batch = await scan.next(SCAN_SLICE)
      for (const { message } of batch.hits) {
        if (after !== undefined && !(message.topic > after)) continue
        found.push({
          topic: message.topic,
          view: () => ({
            topic: message.topic,
            qos: message.qos,
            bytes: message.payload.length,
            ...preview(message.payload),
            ...(message.properties?.contentType !== undefined ? { contentType: message.properties.contentType } : {}),
            ...(message.properties?.payloadFormatIndicator !== undefined ? { payloadFormatIndicator: message.properties.payloadFormatIndicator } : {}),
            ...(message.expiresAt !== undefined ? { expiresAt: new Date(message.expiresAt).toISOString() } : {}),
          }),
        })
      }
      if (batch.done) break
      // let the broker serve its clients between slices of a large walk
      await new Promise((resolve) => setImmediate(resolve))
    }
    found.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
    return found.slice(0, limit).map((f) => f.view())
  }
}
