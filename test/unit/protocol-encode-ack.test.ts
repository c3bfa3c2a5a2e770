/**
 * The four-byte acknowledgements (encodeAck): byte-for-byte what mqtt-packet writes for MQTT
 * 3.1.1, and read back by mqtt-packet as reason Success under MQTT 5 [MQTT-3.4.2-1].
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqtt from 'mqtt-packet'
import { encodeAck, type AckType } from '../../src/protocol/encode.js'

const TYPES: AckType[] = ['puback', 'pubrec', 'pubrel', 'pubcomp']

describe('encodeAck', () => {
  for (const type of TYPES) {
    test(`${type} equals mqtt-packet's 3.1.1 encoding (PUBREL flags 0010 [MQTT-3.6.1-1])`, () => {
      for (const id of [1, 258, 65535]) {
        assert.deepEqual(encodeAck(type, id), mqtt.generate({ cmd: type, messageId: id }, { protocolVersion: 4 }))
      }
    })
    test(`${type} is read as reason Success by an MQTT 5 parser [MQTT-3.4.2-1]`, () => {
      const parser = mqtt.parser({ protocolVersion: 5 })
      const got: mqtt.Packet[] = []
      parser.on('packet', (p: mqtt.Packet) => got.push(p))
      parser.parse(encodeAck(type, 4660))
      assert.equal(got.length, 1)
      assert.equal(got[0].cmd, type)
      assert.equal((got[0] as mqtt.IPubackPacket).messageId, 4660)
      assert.equal((got[0] as mqtt.IPubackPacket).reasonCode, 0)
    })
  }
})
