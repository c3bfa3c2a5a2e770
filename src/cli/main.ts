/** The command line: `portcullis start`, `token mint|inspect`, `keygen`. */
import { ConfigError } from '../errors.js'
import { loadOrCreateApiKey } from '../admin/api-key.js'
import { devBanner } from '../dev/dev-setup.js'
import { resetStoredConfig } from '../store/sqlite/config-store.js'
import { createServer, VERSION, type PortcullisServer } from '../server.js'
import { Args, UsageError } from './args.js'
import { resolveConfig, type ResolvedConfig } from './resolve-config.js'
import { keygen, tokenInspect, tokenMint } from './token.js'
import { tokenRevoke } from './token-revoke.js'

const USAGE = `portcullis ${VERSION} — an MQTT broker with JWT authentication and authorization

usage:
  portcullis start [--config FILE] [--reset-config]
                                         run the broker (default: ./portcullis.yaml if present,
                                         else the development setup); --reset-config drops the
                                         configuration stored by the admin API so the file wins
  portcullis token mint [--sub NAME] [--exp 1h|none] [--claim k=v]... [--acl FILE]
                        [--iss ISS] [--aud AUD] [--key FILE | --secret S] [--alg ALG] [--kid KID]
                                         sign a token (default key: data/dev-signing-key.json)
  portcullis token inspect TOKEN [--config FILE] [--client-id ID] [--username NAME]
                                         verify a token against the configuration, check by check
  portcullis token revoke (TOKEN | --jti ID | --sub NAME [--issued-before TIME|now]) [--reason TEXT]
          [--config FILE] [--url ADMIN-URL] [--api-key KEY]
                                         revoke through the running broker's admin API
  portcullis keygen [--alg ES256]        generate a key pair (JWK and PEM) or an HMAC secret
  portcullis --version
`

async function start(args: Args): Promise<number> {
  let resolved: ResolvedConfig
  try {
    resolved = await resolveConfig(args.get('config'), args.get('data-dir'))
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`portcullis: invalid configuration: ${err.message}`)
      return 2
    }
    throw err
  }
  if (args.has('reset-config')) {
    const dropped = resetStoredConfig(resolved.config.dataDir)
    console.error(`portcullis: ${dropped ? 'stored configuration dropped' : 'no stored configuration'}; ${resolved.source} is used`)
  }
  // The development setup shows its admin API key once, when it is first generated.
  const devApiKey = resolved.dev === undefined ? undefined : loadOrCreateApiKey(resolved.config.dataDir)
  let server: PortcullisServer
  try {
    server = await createServer(resolved.config, resolved.jwks !== undefined ? { jwks: resolved.jwks } : {})
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    if (err instanceof ConfigError) {
      console.error(`portcullis: invalid configuration: ${message}`)
      return 2
    }
    // Nothing listens yet (a store that cannot be opened, a port in use…): exit 2, as for a bad configuration.
    console.error(`portcullis: cannot start: ${message}`)
    return 2
  }
  if (resolved.dev !== undefined && devApiKey !== undefined) console.error(devBanner(resolved.dev, devApiKey))
  const s = server
  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      clearInterval(launcherWatch)
      s.logger.info({ signal }, 'shutting down')
      s.close().then(
        () => {
          s.logger.info({ signal }, 'stopped')
          resolve()
        },
        (err: unknown) => {
          s.logger.error({ err }, 'error while shutting down; stopped')
          resolve()
        },
      )
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGHUP', () => stop('SIGHUP'))
    const launcherWatch = watchNpmLauncher(() => stop('launcher exited'))
  })
  return 0
}

/**
 * Run through npm (`npx portcullis start`, `npm start`), the broker is the child of a
 * `sh -c` that npm starts: a SIGTERM to npm reaches that shell, which dies without passing
 * it on, and the broker would run on, orphaned. So under npm the broker stops when its
 * parent goes away (it is then re-parented). Started any other way (a service manager,
 * nohup, a container), its lifetime is not tied to its parent's.
 */
function watchNpmLauncher(onGone: () => void): NodeJS.Timeout | undefined {
  if (process.env['npm_command'] === undefined) return undefined
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid !== parent) onGone()
  }, 250)
  timer.unref()
  return timer
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'start':
      return start(new Args(rest, ['reset-config']))
    case 'token': {
      const [sub, ...more] = rest
      if (sub === 'mint') {
        console.log(tokenMint(new Args(more)))
        return 0
      }
      if (sub === 'inspect') return tokenInspect(new Args(more), (s) => console.log(s))
      if (sub === 'revoke') return tokenRevoke(new Args(more), (s) => console.log(s))
      throw new UsageError(`unknown token command '${sub ?? ''}' (mint, inspect, revoke)`)
    }
    case 'keygen':
      console.log(keygen(new Args(rest)))
      return 0
    case '--version':
    case 'version':
      console.log(VERSION)
      return 0
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return 0
    default:
      throw new UsageError(`unknown command '${command}'`)
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv)
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`portcullis: ${err.message}\n\n${USAGE}`)
      return 2
    }
    if (err instanceof ConfigError) {
      console.error(`portcullis: invalid configuration: ${err.message}`)
      return 2
    }
    throw err
  }
}
