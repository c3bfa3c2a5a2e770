/**
 * `portcullis keygen`: a key pair (private JWK, public key set, PEMs) or, for HS*, an HMAC
 * secret — which has no public half, so nothing is labelled "public" for it. With `--out DIR`
 * the parts are written to files (secret parts mode 0600, never overwriting) and only their
 * names and the kid are printed.
 */
import { constants, existsSync, openSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, type GeneratedKeyPair } from '../auth/jwt/tools.js'
import { UsageError, type Args } from './args.js'
import { algorithm } from './token.js'
import { makeDir } from '../make-dir.js'

interface KeyFile {
  readonly name: string
  readonly text: string
  /** Holds a private key or a secret: mode 0600. */
  readonly secret: boolean
}

/** The parts of a generated key, as files. */
function keyFiles(pair: GeneratedKeyPair): KeyFile[] {
  const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`
  if (pair.secret !== undefined) {
    return [
      { name: 'secret.jwk.json', text: json(pair.privateJwk), secret: true },
      { name: 'secret.base64url', text: `${pair.secret}\n`, secret: true },
    ]
  }
  return [
    { name: 'private.jwk.json', text: json(pair.privateJwk), secret: true },
    { name: 'private.pem', text: pair.privatePem ?? '', secret: true },
    { name: 'public.jwks.json', text: json({ keys: [pair.publicJwk] }), secret: false },
    { name: 'public.pem', text: pair.publicPem ?? '', secret: false },
  ]
}

/** Writes each file with O_EXCL (an existing file is never replaced) and its mode set at creation. */
function writeKeyFiles(dir: string, files: readonly KeyFile[]): void {
  makeDir(dir, 0o700)
  // Refuse before writing anything, so a new key never mixes with parts of an older one.
  const present = files.map((f) => join(dir, f.name)).filter((p) => existsSync(p))
  if (present.length > 0) throw new UsageError(`${present.join(', ')} exist: keygen never overwrites a key; choose another --out`, 'keygen')
  for (const f of files) {
    const path = join(dir, f.name)
    let fd: number
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, f.secret ? 0o600 : 0o644)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new UsageError(code === 'EEXIST' ? `${path} exists: keygen never overwrites a key; choose another --out` : `cannot write ${path}: ${(err as Error).message}`, 'keygen')
    }
    try {
      writeSync(fd, f.text)
    } finally {
      closeSync(fd)
    }
  }
}

export function keygen(args: Args): string {
  const pair = generateKeyPair(algorithm(args.get('alg'), 'ES256'))
  const dir = args.get('out')
  if (dir !== undefined) {
    const files = keyFiles(pair)
    writeKeyFiles(dir, files)
    return JSON.stringify({ alg: pair.alg, kid: pair.kid, files: Object.fromEntries(files.map((f) => [f.name, f.secret ? 'secret (0600)' : 'public'])) }, null, 2)
  }
  if (pair.secret !== undefined) {
    return JSON.stringify({ alg: pair.alg, kid: pair.kid, secretBase64url: pair.secret, secretJwk: pair.privateJwk }, null, 2)
  }
  const { alg, kid, privateJwk, publicJwk, publicPem, privatePem } = pair
  return JSON.stringify({ alg, kid, privateJwk, publicJwks: { keys: [publicJwk] }, publicPem, privatePem }, null, 2)
}
