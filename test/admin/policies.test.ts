/** /api/v1/policies and /api/v1/authorization/settings. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { useAdmin } from './helpers.js'

describe('admin API: authorization policies and settings', () => {
  const h = useAdmin()

  it('lists the file\'s policies', async () => {
    const r = await h.api('GET', '/api/v1/policies')
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, [{ name: 'file-policy', priority: 100, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['file/#'] }])
  })

  it('POST creates (201) and the list is in priority order', async () => {
    const r = await h.api('POST', '/api/v1/policies', {
      name: 'sensors-own', priority: 10, effect: 'allow', actions: ['pub', 'sub'], topics: ['sensors/${clientid}/#'], clientId: '^sensor-', qos: [1, 0], description: 'own topics',
    })
    assert.equal(r.status, 201, r.text)
    assert.deepEqual(r.body.actions, ['publish', 'subscribe'])
    assert.deepEqual(r.body.qos, [0, 1])
    const c = await h.api('POST', '/api/v1/policies', { name: 'deny-connect', priority: 1000, effect: 'deny', actions: ['connect'], username: 'mallory' })
    assert.equal(c.status, 201, c.text)
    assert.equal(c.body.topics, undefined)
    const list = await h.api('GET', '/api/v1/policies')
    assert.deepEqual(list.body.map((p: { name: string }) => p.name), ['sensors-own', 'file-policy', 'deny-connect'])
    assert.equal(h.server.brokerAdmin.authorization.policies.length, 3)
  })

  it('POST: duplicate name or priority is 409', async () => {
    const name = await h.api('POST', '/api/v1/policies', { name: 'file-policy', priority: 5, effect: 'allow', actions: ['publish'], topics: ['a'] })
    assert.equal(name.status, 409)
    assert.equal(name.body.error, 'ERR_CONFLICT')
    assert.equal(name.body.path, 'authorization.policies[3].name')
    const prio = await h.api('POST', '/api/v1/policies', { name: 'other', priority: 100, effect: 'allow', actions: ['publish'], topics: ['a'] })
    assert.equal(prio.status, 409)
    assert.equal(prio.body.path, 'authorization.policies[3].priority')
  })

  it('one node, PATCHes at once of one policy (topics, clientId, priority): all three hold', async () => {
    const created = await h.api('POST', '/api/v1/policies', { name: 'busy', priority: 700, effect: 'allow', actions: ['publish'], topics: ['old/#'] })
    assert.equal(created.status, 201, created.text)
    const answers = await Promise.all([
      h.api('PATCH', '/api/v1/policies/busy', { topics: ['new/#'] }),
      h.api('PATCH', '/api/v1/policies/busy', { clientId: '^busy-' }),
      h.api('PATCH', '/api/v1/policies/busy/priority', { priority: 701 }),
    ])
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], answers.map((a) => a.text).join('\n'))
    const p = (await h.api('GET', '/api/v1/policies/busy')).body
    assert.deepEqual([p.topics, p.clientId, p.priority], [['new/#'], '^busy-', 701])
    assert.equal((await h.api('DELETE', '/api/v1/policies/busy')).status, 204)
  })

  it('POST validation errors carry the configuration path', async () => {
    const cases: Array<[unknown, string]> = [
      [{ name: 'ab', priority: 1, effect: 'allow', actions: ['publish'], topics: ['a'] }, 'authorization.policies[3].name'],
      [{ name: 'abc', priority: 1.5, effect: 'allow', actions: ['publish'], topics: ['a'] }, 'authorization.policies[3].priority'],
      [{ name: 'abc', priority: 1, effect: 'maybe', actions: ['publish'], topics: ['a'] }, 'authorization.policies[3].effect'],
      [{ name: 'abc', priority: 1, effect: 'allow', actions: ['fly'], topics: ['a'] }, 'authorization.policies[3].actions[0]'],
      [{ name: 'abc', priority: 1, effect: 'allow', actions: ['publish'] }, 'authorization.policies[3].topics'],
      [{ name: 'abc', priority: 1, effect: 'allow', actions: ['publish'], topics: ['a'], ip: '10.0.0.0/99' }, 'authorization.policies[3].ip'],
      [{ name: 'abc', priority: 1, effect: 'allow', actions: ['publish'], topics: ['a'], clientId: '(' }, 'authorization.policies[3].clientId'],
      [{ name: 'abc', priority: 1, effect: 'allow', actions: ['publish'], topics: ['a'], description: 'x'.repeat(129) }, 'authorization.policies[3].description'],
      [{ name: 'abc', priority: 1, effect: 'allow', actions: ['publish'], topics: ['a'], extra: true }, 'authorization.policies[3].extra'],
      ['"text"', 'authorization.policies[3]'],
    ]
    for (const [body, path] of cases) {
      const r = await h.api('POST', '/api/v1/policies', body)
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`)
      assert.equal(r.body.error, 'ERR_VALIDATION')
      assert.equal(r.body.path, path)
      assert.ok(r.body.message.startsWith(`${path}: `))
    }
  })

  it('GET one; 404 for an unknown name', async () => {
    const r = await h.api('GET', '/api/v1/policies/sensors-own')
    assert.equal(r.status, 200)
    assert.equal(r.body.clientId, '^sensor-')
    assert.equal((await h.api('GET', '/api/v1/policies/nope')).status, 404)
  })

  it('PUT replaces the whole policy; rename 400, priority clash 409, unknown 404', async () => {
    const r = await h.api('PUT', '/api/v1/policies/sensors-own', { priority: 11, effect: 'deny', actions: ['publish'], topics: ['sensors/#'] })
    assert.equal(r.status, 200, r.text)
    assert.deepEqual(r.body, { name: 'sensors-own', priority: 11, effect: 'deny', actions: ['publish'], topics: ['sensors/#'] })
    const rename = await h.api('PUT', '/api/v1/policies/sensors-own', { name: 'zzz', priority: 11, effect: 'deny', actions: ['publish'], topics: ['a'] })
    assert.equal(rename.status, 400)
    assert.equal(rename.body.path, 'authorization.policies[1].name')
    const clash = await h.api('PUT', '/api/v1/policies/sensors-own', { priority: 100, effect: 'deny', actions: ['publish'], topics: ['a'] })
    assert.equal(clash.status, 409)
    const bad = await h.api('PUT', '/api/v1/policies/sensors-own', { priority: 11, effect: 'deny', actions: [] })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.path, 'authorization.policies[1].actions')
    assert.equal((await h.api('PUT', '/api/v1/policies/nope', { priority: 1, effect: 'deny', actions: ['connect'] })).status, 404)
  })

  it('PATCH priority: ok, 409 on a clash, 400 when not an integer, 404 unknown', async () => {
    const r = await h.api('PATCH', '/api/v1/policies/sensors-own/priority', { priority: 500 })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.priority, 500)
    const list = await h.api('GET', '/api/v1/policies')
    assert.deepEqual(list.body.map((p: { name: string }) => p.name), ['file-policy', 'sensors-own', 'deny-connect'])
    const clash = await h.api('PATCH', '/api/v1/policies/sensors-own/priority', { priority: 1000 })
    assert.equal(clash.status, 409)
    assert.equal(clash.body.path, 'authorization.policies[1].priority')
    const same = await h.api('PATCH', '/api/v1/policies/sensors-own/priority', { priority: 500 })
    assert.equal(same.status, 200, 'its own priority is no clash')
    const bad = await h.api('PATCH', '/api/v1/policies/sensors-own/priority', { priority: 'high' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.path, 'authorization.policies[1].priority')
    const none = await h.api('PATCH', '/api/v1/policies/sensors-own/priority', {})
    assert.equal(none.status, 400)
    assert.equal((await h.api('PATCH', '/api/v1/policies/nope/priority', { priority: 3 })).status, 404)
  })

  it('DELETE (204), then 404', async () => {
    assert.equal((await h.api('DELETE', '/api/v1/policies/sensors-own')).status, 204)
    assert.equal((await h.api('GET', '/api/v1/policies/sensors-own')).status, 404)
    assert.equal((await h.api('DELETE', '/api/v1/policies/sensors-own')).status, 404)
  })

  it('settings: GET and PUT (full replacement), validation 400', async () => {
    const r = await h.api('GET', '/api/v1/authorization/settings')
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { noMatch: 'allow', aclClaim: 'acl', superuserClaim: null })
    const put = await h.api('PUT', '/api/v1/authorization/settings', { noMatch: 'deny', aclClaim: 'mqtt_acl', superuserClaim: 'is_superuser' })
    assert.equal(put.status, 200, put.text)
    assert.deepEqual(put.body, { noMatch: 'deny', aclClaim: 'mqtt_acl', superuserClaim: 'is_superuser' })
    assert.equal(h.server.broker.authz.noMatch, 'deny', 'the broker uses the new chain')
    assert.equal((await h.api('GET', '/api/v1/policies')).body.length, 2, 'policies are kept')
    const bad = await h.api('PUT', '/api/v1/authorization/settings', { noMatch: 'sometimes' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.path, 'authorization.noMatch')
    const unknown = await h.api('PUT', '/api/v1/authorization/settings', { noMatch: 'deny', colour: 'red' })
    assert.equal(unknown.body.path, 'authorization.colour')
    const policies = await h.api('PUT', '/api/v1/authorization/settings', { policies: [] })
    assert.equal(policies.status, 400)
    assert.equal(policies.body.path, 'authorization.policies')
    const reset = await h.api('PUT', '/api/v1/authorization/settings', { superuserClaim: null })
    assert.deepEqual(reset.body, { noMatch: 'deny', aclClaim: 'acl', superuserClaim: null })
  })
})
