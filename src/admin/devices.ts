/**
 * The devices part of the admin API: the device registry's devices and their keys (create,
 * replace, delete, enable/disable, add/remove a key) and bulk import from JSON or CSV.
 * Every change is stored before it is in force. Clients connected as a device that is
 * disabled or deleted, or whose key was removed or replaced, are disconnected at once
 * (MQTT 5: DISCONNECT 0x98 Administrative action; 3.1.1: the connection is closed).
 *
 * Cluster: the registry is the one in Redis (cluster/shared-devices.ts; the configuration store
 * keeps a copy). A change to a device is worked out from the device as Redis holds it (not this
 * node's copy, which may be up to a second behind) and written there only if no other node
 * changed it meanwhile — else it is read and worked out again (a few times, then 409): two nodes
 * changing one device at once both have their change made. An import looks at its devices in
 * Redis too (which are registered, what it replaces, their creation dates). Redis unreachable: 503, nothing
 * changed. Then it applies here; every other node applies it within about a second and
 * disconnects its own affected clients the same way.
 */
import { deviceView, MAX_DEVICE_KEYS, parseDevice, registerDevice, type DeviceView, type RegisteredDevice, type StoredDevice } from '../auth/devices/device.js'
import { parseCsvImport, parseJsonImport, type ImportItem, type ImportRowError, type ParsedImport } from '../auth/devices/import.js'
import type { DeviceChange, DeviceRegistry } from '../auth/devices/registry.js'
import type { Broker } from '../broker/broker.js'
import type { DeviceWrite, SharedDevices, SharedDevicesCopy } from '../cluster/shared-devices.js'
import { SharedConfigError } from '../cluster/shared-versioned.js'
import { absent, isMapping } from '../config/check.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import { checkIfMatch, entityTag } from './entity-tag.js'
import { ApiError } from './errors.js'
import { clock } from '../clock.js'

export interface DevicesAdminOptions {
  readonly broker: Broker
  readonly registry: DeviceRegistry
  readonly logger: Logger
}

export interface DevicePage {
  readonly devices: readonly DeviceView[]
  /** Devices registered in all. */
  readonly total: number
  /** Pass as `after` for the next page; null on the last one. */
  readonly next: string | null
}

export interface DeviceImportResult {
  readonly created: number
  readonly replaced: number
  /** Rows not imported (only with `partial=true`; otherwise any error imports nothing and answers 400). */
  readonly errors: readonly ImportRowError[]
  readonly disconnected: number
}

/**
 * How many times a change to one device is worked out again because another node changed the
 * device between the read and the write, before the API answers 409 (each try is a read and a
 * write in Redis: only a device changed without pause through other nodes runs out).
 */
const CHANGE_TRIES = 5

/** What a change makes of the device it was worked out from: its next form, none (delete it), or nothing to do. */
type DeviceStep = { readonly next: RegisteredDevice | undefined } | 'unchanged'

/** A change made: the device before and after (undefined: deleted), and the clients it disconnected here. */
interface DeviceChanged {
  readonly before: RegisteredDevice
  readonly after: RegisteredDevice | undefined
  readonly disconnected: number
}

/** Import rows validated (keys imported) per event-loop turn. */
const IMPORT_BATCH = 250
const DEFAULT_PAGE = 100
const MAX_PAGE = 1000

function flag(value: unknown, name: string): boolean | undefined {
  if (absent(value)) return undefined
  if (value === 'true' || value === '1') return true
  if (value === 'false' || value === '0') return false
  throw new ApiError('ERR_VALIDATION', `${name}: must be true or false (got ${JSON.stringify(value)})`, name)
}

function validation(err: unknown): never {
  if (err instanceof ConfigError) throw ApiError.fromConfig(err)
  throw err
}

export class DevicesAdmin {
  readonly #broker: Broker
  readonly #registry: DeviceRegistry
  readonly #log: Logger
  /** Clients disconnected by the last change (read by the handler that made it). */
  #disconnected = 0
  /** Cluster: the registry every node shares. */
  #shared: SharedDevices | undefined

  constructor(options: DevicesAdminOptions) {
    this.#broker = options.broker
    this.#registry = options.registry
    this.#log = options.logger
    this.#registry.onChange((changes) => {
      this.#disconnected = this.#disconnectAffected(changes)
    })
  }

  /**
   * Cluster: hold the registry the cluster shares (this node's devices become it when no node
   * shared one yet; otherwise the cluster's replace them, `replaced` answering how many devices
   * here changed), then apply every change another node makes. Before the MQTT listeners open.
   */
  async followShared(shared: SharedDevices): Promise<{ readonly devices: number; readonly seeded: boolean; readonly replaced: number }> {
    let seeded = false
    let replaced = 0
    let copy = await shared.load()
    if (copy === undefined) {
      seeded = await shared.seed(this.#registry.all())
      copy = await shared.load()
    }
    if (copy !== undefined) {
      replaced = this.#registry.syncAll(copy.devices)
      shared.ran(copy.version)
    }
    this.#shared = shared
    await shared.follow((c) => this.#applyShared(c))
    return { devices: this.#registry.size, seeded, replaced }
  }

  /** Changes made on other nodes: applied here, this node's affected clients disconnected. */
  #applyShared(copy: SharedDevicesCopy): void {
    let changed = 0
    const disconnected = this.#apply(() => {
      changed = copy.all !== undefined ? this.#registry.syncAll(copy.all) : this.#registry.sync(copy.changed ?? new Map())
    })
    if (changed > 0) this.#log.info({ devices: changed, disconnected, version: copy.version }, 'cluster: device changes made on another node applied here')
  }

  /** Cluster: the change is written to Redis before it applies here (ERR_UNAVAILABLE 503, ERR_CONFLICT 409). */
  async #share(change: DeviceWrite): Promise<boolean> {
    if (this.#shared === undefined) return true
    try {
      return (await this.#shared.write(change)).written
    } catch (err) {
      if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
      throw err
    }
  }

  /**
   * A change to device `id`: `make` works out its next form from the device as it is (cluster:
   * as Redis holds it), the change is written (cluster: only if the device is still that; else
   * read again and worked out anew, CHANGE_TRIES times) and applied here. Answers the device
   * before and after (undefined: deleted) and how many clients the change disconnected here.
   * 404 when the device is not registered (or was deleted meanwhile).
   */
  async #change(id: string, make: (current: RegisteredDevice) => DeviceStep): Promise<DeviceChanged> {
    for (let tries = 1; ; tries++) {
      const { current, json } = await this.#current(id)
      const step = make(current)
      if (step === 'unchanged') return { before: current, after: current, disconnected: 0 }
      const next = step.next
      const change = next === undefined ? { puts: [], removes: [id] } : { puts: [next.device] }
      const written = await this.#share({ ...change, readAs: new Map([[id, json]]) })
      if (written) {
        const disconnected = this.#apply(() => next === undefined ? this.#registry.remove([id]) : this.#registry.put([next.device]))
        return { before: current, after: next, disconnected }
      }
      if (tries >= CHANGE_TRIES) {
        throw new ApiError('ERR_CONFLICT', `device '${id}' was changed through other nodes ${CHANGE_TRIES} times while this change was being made; nothing was written (retry)`)
      }
    }
  }

  /** The device as it is now: cluster, as Redis holds it (with its JSON there); else this node's registry. */
  async #current(id: string): Promise<{ current: RegisteredDevice; json?: string }> {
    if (this.#shared === undefined) return { current: this.#get(id) }
    let json: string | undefined
    try {
      json = await this.#shared.read(id)
    } catch (err) {
      if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
      throw err
    }
    if (json === undefined) throw new ApiError('ERR_NOT_FOUND', `no device '${id}'`)
    const held = this.#registry.stored(id)
    // The copy here when it is the same (its keys are imported already); else Redis's, imported now.
    if (held !== undefined && JSON.stringify(held) === json) return { current: this.#get(id), json }
    return { current: registerDevice(JSON.parse(json) as StoredDevice, `devices['${id}']`), json }
  }

  #get(id: string): RegisteredDevice {
    const d = this.#registry.get(id)
    if (d === undefined) throw new ApiError('ERR_NOT_FOUND', `no device '${id}'`)
    return d
  }

  listDevices(query: Readonly<Record<string, unknown>>): DevicePage {
    const limitRaw = query['limit']
    const limit = absent(limitRaw) ? DEFAULT_PAGE : Number(limitRaw)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new ApiError('ERR_VALIDATION', `limit: must be an integer between 1 and ${MAX_PAGE}`, 'limit')
    const text = (name: string): string | undefined => {
      const v = query[name]
      if (absent(v)) return undefined
      if (typeof v !== 'string') throw new ApiError('ERR_VALIDATION', `${name}: must be given once`, name)
      return v
    }
    const enabled = flag(query['enabled'], 'enabled')
    const prefix = text('prefix')
    const after = text('after')
    const page = this.#registry.list({
      limit: limit + 1,
      ...(prefix !== undefined ? { prefix } : {}),
      ...(after !== undefined ? { after } : {}),
      ...(enabled !== undefined ? { enabled } : {}),
    })
    const more = page.length > limit
    const shown = more ? page.slice(0, limit) : page
    const now = clock.now()
    return {
      devices: shown.map((d) => deviceView(this.#get(d.id), now)), total: this.#registry.size,
      next: more ? shown[shown.length - 1].id : null,
    }
  }

  getDevice(id: string): DeviceView {
    return deviceView(this.#get(id))
  }

  /** The device's entity tag as this node holds it (undefined: not registered). */
  deviceTag(id: string): string | undefined {
    const d = this.#registry.stored(id)
    return d === undefined ? undefined : storedDeviceTag(d)
  }

  async createDevice(body: unknown): Promise<DeviceView> {
    let device: RegisteredDevice
    try {
      device = parseDevice(body, 'device')
    } catch (err) {
      validation(err)
    }
    if (this.#registry.has(device.device.id)) throw new ApiError('ERR_CONFLICT', `device.id: '${device.device.id}' is already registered`, 'device.id')
    await this.#share({ puts: [device.device], mustBeNew: true })
    this.#registry.put([device.device])
    this.#log.info({ device: device.device.id, keys: device.keys.length }, 'admin: device registered')
    return deviceView(device)
  }

  /** Replaces a device whole (its keys too). Clients that connected with a key it no longer holds are disconnected. */
  async replaceDevice(id: string, body: unknown, ifMatch?: string): Promise<DeviceView & { disconnected: number }> {
    const { after, disconnected } = await this.#change(id, (current) => {
      checkIfMatch(ifMatch, storedDeviceTag(current.device), `device '${id}'`)
      if (isMapping(body) && body['id'] !== undefined && body['id'] !== id) {
        throw new ApiError('ERR_VALIDATION', `device.id: must be '${id}' as in the address (devices cannot be renamed)`, 'device.id')
      }
      try {
        return { next: parseDevice(isMapping(body) ? { ...body, id } : body, 'device', current.device) }
      } catch (err) {
        validation(err)
      }
    })
    const device = after!
    this.#log.info({ device: id, keys: device.keys.length, disconnected }, 'admin: device replaced')
    return { ...deviceView(device), disconnected }
  }

  async deleteDevice(id: string, ifMatch?: string): Promise<void> {
    const { disconnected } = await this.#change(id, (current) => {
      checkIfMatch(ifMatch, storedDeviceTag(current.device), `device '${id}'`)
      return { next: undefined }
    })
    this.#log.info({ device: id, disconnected }, 'admin: device deleted')
  }

  async setDeviceEnabled(id: string, enabled: boolean, ifMatch?: string): Promise<DeviceView & { disconnected: number }> {
    const { before, after, disconnected } = await this.#change(id, (current) => {
      checkIfMatch(ifMatch, storedDeviceTag(current.device), `device '${id}'`)
      return current.device.enabled === enabled ? 'unchanged' : { next: this.#reparse(current, { enabled }) }
    })
    if (after !== before) this.#log.info({ device: id, disconnected }, `admin: device ${enabled ? 'enabled' : 'disabled'}`)
    return { ...deviceView(after!), disconnected }
  }

  /** Adds a key (rotation: add the new key, move the device over, then remove the old one). */
  async addDeviceKey(id: string, body: unknown, ifMatch?: string): Promise<DeviceView> {
    const { after } = await this.#change(id, (current) => {
      checkIfMatch(ifMatch, storedDeviceTag(current.device), `device '${id}'`)
      if (current.device.keys.length >= MAX_DEVICE_KEYS) {
        throw new ApiError('ERR_CONFLICT', `device '${id}' already holds ${MAX_DEVICE_KEYS} keys; remove one first`, 'key')
      }
      const keys = [...current.device.keys.map(storedKeyInput), body]
      try {
        return { next: parseDevice({ ...deviceInput(current), keys }, 'device', current.device) }
      } catch (err) {
        if (err instanceof ConfigError) {
          const at = `device.keys[${keys.length - 1}]`
          throw new ApiError('ERR_VALIDATION', err.message.replace(at, 'key'), err.path.replace(at, 'key'))
        }
        throw err
      }
    })
    const next = after!
    this.#log.info({ device: id, key: next.keys[next.keys.length - 1].stored.id }, 'admin: device key added')
    return deviceView(next)
  }

  /** Removes a key; clients connected with it are disconnected. */
  async removeDeviceKey(id: string, keyId: string, ifMatch?: string): Promise<DeviceView & { disconnected: number }> {
    const { after, disconnected } = await this.#change(id, (current) => {
      checkIfMatch(ifMatch, storedDeviceTag(current.device), `device '${id}'`)
      if (!current.device.keys.some((k) => k.id === keyId)) throw new ApiError('ERR_NOT_FOUND', `device '${id}' has no key '${keyId}'`)
      return { next: this.#reparse(current, { keys: current.device.keys.filter((k) => k.id !== keyId).map(storedKeyInput) }) }
    })
    this.#log.info({ device: id, key: keyId, disconnected }, 'admin: device key removed')
    return { ...deviceView(after!), disconnected }
  }

  /**
   * Bulk import. Every row is validated first; by default any error imports nothing and
   * answers 400 with every row's error. `partial=true` imports the good rows and lists the
   * others. Devices already registered are an error unless `replace=true`.
   */
  async importDevices(body: unknown, query: Readonly<Record<string, unknown>>): Promise<DeviceImportResult> {
    const replace = flag(query['replace'], 'replace') ?? false
    const partial = flag(query['partial'], 'partial') ?? false
    let parsed: ParsedImport
    try {
      parsed = typeof body === 'string' ? parseCsvImport(body) : parseJsonImport(body)
    } catch (err) {
      validation(err)
    }
    const errors: ImportRowError[] = [...parsed.errors]
    // Only the stored form is kept of a good row: its keys were imported to check them, and are
    // imported again when the device first connects (100,000 imported keys would be ~350 MB).
    const good: { device: StoredDevice; item: ImportItem }[] = []
    const seen = new Set<string>()
    const now = clock.now()
    for (const [i, item] of parsed.items.entries()) {
      // Key imports cost OpenSSL 40-400 us each: a batch per event-loop turn keeps clients served.
      if (i > 0 && i % IMPORT_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve))
      const id = typeof item.raw['id'] === 'string' ? item.raw['id'] : undefined
      if (id !== undefined && seen.has(id)) {
        errors.push(rowError(item, `${item.path}.id`, `'${id}' appears twice in this import`, id))
        continue
      }
      if (id !== undefined) seen.add(id)
      try {
        good.push({ device: parseDevice(item.raw, item.path, undefined, now).device, item })
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        errors.push(rowError(item, err.path, err.message.slice(err.path.length + 2), id))
      }
    }
    // Existing devices are looked at now, after the last turn (another change may have come
    // meanwhile). Cluster: as Redis holds them, not this node's copy (up to a second behind a change
    // made through another node), and with replace=true written only if they are still so (else
    // read again, CHANGE_TRIES times, then 409): what is counted as replaced and the creation
    // dates kept are those of the devices the import replaced.
    for (let tries = 1; ; tries++) {
      const registered = await this.#registered(good.map((g) => g.device.id))
      let replaced = 0
      const toWrite: StoredDevice[] = []
      const rowErrors = [...errors]
      for (const { device, item } of good) {
        const existing = registered.get(device.id)?.device
        if (existing !== undefined && !replace) {
          rowErrors.push(rowError(item, `${item.path}.id`, `'${device.id}' is already registered (import with replace=true to replace it)`, device.id))
          continue
        }
        if (existing !== undefined) replaced++
        toWrite.push(existing === undefined ? device : Object.freeze({ ...device, createdAt: existing.createdAt }))
      }
      rowErrors.sort((a, b) => a.row - b.row)
      if (rowErrors.length > 0 && !partial) {
        throw new ApiError('ERR_VALIDATION', `${rowErrors.length} row(s) cannot be imported; nothing was imported (fix them, or import with partial=true to import the others)`, 'body', { errors: rowErrors })
      }
      // (replace=false: the script refuses the whole import if one of them was registered meanwhile.)
      const readAs = replace && this.#shared !== undefined ? new Map(toWrite.map((d) => [d.id, registered.get(d.id)?.json])) : undefined
      if (await this.#share({ puts: toWrite, mustBeNew: !replace, ...(readAs !== undefined ? { readAs } : {}) })) {
        const disconnected = this.#apply(() => this.#registry.put(toWrite))
        this.#log.info({ created: toWrite.length - replaced, replaced, rejected: rowErrors.length, disconnected }, 'admin: devices imported')
        return { created: toWrite.length - replaced, replaced, errors: rowErrors, disconnected }
      }
      if (tries >= CHANGE_TRIES) {
        throw new ApiError('ERR_CONFLICT', `devices of this import were changed through other nodes ${CHANGE_TRIES} times while it was being made; nothing was imported (retry)`)
      }
    }
  }

  /**
   * The devices registered now among `ids` (an import's): cluster, as Redis holds them (with
   * their JSON there, for DeviceWrite.readAs); else this node's registry.
   */
  async #registered(ids: readonly string[]): Promise<Map<string, { readonly device: StoredDevice; readonly json?: string }>> {
    const out = new Map<string, { readonly device: StoredDevice; readonly json?: string }>()
    if (this.#shared === undefined) {
      for (const id of ids) {
        const device = this.#registry.stored(id)
        if (device !== undefined) out.set(id, { device })
      }
      return out
    }
    let read: Map<string, string | undefined>
    try {
      read = await this.#shared.readMany(ids)
    } catch (err) {
      if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
      throw err
    }
    for (const [id, json] of read) if (json !== undefined) out.set(id, { device: JSON.parse(json) as StoredDevice, json })
    return out
  }

  #reparse(current: RegisteredDevice, change: Record<string, unknown>): RegisteredDevice {
    return parseDevice({ ...deviceInput(current), ...change }, 'device', current.device)
  }

  /** Runs a registry change and answers how many clients it disconnected. */
  #apply(change: () => unknown): number {
    this.#disconnected = 0
    change()
    const n = this.#disconnected
    this.#disconnected = 0
    return n
  }

  /**
   * One pass over the connected clients: those that connected as a device that is now gone or
   * disabled, or with a key the device no longer holds, are disconnected. Those whose key the
   * device still holds take its expiry as it is now (the broker disconnects them then).
   */
  #disconnectAffected(changes: readonly DeviceChange[]): number {
    /** Per device: its keys' expiries now (key id → epoch ms, undefined: none), and why a client without one goes. */
    const affected = new Map<string, { keys: ReadonlyMap<string, number | undefined>; why: string }>()
    for (const { before, after } of changes) {
      if (before === undefined) continue
      const id = before.id
      if (after === undefined) affected.set(id, { keys: new Map(), why: `device '${id}' was deleted` })
      else if (!after.enabled) affected.set(id, { keys: new Map(), why: `device '${id}' was disabled` })
      else {
        // A key kept under its id but with other material is a new key: its clients go too.
        const kept = after.keys.filter((k) => before.keys.some((b) => b.id === k.id && b.material === k.material))
        affected.set(id, { keys: new Map(kept.map((k) => [k.id, k.expiresAt])), why: `the key of device '${id}' it connected with was removed or replaced` })
      }
    }
    if (affected.size === 0) return 0
    let count = 0
    for (const session of this.#broker.sessions.values()) {
      const conn = session.connection
      const identity = conn?.identity
      const device = identity?.device
      if (conn === undefined || identity === undefined || device === undefined) continue
      const hit = affected.get(device.id)
      if (hit === undefined) continue
      if (hit.keys.has(device.key)) {
        const keyExpiresAt = hit.keys.get(device.key)
        if (keyExpiresAt !== device.keyExpiresAt) {
          conn.identity = { ...identity, device: { id: device.id, key: device.key, ...(keyExpiresAt !== undefined ? { keyExpiresAt } : {}) } }
        }
        continue
      }
      this.#log.info({ clientId: conn.clientId, device: device.id }, `client disconnected: ${hit.why}`)
      conn.disconnect(ReasonCode.AdministrativeAction, hit.why)
      count++
    }
    return count
  }
}

/** A device's entity tag: its stored form without key secrets (a change of one changes `updatedAt`). */
function storedDeviceTag(d: StoredDevice): string {
  return entityTag({ ...d, keys: d.keys.map((k) => (k.format === 'secret' ? { ...k, material: undefined } : k)) })
}

function deviceInput(d: RegisteredDevice): Record<string, unknown> {
  return {
    id: d.device.id,
    enabled: d.device.enabled,
    ...(d.device.description !== undefined ? { description: d.device.description } : {}),
    keys: d.device.keys.map(storedKeyInput),
  }
}

function storedKeyInput(k: { id: string; format: string; material: string; expiresAt?: number }): Record<string, unknown> {
  return {
    id: k.id,
    [k.format]: k.format === 'jwk' ? JSON.parse(k.material) as unknown : k.material,
    ...(k.expiresAt !== undefined ? { expiresAt: new Date(k.expiresAt).toISOString() } : {}),
  }
}

/** An import error at `path`, placed on the row it came from (CSV: a key's own row). */
function rowError(item: ImportItem, path: string, message: string, id?: string): ImportRowError {
  const key = /\.keys\[(\d+)\](.*)$/.exec(path)
  const keyRow = key !== null ? item.keyRows?.[Number(key[1])] : undefined
  if (keyRow !== undefined) {
    const field = key![2].replace(/^\./, '') || 'key'
    return { row: keyRow.row, line: keyRow.line, ...(id !== undefined ? { id } : {}), path: `row ${keyRow.row}: ${field}`, message }
  }
  return {
    row: item.row,
    ...(item.line !== undefined ? { line: item.line } : {}),
    ...(id !== undefined ? { id } : {}),
    path: item.keyRows !== undefined ? path.replace(/^row (\d+)\./, 'row $1: ') : path,
    message,
  }
}
