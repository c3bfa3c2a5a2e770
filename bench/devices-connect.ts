/**
 * Per-device keys at scale: broker CPU per CONNECT with ES256 device tokens when the registry
 * holds 100,000 devices against 10 devices, and against a `type: jwt` authenticator with one
 * public key (what the registry adds over a single key). Each device has its own P-256 key.
 *
 *   npm run build && node --import tsx bench/devices-connect.ts [--devices 100000] [--rounds 3] [--connects 3000] [--rate 2000] [--hot N]
 *
 *   --rate: the pace of the "first" and "again" blocks, connects per second (100–10,000);
 *   --hot N: diagnosis only, every block connects the first N devices of the registry (0: off).
 *
 * Keys are derived, not generated: device i's private scalar is SHA-256("portcullis-bench-device/" + i)
 * and its public point is computed with one ECDH (~40 µs, against ~1.5 ms for generateKeyPairSync),
 * so 100,000 devices cost seconds and every run registers the same keys. A private KeyObject is
 * made only for the devices whose tokens are minted.
 *
 * Each broker is a fresh Portcullis process pinned to core 0 (generator on core 1), started with a
 * memory probe (two full GCs, then process.memoryUsage()). In the first round it is fed its
 * devices (public JWKs) through the admin API's bulk import (timed), then restarted on the same
 * data directory; later rounds start on the stored devices. Memory per device is the restarted
 * broker's (before any CONNECT) against the fresh broker's before the import, after full GCs:
 * RSS and V8 heap.
 *
 * Blocks per broker, every connect a distinct token of a distinct device (`lookup: { claim: sub }`,
 * so client ids need not match): a warm-up block as large as a measured one (set A, unpaced, not
 * measured: a shorter one left the next block paying for the JIT), then "first"
 * (set B, paced at 2,000/s: each device's first CONNECT since the broker started), then "again"
 * (set B again, new tokens: each device connects a second time). Broker CPU comes from
 * /proc/PID/stat. Brokers alternate A B C A B C … over the rounds; medians are printed. Bounded: at
 * most 10 rounds, at most 20,000 connects per block and 200,000 devices, every block stops at its
 * deadline. Loopback only.
 */
import { createECDH, createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mintToken } from '../src/auth/jwt/tools.js'
import { HOST, cpuSeconds, killAll, portIsFree, startBroker, type BrokerSpec, type ProbedMemory, type RunningBroker } from './lib/brokers.js'
import { Generator } from './lib/generator.js'
import { benchOptions } from './lib/options.js'

const { devices: DEVICES, rounds: ROUNDS, connects: CONNECTS, rate: RATE, hot } = benchOptions({
  devices: [100_000, 100, 200_000], rounds: [3, 1, 10], connects: [3000, 100, 20_000], rate: [2000, 100, 10_000],
  // Diagnosis: every block connects only the first N devices of the registry (keys kept hot), whatever its size; 0: off.
  hot: [0, 0, 200_000],
})
const WARM = CONNECTS
const HOT = hot === 0 ? undefined : hot
const AUDIENCE = 'bench-broker'
const API_KEY = 'bench-admin-key-0123456789abcdef'
const localAddresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`)

function log(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

interface Device {
  readonly id: string
  /** The public key as a JWK (what is registered). */
  readonly jwk: JsonWebKey
  /** The private key's d, x, y (base64url), made into a KeyObject only when a token is minted. */
  readonly d: string
}

const ecdh = createECDH('prime256v1')

/** Device `i`'s key pair, derived from its index (the same on every run). */
function deriveDevice(i: number, prefix: string): Device {
  for (let attempt = 0; ; attempt++) {
    const d = createHash('sha256').update(`portcullis-bench-device/${prefix}${i}/${attempt}`).digest()
    try {
      ecdh.setPrivateKey(d)
    } catch {
      continue // (a scalar ≥ the curve order: about 1 in 2^32)
    }
    const point = ecdh.getPublicKey()
    const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }
    return { id: `${prefix}${String(i).padStart(6, '0')}`, jwk, d: d.toString('base64url') }
  }
}

function makeDevices(n: number, prefix: string): Device[] {
  return Array.from({ length: n }, (_, i) => deriveDevice(i, prefix))
}

const privateKeys = new Map<string, KeyObject>()
function privateKeyOf(d: Device): KeyObject {
  let key = privateKeys.get(d.id)
  if (key === undefined) {
    key = createPrivateKey({ key: { ...d.jwk, d: d.d }, format: 'jwk' })
    privateKeys.set(d.id, key)
  }
  return key
}

/**
 * The devices of a block: `count` of them picked evenly across the registry, starting at
 * `offset` (set A and set B use different offsets, so they share no device when there are
 * more devices than connects).
 */
function pick(devices: readonly Device[], count: number, offset: number): Device[] {
  const step = Math.max(1, Math.floor(devices.length / count))
  return Array.from({ length: count }, (_, i) => devices[(i * step + offset) % devices.length])
}

/** One distinct token per connect. */
function tokensFor(devices: readonly Device[], tag: string): string[] {
  return devices.map((d, i) => mintToken({ privateKey: privateKeyOf(d), alg: 'ES256', expiresIn: 3600, claims: { aud: AUDIENCE, sub: d.id, jti: `${tag}-${i}` } }))
}

const devicesAuth = { type: 'devices', name: 'fleet', from: 'username', lookup: { claim: 'sub' }, claims: { audience: AUDIENCE, maxAge: 3600 } }

interface Variant {
  readonly label: string
  readonly devices: readonly Device[]
  readonly authenticator: Record<string, unknown>
  /** Devices imported through the admin API. */
  readonly register: boolean
}

log(`deriving ${DEVICES.toLocaleString('en-US')} P-256 device keys…`)
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
    authenticator: {
      type: 'jwt', name: 'one-key', from: 'username', algorithm: 'public-key', verifiedTokenCache: 0, claims: { audience: AUDIENCE, maxAge: 3600 },
      publicKey: String(createPublicKey({ key: single[0].jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' })),
    },
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

interface Setup { importMs?: number; rssPerDevice?: number; heapPerDevice?: number; restartMs?: number }

/** A broker for the variant with its devices registered and stored, restarted once on its data. */
async function brokerFor(v: Variant, round: number): Promise<{ broker: RunningBroker; setup: Setup }> {
  const p = await freePort()
  // One data directory per variant: the first round imports, later rounds start on the stored devices.
  const dataDir = join(tmp, `data-${v.label.replace(/[^a-z0-9]+/gi, '_')}`)
  const spec: BrokerSpec = {
    label: v.label, kind: 'portcullis', memoryProbe: true,
    portcullisConfig: {
      dataDir,
      admin: { host: HOST, port: p + 1000, apiKey: API_KEY },
      authentication: { allowAnonymous: false, authenticators: [v.authenticator] },
    },
  }
  const opts = { tmpDir: tmp, brokerCpu: '0', portcullisNodeFlags: [], mosquittoPath: '/usr/sbin/mosquitto' }
  let broker = await startBroker(spec, p, opts)
  if (!v.register || round > 0) {
    if (v.register) await adminReady(p)
    return { broker, setup: {} }
  }
  const m0 = await broker.probeMemory!()
  const t = performance.now()
  const res = await api(p + 1000, 'POST', '/devices/import', v.devices.map((d) => ({ id: d.id, keys: [{ id: 'k1', jwk: d.jwk }] })))
  const importMs = performance.now() - t
  if (res.status !== 200) throw new Error(`import answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`)
  await broker.stop()
  const t2 = performance.now()
  broker = await startBroker(spec, p, opts)
  await adminReady(p)
  const restartMs = performance.now() - t2
  // The restarted broker holds the stored devices and nothing else the import left behind.
  const m1: ProbedMemory = await broker.probeMemory!()
  return {
    broker,
    setup: { importMs, restartMs, rssPerDevice: (m1.rss - m0.rss) / v.devices.length, heapPerDevice: (m1.heapUsed - m0.heapUsed) / v.devices.length },
  }
}

/** Listening, with the stored devices loaded: the admin API answers a page of them. */
async function adminReady(p: number): Promise<void> {
  for (const deadline = Date.now() + 60_000; ;) {
    const page = await api(p + 1000, 'GET', '/devices?limit=1').catch(() => undefined)
    if (page?.status === 200) return
    if (Date.now() > deadline) throw new Error('the admin API did not answer within 60 s')
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

interface Rounds { first: number[]; again: number[]; setup: Setup[]; devices: number }
const results = new Map<string, Rounds>()
const pool = (v: Variant): readonly Device[] => (HOT === undefined ? v.devices : v.devices.slice(0, HOT))
const setA = (v: Variant): Device[] => pick(pool(v), WARM, 1)
const setB = (v: Variant): Device[] => pick(pool(v), CONNECTS, 0)
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
        const entry = results.get(v.label) ?? { first: [], again: [], setup: [], devices: v.devices.length }
        await block(broker, tokensFor(setA(v), `warm${round}`), 'warm-', false)
        const measured: number[] = []
        for (const phase of ['first', 'again']) {
          const r = await block(broker, tokensFor(setB(v), `${phase}${round}`), `${phase}-`, true)
          if (r.failed > 0 || r.ok < CONNECTS) throw new Error(`${v.label} (${phase}): ${r.ok} connects ok, ${r.failed} failed (${r.firstError ?? '?'})`)
          measured.push(r.usPerConnect)
        }
        entry.first.push(measured[0])
        entry.again.push(measured[1])
        entry.setup.push(setup)
        results.set(v.label, entry)
        log(`round ${round + 1} ${v.label}: first ${measured[0].toFixed(1)} µs/connect, again ${measured[1].toFixed(1)} µs/connect` +
          (setup.importMs !== undefined
            ? `; import ${(setup.importMs / 1000).toFixed(2)} s, ~${Math.round(setup.rssPerDevice ?? 0)} B RSS and ~${Math.round(setup.heapPerDevice ?? 0)} B heap per device at rest, restart ${(setup.restartMs! / 1000).toFixed(2)} s`
            : ''))
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
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const base = median(results.get('devices: 10 registered')?.again ?? [])
console.log(`\nBroker CPU per CONNECT (µs), ES256 device tokens paced at ${RATE}/s, ${CONNECTS} connects per block, median of ${ROUNDS} round(s)${HOT === undefined ? "" : `, only the first ${HOT} devices connect (--hot: diagnosis, not a figure to quote)`}`)
console.log('"first": each device\'s first CONNECT since the broker started; "again": the same devices connecting a second time.')
console.log('| broker | first (median; rounds) | again (median; rounds) | again vs 10 devices | bulk import | RSS / heap per device at rest | start with stored devices |')
console.log('|---|---|---|---|---|---|---|')
for (const [label, r] of results) {
  const s = r.setup.filter((x) => x.importMs !== undefined)
  const cell = (f: (x: Setup) => number, fmt: (n: number) => string): string => (s.length > 0 ? fmt(median(s.map(f))) : '—')
  const series = (xs: number[]): string => `${median(xs).toFixed(1)} (${xs.map((x) => x.toFixed(0)).join(', ')})`
  console.log(`| ${label} | ${series(r.first)} | ${series(r.again)} | ${(median(r.again) / base).toFixed(2)}× | ${cell((x) => x.importMs!, (n) => `${(n / 1000).toFixed(2)} s`)} | ` +
    // (per device over 10 devices is noise)
    `${r.devices < 1000 ? '—' : `${cell((x) => x.rssPerDevice!, (n) => `${Math.round(n)} B`)} / ${cell((x) => x.heapPerDevice!, (n) => `${Math.round(n)} B`)}`} | ` +
    `${cell((x) => x.restartMs!, (n) => `${(n / 1000).toFixed(2)} s`)} |`)
}
