/**
 * The authorization part of the admin API: policies and the noMatch / aclClaim /
 * superuserClaim settings, validated as the configuration file is, persisted, and applied
 * to new checks at once (the broker gets a new authorizer chain).
 */
import { parseAuthorizationConfig, type AuthorizationConfig } from '../authz/config.js'
import { authorizersFor } from '../authz/create.js'
import type { Broker } from '../broker/broker.js'
import { expected, isMapping, type Raw } from '../config/check.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import type { AdminChanges } from './changes.js'
import { authorizationSettings, authorizationToRaw, policyToRaw, type AuthorizationSettings } from './config-views.js'
import { checkIfMatch, entityTag } from './entity-tag.js'
import { ApiError } from './errors.js'
import { mergePatch } from './merge-patch.js'

export const AUTHORIZATION_PATH = 'authorization'

export interface AuthorizationAdminOptions {
  readonly broker: Broker
  readonly authorization: AuthorizationConfig
  readonly logger: Logger
  readonly changes: AdminChanges
  /** Whether some authenticator can admit clients with token claims (for the start-up style warning). */
  readonly tokens: () => boolean
}

export class AuthorizationAdmin {
  readonly #options: AuthorizationAdminOptions
  #authorization: AuthorizationConfig

  constructor(options: AuthorizationAdminOptions) {
    this.#options = options
    this.#authorization = options.authorization
  }

  get config(): AuthorizationConfig {
    return this.#authorization
  }

  #policyIndex(name: string): number {
    const i = this.#authorization.policies.findIndex((p) => p.name === name)
    if (i === -1) throw new ApiError('ERR_NOT_FOUND', `no policy named '${name}'`)
    return i
  }

  /** Policies in evaluation order (by priority). */
  listPolicies(): Raw[] {
    return [...this.#authorization.policies].sort((a, b) => a.priority - b.priority).map(policyToRaw)
  }

  getPolicy(name: string): Raw {
    return policyToRaw(this.#authorization.policies[this.#policyIndex(name)])
  }

  /** The policy's entity tag (undefined: no such policy). */
  policyTag(name: string): string | undefined {
    const p = this.#authorization.policies.find((q) => q.name === name)
    return p === undefined ? undefined : entityTag(policyToRaw(p))
  }

  /** 412 unless If-Match (when given) names the policy at `index` as it is in the copy this change is made on. */
  #checkIfMatch(index: number, ifMatch: string | undefined): void {
    const p = this.#authorization.policies[index]
    checkIfMatch(ifMatch, entityTag(policyToRaw(p)), `policy '${p.name}'`)
  }

  getAuthorizationSettings(): AuthorizationSettings {
    return authorizationSettings(this.#authorization)
  }

  /** 409 when `raw` names a priority (or, for a new policy, a name) another policy holds. */
  #checkClash(raw: unknown, index: number, except: string | undefined): void {
    if (!isMapping(raw)) return
    const path = `${AUTHORIZATION_PATH}.policies[${index}]`
    const others = this.#authorization.policies.filter((p) => p.name !== except)
    const name = raw['name']
    if (except === undefined && typeof name === 'string' && others.some((p) => p.name === name)) {
      throw new ApiError('ERR_CONFLICT', `${path}.name: "${name}" is already used by another policy`, `${path}.name`)
    }
    const priority = raw['priority']
    const holder = others.find((p) => p.priority === priority)
    if (typeof priority === 'number' && holder !== undefined) {
      throw new ApiError('ERR_CONFLICT', `${path}.priority: ${priority} is already used by policy "${holder.name}"`, `${path}.priority`)
    }
  }

  #parseAuthorization(settings: Raw, policies: readonly unknown[]): AuthorizationConfig {
    return parseAuthorizationConfig({ ...settings, policies }, AUTHORIZATION_PATH)
  }

  #settingsRaw(): Raw {
    const { policies: _p, ...settings } = authorizationToRaw(this.#authorization)
    void _p
    return settings
  }

  async createPolicy(raw: unknown): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#authorization.policies.length
      this.#checkClash(raw, index, undefined)
      const next = this.#parseAuthorization(this.#settingsRaw(), [...this.#authorization.policies.map(policyToRaw), raw])
      await this.#applyAuthorization(next)
      const created = next.policies[index]
      this.#options.logger.info({ policy: created.name }, 'admin: policy created')
      return policyToRaw(created)
    })
  }

  async replacePolicy(name: string, raw: unknown, ifMatch?: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#policyIndex(name)
      this.#checkIfMatch(index, ifMatch)
      return this.#replaceAt(index, raw, 'replaced')
    })
  }

  /**
   * JSON merge patch (RFC 7396) of the stored policy: only the keys sent change, `null`
   * removes a key (an optional condition such as `ip` or `clientId`).
   */
  async patchPolicy(name: string, patch: unknown, ifMatch?: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#policyIndex(name)
      this.#checkIfMatch(index, ifMatch)
      if (!isMapping(patch)) throw expected(`${AUTHORIZATION_PATH}.policies[${index}]`, 'a mapping (a JSON merge patch)', patch)
      return this.#replaceAt(index, mergePatch(policyToRaw(this.#authorization.policies[index]), patch), 'patched')
    })
  }

  /** Validate `raw` as the policy at `index` (same name), apply it, and answer it. */
  async #replaceAt(index: number, raw: unknown, verb: string): Promise<Raw> {
    const name = this.#authorization.policies[index].name
    const path = `${AUTHORIZATION_PATH}.policies[${index}]`
    let entry = raw
    if (isMapping(raw)) {
      if (raw['name'] !== undefined && raw['name'] !== name) {
        throw new ApiError('ERR_VALIDATION', `${path}.name: must be "${name}" as in the address (policies cannot be renamed; create a new one)`, `${path}.name`)
      }
      entry = { ...raw, name }
    }
    this.#checkClash(entry, index, name)
    const list: unknown[] = this.#authorization.policies.map(policyToRaw)
    list[index] = entry
    const next = this.#parseAuthorization(this.#settingsRaw(), list)
    await this.#applyAuthorization(next)
    this.#options.logger.info({ policy: name }, `admin: policy ${verb}`)
    return policyToRaw(next.policies[index])
  }

  async setPolicyPriority(name: string, body: unknown, ifMatch?: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#policyIndex(name)
      this.#checkIfMatch(index, ifMatch)
      if (!isMapping(body) || body['priority'] === undefined) {
        throw new ApiError('ERR_VALIDATION', 'priority: is required ({ "priority": <integer> })', 'priority')
      }
      const entry = { ...policyToRaw(this.#authorization.policies[index]), priority: body['priority'] }
      this.#checkClash(entry, index, name)
      const list: unknown[] = this.#authorization.policies.map(policyToRaw)
      list[index] = entry
      const next = this.#parseAuthorization(this.#settingsRaw(), list)
      await this.#applyAuthorization(next)
      this.#options.logger.info({ policy: name, priority: next.policies[index].priority }, 'admin: policy priority changed')
      return policyToRaw(next.policies[index])
    })
  }

  async deletePolicy(name: string, ifMatch?: string): Promise<void> {
    return this.#options.changes.serial(async () => {
      const index = this.#policyIndex(name)
      this.#checkIfMatch(index, ifMatch)
      const list = this.#authorization.policies.filter((_, i) => i !== index).map(policyToRaw)
      await this.#applyAuthorization(this.#parseAuthorization(this.#settingsRaw(), list))
      this.#options.logger.info({ policy: name }, 'admin: policy deleted')
    })
  }

  /** Full replacement of noMatch, aclClaim and superuserClaim (absent keys take their defaults). */
  async setAuthorizationSettings(body: unknown): Promise<AuthorizationSettings> {
    return this.#options.changes.serial(async () => {
      if (!isMapping(body)) throw new ConfigError(AUTHORIZATION_PATH, 'must be a mapping { noMatch, aclClaim, superuserClaim }')
      if (body['policies'] !== undefined) {
        throw new ApiError('ERR_VALIDATION', `${AUTHORIZATION_PATH}.policies: is managed through /api/v1/policies`, `${AUTHORIZATION_PATH}.policies`)
      }
      const settings = { ...body }
      if (settings['superuserClaim'] === null) delete settings['superuserClaim']
      const next = this.#parseAuthorization(settings, this.#authorization.policies.map(policyToRaw))
      await this.#applyAuthorization(next)
      this.#options.logger.info(authorizationSettings(next), 'admin: authorization settings changed')
      return authorizationSettings(next)
    })
  }

  /**
   * The authorization another node of the cluster stored (already validated there; validated
   * again here, as the file would be): applied without sharing it back.
   */
  async applyShared(raw: unknown): Promise<void> {
    const next = parseAuthorizationConfig(raw, AUTHORIZATION_PATH)
    await this.#applyAuthorization(next, { fromCluster: true })
  }

  async #applyAuthorization(next: AuthorizationConfig, options: { readonly fromCluster?: boolean } = {}): Promise<void> {
    await this.#options.changes.persist({ authorization: next }, options)
    this.#authorization = next
    this.#options.broker.setAuthorizers(authorizersFor(next, { logger: this.#options.logger, tokens: this.#options.tokens() }))
  }
}
