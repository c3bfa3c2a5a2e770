/**
 * storm-memory (issue 19): what a connect storm leaves behind in a broker that is idle again.
 * `count` clients connect and disconnect (20 at a time, the connect scenario's load); then the
 * broker is left alone. Read without forcing anything: its RSS right after the storm and once
 * settled (`settleMs` later, or earlier when RSS has been steady for 5 s after a drop); for Node
 * brokers (memory-probe.mjs) the V8 heap as it is then (committed and in use), and after two full
 * GCs (what is still referenced: a leak would show here). Mosquitto frees as it goes: RSS only.
 * The main figure is the settled RSS growth (MiB): what an operator sees after the storm.
 */
import { HOST, rssKiB, type RunningBroker } from './brokers.js'
import type { Ctx, Measurement } from './scenarios.js'

const MiB = 1024 * 1024

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function stormMemoryRun(ctx: Ctx, broker: RunningBroker, count: number, settleMs: number): Promise<Measurement> {
  const { gen } = ctx
  const flags: string[] = []
  // A few connections first so lazily-initialised paths are not charged to the storm.
  await gen.connect({ host: HOST, port: broker.port, count: 50, concurrency: 10, deadline: Date.now() + 10_000, idPrefix: 'warm-', localAddresses: ctx.localAddresses, hold: false })
  await sleep(500)
  const before = broker.probeMemory !== undefined ? await broker.probeMemory() : undefined
  const rss0 = rssKiB(broker.pid) * 1024
  const t0 = performance.now()
  const r = await gen.connect({
    host: HOST, port: broker.port, count, concurrency: 20, deadline: Date.now() + (ctx.quick ? 20_000 : 120_000),
    idPrefix: 'storm-', localAddresses: ctx.localAddresses, hold: false,
  })
  const seconds = (performance.now() - t0) / 1000
  await sleep(200)
  const soon = rssKiB(broker.pid) * 1024
  // Settled: RSS dropped (V8's memory reducer, malloc trimming) and then held steady 5 s, or the bound.
  const until = Date.now() + settleMs
  let settled = soon
  let low = soon
  let steadySince = 0
  while (Date.now() < until) {
    await sleep(1_000)
    settled = rssKiB(broker.pid) * 1024
    if (settled < low * 0.95) {
      low = settled
      steadySince = Date.now()
    } else if (steadySince > 0 && Math.abs(settled - low) > low * 0.02) steadySince = Date.now()
    if (steadySince > 0 && Date.now() - steadySince >= 5_000) break
  }
  const after = broker.probeMemory !== undefined ? await broker.probeMemory() : undefined
  if (r.failed > 0) flags.push(`${r.failed} of ${count} connects failed: ${r.firstError}`)
  const m: Measurement = {
    ok: r.ok > 0, ops: r.ok, seconds, brokerCpuSeconds: 0, throughput: r.ok / seconds, flags,
    stormRssSoonMiB: (soon - rss0) / MiB,
    stormRssSettledMiB: (settled - rss0) / MiB,
  }
  if (before !== undefined && after?.asIs !== undefined) {
    m.stormHeapTotalMiB = (after.asIs.heapTotal - before.heapTotal) / MiB
    m.stormHeapUsedMiB = (after.asIs.heapUsed - before.heapUsed) / MiB
    m.stormHeapUsedGcMiB = (after.heapUsed - before.heapUsed) / MiB
  }
  if (r.ok === 0) m.error = 'no connect succeeded'
  return m
}
