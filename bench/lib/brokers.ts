/**
 * Brokers under test: each run gets a fresh process, pinned to core 0 with taskset, its
 * open-file limit raised as far as the hard limit allows, and its config in a temp dir.
 * CPU and memory come from /proc/PID (utime+stime cover all threads of the process).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { stringify } from 'yaml'
import type { TransportTls } from './jobs.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
export const HOST = '127.0.0.1'

/**
 * `node-tls`: the bare-Node TLS floor (bench/peers/tls-floor.mjs), TLS scenarios only; `node-floor`: the plain one
 * (bench/peers/node-floor-server.mjs, a bare node:net server), the floor under any Node broker; `node-relay`: the
 * floor for message traffic (bench/peers/node-relay-floor.mjs, a bare node:net relay of PUBLISH packets).
 */
export type BrokerKind = 'portcullis' | 'mosquitto' | 'aedes' | 'node-tls' | 'node-floor' | 'node-relay'

export interface BrokerSpec {
  /** Label in the report (portcullis, mosquitto, aedes, node floor, portcullis+1000-policies, …). */
  readonly label: string
  readonly kind: BrokerKind
  /** Portcullis only: extra top-level config merged over the bench defaults. */
  readonly portcullisConfig?: Record<string, unknown>
  /**
   * Portcullis: serve public /metrics on port + 1000 (read by the token connect and message scenarios);
   * the relay floor: serve its event-loop stall gauge there.
   */
  readonly metrics?: boolean
  /**
   * Portcullis only: its chain holds nothing but the bare check of bench/peers/bare-token-check.mjs
   * for tokens of `alg` signed with `key` (base64url secret or public PEM), in the username
   * (bench/peers/portcullis-bare-token.mjs).
   */
  readonly bareJwt?: { readonly alg: string; readonly key: string }
  /** Portcullis only: node flags of its own, after the run's (--variant). */
  readonly nodeFlags?: readonly string[]
  /** Portcullis only: run the build in this checkout (its bin/ and dist/) instead of this one (--baseline). */
  readonly root?: string
  /**
   * Mosquitto only: persistence on (`persistence true` in the run's directory), with its defaults
   * (autosave every 1800 s and at exit) or `autosave_on_changes true` + `autosave_interval 1`.
   */
  readonly mosquittoPersistence?: 'defaults' | 'autosave-on-changes'
  /**
   * Node brokers (Portcullis, Aedes, the node floor): run with --expose-gc and bench/peers/memory-probe.mjs
   * preloaded, so that RunningBroker.probeMemory() can read its memory after a full GC.
   */
  readonly memoryProbe?: boolean
  /**
   * The broker listens over TLS only, with the run's one ECDSA P-256 certificate (benchCertificate);
   * the generator's clients offer `version` and, with `resume`, resume their previous session.
   */
  readonly tls?: TransportTls
}

/** process.memoryUsage() of a broker right after two full garbage collections (bytes). */
export interface ProbedMemory {
  readonly rss: number
  /** V8's heap as committed: what is in use plus room it keeps (a young generation grown by a connect storm). */
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
  /** The same read just before the GCs (heap as the broker holds it, garbage included). */
  readonly asIs?: { readonly rss: number; readonly heapTotal: number; readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number }
}

export interface RunningBroker {
  readonly spec: BrokerSpec
  readonly pid: number
  readonly port: number
  /** Where /metrics is served, when the spec asked for it. */
  readonly metricsUrl?: string
  /** Why the broker process is gone, or undefined while it runs. */
  exitInfo(): string | undefined
  /** Brokers started with `memoryProbe`: collect garbage in the broker and read its memory. */
  probeMemory?(): Promise<ProbedMemory>
  stop(): Promise<void>
}

export interface Options {
  readonly tmpDir: string
  readonly brokerCpu: string
  /** Extra node flags for Portcullis (e.g. --cpu-prof). */
  readonly portcullisNodeFlags: readonly string[]
  readonly mosquittoPath: string
  /** Portcullis only: write its stdout to <stdoutDir>/<run>.log (e.g. --trace-gc lines). */
  readonly stdoutDir?: string
  /** How long the broker may take to listen (default 15 s; a broker loading 100,000 stored sessions takes longer). */
  readonly startTimeoutMs?: number
}

/** utime+stime of the whole process, in seconds. */
export function cpuSeconds(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

/** Resident set size in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1])
}

/** Resident KiB of the C library's main heap (the `[heap]` mapping): what native code malloc'd. */
export function mallocHeapKiB(pid: number): number {
  let kib = 0
  let inHeap = false
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.trimEnd().endsWith('[heap]')
    else if (inHeap && line.startsWith('Rss:')) kib += Number(/(\d+)/.exec(line)?.[1] ?? 0)
  }
  return kib
}

export function hardFileLimit(): number {
  const out = execFileSync('bash', ['-c', 'ulimit -Hn']).toString().trim()
  return out === 'unlimited' ? 1_048_576 : Number(out)
}

/** The run's certificate and key (PEM files): ECDSA P-256, self-signed for 127.0.0.1, made once per run by openssl. */
export interface BenchCertificate { readonly certFile: string; readonly keyFile: string }

/** The one certificate every TLS broker of the run serves (made in `dir` on first use). */
export function benchCertificate(dir: string): BenchCertificate {
  const certFile = join(dir, 'bench-tls-cert.pem')
  const keyFile = join(dir, 'bench-tls-key.pem')
  if (!existsSync(certFile)) {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
  }
  return { certFile, keyFile }
}

function portcullisYaml(port: number, extra: Record<string, unknown> | undefined, tls: BenchCertificate | undefined): string {
  const base: Record<string, unknown> = {
    listeners: [tls === undefined ? { type: 'tcp', host: HOST, port, noDelay: true } : { type: 'tls', host: HOST, port, noDelay: true, cert: tls.certFile, key: tls.keyFile }],
    // BENCH_PORTCULLIS_LOG=info turns its log on (stdout, see --broker-out) for debugging (never for measurements).
    log: { level: process.env['BENCH_PORTCULLIS_LOG'] ?? 'silent' },
    authentication: { allowAnonymous: true },
    authorization: { noMatch: 'allow' },
    // Memory only, as Mosquitto runs here (persistence false); durable scenarios turn it on.
    persistence: false,
    ...extra,
    // Same queue as Mosquitto gets (max_queued_messages below): a QoS 1 subscriber whose window is
    // full while this shared machine deschedules the generator must not lose messages in one
    // broker and not in the other (so no byte limit on it either). Reconnect storms come from
    // one address here, and Mosquitto and Aedes have no connection rate limit.
    // A scenario's or variant's limits (--variant "limits.NAME=N") go over these, not instead of them.
    limits: { sysInterval: 0, maxQueuedMessages: 100_000, maxQueuedBytes: 1 << 30, connectRatePerAddress: 0, ...(extra?.['limits'] as Record<string, unknown> | undefined) },
  }
  return stringify(base)
}

function mosquittoConf(port: number, dir: string, persistence: BrokerSpec['mosquittoPersistence'], tls: BenchCertificate | undefined): string {
  return [
    `listener ${port} ${HOST}`,
    ...(tls !== undefined ? [`certfile ${tls.certFile}`, `keyfile ${tls.keyFile}`] : []),
    'allow_anonymous true',
    // Started as root (as here), Mosquitto switches to the user `mosquitto`, which cannot write the
    // run's directory: its persistence file was never written. `user root` keeps the bench's user
    // (it has no effect when the bench does not run as root).
    ...(persistence === undefined ? ['persistence false'] : ['persistence true', `persistence_location ${dir}/`]),
    // …and it could not read the run's TLS key (0600, in a 0700 temp dir) either.
    ...(persistence !== undefined || tls !== undefined ? ['user root'] : []),
    ...(persistence === 'autosave-on-changes' ? ['autosave_on_changes true', 'autosave_interval 1'] : []),
    // BENCH_MOSQUITTO_LOG=FILE turns Mosquitto's log on for debugging (never for measurements).
    ...(process.env['BENCH_MOSQUITTO_LOG'] !== undefined ? ['log_type all', `log_dest file ${process.env['BENCH_MOSQUITTO_LOG']}`] : ['log_type none', 'log_dest none']),
    'set_tcp_nodelay true',
    'max_connections -1',
    // With the default (1000) Mosquitto 2.0.11 logged "Outgoing messages are being dropped" and lost
    // QoS 1 messages in fan-in even with at most 200 messages outstanding; Portcullis and Aedes
    // drop nothing there. The bench compares CPU per message, not drop policies.
    'max_queued_messages 100000',
    '',
  ].join('\n')
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`broker exited during start-up (code ${child.exitCode})`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: HOST, port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`broker did not listen on ${port} within ${timeoutMs} ms`)
}

let runCounter = 0
const live = new Set<ChildProcess>()
/** Kills every broker still running (the runner calls it on exit and on SIGINT/SIGTERM). */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL')
  live.clear()
}

/** True when nothing accepts connections on the port. */
export async function portIsFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect({ host: HOST, port })
    s.once('connect', () => { s.destroy(); resolve(false) })
    s.once('error', () => resolve(true))
  })
}

/** The key written to `dir`, and portcullis-bare-token.mjs's --jwt-alg / --jwt-key arguments for it. */
function bareJwtArgs(dir: string, jwt: NonNullable<BrokerSpec['bareJwt']>): string[] {
  const keyFile = join(dir, 'jwt-key')
  writeFileSync(keyFile, jwt.key)
  return ['--jwt-alg', jwt.alg, '--jwt-key', keyFile]
}

/** Flags that preload the memory probe into a Node broker (memory-probe.mjs). */
const PROBE_FLAGS = ['--expose-gc', '--import', pathToFileURL(join(ROOT, 'bench/peers/memory-probe.mjs')).href]

/** Ask the probe in `pid` for its memory after GC; waits for the file with the next sequence number. */
async function probeMemory(pid: number, file: string, seq: number): Promise<ProbedMemory> {
  process.kill(pid, 'SIGUSR2')
  const until = Date.now() + 30_000
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100))
    if (!existsSync(file)) continue
    const m = JSON.parse(readFileSync(file, 'utf8')) as ProbedMemory & { seq: number }
    if (m.seq === seq) return m
  }
  throw new Error(`the broker's memory probe did not answer within 30 s (${file})`)
}

export async function startBroker(spec: BrokerSpec, port: number, opts: Options): Promise<RunningBroker> {
  const dir = join(opts.tmpDir, `run-${++runCounter}-${spec.label.replace(/[^a-z0-9]+/gi, '_')}`)
  mkdirSync(dir, { recursive: true })
  const probe = spec.memoryProbe === true && spec.kind !== 'mosquitto' ? join(dir, 'memory.json') : undefined
  const probeFlags = probe !== undefined ? PROBE_FLAGS : []
  const cert = spec.tls !== undefined ? benchCertificate(opts.tmpDir) : undefined
  let argv: string[]
  switch (spec.kind) {
    case 'portcullis': {
      const file = join(dir, 'portcullis.yaml')
      const extra = spec.metrics === true ? { ...spec.portcullisConfig, admin: { host: HOST, port: port + 1000, metricsPublic: true } } : spec.portcullisConfig
      writeFileSync(file, portcullisYaml(port, extra, cert))
      argv = spec.bareJwt === undefined
        ? [process.execPath, ...opts.portcullisNodeFlags, ...(spec.nodeFlags ?? []), ...probeFlags, join(spec.root ?? ROOT, 'bin/portcullis.js'), 'start', '--config', file]
        : [process.execPath, ...opts.portcullisNodeFlags, ...probeFlags, join(ROOT, 'bench/peers/portcullis-bare-token.mjs'), file, ...bareJwtArgs(dir, spec.bareJwt)]
      break
    }
    case 'mosquitto': {
      const file = join(dir, 'mosquitto.conf')
      writeFileSync(file, mosquittoConf(port, dir, spec.mosquittoPersistence, cert))
      argv = [opts.mosquittoPath, '-c', file]
      break
    }
    case 'aedes':
      argv = [process.execPath, ...probeFlags, join(ROOT, 'bench/peers/aedes-server.mjs'), String(port), HOST, ...(cert !== undefined ? [cert.certFile, cert.keyFile] : [])]
      break
    case 'node-tls': {
      if (cert === undefined) throw new Error(`${spec.label}: the TLS floor needs a tls spec`)
      argv = [process.execPath, ...probeFlags, join(ROOT, 'bench/peers/tls-floor.mjs'), String(port), HOST, cert.certFile, cert.keyFile]
      break
    }
    case 'node-floor':
      argv = [process.execPath, ...probeFlags, join(ROOT, 'bench/peers/node-floor-server.mjs'), String(port), HOST]
      break
    case 'node-relay':
      argv = [
        process.execPath, ...(process.env['BENCH_RELAY_FLAGS']?.split(' ').filter((f) => f !== '') ?? []), join(ROOT, 'bench/peers/node-relay-floor.mjs'), String(port), HOST, spec.metrics === true ? String(port + 1000) : '-',
        ...(cert !== undefined ? [cert.certFile, cert.keyFile] : []),
      ]
      break
  }
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  // Raise the soft open-file limit as far as allowed (1,048,576 if the hard limit permits), then exec,
  // so the PID we hold is the broker's own.
  const script = `ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec taskset -c ${opts.brokerCpu} ${quoted}`
  if (!(await portIsFree(port))) throw new Error(`port ${port} is already in use`)
  const stdout = (spec.kind === 'portcullis' || (spec.kind === 'node-relay' && process.env['BENCH_RELAY_FLAGS'] !== undefined)) && opts.stdoutDir !== undefined ? openSync(join(opts.stdoutDir, `${dir.split('/').pop() ?? 'run'}.log`), 'w') : 'ignore'
  const env = probe !== undefined ? { ...process.env, BENCH_MEMORY_PROBE: probe } : process.env
  const child = spawn('bash', ['-c', script], { cwd: dir, env, stdio: ['ignore', stdout, 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 4000) stderr += d.toString() })
  try {
    await waitForPort(port, child, opts.startTimeoutMs ?? 15_000)
  } catch (err) {
    child.kill('SIGKILL')
    throw new Error(`${spec.label}: ${(err as Error).message}${stderr !== '' ? `: ${stderr.trim()}` : ''}`)
  }
  const pid = child.pid!
  let probes = 0
  return {
    spec, pid, port,
    ...(probe !== undefined ? { probeMemory: () => probeMemory(pid, probe, ++probes) } : {}),
    ...(spec.metrics === true ? { metricsUrl: `http://${HOST}:${port + 1000}/metrics` } : {}),
    exitInfo: () => child.exitCode !== null || child.signalCode !== null
      ? `broker exited (code ${child.exitCode}, signal ${child.signalCode})${stderr !== '' ? `: ${stderr.trim().slice(0, 500)}` : ''}`
      : undefined,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 8_000)
      await exited
      clearTimeout(t)
    },
  }
}
