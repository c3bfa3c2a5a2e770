/**
 * Whose reason a refusal gives: the authenticator whose key material was meant for the
 * token, not the first one that passed it on. With an HMAC authenticator first and a JWKS
 * authenticator whose issuer is down second, an RS256 token is refused 0x88 / 3 ("key set
 * not available", retry later), and the log line, the metrics label, the admin token check
 * and `token inspect` all name the JWKS authenticator — before, they gave the HMAC
 * authenticator's "alg 'RS256' is not accepted" and 0x86 / 4.
 */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { formatInspection } from '../../src/auth/jwt/tools.js'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { API_KEY, SEED_SECRET, baseConfig, removeDir, tempDataDir } from '../admin/helpers.js'
import { connackCode } from '../helpers/auth-broker.js'
import { delay, VERSIONS, type Version } from '../helpers/broker.js'
import { JwksServer } from '../helpers/jwks-server.js'
import { sign, testKey } from '../helpers/tokens.js'
import type { Json } from '../helpers/json.js'

const UNAVAILABLE: Record<Version, number> = { 4: 3, 5: 0x88 }
const rs = testKey('RS256', { fresh: true, kid: 'idp-key-1' })

describe('09 a refusal names the authenticator the token was meant for', () => {
  const dataDir = tempDataDir()
  let server: PortcullisServer
  let log = ''
  const token = sign(rs, { sub: 'device', iss: 'https://idp.example' })

  before(async () => {
    // An address where nothing listens: the JWKS issuer is down from the start.
    const down = new JwksServer()
    await down.start()
    const endpoint = down.endpoint
    await down.stop()
    const sink = new PassThrough()
    sink.on('data', (d: Buffer) => (log += d.toString()))
    server = await createServer(validateConfig(baseConfig(dataDir, {
      authentication: {
        allowAnonymous: false,
        authenticators: [
          { type: 'jwt', name: 'corp-hmac', from: 'password', algorithm: 'hmac-based', secret: SEED_SECRET },
          { type: 'jwks', name: 'idp', from: 'password', endpoint, timeoutMs: 500, claims: { issuer: ['https://idp.example'] } },
        ],
      },
    })), { logger: createLogger({ level: 'info', destination: sink }) })
  })
  after(async () => {
    await server.close()
    removeDir(dataDir)
  })

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; text: string }> => {
    const res = await fetch(`${server.admin!.url}${path}`, {
      method, headers: { authorization: `Bearer ${API_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : undefined, text }
  }

  it('CONNECT: 0x88 / 3, the reason of the JWKS authenticator (no key set), over MQTT 3.1.1 and 5.0', async () => {
    for (const version of VERSIONS) assert.equal(await connackCode(server.listeners[0].port, version, token), UNAVAILABLE[version], `MQTT ${version}`)
  })

  it('the log line names idp, with every authenticator\'s reason listed', async () => {
    await delay(50)
    const lines = log.split('\n').filter((l) => l.includes('authentication refused')).map((l) => JSON.parse(l) as Record<string, Json>)
    assert.equal(lines.length, 2)
    for (const line of lines) {
      assert.equal(line['authenticator'], 'idp')
      assert.equal(line['code'], 'ERR_JWKS_UNAVAILABLE')
      assert.deepEqual(line['reasons'].map((r: { authenticator: string; code: string }) => [r.authenticator, r.code]),
        [['corp-hmac', 'ERR_JWT_ALG_NOT_ALLOWED'], ['idp', 'ERR_JWKS_UNAVAILABLE']])
    }
  })

  it('metrics: portcullis_auth_failures_total carries the authenticator label', async () => {
    const r = await api('GET', '/metrics')
    assert.match(r.text, /^portcullis_auth_failures_total\{reason="ERR_JWKS_UNAVAILABLE",authenticator="idp"\} 2$/m)
    assert.doesNotMatch(r.text, /portcullis_auth_failures_total\{[^}]*authenticator="corp-hmac"/)
    const stats = await api('GET', '/api/v1/stats')
    assert.deepEqual(stats.body.authFailures.byAuthenticator, { idp: { ERR_JWKS_UNAVAILABLE: 2 } })
  })

  it('the admin token check gives the same verdict, naming idp, with each reason and its relevance', async () => {
    const r = await api('POST', '/api/v1/token/check', { token })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.verdict.outcome, 'ignore')
    assert.equal(r.body.verdict.authenticator, 'idp')
    assert.equal(r.body.verdict.code, 'ERR_JWKS_UNAVAILABLE')
    assert.deepEqual(r.body.authenticators.map((a: { name: string; code: string; relevance: number }) => [a.name, a.code, a.relevance]),
      [['corp-hmac', 'ERR_JWT_ALG_NOT_ALLOWED', 0], ['idp', 'ERR_JWKS_UNAVAILABLE', 3]])
    // `portcullis token inspect` prints the same report.
    const text = formatInspection(r.body)
    assert.match(text, /^verdict: ignore by idp \(ERR_JWKS_UNAVAILABLE\)$/m)
    assert.match(text, /the reason given is idp's, whose key material was meant for it/)
  })
})
