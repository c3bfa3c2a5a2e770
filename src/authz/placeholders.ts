/**
 * Topic templates with placeholders: `${clientid}`, `${username}`, `${claims.NAME}` (a claim
 * of the verified token; `NAME` may be a dotted path such as `tenant.id`) and `${cert_cn}`,
 * `${cert_fingerprint}`, `${cert_serial}`, `${cert_san_dns|uri|email|ip}` (the verified
 * client certificate's fields; see auth/certificate.ts).
 *
 * Substitution is done once per client, and never widens access:
 * - a value that is missing, empty, not a string or finite number, or that contains `/`,
 *   `+`, `#` or NUL is *unusable*;
 * - in an **allow** rule an unusable value drops that topic (it matches nothing), and so does
 *   a value that would make the first level start with `$` when the template's does not
 *   (client id `$SYS` must not turn `${clientid}/#` into `$SYS/#`);
 * - in a **deny** rule an unusable value turns its level and everything after it into `#`
 *   (`users/${clientid}/secret` → `users/#`): the deny can only grow, never vanish.
 */
import { BoundedCache, type CacheUsage } from '../bounded-cache.js'
import { certPlaceholderValue, isCertPlaceholder, type CertPlaceholder } from '../auth/certificate.js'
import { resolveClaim } from '../auth/claim-lookup.js'
import type { PeerCertificate } from '../auth/types.js'
import { isValidTopicFilter } from './topic-match.js'

export type Placeholder =
  | { readonly kind: 'clientid' }
  | { readonly kind: 'username' }
  | { readonly kind: 'claim'; readonly name: string }
  | { readonly kind: 'cert'; readonly name: CertPlaceholder }

type Part = string | Placeholder

export interface TopicTemplate {
  readonly source: string
  /** One entry per topic level, each a list of literal text and placeholders (empty without placeholders). */
  readonly levels: readonly (readonly Part[])[]
  readonly hasPlaceholders: boolean
}

export interface PlaceholderContext {
  readonly clientId: string
  readonly username: string | undefined
  readonly claims: Readonly<Record<string, unknown>> | undefined
  /** The verified client certificate, when the client connected with one. */
  readonly certificate?: PeerCertificate | undefined
}

export type TemplateResult =
  | { readonly ok: true; readonly template: TopicTemplate }
  | { readonly ok: false; readonly reason: string }

const PLACEHOLDER = /\$\{([^}]*)\}/g

function parsePlaceholder(body: string): Placeholder | undefined {
  const lower = body.toLowerCase()
  if (lower === 'clientid') return { kind: 'clientid' }
  if (lower === 'username') return { kind: 'username' }
  if (isCertPlaceholder(lower)) return { kind: 'cert', name: lower }
  if (lower.startsWith('claims.') && body.length > 'claims.'.length) {
    return { kind: 'claim', name: body.slice('claims.'.length) }
  }
  return undefined
}

function invalidFilter(source: string): string {
  return `"${source}" is not a valid MQTT topic filter ('#' only as the whole last level, '+' only as a whole level)`
}

/**
 * Parse a topic filter that may contain placeholders. The filter must be a valid MQTT topic
 * filter once every placeholder is replaced by a plain level text, and every placeholder
 * must be one we know.
 */
export function parseTopicTemplate(source: string): TemplateResult {
  if (typeof source !== 'string' || source.length === 0) return { ok: false, reason: 'must be a non-empty string' }
  if (source.startsWith('$share/')) {
    return { ok: false, reason: 'must be the underlying filter, without the $share/{group}/ prefix' }
  }
  if (!source.includes('${')) {
    if (!isValidTopicFilter(source)) return { ok: false, reason: invalidFilter(source) }
    return { ok: true, template: { source, levels: [], hasPlaceholders: false } }
  }
  // Placeholders first (a claim name may contain '/'), then literal text split into levels.
  let hasPlaceholders = false
  const levels: Part[][] = [[]]
  const addLiteral = (text: string): void => {
    const pieces = text.split('/')
    pieces.forEach((piece, i) => {
      if (i > 0) levels.push([])
      if (piece.length > 0) (levels[levels.length - 1]).push(piece)
    })
  }
  let last = 0
  for (const m of source.matchAll(PLACEHOLDER)) {
    const placeholder = parsePlaceholder(m[1])
    if (placeholder === undefined) {
      return { ok: false, reason: `unknown placeholder ${m[0]} (use \${clientid}, \${username}, \${claims.NAME} or \${cert_cn}, \${cert_fingerprint}, \${cert_serial}, \${cert_san_dns|uri|email|ip})` }
    }
    addLiteral(source.slice(last, m.index))
    ;(levels[levels.length - 1]).push(placeholder)
    hasPlaceholders = true
    last = m.index + m[0].length
  }
  const rest = source.slice(last)
  if (rest.includes('${')) return { ok: false, reason: 'unterminated placeholder "${"' }
  addLiteral(rest)
  const probe = levels.map((parts) => parts.map((p) => (typeof p === 'string' ? p : 'x')).join('')).join('/')
  if (!isValidTopicFilter(probe)) return { ok: false, reason: invalidFilter(source) }
  return { ok: true, template: { source, levels, hasPlaceholders } }
}

/** 4,096 templates and 1 MiB for the whole process (a template over 64 KiB of text is not kept). */
const templateCache = new BoundedCache<TemplateResult>(4096, 1024 * 1024)

/**
 * parseTopicTemplate, remembered: token ACLs repeat the same topic templates for every
 * client, so each is parsed once (results are immutable).
 */
export function parseTopicTemplateCached(source: string): TemplateResult {
  let result = templateCache.get(source)
  if (result === undefined) {
    result = parseTopicTemplate(source)
    // the parsed levels take about twice the text
    templateCache.set(source, result, source.length * 4)
  }
  return result
}

/** What the template cache holds (for /metrics). */
export function templateCacheUsage(): CacheUsage {
  return templateCache.usage
}

/** The text a placeholder stands for, or undefined when it is unusable in a topic. */
export function placeholderValue(p: Placeholder, ctx: PlaceholderContext): string | undefined {
  let value: unknown
  switch (p.kind) {
    case 'clientid':
      value = ctx.clientId
      break
    case 'username':
      value = ctx.username
      break
    case 'claim':
      value = resolveClaim(ctx.claims, p.name)
      break
    case 'cert':
      value = certPlaceholderValue(ctx.certificate, p.name)
      break
  }
  let text: string
  if (typeof value === 'string') text = value
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value)
  else return undefined
  if (text.length === 0) return undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x2f /* / */ || c === 0x2b /* + */ || c === 0x23 /* # */ || c === 0) return undefined
  }
  return text
}

/**
 * Substitute a template for one client. Returns the filter, or undefined when an allow
 * rule's topic cannot be made safely (see the module comment).
 */
export function renderTopicTemplate(
  template: TopicTemplate,
  ctx: PlaceholderContext,
  effect: 'allow' | 'deny',
): string | undefined {
  if (!template.hasPlaceholders) return template.source
  const out: string[] = []
  for (let i = 0; i < template.levels.length; i++) {
    const parts = template.levels[i]
    let level = ''
    let unusable = false
    for (const part of parts) {
      if (typeof part === 'string') {
        level += part
        continue
      }
      const value = placeholderValue(part, ctx)
      if (value === undefined) {
        unusable = true
        break
      }
      level += value
    }
    if (unusable) {
      if (effect === 'allow') return undefined
      out.push('#')
      return out.join('/')
    }
    if (i === 0 && effect === 'allow' && level.charCodeAt(0) === 0x24 /* $ */) {
      const first = parts[0]
      if (typeof first !== 'string' || !first.startsWith('$')) return undefined
    }
    out.push(level)
  }
  return out.join('/')
}
