/** `$SYS/broker/...` topics, published (retained) every `limits.sysInterval` seconds. */
import type { Broker } from './broker.js'
import { clock } from '../clock.js'

export class SysPublisher {
  readonly #broker: Broker
  #last = 0

  constructor(broker: Broker) {
    this.#broker = broker
  }

  tick(now: number): void {
    const interval = this.#broker.limits.sysInterval
    if (interval <= 0 || now - this.#last < interval * 1000) return
    this.#last = now
    this.publishAll(now)
  }

  publishAll(now = clock.now()): void {
    const b = this.#broker
    const s = b.stats
    const values: Array<[string, string | number]> = [
      ['version', `portcullis ${b.version}`],
      ['uptime', `${Math.floor((now - b.startedAt) / 1000)} seconds`],
      ['clients/connected', b.sessions.connectedCount],
      ['clients/total', b.sessions.size],
      ['messages/received', s.messagesReceived],
      ['messages/sent', s.messagesSent],
      ['messages/dropped', s.messagesDropped],
      ['bytes/received', s.bytesIn],
      ['bytes/sent', s.bytesOut],
      ['subscriptions/count', b.tree.size],
      ['retained messages/count', b.retained.userSize ?? b.retained.size],
    ]
    for (const [name, value] of values) {
      b.publish({
        topic: `$SYS/broker/${name}`,
        payload: Buffer.from(String(value)),
        qos: 0,
        retain: true,
        properties: undefined,
        expiresAt: undefined,
        origin: undefined,
      })
    }
  }
}
