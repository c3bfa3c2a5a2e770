/**
 * Caches bounded by bytes, their sizes at /metrics (portcullis_cache_entries and
 * portcullis_cache_bytes by `cache`), issue 18 defect 3: publishes to distinct long topics
 * nobody subscribes to leave nothing of theirs in the topic match cache (short topics with no
 * subscriber are remembered, within a budget of their own), and long topics that do have
 * subscribers fill it only up to its byte budget.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MATCH_CACHE_BYTES } from '../../src/router/topic-tree.js'
import { DECISION_CACHE_BYTES } from '../../src/authz/rule-set.js'
import { connect, connectWithInbox, end, subscribe } from '../helpers/broker.js'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

const CACHES = ['topic_match', 'authz_decisions', 'verified_tokens', 'jws_headers', 'topic_templates'] as const

describe('admin: cache sizes at /metrics, every cache bounded by bytes', () => {
  const h = useAdmin()

  const caches = async (): Promise<Record<string, { entries: number; bytes: number }>> => {
    const r = await h.api('GET', '/metrics')
    assert.equal(r.status, 200)
    const out: Record<string, { entries: number; bytes: number }> = {}
    for (const cache of CACHES) {
      const of = (metric: string): number => {
        const line = r.text.split('\n').find((l) => l.startsWith(`${metric}{cache="${cache}"} `))
        assert.ok(line !== undefined, `${metric}{cache="${cache}"} missing`)
        return Number(line.split(' ')[1])
      }
      out[cache] = { entries: of('portcullis_cache_entries'), bytes: of('portcullis_cache_bytes') }
    }
    return out
  }
  const client = (clientId: string, protocolVersion: 4 | 5 = 5) =>
    connect(h.mqttPort, { protocolVersion, clientId, username: 'u', password: hsToken(SEED_SECRET) })

  it('every cache is reported; a token connect fills the verified-token and header caches', async () => {
    const c = await client('cache-token')
    const m = await caches()
    assert.ok(m['verified_tokens'].entries >= 1 && m['verified_tokens'].bytes > 0)
    assert.ok(m['jws_headers'].entries >= 1 && m['jws_headers'].bytes > 0)
    await end(c)
  })

  it('publishes to 200 distinct 60 KB topics nobody subscribes to leave nothing of theirs in the match cache and the decision cache small', async () => {
    const pub = await client('cache-flood')
    const before = await caches()
    for (let i = 0; i < 200; i++) pub.publish(`file/${i}/${'x'.repeat(60_000)}`, 'x', { qos: 0 })
    await pub.publishAsync('file/sync', 'x', { qos: 1 })
    const after = await caches()
    // At most the short 'file/sync' (no subscriber either: remembered as such); no long topic.
    assert.ok(after['topic_match'].entries <= before['topic_match'].entries + 1, `${before['topic_match'].entries} -> ${after['topic_match'].entries}`)
    assert.ok(after['topic_match'].bytes <= before['topic_match'].bytes + 1024, `${before['topic_match'].bytes} -> ${after['topic_match'].bytes}`)
    assert.ok(after['authz_decisions'].bytes <= 2 * DECISION_CACHE_BYTES, String(after['authz_decisions'].bytes))
    await end(pub)
  })

  it('long topics with a subscriber fill the match cache only up to its byte budget', async () => {
    const { client: sub, inbox } = await connectWithInbox(h.mqttPort, { protocolVersion: 4, clientId: 'cache-sub', username: 'u', password: hsToken(SEED_SECRET) })
    await subscribe(sub, 'file/long/#', { qos: 0 })
    const pub = await client('cache-long')
    const n = 300
    for (let i = 0; i < n; i++) pub.publish(`file/long/${i}/${'y'.repeat(30_000)}`, 'y', { qos: 0 })
    await inbox.count(n, 10_000)
    const m = await caches()
    assert.ok(m['topic_match'].bytes <= MATCH_CACHE_BYTES, String(m['topic_match'].bytes))
    assert.ok(m['topic_match'].entries > 0 && m['topic_match'].entries < n, String(m['topic_match'].entries))
    await end(pub, sub)
  })
})
