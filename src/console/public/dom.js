// Tiny DOM helpers. Text always goes in as text nodes (never as HTML), so values from the
// API can never become markup.

/**
 * h('button', { class: 'primary', onclick: fn, 'data-x': 1 }, 'Save') → HTMLElement.
 * Attributes: `class`, `for`, event handlers (on*), booleans (true → present, false/null/
 * undefined → absent), anything else via setAttribute. Children: nodes, strings, numbers,
 * arrays, and null/undefined/false (skipped).
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value))
    else if (key === 'value' && 'value' in el) /** @type {HTMLInputElement} */ (el).value = String(value)
    else if (key === 'checked' && 'checked' in el) /** @type {HTMLInputElement} */ (el).checked = Boolean(value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

/** @param {Node} el @param {unknown[]} children */
function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue
    if (Array.isArray(child)) append(el, child)
    else if (child instanceof Node) el.appendChild(child)
    else el.appendChild(document.createTextNode(String(child)))
  }
}

/** Replaces the children of `el`. @param {Element} el @param {...unknown} children */
export function mount(el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

const SVG_NS = 'http://www.w3.org/2000/svg'
/** An SVG element. @param {string} tag @param {Record<string, string|number>} [attrs] @param {...Node} children */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  for (const c of children) el.appendChild(c)
  return el
}

export function formatTime(value) {
  if (value === undefined || value === null || value === '') return '—'
  const d = new Date(typeof value === 'number' && value < 1e11 ? value * 1000 : value)
  if (Number.isNaN(d.getTime())) return String(value)
  return d.toLocaleString(undefined, { hour12: false })
}

/** "in 3 min", "12 s ago". */
export function formatRelative(value) {
  if (value === undefined || value === null || value === '') return ''
  const d = new Date(typeof value === 'number' && value < 1e11 ? value * 1000 : value)
  const s = Math.round((d.getTime() - Date.now()) / 1000)
  if (Number.isNaN(s)) return ''
  const abs = Math.abs(s)
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`
  return s >= 0 ? `in ${text}` : `${text} ago`
}

export function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—'
  const d = Math.floor(seconds / 86400), hh = Math.floor((seconds % 86400) / 3600), mm = Math.floor((seconds % 3600) / 60), ss = Math.floor(seconds % 60)
  return d > 0 ? `${d}d ${hh}h ${mm}m` : hh > 0 ? `${hh}h ${mm}m` : mm > 0 ? `${mm}m ${ss}s` : `${ss}s`
}

export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

export function formatNumber(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—'
  return n.toLocaleString(undefined, { maximumFractionDigits: 1 })
}

/** Lines of a textarea → non-empty trimmed strings. @param {string} text */
export function lines(text) {
  return text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '')
}
