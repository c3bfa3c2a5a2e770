/**
 * Every package the lockfile installs accepts the Node.js this project supports (`engines.node` of
 * package.json, checked on the Node running the tests): a dependency that asks for a newer Node
 * makes `npm ci` print EBADENGINE warnings on a supported machine and may fail at run time there.
 * (light-my-request 6.8 pulled in cookie 2, which wants Node 22: package.json overrides it.)
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import semver from 'semver'

const root = join(import.meta.dirname, '..', '..')
const readJson = (file: string): unknown => JSON.parse(readFileSync(join(root, file), 'utf8'))

test('every locked package accepts the Node.js running the tests, which package.json supports', () => {
  const pkg = readJson('package.json') as { engines: { node: string } }
  assert.ok(semver.satisfies(process.version, pkg.engines.node), `${process.version} is within engines.node ${pkg.engines.node}`)
  const lock = readJson('package-lock.json') as { packages: Record<string, { engines?: { node?: string } | string[], optional?: boolean }> }
  const refused: string[] = []
  let checked = 0
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
    if (path === '' || range === undefined) continue
    checked++
    if (!semver.satisfies(process.version, range)) refused.push(`${path.replace(/^.*node_modules\//, '')} wants node ${range}`)
  }
  assert.ok(checked > 50, `the lockfile's engines were read (${checked})`)
  assert.deepEqual(refused, [])
})
