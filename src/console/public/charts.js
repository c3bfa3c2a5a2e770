// Small SVG charts drawn by hand: a time-series line chart and a horizontal bar chart.
import { svg, h } from './dom.js'

const PALETTE = ['#2a6f97', '#e76f51', '#2a9d8f', '#8d5fd3', '#e9c46a', '#6c757d']

/** Rounds up to 1, 2 or 5 × 10^n. @param {number} v */
function niceMax(v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

/** @param {number} n */
function short(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`
  return `${+n.toFixed(n < 10 && n % 1 !== 0 ? 1 : 0)}`
}

/**
 * A line chart of time series sharing one x axis (sample index, oldest first).
 * @param {{ title: string, unit?: string, series: Array<{ name: string, values: number[], color?: string }>, width?: number, height?: number, capacity?: number }} o
 */
export function lineChart(o) {
  const width = o.width ?? 420, height = o.height ?? 150
  const pad = { l: 38, r: 8, t: 10, b: 18 }
  const w = width - pad.l - pad.r, hgt = height - pad.t - pad.b
  const capacity = Math.max(2, o.capacity ?? Math.max(2, ...o.series.map((s) => s.values.length)))
  const max = niceMax(Math.max(0, ...o.series.flatMap((s) => s.values)))
  const x = (/** @type {number} */ i, /** @type {number} */ n) => pad.l + (w * (capacity - n + i)) / (capacity - 1)
  const y = (/** @type {number} */ v) => pad.t + hgt - (hgt * v) / max
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': o.title })
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f)
    root.appendChild(svg('line', { x1: pad.l, x2: width - pad.r, y1: yy, y2: yy, class: 'grid' }))
    const label = svg('text', { x: pad.l - 4, y: yy + 3, 'text-anchor': 'end', class: 'axis' })
    label.textContent = short(max * f)
    root.appendChild(label)
  }
  o.series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]
    const n = s.values.length
    if (n === 0) return
    const pts = s.values.map((v, i) => `${x(i, n).toFixed(1)},${y(v).toFixed(1)}`)
    if (n === 1) root.appendChild(svg('circle', { cx: x(0, 1), cy: y(s.values[0] ?? 0), r: 2.5, fill: color }))
    else {
      const area = `M${x(0, n).toFixed(1)},${y(0)} L${pts.join(' L')} L${x(n - 1, n).toFixed(1)},${y(0)} Z`
      root.appendChild(svg('path', { d: area, fill: color, opacity: 0.12 }))
      root.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }))
    }
  })
  const last = (/** @type {number[]} */ v) => (v.length > 0 ? v[v.length - 1] ?? 0 : 0)
  const legend = h('div', { class: 'legend' }, o.series.map((s, k) =>
    h('span', null, h('i', { class: 'swatch', 'data-color': String(k % PALETTE.length) }), `${s.name} `, h('b', null, short(last(s.values)) + (o.unit ?? '')))))
  return h('figure', { class: 'chart-card' }, h('figcaption', null, o.title), root, legend)
}

/**
 * Horizontal bars, largest first.
 * @param {{ title: string, items: Array<{ label: string, value: number, tone?: 'ok' | 'bad' }>, empty?: string }} o
 */
export function barChart(o) {
  const items = [...o.items].sort((a, b) => b.value - a.value)
  // The label column fits the longest label (error codes such as ERR_AUTH_METHOD_UNSUPPORTED
  // were cut to "R_AUTH_METHOD_UNSUPPORT…"): ~7 units per character of the 10-unit axis font.
  const row = 20, labelW = Math.max(120, Math.ceil(Math.max(0, ...items.map((i) => i.label.length)) * 7) + 12), width = labelW + 250
  const height = Math.max(row, items.length * row) + 4
  const max = niceMax(Math.max(0, ...items.map((i) => i.value)))
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': o.title })
  items.forEach((it, i) => {
    const yy = 2 + i * row
    const label = svg('text', { x: labelW - 6, y: yy + 13, 'text-anchor': 'end', class: 'axis' })
    label.textContent = it.label
    root.appendChild(label)
    const bw = ((width - labelW - 50) * it.value) / max
    root.appendChild(svg('rect', { x: labelW, y: yy + 3, width: Math.max(bw, it.value > 0 ? 2 : 0), height: row - 6, rx: 2, class: it.tone === 'ok' ? 'bar-ok' : 'bar-bad' }))
    const value = svg('text', { x: labelW + bw + 4, y: yy + 13, class: 'axis' })
    value.textContent = short(it.value)
    root.appendChild(value)
  })
  return h('figure', { class: 'chart-card' }, h('figcaption', null, o.title), items.length === 0 ? h('p', { class: 'muted' }, o.empty ?? 'Nothing yet.') : root)
}
