/**
 * The web console: static assets served by the admin listener. `GET /` answers the page,
 * `GET /console/<file>` its scripts, styles and icon. The assets are hand-written ES modules
 * and CSS with no build step, read once into memory when the console is registered.
 *
 * Where the assets live: `src/console/public/`. From the TypeScript sources (tsx) that is
 * `./public` beside this file; from the compiled `dist/console/register.js` it is
 * `../../src/console/public` (the package ships `src/console/public` for that reason).
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
}

/** The page may load only its own files and talk only to its own origin. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

interface Asset {
  readonly body: Buffer
  readonly type: string
  readonly etag: string
}

/** Candidate asset folders, nearest first: beside this module, then the source tree. */
function assetRoots(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url))
  return [join(here, 'public'), join(here, '..', '..', 'src', 'console', 'public')]
}

export function consoleAssetRoot(): string {
  for (const root of assetRoots()) {
    if (existsSync(join(root, 'index.html'))) return root
  }
  throw new Error(`web console assets not found (looked in ${assetRoots().join(', ')})`)
}

function loadAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name)
      if (statSync(file).isDirectory()) {
        walk(file)
        continue
      }
      const type = CONTENT_TYPES[extname(name).toLowerCase()]
      if (type === undefined) continue
      const body = readFileSync(file)
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
      assets.set(relative(root, file).split(sep).join('/'), { body, type, etag })
    }
  }
  walk(root)
  return assets
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset, extra: Record<string, string> = {}): FastifyReply {
  // Files are not fingerprinted: the browser may keep them but must revalidate (cheap 304s).
  void reply.header('cache-control', 'no-cache').header('etag', asset.etag).header('x-content-type-options', 'nosniff')
  for (const [k, v] of Object.entries(extra)) void reply.header(k, v)
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
  return reply.type(asset.type).send(asset.body)
}

/**
 * Serves the console on `app`: GET / (the page) and GET /console/* (its assets). Only the
 * files found at registration are served, so no request can name a path outside them.
 */
export function registerConsole(app: FastifyInstance): void {
  const assets = loadAssets(consoleAssetRoot())
  const index = assets.get('index.html')
  if (index === undefined) throw new Error('web console index.html missing')
  const pageHeaders = {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  }
  app.get('/', (request, reply) => send(request, reply, index, pageHeaders))
  app.get('/console', (_request, reply) => reply.redirect('/'))
  app.get('/console/*', (request, reply) => {
    const file = (request.params as { '*': string })['*']
    const asset = file === 'index.html' ? undefined : assets.get(file)
    if (asset === undefined) {
      return reply.code(404).send({ error: 'not_found', message: `no console asset ${JSON.stringify(file)}`, path: request.url })
    }
    return send(request, reply, asset)
  })
}
