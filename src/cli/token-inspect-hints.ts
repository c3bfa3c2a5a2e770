/**
 * Hints under `token inspect`'s report: a CONNECT field the configuration's checks fill in
 * (`${username}`, `${clientid}`) that the command was not given is checked as absent, which
 * is rarely what the user meant to test; and a `--username` given where an authenticator reads the
 * token from the username is not used by that authenticator (the token stands in that field).
 */
import type { AuthenticatorConfig } from '../auth/config.js'

/** A CONNECT field, the placeholder that stands for it in templates and the option that gives it. */
interface PresentedField {
  readonly placeholder: string
  readonly key: 'username' | 'clientId'
  /** The option, with its value's name. */
  readonly option: readonly [name: string, value: string]
  /** How the check runs without the option. */
  readonly absent: string
}

const PRESENTED_FIELDS: readonly PresentedField[] = [
  { placeholder: '${username}', key: 'username', option: ['--username', 'NAME'], absent: 'as a CONNECT without a username' },
  { placeholder: '${clientid}', key: 'clientId', option: ['--client-id', 'ID'], absent: 'with an empty client id' },
]

/** Where an enabled authenticator's checks use `placeholder`, as `[name] where`. */
function placesUsing(authenticators: readonly AuthenticatorConfig[], placeholder: string): string[] {
  const places: string[] = []
  for (const a of authenticators) {
    if (!a.enabled) continue
    if (a.type === 'http') {
      const fields = Object.entries(a.body).filter(([, template]) => template.includes(placeholder)).map(([field]) => field)
      if (fields.length > 0) places.push(`[${a.name}] request body ${fields.join(', ')}`)
    } else if (a.type !== 'x509') {
      const claims = Object.entries(a.claims.match).filter(([, template]) => template.includes(placeholder)).map(([claim]) => claim)
      if (claims.length > 0) places.push(`[${a.name}] claims.match ${claims.join(', ')}`)
    }
  }
  return places
}

/** The enabled authenticators that read the token from the CONNECT username, as `[name]`. */
function readingUsername(authenticators: readonly AuthenticatorConfig[]): string[] {
  return authenticators.filter((a) => a.enabled && 'from' in a && a.from === 'username').map((a) => `[${a.name}]`)
}

/**
 * One `hint:` line per CONNECT field the checks use and `given` lacks, and one when `given` has a
 * username that authenticators reading the token from the username do not use.
 */
export function inspectHints(authenticators: readonly AuthenticatorConfig[], given: { clientId?: string; username?: string }): string[] {
  const hints: string[] = []
  for (const f of PRESENTED_FIELDS) {
    const places = given[f.key] === undefined ? placesUsing(authenticators, f.placeholder) : []
    if (places.length === 0) continue
    const [option, value] = f.option
    hints.push(`hint: ${option} not given, so checked ${f.absent}; ${places.join('; ')} use${places.length === 1 ? 's' : ''} ${f.placeholder}: give ${option} ${value}`)
  }
  const readers = given.username === undefined ? [] : readingUsername(authenticators)
  if (readers.length > 0) {
    const one = readers.length === 1
    hints.push(`hint: --username is not used by ${readers.join(', ')}: ${one ? 'it reads' : 'they read'} the token from the username (a CONNECT carries the token there, so the token is checked as the username)`)
  }
  return hints
}
