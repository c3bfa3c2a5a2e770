/**
 * The audit trail of a cluster: one trail in Redis for every node, so `GET /audit` on any node
 * shows every node's management changes, in the order they were made, each naming its node.
 *
 *   pc:{audit}      stream: entry `<id>-0` holds the entry as JSON (capped at the number of
 *                   entries a single node keeps: the oldest go first)
 *   pc:{audit}:id   the last id given (ids increase across the cluster)
 *
 * (One hash tag: one slot of a Redis Cluster.) Every Redis step is bounded in time; a trail
 * that cannot be written or read throws SharedConfigError ERR_UNAVAILABLE.
 */
import type { Result } from 'ioredis'
import { answerWithin, defineScripts, SHARED_CHANGE_TIMEOUT_MS, unavailable } from '../cluster/shared-versioned.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import type { AuditEntry, AuditRecord, AuditStore } from '../store/audit-types.js'

export const CLUSTER_AUDIT_KEY = 'pc:{audit}'
export const CLUSTER_AUDIT_ID_KEY = 'pc:{audit}:id'

/** KEYS: the stream, the id. ARGV: entry JSON, entries kept. Answers the entry's id. */
const ADD_LUA = `
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], id .. '-0', 'entry', ARGV[1])
return id
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pcAuditAdd(numKeys: number, ...args: Array<string | number>): Result<number, Context>
  }
}

export class ClusterAudit implements AuditStore {
  readonly #client: RedisClient
  readonly #nodeId: string

  constructor(state: RedisState) {
    this.#client = state.client
    this.#nodeId = state.nodeId
    defineScripts(this.#client, { pcAuditAdd: ADD_LUA })
  }

  async addAudit(entry: AuditRecord, keep: number): Promise<number> {
    try {
      const json = JSON.stringify({ ...entry, node: this.#nodeId })
      return await answerWithin(this.#client.pcAuditAdd(2, CLUSTER_AUDIT_KEY, CLUSTER_AUDIT_ID_KEY, json, keep), SHARED_CHANGE_TIMEOUT_MS)
    } catch (err) {
      throw unavailable(err, 'the audit entry of this change cannot be kept for the cluster')
    }
  }

  async listAudit(before: number | undefined, limit: number): Promise<AuditEntry[]> {
    let rows: [string, string[]][]
    try {
      rows = await answerWithin(this.#client.xrevrange(CLUSTER_AUDIT_KEY, before === undefined ? '+' : `(${before}-0`, '-', 'COUNT', limit), SHARED_CHANGE_TIMEOUT_MS)
    } catch (err) {
      throw unavailable(err, "the cluster's audit trail cannot be read until it is back")
    }
    return rows.flatMap(([id, fields]) => {
      try {
        return [{ id: Number(id.split('-')[0]), ...(JSON.parse(fields[fields.indexOf('entry') + 1] ?? '') as AuditRecord) }]
      } catch {
        return [] // an entry this version cannot read
      }
    })
  }
}
