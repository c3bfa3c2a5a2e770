/**
 * Client certificates (tls/wss listeners with `requestCert`): what the TLS handshake's
 * verification said, turned into a PeerCertificate or the error that refuses the client, and
 * the certificate's fields as identity claims and `${cert_*}` placeholders — one place for
 * the x509 authenticator, policies, claims.match and the HTTP authenticator's templates.
 *
 * Certificate fields are public (they are sent in clear in TLS 1.2 handshakes); logging the
 * subject, serial and fingerprint names the client without revealing a secret.
 */
import type { DetailedPeerCertificate, PeerCertificate as TlsPeerCertificate, TLSSocket } from 'node:tls'
import { PortcullisError, type ErrorCode } from '../errors.js'
import type { PeerCertificate } from './types.js'

/** What a client presented in the handshake, as its connection keeps it until CONNECT. */
export type PresentedCertificate =
  /** `der`: the certificate as sent, to find it in a CRL that changes while it is connected. */
  | { readonly ok: true; readonly certificate: PeerCertificate; readonly der: Buffer }
  /** No certificate, or one the handshake did not verify; `certificate` when one was sent. */
  | { readonly ok: false; readonly error: PortcullisError; readonly certificate?: PeerCertificate }

/** `${cert_…}` placeholders, each a certificate field (the first SAN of its kind). */
export const CERT_PLACEHOLDERS = ['cert_cn', 'cert_fingerprint', 'cert_serial', 'cert_san_dns', 'cert_san_uri', 'cert_san_email', 'cert_san_ip'] as const
export type CertPlaceholder = (typeof CERT_PLACEHOLDERS)[number]

/** The fields an x509 authenticator's `identity` block may name. */
export const CERT_IDENTITY_FIELDS = ['cn', 'fingerprint', 'serial', 'san.dns', 'san.uri', 'san.email', 'san.ip'] as const

export function isCertPlaceholder(name: string): name is CertPlaceholder {
  return (CERT_PLACEHOLDERS as readonly string[]).includes(name)
}

const SAN_PREFIX = { dns: 'DNS:', uri: 'URI:', email: 'email:', ip: 'IP Address:' } as const

function firstSan(cert: PeerCertificate, kind: keyof typeof SAN_PREFIX): string | undefined {
  const prefix = SAN_PREFIX[kind]
  const entry = cert.san.find((s) => s.startsWith(prefix))
  return entry === undefined ? undefined : entry.slice(prefix.length)
}

/** The value a `${cert_…}` placeholder stands for; undefined without a certificate or that field. */
export function certPlaceholderValue(cert: PeerCertificate | undefined, name: CertPlaceholder): string | undefined {
  if (cert === undefined) return undefined
  switch (name) {
    case 'cert_cn': return cert.cn
    case 'cert_fingerprint': return cert.fingerprint256
    case 'cert_serial': return cert.serialNumber
    case 'cert_san_dns': return firstSan(cert, 'dns')
    case 'cert_san_uri': return firstSan(cert, 'uri')
    case 'cert_san_email': return firstSan(cert, 'email')
    case 'cert_san_ip': return firstSan(cert, 'ip')
  }
}

/** The certificate as claims for identityFromClaims: `cn`, `fingerprint`, `serial`, `san.dns|uri|email|ip`. */
export function certificateClaims(cert: PeerCertificate): Readonly<Record<string, unknown>> {
  const san: Record<string, string> = {}
  for (const kind of Object.keys(SAN_PREFIX) as (keyof typeof SAN_PREFIX)[]) {
    const v = firstSan(cert, kind)
    if (v !== undefined) san[kind] = v
  }
  return Object.freeze({
    ...(cert.cn !== undefined ? { cn: cert.cn } : {}),
    fingerprint: cert.fingerprint256,
    serial: cert.serialNumber,
    san: Object.freeze(san),
  })
}

/** `CN=device-1, serial 1001, issuer CN=Test CA` — for log lines and refusal reasons. */
export function describeCertificate(cert: PeerCertificate): string {
  return `CN=${cert.cn ?? '(none)'}, serial ${cert.serialNumber}, issuer ${cert.issuer}`
}

/**
 * Node prints subjectAltName as `DNS:a, IP Address:1.2.3.4, URI:…` and quotes (JSON) a value
 * that holds a comma or a quote.
 */
function parseSubjectAltName(text: string | undefined): string[] {
  if (text === undefined || text === '') return []
  const out: string[] = []
  const re = /(DNS|URI|IP Address|email|othername|DirName|Registered ID):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g
  for (const m of text.matchAll(re)) {
    let value = m[2]
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string
      } catch {
        continue
      }
    }
    out.push(`${m[1]}:${value}`)
  }
  return out
}

function lastValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v
}

function distinguishedName(dn: TlsPeerCertificate['issuer'] | undefined): string {
  if (dn === undefined) return ''
  return Object.entries(dn).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ')
}

/** Node's peer certificate → ours. */
export function toPeerCertificate(raw: TlsPeerCertificate | DetailedPeerCertificate): PeerCertificate {
  return Object.freeze({
    cn: lastValue(raw.subject?.CN),
    san: Object.freeze(parseSubjectAltName(raw.subjectaltname)),
    fingerprint256: raw.fingerprint256,
    serialNumber: raw.serialNumber,
    issuer: distinguishedName(raw.issuer),
    validFrom: Date.parse(raw.valid_from),
    validTo: Date.parse(raw.valid_to),
  })
}

/** OpenSSL verification results (Node's `authorizationError` codes) → our error codes. */
function verifyErrorCode(reason: string): ErrorCode {
  switch (reason) {
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'ERR_CERT_EXPIRED'
    case 'CERT_REVOKED':
      return 'ERR_CERT_REVOKED'
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
      return 'ERR_CERT_UNTRUSTED'
    default:
      return 'ERR_CERT_INVALID'
  }
}

/** Readable words for the verification result in a refusal (OpenSSL's code kept beside them). */
function verifyErrorText(code: ErrorCode, reason: string): string {
  switch (code) {
    case 'ERR_CERT_EXPIRED': return reason === 'CERT_NOT_YET_VALID' ? 'client certificate not yet valid' : 'client certificate expired'
    case 'ERR_CERT_REVOKED': return 'client certificate revoked (listed in the CRL)'
    case 'ERR_CERT_UNTRUSTED': return 'client certificate not issued by a CA this listener trusts'
    default: return 'client certificate not accepted'
  }
}

/**
 * What a TLS socket's handshake verified, on a listener that requests certificates. The
 * listener completes the handshake whatever the verification said (rejectUnauthorized off), so
 * that the client is told why in a CONNACK instead of a bare TLS alert.
 */
export function presentedCertificate(socket: TLSSocket): PresentedCertificate {
  const raw = socket.getPeerCertificate()
  // An empty object when the client sent no certificate.
  const certificate = raw !== null && typeof raw === 'object' && typeof raw.fingerprint256 === 'string' ? toPeerCertificate(raw) : undefined
  if (certificate === undefined) {
    return { ok: false, error: new PortcullisError('ERR_CERT_MISSING', 'no client certificate: this listener requires one (requestCert)') }
  }
  if (socket.authorized) return { ok: true, certificate, der: raw.raw }
  const reason = String(socket.authorizationError ?? 'UNKNOWN')
  const code = verifyErrorCode(reason)
  return { ok: false, certificate, error: new PortcullisError(code, `${verifyErrorText(code, reason)} (${reason}; ${describeCertificate(certificate)})`) }
}
