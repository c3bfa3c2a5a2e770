/** Portcullis: the public face. */
export { createServer, VERSION, type PortcullisServer, type ServerOptions } from './server.js'
export { validateConfig, type PortcullisConfig } from './config/schema.js'
export { loadConfigFile } from './config/load.js'
export { PortcullisError, ConfigError, ErrorCodes, toReasonCode, type ErrorCode } from './errors.js'
export { ReasonCode } from './protocol/reason-codes.js'
export type { Authenticator, AuthOutcome, Credentials, Identity } from './auth/types.js'
export type { Authorizer, ClientRules, AuthzDecision } from './authz/types.js'
