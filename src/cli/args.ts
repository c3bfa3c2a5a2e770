/**
 * Reading a command's arguments against its declaration: every command declares its options
 * (name, value placeholder, help line) once, and both the parser and `--help` are driven by it,
 * so an unknown option, a missing value, a value given to a flag or a stray argument is a
 * usage error (exit 2) that names the command, and every `--help` has the same layout.
 *
 * Not node:util parseArgs: in strict mode it refuses a value that starts with '-'
 * (`--exp -1h`, a negative duration the tests and users pass) as "ambiguous".
 */

export interface OptionSpec {
  readonly name: string
  /** Placeholder of the value (`FILE`); absent for a flag. */
  readonly value?: string
  /** May be given more than once (`--claim k=v`…). */
  readonly repeat?: boolean
  readonly help: string
}

export interface CommandSpec {
  /** The words after `portcullis`: `token mint`. */
  readonly path: string
  /** Operands as shown in the usage line, one word each, optional ones in brackets (`TOKEN`, `[TOKEN]`). */
  readonly operands?: string
  readonly summary: string
  /** Further lines shown under the summary. */
  readonly details?: readonly string[]
  readonly options: readonly OptionSpec[]
}

const HELP_OPTION: OptionSpec = { name: 'help', help: 'show this help and exit' }

export class UsageError extends Error {
  override readonly name = 'UsageError'
  /** The command whose usage to point at (absent: the top-level one). */
  readonly command: string | undefined
  constructor(message: string, command?: string) {
    super(message)
    this.command = command
  }
}

/** A command's arguments, read against its declaration. */
export class Args {
  readonly positional: string[] = []
  readonly #values = new Map<string, string[]>()

  constructor(spec: CommandSpec, argv: readonly string[]) {
    const options = new Map([...spec.options, HELP_OPTION].map((o) => [o.name, o]))
    let operandsOnly = false
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]
      if (operandsOnly || !a.startsWith('-') || a === '-') {
        this.positional.push(a)
        continue
      }
      if (a === '--') {
        operandsOnly = true
        continue
      }
      if (a === '-h') {
        this.#add('help', 'true')
        continue
      }
      if (!a.startsWith('--')) throw new UsageError(`unknown option '${a}'${suggestion(a, options)}`, spec.path)
      const eq = a.indexOf('=')
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq)
      const option = options.get(name)
      if (option === undefined) throw new UsageError(`unknown option '--${name}'${suggestion(name, options)}`, spec.path)
      let value: string
      if (option.value === undefined) {
        if (eq !== -1) throw new UsageError(`--${name} takes no value`, spec.path)
        value = 'true'
      } else if (eq !== -1) {
        value = a.slice(eq + 1)
      } else {
        const next = argv[i + 1]
        if (next === undefined) throw new UsageError(`--${name} needs a value (${option.value})`, spec.path)
        value = next
        i++
      }
      if (option.repeat !== true && this.#values.has(name)) throw new UsageError(`--${name} is given more than once`, spec.path)
      this.#add(name, value)
    }
    if (this.has('help')) return
    const [least, most] = operandRange(spec.operands)
    if (this.positional.length > most) {
      throw new UsageError(`unexpected argument '${this.positional[most]}'${most === 0 ? ' (this command takes options only)' : ''}`, spec.path)
    }
    if (this.positional.length < least) throw new UsageError(`${spec.operands ?? 'an argument'} is missing`, spec.path)
  }

  #add(name: string, value: string): void {
    const list = this.#values.get(name) ?? []
    list.push(value)
    this.#values.set(name, list)
  }

  get(name: string): string | undefined {
    const list = this.#values.get(name)
    return list === undefined ? undefined : list[list.length - 1]
  }

  all(name: string): string[] {
    return this.#values.get(name) ?? []
  }

  has(name: string): boolean {
    return this.#values.has(name)
  }
}

/** Least and most operands a usage's operands allow: `TOKEN` one, `[TOKEN]` none or one, none when absent. */
function operandRange(operands: string | undefined): [number, number] {
  const words = operands?.split(' ') ?? []
  return [words.filter((w) => !w.startsWith('[')).length, words.length]
}

/** ` (did you mean --secret?)` when a known option is one or two edits away. */
function suggestion(given: string, options: ReadonlyMap<string, OptionSpec>): string {
  const bare = given.replace(/^-+/, '')
  let best: string | undefined
  let bestDistance = 3
  for (const name of options.keys()) {
    const d = editDistance(bare, name)
    if (d < bestDistance) {
      best = name
      bestDistance = d
    }
  }
  return best === undefined ? '' : ` (did you mean --${best}?)`
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]
}

const COLUMN = 28

function row(left: string, right: string): string {
  const pad = left.length + 2 >= COLUMN ? `\n${' '.repeat(COLUMN)}` : ' '.repeat(COLUMN - left.length)
  return `${left}${pad}${right}`
}

/** The one-line usage of a command. */
export function usageLine(spec: CommandSpec): string {
  return `usage: portcullis ${spec.path}${spec.operands !== undefined ? ` ${spec.operands}` : ''}${spec.options.length > 0 ? ' [options]' : ''}`
}

/** `portcullis COMMAND --help`: usage, summary, details, one line per option. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [usageLine(spec), '', spec.summary]
  if (spec.details !== undefined) lines.push('', ...spec.details)
  lines.push('', 'options:')
  for (const o of [...spec.options, HELP_OPTION]) {
    const left = `  ${o.name === 'help' ? '-h, ' : ''}--${o.name}${o.value !== undefined ? ` ${o.value}` : ''}`
    lines.push(row(left, `${o.help}${o.repeat === true ? ' (repeatable)' : ''}`))
  }
  return lines.join('\n')
}

/** A help page listing commands (`portcullis --help`, `portcullis token --help`). */
export function commandListHelp(title: string, usage: string, commands: readonly CommandSpec[], footer: string): string {
  const lines = [usage, '', title, '', 'commands:']
  for (const c of commands) lines.push(row(`  ${c.path}`, c.summary))
  lines.push('', footer)
  return lines.join('\n')
}
