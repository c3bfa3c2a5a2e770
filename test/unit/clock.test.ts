/** src/clock.ts: the one clock the broker reads time and sets its timers by. */
import assert from 'node:assert/strict'
import { describe, mock, test } from 'node:test'
import { clock, nowSeconds, setClock, type Clock } from '../../src/clock.js'
import { clearLongTimeout, setLongTimeout } from '../../src/broker/timers.js'

describe('clock', () => {
  test('the system clock follows fake Date and timers (node:test mock.timers)', () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: 1_000_000 })
    try {
      assert.equal(clock.now(), 1_000_000)
      assert.equal(nowSeconds(), 1000)
      const fired: string[] = []
      clock.setTimeout(() => fired.push('timeout'), 500)
      const interval = clock.setInterval(() => fired.push('interval'), 400)
      mock.timers.tick(800)
      clearInterval(interval)
      assert.equal(clock.now(), 1_000_800)
      assert.deepEqual(fired, ['interval', 'timeout', 'interval'])
    } finally {
      mock.timers.reset()
    }
  })

  test('setClock puts another clock in place until restored; long timers re-arm by it', () => {
    let now = 5_000
    const armed: Array<{ fn: () => void; at: number }> = []
    const manual: Clock = {
      now: () => now,
      setTimeout: (fn, ms) => {
        armed.push({ fn, at: now + ms })
        return setTimeout(() => {}, 0)
      },
      setInterval: () => setInterval(() => {}, 1 << 30),
    }
    const restore = setClock(manual)
    try {
      assert.equal(clock.now(), 5_000)
      let fired = false
      const day = 24 * 3600 * 1000
      const timer = setLongTimeout(() => { fired = true }, 30 * day) // beyond setTimeout's 2^31-1 ms
      assert.equal(armed.length, 1)
      assert.equal(armed[0].at, 5_000 + 0x7fffffff, 'armed for the longest delay setTimeout takes')
      now = armed[0].at
      armed[0].fn()
      assert.equal(armed.length, 2, 're-armed for the rest')
      assert.equal(armed[1].at, 5_000 + 30 * day)
      armed[1].fn()
      assert.equal(fired, true)
      clearLongTimeout(timer)
    } finally {
      restore()
    }
    assert.notEqual(clock.now(), 5_000, 'the system clock is back')
  })
})
