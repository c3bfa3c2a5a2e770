/**
 * A broker with authentication on (no anonymous access) for the auth/authz black-box
 * tests, with JWKS timings shortened so refresh, cooldown and grace run in seconds.
 */
import type { AuthenticatorTimingOverrides } from '../../src/auth/create.js'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { persistenceDefaults, rawSocket, uid, type RunningBroker, type Version } from './broker.js'

export async function startAuthBroker(
  authentication: Record<string, unknown>,
  authorization: Record<string, unknown> = { noMatch: 'allow' },
  timing?: AuthenticatorTimingOverrides,
): Promise<RunningBroker> {
  const persistence = persistenceDefaults({})
  const config = validateConfig({
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    ...persistence.raw,
    authentication: { allowAnonymous: false, ...authentication },
    authorization,
  })
  const server = await createServer(config, { logger: silentLogger(), ...(timing !== undefined ? { authenticatorTiming: timing } : {}) })
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

/** The CONNACK code (MQTT 5 reason code, 3.1.1 return code) a CONNECT with `token` in the password gets. */
export async function connackCode(port: number, version: Version, token: string): Promise<number> {
  const raw = await rawSocket(port, version)
  try {
    const c = await raw.connect({ clientId: uid(), username: 'device', password: Buffer.from(token) })
    return (version === 5 ? c.reasonCode : c.returnCode) as number
  } finally {
    raw.destroy()
  }
}
