/**
 * Retained messages in Redis (`cluster`): the HASH `pc:retained` (topic → message JSON),
 * written through the state's group commit (so a retained PUBACK waits for it like any other
 * change); a memory mirror indexed by topic level answers every SUBSCRIBE, so no subscribe
 * scans Redis. Loaded once at start-up (expired messages dropped). The broker's own
 * `$`-topics ($SYS) are never stored.
 */
import type { Message } from '../../mqtt/types.js'
import { WriteThroughRetainedStore } from '../write-through-retained-store.js'
import type { RedisState } from './redis-state.js'
import { messageFromJson, messageToJson } from './session-store.js'
import { clock } from '../../clock.js'

export const RETAINED_KEY = 'pc:retained'

export class RedisRetainedStore extends WriteThroughRetainedStore {
  readonly #state: RedisState

  private constructor(state: RedisState) {
    super()
    this.#state = state
  }

  static async open(state: RedisState): Promise<RedisRetainedStore> {
    const store = new RedisRetainedStore(state)
    const now = clock.now()
    const expired: string[] = []
    for (const [topic, text] of Object.entries(await state.client.hgetall(RETAINED_KEY))) {
      const m = messageFromJson(text)
      if (m.expiresAt !== undefined && m.expiresAt <= now) expired.push(topic)
      else store.memory.set(m)
    }
    if (expired.length > 0) state.record((m) => m.hdel(RETAINED_KEY, ...expired))
    return store
  }

  protected write(message: Message): void {
    const topic = message.topic
    const text = messageToJson(message)
    this.#state.record((m) => m.hset(RETAINED_KEY, topic, text))
  }

  protected erase(topic: string): void {
    this.#state.record((m) => m.hdel(RETAINED_KEY, topic))
  }

  /** A retained message set (or cleared) on another node: this node's mirror follows; Redis has it already. */
  mirror(message: Message): void {
    if (!this.closed) this.memory.set(message)
  }
}
