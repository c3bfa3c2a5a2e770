/**
 * unsupportedProtocolLevel: which CONNECT frames are answered with a CONNACK refusing the
 * protocol level [MQTT-3.1.2-2], decided on the bytes (not on mqtt-packet's error text).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { unsupportedProtocolLevel } from '../../src/protocol/decode.js'

/** A minimal CONNECT frame: protocol name, level, flags 0x02, keep-alive 60, empty client id. */
function connectFrame(name: string, level: number): Buffer {
  const nameBytes = Buffer.from(name, 'latin1')
  const body = Buffer.concat([Buffer.from([0, nameBytes.length]), nameBytes, Buffer.from([level, 0x02, 0, 60, 0, 0])])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

describe('unsupportedProtocolLevel [MQTT-3.1.2-2]', () => {
  it('a level other than 3, 4 or 5 after the MQTT or MQIsdp name is unsupported', () => {
    assert.equal(unsupportedProtocolLevel(connectFrame('MQTT', 6)), 6)
    assert.equal(unsupportedProtocolLevel(connectFrame('MQTT', 2)), 2)
    assert.equal(unsupportedProtocolLevel(connectFrame('MQIsdp', 7)), 7)
  })

  it('levels 3, 4 and 5 are spoken, with or without the bridge bit', () => {
    for (const level of [3, 4, 5, 0x83, 0x84, 0x85]) assert.equal(unsupportedProtocolLevel(connectFrame('MQTT', level)), undefined, String(level))
  })

  it('another protocol name, another packet type or a truncated frame is not a level question', () => {
    assert.equal(unsupportedProtocolLevel(connectFrame('HTTP', 6)), undefined)
    assert.equal(unsupportedProtocolLevel(Buffer.from([0xc0, 0x00])), undefined)
    assert.equal(unsupportedProtocolLevel(Buffer.from([0x10, 0x02, 0x00, 0x04])), undefined)
  })
})
