// Small SVG charts drawn by hand: a line chart over time and a horizontal bar chart.
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

/** Steps between time labels (seconds): the smallest that leaves at most 6 labels is used. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]

/** HH:MM, or HH:MM:SS when labels are less than a minute apart (local time). @param {number} t @param {boolean} seconds */
function clockLabel(t, seconds) {
  const d = new Date(t)
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0')
  return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`
}

/**
 * A line chart over time: each series' values at `times` (epoch ms, oldest first), on an x axis
 * from `from` to `to` labelled with clock times.
 * @param {{ title: string, unit?: string, id?: string, times: number[], from: number, to: number,
 *   series: Array<{ name: string, values: number[], color?: string }>, width?: number, height?: number }} o
 */
export function timeChart(o) {
  const width = o.width ?? 420, height = o.height ?? 160
  const pad = { l: 38, r: 10, t: 10, b: 22 }
  const w = width - pad.l - pad.r, hgt = height - pad.t - pad.b
  const span = Math.max(1, o.to - o.from)
  const max = niceMax(Math.max(0, ...o.series.flatMap((s) => s.values)))
  const x = (/** @type {number} */ t) => pad.l + (w * (t - o.from)) / span
  const y = (/** @type {number} */ v) => pad.t + hgt - (hgt * v) / max
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': o.title, 'data-from': o.from, 'data-to': o.to })
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f)
    root.appendChild(svg('line', { x1: pad.l, x2: width - pad.r, y1: yy, y2: yy, class: 'grid' }))
    const label = svg('text', { x: pad.l - 4, y: yy + 3, 'text-anchor': 'end', class: 'axis' })
    label.textContent = short(max * f)
    root.appendChild(label)
  }
  const step = (TIME_STEPS.find((s) => span / 1000 / s <= 6) ?? 3600) * 1000
  for (let t = Math.ceil(o.from / step) * step; t <= o.to; t += step) {
    const xx = x(t)
    root.appendChild(svg('line', { x1: xx, x2: xx, y1: pad.t, y2: pad.t + hgt, class: 'grid' }))
    if (xx + (step < 60_000 ? 22 : 15) > width) continue // a label cut by the chart's edge: the grid line says enough
    const label = svg('text', { x: xx, y: height - 6, 'text-anchor': 'middle', class: 'axis time', 'data-t': t })
    label.textContent = clockLabel(t, step < 60_000)
    root.appendChild(label)
  }
  o.series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]
    const n = Math.min(s.values.length, o.times.length)
    if (n === 0) return
    const px = (/** @type {number} */ i) => x(o.times[i] ?? o.to).toFixed(1)
    const pts = s.values.slice(0, n).map((v, i) => `${px(i)},${y(v).toFixed(1)}`)
    if (n === 1) root.appendChild(svg('circle', { cx: px(0), cy: y(s.values[0] ?? 0), r: 2.5, fill: color, 'data-series': s.name }))
    else {
      const area = `M${px(0)},${y(0)} L${pts.join(' L')} L${px(n - 1)},${y(0)} Z`
      root.appendChild(svg('path', { d: area, fill: color, opacity: 0.12 }))
      root.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 1.8, 'stroke-linejoin': 'round', 'data-series': s.name }))
    }
  })
  const last = (/** @type {number[]} */ v) => (v.length > 0 ? v[v.length - 1] ?? 0 : 0)
  const legend = h('div', { class: 'legend' }, o.series.map((s, k) =>
    h('span', null, h('i', { class: 'swatch', 'data-color': String(k % PALETTE.length) }), `${s.name} `, h('b', null, short(last(s.values)) + (o.unit ?? '')))))
  return h('figure', { class: 'chart-card', ...(o.id !== undefined ? { 'data-chart': o.id } : {}) }, h('figcaption', null, o.title), root, legend)
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
