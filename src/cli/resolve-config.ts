/**
 * Which configuration a command uses: `--config FILE`, else ./portcullis.yaml, else the
 * development setup (with its key set for the admin listener to serve).
 */
import { existsSync } from 'node:fs'
import type { JsonWebKey } from 'node:crypto'
import { loadConfigFile } from '../config/load.js'
import { validateConfig, type PortcullisConfig } from '../config/schema.js'
import { devConfig, devConfigError, loadOrCreateDevKey, type DevKey } from '../dev/dev-setup.js'
import { ConfigError } from '../errors.js'
import type { Args } from './args.js'

export interface ResolvedConfig {
  readonly config: PortcullisConfig
  readonly source: string
  readonly dev: DevKey | undefined
  readonly jwks: { readonly keys: readonly JsonWebKey[] } | undefined
}

/** The configuration `args` choose (`--config`, `--data-dir`: commands.ts's CONFIGURATION). */
export async function resolveConfig(args: Args): Promise<ResolvedConfig> {
  const dataDir = args.get('data-dir') ?? './data'
  const chosen = args.get('config') ?? (existsSync('portcullis.yaml') ? 'portcullis.yaml' : undefined)
  if (chosen !== undefined) {
    return { config: await loadConfigFile(chosen), source: chosen, dev: undefined, jwks: undefined }
  }
  const dev = loadOrCreateDevKey(dataDir)
  let config: PortcullisConfig
  try {
    config = validateConfig(devConfig(dataDir))
  } catch (err) {
    throw err instanceof ConfigError ? devConfigError(err) : err
  }
  return { config, source: 'development setup', dev, jwks: { keys: [dev.publicJwk] } }
}
