/**
 * 09 x509: client certificates made by `openssl` (a CA with `openssl ca`: a good client
 * certificate, an expired one, a revoked one in the CRL, one from another CA), over real TLS
 * and WSS sockets with MQTT.js and Debian's mosquitto_pub / mosquitto_sub, MQTT 3.1.1 and 5.0.
 * The listener verifies (ca, crl), the x509 authenticator turns the certificate into an
 * identity, policies render ${cert_cn}, and a refused certificate gets CONNACK 0x86 (3.1.1: 4)
 * with one log line that names the reason.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import { TestCa, type Issued } from '../helpers/certs.js'
import { VERSIONS, delay, end, nextMessage, persistenceDefaults, subscribe, uid, until, withTimeout, type Version } from '../helpers/broker.js'
import { publishCode, subscribeCodes } from '../helpers/outcomes.js'
import { hmacWith, now } from '../helpers/tokens.js'

const SECRET = 'x509-test-hmac-secret-of-at-least-32-bytes!'
const TIMEOUT = 8000

interface Pki {
  readonly ca: TestCa
  readonly other: TestCa
  readonly server: Issued
  readonly good: Issued
  readonly second: Issued
  readonly expired: Issued
  readonly revoked: Issued
  readonly foreign: Issued
  readonly crlFile: string
}

function makePki(): Pki {
  const ca = TestCa.create('Portcullis x509 Test CA')
  const other = TestCa.create('Some Other CA')
  const server = ca.issue('127.0.0.1', { server: true, san: ['IP:127.0.0.1', 'DNS:localhost'] })
  const good = ca.issue('device-1', { san: ['DNS:device-1.example', 'URI:urn:dev:device-1'] })
  const second = ca.issue('device-2')
  const expired = ca.issue('device-old', { notBefore: Date.now() - 10 * 86_400_000, notAfter: Date.now() - 86_400_000 })
  const revoked = ca.issue('device-stolen')
  const foreign = other.issue('device-1')
  ca.revoke(revoked)
  return { ca, other, server, good, second, expired, revoked, foreign, crlFile: ca.writeCrl() }
}

interface X509Broker {
  readonly pki: Pki
  /** The CRL file the listeners watch. */
  readonly crlFile: string
  readonly server: PortcullisServer
  readonly tls: number
  readonly wss: number
  readonly log: () => string
  close(): Promise<void>
}

/**
 * A broker with a requestCert tls and wss listener over a fresh PKI (makePki). `ownCrl`: the
 * listener watches a copy of the CRL in a directory of its own (`crlFile`), for tests that
 * rewrite it. close() removes everything.
 */
async function startX509Broker(authentication: Record<string, unknown>, authorization: Record<string, unknown> = { noMatch: 'allow' }, options: { ownCrl?: boolean } = {}): Promise<X509Broker> {
  const pki = makePki()
  const crlDir = options.ownCrl === true ? mkdtempSync(join(tmpdir(), 'portcullis-crl-')) : undefined
  const crlFile = crlDir !== undefined ? join(crlDir, 'crl.pem') : pki.crlFile
  if (crlDir !== undefined) copyFileSync(pki.crlFile, crlFile)
  const sink = new PassThrough()
  let output = ''
  sink.on('data', (d: Buffer) => (output += d.toString()))
  const tlsListener = { host: '127.0.0.1', port: 0, cert: pki.server.certFile, key: pki.server.keyFile, ca: pki.ca.certFile, requestCert: true, crl: crlFile }
  const persistence = persistenceDefaults({})
  const server = await createServer(validateConfig({
    listeners: [{ type: 'tls', ...tlsListener }, { type: 'wss', path: '/mqtt', ...tlsListener }],
    ...persistence.raw,
    authentication: { allowAnonymous: false, reasonString: true, ...authentication },
    authorization,
  }), { logger: createLogger({ level: 'debug', destination: sink }) })
  return {
    pki,
    crlFile,
    server,
    tls: (server.listeners[0] as { port: number }).port,
    wss: (server.listeners[1] as { port: number }).port,
    log: () => output,
    close: async () => {
      try {
        await withTimeout(server.close(), TIMEOUT, 'broker close')
      } finally {
        persistence.cleanup()
        pki.ca.remove()
        pki.other.remove()
        if (crlDir !== undefined) rmSync(crlDir, { recursive: true, force: true })
      }
    },
  }
}

function tlsOptions(pki: Pki, cert: Issued | undefined): Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> {
  return {
    ca: pki.ca.cert,
    rejectUnauthorized: true,
    ...(cert !== undefined ? { cert: cert.cert, key: cert.key } : {}),
  }
}

/** The CONNACK an MQTT.js client gets (accepted or refused), and the client when it was accepted. */
async function connack(
  url: string, options: IClientOptions & { protocolVersion: Version },
): Promise<{ code: number; packet: mqttPacket.IConnackPacket; client: MqttClient }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: TIMEOUT, ...options })
  client.on('error', () => {})
  try {
    const packet = await withTimeout(new Promise<mqttPacket.IConnackPacket>((resolve, reject) => {
      client.on('packetreceive', (p) => {
        if (p.cmd === 'connack') resolve(p)
      })
      client.once('close', () => reject(new Error('connection closed before CONNACK')))
    }), TIMEOUT, 'CONNACK')
    const code = (options.protocolVersion === 5 ? packet.reasonCode : packet.returnCode) ?? 0
    return { code, packet, client }
  } catch (err) {
    client.end(true)
    throw err
  }
}

async function refusedWith(url: string, options: IClientOptions & { protocolVersion: Version }): Promise<{ code: number; reason: string | undefined }> {
  const { code, packet, client } = await connack(url, options)
  await end(client)
  return { code, reason: packet.properties?.reasonString }
}

const BAD = (v: Version): number => (v === 5 ? 0x86 : 4)

describe('09 x509: identity from the client certificate', () => {
  let pki: Pki
  let broker: X509Broker
  before(async () => {
    broker = await startX509Broker({
      authenticators: [{ type: 'x509', name: 'devices', identity: { username: 'cn', clientId: 'cn' } }],
    }, {
      noMatch: 'deny',
      policies: [
        { name: 'own-topics', priority: 1, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['devices/${cert_cn}/#', 'fp/${cert_fingerprint}', 'dns/${cert_san_dns}'] },
      ],
    })
    pki = broker.pki
  })
  after(() => broker?.close())

  for (const v of VERSIONS) {
    test(`v${v}: a good certificate connects; the CN is username and client id; \${cert_cn} in a policy names its own topics only`, async () => {
      const { code, packet, client } = await connack(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: v, clientId: '', clean: true, ...tlsOptions(pki, pki.good) })
      try {
        assert.equal(code, 0)
        if (v === 5) assert.equal(packet.properties?.assignedClientIdentifier, 'device-1')
        await subscribe(client, 'devices/device-1/#', { qos: 1 })
        const got = nextMessage(client, 'devices/device-1/state', TIMEOUT)
        client.publish('devices/device-1/state', 'on', { qos: 1 })
        assert.equal((await got).payload.toString(), 'on')
        if (v === 5) {
          assert.equal(await publishCode(client, 'devices/device-2/state', 'x', { qos: 1 }), 0x87, 'another device\'s topic')
        } else {
          assert.deepEqual(await subscribeCodes(client, 'devices/device-2/#', { qos: 1 }), [128], 'another device\'s topic')
        }
      } finally {
        await end(client)
      }
    })

    test(`v${v}: \${cert_fingerprint} and \${cert_san_dns} render the certificate's real values`, async () => {
      const { code, client } = await connack(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: v, clientId: 'device-1', ...tlsOptions(pki, pki.good) })
      try {
        assert.equal(code, 0)
        const fingerprint = new X509Certificate(pki.good.cert).fingerprint256
        const granted = await subscribeCodes(client, [`fp/${fingerprint}`, 'dns/device-1.example', 'fp/AA:BB', 'dns/device-2.example'], { qos: 1 })
        assert.deepEqual(granted, [1, 1, v === 5 ? 0x87 : 0x80, v === 5 ? 0x87 : 0x80])
      } finally {
        await end(client)
      }
    })

    test(`v${v}: another client id than the certificate's CN is refused (identity enforce: 0x85 / 2)`, async () => {
      const r = await refusedWith(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: v, clientId: 'device-9', ...tlsOptions(pki, pki.good) })
      assert.equal(r.code, v === 5 ? 0x85 : 2)
    })

    for (const [what, pick, code, words] of [
      ['expired', (p: Pki) => p.expired, 'ERR_CERT_EXPIRED', 'client certificate expired'],
      ['revoked (in the CRL)', (p: Pki) => p.revoked, 'ERR_CERT_REVOKED', 'client certificate revoked'],
      ['from another CA', (p: Pki) => p.foreign, 'ERR_CERT_UNTRUSTED', 'not issued by a CA this listener trusts'],
      ['missing', () => undefined, 'ERR_CERT_MISSING', 'no client certificate'],
    ] as const) {
      test(`v${v}: a certificate ${what} gets CONNACK ${v === 5 ? '0x86' : '4'} and one log line naming the reason (${code})`, async () => {
        const clientId = uid(`cert-${code.toLowerCase()}`)
        const r = await refusedWith(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: v, clientId, ...tlsOptions(pki, pick(pki)) })
        assert.equal(r.code, BAD(v))
        if (v === 5) assert.match(r.reason ?? '', new RegExp(words))
        await until(() => broker.log().includes(clientId), 'refusal logged', TIMEOUT)
        const line = broker.log().split('\n').find((l) => l.includes(clientId)) ?? ''
        const entry = JSON.parse(line) as { msg: string; code: string }
        assert.equal(entry.code, code)
        assert.match(entry.msg, new RegExp(`connection refused: .*${words}`))
        const issued = pick(pki)
        if (issued !== undefined) {
          assert.match(entry.msg, /serial [0-9A-F]+/, 'the certificate is named by serial')
          assert.equal(broker.log().includes(issued.key.split('\n')[1] ?? 'never'), false, 'no private key material in the log')
        }
      })
    }

    test(`v${v}: over wss with requestCert the same rules hold (good accepted, expired refused)`, async () => {
      const good = await connack(`wss://127.0.0.1:${broker.wss}/mqtt`, { protocolVersion: v, clientId: 'device-1', ...tlsOptions(pki, pki.good) })
      assert.equal(good.code, 0)
      await end(good.client)
      const expired = await refusedWith(`wss://127.0.0.1:${broker.wss}/mqtt`, { protocolVersion: v, clientId: 'device-old', ...tlsOptions(pki, pki.expired) })
      assert.equal(expired.code, BAD(v))
    })
  }

  test('the admin view of the client shows the certificate (fingerprint, expiry), and no token', async () => {
    const { client } = await connack(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: 5, clientId: 'device-1', ...tlsOptions(pki, pki.good) })
    try {
      const conn = broker.server.broker.sessions.get('device-1')?.connection
      assert.ok(conn?.identity?.certificate !== undefined)
      const x = new X509Certificate(pki.good.cert)
      assert.equal(conn.identity.certificate.fingerprint256, x.fingerprint256)
      assert.equal(conn.identity.certificate.validTo, Date.parse(x.validTo))
      assert.deepEqual(conn.identity.certificate.san, ['DNS:device-1.example', 'URI:urn:dev:device-1'])
      assert.equal(conn.identity.expiresAt, Date.parse(x.validTo), 'the connection ends when the certificate does')
    } finally {
      await end(client)
    }
  })
})

describe('09 x509: certificate for the device, token for its rights (requireToken)', () => {
  let pki: Pki
  let broker: X509Broker
  before(async () => {
    broker = await startX509Broker({
      authenticators: [
        { type: 'x509', name: 'devices', identity: { clientId: 'cn' }, requireToken: true },
        { type: 'jwt', name: 'rights', algorithm: 'hmac-based', from: 'password', secret: SECRET, claims: { match: { sub: '${cert_cn}' } } },
      ],
    })
    pki = broker.pki
  })
  after(() => broker?.close())

  for (const v of VERSIONS) {
    test(`v${v}: certificate AND a token naming the certificate's CN are needed`, async () => {
      const url = `mqtts://127.0.0.1:${broker.tls}`
      const token = hmacWith(SECRET, { sub: 'device-1', exp: now() + 600 })
      const ok = await connack(url, { protocolVersion: v, clientId: 'device-1', username: 'd', password: token, ...tlsOptions(pki, pki.good) })
      assert.equal(ok.code, 0)
      const conn = broker.server.broker.sessions.get('device-1')?.connection
      assert.equal(conn?.identity?.authenticator, 'rights')
      assert.equal(conn?.identity?.vouchedBy, 'devices')
      assert.ok((conn?.identity?.expiresAt ?? 0) <= (now() + 600) * 1000, 'the earlier of token exp and certificate notAfter')
      await end(ok.client)

      const noToken = await refusedWith(url, { protocolVersion: v, clientId: 'device-1', ...tlsOptions(pki, pki.good) })
      assert.equal(noToken.code, BAD(v))
      if (v === 5) assert.match(noToken.reason ?? '', /requires a token as well/)
      const othersToken = await refusedWith(url, { protocolVersion: v, clientId: 'device-2', username: 'd', password: token, ...tlsOptions(pki, pki.second) })
      assert.equal(othersToken.code, BAD(v), 'a token for device-1 does not serve device-2')
      const badCert = await refusedWith(url, { protocolVersion: v, clientId: 'device-old', username: 'd', password: token, ...tlsOptions(pki, pki.expired) })
      assert.equal(badCert.code, BAD(v), 'a good token does not make up for an expired certificate')
    })
  }

  /** Sends AUTH 0x19 with `token` (MQTT.js has no public call for it: mqtt-packet on its stream) and waits for the answer. */
  async function reauth(client: MqttClient, token: string): Promise<{ cmd: string; reasonCode: number | undefined }> {
    const answer = new Promise<{ cmd: string; reasonCode: number | undefined }>((resolve) => {
      client.on('packetreceive', (p) => {
        if (p.cmd === 'auth' || p.cmd === 'disconnect') resolve({ cmd: p.cmd, reasonCode: p.reasonCode })
      })
    })
    mqttPacket.writeToStream({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token) } }, client.stream, { protocolVersion: 5 })
    return await withTimeout(answer, TIMEOUT, 'answer to AUTH 0x19')
  }

  test('v5: AUTH 0x19 with a fresh token for the same device → AUTH 0x00, the certificate still vouches; a token for another device → DISCONNECT 0x87', async () => {
    const first = hmacWith(SECRET, { sub: 'device-1', exp: now() + 60 })
    const { code, client } = await connack(`mqtts://127.0.0.1:${broker.tls}`, {
      protocolVersion: 5, clientId: 'device-1', properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(first) }, ...tlsOptions(pki, pki.good),
    })
    try {
      assert.equal(code, 0)
      const later = now() + 600
      assert.deepEqual(await reauth(client, hmacWith(SECRET, { sub: 'device-1', exp: later })), { cmd: 'auth', reasonCode: 0 })
      const identity = broker.server.broker.sessions.get('device-1')?.connection?.identity
      assert.equal(identity?.vouchedBy, 'devices')
      assert.equal(identity?.certificate?.cn, 'device-1')
      assert.equal(identity?.expiresAt, later * 1000, 'the new token\'s exp (before the certificate\'s notAfter)')
      assert.deepEqual(await reauth(client, hmacWith(SECRET, { sub: 'device-2', exp: later })), { cmd: 'disconnect', reasonCode: 0x87 })
    } finally {
      await end(client)
    }
  })
})

describe('09 x509: CRL reloaded on change, certificate expiring while connected', () => {
  let pki: Pki
  let broker: X509Broker
  let crl: string
  before(async () => {
    broker = await startX509Broker({ authenticators: [{ type: 'x509', name: 'devices' }] }, { noMatch: 'allow' }, { ownCrl: true })
    pki = broker.pki
    crl = broker.crlFile
  })
  after(() => broker?.close())

  test('a certificate revoked after start-up: its connected clients are disconnected (v5 DISCONNECT 0x98) and new CONNECTs refused (0x86 / 4) once the CRL file changes', async () => {
    const url = `mqtts://127.0.0.1:${broker.tls}`
    const v5 = await connack(url, { protocolVersion: 5, clientId: uid('dev2'), ...tlsOptions(pki, pki.second) })
    const v4 = await connack(url, { protocolVersion: 4, clientId: uid('dev2'), ...tlsOptions(pki, pki.second) })
    const other = await connack(url, { protocolVersion: 5, clientId: uid('dev1'), ...tlsOptions(pki, pki.good) })
    assert.deepEqual([v5.code, v4.code, other.code], [0, 0, 0])
    const v5Reason = new Promise<number | undefined>((resolve) => {
      v5.client.on('packetreceive', (p) => {
        if (p.cmd === 'disconnect') resolve(p.reasonCode)
      })
    })
    const v4Closed = new Promise<void>((resolve) => v4.client.once('close', () => resolve()))
    pki.ca.revoke(pki.second)
    pki.ca.writeCrl(crl)
    await until(() => broker.log().includes('CRL reloaded'), 'CRL reloaded', TIMEOUT)
    assert.equal(await withTimeout(v5Reason, TIMEOUT, 'DISCONNECT of the revoked v5 client'), 0x98)
    await withTimeout(v4Closed, TIMEOUT, 'close of the revoked 3.1.1 client')
    assert.match(broker.log(), /client disconnected: client certificate revoked \(listed in the reloaded CRL; CN=device-2/)
    assert.equal(other.client.connected, true, 'a client whose certificate is not listed stays')
    await end(v5.client, v4.client, other.client)
    for (const v of VERSIONS) {
      const r = await refusedWith(url, { protocolVersion: v, clientId: uid('dev2'), ...tlsOptions(pki, pki.second) })
      assert.equal(r.code, BAD(v))
    }
  })

  test('a CRL file replaced by garbage keeps the last good list (warning logged)', async () => {
    writeFileSync(crl, 'not a CRL\n')
    await until(() => broker.log().includes('CRL not reloaded'), 'CRL warning', TIMEOUT)
    const r = await refusedWith(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: 5, clientId: uid('dev2'), ...tlsOptions(pki, pki.revoked) })
    assert.equal(r.code, 0x86, 'still revoked')
  })

  for (const v of VERSIONS) {
    test(`v${v}: a certificate that expires while connected ends the connection like a token's exp${v === 5 ? ' (DISCONNECT 0xA0)' : ''}`, async () => {
      const shortLived = pki.ca.issue(`short-${v}`, { notAfter: Date.now() + 3000 })
      const { code, client } = await connack(`mqtts://127.0.0.1:${broker.tls}`, { protocolVersion: v, clientId: uid('short'), ...tlsOptions(pki, shortLived) })
      assert.equal(code, 0)
      const disconnect = new Promise<number | undefined>((resolve) => {
        client.on('packetreceive', (p) => {
          if (p.cmd === 'disconnect') resolve(p.reasonCode)
        })
        client.once('close', () => resolve(undefined))
      })
      const reason = await withTimeout(disconnect, TIMEOUT, 'disconnect at notAfter')
      if (v === 5) assert.equal(reason, 0xa0)
      await delay(50)
      assert.equal(client.connected, false)
      await end(client)
      assert.match(broker.log(), /client certificate expired: disconnecting/)
    })
  }
})

describe('09 x509: Debian mosquitto_pub / mosquitto_sub with --cert/--key/--cafile', () => {
  let pki: Pki
  let broker: X509Broker
  before(async () => {
    broker = await startX509Broker({ authenticators: [{ type: 'x509', name: 'devices', identity: { username: 'cn' } }] }, {
      noMatch: 'deny',
      policies: [{ name: 'own-topics', priority: 1, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['devices/${cert_cn}/#'] }],
    })
    pki = broker.pki
  })
  after(() => broker?.close())

  const tlsArgs = (cert: Issued): string[] => ['-h', '127.0.0.1', '-p', String(broker.tls), '--cafile', pki.ca.certFile, '--cert', cert.certFile, '--key', cert.keyFile]

  for (const v of VERSIONS) {
    const protocol = v === 5 ? 'mqttv5' : 'mqttv311'
    test(`v${v}: mosquitto_sub and mosquitto_pub with a good certificate exchange a message on their own topic`, async () => {
      const topic = `devices/device-1/${uid('m')}`
      const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...tlsArgs(pki.good), '-V', protocol, '-t', topic, '-C', '1', '-W', '6', '-d', '-i', uid('msub')])
      let out = ''
      sub.stdout.on('data', (d: Buffer) => (out += d.toString()))
      // listened to from the start: it may exit (message received) before mosquitto_pub does
      const exited = new Promise<number | null>((resolve) => sub.once('close', resolve))
      try {
        await until(() => out.includes('SUBACK'), 'mosquitto_sub SUBACK', TIMEOUT)
        await withTimeout(new Promise<void>((resolve, reject) => {
          execFile('mosquitto_pub', [...tlsArgs(pki.good), '-V', protocol, '-t', topic, '-m', 'from-mosquitto', '-q', '1', '-i', uid('mpub')],
            (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()))
        }), TIMEOUT, 'mosquitto_pub')
        const code = await withTimeout(exited, TIMEOUT, 'mosquitto_sub exit').catch((err: Error) => {
          throw new Error(`${err.message}: ${out}`)
        })
        assert.equal(code, 0, out)
        assert.match(out, /from-mosquitto/)
      } finally {
        sub.kill()
      }
    })

    test(`v${v}: mosquitto_pub with an expired or revoked certificate is refused (bad user name or password)`, async () => {
      for (const cert of [pki.expired, pki.revoked]) {
        const stderr = await withTimeout(new Promise<string>((resolve) => {
          execFile('mosquitto_pub', [...tlsArgs(cert), '-V', protocol, '-t', 'devices/x/y', '-m', 'x', '-i', uid('mpub')],
            (err, _o, e) => resolve(err ? `${e}exit ${String(err.code)}` : 'accepted'))
        }), TIMEOUT, 'mosquitto_pub')
        assert.notEqual(stderr, 'accepted')
        assert.match(stderr, /bad user ?name or password/i)
      }
    })
  }
})
