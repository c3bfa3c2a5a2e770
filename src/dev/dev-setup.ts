/**
 * The development setup `portcullis start` runs without a configuration: an ES256 key
 * pair kept in the data directory, its public JWKS served by the admin listener, a jwks
 * authenticator pointed at it, and a visible allow-all policy for authenticated clients.
 * It is for trying Portcullis out, never for production.
 */
import type { JsonWebKey } from 'node:crypto'
import { isIP } from 'node:net'
import { generateKeyPair } from '../auth/jwt/tools.js'
import { ConfigError } from '../errors.js'
import { loadOrCreateSecretFile } from '../secret-file.js'

export const DEV_KEY_FILE = 'dev-signing-key.json'
export const DEV_ADMIN_PORT = 18083
export const DEV_MQTT_PORT = 1883

export const DEV_MQTT_HOST = '127.0.0.1'

/** A host name as RFC 1123 spells it: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** The development setup's MQTT address: loopback, like its admin listener, unless PORTCULLIS_MQTT_HOST says otherwise. */
export function devMqttHost(env: NodeJS.ProcessEnv = process.env): string {
  const v = env['PORTCULLIS_MQTT_HOST']?.trim() ?? ''
  if (v === '') return DEV_MQTT_HOST
  // Refused here rather than looked up: dotted digits that are no IPv4 address would go to DNS as a name.
  if (isIP(v) === 0 && (!HOST_NAME.test(v) || /^[\d.]+$/.test(v))) {
    throw new ConfigError('PORTCULLIS_MQTT_HOST', `must be an IP address or a host name of this machine, e.g. 0.0.0.0 (got '${v}')`)
  }
  return v
}

/** The variables of the development setup, by the configuration key path each one sets. */
const DEV_VARIABLES: Readonly<Record<string, string>> = {
  'listeners[0].host': 'PORTCULLIS_MQTT_HOST',
  'listeners[0].port': 'PORTCULLIS_MQTT_PORT',
  'admin.port': 'PORTCULLIS_ADMIN_PORT',
}

/**
 * `err` under the name of the environment variable that gave the value at its path, when one did:
 * the development setup has no file whose keys the user could look up.
 */
export function devConfigError(err: ConfigError, env: NodeJS.ProcessEnv = process.env): ConfigError {
  const name = DEV_VARIABLES[err.path]
  if (name === undefined || (env[name] ?? '').trim() === '') return err
  return new ConfigError(name, err.reason, { cause: err.cause })
}

/** Ports of the development setup; PORTCULLIS_MQTT_PORT / PORTCULLIS_ADMIN_PORT override them. */
export function devPorts(env: NodeJS.ProcessEnv = process.env): { mqtt: number; admin: number } {
  const read = (name: string, fallback: number): number => {
    const v = env[name]
    if (v === undefined || v === '') return fallback
    const n = Number(v)
    // A configuration error like any other: `portcullis: invalid configuration: …`, exit 2.
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(name, `must be a port number, 1..65535 (got '${v}')`)
    return n
  }
  return { mqtt: read('PORTCULLIS_MQTT_PORT', DEV_MQTT_PORT), admin: read('PORTCULLIS_ADMIN_PORT', DEV_ADMIN_PORT) }
}

export interface DevKey {
  readonly kid: string
  readonly alg: 'ES256'
  readonly privateJwk: JsonWebKey
  readonly publicJwk: JsonWebKey
  readonly file: string
  readonly created: boolean
}

/** The development signing key: read from `dataDir`, or generated (mode 0600) on first use. */
export function loadOrCreateDevKey(dataDir: string): DevKey {
  type Stored = { kid: string; privateJwk: JsonWebKey; publicJwk: JsonWebKey }
  const { value, file, created } = loadOrCreateSecretFile<Stored>(dataDir, DEV_KEY_FILE,
    (text) => JSON.parse(text) as Stored,
    () => {
      const pair = generateKeyPair('ES256')
      const stored = { kid: pair.kid, alg: 'ES256', privateJwk: pair.privateJwk, publicJwk: pair.publicJwk }
      return { value: stored, text: `${JSON.stringify(stored, null, 2)}\n` }
    })
  return { kid: value.kid, alg: 'ES256', privateJwk: value.privateJwk, publicJwk: value.publicJwk, file, created }
}

/** The raw configuration of the development setup (validated like any file). */
export function devConfig(dataDir: string): Record<string, unknown> {
  const ports = devPorts()
  return {
    dataDir,
    listeners: [{ type: 'tcp', host: devMqttHost(), port: ports.mqtt }],
    admin: { host: '127.0.0.1', port: ports.admin },
    authentication: {
      allowAnonymous: false,
      authenticators: [
        {
          type: 'jwks',
          name: 'dev-jwks',
          from: 'password',
          endpoint: `http://127.0.0.1:${ports.admin}`,
          description: 'Development key set served by this broker (data/dev-signing-key.json)',
          claims: { required: ['exp'], leeway: 5 },
        },
      ],
    },
    authorization: {
      noMatch: 'deny',
      policies: [
        {
          name: 'dev-allow-authenticated',
          priority: 1000,
          effect: 'allow',
          actions: ['publish', 'subscribe'],
          topics: ['#'],
          description: 'Development setup: every authenticated client may publish and subscribe',
        },
      ],
    },
  }
}

export function devBanner(key: DevKey, apiKey: { readonly key: string; readonly file: string; readonly created: boolean }): string {
  const ports = devPorts()
  const p = ports.mqtt === DEV_MQTT_PORT ? '' : ` -p ${ports.mqtt}`
  return [
    '',
    '  ┌──────────────────────────────────────────────────────────────────────────┐',
    '  │  Portcullis DEVELOPMENT SETUP — not for production                        │',
    '  └──────────────────────────────────────────────────────────────────────────┘',
    `  MQTT on ${devMqttHost()}:${ports.mqtt}${devMqttHost() === DEV_MQTT_HOST ? ' (PORTCULLIS_MQTT_HOST=0.0.0.0 to accept other machines)' : ''}; admin + JWKS on http://127.0.0.1:${ports.admin}/.well-known/jwks.json`,
    `  Clients authenticate with a JWT in the password, signed by ${key.file} (ES256, kid ${key.kid}).`,
    '  Every authenticated client may publish and subscribe to any topic (policy dev-allow-authenticated).',
    '',
    '  Mint a token and use it:',
    '    TOKEN=$(npx portcullis token mint --sub alice --exp 1h)',
    `    mosquitto_sub -h 127.0.0.1${p} -t 'demo/#' -u alice -P "$TOKEN"`,
    `    mosquitto_pub -h 127.0.0.1${p} -t demo/hello -m hi -u alice -P "$TOKEN"`,
    '',
    `  Console and REST API: http://127.0.0.1:${ports.admin}/  API key: ${apiKey.created ? `${apiKey.key} (shown once; kept in ${apiKey.file})` : `in ${apiKey.file}`}`,
    '',
    '  Write a portcullis.yaml (see README) to configure your own authenticators.',
    '',
  ].join('\n')
}
