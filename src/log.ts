/**
 * Structured logging (pino). Secrets never reach a log line: the redaction list covers
 * every field name under which a password, token or key could travel.
 */
import { pino, type Logger } from 'pino'

export type { Logger }

export const REDACTED_PATHS = [
  'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'apiKey', '*.apiKey',
  'authData', '*.authData', 'authenticationData', '*.authenticationData',
  'headers.authorization', '*.headers.authorization', 'privateKey', '*.privateKey',
]

export interface LogOptions {
  readonly level?: string
}

export function createLogger(options: LogOptions = {}): Logger {
  return pino({
    name: 'portcullis',
    level: options.level ?? process.env['PORTCULLIS_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  })
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
