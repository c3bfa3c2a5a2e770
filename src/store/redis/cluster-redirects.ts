/**
 * Redirections on a Redis Cluster kept in order: a connection to the master named by a `MOVED`
 * or `ASK` answer exists before ioredis sends the redirected command again.
 *
 * Why: ioredis 5.8 follows a lone command's `MOVED` by opening a connection to the new master
 * (ConnectionPool.findOrCreate) and sending it there, but a pipeline's — a `MULTI`, so every
 * group commit of several commands — only to a connection it already has (`preferKey` looked up
 * in the pool); without one it goes to a random master, which answers `MOVED` in turn, until a
 * slot refresh adds the new master (4-5 redirections over 20-40 ms traced across a manual
 * CLUSTER FAILOVER, whose promoted replica was not in the node's last CLUSTER SLOTS answer).
 * Meanwhile a commit sent later went straight to the new master and was applied first: a node's
 * stream, and the subscriber, got messages out of order. With the connection made here every
 * redirected command and every later one go through that one connection, in the order their
 * `MOVED` answers came from the old master (its queue holds them while it connects).
 *
 * Cluster.handleError is how ioredis reports a redirection to both paths (public, marked
 * @ignore); the pool and the address mapper are its private parts. ioredis is pinned (5.8.2):
 * test/unit/cluster-redis-cluster-routing.test.ts fails if this stops taking effect.
 */
import type { Cluster } from 'ioredis'

interface ClusterInternals {
  connectionPool: { findOrCreate(node: object, readOnly?: boolean): unknown }
  natMapper(key: string): object
}

/** Make `cluster` open the connection a MOVED/ASK names before the command is sent again; returns it. */
export function followRedirectionsInOrder(cluster: Cluster): Cluster {
  const internals = cluster as unknown as ClusterInternals
  if (typeof internals.connectionPool?.findOrCreate !== 'function' || typeof internals.natMapper !== 'function') {
    throw new TypeError('ioredis Cluster without connectionPool.findOrCreate/natMapper: cluster-redirects.ts needs another look')
  }
  const handleError = cluster.handleError.bind(cluster)
  cluster.handleError = (error, ttl, handlers): void => {
    // 'MOVED <slot> <host:port>' / 'ASK <slot> <host:port>'
    const parts = error.message.split(' ')
    if ((parts[0] === 'MOVED' || parts[0] === 'ASK') && parts[2] !== undefined) {
      internals.connectionPool.findOrCreate(internals.natMapper(parts[2]))
    }
    handleError(error, ttl, handlers)
  }
  return cluster
}
