/**
 * A benchmark's command-line options, each declared once: `--name N` numbers with their default
 * and the range they are clamped into (a value that is not a number takes the default), `--name S`
 * strings with their default, and `--name` flags. Unknown options are refused (node:util parseArgs).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

/**
 * node:util parseArgs, with a bad command line (an unknown option, a value that starts with a dash
 * given as a separate word: `--node-flags "--x"` instead of `--node-flags="--x"`) reported in one line
 * and exit status 2 instead of a stack trace.
 */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(2)
  }
}

/** A number option: its default, and the least and most it may be. */
export type NumberOption = readonly [fallback: number, least: number, most: number]

export function benchOptions<N extends string, S extends string = never, F extends string = never>(
  numbers: Readonly<Record<N, NumberOption>>,
  strings: Readonly<Record<S, string>> = {} as Record<S, string>,
  flags: readonly F[] = [],
): Record<N, number> & Record<S, string> & Record<F, boolean> {
  const options: Record<string, { type: 'string'; default: string } | { type: 'boolean'; default: boolean }> = {}
  for (const [name, [fallback]] of Object.entries<NumberOption>(numbers)) options[name] = { type: 'string', default: String(fallback) }
  for (const [name, value] of Object.entries<string>(strings)) options[name] = { type: 'string', default: value }
  for (const name of flags) options[name] = { type: 'boolean', default: false }
  const { values } = parseCommandLine({ options })
  const out: Record<string, unknown> = { ...values }
  for (const [name, [fallback, least, most]] of Object.entries<NumberOption>(numbers)) {
    const n = Number(values[name])
    out[name] = Math.min(Math.max(Number.isFinite(n) ? n : fallback, least), most)
  }
  return out as Record<N, number> & Record<S, string> & Record<F, boolean>
}
