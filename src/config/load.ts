/** Read a configuration file (YAML, or JSON which YAML accepts) and validate it. */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { ConfigError } from '../errors.js'
import { validateConfig, type PortcullisConfig } from './schema.js'

export async function loadConfigFile(file: string): Promise<PortcullisConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    throw new ConfigError(file, `cannot be read: ${(cause as Error).message}`, { cause })
  }
  let raw: unknown
  try {
    raw = parse(text)
  } catch (cause) {
    throw new ConfigError(file, `is not valid YAML or JSON: ${(cause as Error).message}`, { cause })
  }
  // An empty file would otherwise run every default silently (anonymous TCP on 0.0.0.0:1883, no authenticator).
  if (raw === null || raw === undefined) {
    throw new ConfigError(file, 'is empty: give at least listeners and authentication (see the README), or remove the file to run the development setup')
  }
  return validateConfig(raw)
}
