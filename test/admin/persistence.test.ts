/**
 * The stored configuration: the file seeds the first start, API changes survive a
 * restart (the database wins), resetStoredConfig makes the file win again, and the
 * database is private to its owner.
 */
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { validateConfig } from '../../src/config/schema.js'
import { ConfigError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { CONFIG_DB_FILE, SqliteConfigStore, resetStoredConfig } from '../../src/store/sqlite/config-store.js'
import { connect, end } from '../helpers/broker.js'
import { NEW_SECRET, baseConfig, hsToken, removeDir, startAdmin, tempDataDir } from './helpers.js'

describe('admin: persistent configuration (SQLite)', () => {
  it('API changes survive a restart; the file seeds only the first start', async () => {
    const dir = tempDataDir()
    try {
      const first = await startAdmin({ dataDir: dir })
      assert.equal(first.server.configSource, 'configuration file')
      assert.equal((await first.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'api-hmac', from: 'password', algorithm: 'hmac-based', secret: NEW_SECRET, claims: { required: ['exp'], match: { sub: '${clientid}' } } })).status, 201)
      assert.equal((await first.api('POST', '/api/v1/authenticators', { type: 'jwks', name: 'pasted', text: '{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256"}]}' })).status, 201)
      assert.equal((await first.api('POST', '/api/v1/authenticators/seed-hmac/disable')).status, 200)
      assert.equal((await first.api('PUT', '/api/v1/authenticators-order', { names: ['api-hmac', 'pasted', 'seed-hmac'] })).status, 200)
      assert.equal((await first.api('POST', '/api/v1/policies', { name: 'api-policy', priority: 7, effect: 'deny', actions: ['connect'], ip: '10.0.0.0/8' })).status, 201)
      assert.equal((await first.api('DELETE', '/api/v1/policies/file-policy')).status, 204)
      assert.equal((await first.api('PUT', '/api/v1/authorization/settings', { noMatch: 'deny', aclClaim: 'perm', superuserClaim: 'su' })).status, 200)
      const before = (await first.api('GET', '/api/v1/authenticators')).body
      await first.close()

      const second = await startAdmin({ dataDir: dir })
      try {
        assert.equal(second.server.configSource, 'database')
        const after = (await second.api('GET', '/api/v1/authenticators')).body
        const strip = (list: Array<Record<string, unknown>>) => list.map(({ status: _s, ...rest }) => rest)
        assert.deepEqual(strip(after), strip(before))
        assert.deepEqual(after.map((a: { name: string; enabled: boolean }) => [a.name, a.enabled]), [['api-hmac', true], ['pasted', true], ['seed-hmac', false]])
        assert.deepEqual((await second.api('GET', '/api/v1/policies')).body, [{ name: 'api-policy', priority: 7, effect: 'deny', actions: ['connect'], ip: ['10.0.0.0/8'] }])
        assert.deepEqual((await second.api('GET', '/api/v1/authorization/settings')).body, { noMatch: 'deny', aclClaim: 'perm', superuserClaim: 'su' })
        // The restored authenticator works (its secret was kept).
        const client = await connect(second.mqttPort, { protocolVersion: 5, clientId: 'alice', username: 'u', password: hsToken(NEW_SECRET) })
        await end(client)
      } finally {
        await second.close()
      }

      assert.equal(resetStoredConfig(dir), true)
      const third = await startAdmin({ dataDir: dir })
      try {
        assert.equal(third.server.configSource, 'configuration file')
        assert.deepEqual((await third.api('GET', '/api/v1/authenticators')).body.map((a: { name: string }) => a.name), ['seed-hmac'])
      } finally {
        await third.close()
      }
      assert.equal(statSync(join(dir, CONFIG_DB_FILE)).mode & 0o077, 0, 'the database (secrets) is private')
    } finally {
      removeDir(dir)
    }
  })

  it('a stored entry that no longer validates stops start-up with its key path', async () => {
    const dir = tempDataDir()
    try {
      const store = new SqliteConfigStore(dir)
      store.save({
        authenticators: [{ type: 'jwt', name: 'broken', algorithm: 'hmac-based', secret: 'short' }],
        authorization: { noMatch: 'deny' },
      })
      store.close()
      await assert.rejects(
        createServer(validateConfig(baseConfig(dir)), { logger: silentLogger() }),
        (err: unknown) => err instanceof ConfigError && err.path === 'authentication.authenticators[0].secret' && /--reset-config/.test(err.message),
      )
    } finally {
      removeDir(dir)
    }
  })

  it('without an admin listener (or with persistConfig: false) nothing is stored', async () => {
    const dir = tempDataDir()
    try {
      const raw = baseConfig(dir)
      delete raw['admin']
      const s = await createServer(validateConfig(raw), { logger: silentLogger() })
      assert.equal(s.configSource, 'configuration file')
      await s.close()
      const t = await createServer(validateConfig(baseConfig(dir)), { logger: silentLogger(), persistConfig: false })
      await t.close()
      assert.throws(() => statSync(join(dir, CONFIG_DB_FILE)))
      assert.equal(resetStoredConfig(dir), false)
    } finally {
      removeDir(dir)
    }
  })
})
