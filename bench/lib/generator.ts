/**
 * The load generator's coordinator: a pool of worker threads (bench/lib/worker.ts) and the
 * shared counters they update. All waits are bounded.
 */
import { Worker } from 'node:worker_threads'
import { CTRL, type Job, type PubSpec, type SubSpec, type TransportTls, type WorkerTeardown } from './jobs.js'

export interface LoadResult { sent: number; timedOut: boolean }
export interface TeardownResult {
  latencies: Float64Array; unique: [number, number]; duplicates: number; unacked: number
  /** Deliveries missing of QoS 1 messages whose PUBACK a publisher received: what a broker lost. */
  ackedLost: number
}
export interface ConnectResult {
  ok: number; failed: number; firstError?: string
  /** Over TLS: connections whose handshake resumed a session. */
  resumed: number
}

export class Generator {
  readonly ctrl: Int32Array
  private readonly workers: Worker[] = []
  private readonly sab: SharedArrayBuffer
  /** Set once a worker died: every later call fails at once. */
  private dead: Error | undefined
  /** Job ids: answers are matched to their job (a timed-out job may still answer later). */
  #jobs = 0

  constructor(readonly size: number) {
    this.sab = new SharedArrayBuffer(CTRL.SIZE * 4)
    this.ctrl = new Int32Array(this.sab)
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { sab: this.sab, workers: size } })
      w.setMaxListeners(100)
      w.on('error', (err) => { this.dead ??= err })
      w.on('exit', (code) => { this.dead ??= new Error(`generator worker exited (code ${code})`) })
      w.unref()
      this.workers.push(w)
    }
  }

  private call<T>(i: number, job: Job, timeoutMs: number): Promise<T> {
    const w = this.workers[i]
    if (this.dead !== undefined) return Promise.reject(this.dead)
    const id = ++this.#jobs
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error(`worker ${i}: '${job.op}' took longer than ${timeoutMs} ms`)) }, timeoutMs)
      const onMessage = (m: { id: number; ok: boolean; result?: unknown; error?: string }): void => {
        // the late answer of a job given up on (timed out) is not this job's
        if (m.id !== id) return
        cleanup()
        if (m.ok) resolve(m.result as T)
        else reject(new Error(`worker ${i}: ${m.error}`))
      }
      const onError = (err: Error): void => { cleanup(); reject(err) }
      const onExit = (): void => { cleanup(); reject(new Error(`worker ${i} exited`)) }
      const cleanup = (): void => { clearTimeout(timer); w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit) }
      w.on('message', onMessage)
      w.on('error', onError)
      w.on('exit', onExit)
      w.postMessage({ ...job, id })
    })
  }

  private all<T>(jobs: Job[], timeoutMs: number): Promise<T[]> {
    return Promise.all(jobs.map((job, i) => this.call<T>(i, job, timeoutMs)))
  }

  resetCounters(): void {
    for (let i = 0; i < CTRL.SIZE; i++) Atomics.store(this.ctrl, i, 0)
  }

  /** Distributes publishers and subscribers round robin over the workers and connects them. */
  async setup(host: string, port: number, pubs: PubSpec[], subs: SubSpec[], localAddresses: string[], timeoutMs: number, tls?: TransportTls): Promise<void> {
    this.resetCounters()
    const jobs: Job[] = this.workers.map((_, w) => ({
      op: 'setup', host, port, localAddresses, ...(tls !== undefined ? { tls } : {}),
      pubs: pubs.filter((_p, i) => i % this.size === w),
      subs: subs.filter((_s, i) => i % this.size === w),
    }))
    await this.all(jobs, timeoutMs)
  }

  /**
   * Runs one phase and waits until every expected delivery has arrived, the deadline passed,
   * or deliveries stopped for `idleMs` (lost QoS 0 messages). Returns the workers' results
   * and the deliveries counted.
   */
  async load(opts: {
    phase: 1 | 2; countPerPub: number; pubCount: number; fanout: number; window: number; maxInflightPerPub: number
    deadline: number; rate?: number; collectLatency: boolean; idleMs?: number
  }): Promise<{ sent: number; delivered: number; timedOut: boolean; idleStop: boolean }> {
    Atomics.store(this.ctrl, CTRL.SENT, 0)
    Atomics.store(this.ctrl, CTRL.STOP, 0)
    const perWorkerPubs = this.workers.map((_, w) => Array.from({ length: opts.pubCount }, (_x, i) => i).filter((i) => i % this.size === w).length)
    const jobs: Job[] = this.workers.map((_, w) => ({
      op: 'load', phase: opts.phase, countPerPub: opts.countPerPub, totalPubs: opts.pubCount, window: opts.window,
      fanout: opts.fanout, maxInflightPerPub: opts.maxInflightPerPub, deadline: opts.deadline, collectLatency: opts.collectLatency,
      ...(opts.rate !== undefined ? { rate: (opts.rate * (perWorkerPubs[w] ?? 0)) / opts.pubCount } : {}),
    }))
    const results = await this.all<LoadResult>(jobs, Math.max(1_000, opts.deadline - Date.now() + 10_000))
    const sent = results.reduce((n, r) => n + r.sent, 0)
    let timedOut = results.some((r) => r.timedOut)
    const recvIdx = opts.phase === 1 ? CTRL.RECV_WARM : CTRL.RECV_MEAS
    const expected = sent * opts.fanout
    let last = Atomics.load(this.ctrl, recvIdx)
    let lastChange = Date.now()
    let idleStop = false
    while (Atomics.load(this.ctrl, recvIdx) < expected) {
      const now = Date.now()
      if (now > opts.deadline) { timedOut = true; break }
      const cur = Atomics.load(this.ctrl, recvIdx)
      if (cur !== last) { last = cur; lastChange = now } else if (now - lastChange > (opts.idleMs ?? 1_000)) { idleStop = true; break }
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    return { sent, delivered: Atomics.load(this.ctrl, recvIdx), timedOut, idleStop }
  }

  stop(): void {
    Atomics.store(this.ctrl, CTRL.STOP, 1)
  }

  /**
   * Disconnect the load's clients and gather what they saw. `fanout`: subscribers each message
   * should reach, to count the acknowledged messages that did not reach every one (`ackedLost`).
   */
  async teardown(fanout = 1): Promise<TeardownResult> {
    const results = await this.all<WorkerTeardown>(this.workers.map(() => ({ op: 'teardown' })), 30_000)
    const total = results.reduce((n, r) => n + r.latencies.length, 0)
    const latencies = new Float64Array(total)
    let off = 0
    for (const r of results) { latencies.set(r.latencies, off); off += r.latencies.length }
    return {
      latencies,
      unique: [results.reduce((n, r) => n + r.unique[0], 0), results.reduce((n, r) => n + r.unique[1], 0)],
      duplicates: results.reduce((n, r) => n + r.duplicates, 0),
      unacked: results.reduce((n, r) => n + r.unacked, 0),
      ackedLost: ackedLost(results, 0, fanout) + ackedLost(results, 1, fanout),
    }
  }


  /**
   * Opens `count` connections spread over the workers (each connects, then disconnects unless
   * `hold`). With `rate`, connects start at that many per second in all (each worker its share).
   */
  async connect(opts: {
    host: string; port: number; count: number; concurrency: number; deadline: number; idPrefix: string
    localAddresses: string[]; tokens?: string[]; hold: boolean; rate?: number; tls?: TransportTls
  }): Promise<ConnectResult> {
    const jobs: Job[] = this.workers.map((_, w) => {
      const count = Math.floor(opts.count / this.size) + (w < opts.count % this.size ? 1 : 0)
      return {
        op: 'connect', host: opts.host, port: opts.port, count, concurrency: Math.ceil(opts.concurrency / this.size), deadline: opts.deadline,
        idPrefix: `${opts.idPrefix}w${w}-`, localAddresses: opts.localAddresses, hold: opts.hold,
        ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
        ...(opts.rate !== undefined ? { rate: opts.rate / this.size } : {}),
        ...(opts.tokens !== undefined ? { tokens: opts.tokens.filter((_t, i) => i % this.size === w) } : {}),
      }
    })
    const results = await this.all<ConnectResult>(jobs, Math.max(1_000, opts.deadline - Date.now() + 15_000))
    const firstError = results.find((r) => r.firstError !== undefined)?.firstError
    return {
      ok: results.reduce((n, r) => n + r.ok, 0), failed: results.reduce((n, r) => n + r.failed, 0), resumed: results.reduce((n, r) => n + r.resumed, 0),
      ...(firstError !== undefined ? { firstError } : {}),
    }
  }

  async release(): Promise<void> {
    await this.all(this.workers.map(() => ({ op: 'release' })), 30_000)
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.terminate()))
  }
}

/** Of one phase's messages acknowledged to a publisher (any worker), deliveries that never came (all workers' subscribers together). */
export function ackedLost(results: ReadonlyArray<Pick<WorkerTeardown, 'acked' | 'seenBy'>>, phase: 0 | 1, fanout: number): number {
  const acks = results.map((r) => r.acked[phase]).filter((a) => a !== undefined)
  const seen = results.map((r) => r.seenBy[phase]).filter((a) => a !== undefined)
  const size = acks[0]?.length ?? 0
  let lost = 0
  for (let k = 0; k < size; k++) {
    if (!acks.some((a) => a[k] === 1)) continue
    let n = 0
    for (const s of seen) n += s[k]
    if (n < fanout) lost += fanout - n
  }
  return lost
}
