/**
 * Bulk import of devices, from JSON or CSV, with an error for every row that cannot be used
 * (nothing is dropped without a word).
 *
 * JSON: a list of devices as the API takes them (`[{ id, enabled?, description?, keys }]`),
 * or `{ "devices": [...] }`.
 *
 * CSV (RFC 4180, a header row first, UTF-8, an optional BOM): one key per row; rows with the
 * same `id` are one device with several keys (at most 3). Columns:
 *   id (required), enabled (true/false, default true), description,
 *   key_id, pem | jwk | secret (one per row, or none for a device without a key yet),
 *   expires_at (epoch seconds or ISO 8601)
 * A PEM may span lines inside quotes, or be on one line.
 */
import { parse } from 'csv-parse/sync'
import { ConfigError } from '../../errors.js'
import { isMapping } from '../../config/check.js'

/** A row that cannot be imported, and why. */
export interface ImportRowError {
  /** 1-based: the n-th device of a JSON list, or the n-th data row of a CSV file. */
  readonly row: number
  /** CSV: the line the row starts on (the header is line 1). */
  readonly line?: number
  readonly id?: string
  /** The field at fault, e.g. `devices[3].keys[0].pem` or `row 7: pem`. */
  readonly path: string
  readonly message: string
}

/** A device as parsed from the file (validated later, like an API body), with where it came from. */
export interface ImportItem {
  readonly raw: Record<string, unknown>
  /** Path prefix for validation errors. */
  readonly path: string
  readonly row: number
  readonly line?: number
  /** CSV: the row (and line) each of the device's keys came from. */
  readonly keyRows?: readonly { readonly row: number; readonly line: number }[]
}

export interface ParsedImport {
  readonly items: readonly ImportItem[]
  readonly errors: readonly ImportRowError[]
}

const CSV_COLUMNS = ['id', 'enabled', 'description', 'key_id', 'pem', 'jwk', 'secret', 'expires_at']

/** The devices of a JSON body: a list, or `{ devices: [...] }`. */
export function parseJsonImport(body: unknown): ParsedImport {
  const list = Array.isArray(body) ? body : isMapping(body) && Array.isArray(body['devices']) ? body['devices'] : undefined
  if (list === undefined) throw new ConfigError('body', 'must be a list of devices, or { "devices": [...] } (or CSV with Content-Type: text/csv)')
  const items: ImportItem[] = []
  const errors: ImportRowError[] = []
  list.forEach((raw: unknown, i) => {
    const path = `devices[${i}]`
    if (!isMapping(raw)) errors.push({ row: i + 1, path, message: 'must be a mapping { id, keys, ... }' })
    else items.push({ raw, path, row: i + 1 })
  })
  return { items, errors }
}

interface CsvRecord {
  readonly record: Record<string, string>
  /** `bytes`: the offset just after the record (and its line break). */
  readonly info: { readonly bytes: number }
}

/** Line numbers of byte offsets, counted forward once through the text. */
class LineCounter {
  readonly #bytes: Buffer
  #at = 0
  #line = 1

  constructor(text: string) {
    this.#bytes = Buffer.from(text, 'utf8')
  }

  /** The line the byte before `offset` is on (offsets must not go backwards). */
  lineBefore(offset: number): number {
    const end = Math.max(0, offset - 1)
    for (; this.#at < end; this.#at++) if (this.#bytes[this.#at] === 0x0a) this.#line++
    return this.#line
  }
}

/** The devices of a CSV text (rows of one id grouped into one device, in first-seen order). */
export function parseCsvImport(text: string): ParsedImport {
  let records: CsvRecord[]
  try {
    records = parse<CsvRecord>(text, {
      bom: true,
      columns: (names: string[]) => {
        const header = names.map((h) => h.trim().toLowerCase())
        const unknown = header.filter((h) => !CSV_COLUMNS.includes(h))
        if (unknown.length > 0) throw new ConfigError('header', `unknown column ${unknown.map((u) => JSON.stringify(u)).join(', ')} (expected: ${CSV_COLUMNS.join(', ')})`)
        if (!header.includes('id')) throw new ConfigError('header', 'has no id column')
        return header
      },
      skip_empty_lines: true,
      info: true,
    })
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const e = err as Error & { lines?: number }
    throw new ConfigError(e.lines !== undefined ? `line ${e.lines}` : 'body', `is not valid CSV: ${e.message}`)
  }

  interface Grouped { raw: Record<string, unknown>; keys: Record<string, unknown>[]; keyRows: { row: number; line: number }[]; row: number; line: number }
  const byId = new Map<string, Grouped>()
  const errors: ImportRowError[] = []
  const lines = new LineCounter(text)
  records.forEach(({ record, info }, i) => {
    const row = i + 1
    // The line the record ends on, less the line breaks inside its quoted fields (a PEM).
    const line = lines.lineBefore(info.bytes) - (Object.values(record).join('').split('\n').length - 1)
    // A row of empty cells (a spreadsheet's trailing rows) holds nothing to import.
    if (Object.values(record).every((v) => v.trim() === '')) return
    const id = record['id'] ?? ''
    const at = (field: string): string => `row ${row}: ${field}`
    if (id === '') {
      errors.push({ row, line, path: at('id'), message: 'is required' })
      return
    }
    let device = byId.get(id)
    const enabled = (record['enabled'] ?? '').trim().toLowerCase()
    if (enabled !== '' && enabled !== 'true' && enabled !== 'false') {
      errors.push({ row, line, id, path: at('enabled'), message: `must be true or false (got ${JSON.stringify(record['enabled'])})` })
      return
    }
    if (device === undefined) {
      device = { raw: { id }, keys: [], keyRows: [], row, line }
      byId.set(id, device)
    }
    if (enabled !== '') device.raw['enabled'] = enabled === 'true'
    if ((record['description'] ?? '') !== '') device.raw['description'] = record['description']
    const key: Record<string, unknown> = {}
    for (const format of ['pem', 'jwk', 'secret']) if ((record[format] ?? '').trim() !== '') key[format] = record[format]
    if ((record['key_id'] ?? '') !== '') key['id'] = record['key_id']
    const expires = (record['expires_at'] ?? '').trim()
    if (expires !== '') key['expiresAt'] = /^\d+(\.\d+)?$/.test(expires) ? Number(expires) : expires
    if (Object.keys(key).length > 0) {
      device.keys.push(key)
      device.keyRows.push({ row, line })
    }
  })
  const items = [...byId.values()].map((d) => ({
    raw: { ...d.raw, keys: d.keys },
    path: `row ${d.row}`,
    row: d.row,
    line: d.line,
    keyRows: d.keyRows,
  }))
  return { items, errors }
}
