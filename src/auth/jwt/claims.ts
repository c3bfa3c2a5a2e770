/**
 * Claim checks on a verified token (RFC 7519 §4.1): exp, nbf, iat (future / too old),
 * iss, aud, required claims and `match` templates. Times are seconds since the epoch;
 * `leeway` absorbs clock skew in every time check.
 */
import { certPlaceholderValue, isCertPlaceholder, type CertPlaceholder } from '../certificate.js'
import type { PeerCertificate } from '../types.js'
import { PortcullisError, type ErrorCode } from '../../errors.js'

export interface ClaimsConfig {
  /** Trusted `iss` values (any of); undefined: not checked. */
  readonly issuer?: readonly string[]
  /** Accepted `aud` values (any of); undefined: not checked. */
  readonly audience?: readonly string[]
  /** Seconds: a token whose `iat` is older is refused ("issued too early"). Requires iat. */
  readonly maxAge?: number
  /** Seconds of clock skew tolerated by exp / nbf / iat. */
  readonly leeway: number
  /** Claims that must be present. */
  readonly required: readonly string[]
  /** claim name → template with ${clientid}, ${username}, ${claims.NAME}; exact string match. */
  readonly match: Readonly<Record<string, string>>
}

export interface ClaimContext {
  readonly clientId: string
  readonly username: string | undefined
  /** The verified client certificate, for ${cert_cn} and the other ${cert_*} placeholders. */
  readonly certificate?: PeerCertificate | undefined
}

export interface ClaimCheck {
  readonly check: string
  readonly ok: boolean
  readonly detail: string
  readonly code?: ErrorCode
}

type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'clientid' }
  | { readonly kind: 'username' }
  | { readonly kind: 'claim'; readonly name: string }
  | { readonly kind: 'cert'; readonly name: CertPlaceholder }

export interface CompiledMatch {
  readonly claim: string
  readonly template: string
  readonly parts: readonly TemplatePart[]
}

/** Parses a `match` template; throws Error(reason) for an unknown placeholder. */
export function compileTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = []
  const re = /\$\{([^}]*)\}/g
  let last = 0
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push({ kind: 'text', text: template.slice(last, m.index) })
    const name = m[1]
    if (name === 'clientid') parts.push({ kind: 'clientid' })
    else if (name === 'username') parts.push({ kind: 'username' })
    else if (name.startsWith('claims.') && name.length > 'claims.'.length) parts.push({ kind: 'claim', name: name.slice('claims.'.length) })
    else if (isCertPlaceholder(name)) parts.push({ kind: 'cert', name })
    else throw new Error(`unknown placeholder \${${name}} (use \${clientid}, \${username}, \${claims.NAME} or \${cert_cn} and the other \${cert_*})`)
    last = re.lastIndex
  }
  if (last < template.length) parts.push({ kind: 'text', text: template.slice(last) })
  return parts
}

export function compileMatch(match: Readonly<Record<string, string>>): CompiledMatch[] {
  return Object.entries(match).map(([claim, template]) => ({ claim, template, parts: compileTemplate(template) }))
}

function render(parts: readonly TemplatePart[], payload: Readonly<Record<string, unknown>>, ctx: ClaimContext): string | undefined {
  let out = ''
  for (const part of parts) {
    switch (part.kind) {
      case 'text': out += part.text; break
      case 'clientid': out += ctx.clientId; break
      case 'username':
        if (ctx.username === undefined) return undefined
        out += ctx.username
        break
      case 'claim': {
        const value = claim(payload, part.name)
        if (typeof value !== 'string') return undefined
        out += value
        break
      }
      case 'cert': {
        const value = certPlaceholderValue(ctx.certificate, part.name)
        if (value === undefined) return undefined
        out += value
        break
      }
    }
  }
  return out
}

/**
 * The range of a JavaScript Date: ±8.64e15 ms, in seconds. A time claim outside it names no
 * date at all (and cannot be shown as one), so it is malformed rather than early or late.
 */
const MAX_TIME_SECONDS = 8.64e12

/** A time claim (RFC 7519 NumericDate) as seconds, or why it is not one. Never throws. */
function timeClaim(name: string, value: unknown): number | [ErrorCode, string] {
  if (typeof value !== 'number' || !Number.isFinite(value)) return ['ERR_JWT_MALFORMED', `${name} is not a number of seconds since the epoch (${describeValue(value)})`]
  if (Math.abs(value) > MAX_TIME_SECONDS) return ['ERR_JWT_MALFORMED', `${name} ${value} is outside the range of dates (±${MAX_TIME_SECONDS} s since the epoch)`]
  return value
}

/** A date in a message: ISO 8601 (callers pass only values timeClaim accepted). */
function isoDate(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}

/** A short, printable description of any claim value for messages (never throws, never long). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (Array.isArray(value)) return `an array of ${value.length}`
  return typeof value === 'object' ? 'an object' : typeof value
}

/** The claim `name` of the payload: its own member only (never Object.prototype's). */
function claim(payload: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined
}

/**
 * Runs every configured check. Returns the first failure (as the error a client's refusal
 * carries), or undefined when all pass. With `report`, every check is recorded and all
 * checks run (for `inspect`); without it, the first failure returns at once.
 */
export function evaluateClaims(
  payload: Readonly<Record<string, unknown>>,
  rules: ClaimsConfig,
  match: readonly CompiledMatch[],
  ctx: ClaimContext,
  nowSeconds: number,
  report?: ClaimCheck[],
): PortcullisError | undefined {
  let first: PortcullisError | undefined
  // Pass details are only wanted for a report (inspect): they are built lazily.
  const record = (check: string, failure: [ErrorCode, string] | undefined, passDetail: () => string): boolean => {
    if (failure === undefined) {
      if (report !== undefined) report.push({ check, ok: true, detail: passDetail() })
      return false
    }
    const [code, detail] = failure
    report?.push({ check, ok: false, detail, code })
    first ??= new PortcullisError(code, detail)
    return report === undefined
  }
  const leeway = rules.leeway

  for (const name of rules.required) {
    const value = claim(payload, name)
    const missing = value === undefined || value === null
    if (missing || report !== undefined) {
      if (record(`required:${name}`, missing ? ['ERR_JWT_CLAIM_MISSING', `required claim '${name}' is missing`] : undefined, () => `'${name}' present`)) return first
    }
  }

  // Every value reaching a message or a Date below went through timeClaim: no check throws.
  const exp = claim(payload, 'exp')
  if (exp !== undefined) {
    const t = timeClaim('exp', exp)
    const failure: [ErrorCode, string] | undefined = typeof t !== 'number'
      ? t
      : nowSeconds - leeway >= t ? ['ERR_JWT_EXPIRED', `token expired at ${isoDate(t)}`] : undefined
    if (record('exp', failure, () => `expires at ${isoDate(t as number)}`)) return first
  }

  const nbf = claim(payload, 'nbf')
  if (nbf !== undefined) {
    const t = timeClaim('nbf', nbf)
    const failure: [ErrorCode, string] | undefined = typeof t !== 'number'
      ? t
      : nowSeconds + leeway < t ? ['ERR_JWT_NOT_YET_VALID', `token not valid before ${isoDate(t)}`] : undefined
    if (record('nbf', failure, () => 'valid now')) return first
  }

  const iat = claim(payload, 'iat')
  if (iat !== undefined || rules.maxAge !== undefined) {
    let failure: [ErrorCode, string] | undefined
    const t = iat === undefined ? undefined : timeClaim('iat', iat)
    if (t === undefined) failure = ['ERR_JWT_CLAIM_MISSING', 'iat is required when claims.maxAge is set']
    else if (typeof t !== 'number') failure = t
    else if (t > nowSeconds + leeway) failure = ['ERR_JWT_ISSUED_IN_FUTURE', `token issued in the future (${isoDate(t)})`]
    else if (rules.maxAge !== undefined && nowSeconds - t > rules.maxAge + leeway) {
      failure = ['ERR_JWT_TOO_OLD', `token issued too early: ${Math.floor(nowSeconds - t)} s ago, maxAge is ${rules.maxAge} s`]
    }
    if (record('iat', failure, () => 'issued at an acceptable time')) return first
  }

  if (rules.issuer !== undefined) {
    const iss = claim(payload, 'iss')
    const failure: [ErrorCode, string] | undefined = typeof iss !== 'string'
      ? ['ERR_JWT_ISSUER', iss === undefined ? 'token has no iss' : `iss is not a string (${describeValue(iss)})`]
      : rules.issuer.includes(iss) ? undefined : ['ERR_JWT_ISSUER', `issuer ${describeValue(iss)} is not trusted`]
    if (record('iss', failure, () => `issuer ${describeValue(iss)} trusted`)) return first
  }

  if (rules.audience !== undefined) {
    const aud = claim(payload, 'aud')
    const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((v): v is string => typeof v === 'string') : []
    const ok = values.some((v) => rules.audience!.includes(v))
    const failure: [ErrorCode, string] | undefined = ok
      ? undefined
      : ['ERR_JWT_AUDIENCE', aud === undefined ? 'token has no aud' : `audience ${Array.isArray(aud) ? `[${aud.slice(0, 5).map(describeValue).join(', ')}${aud.length > 5 ? ', ...' : ''}]` : describeValue(aud)} is not accepted`]
    if (record('aud', failure, () => 'audience accepted')) return first
  }

  for (const m of match) {
    const expected = render(m.parts, payload, ctx)
    const actual = claim(payload, m.claim)
    let failure: [ErrorCode, string] | undefined
    if (expected === undefined) failure = ['ERR_JWT_CLAIM_MISMATCH', `claim '${m.claim}': template ${m.template} cannot be filled in`]
    else if (actual === undefined) failure = ['ERR_JWT_CLAIM_MISSING', `claim '${m.claim}' is missing (must equal ${m.template})`]
    else if (actual !== expected) failure = ['ERR_JWT_CLAIM_MISMATCH', `claim '${m.claim}' does not match ${m.template}`]
    if (failure !== undefined || report !== undefined) {
      if (record(`match:${m.claim}`, failure, () => `equals ${m.template}`)) return first
    }
  }
  return first
}
