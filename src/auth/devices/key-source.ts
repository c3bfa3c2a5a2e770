/**
 * The devices authenticator's key source: the keys of the one device a token is for, picked
 * from the registry by the client id or a claim (`lookup`). Only that device's keys are
 * tried, so a token signed by another device's key never verifies.
 */
import { PortcullisError } from '../../errors.js'
import { resolveClaim } from '../claim-lookup.js'
import type { KeySource, KeySourceStatus } from '../jwks/source.js'
import { decodePayload, type DecodedJws } from '../jwt/jws.js'
import type { VerifyKey } from '../jwt/keys.js'
import type { DeviceLookup } from './config.js'
import type { DeviceRegistry } from './registry.js'
import { clock } from '../../clock.js'

export class DeviceKeySource implements KeySource {
  /** Device keys always have ids: a token that names a kid is checked against that key only. */
  readonly kidless = false
  readonly #registry: DeviceRegistry
  readonly #lookup: DeviceLookup
  readonly #createdAt = clock.now()

  constructor(registry: DeviceRegistry, lookup: DeviceLookup) {
    this.#registry = registry
    this.#lookup = lookup
  }

  get generation(): number {
    return this.#registry.generation
  }

  /** No key set outside a device: a token is always verified with its device's keys (keysFor). */
  current(): readonly VerifyKey[] {
    return []
  }

  /** The device a token is for, and its keys in force now. */
  keysFor(jws: DecodedJws, clientId: string): readonly VerifyKey[] | PortcullisError {
    const id = this.deviceIdOf(jws, clientId)
    return typeof id === 'string' ? this.#registry.keysFor(id) : id
  }

  deviceIdOf(jws: DecodedJws, clientId: string): string | PortcullisError {
    if (this.#lookup.kind === 'clientId') {
      if (clientId === '') return new PortcullisError('ERR_DEVICE_UNKNOWN', 'no client id to look the device up by (lookup: clientId)')
      return clientId
    }
    // Read unverified only to pick the device; its keys then verify the whole token.
    let value: unknown
    try {
      value = resolveClaim(decodePayload(jws), this.#lookup.claim)
    } catch (err) {
      return err as PortcullisError
    }
    if (typeof value !== 'string' || value === '') {
      return new PortcullisError('ERR_DEVICE_UNKNOWN', `the token has no string claim ${this.#lookup.claim} naming its device`)
    }
    return value
  }

  status(): KeySourceStatus {
    return {
      state: 'ok',
      lastSuccessAt: this.#createdAt,
      lastError: null,
      consecutiveFailures: 0,
      kids: [],
      keyCount: 0,
      nextRefreshAt: null,
      devices: this.#registry.size,
    }
  }
}
