/**
 * The test scripts let each test file's process end on its own. With `--test-force-exit`,
 * Node 20 ends a file's process as soon as its tests are done, and results still on their way
 * through the pipe to the runner can be lost: the number of tests reported changed from run to
 * run while the exit status stayed 0. A file that leaves a handle open is bounded by
 * `--test-timeout` instead, and fails under its own name.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }

for (const name of ['test', 'test:persistent', 'test:redis-cluster']) {
  test(`npm run ${name}: no forced exit of test files (every result reaches the count), each file bounded by --test-timeout`, () => {
    const script = pkg.scripts[name]
    assert.ok(script !== undefined, `no ${name} script`)
    assert.doesNotMatch(script, /--test-force-exit/)
    assert.match(script, /--test-timeout=\d+/)
  })
}
