/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): top functions by self time, and the
 * same grouped by file.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [...] [--top 25] [--last-ms N]
 *
 * --last-ms keeps only the samples of the profile's last N ms (the measured phase, without
 * start-up and JIT warm-up).
 *
 * Each sample counts as the profile's median sampling interval, not as the time until the next
 * sample: on a loaded machine a process that was descheduled (or blocked) shows the whole gap on
 * the sample after it, which once put a cheap function (encodePublish) at 14.6 % of the time.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

process.stdout.on('error', () => process.exit(0)) // e.g. piped into head

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'last-ms': { type: 'string' } } })
const top = Number(values.top) || 25
const lastMs = values['last-ms'] !== undefined ? Number(values['last-ms']) : Infinity
const byFn = new Map<string, number>()
const byFile = new Map<string, number>()
let total = 0

function shortUrl(url: string): string {
  if (url === '') return '(native/VM)'
  const i = url.indexOf('/node_modules/')
  if (i >= 0) return url.slice(i + 1)
  const j = url.indexOf('/dist/')
  if (j >= 0) return url.slice(j + 1)
  return url.replace(/^file:\/\//, '')
}

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const nodes = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  // Sample i is taken at startTime + the sum of timeDeltas[0..i] (µs).
  const times: number[] = []
  let t = p.startTime
  for (const d of p.timeDeltas) times.push((t += d))
  const from = p.endTime - lastMs * 1000
  const sorted = [...p.timeDeltas].sort((a, b) => a - b)
  const interval = (sorted[sorted.length >> 1] ?? 0) / 1000 // ms
  for (let i = 0; i < p.samples.length; i++) {
    if ((times[i] ?? 0) < from) continue
    const id = p.samples[i]
    self.set(id, (self.get(id) ?? 0) + interval)
  }
  for (const [id, ms] of self) {
    const n = nodes.get(id)!
    const { functionName, url, lineNumber } = n.callFrame
    if (functionName === '(idle)' || functionName === '(program)' && url === '') {
      // keep (program) — it is real VM work — but skip idle
      if (functionName === '(idle)') continue
    }
    const key = `${functionName || '(anonymous)'}  ${shortUrl(url)}${url !== '' ? `:${lineNumber + 1}` : ''}`
    byFn.set(key, (byFn.get(key) ?? 0) + ms)
    byFile.set(shortUrl(url), (byFile.get(shortUrl(url)) ?? 0) + ms)
    total += ms
  }
}

const pct = (ms: number): string => `${((ms / total) * 100).toFixed(1).padStart(5)}%`
console.log(`busy (non-idle) samples: ${total.toFixed(0)} ms\n\nTop functions by self time:`)
for (const [k, ms] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`)
console.log('\nBy file:')
for (const [k, ms] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`)
