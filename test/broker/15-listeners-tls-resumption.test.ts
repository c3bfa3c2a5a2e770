/**
 * TLS session resumption on tls and wss listeners: on by default (tickets, TLS 1.3 and 1.2), off
 * with `sessionResumption: false`, and never a way around a CRL reloaded since the session began.
 * Real sockets: node:tls clients resume with the `session` a previous connection was given, and
 * speak MQTT 3.1.1 and 5.0 over it (CONNECT → CONNACK).
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { after, before, describe, test } from 'node:test'
import { TestCa, type Issued } from '../helpers/certs.js'
import { VERSIONS, connectBytes, startBroker, uid, until, withTimeout, type RunningBroker, type Version } from '../helpers/broker.js'

const TIMEOUT = 5000
const TLS_VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const
type TlsVersion = (typeof TLS_VERSIONS)[number]

interface Outcome {
  /** CONNACK reason code (v5) / return code (3.1.1); undefined when only the handshake was asked for. */
  readonly code: number | undefined
  readonly reused: boolean
  /** The latest session (ticket) the listener gave, to resume with. */
  readonly session: Buffer | undefined
}

interface Attempt {
  readonly tlsVersion: TlsVersion
  readonly session?: Buffer | undefined
  /** MQTT version of the CONNECT sent; none: the TLS handshake only (wss). */
  readonly mqtt?: Version
  readonly ca: string
  readonly client?: Issued
}

/** One TLS connection: handshake (resuming `session` if given), then CONNECT → CONNACK, then closed. */
async function attempt(port: number, a: Attempt): Promise<Outcome> {
  const socket = tls.connect({
    host: '127.0.0.1', port, ca: a.ca, minVersion: a.tlsVersion, maxVersion: a.tlsVersion,
    ...(a.session !== undefined ? { session: a.session } : {}),
    ...(a.client !== undefined ? { cert: a.client.cert, key: a.client.key } : {}),
  })
  let session: Buffer | undefined
  socket.on('session', (s: Buffer) => { session = s })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  try {
    let code: number | undefined
    if (a.mqtt === undefined) {
      await withTimeout(new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve())
        socket.once('error', reject)
      }), TIMEOUT, 'TLS handshake')
      // TLS 1.3 tickets come after the handshake: wait a little for one, as a client would before
      // reusing it (a listener with resumption off may give none).
      await until(() => session !== undefined, 'a session ticket', 500).catch(() => undefined)
    } else {
      socket.write(connectBytes({ protocolVersion: a.mqtt, clientId: uid('resume') }))
      const connack = await withTimeout(new Promise<Buffer>((resolve, reject) => {
        let got = Buffer.alloc(0)
        socket.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d])
          if (got.length >= 4) resolve(got)
        })
        socket.once('error', reject)
        socket.once('close', () => reject(new Error('closed before CONNACK')))
      }), TIMEOUT, 'CONNACK')
      assert.equal(connack[0], 0x20, 'CONNACK')
      code = connack[3]
    }
    return { code, reused: socket.isSessionReused(), session }
  } finally {
    if (a.mqtt !== undefined) socket.end(Buffer.from([0xe0, 0x00]))
    else socket.end()
    const timer = setTimeout(() => socket.destroy(), TIMEOUT)
    await closed
    clearTimeout(timer)
  }
}

describe('15 listeners: TLS session resumption', () => {
  let dir: string
  let ca: string
  let broker: RunningBroker
  let ports: { tls: number; tlsOff: number; wss: number; wssOff: number }
  before(async () => {
    const pki = TestCa.create('Resumption CA')
    dir = pki.dir
    const server = pki.issue('127.0.0.1', { server: true, san: ['IP:127.0.0.1'] })
    ca = pki.cert
    const tlsFiles = { host: '127.0.0.1', port: 0, cert: server.certFile, key: server.keyFile }
    broker = await startBroker({
      listeners: [
        { type: 'tls', ...tlsFiles },
        { type: 'tls', ...tlsFiles, sessionResumption: false },
        { type: 'wss', path: '/mqtt', ...tlsFiles },
        { type: 'wss', path: '/mqtt', ...tlsFiles, sessionResumption: false },
      ],
    })
    const [tlsOn, tlsOff, wssOn, wssOff] = broker.server.listeners
    ports = { tls: tlsOn.port, tlsOff: tlsOff.port, wss: wssOn.port, wssOff: wssOff.port }
  })
  after(async () => {
    await withTimeout(broker.close(), TIMEOUT, 'broker close')
    rmSync(dir, { recursive: true, force: true })
  })

  for (const tlsVersion of TLS_VERSIONS) {
    for (const v of VERSIONS) {
      test(`v${v} over ${tlsVersion}: a client presenting the session it was given resumes it (on by default) and is accepted`, async () => {
        const first = await attempt(ports.tls, { tlsVersion, mqtt: v, ca })
        assert.deepEqual([first.code, first.reused], [0, false])
        assert.ok(first.session !== undefined, 'the listener gave a session ticket')
        const second = await attempt(ports.tls, { tlsVersion, mqtt: v, ca, session: first.session })
        assert.deepEqual([second.code, second.reused], [0, true])
      })

      test(`v${v} over ${tlsVersion}: sessionResumption: false — the same client gets a full handshake and is accepted`, async () => {
        const first = await attempt(ports.tlsOff, { tlsVersion, mqtt: v, ca })
        const second = await attempt(ports.tlsOff, { tlsVersion, mqtt: v, ca, session: first.session })
        assert.deepEqual([first.code, second.code, second.reused], [0, 0, false])
      })
    }

    test(`wss over ${tlsVersion}: resumed by default, not with sessionResumption: false`, async () => {
      const on = await attempt(ports.wss, { tlsVersion, ca })
      assert.equal((await attempt(ports.wss, { tlsVersion, ca, session: on.session })).reused, true)
      const off = await attempt(ports.wssOff, { tlsVersion, ca })
      assert.equal((await attempt(ports.wssOff, { tlsVersion, ca, session: off.session })).reused, false)
    })
  }
})

describe('15 listeners: a resumed TLS session never outlives a CRL reload', () => {
  let pki: TestCa
  let crlDir: string
  let crl: string
  let device: Issued
  let broker: RunningBroker
  before(async () => {
    pki = TestCa.create('Resumption Devices CA')
    const server = pki.issue('127.0.0.1', { server: true, san: ['IP:127.0.0.1'] })
    device = pki.issue('device-resumed')
    crlDir = mkdtempSync(join(tmpdir(), 'portcullis-crl-'))
    crl = join(crlDir, 'crl.pem')
    copyFileSync(pki.writeCrl(), crl)
    broker = await startBroker({
      listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, cert: server.certFile, key: server.keyFile, ca: pki.certFile, requestCert: true, crl }],
    })
  })
  after(async () => {
    await withTimeout(broker.close(), TIMEOUT, 'broker close')
    pki.remove()
    rmSync(crlDir, { recursive: true, force: true })
  })

  for (const tlsVersion of TLS_VERSIONS) {
    test(`over ${tlsVersion}: a device revoked after its session began is refused (0x86 / 4) when it comes back with that session`, async () => {
      const me = tlsVersion === 'TLSv1.3' ? device : pki.issue('device-resumed-12')
      const sessions: Partial<Record<Version, Buffer>> = {}
      for (const v of VERSIONS) {
        const first = await attempt(broker.port, { tlsVersion, mqtt: v, ca: pki.cert, client: me })
        const again = await attempt(broker.port, { tlsVersion, mqtt: v, ca: pki.cert, client: me, session: first.session })
        assert.deepEqual([first.code, again.code, again.reused], [0, 0, true], 'resumed before the revocation')
        sessions[v] = again.session ?? first.session
      }
      pki.revoke(me)
      pki.writeCrl(crl)
      // the listener polls the file: a full handshake sees the reload first
      let refused = false
      const deadline = performance.now() + TIMEOUT
      while (!refused && performance.now() < deadline) {
        refused = (await attempt(broker.port, { tlsVersion, mqtt: 5, ca: pki.cert, client: me })).code === 0x86
        if (!refused) await new Promise((r) => setTimeout(r, 100))
      }
      assert.ok(refused, 'the reloaded CRL refuses a full handshake')
      for (const v of VERSIONS) {
        const back = await attempt(broker.port, { tlsVersion, mqtt: v, ca: pki.cert, client: me, session: sessions[v] })
        assert.equal(back.code, v === 5 ? 0x86 : 4, `v${v}: refused although it presented its old session (resumed: ${back.reused})`)
      }
    })
  }
})
