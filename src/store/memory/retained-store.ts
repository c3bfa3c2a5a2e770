/** Retained messages held in memory, one per topic. */
import { remainingExpiry, type Message } from '../../mqtt/types.js'
import { topicMatches } from '../../protocol/topic.js'
import type { RetainedStore } from '../types.js'

export class MemoryRetainedStore implements RetainedStore {
  readonly #messages = new Map<string, Message>()

  get size(): number {
    return this.#messages.size
  }

  set(message: Message): void {
    if (message.payload.length === 0) this.#messages.delete(message.topic)
    else this.#messages.set(message.topic, message)
  }

  match(filter: string): Message[] {
    const now = Date.now()
    const out: Message[] = []
    const exact = !filter.includes('+') && !filter.includes('#')
    if (exact) {
      const m = this.#messages.get(filter)
      if (m !== undefined) this.#keepIfLive(m, now, out)
      return out
    }
    for (const m of this.#messages.values()) {
      if (topicMatches(filter, m.topic)) this.#keepIfLive(m, now, out)
    }
    return out
  }

  #keepIfLive(m: Message, now: number, out: Message[]): void {
    if (remainingExpiry(m, now) === 0) this.#messages.delete(m.topic)
    else out.push(m)
  }

  async close(): Promise<void> {
    this.#messages.clear()
  }
}
