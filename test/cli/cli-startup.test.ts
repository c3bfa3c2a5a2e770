/**
 * Start-up order and its errors, through the command line as a child process: every
 * certificate and key file is checked before any listener (the admin one included) opens;
 * a missing file or a port in use exits 2 naming the key path; an empty configuration file
 * is refused; the development setup binds MQTT to 127.0.0.1 (PORTCULLIS_MQTT_HOST moves it);
 * a cluster Redis that refuses the node exits 2 with Redis's own reason.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { cli, exited, freePort, startBroker } from '../helpers/cli.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

/** A plain TCP server on a free loopback port: the port is in use while it runs. */
async function holdPort(): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(true))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)))
  })
}

describe('cli: start-up order and its errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-startup-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('a missing certificate: exit 2 naming listeners[1].cert, before the admin listener opened', async () => {
    const admin = await freePort()
    const mqtt = await freePort()
    writeFileSync(join(dir, 'tls.yaml'), [
      `admin: { host: 127.0.0.1, port: ${admin}, apiKey: test-key-0123456789abcdef }`,
      'listeners:',
      `  - { type: tcp, host: 127.0.0.1, port: ${mqtt} }`,
      `  - { type: tls, host: 127.0.0.1, port: ${await freePort()}, cert: missing.crt, key: missing.key }`,
      'authentication: { allowAnonymous: true }',
      `dataDir: ${join(dir, 'data-tls')}`,
      '',
    ].join('\n'))
    const r = await cli(['start', '--config', 'tls.yaml'], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /invalid configuration: listeners\[1\]\.cert: cannot read missing\.crt: ENOENT/)
    assert.doesNotMatch(r.stdout, /admin listening|"msg":"listening"/, 'no listener opened')
    assert.doesNotMatch(r.stdout, /stored for the admin API/, 'nothing stored')
  })

  test('a certificate that does not fit its key: exit 2 naming listeners[0].cert', async () => {
    writeFileSync(join(dir, 'garbage.crt'), 'not a certificate\n')
    writeFileSync(join(dir, 'garbage.key'), 'not a key\n')
    writeFileSync(join(dir, 'bad-tls.yaml'), `listeners: [{ type: tls, host: 127.0.0.1, port: ${await freePort()}, cert: garbage.crt, key: garbage.key }]\nauthentication: { allowAnonymous: true }\n`)
    const r = await cli(['start', '--config', 'bad-tls.yaml'], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /listeners\[0\]\.cert: garbage\.crt and listeners\[0\]\.key garbage\.key cannot be used together/)
  })

  let busy: Server | undefined
  after(() => busy?.close())
  test('a port in use: exit 2 naming listeners[0].port (MQTT) or admin.port', async () => {
    busy = await holdPort()
    const port = (busy.address() as { port: number }).port
    const admin = await freePort()
    writeFileSync(join(dir, 'busy.yaml'), `admin: { host: 127.0.0.1, port: ${admin}, apiKey: test-key-0123456789abcdef }\nlisteners: [{ type: tcp, host: 127.0.0.1, port: ${port} }]\nauthentication: { allowAnonymous: true }\ndataDir: ${join(dir, 'data-busy')}\n`)
    const r = await cli(['start', '--config', 'busy.yaml'], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, new RegExp(`invalid configuration: listeners\\[0\\]\\.port: 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\)`))
    assert.equal(await listening(admin), false, 'the admin listener was closed again')
    writeFileSync(join(dir, 'busy-admin.yaml'), `admin: { host: 127.0.0.1, port: ${port}, apiKey: test-key-0123456789abcdef }\nlisteners: [{ type: tcp, host: 127.0.0.1, port: ${await freePort()} }]\nauthentication: { allowAnonymous: true }\ndataDir: ${join(dir, 'data-busy')}\n`)
    const a = await cli(['start', '--config', 'busy-admin.yaml'], dir)
    assert.equal(a.code, 2, a.stderr)
    assert.match(a.stderr, /invalid configuration: admin\.port: 127\.0\.0\.1:\d+ is already in use/)
  })

  test('two listeners on one port, or the admin listener on a listener\'s port: exit 2 naming both, before anything opens', async () => {
    const port = await freePort()
    const cases = [
      [`listeners: [{ type: tcp, host: 127.0.0.1, port: ${port} }, { type: ws, host: 127.0.0.1, port: ${port}, path: /mqtt }]`,
        `listeners[1].port: 127.0.0.1:${port} is also listeners[0]'s (127.0.0.1:${port}): two listeners cannot share a port`],
      [`listeners: [{ type: tcp, port: ${port} }]\nadmin: { host: 127.0.0.1, port: ${port}, apiKey: test-key-0123456789abcdef }`,
        `admin.port: 127.0.0.1:${port} is also listeners[0]'s (0.0.0.0:${port}): two listeners cannot share a port`],
    ]
    for (const [yaml, said] of cases) {
      writeFileSync(join(dir, 'shared-port.yaml'), `${yaml}\nauthentication: { allowAnonymous: true }\ndataDir: ${join(dir, 'data-shared')}\n`)
      const r = await cli(['start', '--config', 'shared-port.yaml'], dir)
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stderr.trim(), `portcullis: invalid configuration: ${said}`)
    }
    // Listeners on different addresses of one port are fine (127.0.0.1 and 127.0.0.2): this one starts.
    writeFileSync(join(dir, 'two-addresses.yaml'), [
      `listeners: [{ type: tcp, host: 127.0.0.1, port: ${port} }, { type: tcp, host: 127.0.0.2, port: ${port} }]`,
      'authentication: { allowAnonymous: true }', `dataDir: ${join(dir, 'data-two')}`, '',
    ].join('\n'))
    const b = await startBroker(dir, ['--config', 'two-addresses.yaml'], {})
    b.child.kill('SIGTERM')
    await exited(b.child)
  })

  let held: Server | undefined
  after(() => held?.close())
  test('a ws listener on a port something else holds: exit 2 naming listeners[0].port (it crashed on an unhandled error event)', async () => {
    held = await holdPort()
    const port = (held.address() as { port: number }).port
    writeFileSync(join(dir, 'ws-busy.yaml'), `listeners: [{ type: ws, host: 127.0.0.1, port: ${port}, path: /mqtt }]\nauthentication: { allowAnonymous: true }\ndataDir: ${join(dir, 'data-ws')}\n`)
    const r = await cli(['start', '--config', 'ws-busy.yaml'], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, new RegExp(`^portcullis: invalid configuration: listeners\\[0\\]\\.port: 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\)`))
    assert.doesNotMatch(r.stderr, /Unhandled 'error' event/)
  })

  test('an empty configuration file is refused (exit 2), saying what to do', async () => {
    for (const text of ['', '\n', '# nothing yet\n']) {
      writeFileSync(join(dir, 'empty.yaml'), text)
      const r = await cli(['start', '--config', 'empty.yaml'], dir)
      assert.equal(r.code, 2, JSON.stringify(text))
      assert.match(r.stderr, /empty\.yaml: is empty: give at least listeners and authentication/)
    }
  })

  test('the development setup: a port variable that is not a port is a configuration error naming it (exit 2)', async () => {
    for (const [name, value] of [['PORTCULLIS_MQTT_PORT', 'abc'], ['PORTCULLIS_ADMIN_PORT', '99999']] as const) {
      const r = await cli(['start', '--data-dir', join(dir, 'data-env')], dir, { [name]: value })
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stderr.trim(), `portcullis: invalid configuration: ${name}: must be a port number, 1..65535 (got '${value}')`)
    }
  })

  test('the development setup: a PORTCULLIS_MQTT_HOST that is no host, or no address of this machine, is a configuration error naming it (exit 2)', async () => {
    const ports = async (): Promise<NodeJS.ProcessEnv> => ({ PORTCULLIS_MQTT_PORT: String(await freePort()), PORTCULLIS_ADMIN_PORT: String(await freePort()) })
    for (const value of ['bad host!', '999.1.1.1']) {
      const r = await cli(['start', '--data-dir', join(dir, 'data-host')], dir, { ...await ports(), PORTCULLIS_MQTT_HOST: value })
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stderr.trim(), `portcullis: invalid configuration: PORTCULLIS_MQTT_HOST: must be an IP address or a host name of this machine, e.g. 0.0.0.0 (got '${value}')`)
    }
    // 192.0.2.1 (TEST-NET-1) is an address no machine here holds: the bind fails, nothing is sent.
    const r = await cli(['start', '--data-dir', join(dir, 'data-host')], dir, { ...await ports(), PORTCULLIS_MQTT_HOST: '192.0.2.1' })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^portcullis: invalid configuration: PORTCULLIS_MQTT_HOST: 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\)$/m)
  })

  test('a listener host that does not resolve is a configuration error naming its host key', async () => {
    const { listenError } = await import('../../src/broker/listeners.js')
    const { ConfigError } = await import('../../src/errors.js')
    const err = listenError(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' }), 'listeners[1]', 'nowhere.invalid', 1883)
    assert.ok(err instanceof ConfigError)
    assert.equal(err.message, 'listeners[1].host: nowhere.invalid cannot be resolved to an address of this machine (ENOTFOUND)')
  })

  test('the development setup binds MQTT to 127.0.0.1; PORTCULLIS_MQTT_HOST moves it', async () => {
    for (const [host, expected] of [[undefined, '127.0.0.1'], ['127.0.0.2', '127.0.0.2']] as const) {
      const env: NodeJS.ProcessEnv = { PORTCULLIS_MQTT_PORT: String(await freePort()), PORTCULLIS_ADMIN_PORT: String(await freePort()) }
      if (host !== undefined) env['PORTCULLIS_MQTT_HOST'] = host
      const b = await startBroker(join(dir), [], env)
      try {
        const line = b.stdout().split('\n').find((l) => l.includes('"msg":"listening"'))!
        assert.equal(JSON.parse(line)['host'], expected)
        assert.match(b.stderr(), new RegExp(`MQTT on ${expected.replace(/\./g, '\\.')}:`))
      } finally {
        b.child.kill('SIGTERM')
        await exited(b.child)
      }
    }
  })

  let redis: RedisServer | undefined
  after(() => redis?.destroy())
  test('a cluster Redis that refuses the node: exit 2 naming cluster.redis and what Redis (or the network) said', async () => {
    // A Redis with a password the configuration does not give (NOAUTH), and a port where nothing listens.
    redis = await startRedis()
    const r = redis.client()
    try {
      await r.config('SET', 'requirepass', 'not-given-0123456789')
    } finally {
      r.disconnect()
    }
    const closed = await freePort()
    for (const [target, said] of [[`{ path: ${redis.socket} }`, /NOAUTH Authentication required/], [`"redis://127.0.0.1:${closed}"`, /ECONNREFUSED 127\.0\.0\.1:\d+/]] as const) {
      writeFileSync(join(dir, 'cluster.yaml'), [
        `listeners: [{ type: tcp, host: 127.0.0.1, port: ${await freePort()} }]`,
        `cluster: { redis: ${target}, nodeId: refused }`,
        'authentication: { allowAnonymous: true }',
        `dataDir: ${join(dir, 'data-cluster')}`,
        '',
      ].join('\n'))
      const c = await cli(['start', '--config', 'cluster.yaml'], dir)
      assert.equal(c.code, 2, c.stderr)
      assert.match(c.stderr, /^portcullis: cannot start: cluster\.redis: cannot connect to /m)
      assert.match(c.stderr, said, 'the reason is Redis\'s (or the network\'s), not "Connection is closed."')
      assert.doesNotMatch(c.stdout, /new connections are refused until it is back/, 'a start that fails announces no outage')
      assert.doesNotMatch(c.stdout, /"msg":"listening"/)
    }
    // The same Redis with its password in the configuration ({ path, password }): the node starts.
    const port = await freePort()
    writeFileSync(join(dir, 'cluster-pass.yaml'), [
      `listeners: [{ type: tcp, host: 127.0.0.1, port: ${port} }]`,
      `cluster: { redis: { path: ${redis.socket}, password: not-given-0123456789 }, nodeId: with-password }`,
      'authentication: { allowAnonymous: true }',
      `dataDir: ${join(dir, 'data-cluster-pass')}`,
      '',
    ].join('\n'))
    const b = await startBroker(dir, ['--config', 'cluster-pass.yaml'], {})
    try {
      assert.ok(b.stdout().split('\n').some((l) => l.includes('"msg":"listening"')), 'listening with the password given')
      assert.doesNotMatch(b.stdout() + b.stderr(), /not-given-0123456789/, 'the password is never logged')
    } finally {
      b.child.kill('SIGTERM')
      await exited(b.child)
    }
  })
})
