/**
 * A state file the broker cannot write stops `portcullis start` before anything listens: exit 2,
 * the file named, and why in words — rather than a broker that starts and then refuses every
 * acknowledgement. Read-only here means read-only for the user the broker runs as: chmod, and
 * when the tests run as root (as CI does, where permission bits do not stop writes) the
 * immutable attribute too (`chattr +i`, which stops root). Each setup is checked before it is
 * used: a machine that cannot make the path read-only fails the test saying so.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { silentLogger } from '../../src/log.js'
import { STATE_DB_FILE, StateDatabase } from '../../src/store/sqlite/state-database.js'
import { cli } from '../helpers/cli.js'

const ROOT = process.getuid?.() === 0
const immutable: string[] = []

/** Make `path` read-only for this user (and root), and check that it is. */
function makeReadOnly(path: string, kind: 'file' | 'directory'): void {
  chmodSync(path, kind === 'file' ? 0o400 : 0o555)
  if (ROOT) {
    try {
      execFileSync('chattr', ['+i', path], { stdio: 'pipe' })
    } catch (err) {
      throw new Error(`setup: as root, only the immutable attribute makes ${path} read-only, and chattr +i failed ` +
        `(the file system of the temporary directory must support it): ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    immutable.push(path)
  }
  const probe = kind === 'file' ? path : join(path, 'probe')
  assert.throws(() => closeSync(openSync(probe, 'a')), `setup: ${path} must be read-only for the user the broker runs as`)
}

/** A real state file (as a broker leaves it) in a new data directory. */
function stateFile(data: string): string {
  new StateDatabase(data, 'normal', silentLogger()).close()
  return join(data, STATE_DB_FILE)
}

function startConfig(dir: string, dataDir: string): string {
  const config = join(dir, `config-${Math.random().toString(36).slice(2, 8)}.yaml`)
  writeFileSync(config, [
    'listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]',
    'authentication: { allowAnonymous: true }',
    `dataDir: ${dataDir}`,
    '',
  ].join('\n'))
  return config
}

describe('cli: a state file that cannot be written stops start-up (exit 2, the file named)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-unwritable-'))
  after(() => {
    for (const path of immutable) execFileSync('chattr', ['-i', path], { stdio: 'pipe' })
    rmSync(dir, { recursive: true, force: true })
  })

  test('a read-only data directory (no state.sqlite yet)', async () => {
    const data = join(dir, 'ro-dir')
    mkdirSync(data)
    makeReadOnly(data, 'directory')
    const r = await cli(['start', '--config', startConfig(dir, data)], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.ok(r.stderr.includes(`cannot open the state store ${join(data, STATE_DB_FILE)}: it cannot be written`), r.stderr)
    assert.match(r.stderr, /needs write access to the data directory/)
    assert.doesNotMatch(r.stdout, /"msg":"listening"/, 'nothing listened')
  })

  test('a data directory that cannot be made (under /proc): exit 2 at once, not a start that hangs', async () => {
    // Node 20's recursive mkdirSync never returns here (mkdir answers ENOENT under an existing parent).
    const data = '/proc/portcullis-no-such-dir/data'
    const r = await cli(['start', '--config', startConfig(dir, data)], dir)
    assert.equal(r.code, 2, `exit status (-1: killed after 20 s) ${r.stderr}`)
    assert.ok(r.stderr.includes(`cannot open the state store ${join(data, STATE_DB_FILE)}: the data directory ${data} cannot be made (ENOENT`), r.stderr)
    assert.doesNotMatch(r.stdout, /"msg":"listening"/, 'nothing listened')
  })

  test('a read-only state.sqlite in a writable directory', async () => {
    const data = join(dir, 'ro-file')
    const file = stateFile(data)
    makeReadOnly(file, 'file')
    const r = await cli(['start', '--config', startConfig(dir, data)], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.ok(r.stderr.includes(`cannot open the state store ${file}: it cannot be written`), r.stderr)
    assert.doesNotMatch(r.stdout, /"msg":"listening"/, 'nothing listened')
  })

  test('a state.sqlite SQLite can read but not write: refused at start-up, not at the first commit', async () => {
    const data = join(dir, 'sqlite-ro')
    const file = stateFile(data)
    // The file format's write version (byte 18) above 2: SQLite opens the file read-only, whoever runs it.
    const bytes = readFileSync(file)
    bytes[18] = 3
    writeFileSync(file, bytes)
    const r = await cli(['start', '--config', startConfig(dir, data)], dir)
    assert.equal(r.code, 2, r.stderr)
    assert.ok(r.stderr.includes(`cannot open the state store ${file}: it cannot be written (SQLITE_READONLY`), r.stderr)
    assert.doesNotMatch(r.stdout, /"msg":"listening"/, 'nothing listened')
  })
})
