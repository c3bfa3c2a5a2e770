/**
 * The orders GET /clients lists in, and picking one page of them without sorting them all.
 *
 * Every order is total and stable: by the sort key, then by client id, so that a page cursor —
 * the last entry's client id and its key (`after`, `afterKey`) — finds exactly where the next
 * page starts, whatever connects or leaves in between. Entries without the key (an offline
 * session has no `connectedAt`; one with no record of its last connection no `address`) come
 * after all others, in either direction.
 */
import type { Session } from '../broker/session.js'
import { ApiError } from './errors.js'
import { optionalText, type Query } from './query.js'

export const CLIENT_SORTS = ['clientId', 'connectedAt', 'address'] as const
export type ClientSort = (typeof CLIENT_SORTS)[number]
export const CLIENT_ORDERS = ['asc', 'desc'] as const

/** A client with its sort key (undefined: it has none). */
export interface Keyed {
  readonly id: string
  readonly key: number | string | undefined
}

export interface ClientOrder {
  readonly sort: ClientSort
  /** 1 ascending, -1 descending. */
  readonly direction: 1 | -1
  /** Where the page starts: the entries after this one. */
  readonly after: Keyed | undefined
}

function oneOf<T extends string>(query: Query, name: string, allowed: readonly T[], fallback: T): T {
  const v = optionalText(query, name) ?? fallback
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ApiError('ERR_VALIDATION', `${name}: must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`, name)
  }
  return v as T
}

/** sort, order, after and afterKey of a GET /clients query. */
export function clientOrderOf(query: Query): ClientOrder {
  const sort = oneOf(query, 'sort', CLIENT_SORTS, 'clientId')
  const direction = oneOf(query, 'order', CLIENT_ORDERS, 'asc') === 'asc' ? 1 : -1
  const after = optionalText(query, 'after')
  if (after === undefined) return { sort, direction, after: undefined }
  const keyText = sort === 'clientId' ? undefined : optionalText(query, 'afterKey')
  let key: number | string | undefined = keyText === '' ? undefined : keyText
  if (sort === 'connectedAt' && keyText !== undefined && keyText !== '') {
    key = Date.parse(keyText)
    if (Number.isNaN(key)) throw new ApiError('ERR_VALIDATION', 'afterKey: with sort=connectedAt, the connectedAt of the last entry (an ISO 8601 time)', 'afterKey')
  }
  return { sort, direction, after: { id: after, key } }
}

/** The key a session is sorted by (connected clients only have a connectedAt). */
export function sortKeyOf(session: Session, sort: ClientSort): number | string | undefined {
  switch (sort) {
    case 'clientId': return undefined
    case 'connectedAt': return session.connection?.createdAt
    case 'address': return session.connection?.remoteAddress ?? session.lastConnection?.remoteAddress
  }
}

/** Negative when `a` comes first: by key (entries without one last), then by id; `direction` reverses both. */
export function compareKeyed(a: Keyed, b: Keyed, direction: 1 | -1): number {
  if (a.key !== b.key) {
    if (a.key === undefined) return 1
    if (b.key === undefined) return -1
    return (a.key < b.key ? -1 : 1) * direction
  }
  return (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * direction
}

/**
 * The first `limit` items in `compare` order, sorted: a max-heap of `limit` entries, so a page
 * of 50 out of 100,000 costs n·log 50 comparisons and no sort of the whole list.
 */
export function firstInOrder<T>(items: Iterable<T>, limit: number, compare: (a: T, b: T) => number): T[] {
  const heap: T[] = []
  const swap = (i: number, j: number): void => {
    const t = heap[i]
    heap[i] = heap[j]!
    heap[j] = t
  }
  for (const item of items) {
    if (heap.length < limit) {
      heap.push(item)
      for (let i = heap.length - 1; i > 0;) {
        const parent = (i - 1) >> 1
        if (compare(heap[i], heap[parent]) <= 0) break
        swap(i, parent)
        i = parent
      }
    } else if (limit > 0 && compare(item, heap[0]) < 0) {
      heap[0] = item
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1
        let largest = i
        if (l < heap.length && compare(heap[l], heap[largest]) > 0) largest = l
        if (r < heap.length && compare(heap[r], heap[largest]) > 0) largest = r
        if (largest === i) break
        swap(i, largest)
        i = largest
      }
    }
  }
  return heap.sort(compare)
}
