/**
 * What the authenticators that ask a remote service per client (introspection, http) share:
 * the keep-alive pool, the answer cache, health and outcome counters, and the parts of
 * ManagedAuthenticator that follow from them (no keys to load or refresh).
 */
import type { Agent } from 'node:http'
import type { CacheUsage } from '../../bounded-cache.js'
import type { Logger } from '../../log.js'
import type { AuthenticatorStats, AuthenticatorStatus, AuthenticatorType } from '../managed.js'
import { OutcomeCounts } from '../outcome-counts.js'
import { AnswerCache } from './answer-cache.js'
import { keepAliveAgent } from './http-exchange.js'
import { ServiceHealth } from './service-health.js'

/** What the answer cache may hold per authenticator (entries are also bounded by cacheSize). */
const ANSWER_CACHE_BYTES = 32 * 1024 * 1024

/** The configuration keys every service authenticator has (validated). */
export interface ServiceConfig {
  readonly name: string
  readonly enabled: boolean
  readonly maxConnections: number
  readonly ca?: string | undefined
  readonly timeoutMs: number
}

export interface ServiceSetup {
  readonly url: string
  readonly logger: Logger
  /** How logs name the service ("introspection endpoint"). */
  readonly service: string
  /** Answers the cache may hold; 0 turns the cache off. */
  readonly cacheEntries: number
}

export abstract class ServiceAuthenticator<Answer> {
  abstract readonly type: AuthenticatorType
  readonly name: string
  readonly enabled: boolean
  protected readonly url: URL
  protected readonly agent: Agent
  protected readonly log: Logger
  protected readonly timeoutMs: number
  protected readonly counts: OutcomeCounts
  protected readonly health: ServiceHealth
  protected readonly cache: AnswerCache<Answer>
  protected readonly abort = new AbortController()
  protected cacheHits = 0

  protected constructor(config: ServiceConfig, setup: ServiceSetup) {
    this.name = config.name
    this.enabled = config.enabled
    this.url = new URL(setup.url)
    this.agent = keepAliveAgent(this.url, { maxSockets: config.maxConnections, ...(config.ca !== undefined ? { ca: config.ca } : {}) })
    this.log = setup.logger.child({ authenticator: config.name })
    this.timeoutMs = config.timeoutMs
    this.counts = new OutcomeCounts(this.log)
    this.health = new ServiceHealth(this.log, setup.service)
    this.cache = new AnswerCache(setup.cacheEntries, ANSWER_CACHE_BYTES)
  }

  /** Nothing to load: the service is asked per client. */
  start(): Promise<void> {
    return Promise.resolve()
  }

  close(): Promise<void> {
    this.abort.abort()
    this.agent.destroy()
    this.cache.clear()
    return Promise.resolve()
  }

  refreshKeys(): Promise<boolean> {
    return Promise.resolve(false)
  }

  status(): AuthenticatorStatus {
    return { name: this.name, type: this.type, enabled: this.enabled, ...this.health.status(this.enabled) }
  }

  /** What the answer cache holds (for /metrics). */
  cacheUsage(): CacheUsage {
    return this.cache.usage
  }

  /** `verifyCount`: requests made to the service. */
  stats(): AuthenticatorStats {
    return { ...this.counts.snapshot(), verifyCount: this.health.requests, verifyMicrosTotal: this.health.micros, cacheHits: this.cacheHits }
  }
}
