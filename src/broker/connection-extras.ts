/**
 * The fields of a connection that few clients ever set, kept in one object the connection
 * creates when the first of them is set: an idle connection that never needed them holds one
 * empty slot instead of eight (idle memory, issue 19). Connection exposes each as a property.
 */
import type mqtt from 'mqtt-packet'
import type { PresentedCertificate } from '../auth/certificate.js'
import type { PublishRateLimiter } from './rate-limit.js'

export class ConnectionExtras {
  /** ws/wss: the token the upgrade request carried (`upgradeToken`), until CONNECT is authenticated. Never logged. */
  upgradeToken: string | undefined = undefined
  /** tls/wss listeners with requestCert: the certificate the handshake presented and what its verification said. */
  clientCertificate: PresentedCertificate | undefined = undefined
  /** Authentication Method used at CONNECT (MQTT 5), for re-authentication. */
  authMethod: string | undefined = undefined
  /** Topic aliases (MQTT 5), allocated on first use: most clients never use them. */
  outAliases: Map<string, number> | undefined = undefined
  /** Characters of the topics in outAliases (bounded by OUT_ALIAS_CHARS, connection.ts). */
  outAliasChars = 0
  inAliases: Map<number, string> | undefined = undefined
  /** Packets that arrived while CONNECT was being authenticated. */
  held: mqtt.Packet[] | undefined = undefined
  /** limits.publishRate for this client, created at its first PUBLISH when configured. */
  publishRate: PublishRateLimiter | undefined = undefined
  /** Opened beyond limits.connectRatePerAddress: its CONNECT is refused unread. */
  overConnectRate = false
  /** A protocol error closes it once the acknowledgements due before it are sent (Connection.fail): its time bound. */
  failing: NodeJS.Timeout | undefined = undefined
  /** Not read while more than limits.maxWriteBuffer waits for the client to read it (Connection.flush). */
  heldForWrites = false
  /** Not read any more: another node is taking the client over (Connection.pauseReading). */
  readingStopped = false
}
