/**
 * A node's Redis through Sentinel (src/store/redis/redis-state.ts), on real redis-server
 * processes (a master, one replica, three sentinels on loopback ports). Sentinels that do not
 * answer fail the start, naming them. With `replicaAck`, a
 * commit is acknowledged only once the replica holds it (WAIT right behind the EXEC, or behind
 * a lone command); with the replica gone, a commit fails with ERR_STORE_UNAVAILABLE naming the
 * shortfall (applied on the master, acknowledged to no one); without `replicaAck` no WAIT is sent.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { PortcullisError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { freePort } from '../helpers/cli.js'
import { RedisSentinelSet } from '../helpers/redis-sentinel.js'

let set: RedisSentinelSet
let acking: RedisState
let plain: RedisState
before(async () => {
  set = await RedisSentinelSet.start(1)
  acking = await RedisState.open(set.config, 'acking', silentLogger(), { replicaAck: { replicas: 1, timeoutMs: 300 } })
  plain = await RedisState.open(set.config, 'plain', silentLogger())
})
after(async () => {
  await acking?.close()
  await plain?.close()
  await set?.destroy()
})

function committed(state: RedisState): Promise<Error | undefined> {
  return new Promise((r) => state.afterCommit(r))
}

async function waitCalls(): Promise<number> {
  const r = set.client(set.masterPort)
  try {
    const m = /cmdstat_wait:calls=(\d+)/.exec(await r.info('commandstats'))
    return m === null ? 0 : Number(m[1])
  } finally {
    r.disconnect()
  }
}

test('replicaAck: a commit answers once the replica holds it (a MULTI/EXEC group and a lone command); without it no WAIT is sent', async () => {
  acking.record((m) => m.set('ack:a', '1').set('ack:b', '2'))
  assert.equal(await committed(acking), undefined)
  acking.recordCommand(() => ['SET', 'ack:c', '3'])
  assert.equal(await committed(acking), undefined)
  // WAIT answered: the replica has every key of both commits now, with no delay to wait out.
  const replica = set.client(set.replicaPorts[0])
  try {
    assert.deepEqual(await replica.mget('ack:a', 'ack:b', 'ack:c'), ['1', '2', '3'])
  } finally {
    replica.disconnect()
  }
  const waits = await waitCalls()
  plain.record((m) => m.set('plain:a', '1').set('plain:b', '2'))
  assert.equal(await committed(plain), undefined)
  plain.recordCommand(() => ['SET', 'plain:c', '3'])
  assert.equal(await committed(plain), undefined)
  assert.equal(await waitCalls(), waits, 'no WAIT without replicaAck')
})

test('replicaAck: with the replica gone, commits fail (ERR_STORE_UNAVAILABLE, the shortfall named) while plain commits succeed', async () => {
  await set.kill('replica-0')
  const failed = (err: Error | undefined): boolean =>
    err instanceof PortcullisError && err.code === 'ERR_STORE_UNAVAILABLE' && /only 0 of 1 replicas acknowledged the commit within 300 ms/.test(err.message)
  acking.record((m) => m.set('gone:a', '1').set('gone:b', '2'))
  assert.ok(failed(await committed(acking)), 'a MULTI/EXEC group is not acknowledged')
  acking.recordCommand(() => ['SET', 'gone:c', '3'])
  assert.ok(failed(await committed(acking)), 'a lone command is not acknowledged')
  plain.recordCommand(() => ['SET', 'gone:d', '4'])
  assert.equal(await committed(plain), undefined)
})

test('Sentinel: a start whose sentinels do not answer fails (rather than retrying forever), naming them', async () => {
  const port = await freePort()
  await assert.rejects(
    RedisState.open({ sentinels: [{ host: '127.0.0.1', port }], name: 'mymaster' }, 'lonely', silentLogger()),
    (err: unknown) => err instanceof Error && err.message.startsWith(`cluster.redis: cannot connect to sentinel:mymaster@127.0.0.1:${port}: All sentinels are unreachable`),
  )
})
