/**
 * `portcullis token revoke`: asks the running broker's admin API to revoke a token (so its
 * live connections are dropped at once and the entry is stored there). The token's own
 * `jti` and `exp` are read from it without verifying it; the token is never printed.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { API_KEY_FILE } from '../admin/api-key.js'
import { isMapping } from '../config/check.js'
import { UsageError, type Args } from './args.js'
import { resolveConfig } from './resolve-config.js'

export const REVOKE_USAGE = 'usage: portcullis token revoke (TOKEN | --jti ID | --sub NAME [--issued-before TIME|now]) [--reason TEXT] [--config FILE] [--url ADMIN-URL] [--api-key KEY]'

/** The claims of a compact JWS, unverified (only to name what to revoke). */
function unverifiedClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1]
  try {
    const v: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'))
    if (isMapping(v)) return v
  } catch {
    // refused below
  }
  throw new UsageError('TOKEN is not a decodable JWT')
}

/** The request body the arguments ask for. */
export function revocationBody(args: Args): Record<string, unknown> {
  const token = args.positional[0]
  const reason = args.get('reason')
  const extra = reason !== undefined ? { reason } : {}
  if (token !== undefined) {
    if (args.has('jti') || args.has('sub')) throw new UsageError('give a TOKEN or --jti / --sub, not both')
    const claims = unverifiedClaims(token)
    if (typeof claims['jti'] !== 'string') throw new UsageError('the token has no jti claim: revoke it by --sub NAME [--issued-before TIME]')
    return { jti: claims['jti'], ...(typeof claims['exp'] === 'number' ? { exp: claims['exp'] } : {}), ...extra }
  }
  const jti = args.get('jti')
  if (jti !== undefined) return { jti, ...extra }
  const sub = args.get('sub')
  if (sub === undefined) throw new UsageError(REVOKE_USAGE)
  const before = args.get('issued-before')
  return { sub, ...(before !== undefined ? { issuedBefore: /^\d+$/.test(before) ? Number(before) : before } : {}), ...extra }
}

/** Returns the exit code (0: revoked). */
export async function tokenRevoke(args: Args, print: (s: string) => void): Promise<number> {
  const body = revocationBody(args)
  let url = args.get('url')
  let key = args.get('api-key') ?? process.env['PORTCULLIS_API_KEY']
  if (url === undefined || key === undefined) {
    const { config } = await resolveConfig(args)
    if (config.admin === undefined) throw new UsageError('the configuration has no admin listener: give --url and --api-key')
    const host = config.admin.host === '0.0.0.0' ? '127.0.0.1' : config.admin.host === '::' ? '[::1]' : config.admin.host
    url ??= `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.admin.port}`
    if (key === undefined) {
      const file = join(config.dataDir, API_KEY_FILE)
      key = config.admin.apiKey ?? (existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined)
      if (key === undefined) throw new UsageError(`no admin API key: give --api-key (or PORTCULLIS_API_KEY), or set admin.apiKey`)
    }
  }
  let res: Response
  try {
    res = await fetch(new URL('/api/v1/revocations', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    })
  } catch (err) {
    print(`cannot reach the admin API at ${url}: ${(err as Error).message}`)
    return 1
  }
  const answer = (await res.json().catch(() => ({}))) as { message?: unknown; disconnected?: unknown; revocation?: Record<string, unknown> }
  if (res.status !== 201 || answer.revocation === undefined) {
    print(`refused (HTTP ${res.status}): ${typeof answer.message === 'string' ? answer.message : res.statusText}`)
    return 1
  }
  const r = answer.revocation
  print(`revoked (${describeRevocation(r)}), id ${String(r['id'])}, expires ${r['expires'] === null ? 'never (until deleted)' : typeof r['expires'] === 'string' ? r['expires'] : JSON.stringify(r['expires'])}`)
  print(`connected clients disconnected: ${String(answer.disconnected)}`)
  return 0
}

/** What an entry covers, as the API describes it: jti "…", sub "…", or sub "…" issued before <time>. */
function describeRevocation(r: Record<string, unknown>): string {
  if (r['kind'] !== 'issuedBefore') return `${String(r['kind'])} ${JSON.stringify(r['value'])}`
  const before = r['issuedBefore']
  return `sub ${JSON.stringify(r['value'])} issued before ${typeof before === 'number' ? new Date(before * 1000).toISOString() : String(before)}`
}
