/**
 * Assemble a running Portcullis from a validated configuration: the admin listener,
 * authenticators, authorizers, stores, the broker and its listeners; `close()` undoes it
 * in reverse order. A failure half-way closes whatever was already started.
 */
import type { JsonWebKey } from 'node:crypto'
import { createRequire } from 'node:module'
import { startAdminServer, type AdminServer } from './admin/server.js'
import { AuthenticatorChain } from './auth/chain.js'
import { createAuthenticators, type AuthenticatorTimingOverrides, type TokenAuthenticator } from './auth/create.js'
import { authorizationWarning } from './authz/config.js'
import { createAuthorizerChain } from './authz/create.js'
import { Broker } from './broker/broker.js'
import { startListener, type RunningListener } from './broker/listeners.js'
import { LocalBus } from './cluster/bus.js'
import type { PortcullisConfig } from './config/schema.js'
import { createLogger, type Logger } from './log.js'
import { MemoryRetainedStore } from './store/memory/retained-store.js'
import { MemorySessionStore } from './store/memory/session-store.js'

export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version

export interface ServerOptions {
  readonly logger?: Logger
  /** A public key set the admin listener publishes at /.well-known/jwks.json (development setup). */
  readonly jwks?: { readonly keys: readonly JsonWebKey[] }
  /** Tests only: shorten JWKS refresh, back-off, cooldown and grace. */
  readonly authenticatorTiming?: AuthenticatorTimingOverrides
}

export interface PortcullisServer {
  readonly broker: Broker
  readonly authenticators: readonly TokenAuthenticator[]
  readonly listeners: readonly RunningListener[]
  readonly admin: AdminServer | undefined
  readonly logger: Logger
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export async function createServer(config: PortcullisConfig, options: ServerOptions = {}): Promise<PortcullisServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel })
  const undo: Array<() => Promise<void>> = []
  const unwind = async (): Promise<void> => {
    while (undo.length > 0) await (undo.pop() as () => Promise<void>)()
  }
  try {
    // The admin listener comes first: it may serve the key set the authenticators fetch.
    let admin: AdminServer | undefined
    if (config.admin !== undefined) {
      const a = await startAdminServer({ config: config.admin, logger, ...(options.jwks !== undefined ? { jwks: options.jwks } : {}) })
      undo.push(() => a.close())
      admin = a
    }
    const tokenAuthenticators = createAuthenticators(config.authentication.authenticators, {
      logger,
      ...(options.authenticatorTiming !== undefined ? { timing: options.authenticatorTiming } : {}),
    })
    const authenticators = new AuthenticatorChain(tokenAuthenticators, { allowAnonymous: config.authentication.allowAnonymous })
    undo.push(() => authenticators.close())
    await authenticators.start()

    const authorizers = createAuthorizerChain(config.authorization, {
      onAclProblem: (subject, reason) => logger.warn({ clientId: subject.clientId }, `ACL claim unusable: ${reason}`),
    })
    const warning = authorizationWarning(config.authorization, { tokens: tokenAuthenticators.length > 0 })
    if (warning !== undefined) logger.warn(warning)

    const broker = new Broker({
      limits: config.limits,
      authenticators,
      authorizers,
      retained: new MemoryRetainedStore(),
      sessions: new MemorySessionStore(),
      bus: new LocalBus(),
      logger,
      version: VERSION,
    })
    undo.push(() => broker.close())
    const listeners: RunningListener[] = []
    for (const l of config.listeners) {
      const running = await startListener(broker, l)
      listeners.push(running)
      undo.push(() => running.close())
    }

    let closed: Promise<void> | undefined
    const close = (): Promise<void> => {
      closed ??= (async () => {
        // Stop accepting first, then disconnect clients (the broker), then the rest.
        const stopping = listeners.map((l) => l.close())
        await broker.close()
        await Promise.all(stopping)
        await admin?.close()
      })()
      return closed
    }
    return { broker, authenticators: tokenAuthenticators, listeners, admin, logger, close, [Symbol.asyncDispose]: close }
  } catch (err) {
    await unwind()
    throw err
  }
}
