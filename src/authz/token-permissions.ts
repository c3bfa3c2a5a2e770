/**
 * What an accepted token may do, worked out without connecting (`token inspect`, POST
 * /token/check): the identity a CONNECT carrying the token would get, from the accepting
 * authenticator's own authenticate() (remote services answer with claims of their own, so the
 * JWT payload is not enough), then the authorization chain compiled for that client as
 * CONNECT compiles it, with the connect check and any further checks explained.
 */
import { bindClientId } from '../auth/identity.js'
import { revokedError, type RevocationList } from '../auth/revocation.js'
import type { Authenticator, Credentials, Identity } from '../auth/types.js'
import type { AuthorizationConfig } from './config.js'
import { createAuthorizerChain } from './create.js'
import { explainCheck, type AskedCheck, type PermissionCheck } from './permission-check.js'
import type { CheckExplained, RuleView } from './types.js'

/** Where the permissions were worked out for: the client as the broker would see it. */
export interface TokenPermissions {
  readonly clientId: string
  /** The username the rules see; absent when there is none or it is the token itself (never shown). */
  readonly username?: string
  /** True when the username the rules see is the token (the authenticator reads it from there). */
  readonly usernameIsToken?: true
  readonly ip: string
  /** When the token's rules stop applying. */
  readonly expiresAt?: string
  readonly rules: readonly RuleView[]
  readonly noMatch: 'allow' | 'deny'
  readonly connect: CheckExplained
  readonly checks: readonly PermissionCheck[]
  /** Why the token's ACL claim gave no rules (the claim source then refuses every check). */
  readonly aclProblem?: string
}

/** Why no permissions could be worked out although the inspection accepted the token. */
export interface TokenPermissionsRefused {
  readonly refused: string
}

export interface TokenPermissionsRequest {
  readonly token: string
  /** The authenticator the inspection's verdict names as accepting the token. */
  readonly authenticator: Authenticator
  readonly presented: { readonly clientId?: string; readonly username?: string }
  readonly ip: string
  readonly authorization: AuthorizationConfig
  readonly revocations?: RevocationList
  readonly checks: readonly AskedCheck[]
}

/**
 * The credentials of a CONNECT carrying `token` where `authenticator` reads it: the username
 * (`from: username`), else the password (jwt, jwks, devices, introspection `from: password`,
 * and http authenticators, which the token check sends it to as the password).
 */
function credentialsFor(request: TokenPermissionsRequest): Credentials {
  const inUsername = request.authenticator.tokenFrom === 'username'
  return {
    clientId: request.presented.clientId ?? '',
    username: inUsername ? request.token : request.presented.username,
    password: inUsername ? undefined : Buffer.from(request.token),
    authMethod: undefined,
    authData: undefined,
    protocolVersion: 5,
    remoteAddress: request.ip,
    reauth: false,
    // Not a client: the authenticator's outcome counters stay as the broker's clients made them.
    uncounted: true,
  }
}

/** The permissions of the client a CONNECT with the token would admit, or why it would not be admitted after all. */
export async function tokenPermissions(request: TokenPermissionsRequest): Promise<TokenPermissions | TokenPermissionsRefused> {
  const credentials = credentialsFor(request)
  const outcome = await request.authenticator.authenticate(credentials)
  const name = request.authenticator.name
  if (outcome.result !== 'allow') {
    // Between the inspection and now: an expiry reached, a service that changed its answer.
    const why = outcome.error?.message ?? 'it passed the token on'
    return { refused: `authenticator ${name} did not accept the token on the CONNECT path: ${why}` }
  }
  const identity: Identity = outcome.identity
  const revoked = request.revocations?.match(identity.claims)
  if (revoked !== undefined) return { refused: revokedError(revoked).message }
  // The client id as CONNECT binds it: the one the identity names, else the one presented.
  const binding = bindClientId(credentials.clientId, identity)
  if (binding !== undefined && !binding.ok) return { refused: binding.error.message }
  const clientId = binding?.clientId ?? credentials.clientId
  const username = identity.username ?? credentials.username
  let aclProblem: string | undefined
  const chain = createAuthorizerChain(request.authorization, { onAclProblem: (_subject, reason) => (aclProblem = reason) })
  const authz = chain.compile({ clientId, username, remoteAddress: request.ip, identity })
  const isToken = username !== undefined && username === request.token
  return {
    clientId,
    ...(username !== undefined && !isToken ? { username } : {}),
    ...(isToken ? { usernameIsToken: true as const } : {}),
    ip: request.ip,
    ...(identity.expiresAt !== undefined ? { expiresAt: new Date(identity.expiresAt).toISOString() } : {}),
    ...authz.describe(),
    connect: authz.explain('connect', '', 0, false),
    checks: request.checks.map((c) => explainCheck(authz, c)),
    ...(aclProblem !== undefined ? { aclProblem } : {}),
  }
}

/** True when every check of `p` allows: connect and each one asked. */
export function permissionsAllow(p: TokenPermissions): boolean {
  return p.connect.allowed && p.checks.every((c) => c.allowed)
}

function ruleLine(r: RuleView): string {
  const topics = r.topics.length > 0 ? ` ${r.topics.join(' ')}` : ''
  const qos = r.qos !== undefined ? ` qos ${r.qos.join(',')}` : ''
  const retain = r.retain !== undefined ? ` retain ${r.retain}` : ''
  const note = r.note !== undefined ? ` (${r.note})` : ''
  return `${r.effect.padEnd(5)} ${r.actions.join(',')}${topics}${qos}${retain}  [${r.source} "${r.origin}"]${note}`
}

/** The answer in words: `because` names the outcome when a rule decided ("refused by policies rule …"). */
function answer(c: CheckExplained): string {
  return c.decidedBy !== undefined ? c.because : `${c.allowed ? 'allowed' : 'refused'}: ${c.because}`
}

function checkLine(c: PermissionCheck): string {
  const topic = c.topic !== undefined ? ` ${c.topic}` : ''
  const retain = c.action === 'publish' ? `, retain ${c.retain}` : ''
  return `${c.action}${topic} (qos ${c.qos}${retain}): ${answer(c)}`
}

/** The permissions section of `token inspect` (never the token: a username that is the token is named so). */
export function formatTokenPermissions(p: TokenPermissions | TokenPermissionsRefused): string {
  if ('refused' in p) return `permissions: not worked out: ${p.refused}`
  const username = p.usernameIsToken === true ? '(the token)' : p.username !== undefined ? JSON.stringify(p.username) : '(none)'
  const clientId = p.clientId === '' ? '(none)' : JSON.stringify(p.clientId)
  const lines = [`permissions: client id ${clientId}, username ${username}, ip ${p.ip}${p.expiresAt !== undefined ? `, until ${p.expiresAt}` : ''}`]
  lines.push(`  connect: ${answer(p.connect)}`)
  if (p.aclProblem !== undefined) lines.push(`  acl claim unusable: ${p.aclProblem}`)
  lines.push('  rules (the first that matches decides):')
  for (const r of p.rules) lines.push(`    ${ruleLine(r)}`)
  lines.push(`  noMatch: ${p.noMatch}`)
  for (const c of p.checks) lines.push(`  ${checkLine(c)}`)
  return lines.join('\n')
}
