/**
 * log.format: pretty — pino's JSON lines turned into lines for people:
 * `2026-12-03T15:04:05.123Z INFO  client connected clientId=dev-1 sub=alice`. Fields go through
 * pino's redaction first, so secrets stay out here too. A line that is not JSON passes as is.
 */
import { Writable } from 'node:stream'

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
/** Fields every line has, shown in the prefix or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name'])

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v) ?? String(v)
}

/** One pino JSON line as a line for people (without the newline). */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line
  }
  if (entry === null || typeof entry !== 'object') return line
  const t = entry['time']
  const time = typeof t === 'number' ? new Date(t).toISOString() : typeof t === 'string' ? t : ''
  const level = (LEVELS[entry['level'] as number] ?? String(entry['level'])).padEnd(5)
  const err = entry['err'] as { stack?: string } | undefined
  const fields = Object.entries(entry)
    .filter(([k]) => !OMITTED.has(k) && k !== 'err')
    .map(([k, v]) => `${k}=${value(v)}`)
  const text = [time, level, (typeof entry['msg'] === 'string' ? entry['msg'] : entry['msg'] === undefined || entry['msg'] === null ? '' : value(entry['msg'])), ...fields].join(' ')
  return err?.stack !== undefined ? `${text}\n${err.stack}` : text
}

/** A stream pino writes JSON lines to, writing pretty lines to `out`. */
export function prettyStream(out: NodeJS.WritableStream): Writable {
  let rest = ''
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      const lines = (rest + chunk.toString()).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) if (line !== '') out.write(`${prettyLine(line)}\n`)
      done()
    },
  })
}
