/** `cluster` in the configuration: a Redis URL or unix socket, a node id; mistakes name the key path. */
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.js'
import { validateConfig } from '../../src/config/schema.js'

const base = { listeners: [{ type: 'tcp', port: 1999 }] }

test('cluster: absent → one node; URL or unix socket accepted; nodeId defaults to host name and first listener port', () => {
  assert.equal(validateConfig(base).cluster, undefined)
  assert.deepEqual(validateConfig({ ...base, cluster: { redis: 'redis://127.0.0.1:6379', nodeId: 'node-a' } }).cluster, { redis: 'redis://127.0.0.1:6379', nodeId: 'node-a' })
  const c = validateConfig({ ...base, cluster: { redis: { path: '/run/redis.sock' } } }).cluster
  assert.deepEqual(c?.redis, { path: '/run/redis.sock' })
  assert.equal(c?.nodeId, `${hostname()}-1999`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64))
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

test('cluster: Redis Cluster (redis: { cluster: [seed nodes] }) is refused at start-up as not supported yet', () => {
  assert.throws(
    () => validateConfig({ ...base, cluster: { redis: { cluster: ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'] } } }),
    (err: unknown) => err instanceof ConfigError && err.path === 'cluster.redis.cluster' && /not supported yet/.test(err.message),
  )
})
