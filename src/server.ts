/**
 * Assemble a running Portcullis from a validated configuration: authenticators,
 * authorizers, stores, the broker and its listeners; `close()` undoes it in order.
 */
import { createRequire } from 'node:module'
import { AuthenticatorChain } from './auth/chain.js'
import { authorizationWarning } from './authz/config.js'
import { createAuthorizerChain } from './authz/create.js'
import { Broker } from './broker/broker.js'
import { startListener, type RunningListener } from './broker/listeners.js'
import { LocalBus } from './cluster/bus.js'
import type { PortcullisConfig } from './config/schema.js'
import { ConfigError } from './errors.js'
import { createLogger, type Logger } from './log.js'
import { MemoryRetainedStore } from './store/memory/retained-store.js'
import { MemorySessionStore } from './store/memory/session-store.js'

export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version

export interface ServerOptions {
  readonly logger?: Logger
}

export interface PortcullisServer {
  readonly broker: Broker
  readonly listeners: readonly RunningListener[]
  readonly logger: Logger
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export async function createServer(config: PortcullisConfig, options: ServerOptions = {}): Promise<PortcullisServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel })
  if (config.authentication.authenticators.length > 0) {
    throw new ConfigError('authentication.authenticators', 'authenticators are not available yet')
  }
  const authenticators = new AuthenticatorChain([], { allowAnonymous: config.authentication.allowAnonymous })
  const authorizers = createAuthorizerChain(config.authorization, {
    onAclProblem: (subject, reason) => logger.warn({ clientId: subject.clientId }, `ACL claim unusable: ${reason}`),
  })
  const warning = authorizationWarning(config.authorization, { tokens: config.authentication.authenticators.length > 0 })
  if (warning !== undefined) logger.warn(warning)
  await authenticators.start()

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
  const listeners: RunningListener[] = []
  try {
    for (const l of config.listeners) listeners.push(await startListener(broker, l))
  } catch (err) {
    for (const l of listeners) await l.close()
    await broker.close()
    throw err
  }

  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= (async () => {
      const stopping = listeners.map((l) => l.close())
      await broker.close()
      await Promise.all(stopping)
    })()
    return closed
  }
  return { broker, listeners, logger, close, [Symbol.asyncDispose]: close }
}
