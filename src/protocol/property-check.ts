/**
 * The MQTT 5 properties a client sent, checked once per packet that has any (decode.ts calls
 * this for every packet mqtt-packet decodes; the packets decoded directly carry none).
 *
 * - Every string property — Content Type, Response Topic, Reason String, Authentication Method
 *   and the rest — and every User Property name and value is a UTF-8 string field: ill-formed
 *   UTF-8 or U+0000 in one makes the packet malformed [MQTT-1.5.4-1, MQTT-1.5.4-2], whichever
 *   packet it is in (CONNECT and its will, PUBLISH, the acknowledgements, SUBSCRIBE,
 *   UNSUBSCRIBE, DISCONNECT, AUTH). The strings come marked by the decoder (utf8.ts).
 * - Only User Property may appear more than once in a packet a client sends; any other
 *   property repeated is a Protocol Error (MQTT 5.0 §3.x "more than once", e.g. [MQTT-3.1.2.11],
 *   §3.8.2.1.2 for the Subscription Identifier). mqtt-packet turns a repeat into an array.
 * - A PUBLISH from a client never carries a Subscription Identifier [MQTT-3.3.4-6].
 * - Each packet type carries only the properties MQTT 5.0 §3 lists for it: a Topic Alias in
 *   a CONNECT, a Will Delay Interval in a PUBLISH, a Server Keep Alive from a client are
 *   Protocol Errors (§2.2.2.2, as other brokers treat them), never silently ignored.
 * - A Response Topic is the topic name of the response, so it has to be a valid one: no
 *   wildcards [MQTT-3.3.2-14], not empty [MQTT-4.7.3-1]. The packet parses fine, its content
 *   is what the protocol forbids: a Protocol Error (MQTT 5.0 §4.13.1), not Topic Name Invalid,
 *   which DISCONNECT and PUBACK define for the packet's own, correctly formed, Topic Name.
 */
import type mqtt from 'mqtt-packet'
import { PortcullisError } from '../errors.js'
import { isValidTopicName } from './topic.js'
import { isValidUtf8Field } from './utf8.js'

/** Decoded properties as mqtt-packet leaves them: a property sent more than once is an array. */
export type DecodedProperties = Readonly<Record<string, unknown>>

/** The properties mqtt-packet decodes as UTF-8 strings (User Property, a string pair, aside). */
const STRING_PROPERTIES: ReadonlySet<string> = new Set([
  'contentType',
  'responseTopic',
  'reasonString',
  'authenticationMethod',
  'assignedClientIdentifier',
  'responseInformation',
  'serverReference',
])

const PUBLISH_PROPERTIES = ['payloadFormatIndicator', 'messageExpiryInterval', 'topicAlias', 'responseTopic', 'correlationData', 'userProperties', 'subscriptionIdentifier', 'contentType']
const ACK_PROPERTIES = ['reasonString', 'userProperties']

/** The properties each packet a client sends may carry (MQTT 5.0 §3.x.2.2), by mqtt-packet's names. */
const ALLOWED: Readonly<Record<string, ReadonlySet<string>>> = {
  connect: new Set(['sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum', 'requestResponseInformation', 'requestProblemInformation', 'userProperties', 'authenticationMethod', 'authenticationData']),
  will: new Set(['willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties']),
  publish: new Set(PUBLISH_PROPERTIES),
  puback: new Set(ACK_PROPERTIES),
  pubrec: new Set(ACK_PROPERTIES),
  pubrel: new Set(ACK_PROPERTIES),
  pubcomp: new Set(ACK_PROPERTIES),
  subscribe: new Set(['subscriptionIdentifier', 'userProperties']),
  unsubscribe: new Set(['userProperties']),
  disconnect: new Set(['sessionExpiryInterval', 'reasonString', 'userProperties', 'serverReference']),
  auth: new Set(['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']),
}

/** The first property not allowed in a packet of this kind ('will': a CONNECT's will properties). */
function foreignProperty(props: DecodedProperties, kind: string): string | undefined {
  const allowed = ALLOWED[kind]
  // a packet a client never sends (CONNACK, SUBACK, …) is refused by the dispatcher
  if (allowed === undefined) return undefined
  for (const name in props) if (!allowed.has(name)) return name
  return undefined
}

/** A string, or the array of strings a repeated property becomes, every one passing `ok`. */
function everyString(value: unknown, ok: (s: string) => boolean): boolean {
  if (typeof value === 'string') return ok(value)
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && ok(v))
}

/** The fault in one property block, or undefined when it is sound. Cost: one look per property present. */
export function checkProperties(props: DecodedProperties): PortcullisError | undefined {
  let repeated: string | undefined
  for (const name in props) {
    const value = props[name]
    if (Array.isArray(value)) repeated ??= name
    if (name === 'userProperties') {
      const pairs = value as Readonly<Record<string, unknown>>
      for (const key in pairs) {
        if (!isValidUtf8Field(key) || !everyString(pairs[key], isValidUtf8Field)) {
          return new PortcullisError('ERR_MALFORMED_PACKET', 'a User Property is not well-formed UTF-8')
        }
      }
    } else if (STRING_PROPERTIES.has(name) && !everyString(value, isValidUtf8Field)) {
      return new PortcullisError('ERR_MALFORMED_PACKET', `property ${name} is not well-formed UTF-8`)
    }
  }
  if (repeated !== undefined) return new PortcullisError('ERR_PROTOCOL', `property ${repeated} sent more than once`)
  const responseTopic = props['responseTopic']
  if (responseTopic !== undefined && !everyString(responseTopic, isValidTopicName)) {
    return new PortcullisError('ERR_PROTOCOL', 'Response Topic is not a valid topic name')
  }
  return undefined
}

/** checkProperties, and then only properties this kind of packet may carry. */
function checkPropertiesOf(props: DecodedProperties, kind: string): PortcullisError | undefined {
  const fault = checkProperties(props)
  if (fault !== undefined) return fault
  const foreign = foreignProperty(props, kind)
  return foreign === undefined ? undefined : new PortcullisError('ERR_PROTOCOL', `property ${foreign} is not allowed in ${kind === 'will' ? 'will properties' : `a ${kind.toUpperCase()}`}`)
}

/** The fault in a decoded packet's properties (a CONNECT's will properties included), if any. */
export function checkPacketProperties(packet: mqtt.Packet): PortcullisError | undefined {
  const props = (packet as { properties?: DecodedProperties }).properties
  if (packet.cmd === 'publish' && props?.['subscriptionIdentifier'] !== undefined && checkProperties(props) === undefined) {
    return new PortcullisError('ERR_PROTOCOL', 'a PUBLISH from a client carries a Subscription Identifier')
  }
  const fault = props === undefined ? undefined : checkPropertiesOf(props, packet.cmd)
  if (fault !== undefined || packet.cmd !== 'connect') return fault
  const willProps = packet.will?.properties as DecodedProperties | undefined
  return willProps === undefined ? undefined : checkPropertiesOf(willProps, 'will')
}
