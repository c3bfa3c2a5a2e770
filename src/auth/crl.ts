/**
 * Which certificates a CRL revokes, read from its DER (RFC 5280 §5.1) — only so that, when a
 * listener's CRL file changes, clients already connected with a certificate it now lists can
 * be disconnected. New handshakes are checked by OpenSSL against the same file (which also
 * checks the CRL's signature); this reader only lists (issuer, serial) pairs and is used on a
 * file OpenSSL has just accepted. Node has no CRL parser; the few fields needed are read with
 * a small DER walker. Every read is bounds-checked; a malformed file throws.
 *
 *   CertificateList ::= SEQUENCE { tbsCertList SEQUENCE { version INTEGER OPTIONAL,
 *     signature AlgorithmIdentifier, issuer Name, thisUpdate Time, nextUpdate Time OPTIONAL,
 *     revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, … } OPTIONAL, … }, … }
 *   Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
 *     serialNumber INTEGER, signature AlgorithmIdentifier, issuer Name, … }, … }
 */

const SEQUENCE = 0x30
const INTEGER = 0x02
const UTC_TIME = 0x17
const GENERALIZED_TIME = 0x18
const VERSION_TAG = 0xa0

interface Tlv {
  readonly tag: number
  readonly start: number
  readonly contentStart: number
  readonly end: number
}

function readTlv(der: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error('truncated DER')
  const tag = der[pos]
  let length = der[pos + 1]
  let off = pos + 2
  if (length & 0x80) {
    const n = length & 0x7f
    if (n === 0 || n > 4 || off + n > limit) throw new Error('bad DER length')
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + (der[off++])
  }
  if (off + length > limit) throw new Error('DER value runs past its container')
  return { tag, start: pos, contentStart: off, end: off + length }
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let p = parent.contentStart; p < parent.end;) {
    const c = readTlv(der, p, parent.end)
    out.push(c)
    p = c.end
  }
  return out
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw new Error(`expected ${what}`)
  return t
}

/** An INTEGER's value as upper-case hex without leading zeros (as Node prints serialNumber). */
function serialHex(der: Buffer, t: Tlv): string {
  return der.subarray(t.contentStart, t.end).toString('hex').toUpperCase().replace(/^0+(?=.)/, '')
}

/** `issuer DER (hex)/serial (hex)`: one certificate, as a CRL entry and a certificate both name it. */
function key(der: Buffer, issuer: Tlv, serial: string): string {
  return `${der.subarray(issuer.start, issuer.end).toString('hex')}/${serial}`
}

/** The certificates a PEM file of CRLs (one or more `X509 CRL` blocks) revokes, as revocationKeyOf keys. */
export function revokedCertificates(pem: string): Set<string> {
  const out = new Set<string>()
  const blocks = [...pem.matchAll(/-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/g)]
  if (blocks.length === 0) throw new Error('no X509 CRL block')
  for (const block of blocks) {
    const der = Buffer.from((block[1]).replace(/\s+/g, ''), 'base64')
    const list = expect(readTlv(der, 0, der.length), SEQUENCE, 'a CertificateList')
    const tbs = children(der, expect(children(der, list)[0], SEQUENCE, 'tbsCertList'))
    let i = tbs[0]?.tag === INTEGER ? 1 : 0
    i++ // signature algorithm
    const issuer = expect(tbs[i++], SEQUENCE, 'an issuer Name')
    i++ // thisUpdate
    if (tbs[i]?.tag === UTC_TIME || tbs[i]?.tag === GENERALIZED_TIME) i++
    const revoked = tbs[i]
    if (revoked === undefined || revoked.tag !== SEQUENCE) continue
    for (const entry of children(der, revoked)) {
      const serial = expect(children(der, expect(entry, SEQUENCE, 'a revoked entry'))[0], INTEGER, 'a serial number')
      out.add(key(der, issuer, serialHex(der, serial)))
    }
  }
  return out
}

/** A certificate's (DER) key in the set revokedCertificates returns. */
export function revocationKeyOf(certDer: Buffer): string {
  const cert = expect(readTlv(certDer, 0, certDer.length), SEQUENCE, 'a Certificate')
  const tbs = children(certDer, expect(children(certDer, cert)[0], SEQUENCE, 'tbsCertificate'))
  let i = tbs[0]?.tag === VERSION_TAG ? 1 : 0
  const serial = expect(tbs[i++], INTEGER, 'a serial number')
  i++ // signature algorithm
  const issuer = expect(tbs[i], SEQUENCE, 'an issuer Name')
  return key(certDer, issuer, serialHex(certDer, serial))
}
