/**
 * Who may call what (bearer token, constant-time check, public routes), the OpenAPI
 * document at /api/docs, and the Prometheus families at /metrics.
 */
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { describe, it } from 'node:test'
import { API_KEY_FILE, checkBearer, loadOrCreateApiKey } from '../../src/admin/api-key.js'
import { API_PREFIX, API_ROUTES } from '../../src/admin/routes.js'
import { connect, end } from '../helpers/broker.js'
import { API_KEY, NEW_SECRET, hsToken, removeDir, startAdmin, useAdmin, tempDataDir } from './helpers.js'

describe('admin API: access', () => {
  const h = useAdmin()

  it('every /api/v1 route answers 401 without the key, or with a wrong one', async () => {
    for (const route of API_ROUTES) {
      const path = `${API_PREFIX}${route.url.replace(/:[a-z]+/g, 'x')}`
      for (const key of [null, 'wrong', `${API_KEY}x`, '']) {
        const r = await h.api(route.method, path, route.body !== undefined ? {} : undefined, key)
        assert.equal(r.status, 401, `${route.method} ${path} with ${String(key)}`)
        assert.equal(r.body.error, 'ERR_UNAUTHORIZED')
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/)
      }
    }
    const basic = await fetch(`${h.adminUrl}/api/v1/stats`, { headers: { authorization: `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}` } })
    assert.equal(basic.status, 401)
  })

  it('unknown API paths need the key too, then are 404', async () => {
    assert.equal((await h.api('GET', '/api/v2/things', undefined, null)).status, 401)
    const r = await h.api('GET', '/api/v2/things')
    assert.equal(r.status, 404)
    assert.equal(r.body.error, 'ERR_NOT_FOUND')
    assert.equal((await h.api('GET', '/api/v1/nothing-here')).status, 404)
  })

  it('/healthz, /readyz, /api/docs and the console are public', async () => {
    assert.equal((await h.api('GET', '/healthz', undefined, null)).status, 200)
    const ready = await h.api('GET', '/readyz', undefined, null)
    assert.equal(ready.status, 200)
    assert.deepEqual(ready.body, { status: 'ready' })
    assert.equal((await h.api('GET', '/api/docs', undefined, null)).status, 200)
    const page = await fetch(`${h.adminUrl}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
  })

  it('/metrics needs the key unless metricsPublic', async () => {
    const r = await h.api('GET', '/metrics', undefined, null)
    assert.equal(r.status, 401)
    assert.equal((await h.api('GET', '/metrics')).status, 200)
    const open = await startAdmin({ overrides: {} })
    try {
      // metricsPublic is an AdminServerOptions flag (admin.metricsPublic once the schema has it).
      const { startAdminServer } = await import('../../src/admin/server.js')
      const { silentLogger } = await import('../../src/log.js')
      const pub = await startAdminServer({ config: { host: '127.0.0.1', port: 0, apiKey: undefined, metricsPublic: true }, logger: silentLogger(), metricsPublic: true, console: false })
      try {
        const starting = await fetch(`${pub.url}/readyz`)
        assert.equal(starting.status, 503, 'no broker listening through this admin server: not ready')
        assert.deepEqual(await starting.json(), { status: 'starting' })
        pub.attach({ admin: open.server.brokerAdmin, metrics: (await import('prom-client')).register })
        assert.equal((await fetch(`${pub.url}/metrics`)).status, 200)
        assert.equal((await fetch(`${pub.url}/api/v1/stats`)).status, 401, 'no key configured: the API refuses')
      } finally {
        await pub.close()
      }
    } finally {
      await open.close()
      removeDir(open.dataDir)
    }
  })

  it('checkBearer: exact match only', () => {
    assert.equal(checkBearer(`Bearer ${API_KEY}`, API_KEY), true)
    assert.equal(checkBearer(`bearer ${API_KEY}`, API_KEY), true)
    assert.equal(checkBearer(`Bearer ${API_KEY.slice(0, -1)}`, API_KEY), false)
    assert.equal(checkBearer(API_KEY, API_KEY), false)
    assert.equal(checkBearer(undefined, API_KEY), false)
    assert.equal(checkBearer('Bearer ', ''), false)
  })

  it('loadOrCreateApiKey: generated once (mode 0600), then read back', () => {
    const dir = tempDataDir()
    try {
      const first = loadOrCreateApiKey(dir)
      assert.equal(first.created, true)
      assert.ok(first.key.length >= 32)
      assert.ok(first.file.endsWith(API_KEY_FILE))
      assert.equal(statSync(first.file).mode & 0o777, 0o600)
      const second = loadOrCreateApiKey(dir)
      assert.equal(second.created, false)
      assert.equal(second.key, first.key)
    } finally {
      removeDir(dir)
    }
  })

  it('without admin.apiKey the server uses dataDir/admin-api-key', async () => {
    const dir = tempDataDir()
    const s = await startAdmin({ dataDir: dir, overrides: { admin: { host: '127.0.0.1', port: 0 } } })
    try {
      const key = loadOrCreateApiKey(dir)
      assert.equal(key.created, false, 'the server created it')
      assert.equal((await s.api('GET', '/api/v1/stats', undefined, key.key)).status, 200)
      assert.equal((await s.api('GET', '/api/v1/stats')).status, 401)
    } finally {
      await s.close()
      removeDir(dir)
    }
  })
})

describe('admin API: OpenAPI document', () => {
  const h = useAdmin()

  it('is an OpenAPI 3 document listing every route, with resolvable references', async () => {
    const r = await h.api('GET', '/api/docs', undefined, null)
    const doc = r.body
    assert.match(doc.openapi, /^3\.\d+\.\d+$/)
    assert.equal(typeof doc.info.title, 'string')
    assert.equal(typeof doc.info.version, 'string')
    assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer')
    for (const route of API_ROUTES) {
      const path = `${API_PREFIX}${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`
      const op = doc.paths[path]?.[route.method.toLowerCase()]
      assert.ok(op, `${route.method} ${path} is documented`)
      assert.ok(op.responses['401'])
      assert.ok(op.responses[String(route.status ?? 200)])
      for (const m of path.matchAll(/\{([A-Za-z]+)\}/g)) {
        assert.ok(op.parameters.some((p: { name: string; in: string }) => p.name === m[1] && p.in === 'path'))
      }
    }
    assert.ok(doc.paths['/metrics'].get)
    const ids = new Set<string>()
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk)
      else if (typeof v === 'object' && v !== null) {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref') {
            const name = String(x).replace('#/components/schemas/', '')
            assert.ok(doc.components.schemas[name], `$ref ${String(x)} resolves`)
          } else if (k === 'operationId') {
            assert.ok(!ids.has(String(x)), `operationId ${String(x)} is unique`)
            ids.add(String(x))
          } else walk(x)
        }
      }
    }
    walk(doc)
    assert.equal(ids.size, API_ROUTES.length + 3) // + /metrics, /healthz, /readyz
  })

  it('every documented /api/v1 operation exists (no 404 with the key)', async () => {
    const doc = (await h.api('GET', '/api/docs', undefined, null)).body
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      if (!path.startsWith(API_PREFIX)) continue
      for (const method of Object.keys(ops)) {
        const r = await h.api(method.toUpperCase(), path.replace(/\{[A-Za-z]+\}/g, 'no-such-thing'), ['post', 'put', 'patch'].includes(method) ? {} : undefined)
        if (r.status === 404) assert.notEqual(r.body.message.startsWith('no route'), true, `${method} ${path}`)
      }
    }
  })
})

describe('admin: /metrics', () => {
  const h = useAdmin()

  it('exposes the broker, authentication, authorization, JWKS and process families', async () => {
    await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'api-hmac', from: 'password', algorithm: 'hmac-based', secret: NEW_SECRET })
    const client = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'm-1', username: 'u', password: hsToken(NEW_SECRET) })
    await client.publishAsync('file/a', 'x', { qos: 1 })
    await end(client)
    const r = await h.api('GET', '/metrics')
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/)
    for (const family of [
      'portcullis_connections', 'portcullis_connections_open', 'portcullis_connections_accepted_total', 'portcullis_sessions',
      'portcullis_retained_messages', 'portcullis_messages_total', 'portcullis_messages_dropped_total', 'portcullis_bytes_total',
      'portcullis_auth_failures_total', 'portcullis_authz_denied_total', 'portcullis_authentication_outcomes_total',
      'portcullis_authenticator_state', 'portcullis_authenticator_keys', 'portcullis_jwks_consecutive_failures',
      'portcullis_token_verifications_total', 'portcullis_token_verification_seconds_total',
      'portcullis_uptime_seconds', 'portcullis_info', 'portcullis_event_loop_stall_max_seconds', 'nodejs_eventloop_lag_seconds', 'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ]) {
      assert.match(r.text, new RegExp(`^# TYPE ${family} `, 'm'), family)
    }
    assert.match(r.text, /^portcullis_messages_total\{direction="in",qos="1"\} 1$/m)
    assert.match(r.text, /^portcullis_authentication_outcomes_total\{authenticator="api-hmac",outcome="allow",reason="ok"\} 1$/m)
    assert.match(r.text, /^portcullis_authenticator_state\{authenticator="seed-hmac",type="jwt",state="ok"\} 1$/m)
    assert.match(r.text, /^portcullis_token_verifications_total\{authenticator="api-hmac"\} 1$/m)
    const spent = /^portcullis_token_verification_seconds_total\{authenticator="api-hmac"\} ([0-9.e-]+)$/m.exec(r.text)
    assert.ok(spent !== null && Number(spent[1]) > 0 && Number(spent[1]) < 1, 'one verification took some time, well under a second')
    assert.ok(!r.text.includes(NEW_SECRET))
    // the same families count introspection and http requests: the help says so, not "signatures" only
    for (const family of ['portcullis_token_verifications_total', 'portcullis_token_verification_seconds_total', 'portcullis_token_verification_cache_hits_total']) {
      const help = new RegExp(`^# HELP ${family} (.*)$`, 'm').exec(r.text)?.[1] ?? ''
      assert.match(help, /\(jwt, jwks\).*\(introspection, http\)/, family)
    }
  })

  it('two servers in one process keep separate registries', async () => {
    const other = await startAdmin()
    try {
      const a = await h.api('GET', '/metrics')
      const b = await other.api('GET', '/metrics')
      assert.match(a.text, /authenticator="api-hmac"/)
      assert.doesNotMatch(b.text, /authenticator="api-hmac"/)
    } finally {
      await other.close()
      removeDir(other.dataDir)
    }
  })
})
