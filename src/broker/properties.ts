/** The PUBLISH / will properties that travel unaltered from publisher to subscriber [MQTT-3.3.2-*]. */
import type { MessageProperties } from '../mqtt/types.js'

interface PropertySource {
  payloadFormatIndicator?: boolean
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: Record<string, string | string[]>
}

export function forwardableProperties(p: PropertySource): MessageProperties | undefined {
  let out: MessageProperties | undefined
  if (p.payloadFormatIndicator !== undefined) (out ??= {}).payloadFormatIndicator = p.payloadFormatIndicator
  if (p.contentType !== undefined) (out ??= {}).contentType = p.contentType
  if (p.responseTopic !== undefined) (out ??= {}).responseTopic = p.responseTopic
  if (p.correlationData !== undefined) (out ??= {}).correlationData = p.correlationData
  if (p.userProperties !== undefined) (out ??= {}).userProperties = p.userProperties
  return out
}
