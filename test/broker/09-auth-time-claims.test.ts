/**
 * Out-of-range and ill-typed time claims in a token whose signature verifies
 * (exp -1e300, exp -1e13, nbf 1e13, iat 1e13, strings, 1e400 which JSON reads as Infinity):
 * refused as bad credentials — 0x86 (3.1.1: 4), never 0x88 / 3 "server unavailable",
 * which clients retry — and POST /api/v1/token/check answers 200 with the same code.
 * No check throws on any claim value.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { VERSIONS, type Version } from '../helpers/broker.js'
import { connackCode } from '../helpers/auth-broker.js'
import { b64url } from '../helpers/tokens.js'
import { SEED_SECRET, useAdmin } from '../admin/helpers.js'

const REFUSED: Record<Version, number> = { 4: 4, 5: 0x86 }

/** An HS256 token over a raw JSON payload text (so values JSON.stringify cannot write, like 1e400, can be sent). */
function hsRaw(payloadJson: string): string {
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${Buffer.from(payloadJson).toString('base64url')}`
  return `${input}.${createHmac('sha256', SEED_SECRET).update(input).digest('base64url')}`
}


const deepAud = `${'['.repeat(20_000)}"mqtt"${']'.repeat(20_000)}`
const HOSTILE: [string, string][] = [
  ['exp -1e300', '{"sub":"d","aud":"mqtt","exp":-1e300}'],
  ['exp -1e13', '{"sub":"d","aud":"mqtt","exp":-1e13}'],
  ['exp 1e13 (after the last date)', '{"sub":"d","aud":"mqtt","exp":1e13}'],
  ['nbf 1e13', '{"sub":"d","aud":"mqtt","nbf":1e13}'],
  ['iat 1e13', '{"sub":"d","aud":"mqtt","iat":1e13}'],
  ['iat -1e300', '{"sub":"d","aud":"mqtt","iat":-1e300}'],
  ['exp 1e400 (Infinity)', '{"sub":"d","aud":"mqtt","exp":1e400}'],
  ['nbf -1e400 (-Infinity)', '{"sub":"d","aud":"mqtt","nbf":-1e400}'],
  ['exp a string', '{"sub":"d","aud":"mqtt","exp":"tomorrow"}'],
  ['exp an object', '{"sub":"d","aud":"mqtt","exp":{"valueOf":1}}'],
  ['exp null', '{"sub":"d","aud":"mqtt","exp":null}'],
  ['aud nested 20,000 deep', `{"sub":"d","aud":${deepAud}}`],
]

describe('09 time claims out of range: 0x86 / 4, token check 200', () => {
  // The seed authenticator, with an audience check so a hostile aud is looked at, and room for a deep one.
  const h = useAdmin({
    overrides: {
      authentication: {
        allowAnonymous: false,
        authenticators: [{ type: 'jwt', name: 'seed-hmac', from: 'password', algorithm: 'hmac-based', secret: SEED_SECRET, maxTokenBytes: 65_535, claims: { audience: ['mqtt'] } }],
      },
    },
  })

  for (const [what, payload] of HOSTILE) {
    it(`${what}: refused as bad credentials over MQTT 3.1.1 and 5.0; the token check agrees`, async () => {
      const token = hsRaw(payload)
      for (const version of VERSIONS) assert.equal(await connackCode(h.mqttPort, version, token), REFUSED[version], `MQTT ${version}`)
      const r = await h.api('POST', '/api/v1/token/check', { token })
      assert.equal(r.status, 200, r.text)
      assert.equal(r.body.verdict.outcome, 'deny')
      assert.match(r.body.verdict.code, /^ERR_JWT_(MALFORMED|AUDIENCE)$/)
      assert.doesNotMatch(r.text, /Invalid time value/)
    })
  }

  it('a valid token with the same key is still admitted (the checks above are claims, not keys)', async () => {
    const token = hsRaw(`{"sub":"d","aud":"mqtt","exp":${Math.floor(Date.now() / 1000) + 60}}`)
    for (const version of VERSIONS) assert.equal(await connackCode(h.mqttPort, version, token), 0, `MQTT ${version}`)
  })
})
