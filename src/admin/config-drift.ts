/**
 * How the configuration file's authenticators and authorization differ from the stored
 * copy that wins over them: by name and by key, never by value (values may be secrets).
 * Both sides are compared in their validated, raw form, so defaults written out on one
 * side and left out on the other are no difference.
 */
import type { AuthenticatorConfig } from '../auth/config.js'
import type { AuthorizationConfig } from '../authz/config.js'
import { isMapping } from '../config/check.js'
import { authenticatorToRaw, authorizationToRaw } from './config-views.js'

type Raw = Readonly<Record<string, unknown>>

/** Entries (authenticators or policies) that differ, by name. */
export interface EntryDrift {
  /** In the file, not stored: the file's entry is not used. */
  readonly onlyInFile: readonly string[]
  /** Stored, not in the file: used although the file does not have it. */
  readonly onlyStored: readonly string[]
  /** In both with different settings: the keys that differ (`claims.issuer`, `secret`…). */
  readonly changed: readonly { readonly name: string; readonly keys: readonly string[] }[]
  /** Authenticators only: the same names in another order. */
  readonly orderDiffers?: boolean
}

export interface ConfigDrift {
  readonly authenticators: EntryDrift
  readonly policies: EntryDrift
  /** Authorization settings (noMatch, aclClaim, superuserClaim) that differ. */
  readonly settings: readonly string[]
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Top-level keys that differ, with one level more for nested mappings (`claims.issuer`). */
function differingKeys(file: Raw, stored: Raw): string[] {
  const keys = [...new Set([...Object.keys(file), ...Object.keys(stored)])].sort()
  const out: string[] = []
  for (const key of keys) {
    const f = file[key]
    const s = stored[key]
    if (same(f, s)) continue
    if (isMapping(f) && isMapping(s)) out.push(...differingKeys(f, s).map((k) => `${key}.${k}`))
    else out.push(key)
  }
  return out
}

function entryDrift(file: readonly Raw[], stored: readonly Raw[], ordered: boolean): EntryDrift {
  const name = (e: Raw): string => String(e['name'])
  const fileNames = file.map(name)
  const storedNames = stored.map(name)
  const changed: { name: string; keys: string[] }[] = []
  for (const f of file) {
    const s = stored.find((e) => name(e) === name(f))
    if (s === undefined) continue
    const keys = differingKeys(f, s)
    if (keys.length > 0) changed.push({ name: name(f), keys })
  }
  const common = fileNames.filter((n) => storedNames.includes(n))
  const orderDiffers = ordered && !same(common, storedNames.filter((n) => fileNames.includes(n)))
  return {
    onlyInFile: fileNames.filter((n) => !storedNames.includes(n)),
    onlyStored: storedNames.filter((n) => !fileNames.includes(n)),
    changed,
    ...(ordered ? { orderDiffers } : {}),
  }
}

/** Differences between the file's configuration and the stored one (both validated). */
export function configDrift(
  file: { readonly authenticators: readonly AuthenticatorConfig[]; readonly authorization: AuthorizationConfig },
  stored: { readonly authenticators: readonly AuthenticatorConfig[]; readonly authorization: AuthorizationConfig },
): ConfigDrift {
  const fileAuthz = authorizationToRaw(file.authorization)
  const storedAuthz = authorizationToRaw(stored.authorization)
  const { policies: filePolicies, ...fileSettings } = fileAuthz
  const { policies: storedPolicies, ...storedSettings } = storedAuthz
  return {
    authenticators: entryDrift(file.authenticators.map(authenticatorToRaw), stored.authenticators.map(authenticatorToRaw), true),
    policies: entryDrift((filePolicies ?? []) as Raw[], (storedPolicies ?? []) as Raw[], false),
    settings: differingKeys(fileSettings, storedSettings),
  }
}

export function hasDrift(d: ConfigDrift): boolean {
  const entries = (e: EntryDrift): boolean => e.onlyInFile.length + e.onlyStored.length + e.changed.length > 0 || e.orderDiffers === true
  return entries(d.authenticators) || entries(d.policies) || d.settings.length > 0
}

/** One line for people: what differs, by name and key. */
export function describeDrift(d: ConfigDrift): string {
  const parts: string[] = []
  const entries = (what: string, e: EntryDrift): void => {
    if (e.onlyStored.length > 0) parts.push(`${what} stored but not in the file: ${e.onlyStored.join(', ')}`)
    if (e.onlyInFile.length > 0) parts.push(`${what} in the file but not stored (not used): ${e.onlyInFile.join(', ')}`)
    for (const c of e.changed) parts.push(`${what.replace(/s$/, '')} ${c.name} differs in ${c.keys.join(', ')}`)
    if (e.orderDiffers === true) parts.push(`${what} in another order`)
  }
  entries('authenticators', d.authenticators)
  entries('policies', d.policies)
  if (d.settings.length > 0) parts.push(`authorization settings differ in ${d.settings.join(', ')}`)
  return parts.join('; ')
}
