/**
 * `type: x509`: the client certificate its tls/wss listener verified (requestCert, `ca`,
 * `crl`) is the credential. The listener refuses missing, expired, revoked and untrusted
 * certificates before the chain runs (handlers/connect.ts), so what reaches here is verified:
 *
 *   no certificate (tcp/ws listener, or no requestCert)  → ignore (not mine)
 *   identity field missing or unusable                   → deny ERR_IDENTITY_CLAIM
 *   good, requireToken: false                            → allow (until the certificate's notAfter)
 *   good, requireToken: true                             → vouch: a later authenticator must
 *                                                          accept the client's token too
 *
 * The certificate's fields are the identity's claims (`cn`, `fingerprint`, `serial`,
 * `san.dns`…), so `${claims.cn}` and `${cert_cn}` both work in policies.
 */
import { PortcullisError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { certificateClaims, describeCertificate } from '../certificate.js'
import { describeIdentity, identityFromClaims } from '../identity.js'
import type { AuthenticatorReport, AuthenticatorStats, AuthenticatorStatus, ManagedAuthenticator } from '../managed.js'
import { OutcomeCounts } from '../outcome-counts.js'
import type { AuthOutcome, Credentials, Identity } from '../types.js'
import type { X509AuthenticatorConfig } from './config.js'
import { clock } from '../../clock.js'

const NO_CACHE = Object.freeze({ entries: 0, bytes: 0 })

export class X509Authenticator implements ManagedAuthenticator {
  readonly type = 'x509' as const
  readonly name: string
  readonly enabled: boolean
  readonly authMethods: readonly string[] = Object.freeze([])
  readonly config: X509AuthenticatorConfig
  readonly #counts: OutcomeCounts
  readonly #startedAt = clock.now()

  constructor(config: X509AuthenticatorConfig, options: { readonly logger: Logger }) {
    this.config = config
    this.name = config.name
    this.enabled = config.enabled
    this.#counts = new OutcomeCounts(options.logger.child({ authenticator: config.name }))
  }

  authenticate(credentials: Credentials): AuthOutcome {
    const cert = credentials.certificate
    if (cert === undefined) {
      return this.#counts.ignore(new PortcullisError('ERR_CERT_MISSING', 'no verified client certificate (connect to a tls/wss listener with requestCert)'), credentials)
    }
    // The handshake checked the dates; a re-authentication may come later.
    if (cert.validTo <= clock.now()) {
      return this.#counts.deny(new PortcullisError('ERR_CERT_EXPIRED', `client certificate expired at ${new Date(cert.validTo).toISOString()} (${describeCertificate(cert)})`), credentials)
    }
    const claims = certificateClaims(cert)
    const claimed = identityFromClaims(this.config.identity, claims)
    if (claimed instanceof PortcullisError) {
      return this.#counts.deny(new PortcullisError(claimed.code, `client certificate (${describeCertificate(cert)}): ${claimed.message.replace('claim ', 'field ')}`), credentials)
    }
    const identity: Identity = {
      ...claimed,
      authenticator: this.name,
      anonymous: false,
      claims,
      expiresAt: cert.validTo,
      disconnectOnExpiry: this.config.disconnectOnExpiry,
    }
    const allowed = this.#counts.allow(identity, credentials)
    return this.config.requireToken ? { result: 'vouch', identity } : allowed
  }

  start(): Promise<void> {
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }

  refreshKeys(): Promise<boolean> {
    return Promise.resolve(false)
  }

  /** Nothing to load: certificates are verified by the listener's CA bundle and CRL. */
  status(): AuthenticatorStatus {
    return {
      name: this.name, type: this.type, enabled: this.enabled, state: this.enabled ? 'ok' : 'disabled',
      lastSuccessAt: this.#startedAt, lastError: null, consecutiveFailures: 0, kids: [], keyCount: 0, nextRefreshAt: null,
    }
  }

  stats(): AuthenticatorStats {
    return { ...this.#counts.snapshot(), verifyCount: 0, verifyMicrosTotal: 0, cacheHits: 0 }
  }

  cacheUsage(): typeof NO_CACHE {
    return NO_CACHE
  }

  /** A token is not what this authenticator reads: `token inspect` says so. */
  inspect(): Promise<AuthenticatorReport> {
    const detail = `reads the client certificate of a tls/wss listener with requestCert, not a token${this.config.identity !== undefined ? `; identity: ${describeIdentity({ ...(this.config.identity.username !== undefined ? { username: this.config.identity.username } : {}), ...(this.config.identity.clientId !== undefined ? { clientId: this.config.identity.clientId, clientIdMode: this.config.identity.clientIdMode } : {}) })} (certificate fields)` : ''}`
    return Promise.resolve({ name: this.name, type: this.type, enabled: this.enabled, outcome: 'ignore', steps: [{ check: 'certificate', ok: false, detail }] })
  }
}
