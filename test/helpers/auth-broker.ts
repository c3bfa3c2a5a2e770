/**
 * A broker with authentication on (no anonymous access) for the auth/authz black-box
 * tests. Authenticators run with their configured timings; tests that need time to pass
 * fake it (helpers/fake-time.ts).
 */
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import type { AuthService } from './auth-service.js'
import { persistenceDefaults, rawSocket, uid, useStarted, type RunningBroker, type Version } from './broker.js'

/** CONNACK codes (3.1.1 return code, 5.0 reason code) of a refused and of an unanswerable CONNECT. */
export const REFUSED: Readonly<Record<Version, number>> = { 4: 4, 5: 0x86 }
export const UNAVAILABLE: Readonly<Record<Version, number>> = { 4: 3, 5: 0x88 }

export async function startAuthBroker(
  authentication: Record<string, unknown>,
  authorization: Record<string, unknown> = { noMatch: 'allow' },
): Promise<RunningBroker> {
  const persistence = persistenceDefaults({})
  const config = validateConfig({
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    ...persistence.raw,
    authentication: { allowAnonymous: false, ...authentication },
    authorization,
  })
  const server = await createServer(config, { logger: silentLogger() })
  const port = (server.listeners[0] as { port: number }).port
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    server,
    close: async () => {
      await server.close()
      persistence.cleanup()
    },
  }
}

/**
 * A broker that asks `service` (an HTTP or introspection authenticator), for the suite it is
 * called in: the service and the broker start in `before` and stop in `after`. `authentication`
 * is asked for once the service listens; the broker's fields are read when a test runs. The
 * authenticators' timeoutMs is 1500 unless `authentication` sets one: short enough for a
 * 'too slow' case, long enough for a loaded machine.
 */
export function useServiceBroker(
  service: AuthService,
  authentication: (serviceUrl: string) => Record<string, unknown>,
  authorization: Record<string, unknown>,
): RunningBroker {
  return useStarted(async () => {
    await service.start()
    const broker = await startAuthBroker(withTimeout(authentication(service.url)), authorization)
    return {
      ...broker,
      close: async () => {
        await broker.close()
        await service.stop()
      },
    }
  })
}

/** `timeoutMs: 1500` on each http / introspection authenticator that does not set its own. */
function withTimeout(authentication: Record<string, unknown>): Record<string, unknown> {
  const list = authentication['authenticators']
  if (!Array.isArray(list)) return authentication
  const timed = list.map((a: Record<string, unknown>) => (a['type'] === 'http' || a['type'] === 'introspection' ? { timeoutMs: 1500, ...a } : a))
  return { ...authentication, authenticators: timed }
}

export interface ConnackOptions {
  readonly clientId?: string
  readonly username?: string
  /** How long to wait for the CONNACK (ms); generous, as an authenticator may wait for a slow service first. */
  readonly timeout?: number
}

/** The CONNACK code (MQTT 5 reason code, 3.1.1 return code) a CONNECT with `token` in the password gets. */
export async function connackCode(port: number, version: Version, token: string, opts: ConnackOptions = {}): Promise<number> {
  const raw = await rawSocket(port, version)
  try {
    const c = await raw.connect({ clientId: opts.clientId ?? uid(), username: opts.username ?? 'device', password: Buffer.from(token) }, opts.timeout ?? 10_000)
    return (version === 5 ? c.reasonCode : c.returnCode) as number
  } finally {
    raw.destroy()
  }
}
