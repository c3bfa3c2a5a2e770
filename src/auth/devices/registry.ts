/**
 * The device registry: every registered device by id in one Map (one lookup per CONNECT,
 * whatever the number of devices), with its keys imported at write time. Writes go to the
 * store first (the configuration store's `devices` table): nothing is in force that a
 * restart would lose. Listeners hear of every change (the admin disconnects the clients of a
 * device that was disabled, deleted, or lost the key they connected with).
 *
 * At start-up the stored devices are in the Map at once, their keys not yet imported: an
 * OpenSSL 3 EC key import costs 40–400 µs, so 100,000 devices would hold the start for
 * seconds to a minute. `warm()` imports them in the background, a batch per event-loop turn;
 * a device asked for before its turn (a CONNECT, the API) is imported then, once.
 */
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
  readonly before: RegisteredDevice | undefined
  readonly after: RegisteredDevice | undefined
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

/** Stored devices imported per event-loop turn while warming (a turn of ~10–100 ms at worst). */
const WARM_BATCH = 250

export class DeviceRegistry {
  /** A stored device is replaced by its RegisteredDevice once its keys are imported. */
  readonly #devices = new Map<string, RegisteredDevice | StoredDevice>()
  readonly #store: DeviceStore | undefined
  readonly #listeners = new Set<(changes: readonly DeviceChange[]) => void>()
  /** Devices whose stored keys could not be imported (they cannot connect; reported once). */
  readonly unreadable: { id: string; reason: string }[] = []
  #generation = 0
  #closed = false
  /** Stored devices whose keys are not imported yet. */
  #pending = 0

  constructor(store?: DeviceStore) {
    this.#store = store
    for (const device of store?.loadDevices() ?? []) this.#devices.set(device.id, device)
    this.#pending = this.#devices.size
  }

  /** Devices loaded at start-up whose keys are not imported yet (0 once warm). */
  get pendingImport(): number {
    return this.#pending
  }

  /**
   * Imports every stored device's keys in the background, WARM_BATCH per turn; resolves when
   * done (or closed). `unreadable` then lists the devices whose keys could not be imported.
   */
  async warm(): Promise<void> {
    const pending = [...this.#devices.keys()]
    for (let i = 0; i < pending.length && !this.#closed; i += WARM_BATCH) {
      for (const id of pending.slice(i, i + WARM_BATCH)) this.#ready(id)
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  /** Stops warming. */
  close(): void {
    this.#closed = true
  }

  /** The device with its keys imported (importing them now if still stored only). */
  #ready(id: string): RegisteredDevice | undefined {
    const entry = this.#devices.get(id)
    if (entry === undefined || 'device' in entry) return entry
    this.#pending--
    try {
      const registered = registerDevice(entry, `devices['${entry.id}']`)
      this.#devices.set(id, registered)
      return registered
    } catch (err) {
      // A key this Node cannot import any more (e.g. a curve dropped): the device stays out of
      // service and is reported, the others load.
      this.#devices.delete(id)
      this.unreadable.push({ id, reason: (err as Error).message })
      return undefined
    }
  }

  get size(): number {
    return this.#devices.size
  }

  /** Bumped on every change. */
  get generation(): number {
    return this.#generation
  }

  get(id: string): RegisteredDevice | undefined {
    return this.#ready(id)
  }

  has(id: string): boolean {
    return this.#devices.has(id)
  }

  /** A page of devices, sorted by id. */
  list(query: DeviceListQuery): RegisteredDevice[] {
    const ids = [...this.#devices.keys()]
      .filter((id) => (query.prefix === undefined || id.startsWith(query.prefix)) && (query.after === undefined || id > query.after))
      .sort()
    const page: RegisteredDevice[] = []
    for (const id of ids) {
      const entry = this.#devices.get(id)!
      if (query.enabled !== undefined && ('device' in entry ? entry.device : entry).enabled !== query.enabled) continue
      const d = this.#ready(id)
      if (d === undefined) continue
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
    const entry = this.#devices.get(id)
    const d = entry === undefined || 'device' in entry ? entry : this.#ready(id)
    if (d === undefined) return new PortcullisError('ERR_DEVICE_UNKNOWN', `no registered device '${printableId(id)}'`)
    if (!d.device.enabled) return new PortcullisError('ERR_DEVICE_DISABLED', `device '${printableId(id)}' is disabled`)
    if (now < d.firstExpiry) {
      if (d.verifyKeys.length === 0) return new PortcullisError('ERR_DEVICE_KEY_EXPIRED', `device '${printableId(id)}' has no key`)
      return d.verifyKeys
    }
    const live = d.keys.filter((k) => k.stored.expiresAt === undefined || k.stored.expiresAt > now).map((k) => k.verify)
    if (live.length === 0) return new PortcullisError('ERR_DEVICE_KEY_EXPIRED', `every key of device '${printableId(id)}' has expired`)
    return live
  }

  /** Inserts or replaces devices (already validated and imported), all or none. */
  put(devices: readonly RegisteredDevice[]): void {
    if (devices.length === 0) return
    this.#store?.putDevices(devices.map((d) => d.device))
    const changes = devices.map((after) => {
      const before = this.#ready(after.device.id)
      this.#devices.set(after.device.id, after)
      return { before, after }
    })
    this.#changed(changes)
  }

  /** Deletes devices; answers those that existed. */
  remove(ids: readonly string[]): RegisteredDevice[] {
    const gone = ids.flatMap((id) => {
      const d = this.#ready(id)
      return d === undefined ? [] : [d]
    })
    if (gone.length === 0) return gone
    this.#store?.removeDevices(gone.map((d) => d.device.id))
    for (const d of gone) this.#devices.delete(d.device.id)
    this.#changed(gone.map((before) => ({ before, after: undefined })))
    return gone
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
