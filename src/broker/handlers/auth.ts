/**
 * AUTH [MQTT-3.15]: MQTT 5 re-authentication (reason 0x19) with the method used at
 * CONNECT. Success re-arms identity, authorization and expiry (AUTH 0x00); failure
 * disconnects with 0x87.
 */
import type mqtt from 'mqtt-packet'
import { bindClientId } from '../../auth/identity.js'
import { ReasonCode } from '../../protocol/reason-codes.js'
import type { Connection } from '../connection.js'
import { contained } from '../contain.js'

export function handleAuth(conn: Connection, packet: mqtt.IAuthPacket): void {
  const broker = conn.broker
  const method = packet.properties?.authenticationMethod
  // AUTH is only for a client that authenticated with a method, and with that same method [MQTT-4.12.1-1].
  if (!conn.v5 || conn.authMethod === undefined || method !== conn.authMethod) {
    conn.fail('ERR_PROTOCOL', 'AUTH without the authentication method used at CONNECT')
    return
  }
  if (packet.reasonCode !== ReasonCode.ReAuthenticate) {
    conn.fail('ERR_PROTOCOL', `AUTH reason ${packet.reasonCode} not expected`)
    return
  }
  broker.auth
    .authenticate({
      clientId: conn.clientId,
      username: conn.connectUsername,
      password: undefined,
      authMethod: method,
      authData: packet.properties?.authenticationData,
      protocolVersion: 5,
      remoteAddress: conn.remoteAddress,
      reauth: true,
      ...(conn.clientCertificate?.ok === true ? { certificate: conn.clientCertificate.certificate } : {}),
    })
    .then(
      (result) => {
        if (conn.state !== 'connected') return
        if (!result.ok) {
          broker.countAuthFailure(result.error.code, result.authenticator)
          broker.logger.info({
            clientId: conn.clientId, authenticator: result.authenticator, code: result.error.code,
            ...(result.reasons !== undefined && result.reasons.length > 1 ? { reasons: result.reasons } : {}),
          }, `re-authentication refused: ${result.error.message}`)
          conn.disconnect(ReasonCode.NotAuthorized, result.error.message)
          return
        }
        // A new token must name the same client; its username may change.
        const binding = bindClientId(conn.clientId, result.identity)
        if (binding !== undefined && (!binding.ok || binding.clientId !== conn.clientId)) {
          broker.countAuthFailure('ERR_CLIENT_ID_INVALID', result.identity.authenticator)
          broker.logger.info({ clientId: conn.clientId, code: 'ERR_CLIENT_ID_INVALID' }, 're-authentication refused: the token names another client id')
          conn.disconnect(ReasonCode.NotAuthorized, 'the token names another client id')
          return
        }
        conn.identity = result.identity
        conn.username = result.identity.username ?? conn.connectUsername
        conn.authz = broker.authz.compile({
          clientId: conn.clientId,
          username: conn.username,
          remoteAddress: conn.remoteAddress,
          identity: result.identity,
        })
        conn.send({ cmd: 'auth', reasonCode: ReasonCode.Success, properties: { authenticationMethod: method } })
      },
      (err: unknown) => {
        broker.logger.error({ err, clientId: conn.clientId }, 're-authentication failed unexpectedly')
        conn.disconnect(ReasonCode.UnspecifiedError)
      },
    )
    .catch((err: unknown) => contained(broker.logger, conn, 're-authentication', err))
}
