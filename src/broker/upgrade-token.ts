/**
 * A token carried by the WebSocket upgrade request (ws/wss listeners), for clients that
 * cannot put one in CONNECT easily — browsers, and gateways that authenticate the upgrade.
 * Each place is opt-in per listener (`upgradeToken`):
 *
 *   authorization: true     `Authorization: Bearer <token>`
 *   cookie: NAME            the cookie NAME
 *   query: NAME             the query parameter NAME (least safe: URLs end up in proxy and
 *                           browser history logs; use it only when nothing else works)
 *
 * The first one present, in that order, is the token. It is never logged; the broker hands
 * it to the authenticators in place of an absent CONNECT username/password.
 */
import type { IncomingMessage } from 'node:http'
import { ConfigError } from '../errors.js'
import { absent, knownKeys, mapping, optionalBoolean, optionalString } from '../config/check.js'

export interface UpgradeTokenConfig {
  readonly authorization: boolean
  readonly cookie?: string
  readonly query?: string
}

/** Longest token read from an upgrade request (the token authenticators' own cap is lower). */
const MAX_UPGRADE_TOKEN = 65_535
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/

/** Parses a listener's `upgradeToken` (`path` is its key path); undefined when absent. */
export function parseUpgradeTokenConfig(raw: unknown, path: string, type: string): UpgradeTokenConfig | undefined {
  if (absent(raw)) return undefined
  if (type !== 'ws' && type !== 'wss') throw new ConfigError(path, 'is only used with ws and wss listeners')
  const v = mapping(raw, path)
  knownKeys(v, path, ['authorization', 'cookie', 'query'])
  const cookie = optionalString(v['cookie'], `${path}.cookie`)
  const query = optionalString(v['query'], `${path}.query`)
  for (const [key, name] of [['cookie', cookie], ['query', query]] as const) {
    if (name !== undefined && !NAME.test(name)) throw new ConfigError(`${path}.${key}`, `must be a cookie / parameter name of 1..128 token characters (got ${JSON.stringify(name)})`)
  }
  const authorization = optionalBoolean(v['authorization'], `${path}.authorization`, false)
  if (!authorization && cookie === undefined && query === undefined) throw new ConfigError(path, 'enables nothing (set authorization: true, cookie: NAME and/or query: NAME)')
  return Object.freeze({ authorization, ...(cookie !== undefined ? { cookie } : {}), ...(query !== undefined ? { query } : {}) })
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue
    let value = part.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    try {
      return decodeURIComponent(value)
    } catch {
      return value
    }
  }
  return undefined
}

/** The token of an upgrade request, by the listener's rules; undefined when there is none. */
export function readUpgradeToken(req: IncomingMessage, config: UpgradeTokenConfig): string | undefined {
  let token: string | undefined
  if (config.authorization) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
    token = m?.[1]
  }
  if (token === undefined && config.cookie !== undefined) token = cookieValue(req.headers.cookie, config.cookie)
  if (token === undefined && config.query !== undefined && req.url !== undefined) {
    const q = req.url.indexOf('?')
    if (q !== -1) token = new URLSearchParams(req.url.slice(q + 1)).get(config.query) ?? undefined
  }
  return token === undefined || token === '' || token.length > MAX_UPGRADE_TOKEN ? undefined : token
}
