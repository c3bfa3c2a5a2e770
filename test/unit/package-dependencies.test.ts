/**
 * Every package the broker's code imports at run time is a dependency, not a devDependency:
 * `npm ci --omit=dev` (a production install) must be enough to start the broker. Type-only
 * imports are erased at build time and need nothing at run time.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'

const root = join(import.meta.dirname, '..', '..')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : []
  })
}

/** The package of a bare specifier ('@scope/name/sub' → '@scope/name', 'name/sub' → 'name'). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** Packages imported by value (import/export … from, side-effect imports, import()) in `text`. */
function runtimeImports(text: string): string[] {
  const found: string[] = []
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s+'([^']+)'/gm)) if (m[1] === undefined) found.push(m[2])
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push(m[1])
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.push(m[1])
  return found.filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(packageOf(s))).map(packageOf)
}

test('every package src/ imports at run time is in dependencies (a production install starts the broker)', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
  const dependencies = new Set(Object.keys(pkg.dependencies ?? {}))
  const missing: string[] = []
  const seen = new Set<string>()
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const name of runtimeImports(readFileSync(file, 'utf8'))) {
      seen.add(name)
      if (!dependencies.has(name)) missing.push(`${name} (imported by ${file.slice(root.length + 1)})`)
    }
  }
  assert.ok(seen.has('mqtt-packet') && seen.has('fastify'), `the scan finds the broker's imports: ${[...seen].join(', ')}`)
  assert.deepEqual(missing, [])
})
