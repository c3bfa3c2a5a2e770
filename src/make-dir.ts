/**
 * `mkdir -p` that always ends. Node 20's `mkdirSync(path, { recursive: true })` loops forever when
 * mkdir answers ENOENT for a directory whose parent exists (any path under /proc, e.g. a mistyped
 * `dataDir: /proc/x`): the broker hung at start with no word. Here each missing level is made on its
 * own, so the kernel's answer becomes the error the caller reports.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** Makes `path` and its missing parents (with `mode` when given, as mkdir -p -m); a directory already there is fine. */
export function makeDir(path: string, mode?: number): void {
  const missing: string[] = []
  for (let at = resolve(path); !existsSync(at); at = dirname(at)) {
    missing.push(at)
    if (dirname(at) === at) break
  }
  if (missing.length === 0) {
    // There already: fine if a directory; otherwise mkdir's own EEXIST says what is in the way.
    if (!statSync(path).isDirectory()) mkdirSync(path)
    return
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, mode === undefined ? undefined : { mode })
    } catch (err) {
      // Made meanwhile by someone else: as good as made here.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw err
    }
  }
}
