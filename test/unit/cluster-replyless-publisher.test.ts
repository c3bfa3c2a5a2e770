/**
 * The answerless PUBLISH connection (src/cluster/replyless-publisher.ts) on a real redis-server:
 * it writes each PUBLISH into one buffer it reuses while the socket takes every write at once,
 * and leaves that buffer to the stream when the socket cannot (Redis not reading fast enough).
 * Either way a subscriber gets every PUBLISH whole and in order: a short one after a long one
 * carries no bytes of the long one, and a buffer the stream still holds is never written over.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { silentLogger } from '../../src/log.js'
import { ReplylessPublisher } from '../../src/cluster/replyless-publisher.js'
import { RedisServer } from '../helpers/redis-server.js'

const CHANNEL = 'pc:q0:{replyless-test}'
let redis: RedisServer
let sub: Redis
let conn: Redis
let publisher: ReplylessPublisher
const received: Buffer[] = []

before(async () => {
  redis = new RedisServer()
  await redis.start()
  sub = redis.client()
  sub.on('messageBuffer', (_channel: Buffer, bytes: Buffer) => received.push(bytes))
  await sub.connect()
  await sub.subscribe(CHANNEL)
  conn = new Redis({ path: redis.socket, lazyConnect: true })
  publisher = new ReplylessPublisher(conn, silentLogger())
  await publisher.start()
  for (let i = 0; !publisher.usable; i++) {
    assert.ok(i < 1000, 'the reply-less connection is usable within 5 s')
    await new Promise((r) => setTimeout(r, 5))
  }
})
after(async () => {
  publisher?.close()
  sub?.disconnect()
  await redis?.destroy()
})

/** A payload of `size` bytes that says which one it is (its first 4 bytes) and fills the rest with its own byte. */
function payload(i: number, size: number): Buffer {
  const b = Buffer.alloc(Math.max(size, 4), i & 0xff)
  b.writeUInt32BE(i, 0)
  return b
}

async function receivedAll(n: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (received.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  assert.equal(received.length, n)
}

test('PUBLISHes one per turn, long and short in turn (the reused buffer), arrive whole and in order', async () => {
  received.length = 0
  const sent: Buffer[] = []
  const sizes = [3000, 10, 70_000, 4, 17_000, 200, 1]
  for (let i = 0; i < 60; i++) {
    const p = payload(i, sizes[i % sizes.length])
    sent.push(p)
    assert.equal(publisher.write(CHANNEL, p), true)
    await new Promise((r) => setImmediate(r))
  }
  await receivedAll(sent.length)
  assert.deepEqual(received, sent)
})

test('PUBLISHes in one burst, more than the socket takes at once, arrive whole and in order', async () => {
  received.length = 0
  const sent: Buffer[] = []
  // ~3 MB in all (under MAX_BUFFERED_BYTES: every write taken); 400 KB is more than a unix socket's buffer.
  const sizes = [200_000, 10, 3000, 400_000, 7]
  for (let i = 0; i < 25; i++) {
    const p = payload(1000 + i, sizes[i % sizes.length])
    sent.push(p)
    assert.equal(publisher.write(CHANNEL, p), true)
  }
  // The case this test is for: the stream holds some of them (the buffer was not reused meanwhile).
  assert.ok((conn.stream as { writableLength: number }).writableLength > 0, 'the socket took the whole burst at once')
  await receivedAll(sent.length)
  assert.deepEqual(received, sent)
})
