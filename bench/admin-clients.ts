/**
 * GET /api/v1/clients with 100,000 clients (issue 17 item 12): what one page costs the broker.
 *
 *   npm run build && node --import tsx bench/admin-clients.ts [--sessions 100000] [--connected 1000] [--requests 200]
 *
 * The broker holds `--sessions` offline persistent sessions — written into its data directory
 * before it starts (bench/lib/stored-sessions.ts; each with one subscription and a different
 * last address) — and `--connected` clients held connected by the generator (anonymous MQTT
 * 3.1.1 over loopback). It runs as its own process pinned to core 0; this process (pinned to
 * core 1) sends each kind of request `--requests` times in sequence over one keep-alive
 * connection, after 20 of warm-up, and reports the latency (median, p99, as this process sees
 * it, the whole answer read) and the broker's CPU per request (/proc/PID/stat utime+stime over
 * the block ÷ requests). GET /stats is the baseline: what any small API request costs. The
 * whole list (no `limit`) is asked 3 times only.
 *
 * Bounded: at most 200,000 sessions, 5,000 connected clients, 2,000 requests a kind; every block
 * stops at its deadline (120 s); loopback only.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchOptions } from './lib/options.js'
import { HOST, killAll, portIsFree, rssKiB, startBroker, type RunningBroker } from './lib/brokers.js'
import {
  BENCH_API_KEY, WHOLE_CLIENT_LIST, adminGet, clientListKinds, distinctAddress, measureAdminRequests, pinToCoreOne, type AdminRequestKind,
} from './lib/admin-requests.js'
import { Generator } from './lib/generator.js'
import { writeStoredSessions } from './lib/stored-sessions.js'

const { sessions: SESSIONS, connected: CONNECTED, requests: REQUESTS } = benchOptions({
  sessions: [100_000, 100, 200_000], connected: [1_000, 0, 5_000], requests: [200, 10, 2_000],
})
const API_KEY = BENCH_API_KEY
const localAddresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`)

function log(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

const idOf = (i: number): string => `device-${String(i).padStart(6, '0')}`


const mid = Math.floor(SESSIONS / 2)
const kinds: AdminRequestKind[] = [
  ...clientListKinds(REQUESTS, idOf, mid),
  { label: 'connected clients only, page of 50', path: '/clients?state=connected&limit=50', requests: REQUESTS },
  WHOLE_CLIENT_LIST,
]

async function main(): Promise<void> {
  pinToCoreOne(log)
  const tmp = mkdtempSync(join(tmpdir(), 'portcullis-bench-admin-clients-'))
  const gen = new Generator(1)
  let broker: RunningBroker | undefined
  try {
    const dataDir = join(tmp, 'data')
    const t0 = performance.now()
    await writeStoredSessions(dataDir, { count: SESSIONS, clientId: idOf, address: distinctAddress })
    log(`wrote ${SESSIONS.toLocaleString('en-US')} offline sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    let port = 43_000 + Math.floor(Math.random() * 5_000)
    while (!(await portIsFree(port)) || !(await portIsFree(port + 1000))) port += 2
    const t1 = performance.now()
    broker = await startBroker({
      label: 'portcullis', kind: 'portcullis',
      portcullisConfig: { dataDir, persistence: { sessions: true, retained: false }, admin: { host: HOST, port: port + 1000, apiKey: API_KEY } },
    }, port, { tmpDir: tmp, brokerCpu: '0', portcullisNodeFlags: [], mosquittoPath: '/usr/sbin/mosquitto', startTimeoutMs: 180_000 })
    log(`broker listening after ${((performance.now() - t1) / 1000).toFixed(1)} s`)
    if (CONNECTED > 0) {
      const r = await gen.connect({ host: HOST, port, count: CONNECTED, concurrency: 20, deadline: Date.now() + 120_000, idPrefix: 'live-', localAddresses, hold: true })
      if (r.ok < CONNECTED) throw new Error(`${r.ok} of ${CONNECTED} clients connected (${r.firstError ?? '?'})`)
    }
    const total = (await adminGet(port + 1000, API_KEY, '/stats')).body as { sessions: number; connections: { current: number } }
    log(`broker holds ${total.sessions.toLocaleString('en-US')} sessions, ${total.connections.current.toLocaleString('en-US')} connected; RSS ${(rssKiB(broker.pid) / 1024).toFixed(0)} MiB`)
    console.log(`GET /api/v1/clients, ${total.sessions.toLocaleString('en-US')} sessions (${total.connections.current.toLocaleString('en-US')} connected), ` +
      `broker on core 0, requests in sequence from core 1:`)
    for (const kind of kinds) {
      console.log(await measureAdminRequests(port + 1000, API_KEY, kind, new Map([['broker', broker.pid]])))
      const gone = broker.exitInfo()
      if (gone !== undefined) throw new Error(gone)
    }
  } finally {
    await gen.release().catch(() => {})
    await gen.close()
    await broker?.stop()
    killAll()
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
