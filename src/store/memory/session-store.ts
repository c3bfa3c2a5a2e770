/** Session records held in memory (lost on restart; the SQLite store keeps them). */
import type { SessionRecord, SessionStore } from '../types.js'

export class MemorySessionStore implements SessionStore {
  readonly #records = new Map<string, SessionRecord>()

  save(record: SessionRecord): void {
    this.#records.set(record.clientId, record)
  }

  load(clientId: string): SessionRecord | undefined {
    return this.#records.get(clientId)
  }

  delete(clientId: string): void {
    this.#records.delete(clientId)
  }

  async close(): Promise<void> {
    this.#records.clear()
  }
}
