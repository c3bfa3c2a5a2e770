/** The command line: `portcullis start`, `token mint|inspect`, `keygen`. */
import { ConfigError } from '../errors.js'
import { loadOrCreateApiKey } from '../admin/api-key.js'
import { devBanner, devConfigError } from '../dev/dev-setup.js'
import { resetStoredConfig } from '../store/sqlite/config-store.js'
import { createServer, VERSION, type PortcullisServer } from '../server.js'
import { Args, UsageError, commandHelp, commandListHelp, usageLine, type CommandSpec } from './args.js'
import { ALL_COMMANDS, KEYGEN, START, TOKEN_COMMANDS, TOKEN_INSPECT, TOKEN_MINT, TOKEN_REVOKE, VERSION_COMMAND } from './commands.js'
import { keygen } from './keygen.js'
import { resolveConfig, type ResolvedConfig } from './resolve-config.js'
import { tokenInspect, tokenMint } from './token.js'
import { tokenRevoke } from './token-revoke.js'

const USAGE = commandListHelp(
  `portcullis ${VERSION} — an MQTT broker with JWT authentication and authorization`,
  'usage: portcullis COMMAND [options]',
  ALL_COMMANDS,
  "Run 'portcullis COMMAND --help' for a command's options.",
)
const TOKEN_USAGE = commandListHelp('Make, check and revoke tokens.', 'usage: portcullis token (mint | inspect | revoke) [options]', TOKEN_COMMANDS, "Run 'portcullis token COMMAND --help' for its options.")

/** The command being run, named by usage errors its code raises. */
let running: string | undefined

/** Reads `argv` for `spec`; with --help prints the command's help and returns undefined. */
function parse(spec: CommandSpec, argv: readonly string[]): Args | undefined {
  running = spec.path
  const args = new Args(spec, argv)
  if (!args.has('help')) return args
  console.log(commandHelp(spec))
  return undefined
}

async function start(args: Args): Promise<number> {
  let resolved: ResolvedConfig
  try {
    resolved = await resolveConfig(args)
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
      console.error(`portcullis: invalid configuration: ${(resolved.dev !== undefined ? devConfigError(err) : err).message}`)
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
    case 'start': {
      const args = parse(START, rest)
      return args === undefined ? 0 : start(args)
    }
    case 'token': {
      const [sub, ...more] = rest
      if (sub === '--help' || sub === '-h' || sub === 'help') {
        console.log(TOKEN_USAGE)
        return 0
      }
      if (sub === undefined) throw new UsageError('a command is missing (mint, inspect, revoke)', 'token')
      if (sub === 'mint') {
        const args = parse(TOKEN_MINT, more)
        if (args !== undefined) console.log(tokenMint(args))
        return 0
      }
      if (sub === 'inspect') {
        const args = parse(TOKEN_INSPECT, more)
        return args === undefined ? 0 : tokenInspect(args, (s) => console.log(s))
      }
      if (sub === 'revoke') {
        const args = parse(TOKEN_REVOKE, more)
        return args === undefined ? 0 : tokenRevoke(args, (s) => console.log(s))
      }
      throw new UsageError(`unknown token command '${sub}' (mint, inspect, revoke)`, 'token')
    }
    case 'keygen': {
      const args = parse(KEYGEN, rest)
      if (args !== undefined) console.log(keygen(args))
      return 0
    }
    case '--version':
    case 'version':
      if (parse(VERSION_COMMAND, rest) !== undefined) console.log(VERSION)
      return 0
    case undefined:
      throw new UsageError('a command is missing')
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return 0
    default:
      throw new UsageError(`unknown command '${command}' (${ALL_COMMANDS.map((c) => c.path.split(' ')[0]).filter((c, i, a) => a.indexOf(c) === i).join(', ')})`)
  }
}

/** Where a usage error points the user: the command's own help. */
function usageHint(command: string | undefined): string {
  const spec = ALL_COMMANDS.find((c) => c.path === command)
  if (spec !== undefined) return `${usageLine(spec)}\nRun 'portcullis ${spec.path} --help' for the options.`
  return command === 'token' ? TOKEN_USAGE : "Run 'portcullis --help' for the commands."
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv)
  } catch (err) {
    if (err instanceof UsageError) {
      const command = err.command ?? running
      console.error(`portcullis${command !== undefined ? ` ${command}` : ''}: ${err.message}\n${usageHint(command)}`)
      return 2
    }
    if (err instanceof ConfigError) {
      console.error(`portcullis: invalid configuration: ${err.message}`)
      return 2
    }
    throw err
  }
}
