/**
 * The TLS scenarios (issue 19 item 6): connect (TLS 1.3 full and resumed handshakes, TLS 1.2
 * ECDHE-ECDSA), the fixed-rate QoS 1 load and idle memory, every broker serving the run's one
 * ECDSA P-256 certificate (brokers.ts benchCertificate). Beside the brokers, the bare-Node TLS
 * floor (bench/peers/tls-floor.mjs: Node's TLS server answering a fixed CONNACK) shows what part
 * of a Node broker's figure is Node's own TLS socket. The generator's own handshakes limit the
 * connect rate, so the main figure is the broker's CPU per connect.
 */
import type { BrokerSpec } from './brokers.js'
import type { TransportTls } from './jobs.js'
import { connectRun, fixedRateLoad, idleMemoryRun, messageRun, standard, withStallGauge, type Ctx, type Scenario, type Sizes } from './scenarios.js'

/** The floor's label in the report. */
export const TLS_FLOOR_LABEL = 'node-tls (floor)'

const TLS13: TransportTls = { version: 'TLSv1.3', resume: false }

/** Portcullis, Mosquitto and Aedes (those selected) over TLS, and with Portcullis the bare-Node floor. */
function tlsSpecs(kinds: readonly string[], tls: TransportTls, floor: boolean, base: (k: readonly string[]) => BrokerSpec[] = standard): BrokerSpec[] {
  const specs = base(kinds).map((s) => ({ ...s, tls }))
  if (floor && kinds.includes('portcullis')) specs.push({ label: TLS_FLOOR_LABEL, kind: 'node-tls', tls })
  return specs
}

/** Connects per TLS connect run: the generator's handshakes make a TLS connect ~10× dearer than a TCP one here. */
function tlsConnectSizes(ctx: Ctx): Ctx {
  const s: Sizes = { ...ctx.sizes, ...(ctx.quick ? { connectWarm: 30, connectCount: 100 } : { connectWarm: 1_000, connectCount: 2_000 }) }
  return { ...ctx, sizes: s }
}

export function tlsScenarios(sizes: Sizes, quick: boolean): Scenario[] {
  const idle = quick ? 200 : 5_000
  // The smoke run (--quick) keeps the floor in connect-tls13 and idle-memory-tls only: each run is a process start.
  const connect = (id: string, title: string, tls: TransportTls, floorInQuick = false): Scenario => ({
    id, title, unit: 'µs/connect', main: 'cpuPerOpUs',
    target: 'broker CPU per TLS connect at or below Mosquitto (issue 19)',
    specs: (kinds) => tlsSpecs(kinds, tls, !quick || floorInQuick),
    run: (ctx, b) => connectRun(tlsConnectSizes(ctx), b, undefined),
  })
  return [
    connect('connect-tls13', 'TLS 1.3 connect, full handshake (ECDSA P-256 certificate; CONNECT → CONNACK → DISCONNECT, 20 in parallel)', TLS13, true),
    connect('connect-tls13-resumed', 'TLS 1.3 connect resuming the session of the previous connection (ticket), CONNECT → CONNACK → DISCONNECT, 20 in parallel', { version: 'TLSv1.3', resume: true }),
    connect('connect-tls12', 'TLS 1.2 connect, full ECDHE-ECDSA handshake, CONNECT → CONNACK → DISCONNECT, 20 in parallel', { version: 'TLSv1.2', resume: false }),
    {
      id: 'fixed-rate-qos1-tls', title: 'Fixed rate 20,000 msg/s QoS 1 over TLS 1.3, 100 publishers → 1 subscriber (CPU per message, latency, broker event-loop stall)', unit: 'µs/msg', main: 'cpuPerOpUs',
      target: 'CPU per message at or below Mosquitto (issue 19)',
      specs: (kinds) => tlsSpecs(kinds, TLS13, false, withStallGauge),
      run: (ctx, b) => messageRun(ctx, b, fixedRateLoad(1, sizes)),
    },
    {
      id: 'idle-memory-tls',
      title: `Idle memory per TLS 1.3 connection, ${idle.toLocaleString('en-US')} connections held 2 s (measured as idle-memory)`,
      unit: 'B/conn', main: 'bytesPerConn',
      target: 'Portcullis ≤ 1.2 × Mosquitto (issue 19)',
      specs: (kinds) => tlsSpecs(kinds, TLS13, true).map((s) => ({ ...s, memoryProbe: true })),
      skip: (ctx) => ctx.hardFileLimit < idle + 1_000 ? `open-file hard limit is ${ctx.hardFileLimit} (ulimit -Hn), too low for ${idle} sockets` : undefined,
      run: (ctx, b) => idleMemoryRun(ctx, b, idle),
    },
  ]
}
