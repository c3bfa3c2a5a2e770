/**
 * Load-generator worker thread. The coordinator (bench/lib/generator.ts) gives each worker
 * its share of publishers / subscribers / connections; the workers share counters through
 * a SharedArrayBuffer (see CTRL below) so that a closed-loop window can span threads.
 *
 * Every loop here is bounded twice: by a count and by a deadline (epoch ms).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { CTRL, type Credentials, type Job, type PubSpec, type SubSpec, type WorkerTeardown } from './jobs.js'
import {
  PAYLOAD_PHASE, PAYLOAD_PUB, PAYLOAD_SEQ, PAYLOAD_TS, RawClient, nowNs, publishTemplate, type PublishTemplate,
} from './mqtt.js'

type WaitAsync = (ta: Int32Array, index: number, value: number, timeout?: number) => { async: boolean; value: Promise<string> | string }
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync

const ctrl = new Int32Array((workerData as { sab: SharedArrayBuffer }).sab)

const sharedWorkers = ((workerData as { workers?: number }).workers ?? 1) > 1
let localWake: (() => void) | undefined

/** Signals progress (a delivery or an ack) to publishers in this thread and, when shared, in others. */
function bump(): void {
  Atomics.add(ctrl, CTRL.PROGRESS, 1)
  if (sharedWorkers) Atomics.notify(ctrl, CTRL.PROGRESS)
  const wake = localWake
  if (wake !== undefined) { localWake = undefined; wake() }
}

/** Waits until progress is signalled (or `ms` passed). */
async function waitProgress(seen: number, ms: number): Promise<void> {
  if (sharedWorkers) {
    const r = waitAsync(ctrl, CTRL.PROGRESS, seen, ms)
    if (r.async) await r.value
    return
  }
  if (Atomics.load(ctrl, CTRL.PROGRESS) !== seen) return
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => { localWake = undefined; resolve() }, ms)
    localWake = () => { clearTimeout(t); resolve() }
  })
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface Pub {
  readonly spec: PubSpec
  readonly client: RawClient
  readonly templates: PublishTemplate[]
  inflight: number
  nextPacketId: number
  /** By packet id in flight (QoS 1): the message's phase (0: none) and its index (pub * countPerPub + seq). */
  readonly idPhase: Uint8Array
  readonly idIndex: Int32Array
}

interface Sub {
  readonly spec: SubSpec
  readonly client: RawClient
  /** Seen bitmap per phase (1, 2): index = pub * countPerPub + seq. */
  seen: [Uint8Array | undefined, Uint8Array | undefined]
  unique: [number, number]
  duplicates: number
}

let pubs: Pub[] = []
let subs: Sub[] = []
let held: RawClient[] = []
/**
 * Messages per publisher in each phase (1, 2): a message's index in its phase's bitmaps is
 * pub * (its phase's count) + seq. A warm-up message delivered after the measured phase began
 * (a broker still draining its queue when the warm-up hit its time bound) is indexed with the
 * warm-up's count; indexed with the measured phase's it fell outside the bitmap and was
 * counted as lost.
 */
const countPerPubOf: [number, number] = [0, 0]
/** Per phase (1, 2): the messages whose PUBACK came (index = pub * countPerPub + seq), and how many subscribers saw each. */
const acked: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined]
const seenBy: [Uint16Array | undefined, Uint16Array | undefined] = [undefined, undefined]
let latencies = new Float64Array(1024)
let latencyCount = 0
let collectLatency = false

function recordLatency(ms: number): void {
  if (latencyCount === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2)
    bigger.set(latencies)
    latencies = bigger
  }
  latencies[latencyCount++] = ms
}

function attachSubscriber(sub: Sub): void {
  let warm = 0
  let meas = 0
  sub.client.onPublish = (buf, _qos, _id, p) => {
    const phase = buf[p + PAYLOAD_PHASE]
    if (phase !== 1 && phase !== 2) return
    const seen = sub.seen[phase - 1]
    if (seen !== undefined) {
      const k = buf.readUInt16LE(p + PAYLOAD_PUB) * countPerPubOf[phase - 1] + buf.readUInt32LE(p + PAYLOAD_SEQ)
      if (k < seen.length) {
        if (seen[k] === 0) {
          seen[k] = 1
          sub.unique[phase - 1]++
          const by = seenBy[phase - 1]
          if (by !== undefined) by[k]++
        } else { sub.duplicates++; return }
      }
    }
    if (phase === 2) {
      meas++
      if (collectLatency) recordLatency((nowNs() - buf.readDoubleLE(p + PAYLOAD_TS)) / 1e6)
    } else warm++
  }
  // Publish the counts once per socket chunk (this listener runs after the client's parser).
  sub.client.socket.on('data', () => {
    if (warm === 0 && meas === 0) return
    if (warm > 0) { Atomics.add(ctrl, CTRL.RECV_WARM, warm); warm = 0 }
    if (meas > 0) { Atomics.add(ctrl, CTRL.RECV_MEAS, meas); meas = 0 }
    bump()
  })
}

/** The spec's CONNECT credentials, only those present (exactOptionalPropertyTypes). */
function credentials(spec: Credentials): { username?: string; password?: string } {
  return { ...(spec.username !== undefined ? { username: spec.username } : {}), ...(spec.password !== undefined ? { password: spec.password } : {}) }
}

/**
 * Bumped by every setup and teardown: a setup the coordinator gave up on (its call timed out)
 * sees a newer epoch, closes what it opened and stops, so it cannot leak clients into the next run.
 */
let epoch = 0

/** Publishers connect this many at a time (a fleet of 2,000 in sequence took tens of seconds here). */
const SETUP_LANES = 20

async function setup(job: Extract<Job, { op: 'setup' }>): Promise<void> {
  const mine = ++epoch
  const addr = (i: number): string | undefined => job.localAddresses.length > 0 ? job.localAddresses[i % job.localAddresses.length] : undefined
  const open = async (spec: PubSpec | SubSpec, a: string | undefined): Promise<RawClient> => {
    const client = await RawClient.connect({
      host: job.host, port: job.port, clientId: spec.clientId, ...(a !== undefined ? { localAddress: a } : {}), ...credentials(spec),
      ...('persistent' in spec && spec.persistent === true ? { clean: false } : {}),
      ...(job.tls !== undefined ? { tls: { version: job.tls.version } } : {}),
    })
    if (mine !== epoch) {
      client.destroy()
      throw new Error('setup abandoned')
    }
    return client
  }
  for (const spec of job.subs) {
    const client = await open(spec, addr(spec.index))
    await client.subscribe(spec.filter, spec.qos)
    const sub: Sub = { spec, client, seen: [undefined, undefined], unique: [0, 0], duplicates: 0 }
    attachSubscriber(sub)
    subs.push(sub)
  }
  const connected = new Array<Pub | undefined>(job.pubs.length)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < job.pubs.length) {
      const i = next++
      const spec = job.pubs[i]
      const client = await open(spec, addr(spec.index + 7))
      const pub: Pub = {
        spec, client, templates: spec.topics.map((t) => publishTemplate(t, spec.qos)), inflight: 0, nextPacketId: 1,
        idPhase: new Uint8Array(spec.qos > 0 ? 65536 : 0), idIndex: new Int32Array(spec.qos > 0 ? 65536 : 0),
      }
      client.onPuback = (id) => {
        pub.inflight--
        const phase = pub.idPhase[id]
        if (phase !== 0) {
          pub.idPhase[id] = 0
          const a = acked[phase - 1]
          if (a !== undefined) a[pub.idIndex[id]] = 1
        }
        bump()
      }
      connected[i] = pub
    }
  }
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(SETUP_LANES, job.pubs.length) }, lane))
  const failed = lanes.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (mine !== epoch) {
    for (const p of connected) p?.client.destroy()
    throw new Error('setup abandoned')
  }
  // publishers keep their order (the rate loop and the payload's publisher index rely on it)
  for (const p of connected) if (p !== undefined) pubs.push(p)
  if (failed !== undefined) throw failed.reason
}

/** Writes `k` messages of one publisher as one buffer. */
function sendBatch(pub: Pub, phase: number, firstSeq: number, k: number): void {
  const t = pub.templates
  let total = 0
  for (let j = 0; j < k; j++) total += (t[(firstSeq + j) % t.length]).bytes.length
  const batch = Buffer.allocUnsafe(total)
  let off = 0
  const ts = nowNs()
  for (let j = 0; j < k; j++) {
    const seq = firstSeq + j
    const tpl = t[seq % t.length]
    tpl.bytes.copy(batch, off)
    const p = off + tpl.payloadOffset
    batch.writeDoubleLE(ts, p + PAYLOAD_TS)
    batch.writeUInt16LE(pub.spec.index, p + PAYLOAD_PUB)
    batch.writeUInt32LE(seq, p + PAYLOAD_SEQ)
    batch[p + PAYLOAD_PHASE] = phase
    if (tpl.packetIdOffset >= 0) {
      const id = pub.nextPacketId
      pub.nextPacketId = id === 65535 ? 1 : id + 1
      batch.writeUInt16BE(id, off + tpl.packetIdOffset)
      pub.idPhase[id] = phase
      pub.idIndex[id] = pub.spec.index * countPerPubOf[phase - 1] + seq
      pub.inflight++
    }
    off += tpl.bytes.length
  }
  pub.client.write(batch)
}

const BATCH = 32
const MIN_BATCH = 8

async function load(job: Extract<Job, { op: 'load' }>): Promise<{ sent: number; timedOut: boolean }> {
  countPerPubOf[job.phase - 1] = job.countPerPub
  collectLatency = job.collectLatency
  for (const sub of subs) {
    sub.seen[job.phase - 1] = new Uint8Array(job.totalPubs * job.countPerPub)
    sub.unique[job.phase - 1] = 0
  }
  acked[job.phase - 1] = pubs.some((p) => p.spec.qos > 0) ? new Uint8Array(job.totalPubs * job.countPerPub) : undefined
  seenBy[job.phase - 1] = subs.length > 0 ? new Uint16Array(job.totalPubs * job.countPerPub) : undefined
  if (job.collectLatency) { latencies = new Float64Array(Math.min(job.countPerPub * job.totalPubs, 1 << 22) || 1024); latencyCount = 0 }
  const recvIdx = job.phase === 1 ? CTRL.RECV_WARM : CTRL.RECV_MEAS
  const remaining = pubs.map(() => job.countPerPub)
  const next = pubs.map(() => 0)
  let sent = 0
  let timedOut = false
  const total = job.countPerPub * pubs.length
  if (pubs.length === 0) return { sent, timedOut }

  if (job.rate !== undefined) {
    // Open loop at a fixed rate, round robin over this worker's publishers.
    const start = performance.now()
    while (sent < total) {
      if (Atomics.load(ctrl, CTRL.STOP) !== 0 || Date.now() > job.deadline) { timedOut = true; break }
      const due = Math.min(total, Math.floor(((performance.now() - start) * job.rate) / 1000))
      while (sent < due) {
        const i = sent % pubs.length
        const pub = pubs[i]
        sendBatch(pub, job.phase, next[i], 1)
        next[i] = (next[i]) + 1
        sent++
        Atomics.add(ctrl, CTRL.SENT, 1)
      }
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  } else {
    // Closed loop: at most `window` messages in flight through the broker, all workers together.
    while (sent < total) {
      if (Atomics.load(ctrl, CTRL.STOP) !== 0 || Date.now() > job.deadline) { timedOut = true; break }
      const seenProgress = Atomics.load(ctrl, CTRL.PROGRESS)
      let progressed = false
      for (let i = 0; i < pubs.length; i++) {
        const left = remaining[i]
        if (left === 0) continue
        const pub = pubs[i]
        const outstanding = Atomics.load(ctrl, CTRL.SENT) - Math.floor(Atomics.load(ctrl, recvIdx) / job.fanout)
        let k = Math.min(job.window - outstanding, BATCH, left)
        if (pub.spec.qos > 0) k = Math.min(k, job.maxInflightPerPub - pub.inflight)
        // Wait for room for a reasonable batch rather than trickling single messages.
        if (k <= 0 || k < Math.min(left, MIN_BATCH)) continue
        sendBatch(pub, job.phase, next[i], k)
        next[i] = (next[i]) + k
        remaining[i] = left - k
        sent += k
        Atomics.add(ctrl, CTRL.SENT, k)
        progressed = true
      }
      if (progressed) await immediate()
      else await waitProgress(seenProgress, 20)
    }
  }
  // QoS 1: wait for every PUBACK of this phase.
  while (pubs.some((p) => p.inflight > 0)) {
    if (Atomics.load(ctrl, CTRL.STOP) !== 0 || Date.now() > job.deadline) { timedOut = true; break }
    await waitProgress(Atomics.load(ctrl, CTRL.PROGRESS), 20)
  }
  return { sent, timedOut }
}

async function teardown(): Promise<WorkerTeardown> {
  epoch++
  const unique: [number, number] = [0, 0]
  let duplicates = 0
  for (const s of subs) { unique[0] += s.unique[0]; unique[1] += s.unique[1]; duplicates += s.duplicates }
  const unacked = pubs.reduce((n, p) => n + p.inflight, 0)
  await Promise.all([...pubs, ...subs].map((c) => c.client.disconnect(2_000)))
  const out: WorkerTeardown = {
    latencies: latencies.slice(0, latencyCount), unique, duplicates, unacked, acked: [acked[0], acked[1]], seenBy: [seenBy[0], seenBy[1]],
  }
  acked[0] = acked[1] = undefined
  seenBy[0] = seenBy[1] = undefined
  pubs = []
  subs = []
  latencyCount = 0
  return out
}

/**
 * Sessions (TLS tickets) to resume, one per connect lane, kept between connect jobs so the
 * measured block resumes what the warm-up was given; cleared when a job does not resume.
 */
const laneSessions: (Buffer | undefined)[] = []

async function connectMany(job: Extract<Job, { op: 'connect' }>): Promise<{ ok: number; failed: number; resumed: number; firstError?: string }> {
  let next = 0
  let ok = 0
  let failed = 0
  let resumed = 0
  let firstError: string | undefined
  const start = performance.now()
  if (job.tls?.resume !== true) laneSessions.length = 0
  let lanes = 0
  const lane = async (): Promise<void> => {
    const me = lanes++
    while (next < job.count && Date.now() < job.deadline) {
      const i = next++
      if (job.rate !== undefined) {
        // Paced: connect i starts i/rate seconds after the first (sleeping lanes wait their turn).
        const wait = start + (i * 1000) / job.rate - performance.now()
        if (wait >= 1) await sleep(wait)
      }
      const a = job.localAddresses.length > 0 ? job.localAddresses[i % job.localAddresses.length] : undefined
      const token = job.tokens !== undefined && job.tokens.length > 0 ? job.tokens[i % job.tokens.length] : undefined
      const session = laneSessions[me]
      try {
        const c = await RawClient.connect({
          host: job.host, port: job.port, clientId: `${job.idPrefix}${i}`,
          ...(a !== undefined ? { localAddress: a } : {}), ...(token !== undefined ? { username: token } : {}),
          ...(job.tls !== undefined ? { tls: { version: job.tls.version, ...(job.tls.resume && session !== undefined ? { session } : {}) } } : {}),
        })
        if (c.resumed) resumed++
        // A broker may send no new ticket on a resumed connection: the lane keeps the one it has (as a device would).
        if (job.tls?.resume === true) laneSessions[me] = c.tlsSession ?? session
        if (job.hold) held.push(c)
        else await c.disconnect()
        ok++
      } catch (err) {
        failed++
        firstError ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(job.concurrency, job.count)) }, lane))
  return { ok, failed, resumed, ...(firstError !== undefined ? { firstError } : {}) }
}

async function release(): Promise<void> {
  for (const c of held) c.destroy()
  held = []
  await immediate()
}

parentPort!.on('message', (msg: Job & { id: number }) => {
  const { id, ...job } = msg
  const run = async (): Promise<unknown> => {
    switch (job.op) {
      case 'setup': await setup(job); return {}
      case 'load': return load(job)
      case 'teardown': return teardown()
      case 'connect': return connectMany(job)
      case 'release': await release(); return {}
      case 'exit': setImmediate(() => process.exit(0)); return {}
    }
  }
  run().then(
    (result) => parentPort!.postMessage({ id, ok: true, result }),
    (err: unknown) => parentPort!.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  )
})
