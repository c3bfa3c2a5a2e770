/**
 * Refusals before authentication are in the refusal ring too (issue 17 items 5/10): a protocol
 * error in CONNECT [MQTT-3.1.2-23], an empty client id without clean session [MQTT-3.1.3-8],
 * an unsupported protocol level [MQTT-3.1.2-2], a packet before CONNECT [MQTT-3.1.0-1], and a
 * connection over limits.connectRatePerAddress — over real sockets, MQTT 3.1.1 and 5.0. A
 * refusal repeated within 10 s is one entry with a count, so a flood cannot push the others out.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RefusalLog } from '../../src/broker/refusals.js'
import { rawSocket } from '../helpers/broker.js'
import { useAdmin } from './helpers.js'

interface Listed {
  clientId: string; code: string; reasonCode: number; reason: string; protocolVersion: number; count?: number; lastTime?: string; token?: unknown
}

describe('refusals before authentication', () => {
  const h = useAdmin({ overrides: { limits: { connectRatePerAddress: 1, connectBurstPerAddress: 3 } } })

  const newest = async (clientId?: string): Promise<Listed> => {
    const r = await h.api('GET', `/api/v1/refusals${clientId !== undefined ? `?clientId=${clientId}` : ''}`)
    assert.equal(r.status, 200)
    return (r.body as Listed[])[0]
  }

  it('protocol errors, an empty client id and an unsupported level are kept with their code and reason', async () => {
    const v5 = await rawSocket(h.mqttPort, 5)
    const connack = await v5.connect({ clientId: 'zero-receive-max', protocolVersion: 5, properties: { receiveMaximum: 0 } })
    assert.equal(connack.reasonCode, 0x82)
    let r = await newest('zero-receive-max')
    assert.equal(r.code, 'ERR_PROTOCOL')
    assert.equal(r.reasonCode, 0x82)
    assert.equal(r.protocolVersion, 5)
    assert.match(r.reason, /Receive Maximum/)

    const v4 = await rawSocket(h.mqttPort, 4)
    assert.equal((await v4.connect({ clientId: '', clean: false })).returnCode, 2)
    r = await newest()
    assert.equal(r.code, 'ERR_CLIENT_ID_INVALID')
    assert.equal(r.reasonCode, 0x85)
    assert.equal(r.protocolVersion, 4)
    assert.equal(r.clientId, '')

    const v6 = await rawSocket(h.mqttPort, 5)
    const bytes = (await import('../helpers/broker.js')).connectBytes({ protocolVersion: 5, clientId: 'from-the-future' })
    bytes[8] = 6 // protocol level byte of the variable header: MQTT "6"
    v6.write(bytes)
    await v6.waitClosed()
    r = await newest()
    assert.equal(r.code, 'ERR_UNSUPPORTED_PROTOCOL_VERSION')
    assert.equal(r.reasonCode, 0x84)
  })

  it('a packet before CONNECT is kept as a refusal (ERR_PROTOCOL)', async () => {
    const raw = await rawSocket(h.mqttPort, 4)
    raw.send({ cmd: 'pingreq' })
    await raw.waitClosed()
    const r = await newest()
    assert.equal(r.code, 'ERR_PROTOCOL')
    assert.match(r.reason, /pingreq before CONNECT/)
  })

  it('connections over the connection rate are refused (v5: 0x9F) and kept as one entry with a count', async () => {
    let refusedCount = 0
    for (let i = 0; i < 8; i++) {
      const raw = await rawSocket(h.mqttPort, 5)
      const c = await raw.connect({ clientId: 'eager-device', protocolVersion: 5 }).catch(() => undefined)
      if (c?.reasonCode === 0x9f) refusedCount++
      raw.destroy()
    }
    assert.ok(refusedCount >= 3, `refused ${refusedCount} of 8 over a rate of 1/s with a burst of 3`)
    const list = (await h.api('GET', '/api/v1/refusals?reason=ERR_CONNECTION_RATE_EXCEEDED')).body as Listed[]
    assert.equal(list.length, 1, 'one entry for the repeats')
    assert.equal(list[0].clientId, 'eager-device')
    assert.equal(list[0].reasonCode, 0x9f)
    assert.equal(list[0].count, refusedCount)
    assert.ok(list[0].lastTime !== undefined && list[0].lastTime >= (list[0] as unknown as { time: string }).time)
  })
})

describe('refusal ring: repeats', () => {
  it('counts a refusal repeated within 10 s on one entry; a pause, another client or another reason starts a new one', () => {
    const log = new RefusalLog(10)
    const entry = { clientId: 'c', address: '10.0.0.1', listener: 'tcp', protocolVersion: 5, code: 'ERR_JWT_EXPIRED', reasonCode: 0x86, reason: 'token expired' }
    log.record(entry, 1_000)
    log.record(entry, 5_000)
    log.record(entry, 14_000)
    assert.deepEqual(log.list().map((r) => r.count), [3])
    log.record(entry, 30_000) // more than 10 s after the last: a new entry
    log.record({ ...entry, clientId: 'd' }, 30_001)
    log.record({ ...entry, clientId: 'd', code: 'ERR_JWT_SIGNATURE_INVALID', reason: 'bad' }, 30_002)
    assert.deepEqual(log.list().map((r) => [r.clientId, r.code, r.count]), [['d', 'ERR_JWT_SIGNATURE_INVALID', undefined], ['d', 'ERR_JWT_EXPIRED', undefined], ['c', 'ERR_JWT_EXPIRED', undefined], ['c', 'ERR_JWT_EXPIRED', 3]])
    assert.equal(log.list({ since: 14_000 }).length, 4, 'since reads the last time an entry was seen')
  })
})
