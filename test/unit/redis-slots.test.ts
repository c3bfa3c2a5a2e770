/**
 * How a group commit is split for a Redis Cluster (src/store/redis/slots.ts): each command of a
 * recorded change goes to the hash slot of its keys (the hash tag `{…}` decides), a keyless
 * command (PUBLISH) goes with the keyed command before it in the same change.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { captureCommands, command, placeKeyless, slotOf } from '../../src/store/redis/slots.js'

test('keys with the same hash tag share a slot; the tag alone decides', () => {
  assert.equal(slotOf('pc:{client-1}:s'), slotOf('pc:{client-1}:owner'))
  assert.equal(slotOf('pc:{client-1}:d'), slotOf('client-1'))
  assert.equal(slotOf('pc:fwd:{node-a}'), slotOf('pc:alive:{node-a}'))
  // CRC16 mod 16384 (the Redis Cluster specification's example key).
  assert.equal(slotOf('123456789'), 0x31c3 % 16384)
})

test('a recorded change is captured command by command with the slot of its keys; nothing is sent', () => {
  const got = captureCommands((m) => m.sadd('pc:routes:{n1}', 'a/b').set('pc:routes:{n1}:v', '7').publish('pc:routes', '{}').xadd('pc:fwd:{n2}', '*', 'm', Buffer.from([1])))
  assert.deepEqual(got.map((c) => [c.name, c.slot]), [
    ['sadd', slotOf('n1')], ['set', slotOf('n1')], ['publish', undefined], ['xadd', slotOf('n2')],
  ])
  assert.deepEqual(got[0]?.args, ['pc:routes:{n1}', 'a/b'])
})

test('a command given whole (recordCommand) goes to the slot of its keys, an EVAL to that of its declared keys', () => {
  assert.equal(command('XADD', ['pc:fwd:{n2}', '*', 'm', Buffer.from([1])]).slot, slotOf('n2'))
  assert.equal(command('EVAL', ['return 1', 1, 'pc:fwd:{n3}', 'pc', Buffer.from('1-1')]).slot, slotOf('n3'))
  assert.equal(command('PUBLISH', ['c', 'x']).slot, undefined)
})

test('one command whose keys hash to two slots is refused (it could never run on a Redis Cluster)', () => {
  assert.throws(() => captureCommands((m) => m.del('pc:{a}:s', 'pc:{b}:s')), TypeError)
})

test('a keyless command goes with the keyed command before it, else the one after it, else the fallback slot', () => {
  const cmds = captureCommands((m) => m.publish('c', 'first').hset('pc:node:x', 'at', '1').publish('c', 'second').set('pc:alive:{x}', 't'))
  const placed = placeKeyless(cmds, 42).map(([slot, c]) => [slot, c.name, c.args[1]])
  assert.deepEqual(placed, [
    [slotOf('pc:node:x'), 'hset', 'at'],
    [slotOf('pc:node:x'), 'publish', 'first'],
    [slotOf('pc:node:x'), 'publish', 'second'],
    [slotOf('x'), 'set', 't'],
  ])
  assert.deepEqual(placeKeyless(captureCommands((m) => m.publish('c', 'alone')), 42).map(([slot]) => slot), [42])
})
