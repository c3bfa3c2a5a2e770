/** What a broker answered to SUBSCRIBE and PUBLISH, refusals included, as reason codes. */
import type { MqttClient } from 'mqtt'
import { subscribe } from './broker.js'

/** SUBACK codes, denied ones included (MQTT.js rejects a SUBACK carrying a failure). */
export async function subscribeCodes(c: MqttClient, filter: string | string[], opts: { qos: 0 | 1 | 2 }): Promise<number[]> {
  try {
    return await subscribe(c, filter, opts)
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (packet?.granted === undefined) throw err
    return packet.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos))
  }
}

/** The v5 PUBACK reason code of a QoS 1/2 publish (0 when accepted). */
export async function publishCode(c: MqttClient, topic: string, payload: string, opts: { qos: 1 | 2; retain?: boolean }): Promise<number> {
  try {
    const r = await c.publishAsync(topic, payload, opts)
    return (r as { reasonCode?: number } | undefined)?.reasonCode ?? 0
  } catch (err) {
    const code = (err as { code?: number }).code
    if (typeof code !== 'number') throw err
    return code
  }
}
