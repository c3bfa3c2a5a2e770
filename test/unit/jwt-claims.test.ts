import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createAuthenticator } from '../../src/auth/create.js'
import { compileMatch, evaluateClaims, type ClaimCheck, type ClaimsConfig } from '../../src/auth/jwt/claims.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import type { AuthOutcome } from '../../src/auth/types.js'
import { silentLogger } from '../../src/log.js'
import { credentials, now, sign, testKey } from '../helpers/tokens.js'

const key = testKey('ES256')

function auth(claims: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return createAuthenticator(parseAuthenticatorConfig({
    type: 'jwt', algorithm: 'public-key', publicKey: key.publicPem, from: 'password', claims, ...extra,
  }, 'authenticators[0]'), { logger: silentLogger() })
}

async function run(a: ReturnType<typeof auth>, payload: Record<string, unknown>, opts: { clientId?: string; username?: string } = {}): Promise<AuthOutcome> {
  const token = sign(key, payload, { expiresIn: undefined as never })
  return a.authenticate(credentials({ clientId: opts.clientId ?? 'c1', username: opts.username ?? 'u1', password: Buffer.from(token) }))
}

function denied(o: AuthOutcome, code: string): void {
  assert.equal(o.result, 'deny', JSON.stringify(o))
  assert.equal(o.result === 'deny' && o.error.code, code)
}

const allowed = (o: AuthOutcome): void => assert.equal(o.result, 'allow', JSON.stringify(o))

describe('claims: time', () => {
  const t = now()
  it('exp: expired tokens are denied, within leeway they pass', async () => {
    const a = auth({ leeway: 5 })
    denied(await run(a, { exp: t - 60 }), 'ERR_JWT_EXPIRED')
    allowed(await run(a, { exp: t - 2 }))
    denied(await run(auth({ leeway: 0 }), { exp: t - 1 }), 'ERR_JWT_EXPIRED')
    denied(await run(a, { exp: 'tomorrow' }), 'ERR_JWT_MALFORMED')
  })
  it('nbf: not-yet-valid tokens are denied, within leeway they pass', async () => {
    const a = auth({ leeway: 5 })
    denied(await run(a, { nbf: t + 60 }), 'ERR_JWT_NOT_YET_VALID')
    allowed(await run(a, { nbf: t + 3 }))
    allowed(await run(a, { nbf: t - 3 }))
  })
  it('iat: in the future beyond leeway is denied', async () => {
    denied(await run(auth({ leeway: 5 }), { iat: t + 60 }), 'ERR_JWT_ISSUED_IN_FUTURE')
    allowed(await run(auth({ leeway: 5 }), { iat: t + 3 }))
  })
  it('maxAge: a token issued too early is denied (ERR_JWT_TOO_OLD); iat is then required', async () => {
    const a = auth({ maxAge: 600, leeway: 0 })
    denied(await run(a, { iat: t - 601 }), 'ERR_JWT_TOO_OLD')
    allowed(await run(a, { iat: t - 590 }))
    denied(await run(a, { iat: undefined }), 'ERR_JWT_CLAIM_MISSING')
    // Without maxAge an old iat is fine.
    allowed(await run(auth({}), { iat: t - 10 * 365 * 86400 }))
  })
  it('a token without exp is accepted by default and refused with required: [exp]', async () => {
    allowed(await run(auth({}), { sub: 's' }))
    denied(await run(auth({ required: ['exp'] }), { sub: 's' }), 'ERR_JWT_CLAIM_MISSING')
  })
})

describe('claims: issuer, audience, required, match', () => {
  it('iss must be one of the trusted issuers', async () => {
    const a = auth({ issuer: ['https://a.example', 'https://b.example'] })
    allowed(await run(a, { iss: 'https://b.example' }))
    denied(await run(a, { iss: 'https://evil.example' }), 'ERR_JWT_ISSUER')
    denied(await run(a, { iss: 'https://a.example/' }), 'ERR_JWT_ISSUER')
    denied(await run(a, {}), 'ERR_JWT_ISSUER')
  })
  it('aud (string or array) must intersect the accepted audience', async () => {
    const a = auth({ audience: ['mqtt'] })
    allowed(await run(a, { aud: 'mqtt' }))
    allowed(await run(a, { aud: ['api', 'mqtt'] }))
    denied(await run(a, { aud: ['api'] }), 'ERR_JWT_AUDIENCE')
    denied(await run(a, { aud: 'MQTT' }), 'ERR_JWT_AUDIENCE')
    denied(await run(a, {}), 'ERR_JWT_AUDIENCE')
  })
  it('required claims must be present', async () => {
    const a = auth({ required: ['sub', 'tenant'] })
    allowed(await run(a, { sub: 's', tenant: 't' }))
    denied(await run(a, { sub: 's' }), 'ERR_JWT_CLAIM_MISSING')
    denied(await run(a, { sub: 's', tenant: null }), 'ERR_JWT_CLAIM_MISSING')
  })
  it('match templates: ${clientid}, ${username}, ${claims.NAME}, literal text; exact strings', async () => {
    const a = auth({ match: { sub: '${username}', cid: 'dev-${clientid}', room: '${claims.tenant}/lobby' } })
    allowed(await run(a, { sub: 'alice', cid: 'dev-c1', tenant: 't1', room: 't1/lobby' }, { username: 'alice', clientId: 'c1' }))
    denied(await run(a, { sub: 'bob', cid: 'dev-c1', tenant: 't1', room: 't1/lobby' }, { username: 'alice' }), 'ERR_JWT_CLAIM_MISMATCH')
    denied(await run(a, { sub: 'alice', cid: 'dev-c2', tenant: 't1', room: 't1/lobby' }, { username: 'alice' }), 'ERR_JWT_CLAIM_MISMATCH')
    denied(await run(a, { sub: 'alice', cid: 'dev-c1', tenant: 't1', room: 't2/lobby' }, { username: 'alice' }), 'ERR_JWT_CLAIM_MISMATCH')
    denied(await run(a, { sub: 'alice', cid: 'dev-c1', room: 'undefined/lobby' }, { username: 'alice' }), 'ERR_JWT_CLAIM_MISMATCH')
    denied(await run(a, { cid: 'dev-c1', tenant: 't1', room: 't1/lobby' }, { username: 'alice' }), 'ERR_JWT_CLAIM_MISSING')
    const numeric = auth({ match: { cid: '${clientid}' } })
    denied(await run(numeric, { cid: 42 }, { clientId: '42' }), 'ERR_JWT_CLAIM_MISMATCH')
  })
  it('with the token in the username, ${clientid} matching still works', async () => {
    const a = createAuthenticator(parseAuthenticatorConfig({
      type: 'jwt', algorithm: 'public-key', publicKey: key.publicPem, claims: { match: { sub: '${clientid}' } },
    }, 'a'), { logger: silentLogger() })
    const ok = await a.authenticate(credentials({ clientId: 'dev-9', username: sign(key, { sub: 'dev-9' }) }))
    allowed(ok)
    denied(await a.authenticate(credentials({ clientId: 'dev-8', username: sign(key, { sub: 'dev-9' }) })), 'ERR_JWT_CLAIM_MISMATCH')
  })
})

describe('evaluateClaims (fixed clock, full report)', () => {
  const rules: ClaimsConfig = { leeway: 0, required: ['sub'], match: { sub: '${clientid}' }, issuer: ['i'], audience: ['a'], maxAge: 100 }
  const match = compileMatch(rules.match)
  it('returns the first failure, or records every check when asked', () => {
    const payload = { sub: 'x', exp: 1000, nbf: 1200, iat: 500, iss: 'j', aud: 'a' }
    assert.equal(evaluateClaims(payload, rules, match, { clientId: 'x', username: undefined }, 1100)?.code, 'ERR_JWT_EXPIRED')
    const report: ClaimCheck[] = []
    const first = evaluateClaims(payload, rules, match, { clientId: 'y', username: undefined }, 1100, report)
    assert.equal(first?.code, 'ERR_JWT_EXPIRED')
    assert.deepEqual(report.map((r) => [r.check, r.ok, r.code]), [
      ['required:sub', true, undefined],
      ['exp', false, 'ERR_JWT_EXPIRED'],
      ['nbf', false, 'ERR_JWT_NOT_YET_VALID'],
      ['iat', false, 'ERR_JWT_TOO_OLD'],
      ['iss', false, 'ERR_JWT_ISSUER'],
      ['aud', true, undefined],
      ['match:sub', false, 'ERR_JWT_CLAIM_MISMATCH'],
    ])
    assert.equal(evaluateClaims({ sub: 'x', exp: 2000, iat: 1050, iss: 'i', aud: ['b', 'a'] }, rules, match, { clientId: 'x', username: undefined }, 1100), undefined)
  })
})

describe('claims: no check throws on any claim value (issue: out-of-range time claims)', () => {
  const rules: ClaimsConfig = { leeway: 5, maxAge: 600, required: ['sub', 'toString'], issuer: ['corp'], audience: ['mqtt'], match: { sub: '${claims.owner}' } }
  const match = compileMatch(rules.match)
  let deep: unknown = 'mqtt'
  for (let i = 0; i < 20_000; i++) deep = [deep]
  const values: unknown[] = [
    -1e300, 1e300, -1e13, 1e13, 8.64e12, 8.64e12 + 1, -8.64e12 - 1, Infinity, -Infinity, NaN, -0, 0.5, Number.MAX_VALUE, Number.MIN_VALUE,
    '', 'x'.repeat(10_000), '1700000000', true, null, [], [1, 2], {}, { valueOf: 1 }, deep,
  ]
  for (const name of ['exp', 'nbf', 'iat', 'iss', 'aud', 'sub', 'owner']) {
    it(`${name}: every value gives an answer with a stable code, or passes`, () => {
      for (const [i, value] of values.entries()) {
        const label = `${name} = values[${i}]`
        const payload = { sub: 's', owner: 's', iss: 'corp', aud: 'mqtt', iat: now(), [name]: value }
        const report: ClaimCheck[] = []
        let failure
        assert.doesNotThrow(() => (failure = evaluateClaims(payload, rules, match, { clientId: 'c', username: 'u' }, now(), report)), label)
        assert.doesNotThrow(() => evaluateClaims(payload, rules, match, { clientId: 'c', username: 'u' }, now()), `${label} (no report)`)
        for (const step of report) assert.ok(step.detail.length < 300, `${label}: a short detail (${step.detail.slice(0, 80)}…)`)
        if (failure !== undefined) assert.match((failure as { code: string }).code, /^ERR_JWT_/)
      }
    })
  }
  it('out-of-range times are malformed (0x86 / 4), never formatted as a date', () => {
    for (const [name, value] of [['exp', -1e300], ['exp', -1e13], ['exp', 1e13], ['nbf', 1e13], ['iat', 1e13], ['iat', -1e300]] as const) {
      const failure = evaluateClaims({ [name]: value }, { leeway: 0, required: [], match: {} }, [], { clientId: 'c', username: undefined }, now())
      assert.equal(failure?.code, 'ERR_JWT_MALFORMED', `${name} ${value}`)
      assert.match(failure.message, /outside the range of dates/)
    }
  })
  it('claims are own members only: required: [toString] is missing from a token without it', () => {
    const failure = evaluateClaims({ sub: 's' }, { leeway: 0, required: ['toString'], match: {} }, [], { clientId: 'c', username: undefined }, now())
    assert.equal(failure?.code, 'ERR_JWT_CLAIM_MISSING')
  })
})
