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
  assert.deepEqual(c, { redis: { cluster: seeds }, nodeId: 'node-a' })
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
