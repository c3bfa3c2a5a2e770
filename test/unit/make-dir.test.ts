/**
 * makeDir: mkdir -p that always ends with the directory made or the kernel's error (Node 20's
 * recursive mkdirSync loops forever under /proc).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { makeDir } from '../../src/make-dir.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-make-dir-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('makes the missing levels with the mode given, and accepts a directory already there', () => {
  const deep = join(dir, 'a', 'b', 'c')
  makeDir(deep, 0o700)
  for (const p of [join(dir, 'a'), join(dir, 'a', 'b'), deep]) {
    assert.ok(statSync(p).isDirectory(), p)
    assert.equal(statSync(p).mode & 0o777, 0o700, p)
  }
  makeDir(deep)
  makeDir(join(dir, 'a', '..', 'a', 'b'))
  assert.ok(statSync(deep).isDirectory())
})

test('a file in the way is an error (EEXIST for the path itself, ENOTDIR below it)', () => {
  const file = join(dir, 'file')
  writeFileSync(file, 'x')
  assert.throws(() => makeDir(file), { code: 'EEXIST' })
  assert.throws(() => makeDir(join(file, 'below')), { code: 'ENOTDIR' })
})

test('under /proc: the ENOENT mkdir answers, at once', () => {
  assert.throws(() => makeDir('/proc/portcullis-no-such-dir/x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.syscall === 'mkdir')
})
