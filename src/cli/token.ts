/** `portcullis token mint|inspect`. */
import { existsSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { createPrivateKey, createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { createAuthenticators } from '../auth/create.js'
import { parseAuthenticatorsConfig, type AuthenticatorConfig } from '../auth/config.js'
import { parseAuthorizationConfig, type AuthorizationConfig } from '../authz/config.js'
import { checkTopicProblem, type AskedCheck } from '../authz/permission-check.js'
import { formatTokenPermissions, permissionsAllow, tokenPermissions } from '../authz/token-permissions.js'
import type { QoS } from '../authz/types.js'
import type { PortcullisConfig } from '../config/schema.js'
import { CONFIG_DB_FILE, SqliteConfigStore } from '../store/sqlite/config-store.js'
import { ALGORITHM_SPECS, JWS_ALGORITHMS, algorithmsForKey, hmacAlgorithmsFor, isJwsAlgorithm, type JwsAlgorithm } from '../auth/jwt/algorithms.js'
import { BASE64_SECRET, hmacSecretBytes } from '../auth/jwt/config.js'
import { formatInspection, inspectToken, mintToken, parseDuration } from '../auth/jwt/tools.js'
import { DeviceRegistry } from '../auth/devices/registry.js'
import { RevocationList } from '../auth/revocation.js'
import { DEV_KEY_FILE } from '../dev/dev-setup.js'
import { silentLogger } from '../log.js'
import { UsageError, type Args } from './args.js'
import { resolveConfig } from './resolve-config.js'
import { inspectHints } from './token-inspect-hints.js'

interface SigningKey {
  readonly key: JsonWebKey | string | Buffer
  readonly alg: JwsAlgorithm
  readonly kid: string | undefined
}

/** `--alg` (or the key's own alg); an unknown one is refused with the list of valid ones. */
export function algorithm(value: string | undefined, fallback: string | undefined, valid: readonly JwsAlgorithm[] = JWS_ALGORITHMS): JwsAlgorithm {
  const alg = value ?? fallback
  if (alg === undefined) throw new UsageError(`give --alg (one of ${valid.join(', ')})`)
  if (!isJwsAlgorithm(alg)) throw new UsageError(`unknown algorithm '${alg}' (valid: ${valid.join(', ')})`)
  if (!valid.includes(alg)) throw new UsageError(`algorithm '${alg}' does not fit this key (valid: ${valid.join(', ')})`)
  return alg
}

const HMAC_ALGORITHMS = JWS_ALGORITHMS.filter((a) => ALGORITHM_SPECS[a].family === 'hmac')

/** The HMAC secret of `--secret` (text) or `--secret-base64` (base64 or base64url), as the configuration reads them. */
function hmacSecret(args: Args): Buffer | undefined {
  const text = args.get('secret')
  const encoded = args.get('secret-base64')
  if (text !== undefined && encoded !== undefined) throw new UsageError('give --secret or --secret-base64, not both')
  if (text !== undefined) return hmacSecretBytes(text, false)
  if (encoded === undefined) return undefined
  if (!BASE64_SECRET.test(encoded.trim())) throw new UsageError('--secret-base64 is not valid base64 or base64url')
  return hmacSecretBytes(encoded, true)
}

function signingKey(args: Args): SigningKey {
  const secret = hmacSecret(args)
  if (secret !== undefined) {
    if (args.has('key')) throw new UsageError('give --key or a secret, not both')
    const alg = algorithm(args.get('alg'), 'HS256', HMAC_ALGORITHMS)
    // The broker refuses a shorter secret in its configuration: a token signed with one could never be accepted.
    if (!hmacAlgorithmsFor(secret.length).includes(alg)) {
      throw new UsageError(`the secret is ${secret.length} bytes; ${alg} needs at least ${ALGORITHM_SPECS[alg].bytes} (the broker refuses a shorter one)`)
    }
    return { key: secret, alg, kid: args.get('kid') }
  }
  const file = args.get('key') ?? join(args.get('data-dir') ?? './data', DEV_KEY_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new UsageError(`no signing key at ${file}: run 'portcullis start' once (development setup), or give --key FILE, --secret S or --secret-base64 S`)
  }
  if (text.includes('-----BEGIN')) {
    let key: KeyObject
    try {
      key = createPrivateKey(text)
    } catch (err) {
      throw new UsageError(`${file} holds no usable private key: ${(err as Error).message}`)
    }
    // A PEM does not name its algorithm; when the key fits exactly one (EC, Ed25519), that one.
    const valid = validFor(key, file)
    return { key: text, alg: algorithm(args.get('alg'), valid.length === 1 ? valid[0] : undefined, valid), kid: args.get('kid') }
  }
  let parsed: { privateJwk?: JsonWebKey; secretJwk?: JsonWebKey; kid?: string; alg?: string } & JsonWebKey
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {
    throw new UsageError(`${file} is neither a PEM private key nor JSON (a JWK or a keygen output)`)
  }
  const jwk = parsed.privateJwk ?? parsed.secretJwk ?? parsed
  let key: KeyObject
  try {
    key = jwk.kty === 'oct' ? createSecretKey(Buffer.from(jwk.k ?? '', 'base64url')) : createPrivateKey({ key: jwk, format: 'jwk' })
  } catch (err) {
    throw new UsageError(`${file} holds no usable private JWK: ${(err as Error).message}`)
  }
  const kid = args.get('kid') ?? parsed.kid ?? (jwk as { kid?: string }).kid
  return { key: jwk, alg: algorithm(args.get('alg'), parsed.alg ?? (jwk as { alg?: string }).alg, validFor(key, file)), kid }
}

/** The algorithms a private (or secret) key signs with. */
function validFor(key: KeyObject, file: string): readonly JwsAlgorithm[] {
  if (key.type === 'public') throw new UsageError(`${file} holds a public key; minting needs the private key`)
  const algs = algorithmsForKey(key.type === 'private' ? createPublicKey(key) : key)
  if ('unusable' in algs) throw new UsageError(`${file}: ${algs.unusable}`)
  return algs
}

/** A `--claim k=v` value: JSON when it parses (numbers, booleans, arrays), else the string. */
function claimValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return raw
  }
}

/** The ACL of `--acl FILE` (YAML or JSON); a file that cannot be read or parsed is a usage error naming it. */
function aclClaim(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`--acl: cannot read ${file}: ${(err as Error).message}`)
  }
  try {
    return parseYaml(text) as unknown
  } catch (err) {
    throw new UsageError(`--acl: ${file} is not YAML or JSON: ${(err as Error).message.split('\n')[0]}`)
  }
}

export function tokenMint(args: Args): string {
  const k = signingKey(args)
  const claims: Record<string, unknown> = {}
  for (const c of args.all('claim')) {
    const eq = c.indexOf('=')
    if (eq <= 0) throw new UsageError(`--claim takes NAME=VALUE, got '${c}'`)
    claims[c.slice(0, eq)] = claimValue(c.slice(eq + 1))
  }
  const iss = args.get('iss')
  if (iss !== undefined) claims['iss'] = iss
  const aud = args.get('aud')
  if (aud !== undefined) claims['aud'] = aud
  const aclFile = args.get('acl')
  const acl = aclFile === undefined ? undefined : aclClaim(aclFile)
  const sub = args.get('sub')
  const exp = args.get('exp') ?? '1h'
  if (exp !== 'none') {
    try {
      parseDuration(exp)
    } catch (err) {
      throw new UsageError(`--exp: ${(err as Error).message}, or none`)
    }
  }
  return mintToken({
    privateKey: k.key,
    alg: k.alg,
    ...(k.kid !== undefined ? { kid: k.kid } : {}),
    ...(sub !== undefined ? { sub } : {}),
    ...(exp !== 'none' ? { expiresIn: exp } : {}),
    claims,
    ...(acl !== undefined ? { acl } : {}),
  })
}

/** The checks `--publish`, `--subscribe`, `--qos` and `--retain` ask for, validated as the admin API validates them. */
function askedChecks(args: Args): AskedCheck[] {
  const qosText = args.get('qos') ?? '0'
  if (!['0', '1', '2'].includes(qosText)) throw new UsageError(`--qos must be 0, 1 or 2 (got '${qosText}')`)
  const qos = Number(qosText) as QoS
  const retain = args.has('retain')
  const checks: AskedCheck[] = []
  for (const [action, option] of [['publish', 'publish'], ['subscribe', 'subscribe']] as const) {
    for (const topic of args.all(option)) {
      const problem = checkTopicProblem(action, topic)
      if (problem !== undefined) throw new UsageError(`--${option} '${topic}': ${problem}`)
      checks.push({ action, topic, qos, retain })
    }
  }
  return checks
}

/** `--ip`: the address the client connects from, as policies' ip conditions see it (default 127.0.0.1). */
function clientAddress(args: Args): string {
  const ip = args.get('ip') ?? '127.0.0.1'
  if (isIP(ip) === 0) throw new UsageError(`--ip must be an IPv4 or IPv6 address (got '${ip}')`)
  return ip
}

/**
 * Returns the exit code: 0 when the configured chain would accept the token, the client it
 * admits may connect, and every check asked for is allowed.
 */
export async function tokenInspect(args: Args, print: (s: string) => void): Promise<number> {
  const token = args.positional[0]
  if (token === undefined) {
    throw new UsageError('usage: portcullis token inspect TOKEN [--config FILE] [--client-id ID] [--username NAME] [--ip ADDR] ' +
      '[--publish TOPIC] [--subscribe FILTER] [--qos N] [--retain]')
  }
  const checks = askedChecks(args)
  const ip = clientAddress(args)
  const { config, source } = await resolveConfig(args)
  const effective = effectiveAuthenticators(config, source)
  const authenticators = createAuthenticators(effective.list, { logger: silentLogger(), devices: effective.devices })
  try {
    for (const a of authenticators) await a.start()
    const clientId = args.get('client-id')
    const username = args.get('username')
    const presented = { ...(clientId !== undefined ? { clientId } : {}), ...(username !== undefined ? { username } : {}) }
    const report = await inspectToken(token, authenticators, presented, effective.revocations)
    print(`configuration: ${effective.source}`)
    print(formatInspection(report))
    for (const hint of inspectHints(effective.list, presented)) print(hint)
    const accepting = report.verdict.outcome === 'allow' ? authenticators.find((a) => a.name === report.verdict.authenticator) : undefined
    if (accepting === undefined) return 1
    // What the client it admits may do: the broker's own identity and authorization path.
    const permissions = await tokenPermissions({
      token, authenticator: accepting, presented, ip, authorization: effective.authorization, revocations: effective.revocations, checks,
    })
    print('')
    print(formatTokenPermissions(permissions))
    return 'refused' in permissions || !permissionsAllow(permissions) ? 1 : 0
  } finally {
    for (const a of authenticators) await a.close()
  }
}

/** What the running broker checks tokens against: its authenticators, revocations and devices. */
interface EffectiveAuth {
  readonly list: readonly AuthenticatorConfig[]
  /** The authorization settings and policies, from the same place as the authenticators. */
  readonly authorization: AuthorizationConfig
  readonly source: string
  readonly revocations: RevocationList
  readonly devices: DeviceRegistry
}

/**
 * The authenticators and authorization the running broker uses: with an admin listener, the copy stored by the
 * admin API wins over the file once it exists; the revoked tokens and registered devices are
 * those stored. All read from a snapshot, never written (expired revocations are not dropped here).
 */
function effectiveAuthenticators(config: PortcullisConfig, source: string): EffectiveAuth {
  if (config.admin !== undefined && existsSync(join(config.dataDir, CONFIG_DB_FILE))) {
    const store = new SqliteConfigStore(config.dataDir)
    try {
      const stored = store.load()
      const revoked = store.loadRevocations()
      const devices = store.loadDevices()
      const snapshot = {
        revocations: new RevocationList({ loadRevocations: () => revoked, addRevocation: () => {}, removeRevocations: () => {} }),
        devices: new DeviceRegistry({ loadDevices: () => devices, putDevices: () => {}, removeDevices: () => {} }),
      }
      if (stored !== undefined) {
        return {
          list: parseAuthenticatorsConfig(stored.authenticators, 'authentication.authenticators'),
          authorization: parseAuthorizationConfig(stored.authorization, 'authorization'),
          source: `${source}, authenticators, authorization, revocations and devices as stored by the admin API in ${store.file}`,
          ...snapshot,
        }
      }
      return { list: config.authentication.authenticators, authorization: config.authorization, source, ...snapshot }
    } finally {
      store.close()
    }
  }
  return {
    list: config.authentication.authenticators, authorization: config.authorization, source, revocations: new RevocationList(), devices: new DeviceRegistry(),
  }
}
