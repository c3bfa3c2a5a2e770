/** A small argument reader: `--name value`, repeated options, and flags. */
export class Args {
  readonly positional: string[] = []
  readonly #values = new Map<string, string[]>()

  constructor(argv: readonly string[], flags: readonly string[] = []) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]
      if (a.startsWith('--')) {
        const eq = a.indexOf('=')
        const name = eq === -1 ? a.slice(2) : a.slice(2, eq)
        let value: string
        if (eq !== -1) value = a.slice(eq + 1)
        else if (flags.includes(name)) value = 'true'
        else {
          const next = argv[i + 1]
          if (next === undefined) throw new UsageError(`--${name} needs a value`)
          value = next
          i++
        }
        const list = this.#values.get(name) ?? []
        list.push(value)
        this.#values.set(name, list)
      } else {
        this.positional.push(a)
      }
    }
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

export class UsageError extends Error {
  override readonly name = 'UsageError'
}
