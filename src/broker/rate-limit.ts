/**
 * Token buckets for the rate limits (limits.ts): connections per source address and
 * PUBLISH packets / payload bytes per client.
 */
import { isIPv4, isIPv6 } from 'node:net'
import type { PublishRate } from './limits.js'
import { clock } from '../clock.js'

/**
 * Holds up to `capacity` tokens, refilled at `rate` per second. `take(n)` succeeds while the
 * bucket is not in debt and may take it into debt, so that one request larger than the
 * capacity can pass (and is paid for by the following seconds).
 */
export class TokenBucket {
  readonly #rate: number
  readonly #capacity: number
  #tokens: number
  #at: number

  constructor(rate: number, capacity: number, now: number) {
    this.#rate = rate
    this.#capacity = capacity
    this.#tokens = capacity
    this.#at = now
  }

  take(n: number, now: number): boolean {
    this.#refill(now)
    if (this.#tokens < Math.min(n, this.#capacity)) return false
    this.#tokens -= n
    return true
  }

  /** True when the bucket is back to full (so a limiter may forget it). */
  full(now: number): boolean {
    this.#refill(now)
    return this.#tokens >= this.#capacity
  }

  #refill(now: number): void {
    const elapsed = now - this.#at
    if (elapsed <= 0) return
    this.#at = now
    this.#tokens = Math.min(this.#capacity, this.#tokens + (elapsed * this.#rate) / 1000)
  }
}

/**
 * The address a connection is counted under: an IPv4-mapped IPv6 address as its IPv4
 * address, other IPv6 addresses by their /64 prefix (a single host usually holds a whole
 * /64, so counting per address would give it billions of buckets).
 */
export function rateLimitKey(address: string): string {
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7)
  if (!isIPv6(address)) return address
  const zone = address.indexOf('%')
  const bare = zone === -1 ? address : address.slice(0, zone)
  const [head = '', tail] = bare.split('::')
  const front = head === '' ? [] : head.split(':')
  const back = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`
}

/** How often buckets back to full are forgotten, so idle addresses hold no memory. */
const SWEEP_MS = 10_000

/** One token bucket per source address (connectRatePerAddress / connectBurstPerAddress). */
export class AddressRateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #buckets = new Map<string, TokenBucket>()
  #sweptAt: number

  constructor(rate: number, burst: number, now = clock.now()) {
    this.#rate = rate
    this.#burst = burst
    this.#sweptAt = now
  }

  /** Off (rate 0): allow() needs no address. */
  get enabled(): boolean {
    return this.#rate !== 0
  }

  /** Addresses currently tracked (not back to a full bucket at the last sweep). */
  get size(): number {
    return this.#buckets.size
  }

  /** May this address (its /64 for IPv6, see rateLimitKey) open one more connection now? */
  allow(address: string, now = clock.now()): boolean {
    if (this.#rate === 0) return true
    if (now - this.#sweptAt >= SWEEP_MS) this.#sweep(now)
    const key = rateLimitKey(address)
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#rate, this.#burst, now)
      this.#buckets.set(key, bucket)
    }
    return bucket.take(1, now)
  }

  #sweep(now: number): void {
    this.#sweptAt = now
    for (const [address, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(address)
  }
}

/** limits.publishRate for one client: PUBLISH packets and payload bytes per second. */
export class PublishRateLimiter {
  readonly #messages: TokenBucket | undefined
  readonly #bytes: TokenBucket | undefined

  constructor(rate: PublishRate, now = clock.now()) {
    this.#messages = rate.messages > 0 ? new TokenBucket(rate.messages, rate.messages, now) : undefined
    this.#bytes = rate.bytes > 0 ? new TokenBucket(rate.bytes, rate.bytes, now) : undefined
  }

  /** Is the client off limits (configured at all)? */
  static needed(rate: PublishRate): boolean {
    return rate.messages > 0 || rate.bytes > 0
  }

  /** One more PUBLISH of `bytes` payload bytes: within the rate? */
  allow(bytes: number, now = clock.now()): boolean {
    if (this.#messages !== undefined && !this.#messages.take(1, now)) return false
    return this.#bytes === undefined || this.#bytes.take(bytes, now)
  }
}
