/**
 * A cluster node that holds many persistent sessions and is then SIGKILLed, for tests of a dead
 * node's adoption: `startDyingNode(target, nodeId, count)` runs this file as a child process,
 * which joins the cluster's Redis as `nodeId` (a liveness key, heartbeats), claims and stores
 * `count` sessions as a node records them — their clients connected, each with a subscription
 * `many/<i>` (QoS 1) and one queued QoS 1 message `queued <i>` on it, every third with a will on
 * `wills/<i>` (QoS 1, no delay) — and goes on beating until killed (at most 120 s).
 * Written straight into Redis: thousands of real connections would take a test minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { NodeMembership } from '../../src/cluster/membership.js'
import { ClientRegistry } from '../../src/cluster/registry.js'
import { silentLogger } from '../../src/log.js'
import { NEVER_EXPIRES, type Message } from '../../src/mqtt/types.js'
import { RedisState, type RedisTarget } from '../../src/store/redis/redis-state.js'
import { RedisSessionStore } from '../../src/store/redis/session-store.js'

/** Client id of session i. */
export const dyingClientId = (i: number): string => `many-${i}`
/** Session i has a will (on `wills/<i>`). */
export const hasWill = (i: number): boolean => i % 3 === 0

export interface DyingNode {
  /** SIGKILL: its liveness key lapses NODE_DEAD_AFTER_MS after its last heartbeat. */
  kill(): void
}

/** Start the child; resolves once its sessions are stored (at most 60 s). */
export async function startDyingNode(target: RedisTarget, nodeId: string, count: number): Promise<DyingNode> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, DYING_NODE: JSON.stringify({ target, nodeId, count }) }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the dying node did not store its sessions within 60 s')), 60_000)
    child.stdout?.on('data', (d: Buffer) => {
      if (!d.toString().includes('stored')) return
      clearTimeout(t)
      resolve()
    })
    child.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`the dying node exited (${code}): ${err}`))
    })
  })
  child.removeAllListeners('exit')
  return { kill: () => child.kill('SIGKILL') }
}

async function run(target: RedisTarget, nodeId: string, count: number): Promise<void> {
  const logger = silentLogger()
  const state = await RedisState.open(target, nodeId, logger)
  const membership = await NodeMembership.join(state, logger)
  const registry = new ClientRegistry(state, membership, logger)
  await registry.start()
  const store = new RedisSessionStore(state, registry)
  for (let from = 0; from < count; from += 500) {
    const ids = Array.from({ length: Math.min(500, count - from) }, (_, k) => from + k)
    await Promise.all(ids.map((i) => registry.claim(dyingClientId(i), false)))
    for (const i of ids) {
      const clientId = dyingClientId(i)
      // (With the cluster id every published message gets: a client moving between nodes gets it once.)
      const message = (topic: string, text: string): Message => ({
        topic, payload: Buffer.from(text), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: nodeId, clusterId: state.nextId(),
      })
      store.saveSession({
        clientId,
        expiryInterval: NEVER_EXPIRES,
        connected: true,
        lastConnection: { username: undefined, usernameIsToken: false, remoteAddress: '127.0.0.1', protocolVersion: 5, disconnectedAt: Date.now() },
        will: hasWill(i) ? { message: message(`wills/${i}`, `gone ${i}`), delay: 0, expiry: undefined, publishAt: undefined } : undefined,
      })
      store.addSubscription(clientId, { key: `many/${i}`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
      store.queueDelivery(clientId, { message: message(`many/${i}`, `queued ${i}`), qos: 1, retain: false, subscriptionIds: undefined })
    }
    const err = await new Promise<Error | undefined>((r) => state.afterCommit(r))
    if (err !== undefined) throw err
  }
  process.stdout.write('stored\n')
  setTimeout(() => process.exit(0), 120_000)
}

if (process.env['DYING_NODE'] !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  const { target, nodeId, count } = JSON.parse(process.env['DYING_NODE']) as { target: RedisTarget; nodeId: string; count: number }
  await run(target, nodeId, count)
}
