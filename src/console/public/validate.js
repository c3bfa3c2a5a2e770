// Live form validation, mirroring the server's rules (src/auth/jwt/config.ts and
// src/authz/config.ts) so most mistakes show while typing. The server stays the judge:
// whatever it still refuses comes back with a message and a path, shown on the field.
// Pure functions (no DOM), so they can be tested in Node.

export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/
export const DESCRIPTION_MAX = 128
export const REFRESH_MIN = 60
export const REFRESH_MAX = 1000
export const REFRESH_DEFAULT = 60
export const HMAC_MIN_BYTES = 32
export const WELL_KNOWN = '/.well-known/jwks.json'

/** Characters as the server counts them (code points). @param {string} s */
export const charCount = (s) => [...s].length

/** @param {string} s */
function utf8Bytes(s) {
  return new TextEncoder().encode(s).length
}

/** Decoded length of base64 / base64url text, or -1 when it is not base64. @param {string} s */
export function base64Bytes(s) {
  const t = s.trim()
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return -1
  const body = t.replace(/=+$/, '')
  return Math.floor((body.length * 3) / 4)
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/

/** Checks PEM content for a public key: '' when fine, else the reason. @param {string} pem */
export function pemProblem(pem) {
  const text = pem.trim()
  if (text === '') return 'is required (PEM content)'
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return 'is a private key; paste the public key (or the certificate) instead'
  const m = PEM.exec(text)
  if (m === null) {
    if (text.includes('-----BEGIN')) return 'the PEM block is incomplete (its -----END …----- line is missing or does not match)'
    return 'must be PEM: -----BEGIN PUBLIC KEY-----, -----BEGIN RSA PUBLIC KEY----- or -----BEGIN CERTIFICATE-----'
  }
  const label = m[1]
  if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY' && label !== 'CERTIFICATE') return `holds a "${label}" block; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE`
  return ''
}

/** @param {string} hostname */
function isLoopback(hostname) {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

/**
 * Validates the authenticator form's values.
 * @param {Record<string, any>} v  name, type, from, algorithm, secret, secretBase64, publicKey,
 *   source ('endpoint'|'text'), endpoint, refreshInterval, text, description, leeway, maxAge,
 *   issuer, audience, editing, hasSecret (the stored entry has an HMAC secret), storedSecretBase64,
 *   match (claims.match rows: [{ claim, template }])
 * @returns {{ errors: Record<string, string>, warnings: Record<string, string> }}
 */
export function validateAuthenticator(v) {
  /** @type {Record<string, string>} */
  const errors = {}
  /** @type {Record<string, string>} */
  const warnings = {}
  const name = String(v.name ?? '')
  if (name === '') errors.name = 'is required'
  else if (!NAME.test(name)) errors.name = 'must be 1..64 characters: letters, digits, and _ . : - (starting with a letter or digit)'
  const tokenType = v.type === 'jwt' || v.type === 'jwks' || v.type === 'introspection'
  if (tokenType && v.from !== 'username' && v.from !== 'password') errors.from = 'must be username or password'
  const description = String(v.description ?? '')
  if (charCount(description) > DESCRIPTION_MAX) errors.description = `must be at most ${DESCRIPTION_MAX} characters (got ${charCount(description)})`

  if (v.type === 'jwt') {
    if (v.algorithm === 'hmac-based') {
      const secret = String(v.secret ?? '')
      if (secret === '') {
        // Editing an entry that has a secret: left empty, the server keeps the stored one
        // (PUT without `secret`), but only with the encoding it was stored with.
        if (!(v.editing && v.hasSecret)) errors.secret = 'is required for the HMAC-based signature method'
        else if (Boolean(v.secretBase64) !== Boolean(v.storedSecretBase64)) errors.secret = 'enter the secret again to change its encoding (base64)'
      } else if (secret.includes('-----BEGIN')) {
        errors.secret = 'looks like a PEM key; choose the public-key signature method for it'
      } else {
        const bytes = v.secretBase64 ? base64Bytes(secret) : utf8Bytes(secret)
        if (bytes < 0) errors.secret = 'is not valid base64'
        else if (bytes < HMAC_MIN_BYTES) errors.secret = `is ${bytes} bytes; an HMAC secret must be at least ${HMAC_MIN_BYTES} bytes (HS256; 48 for HS384, 64 for HS512)`
      }
    } else if (v.algorithm === 'public-key') {
      const problem = pemProblem(String(v.publicKey ?? ''))
      if (problem !== '') errors.publicKey = problem
    } else {
      errors.algorithm = 'choose HMAC-based or public-key'
    }
  } else if (v.type === 'jwks') {
    if (v.source === 'text') {
      const text = String(v.text ?? '').trim()
      if (text === '') errors.text = 'is required (paste the content of a jwks.json)'
      else {
        try {
          const doc = JSON.parse(text)
          if (!doc || typeof doc !== 'object' || !Array.isArray(doc.keys)) errors.text = 'must be a JSON object with a "keys" list'
          else if (doc.keys.length === 0) errors.text = 'holds no keys'
          else {
            const bad = doc.keys.findIndex((k) => !k || typeof k !== 'object' || typeof k.kty !== 'string')
            if (bad >= 0) errors.text = `keys[${bad}] has no "kty"`
            else if (doc.keys.some((k) => typeof k.d === 'string')) errors.text = 'holds a private key ("d"); publish public keys only'
          }
        } catch (err) {
          errors.text = `is not JSON: ${err instanceof Error ? err.message : String(err)}`
        }
      }
    } else {
      const endpoint = String(v.endpoint ?? '').trim()
      if (endpoint === '') errors.endpoint = 'is required (the issuer address)'
      else {
        let url
        try {
          url = new URL(endpoint)
        } catch {
          errors.endpoint = 'is not a valid URL'
        }
        if (url !== undefined) {
          if (url.protocol !== 'http:' && url.protocol !== 'https:') errors.endpoint = 'must be an http:// or https:// address'
          else if (/jwks\.json$/i.test(url.pathname)) warnings.endpoint = `enter the address without ${WELL_KNOWN}; it is appended (an address ending in jwks.json is used as is)`
          else if (url.protocol === 'http:' && !isLoopback(url.hostname)) warnings.endpoint = 'keys fetched over plain http can be tampered with; use https'
        }
      }
      const r = v.refreshInterval
      if (r !== '' && r !== undefined && r !== null) {
        const n = Number(r)
        if (!Number.isInteger(n) || n < REFRESH_MIN || n > REFRESH_MAX) errors.refreshInterval = `must be a whole number of seconds from ${REFRESH_MIN} to ${REFRESH_MAX}`
      }
    }
  } else if (v.type === 'introspection' || v.type === 'http' || v.type === 'x509') {
    Object.assign(errors, serviceProblems(v))
  } else {
    errors.type = 'choose a method'
  }
  if (!tokenType) return { errors, warnings }

  if (v.leeway !== '' && v.leeway !== undefined && v.leeway !== null) {
    const n = Number(v.leeway)
    if (!Number.isFinite(n) || n < 0 || n > 300) errors.leeway = 'must be 0..300 seconds'
  }
  if (v.maxAge !== '' && v.maxAge !== undefined && v.maxAge !== null) {
    const n = Number(v.maxAge)
    if (!Number.isFinite(n) || n < 1 || n > 366 * 24 * 3600) errors.maxAge = 'must be 1..31622400 seconds'
  }
  const match = claimsMatchProblems(v.match ?? [], v.from)
  if (match.error !== '') errors.match = match.error
  if (match.warning !== '') warnings.match = match.warning
  return { errors, warnings }
}

/** The client certificate's placeholders (src/auth/certificate.ts). */
export const CERT_PLACEHOLDERS = ['cert_cn', 'cert_fingerprint', 'cert_serial', 'cert_san_dns', 'cert_san_uri', 'cert_san_email', 'cert_san_ip']

/** An http(s) URL's problem, or ''. @param {string} text */
function serviceUrlProblem(text) {
  if (text === '') return 'is required'
  let url
  try {
    url = new URL(text)
  } catch {
    return 'is not a valid URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// address'
  if (url.username !== '' || url.password !== '') return 'must not hold credentials (use the client id and secret)'
  return ''
}

/**
 * Introspection, http and x509 entries (as src/auth/introspection/config.ts, http/config.ts,
 * x509/config.ts): field name → problem.
 * @param {Record<string, any>} v
 */
export function serviceProblems(v) {
  /** @type {Record<string, string>} */
  const errors = {}
  if (v.type === 'introspection') {
    const endpoint = serviceUrlProblem(String(v.introspectionEndpoint ?? ''))
    if (endpoint !== '') errors.introspectionEndpoint = endpoint
    if (String(v.introspectionClientId ?? '') === '') errors.introspectionClientId = 'is required'
    if (String(v.clientSecret ?? '') === '' && !(v.editing && v.hasSecret && v.storedType === 'introspection')) errors.clientSecret = 'is required'
  } else if (v.type === 'http') {
    const url = serviceUrlProblem(String(v.httpUrl ?? ''))
    if (url !== '') errors.httpUrl = url
  }
  return errors
}

/**
 * A claims.match template's problem, or '' (as src/auth/jwt/claims.ts compileTemplate and
 * the `from: username` rule in src/auth/jwt/config.ts).
 * @param {string} template @param {string} [from]
 */
export function templateProblem(template, from) {
  for (const m of template.matchAll(/\$\{([^}]*)\}/g)) {
    const name = m[1] ?? ''
    if (name === 'clientid') continue
    if (name === 'username') {
      if (from === 'username') return '${username} cannot be used when the token itself is read from the username (from: username)'
      continue
    }
    if (name.startsWith('claims.') && name.length > 'claims.'.length) continue
    if (CERT_PLACEHOLDERS.includes(name)) continue
    return `unknown placeholder \${${name}} (use \${clientid}, \${username}, \${claims.NAME} or \${cert_cn} and the other \${cert_*})`
  }
  return ''
}

/**
 * The claims.match rows: each claim must equal its template once filled in. Beyond the
 * server's rules, a claim name is required and used once (a JSON object cannot hold it twice).
 * @param {Array<{ claim: string, template: string }>} rows @param {string} [from]
 * @returns {{ error: string, warning: string, row: number }}  row: the offending row's index, or -1
 */
export function claimsMatchProblems(rows, from) {
  const seen = new Set()
  let warning = ''
  for (let i = 0; i < rows.length; i++) {
    const claim = String(rows[i]?.claim ?? '').trim()
    const template = String(rows[i]?.template ?? '')
    const at = claim === '' ? `row ${i + 1}` : claim
    if (claim === '') return { error: `${at}: the claim name is required`, warning, row: i }
    if (seen.has(claim)) return { error: `${at}: is listed twice`, warning, row: i }
    seen.add(claim)
    const problem = templateProblem(template, from)
    if (problem !== '') return { error: `${at}: ${problem}`, warning, row: i }
    if (template === '' && warning === '') warning = `${at}: an empty template matches only an empty claim`
  }
  return { error: '', warning, row: -1 }
}

export const CLAIM_NAME_MAX = 256

/**
 * The authorization settings form (src/authz/config.ts parseAuthorizationConfig): noMatch,
 * aclClaim (required), superuserClaim ('' = off).
 * @param {{ noMatch?: string, aclClaim?: string, superuserClaim?: string }} v
 * @param {{ allowPolicies?: boolean }} [context]  whether some policy allows publish or subscribe
 */
export function validateAuthorizationSettings(v, context = {}) {
  /** @type {Record<string, string>} */
  const errors = {}
  /** @type {Record<string, string>} */
  const warnings = {}
  if (v.noMatch !== 'allow' && v.noMatch !== 'deny') errors.noMatch = 'choose allow or deny'
  const acl = String(v.aclClaim ?? '')
  // The server counts UTF-16 code units here (String length).
  if (acl.length === 0 || acl.length > CLAIM_NAME_MAX) errors.aclClaim = `must be a claim name (1..${CLAIM_NAME_MAX} characters)`
  const superuser = String(v.superuserClaim ?? '')
  if (superuser.length > CLAIM_NAME_MAX) errors.superuserClaim = `must be a claim name (1..${CLAIM_NAME_MAX} characters), or empty for none`
  else if (superuser !== '' && superuser === acl) warnings.superuserClaim = 'is the ACL claim too: a claim that holds an ACL is never literally true'
  if (v.noMatch === 'allow') warnings.noMatch = 'publish and subscribe that no token ACL rule or policy matched are allowed'
  else if (v.noMatch === 'deny' && context.allowPolicies === false) {
    warnings.noMatch = `no policy allows publish or subscribe: a client may publish or subscribe only when its token's "${acl || 'acl'}" claim allows it${superuser ? ` or its "${superuser}" claim is true` : ''}`
  }
  return { errors, warnings }
}

/** A topic filter's problem, or ''. @param {string} t */
export function topicFilterProblem(t) {
  const levels = t.split('/')
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] ?? ''
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return "'#' must be the last level, on its own"
    if (l.includes('+') && l !== '+') return "'+' must occupy a whole level"
  }
  return ''
}

/** 'a' | 'a/24' → '' or the reason. @param {string} s */
export function ipProblem(s) {
  const [addr, prefix, extra] = s.split('/')
  if (extra !== undefined) return 'must be an address or CIDR'
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr ?? '')
  let max
  if (v4 !== null) {
    if (v4.slice(1).some((o) => Number(o) > 255)) return `${addr} is not an IPv4 address`
    max = 32
  } else if (/^[0-9a-fA-F:.]+$/.test(addr ?? '') && (addr ?? '').includes(':')) {
    max = 128
  } else {
    return `${addr} is not an IP address`
  }
  if (prefix !== undefined && (!/^\d+$/.test(prefix) || Number(prefix) > max)) return `CIDR prefix must be an integer 0..${max}`
  return ''
}

/**
 * Validates the policy form's values.
 * @param {Record<string, any>} v  name, priority, effect, actions[], topics[], clientId, username, ip[], qos[], retain, description
 */
export function validatePolicy(v) {
  /** @type {Record<string, string>} */
  const errors = {}
  const name = String(v.name ?? '')
  if (charCount(name) < 3 || charCount(name) > 64) errors.name = 'must be 3..64 characters'
  else if (name.trim() !== name) errors.name = 'must not start or end with white space'
  else if (/[\u0000-\u001f\u007f]/.test(name)) errors.name = 'must not contain control characters'
  if (v.priority === '' || v.priority === undefined || !Number.isSafeInteger(Number(v.priority))) errors.priority = 'must be an integer (smaller is evaluated first)'
  if (v.effect !== 'allow' && v.effect !== 'deny') errors.effect = 'choose allow or deny'
  const actions = /** @type {string[]} */ (v.actions ?? [])
  if (actions.length === 0) errors.actions = 'choose at least one action'
  const usesTopics = actions.includes('publish') || actions.includes('subscribe')
  const topics = /** @type {string[]} */ (v.topics ?? [])
  if (usesTopics && topics.length === 0) errors.topics = 'at least one topic filter is required for publish or subscribe'
  if (!usesTopics && topics.length > 0 && actions.length > 0) errors.topics = 'is not used for connect-only policies'
  for (const t of topics) {
    const p = topicFilterProblem(t)
    if (p !== '') { errors.topics = `"${t}": ${p}`; break }
  }
  if (v.clientId) {
    try {
      new RegExp(v.clientId)
    } catch (err) {
      errors.clientId = `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`
    }
  }
  for (const ip of /** @type {string[]} */ (v.ip ?? [])) {
    const p = ipProblem(ip)
    if (p !== '') { errors.ip = p; break }
  }
  if ((v.qos ?? []).length > 0 && !usesTopics) errors.qos = 'applies to publish and subscribe only'
  if (v.retain !== undefined && v.retain !== 'any' && !actions.includes('publish')) errors.retain = 'applies to publish only'
  const description = String(v.description ?? '')
  if (charCount(description) > DESCRIPTION_MAX) errors.description = `must be at most ${DESCRIPTION_MAX} characters (got ${charCount(description)})`
  return { errors, warnings: /** @type {Record<string, string>} */ ({}) }
}
