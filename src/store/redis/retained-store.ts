/**
 * Retained messages in Redis (`cluster`): the HASH `pc:retained` (topic → message JSON),
 * written through the state's group commit (so a retained PUBACK waits for it like any other
 * change); a memory mirror indexed by topic level answers every SUBSCRIBE, so no subscribe
 * scans Redis. Loaded once at start-up (expired messages dropped). The broker's own
 * `$`-topics ($SYS) are never stored.
 */
import type { Message } from '../../mqtt/types.js'
import { MemoryRetainedStore } from '../memory/retained-store.js'
import type { RetainedScan, RetainedStore } from '../types.js'
import type { RedisState } from './redis-state.js'
import { messageFromJson, messageToJson } from './session-store.js'

export const RETAINED_KEY = 'pc:retained'

export class RedisRetainedStore implements RetainedStore {
  readonly #state: RedisState
  readonly #memory = new MemoryRetainedStore()
  #closed = false

  private constructor(state: RedisState) {
    this.#state = state
  }

  static async open(state: RedisState): Promise<RedisRetainedStore> {
    const store = new RedisRetainedStore(state)
    const now = Date.now()
    const expired: string[] = []
    for (const [topic, text] of Object.entries(await state.client.hgetall(RETAINED_KEY))) {
      const m = messageFromJson(text)
      if (m.expiresAt !== undefined && m.expiresAt <= now) expired.push(topic)
      else store.#memory.set(m)
    }
    if (expired.length > 0) state.record((m) => m.hdel(RETAINED_KEY, ...expired))
    return store
  }

  get size(): number {
    return this.#memory.size
  }

  set(message: Message): void {
    this.#memory.set(message)
    if (this.#closed || message.topic.startsWith('$')) return
    const topic = message.topic
    if (message.payload.length === 0) {
      this.#state.record((m) => m.hdel(RETAINED_KEY, topic))
      return
    }
    const text = messageToJson(message)
    this.#state.record((m) => m.hset(RETAINED_KEY, topic, text))
  }

  /** A retained message set (or cleared) on another node: this node's mirror follows; Redis has it already. */
  mirror(message: Message): void {
    if (!this.#closed) this.#memory.set(message)
  }

  match(filter: string): Message[] {
    return this.#memory.match(filter)
  }

  scan(filters: readonly string[]): RetainedScan {
    return this.#memory.scan(filters)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#memory.close()
  }
}
