/**
 * /api/v1/authenticators: every route's success and failure paths. Validation answers
 * carry the configuration file's message and key path; secrets are write-only.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '../../src/auth/jwt/tools.js'
import { NEW_SECRET, SEED_SECRET, useAdmin } from './helpers.js'

const devKey = generateKeyPair('ES256')

describe('admin API: authenticators', () => {
  const h = useAdmin({ jwks: { keys: [devKey.publicJwk] } })

  it('lists the chain without ever returning a secret', async () => {
    const r = await h.api('GET', '/api/v1/authenticators')
    assert.equal(r.status, 200)
    assert.equal(r.body.length, 1)
    const a = r.body[0]
    assert.equal(a.name, 'seed-hmac')
    assert.equal(a.type, 'jwt')
    assert.equal(a.algorithm, 'hmac-based')
    assert.equal(a.from, 'password')
    assert.equal(a.enabled, true)
    assert.equal(a.hasSecret, true)
    assert.equal(a.secret, undefined)
    assert.equal(a.description, 'from the file')
    assert.equal(a.status.state, 'ok')
    assert.ok(a.claims)
    assert.ok(!r.text.includes(SEED_SECRET), 'the secret never appears in an answer')
  })

  it('GET one; unknown name is 404', async () => {
    const r = await h.api('GET', '/api/v1/authenticators/seed-hmac')
    assert.equal(r.status, 200)
    assert.equal(r.body.name, 'seed-hmac')
    assert.ok(!r.text.includes(SEED_SECRET))
    const missing = await h.api('GET', '/api/v1/authenticators/nope')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error, 'ERR_NOT_FOUND')
    assert.equal(typeof missing.body.message, 'string')
  })

  it('POST creates (201), appended, secret not echoed', async () => {
    const r = await h.api('POST', '/api/v1/authenticators', {
      type: 'jwt', name: 'api-hmac', from: 'password', algorithm: 'hmac-based', secret: NEW_SECRET, claims: { required: ['exp'] },
    })
    assert.equal(r.status, 201, r.text)
    assert.equal(r.body.name, 'api-hmac')
    assert.equal(r.body.hasSecret, true)
    assert.equal(r.body.secret, undefined)
    assert.ok(!r.text.includes(NEW_SECRET))
    assert.deepEqual(r.body.claims.required, ['exp'])
    assert.equal(r.body.verifiedTokenCache, 10_000, 'the default cache size is shown')
    const list = await h.api('GET', '/api/v1/authenticators')
    assert.deepEqual(list.body.map((a: { name: string }) => a.name), ['seed-hmac', 'api-hmac'])
    assert.deepEqual(h.server.authenticators.map((a) => a.name), ['seed-hmac', 'api-hmac'])
  })

  it('POST with a duplicate name is 409', async () => {
    const r = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'seed-hmac', algorithm: 'hmac-based', secret: NEW_SECRET })
    assert.equal(r.status, 409)
    assert.equal(r.body.error, 'ERR_CONFLICT')
    assert.equal(r.body.path, 'authentication.authenticators[2].name')
  })

  it('POST validation errors name the configuration key path, as for the file', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ type: 'jwt', name: 'short', algorithm: 'hmac-based', secret: 'too-short' }, 'authentication.authenticators[2].secret', /at least 32 bytes/],
      [{ type: 'jwt', name: 'noalg', secret: NEW_SECRET }, 'authentication.authenticators[2].algorithm', /required/],
      [{ type: 'nope' }, 'authentication.authenticators[2].type', /unknown authenticator type/],
      [{ type: 'jwt', name: 'x1', algorithm: 'hmac-based', secret: NEW_SECRET, bogus: 1 }, 'authentication.authenticators[2].bogus', /unknown key/],
      [{ type: 'jwt', name: 'x2', algorithm: 'public-key', publicKey: 'not a pem' }, 'authentication.authenticators[2].publicKey', /./],
      [{ type: 'jwks', name: 'x3', refreshInterval: 10, endpoint: 'https://id.example.com' }, 'authentication.authenticators[2].refreshInterval', /between 60 and 1000/],
      [{ type: 'jwks', name: 'x4' }, 'authentication.authenticators[2]', /exactly one of endpoint/],
      [{ type: 'jwt', name: 'x5', algorithm: 'hmac-based', secret: NEW_SECRET, description: 'd'.repeat(129) }, 'authentication.authenticators[2].description', /at most 128/],
      [[1, 2], 'authentication.authenticators[2]', /mapping/],
    ]
    for (const [body, path, message] of cases) {
      const r = await h.api('POST', '/api/v1/authenticators', body)
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`)
      assert.equal(r.body.error, 'ERR_VALIDATION')
      assert.equal(r.body.path, path)
      assert.match(r.body.message, message)
      assert.ok(r.body.message.startsWith(`${path}: `), r.body.message)
    }
    const list = await h.api('GET', '/api/v1/authenticators')
    assert.equal(list.body.length, 2, 'nothing was added')
  })

  it('a body that is not JSON is 400', async () => {
    const r = await h.api('POST', '/api/v1/authenticators', '{not json')
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'ERR_BAD_REQUEST')
  })

  it('PUT replaces the whole configuration (TDMQ Modify): omitted keys take defaults', async () => {
    const r = await h.api('PUT', '/api/v1/authenticators/api-hmac', { type: 'jwt', algorithm: 'hmac-based', secret: NEW_SECRET, description: 'replaced' })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.name, 'api-hmac')
    assert.equal(r.body.description, 'replaced')
    assert.equal(r.body.from, 'username', 'from went back to its default')
    assert.equal(r.body.claims.required, undefined)
    assert.equal(h.server.authenticators[1].config.description, 'replaced')
    const sized = await h.api('PUT', '/api/v1/authenticators/api-hmac', { type: 'jwt', algorithm: 'hmac-based', secret: NEW_SECRET, description: 'replaced', verifiedTokenCache: 0 })
    assert.equal(sized.status, 200, sized.text)
    assert.equal(sized.body.verifiedTokenCache, 0)
    const replaced = h.server.authenticators[1].config
    assert.ok(replaced.type === 'jwt' && replaced.verifiedTokenCache === 0)
    const bad = await h.api('PUT', '/api/v1/authenticators/api-hmac', { type: 'jwt', algorithm: 'hmac-based', secret: NEW_SECRET, verifiedTokenCache: 1.5 })
    assert.equal(bad.status, 400)
    assert.match(bad.body.path, /verifiedTokenCache$/)
  })

  it('PUT: 404 for an unknown name, 400 for a rename or a bad body (path at the entry\'s index)', async () => {
    const missing = await h.api('PUT', '/api/v1/authenticators/nope', { type: 'jwt', algorithm: 'hmac-based', secret: NEW_SECRET })
    assert.equal(missing.status, 404)
    const rename = await h.api('PUT', '/api/v1/authenticators/api-hmac', { type: 'jwt', name: 'other', algorithm: 'hmac-based', secret: NEW_SECRET })
    assert.equal(rename.status, 400)
    assert.equal(rename.body.path, 'authentication.authenticators[1].name')
    const bad = await h.api('PUT', '/api/v1/authenticators/api-hmac', { type: 'jwt', algorithm: 'hmac-based', secret: 'short' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.path, 'authentication.authenticators[1].secret')
    const still = await h.api('GET', '/api/v1/authenticators/api-hmac')
    assert.equal(still.body.description, 'replaced', 'a refused change leaves the entry as it was')
  })

  it('disable / enable (Status close / open)', async () => {
    const off = await h.api('POST', '/api/v1/authenticators/api-hmac/disable')
    assert.equal(off.status, 200, off.text)
    assert.equal(off.body.enabled, false)
    assert.equal(off.body.status.state, 'disabled')
    assert.equal(h.server.authenticators[1].enabled, false)
    const on = await h.api('POST', '/api/v1/authenticators/api-hmac/enable', {})
    assert.equal(on.status, 200)
    assert.equal(on.body.enabled, true)
    assert.equal(h.server.authenticators[1].enabled, true)
    assert.equal((await h.api('POST', '/api/v1/authenticators/nope/enable')).status, 404)
    assert.equal((await h.api('POST', '/api/v1/authenticators/nope/disable')).status, 404)
  })

  it('a JWKS authenticator: status shows the key set; refresh fetches again', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwks', name: 'dev-jwks', from: 'password', endpoint: h.adminUrl })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.endpoint, h.adminUrl)
    assert.equal(created.body.url, `${h.adminUrl}/.well-known/jwks.json`)
    const status = await h.api('GET', '/api/v1/authenticators/dev-jwks/status')
    assert.equal(status.status, 200)
    assert.equal(status.body.state, 'ok')
    assert.deepEqual(status.body.kids, [devKey.kid])
    assert.equal(status.body.keyCount, 1)
    assert.equal(status.body.consecutiveFailures, 0)
    assert.equal(typeof status.body.lastSuccessAt, 'number')
    assert.equal(typeof status.body.stats.allow, 'number')
    const before = status.body.lastSuccessAt as number
    await new Promise((r) => setTimeout(r, 5))
    const refreshed = await h.api('POST', '/api/v1/authenticators/dev-jwks/refresh')
    assert.equal(refreshed.status, 200)
    assert.equal(refreshed.body.state, 'ok')
    assert.ok(refreshed.body.lastSuccessAt > before, 'fetched again')
    assert.equal((await h.api('GET', '/api/v1/authenticators/nope/status')).status, 404)
    assert.equal((await h.api('POST', '/api/v1/authenticators/nope/refresh')).status, 404)
  })

  it('a pasted key set (text) and a public key are returned (they are public)', async () => {
    const text = JSON.stringify({ keys: [devKey.publicJwk] })
    const r = await h.api('POST', '/api/v1/authenticators', { type: 'jwks', name: 'pasted', text })
    assert.equal(r.status, 201, r.text)
    assert.equal(r.body.text, text)
    assert.equal(r.body.hasSecret, false)
    const pk = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'pk', algorithm: 'public-key', publicKey: devKey.publicPem })
    assert.equal(pk.status, 201, pk.text)
    assert.equal(pk.body.publicKey, devKey.publicPem)
  })

  it('PUT /authenticators-order reorders the chain; a wrong list is 400', async () => {
    const names = (await h.api('GET', '/api/v1/authenticators')).body.map((a: { name: string }) => a.name) as string[]
    const reversed = [...names].reverse()
    const r = await h.api('PUT', '/api/v1/authenticators-order', { names: reversed })
    assert.equal(r.status, 200, r.text)
    assert.deepEqual(r.body.map((a: { name: string }) => a.name), reversed)
    assert.deepEqual(h.server.authenticators.map((a) => a.name), reversed)
    const missing = await h.api('PUT', '/api/v1/authenticators-order', { names: reversed.slice(1) })
    assert.equal(missing.status, 400)
    assert.equal(missing.body.path, 'names')
    const unknown = await h.api('PUT', '/api/v1/authenticators-order', { names: [...reversed, 'ghost'] })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.path, `names[${reversed.length}]`)
    const twice = await h.api('PUT', '/api/v1/authenticators-order', { names: [reversed[0], ...reversed] })
    assert.equal(twice.status, 400)
    const notList = await h.api('PUT', '/api/v1/authenticators-order', { names: 'x' })
    assert.equal(notList.status, 400)
    const restored = await h.api('PUT', '/api/v1/authenticators-order', { names })
    assert.equal(restored.status, 200)
  })

  it('DELETE removes (204), then 404', async () => {
    const r = await h.api('DELETE', '/api/v1/authenticators/pasted')
    assert.equal(r.status, 204)
    assert.equal(r.text, '')
    assert.equal((await h.api('GET', '/api/v1/authenticators/pasted')).status, 404)
    assert.equal((await h.api('DELETE', '/api/v1/authenticators/pasted')).status, 404)
    assert.ok(!h.server.authenticators.some((a) => a.name === 'pasted'))
  })
})
