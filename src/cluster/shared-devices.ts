/**
 * The device registry (`type: devices`) shared by every node of a cluster: one registry in
 * Redis, so a device registered, changed or deleted through any node's admin API is in force on
 * every node within about a second.
 *
 *   pc:{devices}          hash: device id → the stored device as JSON (one field per device:
 *                         a change writes only the devices it touches, whatever the fleet's size)
 *   pc:{devices}:version  bumped by every change
 *   pc:{devices}:log      stream of the last changes: entry `<version>-0` lists the ids it
 *                         touched (`*`: too many to list, read the whole registry)
 *   pc:devices:changed    pub/sub: the new version
 *
 * (One hash tag: one slot of a Redis Cluster, so a change stays one script.) A change is one
 * script — the devices written or deleted, the version bumped, the ids logged, the others told —
 * run before it is in force anywhere; while Redis cannot be reached it is refused (503). A change
 * to a device is worked out from the device as Redis held it (`read`), and the script writes it
 * only if the device is still exactly that (`readAs`): two nodes changing one device at once, or
 * a node whose copy is behind, cannot silently undo another node's change (the admin API reads
 * it again and works the change out anew: admin/devices.ts). The
 * nodes follow the version (the notice at once, a look once a second: `SharedVersioned`); a node
 * behind reads the log from its version and then only the devices it names, or the whole
 * registry when the log no longer reaches back that far.
 */
import type { Result } from 'ioredis'
import type { StoredDevice } from '../auth/devices/device.js'
import type { Logger } from '../log.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import { answerWithin, defineScripts, SHARED_CHANGE_TIMEOUT_MS, SharedConfigError, SharedVersioned, unavailable, type VersionedCopy } from './shared-versioned.js'

export const SHARED_DEVICES_KEY = 'pc:{devices}'
export const SHARED_DEVICES_VERSION_KEY = 'pc:{devices}:version'
export const SHARED_DEVICES_LOG_KEY = 'pc:{devices}:log'
export const SHARED_DEVICES_CHANNEL = 'pc:devices:changed'
/** Changes the log keeps (about): a node further behind reads the whole registry. */
const LOG_KEPT = 1000
/** A change touching more devices than this logs `*` (the others read the whole registry). */
const LOG_IDS_MAX = 1000
/** Devices read per command (HSCAN / HMGET). */
const READ_BATCH = 1000
/** A large change (an import) may take Redis longer: 1 ms more per 10 devices. */
const DEVICES_PER_MS = 10

/**
 * KEYS: hash, version, log. ARGV: node, channel, log length, '1' when the put devices must be
 * new, the number of expectations E, E (id, JSON as read, '' for none) pairs, the number of puts
 * P, P (id, JSON) pairs, then ids to delete.
 * Answers {1, version}, {0, ids already registered} or {2, {id, its JSON now or ''}} (an
 * expectation not met: the device changed since it was read); nothing is written unless 1.
 */
const CHANGE_LUA = `
local e = tonumber(ARGV[5])
for i = 0, e - 1 do
  local now = redis.call('HGET', KEYS[1], ARGV[6 + 2 * i]) or ''
  if now ~= ARGV[7 + 2 * i] then return {2, {ARGV[6 + 2 * i], now}} end
end
local at = 6 + 2 * e
local p = tonumber(ARGV[at])
if ARGV[4] == '1' then
  local taken = {}
  for i = 0, p - 1 do
    if redis.call('HEXISTS', KEYS[1], ARGV[at + 1 + 2 * i]) == 1 then taken[#taken + 1] = ARGV[at + 1 + 2 * i] end
  end
  if #taken > 0 then return {0, taken} end
end
local ids = {}
for i = 0, p - 1 do
  redis.call('HSET', KEYS[1], ARGV[at + 1 + 2 * i], ARGV[at + 2 + 2 * i])
  if #ids <= ${LOG_IDS_MAX} then ids[#ids + 1] = ARGV[at + 1 + 2 * i] end
end
for i = at + 1 + 2 * p, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  if #ids <= ${LOG_IDS_MAX} then ids[#ids + 1] = ARGV[i] end
end
local v = redis.call('INCR', KEYS[2])
local listed = '*'
if #ids <= ${LOG_IDS_MAX} then listed = table.concat(ids, '\\n') end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], v .. '-0', 'node', ARGV[1], 'ids', listed)
redis.call('PUBLISH', ARGV[2], v)
return {1, v}
`

/** KEYS: hash, version, log. ARGV: (id, JSON) pairs. Seeds only a cluster without a registry: 1 when seeded. */
const SEED_LUA = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[3])
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[2], 1)
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** (`args`: the keys, then the arguments, in one array: an import's 200,000 would overflow a spread call's stack.) */
    pcDevicesChange(numKeys: number, args: ReadonlyArray<string | number>): Result<[number, number | string[]], Context>
    pcDevicesSeed(numKeys: number, args: readonly string[]): Result<number, Context>
  }
}

/** One change: devices written (inserted or replaced) and ids deleted. */
export interface DeviceWrite {
  readonly puts: readonly StoredDevice[]
  readonly removes?: readonly string[]
  /** The devices put must not be registered yet (a new device): else nothing is written, ERR_CONFLICT. */
  readonly mustBeNew?: boolean
  /**
   * The devices this change was worked out from, as `read` answered them (id → JSON, undefined:
   * none): when one is no longer so in Redis (another node changed it since), nothing is written
   * and `write` answers it as it is now.
   */
  readonly readAs?: ReadonlyMap<string, string | undefined>
}

/** What `write` answers: written, or (`readAs`) a device that changed since it was read, as it is now (undefined: deleted). */
export type DeviceWriteResult = { readonly written: true } | { readonly written: false; readonly id: string; readonly now: string | undefined }

/** What a node behind reads: the devices changed since its version (undefined: deleted), or the whole registry. */
export interface SharedDevicesCopy extends VersionedCopy {
  readonly changed?: ReadonlyMap<string, StoredDevice | undefined>
  readonly all?: readonly StoredDevice[]
}

export class SharedDevices {
  readonly #client: RedisClient
  readonly #nodeId: string
  readonly #logger: Logger
  readonly #versioned: SharedVersioned<SharedDevicesCopy>

  constructor(state: RedisState, logger: Logger) {
    this.#client = state.client
    this.#nodeId = state.nodeId
    this.#logger = logger
    defineScripts(this.#client, { pcDevicesChange: CHANGE_LUA, pcDevicesSeed: SEED_LUA })
    this.#versioned = new SharedVersioned(state, logger, {
      name: 'devices',
      version: { key: SHARED_DEVICES_VERSION_KEY },
      channel: SHARED_DEVICES_CHANNEL,
      load: () => this.#since(this.#versioned.version),
    })
  }

  /** The whole registry (read a batch at a time), or undefined when no node shared one yet. */
  async load(): Promise<{ readonly version: number; readonly devices: StoredDevice[] } | undefined> {
    // The version first: a change made during the scan is read again from the log afterwards.
    const version = await this.#client.get(SHARED_DEVICES_VERSION_KEY)
    if (version === null) return undefined
    return { version: Number(version), devices: await this.#all() }
  }

  /** Shares `devices` as the cluster's registry if no node did yet; true when they became the cluster's. */
  async seed(devices: readonly StoredDevice[]): Promise<boolean> {
    const args = [SHARED_DEVICES_KEY, SHARED_DEVICES_VERSION_KEY, SHARED_DEVICES_LOG_KEY, ...devicePairs(devices)]
    return (await this.#client.pcDevicesSeed(3, args)) === 1
  }

  /**
   * A device as Redis holds it now (its JSON, for `DeviceWrite.readAs`), undefined when it is not
   * registered. Throws SharedConfigError ERR_UNAVAILABLE.
   */
  async read(id: string): Promise<string | undefined> {
    try {
      return (await answerWithin(this.#client.hget(SHARED_DEVICES_KEY, id), SHARED_CHANGE_TIMEOUT_MS)) ?? undefined
    } catch (err) {
      throw unavailable(err, 'devices cannot be changed until it is back, so that every node has the same registry')
    }
  }

  /**
   * `read` for many devices (an import), READ_BATCH per request: id → JSON as Redis holds it now,
   * undefined when not registered. Throws SharedConfigError ERR_UNAVAILABLE.
   */
  async readMany(ids: readonly string[]): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>()
    try {
      for (let i = 0; i < ids.length; i += READ_BATCH) {
        const part = ids.slice(i, i + READ_BATCH)
        const got = await answerWithin(this.#client.hmget(SHARED_DEVICES_KEY, ...part), SHARED_CHANGE_TIMEOUT_MS)
        for (const [j, id] of part.entries()) out.set(id, got[j] ?? undefined)
      }
    } catch (err) {
      throw unavailable(err, 'devices cannot be changed until it is back, so that every node has the same registry')
    }
    return out
  }

  /**
   * Writes a change for every node, before it is in force anywhere, unless a device in `readAs`
   * changed since (answered, nothing written). Throws SharedConfigError: ERR_CONFLICT (`mustBeNew`
   * and some are registered: nothing written), ERR_UNAVAILABLE.
   */
  async write(change: DeviceWrite): Promise<DeviceWriteResult> {
    const { puts, removes = [], readAs = new Map<string, string | undefined>() } = change
    if (puts.length === 0 && removes.length === 0) return { written: true }
    const expected: string[] = []
    for (const [id, json] of readAs) expected.push(id, json ?? '')
    const args = [
      SHARED_DEVICES_KEY, SHARED_DEVICES_VERSION_KEY, SHARED_DEVICES_LOG_KEY,
      this.#nodeId, SHARED_DEVICES_CHANNEL, LOG_KEPT, change.mustBeNew === true ? '1' : '0',
      readAs.size, ...expected, puts.length, ...devicePairs(puts), ...removes,
    ]
    let answer: [number, number | string[]]
    try {
      answer = await answerWithin(this.#client.pcDevicesChange(3, args), SHARED_CHANGE_TIMEOUT_MS + Math.ceil(puts.length / DEVICES_PER_MS))
    } catch (err) {
      throw unavailable(err, 'devices cannot be changed until it is back, so that every node has the same registry (if Redis took the change after all, it is in force on every node within a second)')
    }
    const [ok, result] = answer
    if (ok === 2) {
      const [id = '', now = ''] = result as string[]
      return { written: false, id, now: now === '' ? undefined : now }
    }
    if (ok !== 1) {
      const taken = (result as string[]).map((id) => `'${id}'`)
      throw new SharedConfigError('ERR_CONFLICT', `${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ` and ${taken.length - 5} more` : ''} registered a moment ago (through another node); nothing was written`)
    }
    // This node applies its own change at once; when another node's came in between, it reads the log from its version.
    const version = result as number
    if (version === this.#versioned.version + 1) this.#versioned.ran(version)
    else void this.#versioned.check()
    return { written: true }
  }

  /** Note the version this node now holds. */
  ran(version: number): void {
    this.#versioned.ran(version)
  }

  /** From now on, `apply` every change another node makes (one at a time, in order). */
  follow(apply: (copy: SharedDevicesCopy) => void): Promise<void> {
    return this.#versioned.follow(apply)
  }

  /** Apply what changed in Redis since this node's version (tests and the poll call it). */
  check(): Promise<void> {
    return this.#versioned.check()
  }

  close(): void {
    this.#versioned.close()
  }

  /** The changes after `version`: from the log when it reaches back that far, else the whole registry. */
  async #since(version: number): Promise<SharedDevicesCopy | undefined> {
    const current = Number((await this.#client.get(SHARED_DEVICES_VERSION_KEY)) ?? 0)
    if (current <= version) return undefined
    const entries = await this.#client.xrange(SHARED_DEVICES_LOG_KEY, `(${version}-0`, '+', 'COUNT', LOG_KEPT)
    const ids = new Set<string>()
    let reached = version
    for (const [entryId, fields] of entries) {
      const v = Number(entryId.split('-')[0])
      const listed = fields[fields.indexOf('ids') + 1]
      // A gap (the log was trimmed, or the registry seeded anew) or a change too large to list: read it all.
      if (v !== reached + 1 || listed === undefined || listed === '*') return { version: current, all: await this.#all() }
      if (listed !== '') for (const id of listed.split('\n')) ids.add(id)
      reached = v
    }
    if (reached === version) return { version: current, all: await this.#all() }
    const changed = new Map<string, StoredDevice | undefined>()
    const list = [...ids]
    for (let i = 0; i < list.length; i += READ_BATCH) {
      const batch = list.slice(i, i + READ_BATCH)
      const values = await this.#client.hmget(SHARED_DEVICES_KEY, ...batch)
      batch.forEach((id, j) => {
        const json = values[j] ?? null
        if (json === null) changed.set(id, undefined)
        else {
          const device = this.#parse(id, json)
          if (device !== undefined) changed.set(id, device)
        }
      })
    }
    return { version: reached, changed }
  }

  async #all(): Promise<StoredDevice[]> {
    const devices: StoredDevice[] = []
    let cursor = '0'
    do {
      const [next, flat] = await this.#client.hscan(SHARED_DEVICES_KEY, cursor, 'COUNT', READ_BATCH)
      for (let i = 0; i < flat.length; i += 2) {
        const device = this.#parse(flat[i], flat[i + 1])
        if (device !== undefined) devices.push(device)
      }
      cursor = next
    } while (cursor !== '0')
    return devices
  }

  #parse(id: string, json: string): StoredDevice | undefined {
    try {
      return JSON.parse(json) as StoredDevice
    } catch {
      this.#logger.warn({ device: id }, 'cluster: a shared device cannot be read; skipped')
      return undefined
    }
  }
}

/** Each device as its hash field and value: id, JSON. */
function devicePairs(devices: readonly StoredDevice[]): string[] {
  const pairs: string[] = []
  for (const d of devices) pairs.push(d.id, JSON.stringify(d))
  return pairs
}
