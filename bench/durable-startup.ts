/**
 * Start-up time with many stored sessions (issue 12): every persistent session is loaded from
 * state.sqlite before the listeners open, so a broker holding N sessions starts in time that
 * grows with N. This writes N offline sessions (one subscription and `--queued` QoS 1 messages
 * each, as the broker records them) into a fresh data directory, then starts a broker on it in
 * a child process and reports the time from process start to the MQTT listener being open
 * (the `listening` log line), the broker's own "state recovered" time, and its memory.
 *
 *   npm run build && node --import tsx bench/durable-startup.ts [--sessions 100000] [--queued 1] [--rounds 3]
 *
 * Bounded: at most 1,000,000 sessions, 10 rounds, 120 s per start; nothing listens beyond loopback.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { STATE_DB_FILE } from '../src/store/sqlite/state-database.js'
import { writeStoredSessions } from './lib/stored-sessions.js'

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100000' },
    queued: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
  },
})
const SESSIONS = Math.min(Math.max(Number(values.sessions) || 100_000, 1), 1_000_000)
const QUEUED = Math.min(Math.max(Number(values.queued) || 0, 0), 100)
const ROUNDS = Math.min(Math.max(Number(values.rounds) || 3, 1), 10)
const START_BUDGET_MS = 120_000
const BIN = resolve('bin/portcullis.js')

interface Start { listeningMs: number; rssMiB: number }

function startOnce(dir: string): Promise<Start> {
  const config = join(dir, 'bench.yaml')
  writeFileSync(config, [
    'listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]',
    'authentication: { allowAnonymous: true }',
    `dataDir: ${dir}`,
    '',
  ].join('\n'))
  const started = performance.now()
  const child = spawn('node', [BIN, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no listener within ${START_BUDGET_MS} ms`))
    }, START_BUDGET_MS)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (!out.includes('"msg":"listening"')) return
      const listeningMs = performance.now() - started
      clearTimeout(timer)
      let rssMiB = NaN
      try {
        rssMiB = rssMiBOf(child.pid as number)
      } catch {
        // process gone
      }
      child.once('exit', () => resolveStart({ listeningMs, rssMiB }))
      child.kill('SIGKILL')
    })
    child.once('exit', (code) => {
      if (!out.includes('"msg":"listening"')) {
        clearTimeout(timer)
        reject(new Error(`broker exited with ${code}`))
      }
    })
  })
}

/** VmRSS of a process in MiB. */
function rssMiBOf(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  return kb / 1024
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const empty = mkdtempSync(join(tmpdir(), 'portcullis-startup-empty-'))
  const full = mkdtempSync(join(tmpdir(), 'portcullis-startup-full-'))
  try {
    const t0 = performance.now()
    await writeStoredSessions(full, { count: SESSIONS, queued: QUEUED })
    const mb = statSync(join(full, STATE_DB_FILE)).size / 2 ** 20
    console.log(`wrote ${SESSIONS.toLocaleString('en')} sessions (1 subscription, ${QUEUED} queued QoS 1 message(s) each) in ${((performance.now() - t0) / 1000).toFixed(1)} s; state.sqlite ${mb.toFixed(1)} MiB`)
    const base: Start[] = []
    const loaded: Start[] = []
    for (let r = 0; r < ROUNDS; r++) {
      // alternated, so a change in the machine's load falls on both
      base.push(await startOnce(empty))
      loaded.push(await startOnce(full))
    }
    const fmt = (xs: Start[]): string =>
      `listening after ${median(xs.map((x) => x.listeningMs)).toFixed(0)} ms (runs: ${xs.map((x) => x.listeningMs.toFixed(0)).join(', ')}), RSS ${median(xs.map((x) => x.rssMiB)).toFixed(0)} MiB`
    console.log(`empty state:                ${fmt(base)}`)
    console.log(`${SESSIONS.toLocaleString('en')} stored sessions: ${fmt(loaded)}`)
  } finally {
    rmSync(empty, { recursive: true, force: true })
    rmSync(full, { recursive: true, force: true })
  }
}

await main()
