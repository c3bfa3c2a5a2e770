/**
 * Per-device keys at scale: broker CPU per CONNECT with ES256 device tokens when the registry
 * holds 100,000 devices against 10 devices, and against a `type: jwt` authenticator with one
 * public key (what the registry adds over a single key). Each device has its own P-256 key.
 *
 *   npm run build && node --import tsx bench/devices-connect.ts [--devices 100000] [--rounds 3] [--connects 3000]
 *
 * Each broker is a fresh Portcullis process pinned to core 0 (generator on core 1). In the first
 * round it is fed its devices through the admin API's bulk import (timed), then restarted on the
 * same data directory; later rounds start on the stored devices
 * (start-up until every stored key is imported, timed; its RSS against the fresh broker's before
 * the import). The
 * connects are paced at 2,000/s, every one with a distinct token of a distinct device
 * (`lookup: { claim: sub }`, so client ids need not match): a warm-up block, then the measured
 * block; broker CPU comes from /proc/PID/stat. Brokers alternate A B C A B C … over the rounds;
 * medians are printed. Bounded: at most 10 rounds, at most 20,000 connects per block and 200,000
 * devices, every block stops at its deadline. Loopback only.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { mintToken } from '../src/auth/jwt/tools.js'
import { HOST, cpuSeconds, killAll, portIsFree, rssKiB, startBroker, type BrokerSpec, type RunningBroker } from './lib/brokers.js'
import { Generator } from './lib/generator.js'

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    connects: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '2000' },
  },
})
const DEVICES = Math.min(Math.max(Number(values.devices) || 100_000, 100), 200_000)
const ROUNDS = Math.min(Math.max(Number(values.rounds) || 3, 1), 10)
const CONNECTS = Math.min(Math.max(Number(values.connects) || 3000, 100), 20_000)
const RATE = Math.min(Math.max(Number(values.rate) || 2000, 100), 10_000)
const AUDIENCE = 'bench-broker'
const API_KEY = 'bench-admin-key-0123456789abcdef'
const localAddresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`)

function log(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

interface Device { readonly id: string; readonly privateKey: KeyObject; readonly pem: string }

function makeDevices(n: number, prefix: string): Device[] {
  const list: Device[] = []
  for (let i = 0; i < n; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    list.push({ id: `${prefix}${String(i).padStart(6, '0')}`, privateKey, pem: String(publicKey.export({ type: 'spki', format: 'pem' })) })
  }
  return list
}

/** One distinct token per connect, of the devices picked evenly across the registry. */
function tokensFor(devices: readonly Device[], count: number, tag: string): string[] {
  const step = Math.max(1, Math.floor(devices.length / count))
  return Array.from({ length: count }, (_, i) => {
    const d = devices[(i * step) % devices.length]
    return mintToken({ privateKey: d.privateKey, alg: 'ES256', expiresIn: 3600, claims: { aud: AUDIENCE, sub: d.id, jti: `${tag}-${i}` } })
  })
}

const devicesAuth = { type: 'devices', name: 'fleet', from: 'username', lookup: { claim: 'sub' }, claims: { audience: AUDIENCE, maxAge: 3600 } }

interface Variant {
  readonly label: string
  readonly devices: readonly Device[]
  readonly authenticator: Record<string, unknown>
  /** Devices imported through the admin API. */
  readonly register: boolean
}

log(`generating ${DEVICES.toLocaleString('en-US')} P-256 device keys…`)
const t0 = performance.now()
const many = makeDevices(DEVICES, 'dev-')
log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s`)
const few = many.slice(0, 10)
const single = makeDevices(1, 'single-')
const variants: Variant[] = [
  { label: `devices: ${DEVICES.toLocaleString('en-US')} registered`, devices: many, authenticator: devicesAuth, register: true },
  { label: 'devices: 10 registered', devices: few, authenticator: devicesAuth, register: true },
  {
    label: 'jwt: one public key (no registry)', devices: single, register: false,
    authenticator: { type: 'jwt', name: 'one-key', from: 'username', algorithm: 'public-key', publicKey: single[0].pem, verifiedTokenCache: 0, claims: { audience: AUDIENCE, maxAge: 3600 } },
  },
]

const tmp = mkdtempSync(join(tmpdir(), 'portcullis-bench-devices-'))
const gen = new Generator(1)
let port = 42_000 + Math.floor(Math.random() * 5_000)

async function freePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    port += 2
    if (await portIsFree(port) && await portIsFree(port + 1000)) return port
  }
  throw new Error('no free port pair found')
}

async function api(adminPort: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://${HOST}:${adminPort}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(900_000),
  })
  return { status: res.status, body: await res.json().catch(() => undefined) }
}

interface Setup { importMs?: number; rssPerDeviceBytes?: number; restartMs?: number }

/** A broker for the variant with its devices registered and stored, restarted once on its data. */
async function brokerFor(v: Variant, round: number): Promise<{ broker: RunningBroker; setup: Setup }> {
  const p = await freePort()
  // One data directory per variant: the first round imports, later rounds start on the stored devices.
  const dataDir = join(tmp, `data-${v.label.replace(/[^a-z0-9]+/gi, '_')}`)
  const spec: BrokerSpec = {
    label: v.label, kind: 'portcullis',
    portcullisConfig: {
      dataDir,
      admin: { host: HOST, port: p + 1000, apiKey: API_KEY },
      authentication: { allowAnonymous: false, authenticators: [v.authenticator] },
    },
  }
  const opts = { tmpDir: tmp, brokerCpu: '0', portcullisNodeFlags: [], mosquittoPath: '/usr/sbin/mosquitto' }
  let broker = await startBroker(spec, p, opts)
  if (!v.register || round > 0) {
    if (v.register) await importsDone(p)
    return { broker, setup: {} }
  }
  const rss0 = rssKiB(broker.pid)
  const t = performance.now()
  const res = await api(p + 1000, 'POST', '/devices/import', v.devices.map((d) => ({ id: d.id, keys: [{ id: 'k1', pem: d.pem }] })))
  const importMs = performance.now() - t
  if (res.status !== 200) throw new Error(`import answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`)
  await broker.stop()
  const t2 = performance.now()
  broker = await startBroker(spec, p, opts)
  await importsDone(p)
  const restartMs = performance.now() - t2
  // The restarted broker holds the stored devices and nothing else the import left behind.
  await new Promise((r) => setTimeout(r, 1000))
  const rssPerDeviceBytes = ((rssKiB(broker.pid) - rss0) * 1024) / v.devices.length
  return { broker, setup: { importMs, rssPerDeviceBytes, restartMs } }
}

/** Listening; then the stored keys are imported in the background: wait until done. */
async function importsDone(p: number): Promise<void> {
  for (const deadline = Date.now() + 600_000; ;) {
    const page = await api(p + 1000, 'GET', '/devices?limit=1')
    if ((page.body as { pendingImport?: number } | undefined)?.pendingImport === 0) return
    if (Date.now() > deadline) throw new Error('device keys still importing after 600 s')
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function block(
  broker: RunningBroker, tokens: string[], idPrefix: string, paced: boolean,
): Promise<{ ok: number; failed: number; usPerConnect: number; firstError?: string }> {
  const b0 = cpuSeconds(broker.pid)
  const r = await gen.connect({
    host: HOST, port: broker.port, count: tokens.length, concurrency: 20, deadline: Date.now() + 60_000, idPrefix,
    localAddresses, tokens, hold: false, ...(paced ? { rate: RATE } : {}),
  })
  await new Promise((res) => setTimeout(res, 100))
  const cpu = cpuSeconds(broker.pid) - b0
  return { ...r, usPerConnect: (cpu / Math.max(1, r.ok)) * 1e6 }
}

const results = new Map<string, { us: number[]; setup: Setup[] }>()
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) {
      // Other programs on this shared machine may take a port between the check and the listen: retry.
      let started: Awaited<ReturnType<typeof brokerFor>> | undefined
      for (let attempt = 1; started === undefined; attempt++) {
        try {
          started = await brokerFor(v, round)
        } catch (err) {
          if (attempt >= 3 || !/in use/.test((err as Error).message)) throw err
        }
      }
      const { broker, setup } = started
      try {
        await block(broker, tokensFor(v.devices, Math.min(1000, CONNECTS), `warm${round}`), 'warm-', false)
        const r = await block(broker, tokensFor(v.devices, CONNECTS, `run${round}`), 'run-', true)
        if (r.failed > 0 || r.ok < CONNECTS) throw new Error(`${v.label}: ${r.ok} connects ok, ${r.failed} failed (${r.firstError ?? '?'})`)
        const entry = results.get(v.label) ?? { us: [], setup: [] }
        entry.us.push(r.usPerConnect)
        entry.setup.push(setup)
        results.set(v.label, entry)
        log(`round ${round + 1} ${v.label}: ${r.usPerConnect.toFixed(1)} µs/connect` +
          (setup.importMs !== undefined ? `; import ${(setup.importMs / 1000).toFixed(2)} s, ~${Math.round(setup.rssPerDeviceBytes ?? 0)} B RSS/device, restart ${(setup.restartMs! / 1000).toFixed(2)} s` : ''))
      } finally {
        await broker.stop()
      }
    }
  }
} finally {
  await gen.close()
  killAll()
  rmSync(tmp, { recursive: true, force: true })
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const base = median(results.get('devices: 10 registered')?.us ?? [NaN])
console.log(`\nBroker CPU per CONNECT, ES256 device tokens paced at ${RATE}/s, ${CONNECTS} connects per block, median of ${ROUNDS} round(s) (shared machine: noisy)`)
console.log('| broker | µs/connect (median) | rounds | vs 10 devices | bulk import | RSS per device | start with stored devices |')
console.log('|---|---|---|---|---|---|---|')
for (const [label, r] of results) {
  const m = median(r.us)
  const s = r.setup.filter((x) => x.importMs !== undefined)
  const cell = (f: (x: Setup) => number, fmt: (n: number) => string): string => (s.length > 0 ? fmt(median(s.map(f))) : '—')
  console.log(`| ${label} | ${m.toFixed(1)} | ${r.us.map((x) => x.toFixed(0)).join(', ')} | ${(m / base).toFixed(2)}× | ${cell((x) => x.importMs!, (n) => `${(n / 1000).toFixed(2)} s`)} | ${cell((x) => x.rssPerDeviceBytes!, (n) => `${Math.round(n)} B`)} | ${cell((x) => x.restartMs!, (n) => `${(n / 1000).toFixed(2)} s`)} |`)
}
