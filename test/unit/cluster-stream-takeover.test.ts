/**
 * What a node copies out of another node's stream for sessions it takes (src/cluster/stream-takeover.ts),
 * over a real redis-server: an entry forwarded for one client only (a client that moved: the node it left
 * forwarded its share to it alone) reaches that client and no other session taken with it, so a
 * subscriber of the same topic never gets a second copy (exactly once at QoS 2).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { silentLogger } from '../../src/log.js'
import type { Message } from '../../src/mqtt/types.js'
import type { Forwarded } from '../../src/cluster/bus.js'
import type { RouteTable } from '../../src/cluster/routes.js'
import { StreamTakeover } from '../../src/cluster/stream-takeover.js'
import { recordForward } from '../../src/cluster/streams.js'
import { TO_ALL } from '../../src/cluster/entry-codec.js'
import type { RedisState } from '../../src/store/redis/redis-state.js'
import { openRedisState, type RedisServer, startRedis } from '../helpers/redis-server.js'

let redis: RedisServer
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis.destroy()
})

const message = (payload: string): Message =>
  ({ topic: 't/1', payload: Buffer.from(payload), qos: 2, retain: false, properties: undefined, expiresAt: undefined, origin: 'pub' })

/** The node `gone`'s stream: "moved" forwarded for client x only, then "all" for every subscriber. */
async function deadNodeStream(state: RedisState, gone: string): Promise<void> {
  recordForward(state, gone, message('moved'), { all: true, groups: [], clients: new Set(['x']) }, false)
  recordForward(state, gone, message('all'), TO_ALL, false)
  assert.equal(await new Promise<Error | undefined>((r) => state.afterCommit(r)), undefined)
}

/** A takeover whose deliveries are recorded as "payload → clients"; it never sweeps (closed). */
function takeover(state: RedisState): { takeover: StreamTakeover; delivered: string[] } {
  const delivered: string[] = []
  const deliver = (m: Message, f: Forwarded): readonly string[] => {
    delivered.push(`${m.payload.toString()} → ${[...(f.clients ?? [])].sort().join(',')}`)
    return []
  }
  const t = new StreamTakeover({ state, logger: silentLogger(), routes: {} as RouteTable, deliver, serveGroups: () => {} })
  t.close()
  return { takeover: t, delivered }
}

describe('cluster: a dead node\'s stream copied to the sessions taken from it', () => {
  test('copy: an entry for one client goes to that client only, the others to every session taken', async (t) => {
    const state = await openRedisState(redis, t)
    await deadNodeStream(state, 'gone')
    const both = takeover(state)
    assert.equal(await both.takeover.copy('gone', new Set(['x', 'y'])), 2)
    assert.deepEqual(both.delivered, ['moved → x', 'all → x,y'])
    const other = takeover(state)
    assert.equal(await other.takeover.copy('gone', new Set(['y'])), 1)
    assert.deepEqual(other.delivered, ['all → y'], 'y never gets what was forwarded for x alone')
  })

  test('catchUp: a client claimed from a live node gets the entries for it, not those for another client', async (t) => {
    const state = await openRedisState(redis, t)
    await deadNodeStream(state, 'live')
    const x = takeover(state)
    assert.equal(await x.takeover.catchUp('x', 'live'), 2)
    assert.deepEqual(x.delivered, ['moved → x', 'all → x'])
    const y = takeover(state)
    assert.equal(await y.takeover.catchUp('y', 'live'), 1)
    assert.deepEqual(y.delivered, ['all → y'])
  })
})
