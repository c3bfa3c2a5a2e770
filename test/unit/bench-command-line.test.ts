/**
 * `npm run bench` with a bad command line: one line on stderr saying what is wrong, exit status 2, no
 * stack trace and no run (a value starting with a dash needs `--node-flags=…`).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'

const root = join(import.meta.dirname, '..', '..')

function bench(args: readonly string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stderr: r.stderr, stdout: r.stdout }
}

test('a node flag given as a separate word is refused with the form that works, exit 2', () => {
  const r = bench(['--node-flags', '--trace-gc', '--only', 'connect'])
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /^bench: Option '--node-flags' argument is ambiguous/)
  assert.match(r.stderr, /--node-flags=-XYZ/)
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  assert.equal(r.stdout, '', 'nothing ran')
})

test('an unknown option is refused, exit 2', () => {
  const r = bench(['--rouns', '3'])
  assert.equal(r.code, 2, r.stderr)
  assert.equal(r.stderr, "bench: Unknown option '--rouns'\n")
})
