/**
 * Storage seams: memory implementations, and SQLite for retained messages
 * (`persistence.retained`); more backends (Redis) come later behind the same interfaces,
 * hence the asynchronous signatures.
 */
import type { Message } from '../mqtt/types.js'

export interface RetainedStore {
  /** Store (or, with an empty payload, clear) the retained message for its topic. */
  set(message: Message): Promise<void> | void
  /** Retained messages whose topic matches `filter`. Expired messages are not returned. */
  match(filter: string): Promise<Message[]> | Message[]
  /**
   * Walk the retained messages matching any of `filters` in slices (see RetainedScan): each
   * message once, however many of the filters match it. Expired messages are not returned.
   */
  scan(filters: readonly string[]): RetainedScan
  readonly size: number
  close(): Promise<void>
}

/** One retained message found by a scan, with the first of the scan's filters that matches it. */
export interface RetainedHit {
  readonly message: Message
  /** Index into the filters given to `scan()`. */
  readonly filter: number
}

export interface RetainedBatch {
  /** May be empty while the walk goes on: a slice also ends after a bounded amount of work. */
  readonly hits: readonly RetainedHit[]
  readonly done: boolean
}

/** A resumable walk: each `next(max)` returns at most `max` hits, so callers can yield between slices. */
export interface RetainedScan {
  next(max: number): Promise<RetainedBatch> | RetainedBatch
}

/** What survives of a persistent session while its client is away. */
export interface StoredSubscription {
  readonly key: string
  readonly qos: 0 | 1 | 2
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  readonly retainHandling: 0 | 1 | 2
  readonly subscriptionId: number | undefined
}

export interface SessionRecord {
  readonly clientId: string
  readonly expiryInterval: number
  readonly subscriptions: readonly StoredSubscription[]
  /** Epoch ms at which the session expires while offline; undefined while connected. */
  readonly expiresAt: number | undefined
}

export interface SessionStore {
  save(record: SessionRecord): Promise<void> | void
  load(clientId: string): Promise<SessionRecord | undefined> | SessionRecord | undefined
  delete(clientId: string): Promise<void> | void
  close(): Promise<void>
}
