/**
 * encodePacket: mqtt-packet's encoding without its table of 65,536 two-byte numbers (6.3 MB
 * held for the life of the process; idle memory, issue 19) — the same bytes, no table built.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import mqtt from 'mqtt-packet'
import { encodePacket } from '../../src/protocol/encode.js'

const requireFromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))
const numbers = requireFromMqttPacket('./numbers.js') as { cache: Record<number, Buffer> }

test('packets with two-byte numbers encode as before, and mqtt-packet builds no number table', () => {
  const suback = encodePacket({ cmd: 'suback', messageId: 0x1234, granted: [0, 1, 0x80] }, 4)
  assert.deepEqual([...suback], [0x90, 5, 0x12, 0x34, 0, 1, 0x80])
  const publish = encodePacket({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, dup: false, retain: false, messageId: 65535, properties: { contentType: 'a' } }, 5)
  const parser = mqtt.parser({ protocolVersion: 5 })
  let read: mqtt.IPublishPacket | undefined
  parser.on('packet', (p: mqtt.Packet) => { read = p as mqtt.IPublishPacket })
  parser.parse(publish)
  assert.equal(read?.messageId, 65535)
  assert.equal(read?.properties?.contentType, 'a')
  const connack = encodePacket({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: { receiveMaximum: 300, topicAliasMaximum: 10 } }, 5)
  assert.equal(connack[0], 0x20)
  assert.equal(Object.keys(numbers.cache).length, 0)
  assert.equal(mqtt.writeToStream.cacheNumbers, false)
})
