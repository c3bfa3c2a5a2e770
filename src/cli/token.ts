/** `portcullis token mint|inspect` and `portcullis keygen`. */
import { existsSync, readFileSync } from 'node:fs'
import type { JsonWebKey } from 'node:crypto'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { createAuthenticators } from '../auth/create.js'
import { parseAuthenticatorsConfig, type AuthenticatorConfig } from '../auth/config.js'
import type { PortcullisConfig } from '../config/schema.js'
import { CONFIG_DB_FILE, SqliteConfigStore } from '../store/sqlite/config-store.js'
import { isJwsAlgorithm, type JwsAlgorithm } from '../auth/jwt/algorithms.js'
import { formatInspection, generateKeyPair, inspectToken, mintToken } from '../auth/jwt/tools.js'
import { DEV_KEY_FILE } from '../dev/dev-setup.js'
import { silentLogger } from '../log.js'
import { UsageError, type Args } from './args.js'
import { resolveConfig } from './resolve-config.js'

interface SigningKey {
  readonly key: JsonWebKey | string
  readonly alg: JwsAlgorithm
  readonly kid: string | undefined
}

function algorithm(value: string | undefined, fallback: string | undefined): JwsAlgorithm {
  const alg = value ?? fallback
  if (alg === undefined) throw new UsageError('give --alg (e.g. ES256, RS256, HS256)')
  if (!isJwsAlgorithm(alg)) throw new UsageError(`unknown algorithm '${alg}'`)
  return alg
}

function signingKey(args: Args): SigningKey {
  const secret = args.get('secret')
  if (secret !== undefined) return { key: secret, alg: algorithm(args.get('alg'), 'HS256'), kid: args.get('kid') }
  const file = args.get('key') ?? join(args.get('data-dir') ?? './data', DEV_KEY_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new UsageError(`no signing key at ${file}: run 'portcullis start' once (development setup), or give --key FILE or --secret`)
  }
  if (text.includes('-----BEGIN')) return { key: text, alg: algorithm(args.get('alg'), undefined), kid: args.get('kid') }
  const parsed = JSON.parse(text) as { privateJwk?: JsonWebKey; kid?: string; alg?: string } & JsonWebKey
  const jwk = parsed.privateJwk ?? parsed
  const kid = args.get('kid') ?? parsed.kid ?? (jwk as { kid?: string }).kid
  return { key: jwk, alg: algorithm(args.get('alg'), parsed.alg ?? (jwk as { alg?: string }).alg), kid }
}

/** A `--claim k=v` value: JSON when it parses (numbers, booleans, arrays), else the string. */
function claimValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return raw
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
  const acl = aclFile === undefined ? undefined : (parseYaml(readFileSync(aclFile, 'utf8')) as unknown)
  const sub = args.get('sub')
  const exp = args.get('exp') ?? '1h'
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

/** Returns the exit code: 0 when the configured chain would accept the token. */
export async function tokenInspect(args: Args, print: (s: string) => void): Promise<number> {
  const token = args.positional[0]
  if (token === undefined) throw new UsageError('usage: portcullis token inspect TOKEN [--config FILE] [--client-id ID] [--username NAME]')
  const { config, source } = await resolveConfig(args.get('config'), args.get('data-dir'))
  const effective = effectiveAuthenticators(config, source)
  const authenticators = createAuthenticators(effective.list, { logger: silentLogger() })
  try {
    for (const a of authenticators) await a.start()
    const clientId = args.get('client-id')
    const username = args.get('username')
    const report = await inspectToken(token, authenticators, {
      ...(clientId !== undefined ? { clientId } : {}),
      ...(username !== undefined ? { username } : {}),
    })
    print(`configuration: ${effective.source}`)
    print(formatInspection(report))
    return report.verdict.outcome === 'allow' ? 0 : 1
  } finally {
    for (const a of authenticators) await a.close()
  }
}

/**
 * The authenticators the running broker uses: with an admin listener, the copy stored by the
 * admin API wins over the file once it exists (read here, never written).
 */
function effectiveAuthenticators(config: PortcullisConfig, source: string): { list: readonly AuthenticatorConfig[]; source: string } {
  if (config.admin !== undefined && existsSync(join(config.dataDir, CONFIG_DB_FILE))) {
    const store = new SqliteConfigStore(config.dataDir)
    try {
      const stored = store.load()
      if (stored !== undefined) {
        return {
          list: parseAuthenticatorsConfig(stored.authenticators, 'authentication.authenticators'),
          source: `${source}, authenticators as stored by the admin API in ${store.file}`,
        }
      }
    } finally {
      store.close()
    }
  }
  return { list: config.authentication.authenticators, source }
}

export function keygen(args: Args): string {
  const pair = generateKeyPair(algorithm(args.get('alg'), 'ES256'))
  const out: Record<string, unknown> = { alg: pair.alg, kid: pair.kid, privateJwk: pair.privateJwk, publicJwks: { keys: [pair.publicJwk] } }
  if (pair.publicPem !== undefined) out['publicPem'] = pair.publicPem
  if (pair.privatePem !== undefined) out['privatePem'] = pair.privatePem
  if (pair.secret !== undefined) out['secretBase64url'] = pair.secret
  return JSON.stringify(out, null, 2)
}
