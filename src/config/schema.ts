/**
 * The configuration file's shape (the README's "Configuration" section) and its validation: one source of truth.
 * `validateConfig` turns raw YAML/JSON into a frozen PortcullisConfig or throws a
 * ConfigError naming the key path.
 */
import { parseAuthenticatorsConfig, type AuthenticatorConfig } from '../auth/config.js'
import { parseAuthorizationConfig, type AuthorizationConfig } from '../authz/config.js'
import { DEFAULT_DEVICE_KEY_CACHE, MAX_DEVICE_KEY_CACHE } from '../auth/devices/registry.js'
import { ConfigError } from '../errors.js'
import { hostname } from 'node:os'
import type { ListenerConfig } from '../broker/listeners.js'
import { parseUpgradeTokenConfig } from '../broker/upgrade-token.js'
import { DEFAULT_LIMITS, type Limits, type PublishRate } from '../broker/limits.js'
import {
  knownKeys, list, mapping, oneOf, optionalBoolean, optionalInteger, optionalNumber, optionalString,
} from './check.js'
import { validateReplicaAck, validateSentinel, type RedisSentinelConfig, type ReplicaAckConfig } from './cluster-redis.js'

export type { RedisSentinelConfig, ReplicaAckConfig, SentinelAddress } from './cluster-redis.js'

export interface AdminConfig {
  readonly host: string
  readonly port: number
  /** Bearer key for /api and /metrics (named `admin`); when absent and no apiKeys, one is generated into dataDir/admin-api-key. */
  readonly apiKey: string | undefined
  /** Further named keys; the audit trail says which key made each change. */
  readonly apiKeys?: readonly NamedApiKey[]
  /** Serve /metrics without the key (for a Prometheus scraper on a trusted network). */
  readonly metricsPublic: boolean
}

export interface NamedApiKey {
  readonly name: string
  readonly key: string
}

/** The key admin.apiKey (or the generated one) is known by in the audit trail. */
export const DEFAULT_API_KEY_NAME = 'admin'

/** An admin API key is a bearer secret: a short one can be guessed. */
const MIN_API_KEY_LENGTH = 16
const API_KEY_LENGTH = `must be at least ${MIN_API_KEY_LENGTH} characters`

function validateApiKeys(raw: unknown, single: string | undefined): NamedApiKey[] {
  const entries = raw === undefined ? [] : list(raw, 'admin.apiKeys')
  const keys: NamedApiKey[] = single === undefined ? [] : [{ name: DEFAULT_API_KEY_NAME, key: single }]
  entries.forEach((e, i) => {
    const path = `admin.apiKeys[${i}]`
    const m = mapping(e, path)
    knownKeys(m, path, ['name', 'key'])
    const name = optionalString(m['name'], `${path}.name`)
    const key = optionalString(m['key'], `${path}.key`)
    if (name === undefined || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError(`${path}.name`, 'is required: 1 to 64 letters, digits, _ . -')
    if (key === undefined || key.length < MIN_API_KEY_LENGTH) throw new ConfigError(`${path}.key`, `is required and ${API_KEY_LENGTH}`)
    if (keys.some((k) => k.name === name)) {
      throw new ConfigError(`${path}.name`, `'${name}' is used twice${name === DEFAULT_API_KEY_NAME ? ' (admin.apiKey is named admin)' : ''}`)
    }
    if (keys.some((k) => k.key === key)) throw new ConfigError(`${path}.key`, 'is the same as another key')
    keys.push(Object.freeze({ name, key }))
  })
  return keys.slice(single === undefined ? 0 : 1)
}

export interface PersistenceConfig {
  /** Keep persistent sessions (subscriptions, queued and in-flight QoS 1/2 messages, wills) in dataDir/state.sqlite. */
  readonly sessions: boolean
  /** Keep retained messages in dataDir/state.sqlite across restarts. */
  readonly retained: boolean
  /** normal: survives a crash of the process (kill -9); full: also a power loss. */
  readonly sync: 'normal' | 'full'
}

/** Several nodes over one Redis (`cluster`); absent: one node with SQLite stores. */
/** Redis on a unix socket; `username`/`password` when it asks for them (ACL user, or requirepass with the password alone). */
export interface RedisSocketConfig {
  readonly path: string
  readonly username?: string
  readonly password?: string
}

export interface ClusterConfig {
  /** A redis:// or rediss:// URL, a unix socket, a master found through Sentinel, or a Redis Cluster's seed nodes (redis:// or rediss:// URLs). */
  readonly redis: string | RedisSocketConfig | RedisSentinelConfig | { readonly cluster: readonly string[] }
  /** This node's name in the cluster (default: host name and first listener port). */
  readonly nodeId: string
  /** Acknowledge only what this many replicas hold (one Redis or Sentinel; not a Redis Cluster). */
  readonly replicaAck?: ReplicaAckConfig
  /**
   * How QoS 0 messages reach other nodes' non-shared subscriptions: `pubsub` (default) over the
   * receiving node's pub/sub channel, lost while it is not subscribed (at most once); `stream`
   * through its Redis Stream like QoS 1 and 2 (held while the node is away).
   */
  readonly qos0: 'pubsub' | 'stream'
  /**
   * Over pub/sub: how long (ms) this node holds QoS 0 messages for another node after its last
   * PUBLISHes while more keep coming, so one PUBLISH carries several turns' messages (0: each
   * turn's go at its end). Default DEFAULT_QOS0_BATCH_MS.
   */
  readonly qos0BatchMs: number
}

export interface PortcullisConfig {
  readonly listeners: readonly ListenerConfig[]
  readonly admin: AdminConfig | undefined
  readonly dataDir: string
  readonly logLevel: string
  /** json: one JSON object a line (machines); pretty: ISO time, level, message, fields (people). */
  readonly logFormat: 'json' | 'pretty'
  readonly limits: Limits
  readonly persistence: PersistenceConfig
  readonly cluster: ClusterConfig | undefined
  readonly authentication: {
    readonly allowAnonymous: boolean
    /** Tell MQTT 5 clients why they were refused (CONNACK Reason String). */
    readonly reasonString: boolean
    /** Registered devices (`type: devices`) whose imported keys are kept in memory, the most recently used. */
    readonly deviceKeyCache: number
    readonly authenticators: readonly AuthenticatorConfig[]
  }
  readonly authorization: AuthorizationConfig
}

const LISTENER_TYPES = ['tcp', 'tls', 'ws', 'wss'] as const

function validateListener(raw: unknown, path: string): ListenerConfig {
  const v = mapping(raw, path)
  knownKeys(v, path, ['type', 'host', 'port', 'noDelay', 'path', 'cert', 'key', 'ca', 'requestCert', 'crl', 'sessionResumption', 'upgradeToken'])
  const type = oneOf(v['type'], `${path}.type`, LISTENER_TYPES, 'tcp')
  const defaultPort = { tcp: 1883, tls: 8883, ws: 8083, wss: 8084 }[type]
  let cfg: ListenerConfig = {
    type,
    host: optionalString(v['host'], `${path}.host`) ?? '0.0.0.0',
    port: optionalInteger(v['port'], `${path}.port`, defaultPort, 0, 65535),
    noDelay: optionalBoolean(v['noDelay'], `${path}.noDelay`, true),
    path: optionalString(v['path'], `${path}.path`) ?? '/mqtt',
    cert: optionalString(v['cert'], `${path}.cert`),
    key: optionalString(v['key'], `${path}.key`),
    ca: optionalString(v['ca'], `${path}.ca`),
    requestCert: optionalBoolean(v['requestCert'], `${path}.requestCert`, false),
    crl: optionalString(v['crl'], `${path}.crl`),
    sessionResumption: optionalBoolean(v['sessionResumption'], `${path}.sessionResumption`, true),
  }
  const upgradeToken = parseUpgradeTokenConfig(v['upgradeToken'], `${path}.upgradeToken`, type)
  if (upgradeToken !== undefined) cfg = { ...cfg, upgradeToken }
  if ((type === 'tls' || type === 'wss') && (cfg.cert === undefined || cfg.key === undefined)) {
    throw new ConfigError(`${path}.${cfg.cert === undefined ? 'cert' : 'key'}`, `is required for a ${type} listener`)
  }
  if (cfg.requestCert && type !== 'tls' && type !== 'wss') throw new ConfigError(`${path}.requestCert`, `is only used on tls and wss listeners (not ${type})`)
  if (v['sessionResumption'] !== undefined && type !== 'tls' && type !== 'wss') throw new ConfigError(`${path}.sessionResumption`, `is only used on tls and wss listeners (not ${type})`)
  // Client certificates are checked against the listener's own CA bundle, never the public roots.
  if (cfg.requestCert && cfg.ca === undefined) throw new ConfigError(`${path}.ca`, 'is required with requestCert: the CA bundle that issues client certificates')
  if (cfg.crl !== undefined && !cfg.requestCert) throw new ConfigError(`${path}.crl`, 'is only used with requestCert: true')
  return Object.freeze(cfg)
}

function validatePublishRate(raw: unknown, path: string): PublishRate {
  const d = DEFAULT_LIMITS.publishRate
  if (raw === undefined || raw === null) return d
  const v = mapping(raw, path)
  knownKeys(v, path, Object.keys(d))
  return Object.freeze({
    messages: optionalInteger(v['messages'], `${path}.messages`, d.messages, 0, 1_000_000_000),
    bytes: optionalInteger(v['bytes'], `${path}.bytes`, d.bytes, 0, 2 ** 40),
  })
}

function validateLimits(raw: unknown, path: string): Limits {
  if (raw === undefined || raw === null) return DEFAULT_LIMITS
  const v = mapping(raw, path)
  const d = DEFAULT_LIMITS
  knownKeys(v, path, Object.keys(d))
  const int = (k: Exclude<keyof Limits, 'publishRate'>, min: number, max: number): number => optionalInteger(v[k], `${path}.${k}`, d[k], min, max)
  return Object.freeze({
    // 268,435,455 is the largest size the MQTT remaining-length encoding can express.
    maxPacketSize: int('maxPacketSize', 64, 268_435_455),
    receiveMaximum: int('receiveMaximum', 1, 65535),
    maxKeepAlive: int('maxKeepAlive', 0, 65535),
    topicAliasMaximum: int('topicAliasMaximum', 0, 65535),
    maxInflight: int('maxInflight', 1, 65535),
    maxQueuedMessages: int('maxQueuedMessages', 0, 10_000_000),
    connectTimeoutMs: int('connectTimeoutMs', 100, 600_000),
    maxSessionExpiry: int('maxSessionExpiry', 0, 0xffffffff),
    sysInterval: int('sysInterval', 0, 86_400),
    maxWriteBuffer: int('maxWriteBuffer', 65_536, 1 << 30),
    // a 65,535-byte topic has at most 32,768 levels
    maxTopicLevels: int('maxTopicLevels', 1, 32_768),
    maxSubscriptionsPerClient: int('maxSubscriptionsPerClient', 1, 10_000_000),
    maxInflightBytes: int('maxInflightBytes', 1024, 2 ** 40),
    maxQueuedBytes: int('maxQueuedBytes', 1024, 2 ** 40),
    connectRatePerAddress: int('connectRatePerAddress', 0, 1_000_000),
    connectBurstPerAddress: int('connectBurstPerAddress', 1, 1_000_000),
    publishRate: validatePublishRate(v['publishRate'], `${path}.publishRate`),
    maxRetainedMessages: int('maxRetainedMessages', 0, 1_000_000_000),
    maxRetainedBytes: int('maxRetainedBytes', 0, 2 ** 40),
    maxSubscriptions: int('maxSubscriptions', 0, 1_000_000_000),
  })
}

const DEFAULT_PERSISTENCE: PersistenceConfig = Object.freeze({ sessions: true, retained: true, sync: 'normal' })
const NO_PERSISTENCE: PersistenceConfig = Object.freeze({ sessions: false, retained: false, sync: 'normal' })

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * cluster.qos0BatchMs's default. 2 ms: a crossing batch costs both nodes a wake-up, a read and a
 * write whatever it holds; held 2 ms under load, a QoS 0 message crossing at 10,000/s cost the
 * two nodes 15–18 µs instead of 18–24 (README, "What a cross-node message costs"), for ~1.2 ms
 * more latency (p50) while traffic lasts and none after a pause. 3 ms did no better.
 */
export const DEFAULT_QOS0_BATCH_MS = 2
/** cluster.qos0BatchMs's largest value (a second): QoS 0 is for messages worth little when late. */
const MAX_QOS0_BATCH_MS = 1000

function validateCluster(raw: unknown, path: string, listeners: readonly ListenerConfig[]): ClusterConfig | undefined {
  if (raw === undefined || raw === null) return undefined
  const v = mapping(raw, path)
  knownKeys(v, path, ['redis', 'nodeId', 'replicaAck', 'qos0', 'qos0BatchMs'])
  const r = v['redis']
  const replicaAck = validateReplicaAck(v['replicaAck'], `${path}.replicaAck`)
  const withAck = {
    qos0: validateQos0Path(v['qos0'], `${path}.qos0`),
    qos0BatchMs: optionalNumber(v['qos0BatchMs'], `${path}.qos0BatchMs`, DEFAULT_QOS0_BATCH_MS, 0, MAX_QOS0_BATCH_MS),
    ...(replicaAck !== undefined ? { replicaAck } : {}),
  }
  let redis: ClusterConfig['redis']
  if (typeof r === 'string') {
    if (!/^rediss?:\/\/./.test(r)) throw new ConfigError(`${path}.redis`, 'expected a redis:// or rediss:// URL, or { path: /…/redis.sock }')
    redis = r
  } else {
    const m = mapping(r, `${path}.redis`)
    if (m['sentinels'] !== undefined) {
      for (const key of ['path', 'cluster']) {
        if (m[key] !== undefined) throw new ConfigError(`${path}.redis.${key}`, 'give one of path (one Redis), sentinels (a master watched by Sentinel) or cluster (a Redis Cluster\'s seed nodes)')
      }
      return Object.freeze({ redis: validateSentinel(m, `${path}.redis`), nodeId: clusterNodeId(v, path, listeners), ...withAck })
    }
    knownKeys(m, `${path}.redis`, ['path', 'username', 'password', 'sentinels', 'cluster'])
    if (m['cluster'] !== undefined) {
      if (m['path'] !== undefined) throw new ConfigError(`${path}.redis`, 'give either path (one Redis) or cluster (a Redis Cluster\'s seed nodes), not both')
      for (const key of ['username', 'password']) {
        if (m[key] !== undefined) throw new ConfigError(`${path}.redis.${key}`, 'goes with path; a Redis Cluster\'s seed URLs carry their own (redis://user:password@host:port)')
      }
      const seeds = list(m['cluster'], `${path}.redis.cluster`)
      if (seeds.length === 0) throw new ConfigError(`${path}.redis.cluster`, 'expected at least one seed node (a redis:// or rediss:// URL of any node of the Redis Cluster)')
      for (const [i, seed] of seeds.entries()) {
        if (typeof seed !== 'string' || !isRedisUrl(seed)) throw new ConfigError(`${path}.redis.cluster[${i}]`, 'expected a redis:// or rediss:// URL with a host and port, e.g. redis://10.0.0.5:7000')
      }
      const urls = seeds as string[]
      if (new Set(urls.map((u) => new URL(u).protocol)).size > 1) throw new ConfigError(`${path}.redis.cluster`, 'every seed node uses the same scheme (all redis:// or all rediss://)')
      if (replicaAck !== undefined) throw new ConfigError(`${path}.replicaAck`, 'works with one Redis or Sentinel, not a Redis Cluster (WAIT would have to reach the master of every slot a commit wrote)')
      redis = Object.freeze({ cluster: Object.freeze([...urls]) })
      const nodeId = clusterNodeId(v, path, listeners)
      return Object.freeze({ redis, nodeId, ...withAck })
    }
    const socket = optionalString(m['path'], `${path}.redis.path`)
    if (socket === undefined || socket === '') throw new ConfigError(`${path}.redis.path`, 'expected the path of Redis\'s unix socket')
    const username = optionalString(m['username'], `${path}.redis.username`)
    const password = optionalString(m['password'], `${path}.redis.password`)
    if (username !== undefined && password === undefined) throw new ConfigError(`${path}.redis.username`, 'a username needs its password (redis.password)')
    redis = Object.freeze({ path: socket, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) })
  }
  return Object.freeze({ redis, nodeId: clusterNodeId(v, path, listeners), ...withAck })
}

function validateQos0Path(raw: unknown, path: string): ClusterConfig['qos0'] {
  if (raw === undefined || raw === null) return 'pubsub'
  if (raw === 'pubsub' || raw === 'stream') return raw
  throw new ConfigError(path, `expected "pubsub" (QoS 0 over each node's pub/sub channel, lost while it is away) or "stream" (through its Redis Stream, like QoS 1 and 2); got ${JSON.stringify(raw)}`)
}

function clusterNodeId(v: Record<string, unknown>, path: string, listeners: readonly ListenerConfig[]): string {
  const nodeId = optionalString(v['nodeId'], `${path}.nodeId`) ?? `${hostname()}-${listeners[0]?.port ?? 1883}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64)
  if (!NODE_ID.test(nodeId)) throw new ConfigError(`${path}.nodeId`, 'expected 1 to 64 letters, digits, dots, dashes or underscores')
  return nodeId
}

/** A redis:// or rediss:// URL naming a host and a port (a Redis Cluster seed node). */
function isRedisUrl(text: string): boolean {
  try {
    const u = new URL(text)
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '' && u.port !== ''
  } catch {
    return false
  }
}

/** `persistence: false` keeps everything in memory only; absent, everything persists. */
function validatePersistence(raw: unknown, path: string): PersistenceConfig {
  if (raw === undefined || raw === null || raw === true) return DEFAULT_PERSISTENCE
  if (raw === false) return NO_PERSISTENCE
  const v = mapping(raw, path)
  knownKeys(v, path, Object.keys(DEFAULT_PERSISTENCE))
  return Object.freeze({
    sessions: optionalBoolean(v['sessions'], `${path}.sessions`, DEFAULT_PERSISTENCE.sessions),
    retained: optionalBoolean(v['retained'], `${path}.retained`, DEFAULT_PERSISTENCE.retained),
    sync: oneOf(v['sync'], `${path}.sync`, ['normal', 'full'] as const, DEFAULT_PERSISTENCE.sync),
  })
}

/**
 * Two listeners — or a listener and the admin listener — on one port of one address cannot both
 * open; said before anything opens, naming both (at run time it was "already in use", as if
 * something else held the port). An unspecified address (0.0.0.0: every IPv4 one, `::`: every
 * one) clashes with any address of its family on that port. Port 0 (any free port) never clashes.
 */
function checkPortsApart(listeners: readonly ListenerConfig[], admin: AdminConfig | undefined): void {
  const opens = listeners.map((l, i) => ({ path: `listeners[${i}]`, host: l.host, port: l.port }))
  if (admin !== undefined) opens.push({ path: 'admin', host: admin.host, port: admin.port })
  const covers = (any: string, host: string): boolean => any === '::' || (any === '0.0.0.0' && !host.includes(':'))
  opens.forEach((b, j) => {
    for (const a of opens.slice(0, j)) {
      if (a.port === 0 || a.port !== b.port) continue
      if (a.host === b.host || covers(a.host, b.host) || covers(b.host, a.host)) {
        throw new ConfigError(`${b.path}.port`, `${b.host}:${b.port} is also ${a.path}'s (${a.host}:${a.port}): two listeners cannot share a port`)
      }
    }
  })
}

export function validateConfig(raw: unknown): PortcullisConfig {
  const v = raw === undefined || raw === null ? {} : mapping(raw, '(root)')
  knownKeys(v, '(root)', ['listeners', 'admin', 'dataDir', 'log', 'limits', 'persistence', 'cluster', 'authentication', 'authorization'])
  const listenersRaw = v['listeners'] === undefined ? [{ type: 'tcp' }] : list(v['listeners'], 'listeners')
  const listeners = listenersRaw.map((l, i) => validateListener(l, `listeners[${i}]`))

  let admin: AdminConfig | undefined
  if (v['admin'] !== undefined && v['admin'] !== null && v['admin'] !== false) {
    const a = mapping(v['admin'], 'admin')
    knownKeys(a, 'admin', ['host', 'port', 'apiKey', 'apiKeys', 'metricsPublic'])
    const apiKey = optionalString(a['apiKey'], 'admin.apiKey')
    if (apiKey !== undefined && apiKey.length < MIN_API_KEY_LENGTH) throw new ConfigError('admin.apiKey', API_KEY_LENGTH)
    admin = Object.freeze({
      host: optionalString(a['host'], 'admin.host') ?? '127.0.0.1',
      port: optionalInteger(a['port'], 'admin.port', 18083, 0, 65535),
      apiKey,
      apiKeys: Object.freeze(validateApiKeys(a['apiKeys'], apiKey)),
      metricsPublic: optionalBoolean(a['metricsPublic'], 'admin.metricsPublic', false),
    })
  }

  checkPortsApart(listeners, admin)

  let logLevel = 'info'
  let logFormat: 'json' | 'pretty' = 'json'
  if (v['log'] !== undefined) {
    const l = mapping(v['log'], 'log')
    knownKeys(l, 'log', ['level', 'format'])
    logLevel = oneOf(l['level'], 'log.level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info')
    logFormat = oneOf(l['format'], 'log.format', ['json', 'pretty'] as const, 'json')
  }

  const authn = v['authentication'] === undefined ? {} : mapping(v['authentication'], 'authentication')
  knownKeys(authn, 'authentication', ['allowAnonymous', 'reasonString', 'deviceKeyCache', 'authenticators'])

  return Object.freeze({
    listeners: Object.freeze(listeners),
    admin,
    dataDir: optionalString(v['dataDir'], 'dataDir') ?? './data',
    logLevel,
    logFormat,
    limits: validateLimits(v['limits'], 'limits'),
    persistence: validatePersistence(v['persistence'], 'persistence'),
    cluster: validateCluster(v['cluster'], 'cluster', listeners),
    authentication: Object.freeze({
      allowAnonymous: optionalBoolean(authn['allowAnonymous'], 'authentication.allowAnonymous', false),
      reasonString: optionalBoolean(authn['reasonString'], 'authentication.reasonString', false),
      deviceKeyCache: optionalInteger(authn['deviceKeyCache'], 'authentication.deviceKeyCache', DEFAULT_DEVICE_KEY_CACHE, 0, MAX_DEVICE_KEY_CACHE),
      authenticators: Object.freeze(parseAuthenticatorsConfig(authn['authenticators'] ?? [], 'authentication.authenticators')),
    }),
    authorization: parseAuthorizationConfig(v['authorization'] ?? {}, 'authorization'),
  })
}
