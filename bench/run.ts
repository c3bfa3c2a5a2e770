/**
 * Benchmark harness: Portcullis against Mosquitto and Aedes (issue #5).
 *
 *   npm run build && npm run bench [-- options]
 *
 *   --quick                 smoke run (small counts, 1 round); asserts only that every scenario ran and
 *                           no QoS 1 message was lost — never speed
 *   --only a,b              scenario ids (fanin-qos0, fanin-qos1, fanin-qos1-durable, offline-queue, fanout-qos0, fixed-rate-qos0,
 *                           fixed-rate-qos1, fleet, connect,
 *                           connect-hs256, connect-rs256, connect-es256, connect-eddsa,
 *                           connect-es256-reconnect, connect-services, memory-10k, idle-memory,
 *                           memory-100k, storm-memory, authz-1000, authz-1000-acl; over TLS: connect-tls13,
 *                           connect-tls13-resumed, connect-tls12, fixed-rate-qos1-tls, idle-memory-tls)
 *   --brokers a,b           portcullis,mosquitto,aedes,node-floor (default: all four; node-floor — a bare node:net server
 *                           that answers one CONNECT — runs only in connect, idle-memory, memory-N and storm-memory, as
 *                           the floor under any Node broker; with it the relay floor — a bare node:net relay of PUBLISH
 *                           packets, bench/peers/node-relay-floor.mjs — runs in fixed-rate-qos0/1, fleet and fixed-rate-qos1-tls)
 *   --rounds N              rounds per scenario (default 5; --quick: 1); brokers alternate A B C A B C …
 *   --workers N             generator worker threads (default 1)
 *   --broker-cpu C          CPU list for the broker (default 0); --gen-cpu C for the generator (default 1)
 *   --cpu-prof DIR          run Portcullis with node --cpu-prof, profiles written to DIR
 *   --node-flags="F …"      extra node flags for Portcullis (e.g. --node-flags="--trace-gc --perf-basic-prof"; with the
 *                           `=`: a value that starts with a dash is refused as a separate word)
 *   --broker-out DIR        Portcullis's stdout (e.g. --trace-gc lines) to DIR/<run>.log
 *   --baseline DIR          also run the Portcullis build in DIR (another checkout, `npm run build` done there)
 *                           as `portcullis-baseline`, beside `portcullis` in every scenario that runs it: a
 *                           before/after pair measured in the same rounds
 *   --variant="F …"         also run this build with these node flags (e.g. "--max-semi-space-size=4") and limits
 *                           (limits.NAME=N; several variants separated by `;`) as
 *                           `portcullis (F …)`, beside `portcullis` in every scenario that runs it, same rounds
 *   --idle-connections N    connections idle-memory holds (default 10,000; --quick: 1,000)
 *   --out FILE              JSON output (default bench/results/bench-<time>.json)
 *
 * Broker CPU per operation (utime+stime from /proc/PID/stat, every thread) is the main figure;
 * throughput is printed beside it with the generator's own CPU, flagged above 85% of a core.
 * Exit status 1 when a Portcullis run failed, Portcullis lost a QoS 1 message whose PUBACK the
 * publisher received, or a scenario had no run. Peers (Mosquitto, Aedes) that fail, hit a time
 * bound or lose messages are reported as figures, not counted: the status is about Portcullis.
 * A QoS 1 message never acknowledged by the time bound is not a loss (nothing was promised).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, mintToken } from '../src/auth/jwt/tools.js'
import { CLK_TCK, ROOT, hardFileLimit, killAll, portIsFree, startBroker, type BrokerSpec } from './lib/brokers.js'
import { Generator } from './lib/generator.js'
import { rawVerifyMicros } from './lib/raw-verify.js'
import { outcome, renderMarkdown, summarise, type RunRecord } from './lib/report.js'
import { tlsScenarios } from './lib/tls-scenarios.js'
import { FULL, JWT_ALGS, QUICK, TOKEN_CONNECT_RATE, jwtMaterial, scenarios, serviceMaterial, type Ctx, type Measurement } from './lib/scenarios.js'
import { startBenchAuthService, type BenchAuthService } from './lib/auth-services.js'
import { parseCommandLine } from './lib/options.js'

const { values } = parseCommandLine({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    brokers: { type: 'string', default: 'portcullis,mosquitto,aedes,node-floor' },
    rounds: { type: 'string' },
    workers: { type: 'string', default: '1' },
    'broker-cpu': { type: 'string', default: '0' },
    'gen-cpu': { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string' },
    'broker-out': { type: 'string' },
    baseline: { type: 'string' },
    variant: { type: 'string' },
    out: { type: 'string' },
    mosquitto: { type: 'string', default: '/usr/sbin/mosquitto' },
    'idle-connections': { type: 'string' },
  },
})

const quick = values.quick === true
const idleConnections = values['idle-connections'] !== undefined ? Math.min(Math.max(Number(values['idle-connections']) || 0, 1), 1_000_000) : undefined
const sizes = { ...(quick ? QUICK : FULL), ...(idleConnections !== undefined ? { idleConnections } : {}) }
const rounds = Math.min(Math.max(Number(values.rounds ?? (quick ? 1 : 5)) || 1, 1), 50)
const workers = Math.min(Math.max(Number(values.workers) || 1, 1), 16)
const kinds = values.brokers.split(',').map((s) => s.trim()).filter(Boolean)
for (const k of kinds) if (!['portcullis', 'mosquitto', 'aedes', 'node-floor'].includes(k)) throw new Error(`--brokers: unknown broker '${k}'`)
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean)

function log(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

// Pin the generator (every thread of this process; workers created later inherit it).
const cores = availableParallelism()
let pinned = false
if (cores >= 2) {
  try {
    execFileSync('taskset', ['-a', '-pc', values['gen-cpu'], String(process.pid)], { stdio: 'ignore' })
    pinned = true
  } catch {
    log('warning: taskset failed; generator not pinned')
  }
} else log('warning: fewer than 2 CPUs; broker and generator share a core')
const brokerCpu = cores >= 2 ? values['broker-cpu'] : '0'

if (kinds.includes('portcullis') && !existsSync(join(ROOT, 'dist/cli/main.js'))) {
  throw new Error('dist/ is missing: run `npm run build` first')
}
if (kinds.includes('mosquitto') && !existsSync(values.mosquitto)) throw new Error(`mosquitto not found at ${values.mosquitto}`)

if (values.baseline !== undefined && !existsSync(join(values.baseline, 'dist/cli/main.js'))) throw new Error(`--baseline: no build in ${values.baseline} (run npm run build there)`)
/** With --baseline, the baseline build runs right after Portcullis, same configuration. */
function withBaseline(specs: BrokerSpec[]): BrokerSpec[] {
  const root = values.baseline
  if (root === undefined) return specs
  // (the durable scenarios' two Portcullis brokers get a baseline each: 'portcullis-baseline (persistence)' …)
  const paired = (label: string): boolean => label === 'portcullis' || label === 'portcullis (memory only)' || label === 'portcullis (persistence)'
  return specs.flatMap((s) => (paired(s.label) ? [s, { ...s, label: s.label.replace(/^portcullis/, 'portcullis-baseline'), root }] : [s]))
}

/**
 * --variant: one or more variants separated by `;`, each of node flags (`--…`) and Portcullis limits
 * (`limits.NAME=N`, over the bench's own), e.g. "--max-semi-space-size=1; limits.maxInflight=65535".
 */
const variants = (values.variant ?? '').split(';').map((v) => v.split(/\s+/).filter(Boolean)).filter((w) => w.length > 0).map((words) => {
  const limits: Record<string, number> = {}
  for (const w of words.filter((x) => !x.startsWith('--'))) {
    const m = /^limits\.([A-Za-z]+)=(\d+)$/.exec(w)
    if (m === null) throw new Error(`--variant: '${w}' is neither a node flag (--…) nor limits.NAME=N`)
    limits[m[1]] = Number(m[2])
  }
  return { label: `portcullis (${words.join(' ')})`, nodeFlags: words.filter((x) => x.startsWith('--')), limits }
})
/** With --variant, this build with those node flags (and limits) runs right after Portcullis, same configuration otherwise. */
function withVariant(specs: BrokerSpec[]): BrokerSpec[] {
  if (variants.length === 0) return specs
  return specs.flatMap((s) => (s.label === 'portcullis'
    ? [s, ...variants.map((v) => ({
        ...s, label: v.label, nodeFlags: v.nodeFlags,
        ...(Object.keys(v.limits).length > 0 ? { portcullisConfig: { ...s.portcullisConfig, limits: v.limits } } : {}),
      }))]
    : [s]))
}

const all = [...scenarios(sizes), ...tlsScenarios(sizes, quick)]
if (only !== undefined) {
  for (const id of only) if (!all.some((s) => s.id === id)) throw new Error(`--only: unknown scenario '${id}' (known: ${all.map((s) => s.id).join(', ')})`)
}
const selected = all.filter((s) => only === undefined || only.includes(s.id))

// Tokens for the connect-<alg> scenarios: one distinct token per connection so no signature cache helps.
const tokenScenarios = selected.filter((s) => s.id.startsWith('connect-'))
if (tokenScenarios.length > 0 && kinds.includes('portcullis')) {
  // the token warm-up (twice connectWarm), then the measured block
  const poolSize = 2 * sizes.connectWarm + sizes.connectCount
  for (const alg of JWT_ALGS) {
    const id = `connect-${alg.toLowerCase()}`
    if (!tokenScenarios.some((s) => s.id === id || s.id.startsWith(`${id}-`))) continue
    const pair = generateKeyPair(alg)
    const authenticator: Record<string, unknown> = alg === 'HS256'
      ? { type: 'jwt', name: `bench-${alg}`, algorithm: 'hmac-based', secret: pair.secret, secretBase64: true, algorithms: [alg] }
      : { type: 'jwt', name: `bench-${alg}`, algorithm: 'public-key', publicKey: pair.publicPem, algorithms: [alg] }
    const privateKey = alg === 'HS256' ? Buffer.from(pair.secret!, 'base64url') : pair.privatePem!
    const tokens = Array.from({ length: poolSize }, (_, i) => mintToken({ privateKey, alg, sub: `bench-${i}`, expiresIn: '2h' }))
    // Raw verification first, while nothing else runs.
    const rawVerifyUs = rawVerifyMicros(alg, pair, tokens, quick ? 2 : 5, quick ? 100 : 1_000)
    const coldVerifyUs = rawVerifyMicros(alg, pair, tokens, quick ? 2 : 5, quick ? 100 : 1_000, { touchBytes: 2 << 20 })
    const pacedVerifyUs = rawVerifyMicros(alg, pair, tokens, quick ? 2 : 5, quick ? 100 : 1_000, { sleepMicros: 1e6 / TOKEN_CONNECT_RATE })
    jwtMaterial.set(alg, { authenticator, tokens, rawVerifyUs, coldVerifyUs, pacedVerifyUs, bareKey: alg === 'HS256' ? pair.secret! : pair.publicPem! })
    log(`[${alg}] raw verification (node:crypto, prepared key): hot loop ${rawVerifyUs.toFixed(1)} µs; with 2 MiB touched between verifications ${coldVerifyUs.toFixed(1)} µs; one per ${1e6 / TOKEN_CONNECT_RATE} µs (the token scenarios' pace, thread asleep between) ${pacedVerifyUs.toFixed(1)} µs`)
  }
}

// connect-services: its loopback services and tokens (distinct per connection, as for connect-<alg>).
let authService: BenchAuthService | undefined
if (selected.some((s) => s.id === 'connect-services') && kinds.includes('portcullis')) {
  authService = await startBenchAuthService()
  const poolSize = 2 * sizes.connectWarm + sizes.connectCount
  const pair = generateKeyPair('HS256')
  const hsKey = Buffer.from(pair.secret!, 'base64url')
  serviceMaterial.value = {
    introspectionUrl: authService.introspectionUrl, httpUrl: authService.httpUrl, hsSecret: pair.secret!,
    hsTokens: Array.from({ length: poolSize }, (_, i) => mintToken({ privateKey: hsKey, alg: 'HS256', sub: `bench-${i}`, expiresIn: '2h' })),
    opaque: Array.from({ length: poolSize }, () => randomBytes(24).toString('base64url')),
  }
}

const localAddresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`)
const tmpDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
const gen = new Generator(workers)
const ctx: Ctx = { gen, sizes, localAddresses, quick, hardFileLimit: hardFileLimit() }
const portcullisNodeFlags = [
  ...(values['cpu-prof'] !== undefined ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : []),
  ...(values['node-flags']?.split(/\s+/).filter(Boolean) ?? []),
]
if (values['broker-out'] !== undefined) mkdirSync(values['broker-out'], { recursive: true })

process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.exit(130) })

const records: RunRecord[] = []
const skipped: { id: string; reason: string }[] = []
let port = 18830
const started = Date.now()

for (const sc of selected) {
  const reason = sc.skip?.(ctx)
  const specs: BrokerSpec[] = withVariant(withBaseline(sc.specs(kinds)))
  if (reason !== undefined) { skipped.push({ id: sc.id, reason }); log(`[${sc.id}] skipped: ${reason}`); continue }
  if (specs.length === 0) { skipped.push({ id: sc.id, reason: 'no selected broker runs it' }); continue }
  let unsupported: string | undefined
  for (let round = 1; round <= rounds && unsupported === undefined; round++) {
    for (const spec of specs) {
      do port = port >= 18990 ? 18830 : port + 1
      while (!(await portIsFree(port)))
      let m: Measurement
      const t0 = Date.now()
      try {
        const broker = await startBroker(spec, port, { tmpDir, brokerCpu, portcullisNodeFlags, mosquittoPath: values.mosquitto, ...(values['broker-out'] !== undefined ? { stdoutDir: values['broker-out'] } : {}) })
        try {
          m = await sc.run(ctx, broker)
        } catch (err) {
          throw new Error(broker.exitInfo() ?? (err as Error).message)
        } finally {
          gen.stop()
          await broker.stop()
        }
      } catch (err) {
        const msg = (err as Error).message
        if (sc.unsupported?.(msg) === true) { unsupported = msg; break }
        m = { ok: false, error: msg, ops: 0, seconds: 0, brokerCpuSeconds: 0, flags: [] }
        // Workers may hold clients from a failed setup; drop them.
        await gen.teardown().catch(() => undefined)
        await gen.release().catch(() => undefined)
      }
      records.push({ scenario: sc.id, broker: spec.label, round, ...m })
      const main = m[sc.main]
      log(`[${sc.id}] round ${round} ${spec.label}: ${m.ok ? '' : `FAILED (${m.error}) `}${main !== undefined ? `${main.toFixed(2)} ${sc.unit}` : ''}` +
        `${m.throughput !== undefined ? `, ${Math.round(m.throughput)}/s` : ''}${m.genCpu !== undefined ? `, gen ${(m.genCpu * 100).toFixed(0)}%` : ''}` +
        `${m.flags.length > 0 ? ` [${m.flags.join('; ')}]` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
    }
  }
  if (unsupported !== undefined) {
    skipped.push({ id: sc.id, reason: `not supported by this build: ${unsupported.slice(0, 200)}` })
    log(`[${sc.id}] skipped: not supported by this build`)
  }
}

await gen.close()
if (authService !== undefined) log(`[connect-services] the loopback services answered ${authService.requests()} requests`)
await authService?.close()
rmSync(tmpDir, { recursive: true, force: true })

const env = {
  date: new Date().toISOString(), node: process.version, cores, clkTck: CLK_TCK, pinned, brokerCpu, genCpu: values['gen-cpu'],
  workers, rounds, quick, hardFileLimit: ctx.hardFileLimit, seconds: (Date.now() - started) / 1000,
  mosquitto: kinds.includes('mosquitto') ? spawnSync(values.mosquitto, ['-h']).stdout.toString().split('\n')[0]?.trim() : undefined,
}
const summary = summarise(selected, records)
const report = { env, sizes, skipped, summary, records }
const resultsDir = join(ROOT, 'bench/results')
mkdirSync(resultsDir, { recursive: true })
const out = values.out ?? join(resultsDir, `bench-${env.date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`)
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)
const md = renderMarkdown(env, selected, summary, skipped)
// latest.md belongs to runs that write into bench/results (an --out elsewhere leaves it alone).
if (values.out === undefined) writeFileSync(join(resultsDir, 'latest.md'), md)
process.stdout.write(md)
log(`\nJSON: ${out}\nMarkdown: ${join(resultsDir, 'latest.md')}\ntotal ${env.seconds.toFixed(1)} s`)

const { failed, lostQos1, peerFailed, peerLost } = outcome(records)
if (peerFailed > 0 || peerLost > 0) {
  log(`peers (reported, not failing the run): ${peerFailed} run(s) failed, ${peerLost} acknowledged QoS 1 message(s) lost`)
}
const scenariosWithoutRuns = selected.filter((s) => !skipped.some((k) => k.id === s.id) && !records.some((r) => r.scenario === s.id))
if (failed > 0 || lostQos1 > 0 || scenariosWithoutRuns.length > 0) {
  log(`FAILED: ${failed} Portcullis run(s) failed, ${lostQos1} acknowledged QoS 1 message(s) lost by Portcullis${scenariosWithoutRuns.length > 0 ? `, no run for ${scenariosWithoutRuns.map((s) => s.id).join(', ')}` : ''}`)
  process.exitCode = 1
}
