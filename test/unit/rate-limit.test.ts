/**
 * The token buckets behind limits.connectRatePerAddress and limits.publishRate: refill,
 * burst, debt for one large request, the per-address key (IPv4-mapped IPv6 as IPv4, IPv6
 * by /64) and forgetting idle addresses.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AddressRateLimiter, PublishRateLimiter, TokenBucket, rateLimitKey } from '../../src/broker/rate-limit.js'

describe('TokenBucket', () => {
  test('starts full, refills at its rate, never above its capacity', () => {
    const b = new TokenBucket(10, 3, 0)
    assert.equal(b.take(1, 0) && b.take(1, 0) && b.take(1, 0), true)
    assert.equal(b.take(1, 0), false)
    assert.equal(b.take(1, 99), false, '0.99 of a token after 99 ms at 10/s')
    assert.equal(b.take(1, 100), true)
    assert.equal(b.full(10_000), true)
    assert.equal(b.take(3, 10_000) && !b.take(1, 10_000), true, 'capacity 3, however long it waited')
  })

  test('a request larger than the capacity passes on a full bucket and is paid for afterwards', () => {
    const b = new TokenBucket(1000, 1000, 0)
    assert.equal(b.take(2500, 0), true)
    assert.equal(b.take(1, 1000), false, 'still 500 in debt after a second')
    assert.equal(b.take(1000, 2500), true)
  })
})

describe('AddressRateLimiter', () => {
  test('one bucket per address; rate 0 is off', () => {
    const l = new AddressRateLimiter(1, 2, 0)
    assert.deepEqual([l.allow('10.0.0.1', 0), l.allow('10.0.0.1', 0), l.allow('10.0.0.1', 0)], [true, true, false])
    assert.equal(l.allow('10.0.0.2', 0), true)
    assert.equal(l.allow('10.0.0.1', 1000), true)
    const off = new AddressRateLimiter(0, 1, 0)
    for (let i = 0; i < 100; i++) assert.equal(off.allow('10.0.0.1', 0), true)
  })

  test('IPv4-mapped IPv6 counts as the IPv4 address; IPv6 addresses count by /64', () => {
    assert.equal(rateLimitKey('::ffff:192.0.2.7'), '192.0.2.7')
    assert.equal(rateLimitKey('192.0.2.7'), '192.0.2.7')
    assert.equal(rateLimitKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
    assert.equal(rateLimitKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64')
    assert.equal(rateLimitKey('2001:db8::1'), '2001:db8:0:0::/64')
    assert.equal(rateLimitKey('::1'), '0:0:0:0::/64')
    assert.equal(rateLimitKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
    const l = new AddressRateLimiter(1, 1, 0)
    assert.equal(l.allow('2001:db8:1:2::10', 0), true)
    assert.equal(l.allow('2001:db8:1:2::11', 0), false, 'the same /64')
    assert.equal(l.allow('2001:db8:1:3::10', 0), true, 'another /64')
  })

  test('addresses whose bucket is full again are forgotten', () => {
    const l = new AddressRateLimiter(1000, 10, 0)
    for (let i = 0; i < 100; i++) l.allow(`10.0.${i >> 8}.${i & 255}`, 0)
    assert.equal(l.size, 100)
    l.allow('10.1.0.1', 20_000)
    assert.equal(l.size, 1)
  })
})

describe('PublishRateLimiter', () => {
  test('messages and bytes per second, each one second deep', () => {
    const l = new PublishRateLimiter({ messages: 2, bytes: 100 }, 0)
    assert.equal(l.allow(10, 0), true)
    assert.equal(l.allow(10, 0), true)
    assert.equal(l.allow(10, 0), false, 'a third message within the second')
    const b = new PublishRateLimiter({ messages: 0, bytes: 100 }, 0)
    assert.equal(b.allow(60, 0), true)
    assert.equal(b.allow(60, 0), false, '120 bytes within the second')
    assert.equal(b.allow(60, 1000), true)
    assert.equal(PublishRateLimiter.needed({ messages: 0, bytes: 0 }), false)
  })
})
