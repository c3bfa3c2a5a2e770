/**
 * PATCH /authenticators/:name and /policies/:name apply a JSON merge patch (RFC 7396): only
 * the keys sent change, null removes a key, the write-only secret stays. A PUT (or PATCH)
 * that removes claims checks says so in its answer's `warnings`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { API_KEY, NEW_SECRET, hsToken, useAdmin } from './helpers.js'
import { connect, end } from '../helpers/broker.js'
import type { Json } from '../helpers/json.js'

const CHECKED = {
  type: 'jwt', name: 'checked', from: 'password', algorithm: 'hmac-based', secret: NEW_SECRET, description: 'first',
  claims: { issuer: 'https://id.example.com', audience: 'mqtt', required: ['exp'] },
}

describe('admin API: PATCH is a JSON merge patch (RFC 7396)', () => {
  const h = useAdmin()

  /** PATCH with the merge patch media type, as RFC 7396 registers it. */
  const patch = async (path: string, body: unknown): Promise<{ status: number; body: Json; text: string }> => {
    const res = await fetch(`${h.adminUrl}${path}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text), text }
  }

  it('changes only the keys sent: the claims checks and the write-only secret stay', async () => {
    assert.equal((await h.api('POST', '/api/v1/authenticators', CHECKED)).status, 201)
    const r = await patch('/api/v1/authenticators/checked', { description: 'second' })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.description, 'second')
    assert.deepEqual(r.body.claims.issuer, ['https://id.example.com'])
    assert.deepEqual(r.body.claims.audience, ['mqtt'])
    assert.deepEqual(r.body.claims.required, ['exp'])
    assert.equal(r.body.hasSecret, true)
    assert.ok(!r.text.includes(NEW_SECRET), 'the secret is never returned')
    assert.equal(r.body.warnings, undefined, 'nothing was dropped')
    const token = hsToken(NEW_SECRET, { iss: 'https://id.example.com', aud: 'mqtt' })
    const client = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'patched-1', username: 'u', password: token })
    await end(client)
  })

  it('null removes one key; nested mappings merge; the answer warns of the dropped check', async () => {
    const r = await h.api('PATCH', '/api/v1/authenticators/checked', { claims: { audience: null } })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.claims.audience, undefined)
    assert.deepEqual(r.body.claims.issuer, ['https://id.example.com'], 'the sibling key stays')
    assert.equal(r.body.description, 'second')
    assert.deepEqual(r.body.warnings, ['authentication.authenticators[1].claims.audience was removed: tokens for any audience are now accepted'])
  })

  it('a PUT that leaves claims out says which checks it dropped', async () => {
    const kept = await h.api('PUT', '/api/v1/authenticators/checked', { ...CHECKED, secret: undefined, claims: { issuer: 'https://id.example.com', required: ['exp'] } })
    assert.equal(kept.status, 200, kept.text)
    assert.equal(kept.body.warnings, undefined, 'no warning when every check is kept')
    const put = await h.api('PUT', '/api/v1/authenticators/checked', { type: 'jwt', from: 'password', algorithm: 'hmac-based' })
    assert.equal(put.status, 200, put.text)
    assert.deepEqual(put.body.warnings, [
      'authentication.authenticators[1].claims.issuer was removed: tokens from any issuer are now accepted',
      'authentication.authenticators[1].claims.required no longer lists exp: tokens without it are now accepted',
    ])
    assert.equal(put.body.hasSecret, true, 'the secret was kept as before')
  })

  it('refuses what it cannot merge, naming the key path; nothing changes', async () => {
    const cases: [unknown, number, string][] = [
      [['description'], 400, 'authentication.authenticators[1]'],
      [{ name: 'renamed' }, 400, 'authentication.authenticators[1].name'],
      [{ secretBase64: true }, 400, 'authentication.authenticators[1].secret'],
      [{ maxTokenBytes: 1 }, 400, 'authentication.authenticators[1].maxTokenBytes'],
      [JSON.parse('{"__proto__": {"polluted": true}}'), 400, 'authentication.authenticators[1].__proto__'],
    ]
    for (const [body, status, path] of cases) {
      const r = await h.api('PATCH', '/api/v1/authenticators/checked', body)
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`)
      assert.equal(r.body.path, path, r.text)
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
    assert.equal((await h.api('PATCH', '/api/v1/authenticators/nobody', { description: 'x' })).status, 404)
    const now = await h.api('GET', '/api/v1/authenticators/checked')
    assert.equal(now.body.maxTokenBytes, 8192)
  })

  it('a changed algorithm must drop the stored secret explicitly (null)', async () => {
    const r = await h.api('PATCH', '/api/v1/authenticators/checked', { algorithm: 'public-key', publicKey: 'not a key' })
    assert.equal(r.status, 400)
    assert.equal(r.body.path, 'authentication.authenticators[1].secret')
    assert.match(r.body.message, /the stored secret; send a new one, or "secret": null to remove it/)
  })

  it('policies: only the keys sent change, null removes a condition, a clash is 409', async () => {
    const created = await h.api('POST', '/api/v1/policies', { name: 'lab', priority: 7, effect: 'deny', actions: ['publish'], topics: ['lab/#'], description: 'lab' })
    assert.equal(created.status, 201, created.text)
    const ip = await patch('/api/v1/policies/lab', { ip: '10.0.0.0/8' })
    assert.equal(ip.status, 200, ip.text)
    assert.deepEqual(ip.body, { name: 'lab', priority: 7, effect: 'deny', actions: ['publish'], topics: ['lab/#'], ip: ['10.0.0.0/8'], description: 'lab' })
    const removed = await patch('/api/v1/policies/lab', { ip: null, topics: ['lab/+/x'] })
    assert.deepEqual(removed.body, { name: 'lab', priority: 7, effect: 'deny', actions: ['publish'], topics: ['lab/+/x'], description: 'lab' })
    assert.equal((await patch('/api/v1/policies/lab', { priority: 100 })).status, 409, 'file-policy holds 100')
    const renamed = await patch('/api/v1/policies/lab', { name: 'lab2' })
    assert.equal(renamed.status, 400)
    assert.equal(renamed.body.path, 'authorization.policies[1].name')
    assert.equal((await patch('/api/v1/policies/none', { priority: 1 })).status, 404)
  })

  it('the OpenAPI document describes both PATCH operations with the merge patch media type', async () => {
    const doc = (await h.api('GET', '/api/docs')).body
    for (const path of ['/api/v1/authenticators/{name}', '/api/v1/policies/{name}']) {
      const op = doc.paths[path].patch
      assert.ok(op, path)
      assert.ok(op.requestBody.content['application/merge-patch+json'], path)
    }
    assert.ok(doc.components.schemas.Authenticator.properties.warnings)
  })
})
