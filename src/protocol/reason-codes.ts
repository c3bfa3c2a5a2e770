/**
 * MQTT 5 reason codes (MQTT 5.0 §2.4) and the one place where they are translated
 * to MQTT 3.1.1 CONNACK return codes and SUBACK failure codes.
 */
export const ReasonCode = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const

export type ReasonCodeValue = (typeof ReasonCode)[keyof typeof ReasonCode]

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
export const V3ConnackCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUsernameOrPassword: 4,
  NotAuthorized: 5,
} as const

/** Translate a v5 CONNACK reason code into the MQTT 3.1.1 return code. */
export function v3ConnackCode(reason: number): number {
  switch (reason) {
    case ReasonCode.Success:
      return V3ConnackCode.Accepted
    case ReasonCode.UnsupportedProtocolVersion:
      return V3ConnackCode.UnacceptableProtocolVersion
    case ReasonCode.ClientIdentifierNotValid:
      return V3ConnackCode.IdentifierRejected
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return V3ConnackCode.BadUsernameOrPassword
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return V3ConnackCode.NotAuthorized
    default:
      return V3ConnackCode.ServerUnavailable
  }
}

/** Translate a v5 SUBACK reason code into MQTT 3.1.1 (only 0, 1, 2 and 0x80 exist there). */
export function v3SubackCode(reason: number): number {
  return reason < 0x80 ? reason : 0x80
}
