/**
 * The device registry: every registered device by id in one Map (one lookup per CONNECT,
 * whatever the number of devices), kept in its stored form — ids, flags and the key material
 * as text, a few hundred bytes a device. Writes go to the store first (the configuration
 * store's `devices` table): nothing is in force that a restart would lose. Listeners hear of
 * every change (the admin disconnects the clients of a device that was disabled, deleted, or
 * lost the key they connected with).
 *
 * Verification needs the keys imported into node:crypto KeyObjects, and an imported P-256 key
 * costs about 3.5 KB of memory (mostly OpenSSL's) and 0.2–0.4 ms of CPU to make. So keys are
 * imported when a device first needs them (a CONNECT) and kept in a bounded cache of the
 * devices used most recently (`authentication.deviceKeyCache` devices): memory stays bounded
 * however many devices are registered, a device that connects again finds its keys imported,
 * and a device not seen for a while pays one import. Keys were checked when they were written.
 */
import { BoundedCache, type CacheUsage } from '../../bounded-cache.js'
import { clock } from '../../clock.js'
import { PortcullisError } from '../../errors.js'
import { printable as printableId } from '../jwt/jws.js'
import type { VerifyKey } from '../jwt/keys.js'
import { registerDevice, type RegisteredDevice, type StoredDevice } from './device.js'

/** Where devices are kept across restarts. */
export interface DeviceStore {
  loadDevices(): StoredDevice[]
  /** Writes (inserts or replaces) these devices, all or none. */
  putDevices(devices: readonly StoredDevice[]): void
  removeDevices(ids: readonly string[]): void
}

/** A change to one device: `after` undefined means deleted. */
export interface DeviceChange {
  readonly before: StoredDevice | undefined
  readonly after: StoredDevice | undefined
}

export type DeviceKeys = readonly VerifyKey[] | PortcullisError

export interface DeviceListQuery {
  /** Only ids starting with this text. */
  readonly prefix?: string
  readonly enabled?: boolean
  /** Ids after this one (paging: the last id of the previous page). */
  readonly after?: string
  readonly limit: number
}

/** Devices whose imported keys are kept by default (~35 MB of P-256 keys). */
export const DEFAULT_DEVICE_KEY_CACHE = 10_000
/** At most a million (~3.5 GB of P-256 keys): a larger fleet is served from the stored keys. */
export const MAX_DEVICE_KEY_CACHE = 1_000_000
/** The cache's byte budget per device (an imported P-256 key measured ~3.5 KB RSS; RSA keys are smaller). */
const IMPORTED_DEVICE_BYTES = 4096

export class DeviceRegistry {
  readonly #devices = new Map<string, StoredDevice>()
  /** Imported devices, the most recently used first to stay (each with the stored form it came from). */
  readonly #imported: BoundedCache<RegisteredDevice>
  readonly #cacheSize: number
  readonly #store: DeviceStore | undefined
  readonly #listeners = new Set<(changes: readonly DeviceChange[]) => void>()
  #generation = 0
  #hits = 0
  #misses = 0

  constructor(store?: DeviceStore, options: { keyCache?: number } = {}) {
    this.#store = store
    this.#cacheSize = options.keyCache ?? DEFAULT_DEVICE_KEY_CACHE
    // Bounded by devices and by bytes (a device with 3 keys counts as 3): about `keyCache` keys.
    this.#imported = new BoundedCache(Math.max(1, this.#cacheSize), (this.#cacheSize + 32) * IMPORTED_DEVICE_BYTES)
    for (const device of store?.loadDevices() ?? []) this.#devices.set(device.id, device)
  }

  get size(): number {
    return this.#devices.size
  }

  /** Bumped on every change. */
  get generation(): number {
    return this.#generation
  }

  /** The key cache: devices held imported, and CONNECT-time lookups that found (hits) or imported (misses) their keys. */
  get keyCache(): CacheUsage & { readonly limit: number; readonly hits: number; readonly misses: number } {
    return { ...this.#imported.usage, limit: this.#cacheSize, hits: this.#hits, misses: this.#misses }
  }

  /** A device as stored. */
  stored(id: string): StoredDevice | undefined {
    return this.#devices.get(id)
  }

  /** Every device as stored. */
  all(): StoredDevice[] {
    return [...this.#devices.values()]
  }

  has(id: string): boolean {
    return this.#devices.has(id)
  }

  /**
   * The device with its keys imported (for the API's views), from the cache or imported now
   * without being cached (browsing the devices does not push out the keys of connecting ones).
   * Undefined for an unknown device; throws ConfigError for a stored key that cannot be imported.
   */
  get(id: string): RegisteredDevice | undefined {
    const device = this.#devices.get(id)
    if (device === undefined) return undefined
    const cached = this.#imported.get(id)
    return cached !== undefined && cached.device === device ? cached : registerDevice(device, `devices['${device.id}']`)
  }

  /** A page of devices as stored, sorted by id. */
  list(query: DeviceListQuery): StoredDevice[] {
    const ids = [...this.#devices.keys()]
      .filter((id) => (query.prefix === undefined || id.startsWith(query.prefix)) && (query.after === undefined || id > query.after))
      .sort()
    const page: StoredDevice[] = []
    for (const id of ids) {
      const d = this.#devices.get(id)!
      if (query.enabled !== undefined && d.enabled !== query.enabled) continue
      page.push(d)
      if (page.length >= query.limit) break
    }
    return page
  }

  /**
   * The keys a token for device `id` may be verified with now (expired keys left out), or
   * why there are none: ERR_DEVICE_UNKNOWN, ERR_DEVICE_DISABLED, ERR_DEVICE_KEY_EXPIRED.
   */
  keysFor(id: string, now = clock.now()): DeviceKeys {
    const device = this.#devices.get(id)
    if (device === undefined) return new PortcullisError('ERR_DEVICE_UNKNOWN', `no registered device '${printableId(id)}'`)
    if (!device.enabled) return new PortcullisError('ERR_DEVICE_DISABLED', `device '${printableId(id)}' is disabled`)
    if (device.keys.length === 0) return new PortcullisError('ERR_DEVICE_KEY_EXPIRED', `device '${printableId(id)}' has no key`)
    if (!device.keys.some((k) => k.expiresAt === undefined || k.expiresAt > now)) {
      return new PortcullisError('ERR_DEVICE_KEY_EXPIRED', `every key of device '${printableId(id)}' has expired`)
    }
    const imported = this.#importedFor(device)
    if (imported instanceof PortcullisError) return imported
    if (now < imported.firstExpiry) return imported.verifyKeys
    return imported.keys.filter((k) => k.stored.expiresAt === undefined || k.stored.expiresAt > now).map((k) => k.verify)
  }

  /** The device's keys imported: from the cache, or imported now and cached. */
  #importedFor(device: StoredDevice): RegisteredDevice | PortcullisError {
    const cached = this.#imported.get(device.id)
    if (cached !== undefined && cached.device === device) {
      this.#hits++
      return cached
    }
    this.#misses++
    let imported: RegisteredDevice
    try {
      imported = registerDevice(device, `devices['${device.id}']`)
    } catch (err) {
      // A stored key this Node can no longer import (e.g. a curve dropped): the device cannot connect.
      return new PortcullisError('ERR_DEVICE_KEY_EXPIRED', `device '${printableId(device.id)}' has a stored key that cannot be read: ${(err as Error).message}`)
    }
    if (this.#cacheSize > 0) this.#imported.set(device.id, imported, IMPORTED_DEVICE_BYTES * Math.max(1, device.keys.length))
    return imported
  }

  /** Inserts or replaces devices (already validated: their keys imported once, by parseDevice), all or none. */
  put(devices: readonly StoredDevice[]): void {
    if (devices.length === 0) return
    this.#store?.putDevices(devices)
    const changes = devices.map((after) => {
      const before = this.#devices.get(after.id)
      this.#devices.set(after.id, after)
      this.#imported.delete(after.id)
      return { before, after }
    })
    this.#changed(changes)
  }

  /** Deletes devices; answers those that existed. */
  remove(ids: readonly string[]): StoredDevice[] {
    const gone = ids.flatMap((id) => {
      const d = this.#devices.get(id)
      return d === undefined ? [] : [d]
    })
    if (gone.length === 0) return gone
    this.#store?.removeDevices(gone.map((d) => d.id))
    for (const d of gone) {
      this.#devices.delete(d.id)
      this.#imported.delete(d.id)
    }
    this.#changed(gone.map((before) => ({ before, after: undefined })))
    return gone
  }

  /**
   * Cluster: takes the devices other nodes changed (undefined: deleted) — only those that differ
   * from what this node holds change here (its own changes come back unchanged). Answers how many changed.
   */
  sync(changed: ReadonlyMap<string, StoredDevice | undefined>): number {
    const puts: StoredDevice[] = []
    const removes: string[] = []
    for (const [id, device] of changed) {
      const held = this.#devices.get(id)
      if (device === undefined) {
        if (held !== undefined) removes.push(id)
      } else if (held === undefined || !sameDevice(held, device)) puts.push(device)
    }
    this.put(puts)
    this.remove(removes)
    return puts.length + removes.length
  }

  /** Cluster: the whole registry as the cluster holds it (devices not in it are deleted here). Answers how many changed. */
  syncAll(devices: readonly StoredDevice[]): number {
    const changed = new Map<string, StoredDevice | undefined>(devices.map((d) => [d.id, d]))
    for (const id of this.#devices.keys()) if (!changed.has(id)) changed.set(id, undefined)
    return this.sync(changed)
  }

  /** Calls `listener` after every change; returns a function that stops it. */
  onChange(listener: (changes: readonly DeviceChange[]) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #changed(changes: readonly DeviceChange[]): void {
    this.#generation++
    for (const listener of this.#listeners) listener(changes)
  }
}

/** The same stored device (as written by JSON: key order is the one parseDevice builds). */
function sameDevice(a: StoredDevice, b: StoredDevice): boolean {
  return a.updatedAt === b.updatedAt && JSON.stringify(a) === JSON.stringify(b)
}
