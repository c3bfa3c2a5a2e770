/**
 * What the durable retained stores (SQLite, Redis) share: every message is held in memory,
 * indexed by topic level, and answers every SUBSCRIBE from there; each change is written
 * through to the backend (`write` / `erase`, recorded for its next group commit). The broker's
 * own `$`-topics ($SYS) are regenerated on start and never written; nothing is written once
 * the store is closed.
 */
import type { Message } from '../mqtt/types.js'
import { MemoryRetainedStore } from './memory/retained-store.js'
import type { RetainedScan, RetainedStore } from './types.js'

export abstract class WriteThroughRetainedStore implements RetainedStore {
  protected readonly memory = new MemoryRetainedStore()
  #closed = false

  get size(): number {
    return this.memory.size
  }

  get userSize(): number {
    return this.memory.userSize
  }

  get userBytes(): number {
    return this.memory.userBytes
  }

  heldBytes(topic: string): number | undefined {
    return this.memory.heldBytes(topic)
  }

  protected get closed(): boolean {
    return this.#closed
  }

  set(message: Message): void {
    this.memory.set(message)
    if (this.#closed || message.topic.startsWith('$')) return
    if (message.payload.length === 0) this.erase(message.topic)
    else this.write(message)
  }

  match(filter: string): Message[] {
    return this.memory.match(filter)
  }

  scan(filters: readonly string[]): RetainedScan {
    return this.memory.scan(filters)
  }

  /** Nothing more is written; the backend (closed by its owner) commits what is pending. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.memory.close()
  }

  /** Record `message` (payload not empty) for the backend's next commit. */
  protected abstract write(message: Message): void
  /** Record the removal of `topic`'s retained message for the backend's next commit. */
  protected abstract erase(topic: string): void
}
