/**
 * The audit trail (issue 17 item 11): every successful change through the admin API is
 * recorded with who (the API key's name), from where, when, the operation and what changed
 * key by key — secrets never, only "[redacted]" — kept in the configuration store across a
 * restart, and read newest first a page at a time. Reads, the token check and refused
 * changes are not recorded.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { API_KEY, NEW_SECRET, SEED_SECRET, hsToken, removeDir, startAdmin, tempDataDir } from './helpers.js'

const OPS_KEY = 'ops-team-key-0123456789abcdef'

describe('admin API: audit trail', () => {
  const dataDir = tempDataDir()
  const overrides = { admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY, apiKeys: [{ name: 'ops', key: OPS_KEY }] } }
  after(() => removeDir(dataDir))

  it('records who, from where, what changed (secrets redacted); survives a restart; pages newest first', async () => {
    let h = await startAdmin({ dataDir, overrides })
    try {
      const empty = await h.api('GET', '/api/v1/audit')
      assert.equal(empty.status, 200)
      assert.deepEqual(empty.body, { entries: [], next: null })

      // an HMAC secret replaced by the ops key: the entry says a secret changed, never what it is
      const put = await h.api('PATCH', '/api/v1/authenticators/seed-hmac', { secret: NEW_SECRET, description: 'rotated' }, OPS_KEY)
      assert.equal(put.status, 200, put.text)
      const created = await h.api('POST', '/api/v1/policies', { name: 'no-secrets', priority: 5, effect: 'deny', actions: ['publish'], topics: ['secret/#'] })
      assert.equal(created.status, 201, created.text)
      assert.equal((await h.api('PUT', '/api/v1/authorization/settings', { noMatch: 'deny', aclClaim: 'acl' })).status, 200)
      // not recorded: reads, the token check, a refused change
      await h.api('GET', '/api/v1/authenticators')
      await h.api('POST', '/api/v1/token/check', { token: hsToken(NEW_SECRET) })
      assert.equal((await h.api('POST', '/api/v1/policies', { name: 'bad', effect: 'maybe' })).status, 400)
      // an action that changes no configuration: its body is kept
      assert.equal((await h.api('POST', '/api/v1/revocations', { sub: 'mallory', reason: 'left the company' }, OPS_KEY)).status, 201)

      const page = await h.api('GET', '/api/v1/audit')
      assert.equal(page.status, 200)
      const entries = page.body.entries as {
        id: number; at: string; who: string; address: string; operation: string
        changes: { path: string; before?: unknown; after?: unknown }[]; request?: unknown
      }[]
      assert.deepEqual(entries.map((e) => e.operation), [
        'POST /api/v1/revocations',
        'PUT /api/v1/authorization/settings',
        'POST /api/v1/policies',
        'PATCH /api/v1/authenticators/seed-hmac',
      ])
      assert.deepEqual(entries.map((e) => e.who), ['ops', 'admin', 'admin', 'ops'])
      for (const e of entries) {
        assert.equal(e.address, '127.0.0.1')
        assert.ok(Math.abs(Date.parse(e.at) - Date.now()) < 60_000, e.at)
      }
      const [revoke, settings, policy, rotate] = entries
      assert.deepEqual(rotate.changes, [
        { path: 'authentication.authenticators[seed-hmac].description', before: 'from the file', after: 'rotated' },
        { path: 'authentication.authenticators[seed-hmac].secret', before: '[redacted]', after: '[redacted]' },
      ])
      assert.equal(policy.changes.length, 1)
      assert.equal(policy.changes[0].path, 'authorization.policies[no-secrets]')
      assert.equal(policy.changes[0].before, undefined)
      assert.deepEqual((policy.changes[0].after as { topics: string[] }).topics, ['secret/#'])
      assert.deepEqual(settings.changes, [{ path: 'authorization.noMatch', before: 'allow', after: 'deny' }])
      assert.deepEqual(revoke.changes, [])
      assert.deepEqual(revoke.request, { sub: 'mallory', reason: 'left the company' })
      // secrets inside an action's body are redacted at any depth
      const { redactRequest } = await import('../../src/admin/audit-diff.js')
      assert.deepEqual(redactRequest({ id: 'dev-1', keys: [{ secret: NEW_SECRET }, { jwk: { kty: 'oct', k: 'c2VjcmV0' } }, { pem: '-----BEGIN PUBLIC KEY-----' }] }), {
        id: 'dev-1', keys: [{ secret: '[redacted]' }, { jwk: { kty: 'oct', k: '[redacted]' } }, { pem: '-----BEGIN PUBLIC KEY-----' }],
      })
      assert.match(String(redactRequest(Array.from({ length: 1000 }, (_, i) => ({ id: `d-${i}` })))), /^\[a body of \d+ characters, not kept\]$/)
      assert.ok(!page.text.includes(NEW_SECRET) && !page.text.includes(SEED_SECRET), 'no secret in the audit trail')

      // paging: two at a time, newest first, `next` leads to the older ones, then null
      const first = await h.api('GET', '/api/v1/audit?limit=2')
      assert.deepEqual(first.body.entries.map((e: { id: number }) => e.id), entries.slice(0, 2).map((e) => e.id))
      const second = await h.api('GET', `/api/v1/audit?limit=2&before=${first.body.next}`)
      assert.deepEqual(second.body.entries.map((e: { id: number }) => e.id), entries.slice(2, 4).map((e) => e.id))
      assert.equal(second.body.next, null)
      for (const bad of ['limit=0', 'limit=501', 'limit=x', 'before=-1']) {
        const r = await h.api('GET', `/api/v1/audit?${bad}`)
        assert.equal(r.status, 400, bad)
        assert.equal(r.body.error, 'ERR_VALIDATION', bad)
      }
    } finally {
      await h.close()
    }

    // kept in the configuration store: a restart still shows them
    h = await startAdmin({ dataDir, overrides })
    try {
      const again = await h.api('GET', '/api/v1/audit')
      assert.equal(again.body.entries.length, 4)
      const reorder = await h.api('PUT', '/api/v1/authenticators-order', { names: ['seed-hmac'] })
      assert.equal(reorder.status, 200, reorder.text)
      const last = (await h.api('GET', '/api/v1/audit?limit=1')).body.entries[0]
      assert.equal(last.operation, 'PUT /api/v1/authenticators-order')
      assert.deepEqual(last.changes, [])
      assert.ok(last.id > again.body.entries[0].id)
    } finally {
      await h.close()
    }
  })

  it('admin.apiKeys are validated: names unique (admin is admin.apiKey), keys of 16 characters or more', async () => {
    const { validateConfig } = await import('../../src/config/schema.js')
    const admin = (apiKeys: unknown): unknown => ({ admin: { apiKey: API_KEY, apiKeys } })
    assert.throws(() => validateConfig(admin([{ name: 'admin', key: OPS_KEY }])), /admin\.apiKeys\[0\]\.name: 'admin' is used twice/)
    assert.throws(() => validateConfig(admin([{ name: 'ops', key: 'short' }])), /admin\.apiKeys\[0\]\.key: is required and must be at least 16 characters/)
    assert.throws(() => validateConfig(admin([{ name: 'a b', key: OPS_KEY }])), /admin\.apiKeys\[0\]\.name/)
    assert.throws(() => validateConfig(admin([{ name: 'ops', key: OPS_KEY }, { name: 'ci', key: OPS_KEY }])), /admin\.apiKeys\[1\]\.key: is the same as another key/)
    assert.deepEqual(validateConfig(admin([{ name: 'ops', key: OPS_KEY }])).admin?.apiKeys, [{ name: 'ops', key: OPS_KEY }])
  })

  it('admin.apiKey needs 16 characters too, as each admin.apiKeys[].key does', async () => {
    const { validateConfig } = await import('../../src/config/schema.js')
    const { ConfigError } = await import('../../src/errors.js')
    const short = 'fifteen-chars-k'
    assert.equal(short.length, 15)
    assert.throws(() => validateConfig({ admin: { apiKey: short } }), (err: unknown) => err instanceof ConfigError &&
      err.path === 'admin.apiKey' && err.message === 'admin.apiKey: must be at least 16 characters')
    assert.equal(validateConfig({ admin: { apiKey: `${short}y` } }).admin?.apiKey, `${short}y`)
  })
})
