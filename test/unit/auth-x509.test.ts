/**
 * The x509 authenticator's configuration, the certificate fields it reads (as Node's TLS layer
 * reports them for a real openssl-made certificate), the listener keys it needs, and the
 * chain's `vouch` answer (certificate AND token).
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import { certPlaceholderValue, certificateClaims, toPeerCertificate } from '../../src/auth/certificate.js'
import { AuthenticatorChain } from '../../src/auth/chain.js'
import { revocationKeyOf, revokedCertificates } from '../../src/auth/crl.js'
import { parseAuthenticatorsConfig } from '../../src/auth/config.js'
import { createAuthenticators } from '../../src/auth/create.js'
import type { PeerCertificate } from '../../src/auth/types.js'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { TestCa } from '../helpers/certs.js'
import { hmacWith, now, withPassword } from '../helpers/tokens.js'

const ca = TestCa.create()
after(() => ca.remove())
const issued = ca.issue('device-7', { san: ['DNS:device-7.example', 'URI:urn:dev:7', 'email:ops@example.com', 'IP:10.1.2.3'] })
const x = new X509Certificate(issued.cert)

/** What tls.TLSSocket#getPeerCertificate() gives for it (the fields toPeerCertificate reads). */
const peer: PeerCertificate = toPeerCertificate({
  subject: { CN: 'device-7' }, issuer: { CN: ca.name }, subjectaltname: x.subjectAltName ?? '',
  fingerprint256: x.fingerprint256, serialNumber: x.serialNumber, valid_from: x.validFrom, valid_to: x.validTo,
} as unknown as Parameters<typeof toPeerCertificate>[0])

const SECRET = 'x509-unit-test-hmac-secret-of-32-bytes!!'

describe('x509: certificate fields', () => {
  it('CN, SANs by kind, fingerprint, serial and dates come from the certificate', () => {
    assert.equal(peer.cn, 'device-7')
    assert.deepEqual(peer.san, ['DNS:device-7.example', 'URI:urn:dev:7', 'email:ops@example.com', 'IP Address:10.1.2.3'])
    assert.equal(certPlaceholderValue(peer, 'cert_san_dns'), 'device-7.example')
    assert.equal(certPlaceholderValue(peer, 'cert_san_uri'), 'urn:dev:7')
    assert.equal(certPlaceholderValue(peer, 'cert_san_email'), 'ops@example.com')
    assert.equal(certPlaceholderValue(peer, 'cert_san_ip'), '10.1.2.3')
    assert.equal(certPlaceholderValue(peer, 'cert_fingerprint'), x.fingerprint256)
    assert.equal(certPlaceholderValue(undefined, 'cert_cn'), undefined)
    assert.equal(peer.validTo, Date.parse(x.validTo))
    assert.deepEqual(certificateClaims(peer), { cn: 'device-7', fingerprint: x.fingerprint256, serial: x.serialNumber, san: { dns: 'device-7.example', uri: 'urn:dev:7', email: 'ops@example.com', ip: '10.1.2.3' } })
  })
})

describe('x509: configuration', () => {
  const parse = (entry: Record<string, unknown>): unknown => parseAuthenticatorsConfig([entry], 'authentication.authenticators')[0]
  it('defaults: no identity, requireToken false, disconnectOnExpiry true', () => {
    assert.deepEqual(parse({ type: 'x509' }), { type: 'x509', name: 'x509-0', enabled: true, requireToken: false, disconnectOnExpiry: true })
  })
  it('identity fields must be certificate fields; unknown keys are named', () => {
    assert.throws(() => parse({ type: 'x509', identity: { username: 'sub' } }), /identity\.username: must be a certificate field: cn, fingerprint/)
    assert.throws(() => parse({ type: 'x509', secret: 'x' }), /authenticators\[0\]\.secret/)
    assert.deepEqual((parse({ type: 'x509', identity: { clientId: 'san.uri' }, clientIdMode: 'override' }) as { identity: unknown }).identity, { clientId: 'san.uri', clientIdMode: 'override' })
  })
  it('listeners: requestCert needs a ca and a tls/wss listener; crl needs requestCert', () => {
    const tls = { type: 'tls', cert: 'a.crt', key: 'a.key' }
    assert.throws(() => validateConfig({ listeners: [{ ...tls, requestCert: true }] }), /listeners\[0\]\.ca: is required with requestCert/)
    assert.throws(() => validateConfig({ listeners: [{ type: 'tcp', requestCert: true }] }), /listeners\[0\]\.requestCert: is only used on tls and wss/)
    assert.throws(() => validateConfig({ listeners: [{ ...tls, ca: 'ca.crt', crl: 'c.pem' }] }), /listeners\[0\]\.crl: is only used with requestCert/)
    assert.equal(validateConfig({ listeners: [{ ...tls, ca: 'ca.crt', requestCert: true, crl: 'c.pem' }] }).listeners[0]?.crl, 'c.pem')
  })
})

describe('x509: in the chain', () => {
  const chain = (entries: Record<string, unknown>[]): AuthenticatorChain =>
    new AuthenticatorChain(createAuthenticators(parseAuthenticatorsConfig(entries, 'a'), { logger: silentLogger() }), { allowAnonymous: false })
  const withCert = (token?: string) => ({ ...withPassword(token ?? ''), ...(token === undefined ? { password: undefined } : {}), certificate: peer })

  it('alone: the certificate is the credential; identity from its fields; expires with it', async () => {
    const r = await chain([{ type: 'x509', name: 'dev', identity: { username: 'cn', clientId: 'san.dns' } }]).authenticate(withCert())
    assert.ok(r.ok)
    assert.equal(r.identity.username, 'device-7')
    assert.equal(r.identity.clientId, 'device-7.example')
    assert.equal(r.identity.expiresAt, peer.validTo)
    assert.equal(r.identity.certificate, peer)
  })
  it('no certificate: passed on with ERR_CERT_MISSING; a field the certificate lacks: ERR_IDENTITY_CLAIM', async () => {
    const r = await chain([{ type: 'x509' }]).authenticate(withPassword('x'))
    assert.equal(r.ok, false)
    if (!r.ok) assert.equal(r.reasons?.[0]?.code, 'ERR_CERT_MISSING')
    const noSan = { ...withCert(), certificate: { ...peer, san: [] } }
    const d = await chain([{ type: 'x509', identity: { clientId: 'san.uri' } }]).authenticate(noSan)
    assert.equal(d.ok, false)
    if (!d.ok) assert.equal(d.error.code, 'ERR_IDENTITY_CLAIM')
  })
  it('requireToken: the certificate vouches, the token must be accepted too; the token can be bound to ${cert_cn}', async () => {
    const c = chain([
      { type: 'x509', name: 'dev', identity: { clientId: 'cn' }, requireToken: true },
      { type: 'jwt', name: 'rights', algorithm: 'hmac-based', from: 'password', secret: SECRET, claims: { match: { sub: '${cert_cn}' } } },
    ])
    const ok = await c.authenticate(withCert(hmacWith(SECRET, { sub: 'device-7', exp: now() + 60 })))
    assert.ok(ok.ok)
    assert.equal(ok.identity.authenticator, 'rights')
    assert.equal(ok.identity.vouchedBy, 'dev')
    assert.equal(ok.identity.clientId, 'device-7')
    assert.equal(ok.identity.expiresAt, (now() + 60) * 1000)
    const none = await c.authenticate(withCert())
    assert.equal(none.ok, false)
    if (!none.ok) assert.match(none.error.message, /accepted by 'dev', which requires a token as well/)
    const other = await c.authenticate(withCert(hmacWith(SECRET, { sub: 'device-8', exp: now() + 60 })))
    assert.equal(other.ok, false)
    if (!other.ok) assert.equal(other.error.code, 'ERR_JWT_CLAIM_MISMATCH')
  })
})

describe('x509: CRL entries (for clients already connected when the CRL changes)', () => {
  it('lists the revoked certificates of an openssl CRL by issuer and serial; others are not listed; garbage throws', () => {
    const revoked = ca.issue('device-stolen')
    const kept = ca.issue('device-kept')
    ca.revoke(revoked)
    const listed = revokedCertificates(readFileSync(ca.writeCrl(), 'utf8'))
    assert.equal(listed.size, 1)
    assert.ok(listed.has(revocationKeyOf(new X509Certificate(revoked.cert).raw)))
    assert.ok(!listed.has(revocationKeyOf(new X509Certificate(kept.cert).raw)))
    const other = TestCa.create('Another CA')
    try {
      // the same serial from another CA is another certificate (serials count up from the same start)
      other.issue('filler')
      const twin = other.issue('device-stolen')
      assert.equal(new X509Certificate(twin.cert).serialNumber, new X509Certificate(revoked.cert).serialNumber)
      assert.ok(!listed.has(revocationKeyOf(new X509Certificate(twin.cert).raw)))
    } finally {
      other.remove()
    }
    assert.throws(() => revokedCertificates('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----'))
    assert.throws(() => revokedCertificates('not a crl'))
  })
})
