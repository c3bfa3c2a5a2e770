/**
 * Optimistic concurrency for API users (RFC 9110 §8.8.3, §13.1.1): GET of a device, policy or
 * authenticator answers an `ETag`; a PUT, PATCH or DELETE of it with `If-Match` is made only if
 * the thing is still that (else 412 ERR_PRECONDITION_FAILED, nothing changed). Without the header
 * nothing changes. The check runs inside the change itself (the device as Redis holds it, the
 * policy or authenticator of the copy the change is written against), so it holds across nodes.
 *
 * A tag is a hash of the thing's stored form with its keys sorted (every node computes the same
 * one). Write-only secrets are left out of it (a tag must not help anyone guess a secret): a
 * device's key secrets change its `updatedAt` anyway; an authenticator whose secret alone changed
 * keeps its tag.
 */
import { createHash } from 'node:crypto'
import { ApiError } from './errors.js'

/** A strong entity tag for `value` (a plain JSON value): the same on every node for the same value. */
export function entityTag(value: unknown): string {
  return `"${createHash('sha256').update(canonicalJson(value)).digest('base64url').slice(0, 27)}"`
}

/**
 * Throws 412 ERR_PRECONDITION_FAILED unless `ifMatch` (the request's If-Match header, undefined
 * when absent) matches `current`, the thing's tag now: `*`, or a list holding it. Weak tags
 * (`W/"…"`) never match (If-Match compares strongly). `what` names the thing in the message.
 */
export function checkIfMatch(ifMatch: string | undefined, current: string, what: string): void {
  if (ifMatch === undefined) return
  const given = ifMatch.split(',').map((t) => t.trim()).filter((t) => t !== '')
  if (given.includes('*') || given.includes(current)) return
  throw new ApiError('ERR_PRECONDITION_FAILED', `${what} has changed since the version If-Match names (it is now ${current}): nothing was changed; read it again`)
}

/** JSON with every object's keys in code-unit order (undefined members left out, as JSON does). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}
