import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { filterCovers, filtersOverlap, isValidTopicFilter, topicMatches } from '../../src/authz/topic-match.js'

describe('topicMatches [MQTT-4.7]', () => {
  const table: [filter: string, topic: string, expected: boolean][] = [
    ['a/b/c', 'a/b/c', true],
    ['a/b/c', 'a/b/d', false],
    ['a/b/c', 'a/b', false],
    ['a/b', 'a/b/c', false],
    ['a/+/c', 'a/x/c', true],
    ['a/+/c', 'a//c', true], // '+' matches an empty level
    ['a/+/c', 'a/x/y/c', false],
    ['a/+', 'a', false],
    ['a/+', 'a/', true],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['+/+', '/a', true],
    ['a/#', 'a', true], // '#' also matches the parent level [MQTT-4.7.1-2]
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['#', '$SYS/broker', false], // [MQTT-4.7.2-1]
    ['+/broker', '$SYS/broker', false],
    ['+/#', '$SYS', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['$SYS/+/uptime', '$SYS/broker/uptime', true],
    ['a/$SYS', 'a/$SYS', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/#', 'sport', true],
    ['/finance', '/finance', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
  ]
  for (const [filter, topic, expected] of table) {
    test(`${filter} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
      assert.equal(topicMatches(filter, topic), expected)
    })
  }
})

describe('filterCovers: the rule filter matches every topic the subscription could match', () => {
  const table: [rule: string, sub: string, expected: boolean][] = [
    ['a/b/#', 'a/#', false],
    ['a/b/#', '+/b/c', false],
    ['a/b/#', 'a/b/#', true],
    ['a/b/#', 'a/b', true],
    ['a/b/#', 'a/b/c/+', true],
    ['a/+/c', 'a/x/c', true],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/#', false],
    ['a/+/c', 'a/+/#', false],
    ['a/+/c', 'a/x/d', false],
    ['#', '#', true],
    ['#', 'a/+/b/#', true],
    ['#', '+', true],
    ['#', '$SYS/#', false],
    ['#', '$SYS/broker', false],
    ['+/#', '$SYS/x', false],
    ['$SYS/#', '$SYS/#', true],
    ['$SYS/#', '$SYS/broker/+', true],
    ['$SYS/#', '#', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/+', true],
    ['a/#', '+', false],
    ['a/#', '#', false],
    ['a', 'a', true],
    ['a', 'a/#', false], // a/# also matches a/b
    ['a', '+', false],
    ['+', 'a', true],
    ['+', '+', true],
    ['+', '#', false],
    ['+', 'a/b', false],
    ['+/+', '+/b', true],
    ['a/+', 'a', false],
    ['test/nosubscribe', 'test/nosubscribe', true],
  ]
  for (const [rule, sub, expected] of table) {
    test(`${rule} ${expected ? 'covers' : 'does not cover'} ${sub}`, () => {
      assert.equal(filterCovers(rule, sub), expected)
    })
  }
})

describe('filtersOverlap: some topic matches both (deny rules)', () => {
  const table: [a: string, b: string, expected: boolean][] = [
    ['secret/#', '#', true],
    ['secret/#', '+/x', true],
    ['secret/#', 'secret', true],
    ['secret/#', 'public/#', false],
    ['test/nosubscribe', 'test/nosubscribe', true],
    ['test/nosubscribe', 'test/+', true],
    ['test/nosubscribe', 'test/other', false],
    ['a/+', 'a', false],
    ['a/+', 'a/#', true],
    ['a/+/c', '+/b/+', true],
    ['a/b', 'a/b/c', false],
    ['#', '$SYS/#', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/broker', true],
    ['$SYS/#', '#', false],
    ['#', '+', true],
  ]
  for (const [a, b, expected] of table) {
    test(`${a} ${expected ? 'overlaps' : 'does not overlap'} ${b}`, () => {
      assert.equal(filtersOverlap(a, b), expected)
      assert.equal(filtersOverlap(b, a), expected, 'symmetric')
    })
  }
})

describe('filterCovers agrees with topicMatches on sample topics', () => {
  // Brute-force cross-check: cover ⇒ every sample topic matched by sub is matched by rule;
  // overlap ⇔ some sample topic matched by both (over a closed alphabet of levels).
  const levels = ['a', 'b', '$SYS', '']
  const topics: string[] = []
  const build = (prefix: string[], depth: number): void => {
    if (prefix.length > 0) topics.push(prefix.join('/'))
    if (depth === 0) return
    for (const l of levels) build([...prefix, l], depth - 1)
  }
  build([], 3)
  const filters = ['#', '+', 'a', 'a/#', 'a/+', '+/b', '+/+', 'a/b', '$SYS/#', '+/#', 'a/+/#', 'b/#', '+/+/+']
  test('cover and overlap are consistent with matching', () => {
    for (const rule of filters) {
      for (const sub of filters) {
        const subTopics = topics.filter((t) => topicMatches(sub, t))
        const covered = subTopics.every((t) => topicMatches(rule, t))
        if (filterCovers(rule, sub)) assert.ok(covered, `${rule} claims to cover ${sub}`)
        const shared = subTopics.some((t) => topicMatches(rule, t))
        assert.equal(filtersOverlap(rule, sub), shared, `${rule} overlap ${sub}`)
      }
    }
  })
})

describe('isValidTopicFilter', () => {
  for (const f of ['a', 'a/b', '#', '+', 'a/#', '+/+/#', '/', '$SYS/#']) {
    test(`valid: ${f}`, () => assert.equal(isValidTopicFilter(f), true))
  }
  for (const f of ['', 'a/#/b', 'a#', 'a/b+', '#/a', 'a/\u0000']) {
    test(`invalid: ${JSON.stringify(f)}`, () => assert.equal(isValidTopicFilter(f), false))
  }
})

describe('topicMatches agrees with a naive reference matcher', () => {
  const reference = (filter: string, topic: string): boolean => {
    if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
    const f = filter.split('/')
    const t = topic.split('/')
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true
      if (i >= t.length) return false
      if (f[i] !== '+' && f[i] !== t[i]) return false
    }
    return f.length === t.length
  }
  test('every filter × topic over a small alphabet', () => {
    const levels = ['a', 'ab', '', '$x', '+', '#']
    const filters: string[] = []
    const topics: string[] = []
    const build = (prefix: string[], depth: number): void => {
      if (prefix.length > 0) {
        const s = prefix.join('/')
        if (isValidTopicFilter(s)) filters.push(s)
        if (!s.includes('+') && !s.includes('#')) topics.push(s)
      }
      if (depth === 0) return
      for (const l of levels) build([...prefix, l], depth - 1)
    }
    build([], 3)
    let compared = 0
    for (const f of filters) {
      for (const t of topics) {
        if (t.length === 0) continue
        assert.equal(topicMatches(f, t), reference(f, t), `${f} vs ${t}`)
        compared++
      }
    }
    assert.ok(compared > 10_000)
  })
})
