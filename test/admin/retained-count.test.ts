/**
 * The retained message count is what clients retained (issue 17 item 12): the broker's own
 * `$SYS` topics, published retained, are not counted in GET /api/v1/stats, the
 * portcullis_retained_messages gauge or `$SYS/broker/retained messages/count`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { until } from '../helpers/broker.js'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

describe('retained count leaves $SYS out', () => {
  const h = useAdmin({ overrides: { limits: { sysInterval: 1 } } })

  it('stats, metrics and $SYS count only the clients\' retained messages', async () => {
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, username: 'u', password: hsToken(SEED_SECRET), reconnectPeriod: 0, connectTimeout: 5000 })
    try {
      await client.publishAsync('file/a', 'A', { qos: 1, retain: true })
      await client.publishAsync('file/b', 'B', { qos: 1, retain: true })
      const store = h.server.broker.retained
      await until(() => store.size >= 10, '$SYS topics published retained', 5000)
      const stats = (await h.api('GET', '/api/v1/stats')).body as { retained: number }
      assert.equal(stats.retained, 2, `2 retained by the client (the store holds ${store.size} with $SYS)`)
      assert.match((await h.api('GET', '/metrics')).text, /^portcullis_retained_messages 2$/m)
      // $SYS says the same (its retained value, as a subscriber allowed $SYS would receive it)
      await until(() => {
        const m = store.match('$SYS/broker/retained messages/count') as { payload: Buffer }[]
        return m.length === 1 && m[0].payload.toString() === '2'
      }, '$SYS/broker/retained messages/count is 2', 5000)
      // clearing one (an empty retained payload) counts down
      await client.publishAsync('file/a', '', { qos: 1, retain: true })
      assert.equal(((await h.api('GET', '/api/v1/stats')).body as { retained: number }).retained, 1)
    } finally {
      await client.endAsync(true)
    }
  })
})
