/**
 * GET /api/v1/clients in a cluster (issue 13 item 6): what one page costs when the clients are
 * spread over several nodes — the node asked, every other node, and Redis.
 *
 *   npm run build && node --import tsx bench/admin-clients-cluster.ts [--nodes 2] [--sessions 50000] [--requests 100]
 *
 * A redis-server on a unix socket and `--nodes` Portcullis nodes (child processes, all pinned to
 * core 0; this process on core 1). Each node holds `--sessions` offline persistent sessions,
 * written into Redis as that node before it starts (bench/lib/stored-sessions.ts; ids
 * interleaved across the nodes, each with one subscription and a different last address). The
 * requests go to the first node's admin API, each kind `--requests` times in sequence; the
 * answer is the CPU per request of every node and of Redis (/proc/PID/stat over the block).
 *
 * Bounded: at most 4 nodes, 200,000 sessions a node, 1,000 requests a kind; every block stops at
 * its deadline (120 s); loopback only.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchOptions } from './lib/options.js'
import { HOST, killAll, portIsFree, rssKiB, startBroker, type RunningBroker } from './lib/brokers.js'
import {
  BENCH_API_KEY, WHOLE_CLIENT_LIST, adminGet, clientListKinds, distinctAddress, measureAdminRequests, pinToCoreOne, type AdminRequestKind,
} from './lib/admin-requests.js'
import { redisSocket, startRedis } from './lib/redis-server.js'
import { writeRedisSessions } from './lib/stored-sessions.js'

const { nodes: NODES, sessions: SESSIONS, requests: REQUESTS } = benchOptions({
  nodes: [2, 1, 4], sessions: [50_000, 100, 200_000], requests: [100, 10, 1_000],
})
const API_KEY = BENCH_API_KEY

function log(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

/** Session k of node n: ids interleaved across the nodes (a page by id holds every node's). */
const idOf = (global: number): string => `device-${String(global).padStart(7, '0')}`
const total = NODES * SESSIONS
const mid = Math.floor(total / 2)
const otherNodesSession = idOf(NODES > 1 ? 1 : 0)

const kinds: AdminRequestKind[] = [
  ...clientListKinds(REQUESTS, idOf, mid),
  { label: 'one client held by another node (GET /clients/:id)', path: `/clients/${otherNodesSession}`, requests: REQUESTS },
  WHOLE_CLIENT_LIST,
]

async function main(): Promise<void> {
  pinToCoreOne(log)
  const load = loadavg()[0]
  const tmp = mkdtempSync(join(tmpdir(), 'portcullis-bench-admin-clients-cluster-'))
  const redis = await startRedis(tmp)
  const nodes: RunningBroker[] = []
  try {
    let port = 43_000 + Math.floor(Math.random() * 5_000)
    for (let n = 0; n < NODES; n++) {
      const nodeId = `node-${n + 1}`
      const t0 = performance.now()
      // Written as that node just before it starts: a node that starts takes every session no live node holds.
      await writeRedisSessions(redisSocket(tmp), nodeId, {
        count: SESSIONS, clientId: (k) => idOf(k * NODES + n), address: (k) => distinctAddress(k * NODES + n),
      })
      log(`${nodeId}: wrote ${SESSIONS.toLocaleString('en-US')} offline sessions into Redis in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      while (!(await portIsFree(port)) || !(await portIsFree(port + 1000))) port += 2
      const t1 = performance.now()
      nodes.push(await startBroker({
        label: nodeId, kind: 'portcullis',
        portcullisConfig: {
          dataDir: join(tmp, nodeId), persistence: true, cluster: { redis: { path: redisSocket(tmp) }, nodeId },
          admin: { host: HOST, port: port + 1000, apiKey: API_KEY },
        },
      }, port, { tmpDir: tmp, brokerCpu: '0', portcullisNodeFlags: [], mosquittoPath: '', startTimeoutMs: 900_000 }))
      log(`${nodeId}: listening after ${((performance.now() - t1) / 1000).toFixed(1)} s; RSS ${(rssKiB(nodes[n].pid) / 1024).toFixed(0)} MiB`)
      port += 2
    }
    const asked = nodes[0]
    const adminPort = asked.port + 1000
    const held = (await adminGet(adminPort, API_KEY, '/stats')).body as { sessions: number }
    log(`node-1 holds ${held.sessions.toLocaleString('en-US')} sessions`)
    const pids = new Map<string, number>([...nodes.map((b) => [b.spec.label, b.pid] as const), ['redis', redis.pid as number]])
    console.log(`GET /api/v1/clients asked of node-1: ${NODES} nodes × ${SESSIONS.toLocaleString('en-US')} offline sessions, ` +
      `nodes on core 0, requests in sequence from core 1; load average ${load.toFixed(2)} at the start:`)
    for (const kind of kinds) {
      console.log(await measureAdminRequests(adminPort, API_KEY, kind, pids))
      for (const b of nodes) {
        const gone = b.exitInfo()
        if (gone !== undefined) throw new Error(gone)
      }
    }
  } finally {
    for (const b of nodes) await b.stop()
    killAll()
    redis.kill('SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
