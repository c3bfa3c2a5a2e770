/**
 * TopicTree, through its public behaviour only (match, add, remove, size, cacheUsage): wildcard rules
 * [MQTT-4.7], shared subscription groups [MQTT-4.8.2], replacement and removal.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MATCH_CACHE_BYTES, MISS_CACHE_BYTES, MISS_CACHE_ENTRIES, MISS_TOPIC_MAX_CHARS, TopicTree, type MatchResult, type Subscription,
} from '../../src/router/topic-tree.js'

function sub(clientId: string, filter: string, options: { group?: string; qos?: 0 | 1 | 2 } = {}): Subscription {
  return {
    clientId,
    key: options.group === undefined ? filter : `$share/${options.group}/${filter}`,
    filter,
    qos: options.qos ?? 0,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionId: undefined,
    group: options.group,
  }
}

function treeOf(...subs: Subscription[]): TopicTree {
  const tree = new TopicTree()
  for (const s of subs) tree.add(s)
  return tree
}

/** The filters that matched, as `client:filter`, sorted (order of a match is not a rule). */
function matched(result: MatchResult): string[] {
  return result.clients.flatMap((c) => c.subs.map((s) => `${c.clientId}:${s.filter}`)).sort()
}

describe('TopicTree: matching [MQTT-4.7]', () => {
  it('+ matches exactly one level, an empty one included (§4.7.1.3)', () => {
    const tree = treeOf(sub('c', 'a/+/c'))
    assert.deepEqual(matched(tree.match('a/b/c')), ['c:a/+/c'])
    assert.deepEqual(matched(tree.match('a//c')), ['c:a/+/c'])
    assert.deepEqual(matched(tree.match('a/c')), [])
    assert.deepEqual(matched(tree.match('a/b/x/c')), [])
  })

  it('# matches the parent level and every level below it (§4.7.1.2)', () => {
    const tree = treeOf(sub('c', 'a/#'))
    for (const topic of ['a', 'a/b', 'a/b/c', 'a/']) assert.deepEqual(matched(tree.match(topic)), ['c:a/#'], topic)
    assert.deepEqual(matched(tree.match('b/a')), [])
  })

  it('a filter with a leading wildcard matches no $-topic; a $ filter does [MQTT-4.7.2-1]', () => {
    const tree = treeOf(sub('all', '#'), sub('plus', '+/info'), sub('sys', '$SYS/#'))
    assert.deepEqual(matched(tree.match('$SYS/info')), ['sys:$SYS/#'])
    assert.deepEqual(matched(tree.match('x/info')), ['all:#', 'plus:+/info'])
  })

  it('topic levels are compared whole and case sensitive, never normalised [MQTT-4.7.3-4]', () => {
    const tree = treeOf(sub('c', 'Room/temp'))
    assert.deepEqual(matched(tree.match('room/temp')), [])
    assert.deepEqual(matched(tree.match('Room/temperature')), [])
    assert.deepEqual(matched(tree.match('Room/temp')), ['c:Room/temp'])
  })

  it('a client whose subscriptions overlap is one match carrying every one of them [MQTT-3.3.4-2]', () => {
    const tree = treeOf(sub('c', 'a/b'), sub('c', 'a/+'), sub('c', '#'), sub('d', 'a/b'))
    const result = tree.match('a/b')
    assert.equal(result.clients.length, 2)
    const c = result.clients.find((m) => m.clientId === 'c')!
    assert.deepEqual(c.subs.map((s) => s.filter).sort(), ['#', 'a/+', 'a/b'])
  })

  it('subscribing again to the same filter replaces the subscription, not adds one [MQTT-3.8.4-3]', () => {
    const tree = treeOf(sub('c', 'a/b', { qos: 0 }), sub('c', 'a/b', { qos: 2 }))
    assert.equal(tree.size, 1)
    const [match] = tree.match('a/b').clients
    assert.equal(match.subs.length, 1)
    assert.equal(match.subs[0].qos, 2)
  })

  it('a change is seen by the very next match', () => {
    const tree = treeOf(sub('c', 'a/b'))
    assert.deepEqual(matched(tree.match('a/b')), ['c:a/b'])
    tree.add(sub('d', 'a/+'))
    assert.deepEqual(matched(tree.match('a/b')), ['c:a/b', 'd:a/+'])
    tree.remove('c', 'a/b', undefined)
    assert.deepEqual(matched(tree.match('a/b')), ['d:a/+'])
  })
})

describe('TopicTree: shared subscription groups [MQTT-4.8.2]', () => {
  it('members of one group on one filter form one group, apart from ordinary subscribers', () => {
    const tree = treeOf(sub('m1', 'jobs/+', { group: 'g' }), sub('m2', 'jobs/+', { group: 'g' }), sub('solo', 'jobs/+'))
    const result = tree.match('jobs/1')
    assert.deepEqual(matched(result), ['solo:jobs/+'], 'group members are not ordinary matches')
    assert.equal(result.groups.length, 1)
    assert.deepEqual(result.groups[0].members.map((m) => m.clientId), ['m1', 'm2'])
    assert.equal(tree.size, 3)
  })

  it('the same group name on two filters, or two names on one filter, are separate groups', () => {
    const tree = treeOf(sub('m1', 'jobs/+', { group: 'g' }), sub('m2', 'jobs/#', { group: 'g' }), sub('m3', 'jobs/+', { group: 'h' }))
    const groups = tree.match('jobs/1').groups.map((g) => `${g.name}:${g.filter}`).sort()
    assert.deepEqual(groups, ['g:jobs/#', 'g:jobs/+', 'h:jobs/+'])
  })

  it('a member subscribing again is replaced in place, keeping the group size', () => {
    const tree = treeOf(sub('m1', 'j', { group: 'g', qos: 0 }), sub('m2', 'j', { group: 'g' }), sub('m1', 'j', { group: 'g', qos: 1 }))
    const [group] = tree.match('j').groups
    assert.deepEqual(group.members.map((m) => `${m.clientId}:${m.qos}`), ['m1:1', 'm2:0'])
    assert.equal(tree.size, 2)
  })

  it('the last member leaving ends the group', () => {
    const tree = treeOf(sub('m1', 'j', { group: 'g' }), sub('m2', 'j', { group: 'g' }))
    assert.equal(tree.remove('m1', 'j', 'g'), true)
    assert.deepEqual(tree.match('j').groups[0].members.map((m) => m.clientId), ['m2'])
    assert.equal(tree.remove('m2', 'j', 'g'), true)
    assert.equal(tree.match('j').groups.length, 0)
    assert.equal(tree.size, 0)
  })
})

describe('TopicTree: removal', () => {
  it('removes only the named client, filter and group; says whether anything was removed', () => {
    const tree = treeOf(sub('c', 'a/b'), sub('d', 'a/b'), sub('c', 'a/b', { group: 'g' }))
    assert.equal(tree.remove('x', 'a/b', undefined), false, 'unknown client')
    assert.equal(tree.remove('c', 'a/c', undefined), false, 'unknown filter')
    assert.equal(tree.remove('c', 'a/b', 'other'), false, 'unknown group')
    assert.equal(tree.size, 3)
    assert.equal(tree.remove('c', 'a/b', undefined), true)
    assert.equal(tree.remove('c', 'a/b', undefined), false, 'already gone')
    const result = tree.match('a/b')
    assert.deepEqual(matched(result), ['d:a/b'])
    assert.deepEqual(result.groups[0].members.map((m) => m.clientId), ['c'], 'the shared subscription stays')
    assert.equal(tree.size, 2)
  })

  it('removing a deep filter leaves the shorter filters on its path matching', () => {
    const tree = treeOf(sub('c', 'a'), sub('c', 'a/b'), sub('c', 'a/b/c/d'))
    assert.equal(tree.remove('c', 'a/b/c/d', undefined), true)
    assert.deepEqual(matched(tree.match('a/b/c/d')), [])
    assert.deepEqual(matched(tree.match('a/b')), ['c:a/b'])
    assert.deepEqual(matched(tree.match('a')), ['c:a'])
    tree.add(sub('c', 'a/b/c/d'))
    assert.deepEqual(matched(tree.match('a/b/c/d')), ['c:a/b/c/d'], 'the pruned path can be used again')
  })
})

describe('TopicTree: topics with no subscriber (cached as such)', () => {
  it('a topic that matched nothing matches a subscription added later, and nothing again once it is removed', () => {
    const tree = treeOf(sub('c', 'other/#'))
    for (let i = 0; i < 3; i++) assert.deepEqual(matched(tree.match('a/b')), [], 'no subscriber yet (asked again: the cached answer)')
    tree.add(sub('d', 'a/+'))
    assert.deepEqual(matched(tree.match('a/b')), ['d:a/+'])
    tree.add(sub('e', 'a/b', { group: 'g' }))
    assert.deepEqual(tree.match('a/b').groups.map((g) => g.key), ['$share/g/a/b'], 'a shared group added later too')
    assert.equal(tree.remove('d', 'a/+', undefined), true)
    assert.equal(tree.remove('e', 'a/b', 'g'), true)
    assert.deepEqual(matched(tree.match('a/b')), [])
    assert.equal(tree.match('a/b').groups.length, 0)
    tree.add(sub('f', '#'))
    assert.deepEqual(matched(tree.match('a/b')), ['f:#'], 'and once more after it was cached empty again')
  })

  it('many distinct topics with no subscriber stay within the budget and never push out a topic that has one', () => {
    const tree = treeOf(sub('c', 'kept/topic'))
    assert.deepEqual(matched(tree.match('kept/topic')), ['c:kept/topic'])
    for (let i = 0; i < 3 * MISS_CACHE_ENTRIES; i++) tree.match(`flood/${i}`)
    tree.match(`long/${'x'.repeat(MISS_TOPIC_MAX_CHARS)}`)
    const usage = tree.cacheUsage
    assert.ok(usage.entries <= MISS_CACHE_ENTRIES + 1, String(usage.entries))
    assert.ok(usage.bytes <= MISS_CACHE_BYTES + MATCH_CACHE_BYTES, String(usage.bytes))
    assert.deepEqual(matched(tree.match('kept/topic')), ['c:kept/topic'])
    tree.remove('c', 'kept/topic', undefined)
    assert.equal(tree.cacheUsage.entries, 0, 'a change forgets every cached answer')
  })
})
