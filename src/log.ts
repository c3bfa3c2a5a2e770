/**
 * Structured logging (pino). Secrets never reach a log line: the redaction list covers
 * every field name under which a password, token or key could travel.
 */
import { pino, type Logger } from 'pino'
import { prettyStream } from './log-pretty.js'

export type { Logger }

export const REDACTED_PATHS = [
  'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'apiKey', '*.apiKey',
  'authData', '*.authData', 'authenticationData', '*.authenticationData',
  'headers.authorization', '*.headers.authorization', 'privateKey', '*.privateKey',
]

export interface LogOptions {
  readonly level?: string
  /** json (default): one JSON object a line; pretty: ISO time, level, message, fields. */
  readonly format?: 'json' | 'pretty'
  /** Where log lines go (default: standard output). */
  readonly destination?: NodeJS.WritableStream
}

export function createLogger(options: LogOptions = {}): Logger {
  const settings = {
    name: 'portcullis',
    level: options.level ?? process.env['PORTCULLIS_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  }
  if (options.format === 'pretty') return pino(settings, prettyStream(options.destination ?? process.stdout))
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination)
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
