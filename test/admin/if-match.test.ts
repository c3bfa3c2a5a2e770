/**
 * Optimistic concurrency (RFC 9110 If-Match): GET of a device, policy or authenticator answers an
 * ETag; PUT, PATCH and DELETE with If-Match are made only when it names the thing as it is (or
 * `*`), else 412 ERR_PRECONDITION_FAILED with the API's usual error body and nothing changed; a
 * weak tag never matches; without the header nothing changes; the answer to a change carries the
 * new ETag; an authenticator's tag does not show its secret. The OpenAPI document says so.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { API_KEY, DEVICES, ecPem, useAdmin, type ApiAnswer } from './helpers.js'

function etagOf(r: ApiAnswer): string {
  const tag = r.headers.get('etag')
  assert.ok(tag !== null && /^"[A-Za-z0-9_-]+"$/.test(tag), `a strong ETag (got ${String(tag)})`)
  return tag
}

function assertPreconditionFailed(r: ApiAnswer, what: RegExp): void {
  assert.equal(r.status, 412, r.text)
  assert.equal(r.body.error, 'ERR_PRECONDITION_FAILED')
  assert.match(r.body.message, what)
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'message'])
}

describe('admin API: ETag and If-Match', () => {
  const h = useAdmin({ overrides: DEVICES })
  const ifMatch = (tag: string): Record<string, string> => ({ 'if-match': tag })

  test('device: PUT and DELETE with a stale If-Match are refused (412), with the current one made; without it as before', async () => {
    assert.equal((await h.api('POST', '/api/v1/devices', { id: 'm1', description: 'one', keys: [{ id: 'k1', pem: ecPem() }] })).status, 201)
    const first = etagOf(await h.api('GET', '/api/v1/devices/m1'))
    assert.equal(etagOf(await h.api('GET', '/api/v1/devices/m1')), first, 'the same device, the same tag')
    // Someone else changes it (a key added): the tag read before no longer matches.
    assert.equal((await h.api('POST', '/api/v1/devices/m1/keys', { id: 'k2', pem: ecPem() })).status, 201)
    const second = etagOf(await h.api('GET', '/api/v1/devices/m1'))
    assert.notEqual(second, first)
    assertPreconditionFailed(await h.api('PUT', '/api/v1/devices/m1', { description: 'stale', keys: [] }, API_KEY, ifMatch(first)), /device 'm1' has changed/)
    assertPreconditionFailed(await h.api('DELETE', '/api/v1/devices/m1', undefined, API_KEY, ifMatch(`W/${second}`)), /device 'm1'/)
    const unchanged = (await h.api('GET', '/api/v1/devices/m1')).body
    assert.equal(unchanged.description, 'one', 'nothing changed')
    assert.equal(unchanged.keys.length, 2)

    const put = await h.api('PUT', '/api/v1/devices/m1', { description: 'two', keys: [{ id: 'k1', pem: ecPem() }] }, API_KEY, ifMatch(`"nope", ${second}`))
    assert.equal(put.status, 200, put.text)
    const third = etagOf(put)
    assert.equal(etagOf(await h.api('GET', '/api/v1/devices/m1')), third, 'the answer carries the new tag')
    assert.equal((await h.api('PUT', '/api/v1/devices/m1', { description: 'no header', keys: [] })).status, 200, 'without If-Match: as before')
    assertPreconditionFailed(await h.api('DELETE', '/api/v1/devices/m1', undefined, API_KEY, ifMatch(third)), /device 'm1'/)
    assert.equal((await h.api('DELETE', '/api/v1/devices/m1', undefined, API_KEY, ifMatch('*'))).status, 204)
    assert.equal((await h.api('PUT', '/api/v1/devices/m1', { keys: [] }, API_KEY, ifMatch('*'))).status, 404, 'gone: 404')
  })

  test('policy: PATCH, priority, PUT and DELETE honour If-Match', async () => {
    const created = await h.api('POST', '/api/v1/policies', { name: 'pol-1', priority: 10, effect: 'allow', actions: ['publish'], topics: ['a/#'] })
    assert.equal(created.status, 201, created.text)
    const first = etagOf(await h.api('GET', '/api/v1/policies/pol-1'))
    const patched = await h.api('PATCH', '/api/v1/policies/pol-1', { topics: ['b/#'] }, API_KEY, ifMatch(first))
    assert.equal(patched.status, 200, patched.text)
    const second = etagOf(patched)
    assert.notEqual(second, first)
    assertPreconditionFailed(await h.api('PATCH', '/api/v1/policies/pol-1', { topics: ['c/#'] }, API_KEY, ifMatch(first)), /policy 'pol-1' has changed/)
    assertPreconditionFailed(await h.api('PATCH', '/api/v1/policies/pol-1/priority', { priority: 11 }, API_KEY, ifMatch(first)), /policy 'pol-1'/)
    assertPreconditionFailed(await h.api('PUT', '/api/v1/policies/pol-1', { priority: 12, effect: 'deny', actions: ['publish'], topics: ['x'] }, API_KEY, ifMatch(first)), /policy 'pol-1'/)
    assertPreconditionFailed(await h.api('DELETE', '/api/v1/policies/pol-1', undefined, API_KEY, ifMatch(first)), /policy 'pol-1'/)
    const p = (await h.api('GET', '/api/v1/policies/pol-1')).body
    assert.deepEqual([p.topics, p.priority, p.effect], [['b/#'], 10, 'allow'], 'nothing changed')
    assert.equal((await h.api('PATCH', '/api/v1/policies/pol-1/priority', { priority: 11 }, API_KEY, ifMatch(second))).status, 200)
    assert.equal((await h.api('PATCH', '/api/v1/policies/pol-1', { topics: ['d/#'] })).status, 200, 'without If-Match: as before')
    assert.equal((await h.api('DELETE', '/api/v1/policies/pol-1', undefined, API_KEY, ifMatch('*'))).status, 204)
  })

  test('authenticator: PATCH, PUT and DELETE honour If-Match; the tag does not change with the secret alone, nor show it', async () => {
    const secret = 'if-match-secret-0123456789-0123456789-abc'
    const body = { type: 'jwt', name: 'hs', from: 'password', algorithm: 'hmac-based', secret }
    assert.equal((await h.api('POST', '/api/v1/authenticators', body)).status, 201)
    const first = etagOf(await h.api('GET', '/api/v1/authenticators/hs'))
    assert.ok(!first.includes(secret))
    const patched = await h.api('PATCH', '/api/v1/authenticators/hs', { claims: { maxAge: 600 } }, API_KEY, ifMatch(first))
    assert.equal(patched.status, 200, patched.text)
    const second = etagOf(patched)
    assertPreconditionFailed(await h.api('PATCH', '/api/v1/authenticators/hs', { from: 'username' }, API_KEY, ifMatch(first)), /authenticator 'hs' has changed/)
    assertPreconditionFailed(await h.api('PUT', '/api/v1/authenticators/hs', body, API_KEY, ifMatch(first)), /authenticator 'hs'/)
    assertPreconditionFailed(await h.api('DELETE', '/api/v1/authenticators/hs', undefined, API_KEY, ifMatch(first)), /authenticator 'hs'/)
    assert.equal((await h.api('GET', '/api/v1/authenticators/hs')).body.from, 'password', 'nothing changed')
    const rotated = await h.api('PATCH', '/api/v1/authenticators/hs', { secret: `${secret}-rotated` }, API_KEY, ifMatch(second))
    assert.equal(rotated.status, 200, rotated.text)
    assert.equal(etagOf(rotated), second, 'write-only secrets are not in the tag')
    assert.equal((await h.api('DELETE', '/api/v1/authenticators/hs', undefined, API_KEY, ifMatch(second))).status, 204)
  })

  test('enable / disable and a device\'s key add / remove honour If-Match too', async () => {
    assert.equal((await h.api('POST', '/api/v1/devices', { id: 'm2', keys: [{ id: 'k1', pem: ecPem() }] })).status, 201)
    const first = etagOf(await h.api('GET', '/api/v1/devices/m2'))
    assert.equal((await h.api('POST', '/api/v1/devices/m2/disable', undefined, API_KEY, ifMatch(first))).status, 200)
    const second = etagOf(await h.api('GET', '/api/v1/devices/m2'))
    assert.notEqual(second, first, 'disabling changed the device')
    assertPreconditionFailed(await h.api('POST', '/api/v1/devices/m2/enable', undefined, API_KEY, ifMatch(first)), /device 'm2'/)
    assertPreconditionFailed(await h.api('POST', '/api/v1/devices/m2/keys', { id: 'k2', pem: ecPem() }, API_KEY, ifMatch(first)), /device 'm2'/)
    assertPreconditionFailed(await h.api('DELETE', '/api/v1/devices/m2/keys/k1', undefined, API_KEY, ifMatch(first)), /device 'm2'/)
    const unchanged = (await h.api('GET', '/api/v1/devices/m2')).body
    assert.equal(unchanged.enabled, false, 'nothing changed')
    assert.deepEqual(unchanged.keys.map((k: { id: string }) => k.id), ['k1'])
    assert.equal((await h.api('POST', '/api/v1/devices/m2/keys', { id: 'k2', pem: ecPem() }, API_KEY, ifMatch(second))).status, 201)
    const third = etagOf(await h.api('GET', '/api/v1/devices/m2'))
    assert.equal((await h.api('DELETE', '/api/v1/devices/m2/keys/k1', undefined, API_KEY, ifMatch(third))).status, 200)
    assert.equal((await h.api('POST', '/api/v1/devices/m2/enable', undefined, API_KEY, ifMatch('*'))).status, 200)
    assert.equal((await h.api('GET', '/api/v1/devices/m2')).body.enabled, true)

    const secret = 'if-match-toggle-0123456789-0123456789-abc'
    assert.equal((await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'hs-toggle', from: 'password', algorithm: 'hmac-based', secret })).status, 201)
    const a1 = etagOf(await h.api('GET', '/api/v1/authenticators/hs-toggle'))
    assert.equal((await h.api('POST', '/api/v1/authenticators/hs-toggle/disable', undefined, API_KEY, ifMatch(a1))).status, 200)
    assertPreconditionFailed(await h.api('POST', '/api/v1/authenticators/hs-toggle/enable', undefined, API_KEY, ifMatch(a1)), /authenticator 'hs-toggle'/)
    assert.equal((await h.api('GET', '/api/v1/authenticators/hs-toggle')).body.enabled, false, 'nothing changed')
  })

  test('a change that has no entity tag refuses If-Match (400) instead of ignoring it, and changes nothing', async () => {
    const create = await h.api('POST', '/api/v1/devices', { id: 'm3', keys: [] }, API_KEY, ifMatch('*'))
    assert.equal(create.status, 400, create.text)
    assert.equal(create.body.error, 'ERR_BAD_REQUEST')
    assert.equal(create.body.path, 'If-Match')
    assert.match(create.body.message, /POST \/devices has no entity tag/)
    assert.equal((await h.api('GET', '/api/v1/devices/m3')).status, 404, 'nothing created')
    const settings = await h.api('PUT', '/api/v1/authorization/settings', { noMatch: 'deny' }, API_KEY, ifMatch('"x"'))
    assert.equal(settings.status, 400, settings.text)
    assert.equal((await h.api('GET', '/api/v1/devices', undefined, API_KEY, ifMatch('"x"'))).status, 200, 'a read ignores it')
  })

  test('OpenAPI: If-Match on the changes, ETag on the answers, 412 with the error schema', async () => {
    const doc = (await h.api('GET', '/api/docs', undefined, null)).body
    for (const [path, method] of [['/api/v1/devices/{id}', 'put'], ['/api/v1/devices/{id}', 'delete'], ['/api/v1/policies/{name}', 'patch'],
      ['/api/v1/policies/{name}/priority', 'patch'], ['/api/v1/authenticators/{name}', 'put'], ['/api/v1/authenticators/{name}', 'delete'],
      ['/api/v1/devices/{id}/disable', 'post'], ['/api/v1/authenticators/{name}/enable', 'post'], ['/api/v1/devices/{id}/keys', 'post'],
      ['/api/v1/devices/{id}/keys/{keyId}', 'delete']] as const) {
      const op = doc.paths[path][method]
      assert.ok(op.parameters.some((p: { name: string; in: string }) => p.name === 'If-Match' && p.in === 'header'), `${method} ${path}: If-Match`)
      assert.equal(op.responses['412'].content['application/json'].schema.$ref, '#/components/schemas/Error', `${method} ${path}: 412`)
    }
    for (const path of ['/api/v1/devices/{id}', '/api/v1/policies/{name}', '/api/v1/authenticators/{name}']) {
      assert.ok(doc.paths[path].get.responses['200'].headers.ETag !== undefined, `GET ${path}: ETag`)
    }
    assert.ok(doc.components.schemas.Error.properties.error.enum.includes('ERR_PRECONDITION_FAILED'))
    assert.equal(doc.paths['/api/v1/policies'].post.parameters, undefined, 'a create takes no If-Match')
    assert.ok(doc.paths['/api/v1/revocations/{id}'].delete.responses['400'] !== undefined, 'a change without a tag documents the 400 it answers to If-Match')
  })
})
