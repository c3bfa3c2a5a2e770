/** What every command accepts: the one declaration its parser and its `--help` are made from. */
import { JWS_ALGORITHMS } from '../auth/jwt/algorithms.js'
import type { CommandSpec, OptionSpec } from './args.js'

/** The valid `--alg` values, for help and for errors. */
export const ALGORITHM_LIST = JWS_ALGORITHMS.join(', ')

const DATA_DIR: OptionSpec = { name: 'data-dir', value: 'DIR', help: 'where the development setup keeps its keys (default: ./data)' }
/** The options a command finds the broker's configuration with (resolveConfig reads them). */
const CONFIGURATION: readonly OptionSpec[] = [
  { name: 'config', value: 'FILE', help: 'configuration file (default: ./portcullis.yaml if present, else the development setup)' },
  DATA_DIR,
]
/** How a token reaches the broker: the CONNECT fields it is checked with besides itself. */
const PRESENTATION: readonly OptionSpec[] = [
  { name: 'client-id', value: 'ID', help: 'client identifier the token is presented with' },
  { name: 'username', value: 'NAME', help: 'CONNECT username the token is presented with' },
]
/** Which tokens a revocation covers, when no TOKEN is given. */
const REVOKED_TOKENS: readonly OptionSpec[] = [
    { name: 'jti', value: 'ID', help: 'revoke the token with this jti' },
    { name: 'sub', value: 'NAME', help: 'revoke every token of this subject' },
    { name: 'issued-before', value: 'TIME', help: 'with --sub: only tokens issued before TIME (ISO time, epoch seconds or now)' },
]
/** Where the running broker's admin API is and the key to call it with. */
const ADMIN_API: readonly OptionSpec[] = [
  { name: 'url', value: 'ADMIN-URL', help: 'admin API base URL (e.g. http://127.0.0.1:18083)' },
  { name: 'api-key', value: 'KEY', help: 'admin API key' },
]

export const START: CommandSpec = {
  path: 'start',
  summary: 'Run the broker in the foreground.',
  details: [
    'SIGINT, SIGTERM and SIGHUP shut it down gracefully; the last log line is "stopped".',
    'A bad configuration exits 2 before anything listens, naming the key path.',
  ],
  options: [
    { name: 'reset-config', help: 'drop the configuration stored by the admin API, so the file wins' },
    ...CONFIGURATION,
  ],
}

export const TOKEN_MINT: CommandSpec = {
  path: 'token mint',
  summary: 'Sign a token and print it (default key: data/dev-signing-key.json).',
  details: [
    'The key is --key FILE (a private JWK, a keygen output file, or a PEM), --secret S (HMAC secret',
    'as text) or --secret-base64 S (HMAC secret in base64 or base64url, as keygen prints it).',
  ],
  options: [
    { name: 'sub', value: 'NAME', help: 'subject claim' },
    { name: 'exp', value: 'DURATION', help: 'lifetime: 90, 30s, 10m, 1h, 7d, or none (default 1h; negative: already expired)' },
    { name: 'claim', value: 'NAME=VALUE', repeat: true, help: 'a further claim; VALUE is JSON when it parses' },
    { name: 'acl', value: 'FILE', help: 'YAML or JSON file placed in the acl claim' },
    { name: 'iss', value: 'ISS', help: 'issuer claim' },
    { name: 'aud', value: 'AUD', help: 'audience claim' },
    { name: 'key', value: 'FILE', help: 'signing key file' },
    { name: 'secret', value: 'S', help: 'HMAC secret (text)' },
    { name: 'secret-base64', value: 'S', help: 'HMAC secret (base64 or base64url)' },
    { name: 'alg', value: 'ALG', help: `algorithm (${ALGORITHM_LIST}); default: the key's, HS256 for a secret` },
    { name: 'kid', value: 'KID', help: "key id header (default: the key file's kid)" },
    DATA_DIR,
  ],
}

export const TOKEN_INSPECT: CommandSpec = {
  path: 'token inspect',
  operands: 'TOKEN',
  summary: 'Verify a token against the configuration the broker runs, check by check, and say what it may do.',
  details: [
    'When accepted: the rules that apply to the client it admits, whether it may connect, and',
    'the answer to each --publish / --subscribe check with the rule that decides it.',
    'Exit 0 when it would be accepted and every check allowed, 1 otherwise. The token is never printed back.',
  ],
  options: [
    ...PRESENTATION,
    { name: 'ip', value: 'ADDR', help: 'address the client connects from, for policies with an ip condition (default 127.0.0.1)' },
    { name: 'publish', value: 'TOPIC', repeat: true, help: 'check a PUBLISH to TOPIC' },
    { name: 'subscribe', value: 'FILTER', repeat: true, help: 'check a SUBSCRIBE to FILTER ($share/GROUP/FILTER: checked on FILTER)' },
    { name: 'qos', value: 'N', help: 'QoS of the checks (0, 1 or 2; default 0)' },
    { name: 'retain', help: 'check the PUBLISHes as retained messages' },
    ...CONFIGURATION,
  ],
}

export const TOKEN_REVOKE: CommandSpec = {
  path: 'token revoke',
  operands: '[TOKEN]',
  summary: "Revoke a token through the running broker's admin API.",
  details: [
    'Give TOKEN (its jti and exp are read from it), --jti ID, or --sub NAME [--issued-before TIME|now].',
    "The URL and API key default to the configuration's admin listener and key (or PORTCULLIS_API_KEY).",
  ],
  options: [
    ...REVOKED_TOKENS,
    { name: 'reason', value: 'TEXT', help: 'reason kept with the revocation' },
    ...ADMIN_API,
    ...CONFIGURATION,
  ],
}

export const KEYGEN: CommandSpec = {
  path: 'keygen',
  summary: 'Generate a key pair (JWK and PEM) or, for HS*, an HMAC secret.',
  details: [
    'Prints JSON: for a key pair the private JWK, the public key set to publish and both PEMs;',
    'for HS* the secret only (base64url: configure it with secretBase64: true).',
    'With --out DIR the files are written there instead (private files mode 0600) and only',
    'their names and the kid are printed; existing files are never overwritten.',
  ],
  options: [
    { name: 'alg', value: 'ALG', help: `algorithm (${ALGORITHM_LIST}; default ES256)` },
    { name: 'out', value: 'DIR', help: 'write the files into DIR (created if missing)' },
  ],
}

export const VERSION_COMMAND: CommandSpec = { path: 'version', summary: 'Print the version.', options: [] }

export const TOKEN_COMMANDS = [TOKEN_MINT, TOKEN_INSPECT, TOKEN_REVOKE] as const
export const ALL_COMMANDS = [START, ...TOKEN_COMMANDS, KEYGEN, VERSION_COMMAND] as const
