/**
 * Token tools for the command line and the admin API: key generation, minting, and a
 * check-by-check inspection of a token against configured authenticators.
 */
import {
  KeyObject, constants, createHash, createHmac, createPrivateKey, createSecretKey, generateKeyPairSync, randomBytes,
  sign as cryptoSign, type JsonWebKey,
} from 'node:crypto'
import { PortcullisError } from '../../errors.js'
import { authenticatorFault, refusalReason } from '../chain.js'
import { revokedError, type RevocationList } from '../revocation.js'
import { ALGORITHM_SPECS, isJwsAlgorithm, type JwsAlgorithm } from './algorithms.js'
import type { AuthenticatorReport, ManagedAuthenticator } from '../managed.js'
import { nowSeconds } from '../../clock.js'

export interface GeneratedKeyPair {
  readonly alg: JwsAlgorithm
  /** RFC 7638 thumbprint of the public key (or of the secret for HS*). */
  readonly kid: string
  readonly privateJwk: JsonWebKey
  /** The JWK to publish (kid, alg, use: sig). For HS*, the same secret JWK as privateJwk. */
  readonly publicJwk: JsonWebKey
  /** PKCS#8 / SPKI PEM; absent for HS*. */
  readonly privatePem?: string
  readonly publicPem?: string
  /** HS* only: the secret, base64url (configure it with secretBase64: true). */
  readonly secret?: string
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members: Record<string, readonly string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], oct: ['k', 'kty'] }
  const names = members[jwk.kty ?? '']
  if (names === undefined) throw new TypeError(`cannot compute a thumbprint for kty ${String(jwk.kty)}`)
  const canonical = `{${names.map((n) => `${JSON.stringify(n)}:${JSON.stringify((jwk as Record<string, unknown>)[n])}`).join(',')}}`
  return createHash('sha256').update(canonical).digest('base64url')
}

/** Generates a key pair (or HMAC secret) for `alg`. RSA keys are 2048 bits. */
export function generateKeyPair(alg: JwsAlgorithm): GeneratedKeyPair {
  if (!isJwsAlgorithm(alg)) throw new TypeError(`unknown algorithm ${String(alg)}`)
  const spec = ALGORITHM_SPECS[alg]
  if (spec.family === 'hmac') {
    const secret = randomBytes(spec.bytes).toString('base64url')
    const jwk: JsonWebKey = { kty: 'oct', k: secret }
    const kid = jwkThumbprint(jwk)
    const full = { ...jwk, kid, alg, use: 'sig' }
    return { alg, kid, privateJwk: full, publicJwk: full, secret }
  }
  const pair = spec.family === 'ecdsa'
    ? generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] })
    : spec.family === 'eddsa'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const publicJwk = pair.publicKey.export({ format: 'jwk' })
  const kid = jwkThumbprint(publicJwk)
  return {
    alg,
    kid,
    privateJwk: { ...pair.privateKey.export({ format: 'jwk' }), kid, alg },
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  }
}

/** '1h' | '30m' | '45s' | '2d' | number of seconds → seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('duration must be finite')
    return value
  }
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$/i.exec(value)
  if (m === null) throw new TypeError(`cannot read duration '${value}' (e.g. 90, 30s, 30m, 1h, 7d)`)
  const unit = (m[2] ?? 's').toLowerCase()
  const factor = unit.startsWith('s') ? 1 : unit.startsWith('m') ? 60 : unit === 'h' ? 3600 : unit === 'd' ? 86_400 : 604_800
  return Number(m[1]) * factor
}

export interface MintTokenOptions {
  /** Private JWK, PEM (PKCS#8, PKCS#1, SEC1), or for HS*: the secret (string or bytes) or an oct JWK. */
  readonly privateKey: JsonWebKey | string | Buffer | KeyObject
  readonly alg: JwsAlgorithm
  readonly kid?: string
  readonly sub?: string
  /** '1h', '30m', or seconds. Omit for a token without exp. */
  readonly expiresIn?: string | number
  /** Further claims (iss, aud, anything); they override the ones computed here. */
  readonly claims?: Readonly<Record<string, unknown>>
  /** ACL claim value (placed under `acl`). */
  readonly acl?: unknown
  /** Epoch seconds used for iat/exp (default: now). */
  readonly now?: number
  /** Extra protected-header members (tests: crit, typ…). */
  readonly header?: Readonly<Record<string, unknown>>
}

function signingKey(alg: JwsAlgorithm, key: MintTokenOptions['privateKey']): KeyObject {
  const hmac = ALGORITHM_SPECS[alg].family === 'hmac'
  if (key instanceof KeyObject) return key
  if (Buffer.isBuffer(key)) return createSecretKey(key)
  if (typeof key === 'string') {
    if (key.includes('-----BEGIN')) return createPrivateKey(key)
    if (!hmac) throw new TypeError(`${alg} needs a private key (PEM or JWK)`)
    return createSecretKey(Buffer.from(key, 'utf8'))
  }
  const jwk = key
  if (jwk.kty === 'oct') return createSecretKey(Buffer.from(jwk.k ?? '', 'base64url'))
  return createPrivateKey({ key: jwk, format: 'jwk' })
}

/** Signs a JWT (compact JWS) with node:crypto. */
export function mintToken(options: MintTokenOptions): string {
  const { alg } = options
  if (!isJwsAlgorithm(alg)) throw new TypeError(`unknown algorithm ${String(alg)}`)
  const spec = ALGORITHM_SPECS[alg]
  const key = signingKey(alg, options.privateKey)
  const now = Math.floor(options.now ?? nowSeconds())
  const payload: Record<string, unknown> = { iat: now }
  if (options.sub !== undefined) payload['sub'] = options.sub
  if (options.expiresIn !== undefined) payload['exp'] = now + Math.floor(parseDuration(options.expiresIn))
  if (options.acl !== undefined) payload['acl'] = options.acl
  Object.assign(payload, options.claims)
  const header = { alg, typ: 'JWT', ...(options.kid !== undefined ? { kid: options.kid } : {}), ...options.header }
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const data = Buffer.from(input, 'latin1')
  let signature: Buffer
  switch (spec.family) {
    case 'hmac':
      signature = createHmac(spec.hash!, key).update(data).digest()
      break
    case 'rsa':
      signature = cryptoSign(spec.hash, data, key)
      break
    case 'rsa-pss':
      signature = cryptoSign(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.bytes })
      break
    case 'ecdsa':
      signature = cryptoSign(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' })
      break
    case 'eddsa':
      signature = cryptoSign(null, data, key)
      break
  }
  return `${input}.${signature.toString('base64url')}`
}

export interface TokenInspection {
  /** Decoded without verification (for display only). */
  readonly header?: Readonly<Record<string, unknown>>
  readonly payload?: Readonly<Record<string, unknown>>
  readonly decodeError?: string
  readonly sizeBytes: number
  readonly authenticators: readonly AuthenticatorReport[]
  /**
   * What the chain would answer: the first allow or deny; else ignore, with the refusal's
   * code and the authenticator whose reason it is (as a CONNECT would be refused).
   */
  readonly verdict: {
    readonly outcome: 'allow' | 'deny' | 'ignore'
    readonly authenticator?: string
    readonly code?: string
    /** Refusals: the reason a CONNECT's log line gives (every authenticator's, when none was meant for the token). */
    readonly message?: string
  }
}

/** Nesting beyond this is not shown (a JSON encoder recurses: a hostile payload must not break the report). */
const MAX_SHOWN_DEPTH = 32

/** True when `value` nests objects or arrays deeper than `limit` (walked with a work list, no recursion). */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]]
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [v, depth] = item
    if (typeof v !== 'object' || v === null) continue
    if (depth >= limit) return true
    for (const child of Object.values(v)) pending.push([child, depth + 1])
  }
  return false
}

/** A JWS header or payload, decoded without verification, for display: a JSON object or why not. */
function decodePart(part: string | undefined): Record<string, unknown> | 'undecodable' | 'too deep' {
  if (part === undefined) return 'undecodable'
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'undecodable'
    return nestedDeeperThan(v, MAX_SHOWN_DEPTH) ? 'too deep' : (v as Record<string, unknown>)
  } catch {
    return 'undecodable'
  }
}

/**
 * Evaluates a token against authenticators in chain order, check by check. Authenticators
 * are the created ones (started, for JWKS endpoints). Nothing is counted or logged.
 */
export async function inspectToken(
  token: string,
  authenticators: readonly ManagedAuthenticator[],
  context: { clientId?: string; username?: string } = {},
  revocations?: RevocationList,
): Promise<TokenInspection> {
  const parts = token.split('.')
  const header = decodePart(parts[0])
  const payload = parts.length === 3 ? decodePart(parts[1]) : 'undecodable'
  const decodeError = header === 'too deep' || payload === 'too deep'
    ? `token nests JSON deeper than ${MAX_SHOWN_DEPTH} levels; not shown`
    : header === 'undecodable' || (parts.length === 3 && payload === 'undecodable') ? 'token is not a decodable JWS' : undefined
  const results: AuthenticatorReport[] = []
  let verdict: TokenInspection['verdict'] | undefined
  for (const a of authenticators) {
    let r: AuthenticatorReport
    try {
      r = await a.inspect(token, context)
    } catch (cause) {
      // As in the chain: a fault refuses the token and stops there.
      const e = authenticatorFault(cause)
      r = { name: a.name, type: a.type, enabled: a.enabled, outcome: 'deny', code: e.code, message: e.message, steps: [] }
    }
    // As in the chain: an accepted token is then looked up in the revocations.
    const revoked = r.outcome === 'allow' && a.enabled && typeof payload === 'object' ? revocations?.match(payload) : undefined
    if (revoked !== undefined) {
      const e = revokedError(revoked)
      r = { ...r, outcome: 'deny', code: e.code, message: e.message, steps: [...r.steps, { check: 'revocation', ok: false, detail: e.message, code: e.code }] }
    }
    results.push(r)
    if (verdict === undefined && a.enabled && r.outcome !== 'ignore') {
      verdict = { outcome: r.outcome, authenticator: a.name, ...(r.code !== undefined ? { code: r.code, message: r.message } : {}) }
    }
  }
  if (verdict === undefined) {
    // Every enabled authenticator passed the token on: the chain's rule picks the reason.
    const passed = results.filter((r) => r.enabled).map((r) => ({
      authenticator: r.name,
      error: r.code === undefined ? undefined : new PortcullisError(r.code, r.message),
      ...(r.relevance !== undefined ? { relevance: r.relevance } : {}),
    }))
    const why = refusalReason(passed, true)
    verdict = {
      outcome: 'ignore', code: why.error.code, message: why.error.message,
      ...(why.authenticator !== undefined ? { authenticator: why.authenticator } : {}),
    }
  }
  return {
    ...(typeof header === 'object' ? { header } : {}),
    ...(typeof payload === 'object' ? { payload } : {}),
    ...(decodeError !== undefined ? { decodeError } : {}),
    sizeBytes: Buffer.byteLength(token),
    authenticators: results,
    verdict,
  }
}

/** Human-readable rendering of an inspection (no secrets: tokens are never echoed). */
export function formatInspection(report: TokenInspection): string {
  const lines: string[] = []
  lines.push(`token: ${report.sizeBytes} bytes`)
  if (report.header !== undefined) lines.push(`header:  ${JSON.stringify(report.header)}`)
  if (report.payload !== undefined) lines.push(`payload: ${JSON.stringify(report.payload)}`)
  if (report.decodeError !== undefined) lines.push(`decode:  ${report.decodeError}`)
  for (const a of report.authenticators) {
    lines.push('')
    lines.push(`[${a.name}] (${a.type}${a.enabled ? '' : ', disabled'}) → ${a.outcome}${a.code !== undefined ? ` ${a.code}` : ''}`)
    if (a.key !== undefined) lines.push(`  key: ${a.key.kid ?? `#${a.key.index}`} ${a.key.description} as ${a.key.alg}`)
    for (const s of a.steps) lines.push(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.check.padEnd(16)} ${s.detail}`)
  }
  lines.push('')
  const v = report.verdict
  lines.push(`verdict: ${v.outcome}${v.authenticator !== undefined ? ` by ${v.authenticator}` : ''}${v.code !== undefined ? ` (${v.code})` : ''}`)
  if (v.outcome === 'ignore') {
    lines.push(`  refused: no authenticator accepted the token; ${v.authenticator !== undefined ? `the reason given is ${v.authenticator}'s, whose key material was meant for it` : 'none was meant for it more than another'}`)
  }
  if (v.message !== undefined) lines.push(`  reason: ${v.message}`)
  return lines.join('\n')
}
