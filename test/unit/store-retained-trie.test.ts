/**
 * The retained message index: a scan finds exactly what topicMatches() says for every
 * filter shape (wildcards, '$' topics [MQTT-4.7.2-1], 'a/#' matching 'a' [MQTT-4.7.1-2]),
 * each message once across overlapping filters, in bounded slices, with no recursion.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Message } from '../../src/mqtt/types.js'
import { topicMatches } from '../../src/authz/topic-match.js'
import { RetainedTrie } from '../../src/store/memory/retained-trie.js'

function message(topic: string, expiresAt?: number): Message {
  return { topic, payload: Buffer.from('x'), qos: 0, retain: true, properties: undefined, expiresAt, origin: undefined }
}

function scanAll(trie: RetainedTrie, filters: string[], slice = 7): Map<string, number> {
  const scan = trie.scan(filters)
  const found = new Map<string, number>()
  for (let rounds = 0; ; rounds++) {
    assert.ok(rounds < 100_000, 'scan never finished')
    const batch = scan.next(slice)
    assert.ok(batch.hits.length <= slice)
    for (const hit of batch.hits) {
      assert.equal(found.has(hit.message.topic), false, `${hit.message.topic} found twice`)
      found.set(hit.message.topic, hit.filter)
    }
    if (batch.done) return found
  }
}

const TOPICS = [
  'a', 'a/b', 'a/b/c', 'a/c', 'a//c', '/a', '/', 'b', 'b/b/b/b', '$SYS/x', '$SYS/x/y', '$other', 'a/$x', 'c/d/e/f/g',
]
const FILTERS = [
  '#', '+', 'a', 'a/#', 'a/+', 'a/+/c', '+/b', '+/+', '+/#', '/#', '/+', '$SYS/#', '$SYS/+', '+/x', 'a/b/c/#',
  'b/+/+/b', '$other', 'a/$x', '+/+/+/+/+', 'nothing/#', 'a/b/c/d',
]

describe('RetainedTrie', () => {
  const trie = new RetainedTrie()
  for (const t of TOPICS) trie.set(message(t))

  for (const filter of FILTERS) {
    test(`scan('${filter}') finds what topicMatches() matches`, () => {
      const expected = TOPICS.filter((t) => topicMatches(filter, t)).sort()
      assert.deepEqual([...scanAll(trie, [filter]).keys()].sort(), expected)
    })
  }

  test('several filters: each message once, reported with the first filter (in the order given) that matches it', () => {
    const filters = ['a/+/c', 'a/#', '#', '+/+', '#']
    const found = scanAll(trie, filters)
    const expected = TOPICS.filter((t) => filters.some((f) => topicMatches(f, t)))
    assert.deepEqual([...found.keys()].sort(), expected.sort())
    for (const [topic, f] of found) assert.equal(f, filters.findIndex((x) => topicMatches(x, topic)), topic)
  })

  test('set replaces, delete removes and prunes, size counts messages', () => {
    const t = new RetainedTrie()
    t.set(message('x/y'))
    t.set(message('x/y'))
    t.set(message('x'))
    assert.equal(t.size, 2)
    assert.equal(t.delete('x/y'), true)
    assert.equal(t.delete('x/y'), false)
    assert.equal(t.get('x')?.topic, 'x')
    assert.equal(t.size, 1)
    assert.deepEqual([...scanAll(t, ['#']).keys()], ['x'])
  })

  test('expired messages are not returned and are removed', () => {
    const t = new RetainedTrie()
    t.set(message('e/old', Date.now() - 1))
    t.set(message('e/new', Date.now() + 60_000))
    assert.deepEqual([...scanAll(t, ['e/#']).keys()], ['e/new'])
    assert.equal(t.size, 1)
  })

  test('a slice that finds nothing still returns (bounded work), and a 20,000-level topic needs no recursion', () => {
    const t = new RetainedTrie()
    for (let i = 0; i < 10_000; i++) t.set(message(`wide/${i}`))
    const deep = Array.from({ length: 20_000 }, (_, i) => String(i % 10)).join('/')
    t.set(message(deep))
    const scan = t.scan(['wide/+/nothing'])
    const first = scan.next(10)
    assert.equal(first.hits.length, 0)
    assert.equal(first.done, false, 'the walk paused after a bounded number of nodes')
    assert.deepEqual([...scanAll(t, [`${deep.split('/').slice(0, 19_999).join('/')}/+`]).keys()], [deep])
    assert.equal(scanAll(t, ['#'], 1000).size, 10_001)
  })
})
