/**
 * Admin API test helpers: a Portcullis with its admin listener on 127.0.0.1:0 and a temp
 * data directory, and a small fetch wrapper that speaks to it with (or without) the key.
 */
import { after, before } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger, silentLogger } from '../../src/log.js'
import { createServer, type PortcullisServer } from '../../src/server.js'
import type { Json } from '../helpers/json.js'

export const API_KEY = 'test-admin-key-0123456789abcdef'
/** 40 bytes: long enough for HS256. */
export const SEED_SECRET = 'seed-secret-0123456789-0123456789-abcdef'
export const NEW_SECRET = 'api-made-secret-0123456789-0123456789-xyz'

/** A configuration with one device registry (`fleet`) and no anonymous access. */
export const DEVICES = {
  authentication: {
    allowAnonymous: false,
    authenticators: [{ type: 'devices', name: 'fleet', claims: { audience: 'a', maxAge: 600 } }],
  },
}

/** A fresh EC P-256 public key in SPKI PEM (a device key). */
export function ecPem(): string {
  return String(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }))
}

export interface ApiAnswer {
  readonly status: number
  readonly body: Json
  readonly headers: Headers
  readonly text: string
}

export interface RunningAdmin {
  readonly server: PortcullisServer
  readonly dataDir: string
  readonly adminUrl: string
  readonly mqttPort: number
  /** `extra`: more request headers (If-Match, say). */
  api(method: string, path: string, body?: unknown, key?: string | null, extra?: Readonly<Record<string, string>>): Promise<ApiAnswer>
  close(): Promise<void>
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'portcullis-admin-'))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

export function baseConfig(dataDir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dataDir,
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY },
    authentication: {
      allowAnonymous: false,
      authenticators: [
        { type: 'jwt', name: 'seed-hmac', from: 'password', algorithm: 'hmac-based', secret: SEED_SECRET, description: 'from the file' },
      ],
    },
    authorization: {
      noMatch: 'allow',
      policies: [
        { name: 'file-policy', priority: 100, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['file/#'] },
      ],
    },
    ...overrides,
  }
}

export async function startAdmin(
  options: {
    dataDir?: string; overrides?: Record<string, unknown>; jwks?: { keys: JsonWebKey[] }
  } = {},
): Promise<RunningAdmin> {
  // A directory made here is this broker's own: close() removes it (a test that wants the data
  // after close passes its own dataDir).
  const ownDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? tempDataDir()
  const server = await createServer(validateConfig(baseConfig(dataDir, options.overrides)), {
    logger: process.env.DEBUG_LOG ? createLogger({ level: "debug" }) : silentLogger(),
    ...(options.jwks !== undefined ? { jwks: options.jwks } : {}),
  })
  const adminUrl = server.admin!.url
  const api = async (
    method: string, path: string, body?: unknown, key: string | null = API_KEY, extra: Readonly<Record<string, string>> = {},
  ): Promise<ApiAnswer> => {
    const headers: Record<string, string> = { ...extra }
    if (key !== null) headers['authorization'] = `Bearer ${key}`
    let payload: string | undefined
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
      payload = typeof body === 'string' ? body : JSON.stringify(body)
    }
    const res = await fetch(`${adminUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) })
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return { status: res.status, body: parsed, headers: res.headers, text }
  }
  return {
    server,
    dataDir,
    adminUrl,
    mqttPort: server.listeners[0].port,
    api,
    close: async () => {
      await server.close()
      if (ownDir) removeDir(dataDir)
    },
  }
}

/**
 * A Portcullis with the admin API for the enclosing `describe`: started before its tests,
 * closed (and its data directory removed) after them.
 */
export function useAdmin(options: Parameters<typeof startAdmin>[0] = {}): RunningAdmin {
  const h = {} as RunningAdmin
  before(async () => {
    Object.assign(h, await startAdmin(options))
  })
  after(async () => {
    await h.close()
    removeDir(h.dataDir)
  })
  return h
}

/** An HS256 token for `secret`, valid for an hour. */
export function hsToken(secret: string, claims: Record<string, unknown> = {}, sub = 'alice'): string {
  return mintToken({ privateKey: secret, alg: 'HS256', sub, expiresIn: 3600, claims })
}
