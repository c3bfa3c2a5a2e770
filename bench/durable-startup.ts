/**
 * Start-up time with many stored sessions (issue 12): every persistent session is loaded from
 * state.sqlite before the listeners open, so a broker holding N sessions starts in time that
 * grows with N. This writes N offline sessions (one subscription and `--queued` QoS 1 messages
 * each, as the broker records them) into a fresh data directory, then starts a broker on it in
 * a child process and reports the time from process start to the MQTT listener being open
 * (the `listening` log line), the broker's own "state recovered" time, and its memory.
 *
 *   npm run build && node --import tsx bench/durable-startup.ts [--sessions 100000] [--queued 1] [--rounds 3] [--cluster]
 *
 * `--cluster`: the same for a cluster node (issue 13): the sessions are written into a redis-server
 * (unix socket, bench/lib/redis-server.ts) as held by node `node-1`, which then starts again and
 * takes them all back (claims each client id, loads its session) before it listens; the empty
 * case is a node on a second, empty redis-server.
 *
 * Bounded: at most 1,000,000 sessions, 10 rounds, 120 s per start; nothing listens beyond loopback.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { benchOptions } from './lib/options.js'
import { STATE_DB_FILE } from '../src/store/sqlite/state-database.js'
import { NODE_DEAD_AFTER_MS } from '../src/cluster/membership.js'
import { redisSocket, startRedis } from './lib/redis-server.js'
import { writeRedisSessions, writeStoredSessions } from './lib/stored-sessions.js'

const { sessions: SESSIONS, queued: QUEUED, rounds: ROUNDS, cluster: CLUSTER } = benchOptions({
  sessions: [100_000, 1, 1_000_000], queued: [1, 0, 100], rounds: [3, 1, 10],
}, {}, ['cluster'])
const START_BUDGET_MS = 120_000
const BIN = resolve('bin/portcullis.js')
const NODE_ID = 'node-1'

interface Start { listeningMs: number; rssMiB: number }

function startOnce(dir: string): Promise<Start> {
  const config = join(dir, 'bench.yaml')
  writeFileSync(config, [
    'listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]',
    'authentication: { allowAnonymous: true }',
    `dataDir: ${dir}`,
    ...(CLUSTER ? [`cluster: { redis: { path: ${JSON.stringify(redisSocket(dir))} }, nodeId: ${NODE_ID} }`] : []),
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

/** Cluster: a node SIGKILLed leaves its liveness key for NODE_DEAD_AFTER_MS; its next start would wait that out. */
const afterKill = (): Promise<void> => new Promise((r) => setTimeout(r, CLUSTER ? NODE_DEAD_AFTER_MS + 500 : 0))

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const empty = mkdtempSync(join(tmpdir(), 'portcullis-startup-empty-'))
  const full = mkdtempSync(join(tmpdir(), 'portcullis-startup-full-'))
  const redis = CLUSTER ? await Promise.all([startRedis(empty), startRedis(full)]) : []
  try {
    const t0 = performance.now()
    if (CLUSTER) await writeRedisSessions(redisSocket(full), NODE_ID, { count: SESSIONS, queued: QUEUED })
    else await writeStoredSessions(full, { count: SESSIONS, queued: QUEUED })
    const where = CLUSTER ? `Redis, held by ${NODE_ID}` : `state.sqlite ${(statSync(join(full, STATE_DB_FILE)).size / 2 ** 20).toFixed(1)} MiB`
    console.log(`wrote ${SESSIONS.toLocaleString('en')} sessions (1 subscription, ${QUEUED} queued QoS 1 message(s) each) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${where}`)
    const base: Start[] = []
    const loaded: Start[] = []
    for (let r = 0; r < ROUNDS; r++) {
      // alternated, so a change in the machine's load falls on both
      base.push(await startOnce(empty))
      await afterKill()
      loaded.push(await startOnce(full))
      await afterKill()
    }
    const fmt = (xs: Start[]): string =>
      `listening after ${median(xs.map((x) => x.listeningMs)).toFixed(0)} ms (runs: ${xs.map((x) => x.listeningMs.toFixed(0)).join(', ')}), RSS ${median(xs.map((x) => x.rssMiB)).toFixed(0)} MiB`
    console.log(`empty state:                ${fmt(base)}`)
    console.log(`${SESSIONS.toLocaleString('en')} stored sessions: ${fmt(loaded)}`)
  } finally {
    for (const r of redis) r.kill('SIGKILL')
    rmSync(empty, { recursive: true, force: true })
    rmSync(full, { recursive: true, force: true })
  }
}

await main()
