/**
 * Metrics read when /metrics is scraped, from numbers the broker keeps anyway: nothing is
 * counted twice on the hot path. The broker, store and cluster metrics all register theirs
 * through these two.
 */
import { Counter, Gauge, type LabelValues, type Registry } from 'prom-client'

/** A gauge set to what `read` answers at each scrape (a promise for a value Redis holds). */
export function scrapedGauge(registry: Registry, name: string, help: string, read: () => number | Promise<number>): void {
  new Gauge({
    name, help, registers: [registry],
    async collect() {
      this.set(await read())
    },
  })
}

/** Adds one labelled total (labels `{}` on a counter without labels). */
export type AddTotal = (labels: LabelValues<string>, n: number) => void

/** A counter whose totals are read at each scrape: `totals` adds each labelled total. */
export function scrapedCounter(registry: Registry, name: string, help: string, labelNames: readonly string[], totals: (add: AddTotal) => void): void {
  new Counter({
    name, help, labelNames: [...labelNames], registers: [registry],
    collect() {
      this.reset()
      totals((labels, n) => this.inc(labels, n))
    },
  })
}
