/** The command line: `portcullis start [--config FILE]`, and the token tools. */
import { existsSync } from 'node:fs'
import { loadConfigFile } from '../config/load.js'
import { validateConfig, type PortcullisConfig } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import { createServer, VERSION } from '../server.js'

const USAGE = `portcullis ${VERSION}

usage:
  portcullis start [--config FILE]     run the broker (default: ./portcullis.yaml, else the development setup)
  portcullis --version
`

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  if (i === -1) return undefined
  const value = args[i + 1]
  if (value === undefined) throw new Error(`${name} needs a value`)
  return value
}

async function resolveConfig(args: string[]): Promise<PortcullisConfig> {
  const file = option(args, '--config') ?? (existsSync('portcullis.yaml') ? 'portcullis.yaml' : undefined)
  if (file !== undefined) return loadConfigFile(file)
  return validateConfig({ authentication: { allowAnonymous: true }, authorization: { noMatch: 'allow' } })
}

async function start(args: string[]): Promise<number> {
  let config: PortcullisConfig
  try {
    config = await resolveConfig(args)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`portcullis: invalid configuration: ${err.message}`)
      return 2
    }
    throw err
  }
  let server
  try {
    server = await createServer(config)
  } catch (err) {
    console.error(`portcullis: cannot start: ${err instanceof Error ? err.message : String(err)}`)
    return err instanceof ConfigError ? 2 : 1
  }
  const s = server
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      s.logger.info({ signal }, 'shutting down')
      s.close().then(resolve, (err: unknown) => {
        s.logger.error({ err }, 'error while shutting down')
        resolve()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv
  switch (command) {
    case 'start':
      return start(args)
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
      console.error(`portcullis: unknown command '${command}'\n${USAGE}`)
      return 2
  }
}
