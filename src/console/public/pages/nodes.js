// Nodes: the cluster's nodes (GET /cluster/nodes) — up, stopped or down, with the clients,
// sessions and message rates each reported with its last heartbeat; refreshed every few seconds.
// A broker without `cluster` says so instead.
import { api } from '../api.js'
import { formatNumber, formatRelative, formatTime, h, mount } from '../dom.js'
import { pill, showError, table } from '../ui.js'

export const POLL_MS = 3000

/** @typedef {{ nodeId: string, state: 'up' | 'stopped' | 'down', self: boolean, lastHeartbeat?: string, report: Record<string, number> }} ClusterNode */

const STATE = {
  up: ['up', 'ok', 'heartbeat within the last 3 s'],
  stopped: ['stopped', 'off', 'left cleanly; its offline sessions wait in Redis for their clients'],
  down: ['down', 'bad', 'no heartbeat: it died or lost Redis; the other nodes take over its sessions'],
}

/** @param {number | undefined} n */
const number = (n) => (typeof n === 'number' && Number.isFinite(n) ? formatNumber(n) : '—')

/** Whether this broker is part of a cluster (false: GET /cluster/nodes answers 404). */
export async function clustered() {
  try {
    await api.get('/cluster/nodes')
    return true
  } catch (err) {
    if (/** @type {{ status?: number }} */ (err).status === 404) return false
    return true
  }
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: 'nodes' }, h('p', { class: 'muted' }, 'Loading…'))
  let stopped = false
  let timer = 0

  /** @param {ClusterNode[]} nodes */
  const draw = (nodes) => {
    const up = nodes.filter((n) => n.state === 'up')
    const sum = (/** @type {string} */ k) => up.reduce((s, n) => s + (n.report[k] ?? 0), 0)
    mount(list,
      h('p', { id: 'nodes-summary' }, `${up.length} of ${nodes.length} nodes up · ${formatNumber(sum('clients'))} clients · ${formatNumber(sum('sessions'))} sessions · ` +
        `${formatNumber(Math.round(sum('messagesInPerSecond')))} messages in/s · ${formatNumber(Math.round(sum('messagesOutPerSecond')))} out/s`),
      table(['Node', 'State', 'Clients', 'Sessions', 'Messages in/s', 'Messages out/s', 'Started', 'Last heartbeat'], nodes.map((n) => {
        const [text, tone, title] = STATE[n.state] ?? [n.state, 'off', '']
        const r = n.report ?? {}
        return h('tr', { 'data-node': n.nodeId, 'data-state': n.state },
          h('td', null, h('strong', null, n.nodeId), n.self ? h('span', { class: 'muted' }, ' (this node)') : null),
          h('td', { title }, pill(text, tone)),
          h('td', { 'data-field': 'clients' }, number(r['clients'])),
          h('td', { 'data-field': 'sessions' }, number(r['sessions'])),
          h('td', null, number(r['messagesInPerSecond'])),
          h('td', null, number(r['messagesOutPerSecond'])),
          h('td', { title: r['startedAt'] ? formatTime(r['startedAt']) : '' }, r['startedAt'] ? formatRelative(r['startedAt']) : '—'),
          h('td', { title: n.lastHeartbeat ? formatTime(n.lastHeartbeat) : '' }, n.lastHeartbeat ? formatRelative(n.lastHeartbeat) : '—'))
      }), { class: 'list', id: 'node-table' }),
      h('p', { class: 'muted' }, 'Clients, sessions and rates are what each node reported with its last heartbeat (once a second). A stopped or down node shows its last report.'))
  }

  const load = async () => {
    clearTimeout(timer)
    try {
      const nodes = /** @type {ClusterNode[]} */ (await api.get('/cluster/nodes'))
      if (stopped) return
      showError(slot)
      draw(nodes)
    } catch (err) {
      if (stopped) return
      if (/** @type {{ status?: number }} */ (err).status === 404) {
        showError(slot)
        mount(list, h('div', { class: 'empty card', id: 'not-clustered' },
          h('p', null, 'This broker runs alone: it is not part of a cluster.'),
          h('p', { class: 'muted' }, 'With `cluster: { redis: … }` in the configuration, several brokers share one Redis and act as one; this page then lists them.')))
        return
      }
      showError(slot, err)
    }
    if (!stopped) timer = window.setTimeout(load, POLL_MS)
  }

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Nodes'),
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', id: 'refresh-nodes', onclick: () => load() }, 'Refresh'))),
    slot, list)
  void load()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
