/**
 * A broker with authentication on (no anonymous access) for the auth/authz black-box
 * tests, with JWKS timings shortened so refresh, cooldown and grace run in seconds.
 */
import type { AuthenticatorTimingOverrides } from '../../src/auth/create.js'
import { validateConfig } from '../../src/config/schema.js'
import { silentLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import type { RunningBroker } from './broker.js'

export async function startAuthBroker(
  authentication: Record<string, unknown>,
  authorization: Record<string, unknown> = { noMatch: 'allow' },
  timing?: AuthenticatorTimingOverrides,
): Promise<RunningBroker> {
  const config = validateConfig({
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    authentication: { allowAnonymous: false, ...authentication },
    authorization,
  })
  const server = await createServer(config, { logger: silentLogger(), ...(timing !== undefined ? { authenticatorTiming: timing } : {}) })
  const port = (server.listeners[0] as { port: number }).port
  return { port, url: `mqtt://127.0.0.1:${port}`, server, close: () => server.close() }
}
