/**
 * Field templates of an HTTP auth request: text with ${clientid}, ${username}, ${password},
 * ${peerhost}, ${proto_ver} and ${cert_cn}, ${cert_fingerprint}, ${cert_serial},
 * ${cert_san_dns|uri|email|ip} (the verified client certificate's fields). A value the
 * client did not send renders as the empty string.
 */
import { CERT_PLACEHOLDERS, certPlaceholderValue, isCertPlaceholder } from '../certificate.js'
import type { Credentials } from '../types.js'

const PLACEHOLDERS = ['clientid', 'username', 'password', 'peerhost', 'proto_ver', ...CERT_PLACEHOLDERS] as const
type Placeholder = (typeof PLACEHOLDERS)[number]

export type RequestTemplate = readonly (string | { readonly placeholder: Placeholder })[]

/** Parses a template; throws Error(reason) for an unknown placeholder. */
export function compileRequestTemplate(template: string): RequestTemplate {
  const parts: (string | { placeholder: Placeholder })[] = []
  const re = /\$\{([^}]*)\}/g
  let last = 0
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push(template.slice(last, m.index))
    const name = m[1] as Placeholder
    if (!PLACEHOLDERS.includes(name)) throw new Error(`unknown placeholder \${${m[1]}} (use ${PLACEHOLDERS.map((p) => `\${${p}}`).join(', ')})`)
    parts.push({ placeholder: name })
    last = re.lastIndex
  }
  if (last < template.length) parts.push(template.slice(last))
  return parts
}

function value(p: Placeholder, c: Credentials): string {
  if (isCertPlaceholder(p)) return certPlaceholderValue(c.certificate, p) ?? ''
  switch (p) {
    case 'clientid': return c.clientId
    case 'username': return c.username ?? ''
    case 'password': return c.password?.toString('utf8') ?? ''
    case 'peerhost': return c.remoteAddress
    case 'proto_ver': return String(c.protocolVersion)
  }
}

export function renderRequestTemplate(template: RequestTemplate, credentials: Credentials): string {
  let out = ''
  for (const part of template) out += typeof part === 'string' ? part : value(part.placeholder, credentials)
  return out
}
