/**
 * Every authenticator type's configuration: `authentication.authenticators` entries are
 * dispatched on `type` to the parser of their folder (jwt/ for jwt and jwks, devices/, introspection/, http/, x509/).
 */
import { mapping } from '../config/check.js'
import { parseDevicesConfig, type DevicesAuthenticatorConfig } from './devices/config.js'
import { parseHttpConfig, type HttpAuthenticatorConfig } from './http/config.js'
import { parseIntrospectionConfig, type IntrospectionAuthenticatorConfig } from './introspection/config.js'
import {
  parseAuthenticatorConfig as parseTokenAuthenticatorConfig, parseAuthenticatorsConfig as parseList,
  type AuthenticatorConfig as TokenAuthenticatorConfig,
} from './jwt/config.js'
import { parseX509Config, type X509AuthenticatorConfig } from './x509/config.js'

export type { TokenAuthenticatorConfig }
export type { IntrospectionAuthenticatorConfig, HttpAuthenticatorConfig, X509AuthenticatorConfig, DevicesAuthenticatorConfig }
export type AuthenticatorConfig =
  | TokenAuthenticatorConfig | DevicesAuthenticatorConfig | IntrospectionAuthenticatorConfig | HttpAuthenticatorConfig | X509AuthenticatorConfig

/** Parses one entry of any type. `path` is its key path. Throws ConfigError. */
export function parseAuthenticatorConfig(raw: unknown, path: string, defaultName?: string): AuthenticatorConfig {
  const r = mapping(raw, path)
  if (r['type'] === 'introspection') return parseIntrospectionConfig(r, path, defaultName ?? 'introspection')
  if (r['type'] === 'http') return parseHttpConfig(r, path, defaultName ?? 'http')
  if (r['type'] === 'x509') return parseX509Config(r, path, defaultName ?? 'x509')
  if (r['type'] === 'devices') return parseDevicesConfig(r, path, defaultName ?? 'devices')
  return parseTokenAuthenticatorConfig(raw, path, defaultName)
}

/** Parses the `authenticators` list: each entry, default names `<type>-<index>`, unique names. */
export function parseAuthenticatorsConfig(rawList: unknown, path: string): AuthenticatorConfig[] {
  return parseList(rawList, path, parseAuthenticatorConfig)
}
