/**
 * The parts of `cluster` that say how a node reaches a Redis watched by Sentinel
 * (`cluster.redis: { sentinels, name, … }`) and how many replicas must hold a commit before
 * it is acknowledged (`cluster.replicaAck`). Mistakes are ConfigErrors naming the key path.
 */
import { ConfigError } from '../errors.js'
import { expected, knownKeys, list, type Raw, mapping, optionalInteger, optionalString, string } from './check.js'

/** A Sentinel's address. */
export interface SentinelAddress {
  readonly host: string
  readonly port: number
}

/**
 * A Redis master found through Sentinel: the node asks the sentinels for the current master of
 * `name` and follows a failover to a promoted replica. `username`/`password`: the master's (and
 * its replicas'); `sentinelPassword`: the sentinels' own, when they ask for one.
 */
export interface RedisSentinelConfig {
  readonly sentinels: readonly SentinelAddress[]
  readonly name: string
  readonly username?: string
  readonly password?: string
  readonly sentinelUsername?: string
  readonly sentinelPassword?: string
}

/** Acknowledge a commit only once `replicas` replicas hold it, waiting at most `timeoutMs` (Redis WAIT). */
export interface ReplicaAckConfig {
  readonly replicas: number
  readonly timeoutMs: number
}

export const SENTINEL_KEYS = ['sentinels', 'name', 'username', 'password', 'sentinelUsername', 'sentinelPassword'] as const

/** The longest `replicaAck.timeoutMs`: every command on the node's main connection waits behind a WAIT. */
export const MAX_REPLICA_ACK_TIMEOUT_MS = 10_000
export const DEFAULT_REPLICA_ACK_TIMEOUT_MS = 1000

/** `cluster.redis` given as a mapping with `sentinels`. */
export function validateSentinel(m: Raw, path: string): RedisSentinelConfig {
  knownKeys(m, path, SENTINEL_KEYS)
  const items = list(m['sentinels'], `${path}.sentinels`)
  if (items.length === 0) throw new ConfigError(`${path}.sentinels`, 'expected at least one sentinel ("host:port")')
  const sentinels = items.map((item, i) => sentinelAddress(item, `${path}.sentinels[${i}]`))
  const name = string(m['name'], `${path}.name`)
  const username = optionalString(m['username'], `${path}.username`)
  const password = optionalString(m['password'], `${path}.password`)
  if (username !== undefined && password === undefined) throw new ConfigError(`${path}.username`, 'a username needs its password (redis.password)')
  const sentinelUsername = optionalString(m['sentinelUsername'], `${path}.sentinelUsername`)
  const sentinelPassword = optionalString(m['sentinelPassword'], `${path}.sentinelPassword`)
  if (sentinelUsername !== undefined && sentinelPassword === undefined) throw new ConfigError(`${path}.sentinelUsername`, 'a username needs its password (redis.sentinelPassword)')
  return Object.freeze({
    sentinels: Object.freeze(sentinels),
    name,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(sentinelUsername !== undefined ? { sentinelUsername } : {}),
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
  })
}

/** "host:port", "[v6 address]:port". */
function sentinelAddress(raw: unknown, path: string): SentinelAddress {
  if (typeof raw !== 'string') throw expected(path, 'a "host:port" string', raw)
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port < 1 || port > 65535) throw expected(path, 'a "host:port" string, e.g. 10.0.0.5:26379', raw)
  return Object.freeze({ host: m[1] ?? m[2] ?? '', port })
}

/** `cluster.replicaAck`; absent: commits are acknowledged once the master has them. */
export function validateReplicaAck(raw: unknown, path: string): ReplicaAckConfig | undefined {
  if (raw === undefined || raw === null) return undefined
  const v = mapping(raw, path)
  knownKeys(v, path, ['replicas', 'timeoutMs'])
  if (v['replicas'] === undefined) throw new ConfigError(`${path}.replicas`, 'is required (how many replicas must hold a commit before it is acknowledged)')
  return Object.freeze({
    replicas: optionalInteger(v['replicas'], `${path}.replicas`, 1, 1, 100),
    timeoutMs: optionalInteger(v['timeoutMs'], `${path}.timeoutMs`, DEFAULT_REPLICA_ACK_TIMEOUT_MS, 1, MAX_REPLICA_ACK_TIMEOUT_MS),
  })
}
