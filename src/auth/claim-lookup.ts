/**
 * Reading one claim of a verified token by name: used by identity mapping, device key lookup and
 * the policies' `${claim.…}` placeholders alike, so a name means the same claim everywhere.
 */

/**
 * Look a claim up: the exact key first (claims named like `https://example.com/tenant`),
 * then a dotted path through nested objects. Only own properties are followed.
 */
export function resolveClaim(claims: Readonly<Record<string, unknown>> | undefined, name: string): unknown {
  if (claims === undefined || claims === null || typeof claims !== 'object') return undefined
  if (Object.hasOwn(claims, name)) return claims[name]
  let current: unknown = claims
  for (const key of name.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined
    if (!Object.hasOwn(current, key)) return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}
