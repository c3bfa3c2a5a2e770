/** `cluster` in the configuration: a Redis URL or unix socket, a node id; mistakes name the key path. */
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.js'
import { validateConfig } from '../../src/config/schema.js'

const base = { listeners: [{ type: 'tcp', port: 1999 }] }

test('cluster: absent → one node; URL or unix socket accepted; nodeId defaults to host name and first listener port', () => {
  assert.equal(validateConfig(base).cluster, undefined)
  assert.deepEqual(validateConfig({ ...base, cluster: { redis: 'redis://127.0.0.1:6379', nodeId: 'node-a' } }).cluster, { redis: 'redis://127.0.0.1:6379', nodeId: 'node-a', qos0: 'pubsub', qos0BatchMs: 2 })
  const c = validateConfig({ ...base, cluster: { redis: { path: '/run/redis.sock' } } }).cluster
  assert.deepEqual(c?.redis, { path: '/run/redis.sock' })
  assert.equal(c?.nodeId, `${hostname()}-1999`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64))
})

test('cluster: qos0 chooses how QoS 0 reaches other nodes: "pubsub" (default) or "stream"; anything else is refused naming the key', () => {
  const qos0 = (v: unknown): unknown => validateConfig({ ...base, cluster: { redis: 'redis://x', nodeId: 'node-a', qos0: v } }).cluster?.qos0
  assert.equal(qos0(undefined), 'pubsub')
  assert.equal(qos0('pubsub'), 'pubsub')
  assert.equal(qos0('stream'), 'stream')
  assert.equal(validateConfig({ ...base, cluster: { redis: { cluster: ['redis://127.0.0.1:7000'] }, nodeId: 'node-a', qos0: 'stream' } }).cluster?.qos0, 'stream')
  assert.throws(() => qos0('pub/sub'), (err: unknown) => err instanceof ConfigError && err.path === 'cluster.qos0' && /"pubsub".*"stream"/.test(err.message))
})

test('cluster: qos0BatchMs (how long QoS 0 for another node is held while more comes) defaults to 2 ms; 0 to 1,000 ms, fractions allowed; anything else refused naming the key', () => {
  const batch = (v: unknown): unknown => validateConfig({ ...base, cluster: { redis: 'redis://x', nodeId: 'node-a', qos0BatchMs: v } }).cluster?.qos0BatchMs
  assert.equal(batch(undefined), 2)
  assert.equal(batch(0), 0)
  assert.equal(batch(0.5), 0.5)
  assert.equal(batch(1000), 1000)
  for (const bad of [-1, 1001, '2', Number.NaN]) {
    assert.throws(() => batch(bad), (err: unknown) => err instanceof ConfigError && err.path === 'cluster.qos0BatchMs', `refused: ${String(bad)}`)
  }
})

test('cluster: a bad Redis target, node id or unknown key is refused naming the key path', () => {
  const refused = (cluster: unknown, path: string): void => {
    assert.throws(() => validateConfig({ ...base, cluster }), (err: unknown) => err instanceof ConfigError && err.path === path)
  }
  refused({ redis: 'http://x' }, 'cluster.redis')
  refused({ redis: { path: '' } }, 'cluster.redis.path')
  refused({ redis: 'redis://x', nodeId: 'has space' }, 'cluster.nodeId')
  refused({ redis: 'redis://x', extra: 1 }, 'cluster.extra')
})

test('cluster: a unix-socket Redis that asks for a password gets it (password alone for requirepass, username + password for an ACL user)', () => {
  const redis = (r: unknown): unknown => validateConfig({ ...base, cluster: { redis: r, nodeId: 'node-a' } }).cluster?.redis
  assert.deepEqual(redis({ path: '/run/redis.sock', password: 'p4ss' }), { path: '/run/redis.sock', password: 'p4ss' })
  assert.deepEqual(redis({ path: '/run/redis.sock', username: 'broker', password: 'p4ss' }), { path: '/run/redis.sock', username: 'broker', password: 'p4ss' })
  const refused = (r: unknown, path: string, message: RegExp): void => {
    const named = (err: unknown): boolean => err instanceof ConfigError && err.path === path && message.test(err.message)
    assert.throws(() => validateConfig({ ...base, cluster: { redis: r } }), named)
  }
  refused({ path: '/run/redis.sock', username: 'broker' }, 'cluster.redis.username', /needs its password/)
  refused({ path: '/run/redis.sock', password: 7 }, 'cluster.redis.password', /./)
  refused({ cluster: ['redis://127.0.0.1:7000'], password: 'p4ss' }, 'cluster.redis.password', /seed URLs carry their own/)
})

test('cluster: a Redis Cluster is given as its seed nodes (redis:// or rediss:// URLs with host and port)', () => {
  const seeds = ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001']
  const c = validateConfig({ ...base, cluster: { redis: { cluster: seeds }, nodeId: 'node-a' } }).cluster
  assert.deepEqual(c, { redis: { cluster: seeds }, nodeId: 'node-a', qos0: 'pubsub', qos0BatchMs: 2 })
  const refused = (redis: unknown, path: string, message: RegExp): void => {
    const named = (err: unknown): boolean => err instanceof ConfigError && err.path === path && message.test(err.message)
    assert.throws(() => validateConfig({ ...base, cluster: { redis } }), named)
  }
  refused({ cluster: [] }, 'cluster.redis.cluster', /at least one seed/)
  refused({ cluster: 'redis://127.0.0.1:7000' }, 'cluster.redis.cluster', /./)
  refused({ cluster: ['redis://127.0.0.1:7000', 'http://127.0.0.1:7001'] }, 'cluster.redis.cluster[1]', /redis:\/\/ or rediss:\/\//)
  refused({ cluster: ['redis://127.0.0.1'] }, 'cluster.redis.cluster[0]', /host and port/)
  refused({ cluster: ['redis://127.0.0.1:7000', 'rediss://127.0.0.1:7001'] }, 'cluster.redis.cluster', /same scheme/)
  refused({ cluster: ['redis://127.0.0.1:7000'], path: '/run/redis.sock' }, 'cluster.redis', /not both/)
})

test('cluster: a master watched by Sentinel is given as its sentinels ("host:port") and its name; passwords beside them', () => {
  const redis = (r: unknown): unknown => validateConfig({ ...base, cluster: { redis: r, nodeId: 'node-a' } }).cluster?.redis
  assert.deepEqual(redis({ sentinels: ['10.0.0.5:26379', '[::1]:26380'], name: 'mymaster' }), {
    sentinels: [{ host: '10.0.0.5', port: 26379 }, { host: '::1', port: 26380 }], name: 'mymaster',
  })
  assert.deepEqual(redis({ sentinels: ['s1:26379'], name: 'm', username: 'broker', password: 'p4ss', sentinelPassword: 's3cret' }), {
    sentinels: [{ host: 's1', port: 26379 }], name: 'm', username: 'broker', password: 'p4ss', sentinelPassword: 's3cret',
  })
  const refused = (r: unknown, path: string, message: RegExp): void => {
    const named = (err: unknown): boolean => err instanceof ConfigError && err.path === path && message.test(err.message)
    assert.throws(() => validateConfig({ ...base, cluster: { redis: r } }), named)
  }
  refused({ sentinels: [], name: 'm' }, 'cluster.redis.sentinels', /at least one sentinel/)
  refused({ sentinels: '10.0.0.5:26379', name: 'm' }, 'cluster.redis.sentinels', /a list/)
  refused({ sentinels: ['10.0.0.5'], name: 'm' }, 'cluster.redis.sentinels[0]', /host:port/)
  refused({ sentinels: ['10.0.0.5:26379', '10.0.0.6:70000'], name: 'm' }, 'cluster.redis.sentinels[1]', /host:port/)
  refused({ sentinels: ['10.0.0.5:26379'] }, 'cluster.redis.name', /is required/)
  refused({ sentinels: ['10.0.0.5:26379'], name: 'm', username: 'broker' }, 'cluster.redis.username', /needs its password/)
  refused({ sentinels: ['10.0.0.5:26379'], name: 'm', sentinelUsername: 'watcher' }, 'cluster.redis.sentinelUsername', /needs its password/)
  refused({ sentinels: ['10.0.0.5:26379'], name: 'm', path: '/run/redis.sock' }, 'cluster.redis.path', /give one of/)
  refused({ sentinels: ['10.0.0.5:26379'], name: 'm', cluster: ['redis://127.0.0.1:7000'] }, 'cluster.redis.cluster', /give one of/)
  refused({ sentinels: ['10.0.0.5:26379'], name: 'm', master: 'x' }, 'cluster.redis.master', /unknown key/)
})

test('cluster: replicaAck (WAIT after each commit) with one Redis or Sentinel; refused beside a Redis Cluster', () => {
  const cluster = (c: Record<string, unknown>): unknown => validateConfig({ ...base, cluster: { nodeId: 'node-a', ...c } }).cluster
  assert.deepEqual(cluster({ redis: 'redis://127.0.0.1:6379', replicaAck: { replicas: 1 } }), {
    redis: 'redis://127.0.0.1:6379', nodeId: 'node-a', qos0: 'pubsub', qos0BatchMs: 2, replicaAck: { replicas: 1, timeoutMs: 1000 },
  })
  assert.deepEqual(cluster({ redis: { sentinels: ['127.0.0.1:26379'], name: 'm' }, replicaAck: { replicas: 2, timeoutMs: 250 } }), {
    redis: { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'm' }, nodeId: 'node-a', qos0: 'pubsub', qos0BatchMs: 2, replicaAck: { replicas: 2, timeoutMs: 250 },
  })
  const refused = (c: Record<string, unknown>, path: string, message: RegExp): void => {
    const named = (err: unknown): boolean => err instanceof ConfigError && err.path === path && message.test(err.message)
    assert.throws(() => validateConfig({ ...base, cluster: c }), named)
  }
  refused({ redis: 'redis://x', replicaAck: {} }, 'cluster.replicaAck.replicas', /is required/)
  refused({ redis: 'redis://x', replicaAck: { replicas: 0 } }, 'cluster.replicaAck.replicas', /between 1 and 100/)
  refused({ redis: 'redis://x', replicaAck: { replicas: 1, timeoutMs: 0 } }, 'cluster.replicaAck.timeoutMs', /between 1 and 10000/)
  refused({ redis: 'redis://x', replicaAck: { replicas: 1, wait: 1 } }, 'cluster.replicaAck.wait', /unknown key/)
  refused({ redis: { cluster: ['redis://127.0.0.1:7000'] }, replicaAck: { replicas: 1 } }, 'cluster.replicaAck', /not a Redis Cluster/)
})
