/**
 * MQTT 5 properties a client sends (src/protocol/property-check.ts): every string property and
 * User Property name and value must be well-formed UTF-8 without U+0000 [MQTT-1.5.4-1,
 * MQTT-1.5.4-2], in every packet type that has properties; a Response Topic must be a valid
 * topic name [MQTT-3.3.2-14]. Checked on property objects, then on whole frames through the
 * decoder, which runs the check for every packet mqtt-packet decodes.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type mqtt from 'mqtt-packet'
import { PortcullisError, type ErrorCode } from '../../src/errors.js'
import { decodePacket } from '../../src/protocol/decode.js'
import { checkPacketProperties, checkProperties, type DecodedProperties } from '../../src/protocol/property-check.js'
import { ILL_FORMED, frameWith } from '../helpers/frames.js'
import { inspect } from 'node:util'

const R = '\uFFFD'
const EMOJI = '\u{1F600}'
/** How ill-formed input looks once decoded (utf8.ts): an unpaired surrogate. */
const MARKED = '\uD800'

function faultCode(props: DecodedProperties): ErrorCode | undefined {
  return checkProperties(props)?.code
}

describe('checkProperties', () => {
  test('no properties, or only non-string ones, pass', () => {
    assert.equal(faultCode({}), undefined)
    assert.equal(faultCode({
      payloadFormatIndicator: true, messageExpiryInterval: 5, correlationData: Buffer.from([0xc0, 0xaf]), subscriptionIdentifier: 1,
    }), undefined)
  })

  test('a property other than User Property sent twice is a protocol error', () => {
    assert.equal(faultCode({ subscriptionIdentifier: [1, 2] }), 'ERR_PROTOCOL')
    assert.equal(faultCode({ contentType: ['a', 'b'] }), 'ERR_PROTOCOL')
    assert.equal(faultCode({ correlationData: [Buffer.from('a'), Buffer.from('b')] }), 'ERR_PROTOCOL')
    assert.equal(faultCode({ userProperties: { k: ['a', 'b'] } }), undefined, 'User Property may repeat, even with one name')
  })

  test(`U+FFFD and emoji in every string property and User Property pass [MQTT-1.5.4-1]`, () => {
    const s = `a${R}${EMOJI}`
    assert.equal(faultCode({
      contentType: s, responseTopic: `r/${s}`, reasonString: s, authenticationMethod: s,
      assignedClientIdentifier: s, responseInformation: s, serverReference: s,
      userProperties: { [s]: s, [`${s}2`]: [s, R, EMOJI, ''] },
    }), undefined)
  })

  for (const name of ['contentType', 'responseTopic', 'reasonString', 'authenticationMethod', 'assignedClientIdentifier', 'responseInformation', 'serverReference']) {
    for (const [what, bad] of [['ill-formed UTF-8', `a${MARKED}b`], ['U+0000', 'a\u0000b'], ['a lone low surrogate', 'a\uDC00']] as const) {
      test(`${what} in ${name} is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, () => {
        assert.equal(faultCode({ [name]: bad }), 'ERR_MALFORMED_PACKET')
        // a repeated property arrives as an array from mqtt-packet: every element is checked
        assert.equal(faultCode({ [name]: ['ok/topic', bad] }), 'ERR_MALFORMED_PACKET')
      })
    }
  }

  for (const [what, bad] of [['ill-formed UTF-8', `k${MARKED}`], ['U+0000', 'k\u0000']] as const) {
    test(`${what} in a User Property name is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, () => {
      assert.equal(faultCode({ userProperties: { ok: 'v', [bad]: 'v' } }), 'ERR_MALFORMED_PACKET')
    })
    test(`${what} in a User Property value, single or repeated, is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, () => {
      assert.equal(faultCode({ userProperties: { k: bad } }), 'ERR_MALFORMED_PACKET')
      assert.equal(faultCode({ userProperties: { k: ['v', bad] } }), 'ERR_MALFORMED_PACKET')
    })
  }

  for (const topic of ['a/+', 'a/#', '#', '+', '']) {
    test(`a Response Topic ${JSON.stringify(topic)} is not a topic name: protocol error [MQTT-3.3.2-14, MQTT-4.7.3-1]`, () => {
      const fault = checkProperties({ responseTopic: topic })
      assert.ok(fault instanceof PortcullisError)
      assert.equal(fault.code, 'ERR_PROTOCOL')
    })
  }

  test('a Response Topic both ill-formed and with a wildcard is malformed first', () => {
    assert.equal(faultCode({ responseTopic: `a/+/${MARKED}` }), 'ERR_MALFORMED_PACKET')
  })

  test('a Reason String or User Property with wildcards is fine: only the Response Topic is a topic name', () => {
    assert.equal(faultCode({ reasonString: 'a/+/#', contentType: '#', userProperties: { '+': '#' } }), undefined)
  })
})

describe('checkPacketProperties', () => {
  test('a packet without properties passes, whatever its strings', () => {
    assert.equal(checkPacketProperties({ cmd: 'publish', topic: `a${MARKED}`, payload: '', qos: 0, dup: false, retain: false }), undefined)
    assert.equal(checkPacketProperties({ cmd: 'pingreq' }), undefined)
  })

  test('a PUBLISH from a client with a Subscription Identifier is a protocol error [MQTT-3.3.4-6]; in SUBSCRIBE it is fine', () => {
    assert.equal(checkPacketProperties({ cmd: 'publish', topic: 'a', payload: '', qos: 0, dup: false, retain: false, properties: { subscriptionIdentifier: 3 } })?.code, 'ERR_PROTOCOL')
    assert.equal(checkPacketProperties({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }], properties: { subscriptionIdentifier: 3 } }), undefined)
  })

  test('the will properties of a CONNECT are checked too', () => {
    const connect = (will: object): mqtt.IConnectPacket => ({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c',
      will: { topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false, ...will },
    })
    assert.equal(checkPacketProperties(connect({ properties: { contentType: `t${R}` } })), undefined)
    assert.equal(checkPacketProperties(connect({ properties: { contentType: `t${MARKED}` } }))?.code, 'ERR_MALFORMED_PACKET')
    assert.equal(checkPacketProperties(connect({ properties: { responseTopic: 'r/#' } }))?.code, 'ERR_PROTOCOL')
  })
})

// '@' marks where the bytes go (see frameWith); every packet here is decoded by mqtt-packet.
const PACKETS: ReadonlyArray<readonly [string, object]> = [
  ['PUBLISH Content Type', { cmd: 'publish', topic: 't', payload: 'x', qos: 0, properties: { contentType: 'text/@' } }],
  ['PUBLISH Response Topic', { cmd: 'publish', topic: 't', payload: 'x', qos: 1, messageId: 1, properties: { responseTopic: 'r/@' } }],
  ['PUBLISH User Property name', { cmd: 'publish', topic: 't', payload: 'x', qos: 0, properties: { userProperties: { 'k@': 'v' } } }],
  ['PUBLISH User Property value', { cmd: 'publish', topic: 't', payload: 'x', qos: 2, messageId: 1, properties: { userProperties: { k: ['v', 'v@'] } } }],
  ['CONNECT User Property', { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c', properties: { userProperties: { k: '@' } } }],
  ['CONNECT Authentication Method', { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c', properties: { authenticationMethod: 'm@' } }],
  ['CONNECT will Content Type', {
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c',
    will: { topic: 'w', payload: 'x', qos: 0, retain: false, properties: { contentType: '@' } },
  }],
  ['CONNECT will User Property', {
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c',
    will: { topic: 'w', payload: 'x', qos: 0, retain: false, properties: { userProperties: { '@': 'v' } } },
  }],
  ['SUBSCRIBE User Property', { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }], properties: { userProperties: { k: '@' } } }],
  ['UNSUBSCRIBE User Property', { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['a'], properties: { userProperties: { '@': 'v' } } }],
  ['PUBACK Reason String', { cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { reasonString: '@' } }],
  ['PUBREC Reason String', { cmd: 'pubrec', messageId: 1, reasonCode: 0x80, properties: { reasonString: '@' } }],
  ['PUBREL Reason String', { cmd: 'pubrel', messageId: 1, reasonCode: 0x92, properties: { reasonString: '@' } }],
  ['PUBCOMP User Property', { cmd: 'pubcomp', messageId: 1, reasonCode: 0, properties: { userProperties: { k: '@' } } }],
  ['DISCONNECT Reason String', { cmd: 'disconnect', reasonCode: 0, properties: { reasonString: '@' } }],
  ['AUTH Authentication Method', { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'm@' } }],
  ['AUTH Reason String', { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'm', reasonString: '@' } }],
]

describe('decodePacket runs the property check for every packet type with properties', () => {
  for (const [name, packet] of PACKETS) {
    test(`${name}: a literal U+FFFD and an emoji are accepted [MQTT-1.5.4-1]`, () => {
      for (const bytes of [[0xef, 0xbf, 0xbd], [0xf0, 0x9f, 0x98, 0x80]]) {
        const p = decodePacket(frameWith(packet, 5, bytes), 5)
        assert.ok(!(p instanceof Error), inspect(p))
        assert.equal((p as { cmd: string }).cmd, (packet as { cmd: string }).cmd)
      }
    })
    for (const [bad, bytes] of [...ILL_FORMED, ['U+0000', [0x00]] as const]) {
      test(`${name}: ${bad} is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, () => {
        const p = decodePacket(frameWith(packet, 5, [...bytes]), 5)
        assert.ok(p instanceof PortcullisError, inspect(p))
        assert.equal(p.code, 'ERR_MALFORMED_PACKET')
      })
    }
  }

  test('a PUBLISH Response Topic with a wildcard is a protocol error [MQTT-3.3.2-14]', () => {
    for (const bytes of [[0x2b], [0x23]]) {
      const p = decodePacket(frameWith(PACKETS[1]?.[1], 5, bytes), 5)
      assert.ok(p instanceof PortcullisError, inspect(p))
      assert.equal(p.code, 'ERR_PROTOCOL')
    }
  })

  test('a v5 PUBLISH without properties (the direct decoder) is not looked at', () => {
    const p = decodePacket(Buffer.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x00, 0x78]), 5)
    assert.ok(!(p instanceof Error))
    assert.equal((p as mqtt.IPublishPacket).properties, undefined)
  })
})
