/**
 * Summaries (median [min–max] over rounds, paired per-round ratios) and the Markdown table.
 */
import { TLS_FLOOR_LABEL } from './tls-scenarios.js'
import { NODE_FLOOR_LABEL, NODE_RELAY_LABEL, TOKEN_BASELINE_LABEL, TOKEN_CONNECT_RATE, tokenBareOf, type Measurement, type Scenario } from './scenarios.js'

export interface RunRecord extends Measurement {
  scenario: string
  broker: string
  round: number
}

export interface Stat { median: number; min: number; max: number; n: number }

export interface BrokerSummary {
  broker: string
  runs: number
  failed: number
  main?: Stat
  throughput?: Stat
  genCpuMax?: number
  cpuPerOpUs?: Stat
  coldCpuPerOpUs?: Stat
  tokenExtraUs?: Stat
  verifyUs?: Stat
  rawVerifyUs?: Stat
  coldVerifyUs?: Stat
  pacedVerifyUs?: Stat
  /** Token scenarios: this broker's extra minus the extra of the same broker with the bare check, per round. */
  beyondBareUs?: Stat
  /** Token scenarios: extra over the baseline minus the broker's own verification time, per round. */
  beyondVerifyUs?: Stat
  kibPerConnSoon?: Stat
  stormRssSoonMiB?: Stat
  stormHeapTotalMiB?: Stat
  stormHeapUsedMiB?: Stat
  stormHeapUsedGcMiB?: Stat
  heapBytesPerConn?: Stat
  rawBytesPerConn?: Stat
  p50Ms?: Stat
  p99Ms?: Stat
  p999Ms?: Stat
  stallMaxMs?: Stat
  gcMajorMs?: Stat
  gcMajorCount?: Stat
  gcMinorMs?: Stat
  gcMinorCount?: Stat
  /** Message scenarios, Portcullis: its CPU per message minus the relay floor's, per round (what the broker adds to Node's socket path). */
  aboveRelayUs?: Stat
  /** TLS connect scenarios: measured handshakes that resumed a session (per run). */
  resumed?: Stat
  queueCpuPerOpUs?: Stat
  drainCpuPerOpUs?: Stat
  drainSeconds?: Stat
  /** Paired per-round p99 ratios (this broker ÷ the other, same round), for latency scenarios. */
  p99Ratios: Record<string, Stat>
  heldMin?: number
  /** Deliveries missing of acknowledged QoS 1 messages, all runs together. */
  lostQos1: number
  /** QoS 1 messages never acknowledged by the time bound, per run (a slow broker, not a loss). */
  unackedQos1?: Stat
  /** A peer's runs that hit their time bound: acknowledged QoS 1 deliveries missing at the bound, per run. */
  undeliveredAtBoundQos1?: Stat
  lostQos0: number
  flags: string[]
  /** Paired per-round ratios of the main figure: this broker ÷ the other (same round). */
  ratios: Record<string, { perRound: number[]; stat: Stat }>
}

export interface ScenarioSummary {
  id: string
  title: string
  unit: string
  target?: string
  /** As the scenario compares brokers (Scenario.compare): absent, a ratio. */
  compare?: 'difference'
  brokers: BrokerSummary[]
}

export function stat(xs: readonly number[]): Stat | undefined {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const mid = v.length >> 1
  const median = v.length % 2 === 1 ? (v[mid]) : ((v[mid - 1]) + (v[mid])) / 2
  return { median, min: v[0], max: v[v.length - 1], n: v.length }
}

export function summarise(selected: readonly Scenario[], records: readonly RunRecord[]): ScenarioSummary[] {
  const out: ScenarioSummary[] = []
  for (const sc of selected) {
    const recs = records.filter((r) => r.scenario === sc.id)
    if (recs.length === 0) continue
    const labels = [...new Set(recs.map((r) => r.broker))]
    const mainOf = (r: RunRecord): number => (r.ok ? (r[sc.main] ?? NaN) : NaN)
    const brokers: BrokerSummary[] = labels.map((label) => {
      const mine = recs.filter((r) => r.broker === label)
      const ok = mine.filter((r) => r.ok)
      const s: BrokerSummary = {
        broker: label, runs: mine.length, failed: mine.length - ok.length,
        lostQos1: mine.reduce((n, r) => n + (r.lostQos1 ?? 0), 0),
        lostQos0: mine.reduce((n, r) => n + (r.lostQos0 ?? 0), 0),
        flags: [...new Set(mine.flatMap((r) => r.flags.map((f) => f.replace(/\d+ (of|connect)/, 'N $1'))))],
        ratios: {},
        p99Ratios: {},
      }
      const put = <K extends keyof BrokerSummary>(k: K, v: BrokerSummary[K] | undefined): void => { if (v !== undefined) s[k] = v }
      put('main', stat(ok.map(mainOf)))
      put('throughput', stat(ok.map((r) => r.throughput ?? NaN)))
      put('cpuPerOpUs', stat(ok.map((r) => r.cpuPerOpUs ?? NaN)))
      put('kibPerConnSoon', stat(ok.map((r) => r.kibPerConnSoon ?? NaN)))
      put('heapBytesPerConn', stat(ok.map((r) => r.heapBytesPerConn ?? NaN)))
      put('stormRssSoonMiB', stat(ok.map((r) => r.stormRssSoonMiB ?? NaN)))
      put('stormHeapTotalMiB', stat(ok.map((r) => r.stormHeapTotalMiB ?? NaN)))
      put('stormHeapUsedMiB', stat(ok.map((r) => r.stormHeapUsedMiB ?? NaN)))
      put('stormHeapUsedGcMiB', stat(ok.map((r) => r.stormHeapUsedGcMiB ?? NaN)))
      put('rawBytesPerConn', stat(ok.map((r) => r.rawBytesPerConn ?? NaN)))
      put('verifyUs', stat(ok.map((r) => r.verifyUs ?? NaN)))
      // Token connects against the anonymous baseline of the same scenario and round (same rate).
      if (sc.id.startsWith('connect-') && label !== TOKEN_BASELINE_LABEL) {
        const cpu = (broker: string, round: number): number => recs.find((x) => x.broker === broker && x.round === round && x.ok)?.cpuPerOpUs ?? NaN
        const extraOf = (broker: string, round: number): number => cpu(broker, round) - cpu(TOKEN_BASELINE_LABEL, round)
        const extra = (r: RunRecord): number => extraOf(label, r.round)
        put('tokenExtraUs', stat(ok.map(extra)))
        const bare = tokenBareOf(label)
        if (bare !== undefined) put('beyondBareUs', stat(ok.map((r) => extra(r) - extraOf(bare, r.round))))
        put('rawVerifyUs', stat(ok.map((r) => r.rawVerifyUs ?? NaN)))
        put('coldVerifyUs', stat(ok.map((r) => r.coldVerifyUs ?? NaN)))
        put('pacedVerifyUs', stat(ok.map((r) => r.pacedVerifyUs ?? NaN)))
        put('beyondVerifyUs', stat(ok.map((r) => extra(r) - (r.verifyUs ?? NaN))))
      }
      put('coldCpuPerOpUs', stat(ok.map((r) => r.coldCpuPerOpUs ?? NaN)))
      put('p50Ms', stat(ok.map((r) => r.p50Ms ?? NaN)))
      put('p99Ms', stat(ok.map((r) => r.p99Ms ?? NaN)))
      put('p999Ms', stat(ok.map((r) => r.p999Ms ?? NaN)))
      put('stallMaxMs', stat(ok.map((r) => r.stallMaxMs ?? NaN)))
      put('gcMajorMs', stat(ok.map((r) => r.gcMajorMs ?? NaN)))
      put('gcMajorCount', stat(ok.map((r) => r.gcMajorCount ?? NaN)))
      put('gcMinorMs', stat(ok.map((r) => r.gcMinorMs ?? NaN)))
      put('gcMinorCount', stat(ok.map((r) => r.gcMinorCount ?? NaN)))
      if (label.startsWith('portcullis')) {
        const relay = (round: number): number => recs.find((x) => x.broker === NODE_RELAY_LABEL && x.round === round && x.ok)?.cpuPerOpUs ?? NaN
        put('aboveRelayUs', stat(ok.map((r) => (r.cpuPerOpUs ?? NaN) - relay(r.round))))
      }
      put('resumed', stat(ok.map((r) => r.resumed ?? NaN)))
      put('queueCpuPerOpUs', stat(ok.map((r) => r.queueCpuPerOpUs ?? NaN)))
      put('drainCpuPerOpUs', stat(ok.map((r) => r.drainCpuPerOpUs ?? NaN)))
      put('drainSeconds', stat(ok.map((r) => r.drainSeconds ?? NaN)))
      if (mine.some((r) => (r.unackedQos1 ?? 0) > 0)) put('unackedQos1', stat(mine.map((r) => r.unackedQos1 ?? NaN)))
      if (mine.some((r) => (r.undeliveredAtBoundQos1 ?? 0) > 0)) put('undeliveredAtBoundQos1', stat(mine.map((r) => r.undeliveredAtBoundQos1 ?? NaN)))
      const g = ok.map((r) => r.genCpu ?? NaN).filter(Number.isFinite)
      if (g.length > 0) s.genCpuMax = Math.max(...g)
      const held = mine.map((r) => r.held ?? NaN).filter(Number.isFinite)
      if (held.length > 0) s.heldMin = Math.min(...held)
      for (const other of labels) {
        if (other === label) continue
        const perRound: number[] = []
        for (const r of mine) {
          const o = recs.find((x) => x.broker === other && x.round === r.round)
          if (o === undefined) continue
          const a = mainOf(r)
          const b = mainOf(o)
          if (!Number.isFinite(a) || !Number.isFinite(b)) continue
          if (sc.compare === 'difference') perRound.push(a - b)
          else if (b !== 0) perRound.push(a / b)
        }
        const st = stat(perRound)
        if (st !== undefined) s.ratios[other] = { perRound, stat: st }
        if (sc.main !== 'p99Ms') {
          const p99 = stat(ok.map((r) => (r.p99Ms ?? NaN) / (recs.find((x) => x.broker === other && x.round === r.round && x.ok)?.p99Ms ?? NaN)))
          if (p99 !== undefined) s.p99Ratios[other] = p99
        }
      }
      return s
    })
    out.push({
      id: sc.id, title: sc.title, unit: sc.unit, ...(sc.target !== undefined ? { target: sc.target } : {}),
      ...(sc.compare !== undefined ? { compare: sc.compare } : {}), brokers,
    })
  }
  return out
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–'
  const a = Math.abs(x)
  return a >= 1000 ? Math.round(x).toLocaleString('en-US') : a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2)
}

function range(s: Stat | undefined): string {
  if (s === undefined) return '–'
  return s.n === 1 ? fmt(s.median) : `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`
}

function rate(s: Stat | undefined): string {
  if (s === undefined) return '–'
  return s.median >= 1000 ? `${(s.median / 1000).toFixed(1)}k/s` : `${s.median.toFixed(0)}/s`
}

/** A signed figure: +1.20, −15.3 (a growth can be below zero). */
function signed(x: number): string {
  return x < 0 ? `−${fmt(-x)}` : `+${fmt(x)}`
}

function signedRange(s: Stat | undefined): string {
  if (s === undefined) return '–'
  return s.n === 1 ? signed(s.median) : `${signed(s.median)} [${signed(s.min)}–${signed(s.max)}]`
}

/** A paired comparison as the scenario makes it: a ratio (×), or a difference in its unit. */
function compared(st: Stat, sc: ScenarioSummary): string {
  if (sc.compare === 'difference') return `${signedRange(st)} ${sc.unit}`
  return `${st.median.toFixed(2)}× [${st.min.toFixed(2)}–${st.max.toFixed(2)}]`
}

/** How a comparison is named: ÷ other, or − other. */
function versus(sc: ScenarioSummary): string {
  return sc.compare === 'difference' ? '−' : '÷'
}

function ratio(s: BrokerSummary, other: string, sc: ScenarioSummary): string {
  const r = s.ratios[other]
  if (r === undefined) return ''
  return compared(r.stat, sc)
}

export function renderMarkdown(
  env: Record<string, unknown>, selected: readonly Scenario[], summary: readonly ScenarioSummary[], skipped: readonly { id: string; reason: string }[],
): string {
  const lines: string[] = []
  lines.push(`# Portcullis benchmark — ${String(env['date'])}${env['quick'] === true ? ' (quick smoke run: counts too small for conclusions)' : ''}`)
  lines.push('')
  lines.push(`Node ${String(env['node'])}, ${String(env['cores'])} cores, broker on CPU ${String(env['brokerCpu'])}, generator on CPU ${String(env['genCpu'])}` +
    `${env['pinned'] === true ? '' : ' (NOT pinned)'}, ${String(env['workers'])} generator worker(s), ${String(env['rounds'])} round(s), CLK_TCK ${String(env['clkTck'])}` +
    `${typeof env['mosquitto'] === 'string' ? `, ${env['mosquitto']}` : ''}, Aedes 1.2.0. MQTT 3.1.1, TCP_NODELAY, logging off, 64-byte payloads; fresh broker per run, brokers alternated each round.`)
  lines.push('')
  lines.push('Main figure: broker CPU per operation (utime+stime, all threads) — smaller is better; for memory: RSS growth per idle connection (idle-memory: garbage collected before each reading, bytes). ' +
    'Values are median [min–max] over rounds. Ratios are paired per round (this broker ÷ other, same round): below 1.00× means this broker is cheaper/faster; ' +
    'storm-memory compares by difference instead (this broker − other, same round, MiB: a growth may be zero or negative, where a ratio says nothing).')
  lines.push('')
  lines.push('| Scenario | Broker | Main figure | Throughput | Gen CPU (max) | Latency p50 / p99 / p99.9 (ms) | ÷ Mosquitto | ÷ Aedes | Notes |')
  lines.push('|---|---|---|---|---|---|---|---|---|')
  for (const sc of summary) {
    for (const b of sc.brokers) {
      const notes: string[] = []
      if (b.failed > 0) notes.push(`**${b.failed}/${b.runs} run(s) failed**`)
      if (b.lostQos1 > 0) notes.push(`**${b.lostQos1} acknowledged QoS 1 lost**`)
      if (b.unackedQos1 !== undefined) notes.push(`QoS 1 never acknowledged by the time bound (not lost: nothing was promised): ${range(b.unackedQos1)} per run`)
      if (b.undeliveredAtBoundQos1 !== undefined) notes.push(`acknowledged QoS 1 not delivered by the time bound (still queued or lost): ${range(b.undeliveredAtBoundQos1)} per run`)
      if (b.lostQos0 > 0) notes.push(`${b.lostQos0} QoS 0 dropped`)
      if (b.heapBytesPerConn !== undefined) notes.push(`V8 heap in use after a full GC: ${range(b.heapBytesPerConn)} B/conn`)
      if (b.rawBytesPerConn !== undefined) notes.push(`RSS growth right after the GCs (with pages V8 emptied and still keeps): ${range(b.rawBytesPerConn)} B/conn`)
      if (b.stormRssSoonMiB !== undefined) notes.push(`RSS growth right after the storm: ${range(b.stormRssSoonMiB)} MiB`)
      if (b.stormHeapTotalMiB !== undefined) notes.push(`settled, V8 heap committed: ${signedRange(b.stormHeapTotalMiB)} MiB, in use: ${signedRange(b.stormHeapUsedMiB)} MiB, in use after two full GCs: ${signedRange(b.stormHeapUsedGcMiB)} MiB`)
      if (b.kibPerConnSoon !== undefined) notes.push(`2 s after connecting (before the idle broker settled): ${range(b.kibPerConnSoon)} KiB/conn`)
      if (b.tokenExtraUs !== undefined) notes.push(`**over the anonymous baseline (same rate, same round): +${range(b.tokenExtraUs)} µs**`)
      if (b.beyondBareUs !== undefined) notes.push(`**beyond the same broker with a bare node:crypto check (same round): ${b.beyondBareUs.median >= 0 ? '+' : ''}${range(b.beyondBareUs)} µs**`)
      // Authenticators that ask a service count their requests in the same metric: wall-clock time waiting for the answer, not CPU.
      const service = /^portcullis\+(introspection|http)\b/.test(b.broker)
      if (b.verifyUs !== undefined) notes.push(service ? `service request inside the broker (wall clock, its own metric; the loopback service's time included): ${range(b.verifyUs)} µs` : `signature verification inside the broker (its own metric): ${range(b.verifyUs)} µs`)
      if (b.beyondVerifyUs !== undefined && !service) notes.push(`token path beyond verification (extra − verification): ${range(b.beyondVerifyUs)} µs`)
      if (b.rawVerifyUs !== undefined) notes.push(`raw verification (node:crypto hot loop, this run): ${range(b.rawVerifyUs)} µs`)
      if (b.coldVerifyUs !== undefined) notes.push(`raw with 2 MiB touched between verifications: ${range(b.coldVerifyUs)} µs`)
      if (b.pacedVerifyUs !== undefined) notes.push(`raw at the scenario's pace (one verification per ${1e6 / TOKEN_CONNECT_RATE} µs, thread asleep between): ${range(b.pacedVerifyUs)} µs`)
      if (b.coldCpuPerOpUs !== undefined) notes.push(`cold start (warm-up connects): ${range(b.coldCpuPerOpUs)} µs/connect`)
      const baseLabel = b.broker.replace(/^portcullis(?!-baseline)/, 'portcullis-baseline')
      const base = baseLabel !== b.broker ? b.ratios[baseLabel] : undefined
      if (base !== undefined) notes.push(`**${versus(sc)} ${baseLabel} (same rounds): ${compared(base.stat, sc)}**`)
      const variantOf = /^portcullis \((--|limits\.)/.test(b.broker) ? b.ratios['portcullis'] : undefined
      if (variantOf !== undefined) notes.push(`**${versus(sc)} portcullis (same rounds): ${compared(variantOf.stat, sc)}**`)
      const nodeFloor = b.broker.startsWith('portcullis') ? b.ratios[NODE_FLOOR_LABEL] : undefined
      if (nodeFloor !== undefined) notes.push(`${versus(sc)} ${NODE_FLOOR_LABEL} (bare node:net server, same rounds): ${compared(nodeFloor.stat, sc)}`)
      if (b.broker === NODE_FLOOR_LABEL) notes.push('floor: a bare node:net server that reads one CONNECT and answers a fixed CONNACK (no MQTT parsing, no session): what any Node broker pays for its sockets')
      const relayFloor = b.broker.startsWith('portcullis') ? b.ratios[NODE_RELAY_LABEL] : undefined
      if (relayFloor !== undefined) notes.push(`**÷ ${NODE_RELAY_LABEL} (same rounds): ${relayFloor.stat.median.toFixed(2)}× [${relayFloor.stat.min.toFixed(2)}–${relayFloor.stat.max.toFixed(2)}]; above it: ${(b.aboveRelayUs?.median ?? 0) >= 0 ? '+' : ''}${range(b.aboveRelayUs)} ${sc.unit}**`)
      if (b.broker === NODE_RELAY_LABEL) notes.push('floor: a bare node:net relay that forwards each PUBLISH as received to the subscribers of its topic\'s parent level and answers PUBACK, with the broker\'s socket pattern (a write per connection per turn): what any Node broker pays for its sockets per message')
      if (b.queueCpuPerOpUs !== undefined) notes.push(`queueing ${range(b.queueCpuPerOpUs)} µs/delivery`)
      if (b.drainCpuPerOpUs !== undefined) notes.push(`drain ${range(b.drainCpuPerOpUs)} µs/delivery`)
      if (b.drainSeconds !== undefined) notes.push(`drained in ${range(b.drainSeconds)} s`)
      if (b.stallMaxMs !== undefined) notes.push(`longest event-loop stall in the broker (measured phase): ${range(b.stallMaxMs)} ms`)
      if (b.gcMajorMs !== undefined && b.gcMinorMs !== undefined) notes.push(`GC on the main thread (measured phase): full ${range(b.gcMajorCount)} taking ${range(b.gcMajorMs)} ms, scavenges ${range(b.gcMinorCount)} taking ${range(b.gcMinorMs)} ms`)
      for (const [other, st] of Object.entries(b.p99Ratios)) {
        if ((b.broker.startsWith('portcullis') && other !== b.broker) || (b.broker === NODE_RELAY_LABEL && other === 'mosquitto')) notes.push(`p99 ÷ ${other}: ${st.median.toFixed(2)}× [${st.min.toFixed(2)}–${st.max.toFixed(2)}]`)
      }
      if (b.resumed !== undefined) notes.push(`handshakes resumed: ${range(b.resumed)}`)
      const floor = b.broker.startsWith('portcullis') ? b.ratios[TLS_FLOOR_LABEL] : undefined
      if (floor !== undefined) notes.push(`**÷ ${TLS_FLOOR_LABEL} (same rounds): ${floor.stat.median.toFixed(2)}× [${floor.stat.min.toFixed(2)}–${floor.stat.max.toFixed(2)}]**`)
      if (b.heldMin !== undefined) notes.push(`held ≥ ${b.heldMin.toLocaleString('en-US')}`)
      notes.push(...b.flags)
      const comparable = b.broker.startsWith('portcullis') || b.broker === NODE_FLOOR_LABEL || b.broker === NODE_RELAY_LABEL
      let vsM = comparable ? ratio(b, 'mosquitto', sc) : ''
      let vsA = comparable ? ratio(b, 'aedes', sc) : ''
      if ((sc.id === 'authz-1000' || sc.id === 'authz-1000-acl') && b.broker.includes('1,000')) {
        const r = b.ratios['portcullis (noMatch allow)']
        if (r !== undefined) {
          notes.push(`CPU/msg vs noMatch allow: ${r.stat.median.toFixed(2)}× [${r.stat.min.toFixed(2)}–${r.stat.max.toFixed(2)}] → efficiency ${(100 / r.stat.median).toFixed(0)}% (target ≥ 90%)`)
        }
        vsM = ''
        vsA = ''
      }
      lines.push(`| ${sc.id} | ${b.broker} | ${range(b.main)} ${sc.unit} | ${rate(b.throughput)} | ${b.genCpuMax !== undefined ? `${(b.genCpuMax * 100).toFixed(0)}%` : '–'} | ` +
        `${b.p99Ms !== undefined ? `${fmt(b.p50Ms?.median ?? NaN)} / ${range(b.p99Ms)} / ${fmt(b.p999Ms?.median ?? NaN)}` : ''} | ${vsM} | ${vsA} | ${notes.join('; ')} |`)
    }
  }
  lines.push('')
  const targets = summary.filter((s) => s.target !== undefined)
  if (targets.length > 0) {
    lines.push('Targets (for context): ' + targets.map((s) => `${s.id}: ${s.target}`).join('; ') + '.')
    lines.push('')
  }
  for (const sc of selected) {
    const s = summary.find((x) => x.id === sc.id)
    if (s === undefined) continue
    lines.push(`- **${sc.id}**: ${sc.title}`)
  }
  if (skipped.length > 0) {
    lines.push('')
    lines.push('Skipped:')
    for (const s of skipped) lines.push(`- ${s.id}: ${s.reason}`)
  }
  lines.push('')
  return lines.join('\n')
}

/**
 * What the exit status is made of. Portcullis fails the benchmark: a run of it that failed, or a
 * QoS 1 message it acknowledged and did not deliver. A peer that is slow (time bound, messages it
 * never acknowledged), fails or loses messages is counted apart: reported, not failing.
 */
export function outcome(records: readonly RunRecord[]): { failed: number; lostQos1: number; peerFailed: number; peerLost: number } {
  const out = { failed: 0, lostQos1: 0, peerFailed: 0, peerLost: 0 }
  for (const r of records) {
    if (r.broker.startsWith('portcullis')) {
      if (!r.ok) out.failed++
      out.lostQos1 += r.lostQos1 ?? 0
    } else {
      if (!r.ok) out.peerFailed++
      out.peerLost += r.lostQos1 ?? 0
    }
  }
  return out
}
