/**
 * The stored configuration and the file: a start that fails stores nothing (the next start
 * takes the file as it is then), and when a stored copy wins over a file that differs,
 * start-up says so — log line, GET /api/v1/configuration (the console's banner) — naming
 * what differs by name and key, never by value.
 */
import assert from 'node:assert/strict'
import { createServer as createTcpServer, type Server } from 'node:net'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger, silentLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { SqliteConfigStore } from '../../src/store/sqlite/config-store.js'
import { API_KEY, NEW_SECRET, SEED_SECRET, baseConfig, removeDir, tempDataDir } from './helpers.js'
import type { Json } from '../helpers/json.js'

function hmac(name: string, secret = SEED_SECRET, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'jwt', name, from: 'password', algorithm: 'hmac-based', secret, ...extra }
}

function withAuthenticators(dataDir: string, authenticators: unknown[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig(dataDir, { authentication: { allowAnonymous: false, authenticators }, ...overrides })
}

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createTcpServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as { port: number }).port, server }
}

describe('admin: a failed start stores nothing', () => {
  it('MQTT port in use with authenticator first-try; fixed and renamed second-try: the broker runs second-try', async () => {
    const dir = tempDataDir()
    const busy = await occupiedPort()
    try {
      const failing = withAuthenticators(dir, [hmac('first-try')], { listeners: [{ type: 'tcp', host: '127.0.0.1', port: busy.port }] })
      await assert.rejects(createServer(validateConfig(failing), { logger: silentLogger() }), /EADDRINUSE|in use/)
      const store = new SqliteConfigStore(dir)
      try {
        assert.equal(store.load(), undefined, 'nothing stored by the failed start')
      } finally {
        store.close()
      }
      const server = await createServer(validateConfig(withAuthenticators(dir, [hmac('second-try')])), { logger: silentLogger() })
      try {
        assert.equal(server.configSource, 'configuration file')
        assert.deepEqual(server.authenticators.map((a) => a.name), ['second-try'])
      } finally {
        await server.close()
      }
      const after = new SqliteConfigStore(dir)
      try {
        assert.deepEqual(after.load()?.authenticators.map((a) => a['name']), ['second-try'], 'stored once the broker had started')
      } finally {
        after.close()
      }
    } finally {
      busy.server.close()
      removeDir(dir)
    }
  })
})

describe('admin: the file differs from the stored configuration in use', () => {
  it('start-up logs what differs, by name and key (never a value), and GET /configuration reports it', async () => {
    const dir = tempDataDir()
    try {
      const first = await createServer(validateConfig(withAuthenticators(dir, [hmac('corp'), hmac('old-one')])), { logger: silentLogger() })
      assert.equal(first.configuration.fileDiffers, false)
      await first.close()

      let log = ''
      const sink = new PassThrough()
      sink.on('data', (d: Buffer) => (log += d.toString()))
      const edited = withAuthenticators(dir, [hmac('corp', NEW_SECRET, { claims: { issuer: ['https://corp'] } }), hmac('new-one')], {
        authorization: { noMatch: 'deny', policies: [{ name: 'file-policy', priority: 100, effect: 'allow', actions: ['publish'], topics: ['file/#'] }] },
      })
      const second = await createServer(validateConfig(edited), { logger: createLogger({ level: 'info', destination: sink }) })
      try {
        assert.equal(second.configSource, 'database')
        assert.deepEqual(second.authenticators.map((a) => a.name), ['corp', 'old-one'], 'the stored copy is used')
        const c = second.configuration
        assert.equal(c.fileDiffers, true)
        assert.deepEqual(c.differences?.authenticators, {
          onlyInFile: ['new-one'], onlyStored: ['old-one'], changed: [{ name: 'corp', keys: ['claims.issuer', 'secret'] }], orderDiffers: false,
        })
        assert.deepEqual(c.differences?.policies, { onlyInFile: [], onlyStored: [], changed: [{ name: 'file-policy', keys: ['actions'] }] })
        assert.deepEqual(c.differences?.settings, ['noMatch'])
        assert.match(c.message!, /old-one/)
        assert.match(c.message!, /--reset-config/)

        await new Promise((r) => setTimeout(r, 50))
        const warn = log.split('\n').filter((l) => l.includes('differs from the stored configuration')).map((l) => JSON.parse(l) as { level: number; msg: string })
        assert.equal(warn.length, 1, log)
        assert.equal(warn[0].level, 40, 'a warning')
        assert.match(warn[0].msg, /authenticators stored but not in the file: old-one; authenticators in the file but not stored \(not used\): new-one; authenticator corp differs in claims\.issuer, secret/)
        for (const secret of [SEED_SECRET, NEW_SECRET]) assert.ok(!log.includes(secret), 'no secret value is logged')

        const res = await fetch(`${second.admin!.url}/api/v1/configuration`, { headers: { authorization: `Bearer ${API_KEY}` } })
        assert.equal(res.status, 200)
        const body = await res.json() as Record<string, Json>
        assert.equal(body['source'], 'database')
        assert.equal(body['fileDiffers'], true)
        assert.deepEqual(body['differences'], JSON.parse(JSON.stringify(c.differences)))
        assert.equal(body['message'], c.message)
      } finally {
        await second.close()
      }
    } finally {
      removeDir(dir)
    }
  })

  it('the same file again: no difference reported', async () => {
    const dir = tempDataDir()
    try {
      for (let i = 0; i < 2; i++) {
        const s = await createServer(validateConfig(withAuthenticators(dir, [hmac('corp')])), { logger: silentLogger() })
        assert.equal(s.configuration.fileDiffers, false)
        assert.equal(s.configSource, i === 0 ? 'configuration file' : 'database')
        await s.close()
      }
    } finally {
      removeDir(dir)
    }
  })
})
