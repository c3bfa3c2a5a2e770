/**
 * What a management change changed, for the audit trail: authenticators and policies by
 * name, key by key, their order, and the authorization settings — with every secret
 * (HMAC `secret`, introspection `clientSecret`, HTTP `headers` values) shown as
 * `[redacted]`. Whether a secret changed is decided on the real values; only the words
 * "[redacted]" are ever kept.
 */
import type { ManagedState } from './changes.js'
import { authenticatorToRaw, policyToRaw } from './config-views.js'
import type { AuditChange } from '../store/audit-types.js'

type Raw = Record<string, unknown>

export const REDACTED = '[redacted]'

/** Keys whose values are secrets wherever they appear in an entry. */
const SECRET_KEYS = new Set(['secret', 'clientSecret'])

/** An entry with its secrets replaced (HTTP headers keep their names, not their values). */
export function redactEntry(entry: Raw): Raw {
  const out: Raw = {}
  for (const [k, v] of Object.entries(entry)) {
    if (SECRET_KEYS.has(k)) out[k] = REDACTED
    else if (k === 'headers' && typeof v === 'object' && v !== null) out[k] = Object.fromEntries(Object.keys(v).map((h) => [h, REDACTED]))
    else out[k] = v
  }
  return out
}

/** Members that hold secrets in request bodies: HMAC and client secrets, private and symmetric JWK members, tokens, keys. */
const SECRET_MEMBERS = new Set([...SECRET_KEYS, 'k', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'password', 'token', 'apiKey', 'key'])
const REQUEST_MAX_DEPTH = 8
/** A request body kept in an entry is at most this long (a bulk import is summarised instead). */
const REQUEST_MAX_CHARS = 4096

/** A request body as an audit entry keeps it: secret members redacted at any depth, bounded in depth and size. */
export function redactRequest(body: unknown): unknown {
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v !== 'object' || v === null) return v
    if (depth >= REQUEST_MAX_DEPTH) return '[…]'
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1))
    const out: Raw = {}
    for (const [k, x] of Object.entries(v as Raw)) {
      if (SECRET_MEMBERS.has(k)) out[k] = REDACTED
      else if (k === 'headers' && typeof x === 'object' && x !== null) out[k] = Object.fromEntries(Object.keys(x).map((h) => [h, REDACTED]))
      else out[k] = walk(x, depth + 1)
    }
    return out
  }
  const kept = walk(body, 0)
  const text = JSON.stringify(kept) ?? ''
  return text.length <= REQUEST_MAX_CHARS ? kept : `[a body of ${text.length} characters, not kept]`
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Named entries before and after, compared key by key (`prefix[name].key`). */
function diffNamed(prefix: string, before: readonly Raw[], after: readonly Raw[], out: AuditChange[]): void {
  const byName = (list: readonly Raw[]): Map<string, Raw> => new Map(list.map((e) => [String(e['name']), e]))
  const b = byName(before)
  const a = byName(after)
  for (const [name, entry] of b) if (!a.has(name)) out.push({ path: `${prefix}[${name}]`, before: redactEntry(entry) })
  for (const [name, entry] of a) {
    const old = b.get(name)
    if (old === undefined) {
      out.push({ path: `${prefix}[${name}]`, after: redactEntry(entry) })
      continue
    }
    const shownOld = redactEntry(old)
    const shownNew = redactEntry(entry)
    for (const key of new Set([...Object.keys(old), ...Object.keys(entry)])) {
      if (same(old[key], entry[key])) continue
      out.push({ path: `${prefix}[${name}].${key}`, ...(key in old ? { before: shownOld[key] } : {}), ...(key in entry ? { after: shownNew[key] } : {}) })
    }
  }
  const kept = (list: readonly Raw[], other: Map<string, Raw>): string[] => list.map((e) => String(e['name'])).filter((n) => other.has(n))
  const orderBefore = kept(before, a)
  const orderAfter = kept(after, b)
  if (!same(orderBefore, orderAfter)) out.push({ path: `${prefix} (order)`, before: orderBefore, after: orderAfter })
}

/** Everything that differs between two managed states. */
export function diffManagedState(before: ManagedState, after: ManagedState): AuditChange[] {
  const out: AuditChange[] = []
  diffNamed('authentication.authenticators', before.authenticators.map(authenticatorToRaw), after.authenticators.map(authenticatorToRaw), out)
  diffNamed('authorization.policies', before.authorization.policies.map(policyToRaw), after.authorization.policies.map(policyToRaw), out)
  const settings = ({ authorization: a }: ManagedState): Raw => ({ noMatch: a.noMatch, aclClaim: a.aclClaim, superuserClaim: a.superuserClaim ?? null })
  const sb = settings(before)
  const sa = settings(after)
  for (const key of Object.keys(sb)) if (!same(sb[key], sa[key])) out.push({ path: `authorization.${key}`, before: sb[key], after: sa[key] })
  return out
}
