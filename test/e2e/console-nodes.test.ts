/**
 * The console in a cluster (issue 13 item 6), in a real headless Chromium against two broker
 * child processes on one real redis-server (unix socket): the Nodes page lists both nodes up
 * with the clients each reported, and a node that dies turns "down"; the Clients page of node A
 * shows node B's client with a Node column and disconnects it (MQTT 5: DISCONNECT 0x98 from
 * node B). A broker without `cluster` has no Nodes entry, and the page says why.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { launchChromium, openConsolePage } from '../helpers/chromium.js'
import { withTimeout } from '../helpers/broker.js'
import { connectRetry, freePort, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import { API_KEY, removeDir, startAdmin } from '../admin/helpers.js'

let browser: Browser

before(async () => {
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
})

test('console: the Nodes page and the Clients page\'s Node column, with two nodes', async (t) => {
  const adminPorts = new Map<string, number>()
  const { nodes, clients } = await clusterNodes(t, ['node-a', 'node-b'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return { admin: { host: '127.0.0.1', port, apiKey: API_KEY } }
  })
  const [a, b] = nodes as [BrokerProcess, BrokerProcess]
  await Promise.all([a.start(), b.start()])
  const onA = await connectRetry(a.port, { clientId: 'cn-a', protocolVersion: 4 })
  const onB = await connectRetry(b.port, { clientId: 'cn-b', protocolVersion: 5 })
  clients.push(onA, onB)

  const { page, errors } = await openConsolePage(browser, `http://127.0.0.1:${adminPorts.get('node-a')}`, API_KEY, 'nodes')
  const row = (node: string) => page.locator(`#node-table tr[data-node="${node}"]`)
  // Each row shows what its node reported with its last heartbeat (once a second), so each node's
  // client appears on its own heartbeat: wait for both before reading the summary of the same draw.
  for (const node of ['node-a', 'node-b']) {
    await row(node).locator('[data-field=clients]', { hasText: /^1$/ }).waitFor({ timeout: 10_000 })
  }
  assert.equal(await row('node-a').getAttribute('data-state'), 'up')
  assert.equal(await row('node-b').getAttribute('data-state'), 'up')
  assert.match(await row('node-a').innerText(), /this node/)
  assert.match(await page.locator('#nodes-summary').innerText(), /^2 of 2 nodes up · 2 clients/)

  // Clients of both nodes on node A's Clients page, with their node; node B's disconnected from there.
  await page.click('nav a[data-route=clients]')
  const clientRow = (id: string) => page.locator(`#client-table tr[data-client-id="${id}"]`)
  await clientRow('cn-b').waitFor()
  assert.equal(await clientRow('cn-a').locator('[data-field=node]').innerText(), 'node-a')
  assert.equal(await clientRow('cn-b').locator('[data-field=node]').innerText(), 'node-b')
  assert.ok((await page.locator('#client-table th').allTextContents()).includes('Node'))
  let reason: number | undefined
  onB.on('disconnect', (p) => (reason = p.reasonCode))
  const closed = new Promise<void>((r) => onB.once('close', () => r()))
  await clientRow('cn-b').locator('[data-action=disconnect]').click()
  await page.locator('dialog.confirm [data-action=confirm]').click()
  await withTimeout(closed, 10_000, 'node B closes its client')
  assert.equal(reason, 0x98, 'DISCONNECT 0x98 Administrative action')
  await clientRow('cn-b').waitFor({ state: 'detached' })

  // A node that dies is shown down (no heartbeat for 3 s; the page looks every 3 s).
  await page.click('nav a[data-route=nodes]')
  await row('node-b').waitFor()
  await b.kill()
  await page.locator('#node-table tr[data-node="node-b"][data-state="down"]').waitFor({ timeout: 12_000 })
  assert.match(await page.locator('#nodes-summary').innerText(), /^1 of 2 nodes up/)
  assert.deepEqual(errors, [])
})

test('console: a broker without cluster has no Nodes entry; the page says why', async () => {
  const single = await startAdmin()
  try {
    const { page, errors } = await openConsolePage(browser, single.adminUrl, API_KEY, 'clients')
    await page.locator('nav a[data-route=nodes]').waitFor({ state: 'detached' })
    await page.goto(`${single.adminUrl}/#/nodes`)
    await page.locator('#not-clustered', { hasText: 'not part of a cluster' }).waitFor()
    assert.deepEqual(errors, [])
  } finally {
    await withTimeout(single.close(), 10_000, 'broker close')
    removeDir(single.dataDir)
  }
})
