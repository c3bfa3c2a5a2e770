/**
 * A message's MQTT 5 properties as JSON text, for a database column. JSON has no bytes, so a
 * Buffer-valued property (Correlation Data) is written as base64 text and its name listed
 * under `$buffers`; reading turns the listed ones back into Buffers. The marker sits among
 * the properties' own field names, never inside client-chosen data (User Properties), so
 * no client value can be mistaken for an encoded Buffer.
 */
import type { MessageProperties } from '../../mqtt/types.js'

const BUFFERS = '$buffers'

/** JSON text for the properties, or null when there are none. */
export function propertiesToJson(properties: MessageProperties | undefined): string | null {
  if (properties === undefined) return null
  const out: Record<string, unknown> = {}
  const buffers: string[] = []
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined) continue
    if (Buffer.isBuffer(value)) {
      out[key] = value.toString('base64')
      buffers.push(key)
    } else out[key] = value
  }
  if (buffers.length > 0) out[BUFFERS] = buffers
  return JSON.stringify(out)
}

/** The properties written by propertiesToJson, Buffers restored. */
export function propertiesFromJson(json: string | null): MessageProperties | undefined {
  if (json === null) return undefined
  const { [BUFFERS]: buffers, ...out } = JSON.parse(json) as Record<string, unknown>
  for (const key of (buffers ?? []) as string[]) out[key] = Buffer.from(out[key] as string, 'base64')
  return out
}
