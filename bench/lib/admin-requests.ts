/**
 * Timing admin API requests: one kind of request sent `requests` times in sequence (after a
 * warm-up) over keep-alive connections, the latency as the sender sees it (whole answer read)
 * and the CPU each broker process spent per request (/proc/PID/stat over the block).
 */
import { execFileSync } from 'node:child_process'
import { HOST, cpuSeconds } from './brokers.js'

export interface AdminRequestKind { readonly label: string; readonly path: string; readonly requests: number }

const WARMUP = 20
/** Every block stops at this deadline, whatever `requests` says. */
const BLOCK_DEADLINE_MS = 120_000

export async function adminGet(adminPort: number, apiKey: string, path: string): Promise<{ bytes: number; entries: number; body: unknown }> {
  const res = await fetch(`http://${HOST}:${adminPort}/api/v1${path}`, { headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(60_000) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${text.slice(0, 300)}`)
  const body = JSON.parse(text) as unknown
  return { bytes: text.length, entries: Array.isArray(body) ? body.length : 1, body }
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
}

/** One line: entries, size, latency median/p99 and each process's CPU per request (`pids`: label → PID). */
export async function measureAdminRequests(adminPort: number, apiKey: string, kind: AdminRequestKind, pids: ReadonlyMap<string, number>): Promise<string> {
  for (let i = 0; i < Math.min(WARMUP, kind.requests); i++) await adminGet(adminPort, apiKey, kind.path)
  const deadline = Date.now() + BLOCK_DEADLINE_MS
  const ms: number[] = []
  let last = { bytes: 0, entries: 0 }
  const cpu0 = new Map([...pids].map(([label, pid]) => [label, cpuSeconds(pid)]))
  for (let i = 0; i < kind.requests && Date.now() < deadline; i++) {
    const t = performance.now()
    last = await adminGet(adminPort, apiKey, kind.path)
    ms.push(performance.now() - t)
  }
  const cpu = [...pids].map(([label, pid]) => `${label} ${(((cpuSeconds(pid) - (cpu0.get(label) ?? 0)) * 1000) / ms.length).toFixed(2).padStart(7)}`)
  return `${kind.label.padEnd(52)} ${String(last.entries).padStart(6)} entries ${(last.bytes / 1024).toFixed(0).padStart(6)} KiB` +
    `  latency median ${quantile(ms, 0.5).toFixed(2).padStart(8)} ms, p99 ${quantile(ms, 0.99).toFixed(2).padStart(8)} ms` +
    `  CPU ms/request: ${cpu.join(', ')}  (${ms.length} requests)`
}

/** The API key the admin benchmarks' brokers are started with. */
export const BENCH_API_KEY = 'bench-admin-key-0123456789abcdef'

/** A distinct loopback address for session i, recorded as its last address (sort=address has work to do). */
export const distinctAddress = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

/**
 * The GET /clients requests both admin benchmarks time: first and middle pages by each order, a
 * search, the largest page and the whole list. `mid`: the index of a session in the middle.
 */
export function clientListKinds(requests: number, idOf: (i: number) => string, mid: number): AdminRequestKind[] {
  return [
    { label: 'GET /stats (baseline: a small API request)', path: '/stats', requests },
    { label: 'first page of 50, by id', path: '/clients?limit=50', requests },
    { label: 'a middle page of 50, by id (after=)', path: `/clients?limit=50&after=${idOf(mid)}`, requests },
    { label: 'first page of 50, connected since, newest first', path: '/clients?sort=connectedAt&order=desc&limit=50', requests },
    { label: 'a middle page of 50, by address', path: `/clients?sort=address&limit=50&after=${idOf(mid)}&afterKey=${distinctAddress(mid)}`, requests },
    { label: 'search (q=) by id, page of 50', path: `/clients?q=${idOf(mid).slice(0, -2)}&limit=50`, requests },
    { label: 'page of 1,000 (the largest), by id', path: '/clients?limit=1000', requests: Math.max(10, Math.floor(requests / 4)) },
  ]
}

/** The whole list: asked 3 times only. */
export const WHOLE_CLIENT_LIST: AdminRequestKind = { label: 'the whole list (no limit)', path: '/clients', requests: 3 }

/** Pin this process (the one sending requests) to core 1; the brokers run on core 0. */
export function pinToCoreOne(log: (msg: string) => void): void {
  try {
    execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' })
  } catch {
    log('warning: taskset failed; the bench is not pinned')
  }
}
