/** Retained messages held in memory, one per topic, indexed by topic level (retained-trie.ts). */
import type { Message } from '../../mqtt/types.js'
import type { RetainedScan, RetainedStore } from '../types.js'
import { RetainedTrie, retainedBytes } from './retained-trie.js'

export class MemoryRetainedStore implements RetainedStore {
  readonly #trie = new RetainedTrie()

  get size(): number {
    return this.#trie.size
  }

  get userSize(): number {
    return this.#trie.size - this.#trie.dollarSize
  }

  get userBytes(): number {
    return this.#trie.userBytes
  }

  heldBytes(topic: string): number | undefined {
    const m = this.#trie.get(topic)
    return m === undefined ? undefined : retainedBytes(m)
  }

  set(message: Message): void {
    if (message.payload.length === 0) this.#trie.delete(message.topic)
    else this.#trie.set(message)
  }

  match(filter: string): Message[] {
    const scan = this.#trie.scan([filter])
    const out: Message[] = []
    for (;;) {
      const batch = scan.next(4096)
      for (const hit of batch.hits) out.push(hit.message)
      if (batch.done) return out
    }
  }

  scan(filters: readonly string[]): RetainedScan {
    return this.#trie.scan(filters)
  }

  close(): Promise<void> {
    this.#trie.clear()
    return Promise.resolve()
  }
}
