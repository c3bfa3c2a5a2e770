/**
 * The benchmark's verdict (bench/run.ts exit status): it fails when Portcullis fails — a run of it
 * failed, or it lost a QoS 1 message whose PUBACK the publisher received — never because a peer
 * was slow. Before, a Mosquitto run that hit its time bound counted its unacknowledged messages as
 * lost and `npm run bench` exited 1 whenever fanin-qos1-durable's autosave_on_changes run was in.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ackedLost } from '../../bench/lib/generator.js'
import { outcome, type RunRecord } from '../../bench/lib/report.js'

function run(broker: string, fields: Partial<RunRecord>): RunRecord {
  return { scenario: 'fanin-qos1-durable', broker, round: 1, ok: true, ops: 1, seconds: 1, brokerCpuSeconds: 0, flags: [], ...fields }
}

describe('benchmark outcome', () => {
  test('a peer that hit its time bound with messages unacknowledged, or lost some, does not fail the benchmark', () => {
    const o = outcome([
      run('portcullis (persistence)', { lostQos1: 0, unackedQos1: 0 }),
      run('mosquitto (autosave_on_changes)', { unackedQos1: 189, undeliveredAtBoundQos1: 189, flags: ['measurement hit its time bound'] }),
      run('mosquitto (persistence, defaults)', { lostQos1: 3 }),
      run('aedes', { ok: false, error: 'start-up failed' }),
    ])
    assert.deepEqual(o, { failed: 0, lostQos1: 0, peerFailed: 1, peerLost: 3 })
  })

  test('Portcullis losing an acknowledged message, or a failed Portcullis run, fails it', () => {
    assert.deepEqual(outcome([run('portcullis (persistence)', { ok: false, lostQos1: 2 })]), { failed: 1, lostQos1: 2, peerFailed: 0, peerLost: 0 })
    assert.equal(outcome([run('portcullis-baseline (memory only)', { ok: false })]).failed, 1)
  })

  test('only acknowledged messages count as lost, once per subscriber that missed them', () => {
    // 4 messages, 2 subscribers expected for each; messages 0–2 acknowledged (0 by one worker's
    // publisher, 1–2 by another's), 3 never acknowledged.
    const phase1 = (acked: number[], seenBy: number[]): { acked: [Uint8Array, undefined]; seenBy: [Uint16Array, undefined] } =>
      ({ acked: [Uint8Array.from(acked), undefined], seenBy: [Uint16Array.from(seenBy), undefined] })
    const worker1 = phase1([1, 0, 0, 0], [1, 1, 0, 0])
    const worker2 = phase1([0, 1, 1, 0], [1, 0, 2, 0])
    // message 0: seen twice; 1: once (1 lost); 2: twice; 3: never, but never acknowledged
    assert.equal(ackedLost([worker1, worker2], 0, 2), 1)
    assert.equal(ackedLost([worker1, worker2], 1, 2), 0, 'a phase without acknowledgements loses nothing')
  })
})
