/**
 * The cluster's client registry: one client id, one owner node, cluster-wide. Each client id
 * has an entry `pc:{cid}:owner` { node, epoch } in Redis. A node claims the id atomically (a
 * Lua script) before a CONNECT opens its session; a claim by another node gives the entry a
 * new, larger epoch. Every later write of the session (redis-state.ts `recordFenced`) carries
 * the epoch the writer was given and is refused once the entry holds another, so a paused or
 * cut-off node can never overwrite the session its successor now holds.
 *
 * Epochs are Redis's clock in microseconds (never below the last epoch + 1), so they keep
 * growing even when an entry is deleted when its session ends and created again later.
 *
 * Takeover: the claiming node tells the previous owner over Redis pub/sub (channel
 * `pc:takeover:<node>`), which closes its connection (MQTT 5 DISCONNECT 0x8E) and lets the
 * session go. Pub/sub may lose the signal; the epoch keeps the data right all the same (the
 * stale owner's next write is refused and it lets the session go then).
 *
 * Who handles the old connection's will is settled in Redis: before signalling, the claimer
 * sets a hand-off key `pc:{cid}:handoff` to its epoch; the old owner answers by deleting it (a
 * script that also publishes the answer). The claimer waits at most TAKEOVER_ANSWER_MS, then
 * deletes the key itself if it is still there: whichever of the two deletes it handles the
 * will. A node that crashed (no subscriber left), or is paused or cut off from Redis while its
 * socket stays open, does not answer in time: its client's will is the claimer's, and the old
 * node, when it runs again, finds the key gone and closes the connection without its will.
 */
import { Cluster, type Result } from 'ioredis'
import { PortcullisError } from '../errors.js'
import type { Logger } from '../log.js'
import { subscribersOf, type RedisClient, type RedisState } from '../store/redis/redis-state.js'
import type { OwnershipClaim } from './ownership.js'
import type { NodeMembership } from './membership.js'
import { clock } from '../clock.js'
import { parseNotice } from './notice.js'
import { slotOf } from '../store/redis/slots.js'

export const REGISTRY_KEYS = {
  owner: (cid: string) => `pc:{${cid}}:owner`,
  handoff: (cid: string) => `pc:{${cid}}:handoff`,
  takeover: (node: string) => `pc:takeover:${node}`,
} as const

/** The node that owns a client id now (its registry entry), or undefined when none does. */
export async function clientOwner(client: RedisClient, clientId: string): Promise<string | undefined> {
  return (await client.hget(REGISTRY_KEYS.owner(clientId), 'node')) ?? undefined
}

/** How long a claiming node waits for the previous owner to answer its takeover signal. */
export const TAKEOVER_ANSWER_MS = 1000
/** The hand-off key outlives any wait for an answer (a claimer that crashed meanwhile). */
const HANDOFF_TTL_MS = 10_000

/**
 * KEYS[1]: the hand-off key. ARGV[1]: the epoch it must hold. Deletes it when it holds that
 * epoch (1: the caller handles the old connection's will), else 0. The old owner's call also
 * publishes ARGV[3] on channel ARGV[2] (the claimer's: it stops waiting).
 */
const HANDOFF_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`

/**
 * KEYS[1]: the client's registry entry; KEYS[2]: its hand-off key. ARGV[1]: this node; ARGV[2]:
 * the epoch this node holds ('' for none); ARGV[3]: 'take' (a CONNECT: always) or 'orphan'
 * (start-up: only when unowned or owned by a node not listed in ARGV[4..], the live nodes).
 * Answers { outcome, previous node, previous epoch, epoch }. The entry keeps the previous epoch
 * (`prev`); a 'take' from another node sets the hand-off key in the same step: until the
 * previous owner answers, its writes with the previous epoch still land (redis-state.ts), so the
 * session the claimer loads after the answer holds everything the previous owner did.
 */
const CLAIM_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
local node, epoch = cur[1], cur[2]
if node and node == ARGV[1] and epoch == ARGV[2] then return {'held', node, epoch, epoch} end
if ARGV[3] == 'orphan' and node and node ~= ARGV[1] then
  for i = 4, #ARGV do
    if ARGV[i] == node then return {'owned', node, epoch, ''} end
  end
end
local t = redis.call('TIME')
local e = tonumber(t[1]) * 1000000 + tonumber(t[2])
if epoch and tonumber(epoch) >= e then e = tonumber(epoch) + 1 end
local es = string.format('%.0f', e)
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', es)
if node and node ~= ARGV[1] and epoch then
  redis.call('HSET', KEYS[1], 'prev', epoch)
  if ARGV[3] == 'take' then redis.call('SET', KEYS[2], es, 'PX', ${HANDOFF_TTL_MS}) end
else
  redis.call('HDEL', KEYS[1], 'prev')
end
return {'claimed', node or '', epoch or '', es}
`

/**
 * CLAIM_LUA's 'orphan' claim of many client ids in one call (start-up, one Redis: the keys of
 * several client ids share no slot on a Redis Cluster). KEYS: their n registry entries (none
 * held by this node), then their n session facts keys, then this node's held set. ARGV[1]: this
 * node; ARGV[2]: n; ARGV[3..2+n]: the client ids; then the live nodes. Each entry is claimed
 * exactly as CLAIM_LUA claims it — when unowned or owned by a node not listed — under an epoch
 * above its last, and a claimed id with a stored session joins the held set in the same step (as
 * the fenced write after a single claim does). The answer holds, per id, the node that held it
 * ('' for none) and the new epoch ('' when a live node owns it: not claimed).
 */
const CLAIM_ORPHANS_LUA = `
local n = tonumber(ARGV[2])
local live = {}
for i = 3 + n, #ARGV do live[ARGV[i]] = true end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, n do
  local key = KEYS[i]
  local cur = redis.call('HMGET', key, 'node', 'epoch')
  local node, epoch = cur[1], cur[2]
  if node and node ~= ARGV[1] and live[node] then
    out[2 * i - 1] = node
    out[2 * i] = ''
  else
    local e = now
    if epoch and tonumber(epoch) >= e then e = tonumber(epoch) + 1 end
    local es = string.format('%.0f', e)
    redis.call('HSET', key, 'node', ARGV[1], 'epoch', es)
    if node and node ~= ARGV[1] and epoch then redis.call('HSET', key, 'prev', epoch) else redis.call('HDEL', key, 'prev') end
    if redis.call('EXISTS', KEYS[n + i]) == 1 then redis.call('SADD', KEYS[2 * n + 1], ARGV[2 + i]) end
    out[2 * i - 1] = node or ''
    out[2 * i] = es
  end
end
return out
`

/**
 * CLAIM_LUA's 'orphan' claim of one client id and, when it claims, the read of its stored keys in
 * the same step (a Redis Cluster: a client id's keys sit in one slot, a script touches no other).
 * KEYS[1]: its registry entry; then the keys to read: ARGV[3] hashes (HGETALL), then sets
 * (SMEMBERS). ARGV[1]: this node; ARGV[2]: the epoch this node holds ('' for none); ARGV[4..]: the
 * live nodes. Answers { 'held' | 'owned' } when not claimed, else { 'claimed', previous node ('' for
 * none), new epoch, each key's contents as a flat list }.
 */
const CLAIM_ORPHAN_READ_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
local node, epoch = cur[1], cur[2]
if node and node == ARGV[1] and epoch == ARGV[2] then return {'held'} end
if node and node ~= ARGV[1] then
  for i = 4, #ARGV do
    if ARGV[i] == node then return {'owned'} end
  end
end
local t = redis.call('TIME')
local e = tonumber(t[1]) * 1000000 + tonumber(t[2])
if epoch and tonumber(epoch) >= e then e = tonumber(epoch) + 1 end
local es = string.format('%.0f', e)
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', es)
if node and node ~= ARGV[1] and epoch then redis.call('HSET', KEYS[1], 'prev', epoch) else redis.call('HDEL', KEYS[1], 'prev') end
local out = {'claimed', node or '', es}
local hashes = tonumber(ARGV[3])
for i = 2, #KEYS do
  if i - 1 <= hashes then out[#out + 1] = redis.call('HGETALL', KEYS[i]) else out[#out + 1] = redis.call('SMEMBERS', KEYS[i]) end
end
return out
`

/** Client ids claimed per pipeline to one master of a Redis Cluster (claimOrphansReading). */
const CLAIMS_PER_PIPELINE = 256

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pcClaimOrphans(numKeys: number, ...args: string[]): Result<string[], Context>
    pcClaimOrphanRead(numKeys: number, ...args: string[]): Result<Array<string | string[]>, Context>
    pcClaim(key: string, ...args: string[]): Result<[string, string, string, string], Context>
    pcHandoff(key: string, ...args: string[]): Result<number, Context>
  }
}

/** The keys claimOrphansReading reads for a client id it claims: hashes (HGETALL) and sets (SMEMBERS). */
export interface OrphanReads {
  readonly hashes: readonly string[]
  readonly sets: readonly string[]
}

/** A client id claimOrphansReading claimed: the node that held it ('' none) and its keys as read in the claim's step. */
export interface OrphanRead {
  readonly previous: string
  readonly hashes: ReadonlyArray<Record<string, string>>
  readonly sets: ReadonlyArray<readonly string[]>
}

/** A client id claimOrphans claimed: the node that held it ('' none); `listed`: added to the held set in the claim's step. */
export interface OrphanClaim {
  readonly previous: string
  readonly listed: boolean
}

/** The set a batch of orphan claims adds the claimed client ids with a stored session to (claimOrphans). */
export interface OrphanHeldSet {
  readonly set: string
  /** A client id's session facts key: the session is stored while it exists. */
  readonly facts: (clientId: string) => string
}

interface TakeoverSignal {
  readonly clientId: string
  readonly epoch: string
  /** The new connection started clean: the session ends (its delayed will is due now). */
  readonly sessionEnds: boolean
  /** The claiming node (the answer goes to its channel). */
  readonly from: string
  /** Set on the answer of the old owner: it took the hand-off (handles the will). */
  readonly answer?: true
}

export class ClientRegistry {
  readonly nodeId: string
  readonly #state: RedisState
  readonly #membership: NodeMembership
  readonly #logger: Logger
  /** The epoch this node holds, by client id. */
  readonly #epochs = new Map<string, string>()
  /** Claims of one client id on this node run one after another. */
  readonly #claims = new Map<string, Promise<unknown>>()
  #subscriber: RedisClient | undefined
  #onTakenOver: (clientId: string, sessionEnds: boolean, willHere: boolean, to: string | undefined) => void = () => {}
  #onTakeoverStarted: (clientId: string, to: string, sessionEnds: boolean) => void = () => {}
  /** Clients whose write was refused (another node claimed them), waiting for the takeover signal. */
  readonly #fenced = new Map<string, NodeJS.Timeout>()
  /** Claims waiting for the previous owner's answer, by `<clientId> <epoch>`. */
  readonly #answers = new Map<string, () => void>()

  constructor(state: RedisState, membership: NodeMembership, logger: Logger) {
    this.#state = state
    this.#membership = membership
    this.#logger = logger
    this.nodeId = state.nodeId
    state.client.defineCommand('pcClaim', { lua: CLAIM_LUA, numberOfKeys: 2 })
    state.client.defineCommand('pcHandoff', { lua: HANDOFF_LUA, numberOfKeys: 1 })
    state.client.defineCommand('pcClaimOrphans', { lua: CLAIM_ORPHANS_LUA })
    state.client.defineCommand('pcClaimOrphanRead', { lua: CLAIM_ORPHAN_READ_LUA })
    state.onFenced = (clientId) => {
      // The claimer signals right after its claim: the signal is answered as usual (the hand-off,
      // the will, the new owner), so the claimer does not wait for an answer that never comes. Let
      // go here only when no signal follows in time (pub/sub lost it).
      if (!this.#epochs.has(clientId) || this.#fenced.has(clientId)) return
      this.#fenced.set(clientId, clock.setTimeout(() => {
        this.#fenced.delete(clientId)
        if (!this.#epochs.delete(clientId)) return
        this.#logger.warn({ clientId }, 'cluster: a write for this client was refused: another node claimed it; the session is let go here')
        // (Its will: the claiming node's, which found its hand-off key unanswered.)
        this.#onTakenOver(clientId, false, false, undefined)
      }, TAKEOVER_ANSWER_MS))
    }
  }

  /** Listen for takeover signals addressed to this node. */
  async start(): Promise<void> {
    const sub = this.#state.connection('portcullis-signals', true)
    sub.on('error', () => {}) // (the main connection logs Redis trouble)
    sub.on('message', (_channel: string, text: string) => this.#signalled(text))
    await sub.subscribe(REGISTRY_KEYS.takeover(this.nodeId))
    this.#subscriber = sub
  }

  /**
   * `handler` runs when another node's takeover signal arrives, before this node answers it (then
   * onTakenOver): the client's packets stop being read here, and what this node handles for it
   * goes on to the claiming node `to` — unless the new connection starts clean (`sessionEnds`).
   */
  onTakeoverStarted(handler: (clientId: string, to: string, sessionEnds: boolean) => void): void {
    this.#onTakeoverStarted = handler
  }

  /** `willHere`: this node handles the old connection's will (it answered the takeover in time). */
  onTakenOver(handler: (clientId: string, sessionEnds: boolean, willHere: boolean, to: string | undefined) => void): void {
    this.#onTakenOver = handler
  }

  /** True while this node holds the client id. */
  holds(clientId: string): boolean {
    return this.#epochs.has(clientId)
  }

  /** The epoch this node holds for a client id, or undefined when it holds none. */
  epochOf(clientId: string): string | undefined {
    return this.#epochs.get(clientId)
  }

  /**
   * A CONNECT: make this node the client id's owner. `current` when it already was (its
   * memory of the session is the latest); else the previous owner is told, and counts as
   * alive only when it answers within TAKEOVER_ANSWER_MS (then it handles the old
   * connection's will).
   */
  claim(clientId: string, cleanStart: boolean): Promise<OwnershipClaim> {
    return this.#serial(clientId, async () => {
      const r = this.#state.client
      const handoff = REGISTRY_KEYS.handoff(clientId)
      const [outcome, node, , epoch] = await r.pcClaim(REGISTRY_KEYS.owner(clientId), handoff, this.nodeId, this.#epochs.get(clientId) ?? '', 'take')
      this.#epochs.set(clientId, epoch)
      this.#unfence(clientId)
      if (outcome === 'held') return { current: true, previousAlive: false }
      if (node === '' || node === this.nodeId) return { current: false, previousAlive: false, unowned: node === '' }
      const signal: TakeoverSignal = { clientId, epoch, sessionEnds: cleanStart, from: this.nodeId }
      const key = `${clientId} ${epoch}`
      const answered = new Promise<void>((res) => this.#answers.set(key, res))
      // A node that crashed has no subscriber any more (Redis closed its connection): the
      // signal reaches no one, and the node counts as dead at once, even while its liveness key
      // lasts. One paused or cut off still receives it (Redis holds its socket) but cannot answer.
      // (The hand-off key was set with the claim.)
      let receivers: number
      try {
        receivers = await r.publish(REGISTRY_KEYS.takeover(node), JSON.stringify(signal))
      } catch (err) {
        this.#answers.delete(key)
        throw err
      }
      // On a Redis Cluster, PUBLISH counts only the subscribers on the master it ran on (the
      // signal reaches the others over the cluster bus): a zero proves nothing there, so every
      // node of the Redis Cluster is asked whether the old owner still listens.
      const heard = receivers !== 0 || (this.#state.sharded && await subscribersOf(r, REGISTRY_KEYS.takeover(node)) > 0)
      if (heard) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([answered, new Promise<void>((res) => (timer = clock.setTimeout(res, TAKEOVER_ANSWER_MS)))])
        clearTimeout(timer)
      }
      // Whoever deletes the hand-off key handles the will: the old owner did if it is gone. Deleted
      // here at once when nobody heard the signal: the old owner's writes (a node whose signal
      // connection was down, yet runs) are refused from now on, before the session is loaded.
      const previousAlive = (await r.pcHandoff(handoff, epoch)) === 0
      this.#answers.delete(key)
      // Another node claimed the id while this claim waited (a client connecting to several nodes
      // in turn): that claim won; this node holds nothing and must open no session.
      if (this.#epochs.get(clientId) !== epoch) throw new PortcullisError('ERR_SESSION_TAKEN_OVER', `client id ${clientId} was claimed by another node while this claim waited`)
      this.#logger.info({ clientId, from: node, alive: previousAlive }, previousAlive
        ? 'cluster: client id claimed from another node'
        : 'cluster: client id claimed from a node that did not answer (crashed, paused or cut off): its will is handled here')
      return { current: false, previousAlive, previous: node }
    })
  }

  /**
   * Claim a stored session's client id if no live node (other than this one) owns it: at
   * start-up, and when a node died. When this node claimed it now: the node that held it ('' for
   * none); false when a live node owns it, or this node already held it.
   */
  async claimOrphan(clientId: string, liveNodes: readonly string[]): Promise<false | { readonly previous: string }> {
    return this.#serial(clientId, async () => {
      const [outcome, previous, , epoch] = await this.#state.client.pcClaim(REGISTRY_KEYS.owner(clientId), REGISTRY_KEYS.handoff(clientId), this.nodeId, this.#epochs.get(clientId) ?? '', 'orphan', ...liveNodes)
      if (outcome !== 'claimed') return false
      this.#epochs.set(clientId, epoch)
      return { previous }
    })
  }

  /**
   * claimOrphan for a batch of client ids at once, in one script call, each claimed id with a
   * stored session (its key `held.facts(cid)` exists) added to set `held.set` in the same step
   * (`listed`). The caller makes sure no other claim of these ids runs on this node meanwhile
   * (start-up; the session manager's turn of each id). One Redis only (a Redis Cluster keeps each
   * client id in its own slot: claimOrphansReading). The claimed ids, each with the node that held
   * it ('' for none); an id this node holds already goes through claimOrphan (not listed).
   */
  async claimOrphans(clientIds: readonly string[], liveNodes: readonly string[], held: OrphanHeldSet): Promise<Map<string, OrphanClaim>> {
    if (this.#state.sharded) throw new TypeError('claimOrphans: not on a Redis Cluster')
    const claimed = new Map<string, OrphanClaim>()
    const batch: string[] = []
    for (const cid of clientIds) {
      if (!this.#epochs.has(cid)) batch.push(cid)
      else {
        const got = await this.claimOrphan(cid, liveNodes)
        if (got !== false) claimed.set(cid, { previous: got.previous, listed: false })
      }
    }
    if (batch.length === 0) return claimed
    const keys = [...batch.map(REGISTRY_KEYS.owner), ...batch.map(held.facts), held.set]
    const reply = await this.#state.client.pcClaimOrphans(keys.length, ...keys, this.nodeId, String(batch.length), ...batch, ...liveNodes)
    for (const [i, cid] of batch.entries()) {
      const epoch = reply[2 * i + 1]
      if (epoch === undefined || epoch === '') continue
      this.#epochs.set(cid, epoch)
      claimed.set(cid, { previous: reply[2 * i] ?? '', listed: true })
    }
    return claimed
  }

  /**
   * claimOrphan for many client ids on a Redis Cluster, each claimed and its keys (`reads(cid)`,
   * in its slot) read in one script call of its own, the calls to one master sent in one pipeline
   * (CLAIMS_PER_PIPELINE at a time; the masters' pipelines together). The caller makes sure no
   * other claim of these ids runs on this node meanwhile (start-up; the session manager's turn of
   * each id). A call that fails in a pipeline (a slot that moved) is sent again on its own. The
   * claimed ids with what was read; an id this node holds already is claimed as claimOrphan does
   * (its keys read too when claimed).
   */
  async claimOrphansReading(
    clientIds: readonly string[], liveNodes: readonly string[], reads: (clientId: string) => OrphanReads,
  ): Promise<Map<string, OrphanRead>> {
    const client = this.#state.client
    const claimed = new Map<string, OrphanRead>()
    const callOf = (cid: string): string[] => {
      const r = reads(cid)
      const keys = [REGISTRY_KEYS.owner(cid), ...r.hashes, ...r.sets]
      return [String(keys.length), ...keys, this.nodeId, this.#epochs.get(cid) ?? '', String(r.hashes.length), ...liveNodes]
    }
    const answered = (cid: string, reply: Array<string | string[]>): void => {
      if (reply[0] !== 'claimed') return
      const hashesN = reads(cid).hashes.length
      const lists = reply.slice(3) as string[][]
      const hashes = lists.slice(0, hashesN).map((flat) => {
        const h: Record<string, string> = {}
        for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1]
        return h
      })
      this.#epochs.set(cid, reply[2] as string)
      claimed.set(cid, { previous: reply[1] as string, hashes, sets: lists.slice(hashesN) })
    }
    // Grouped by the master that serves each id's slot (ioredis's slot table; a pipeline must stay
    // on one master), CLAIMS_PER_PIPELINE per pipeline.
    const slots = client instanceof Cluster ? client.slots : undefined
    const byMaster = new Map<string, string[][]>()
    for (const cid of clientIds) {
      const slot = slotOf(REGISTRY_KEYS.owner(cid))
      const master = slots?.[slot]?.[0] ?? `slot ${slot}`
      let chunks = byMaster.get(master)
      if (chunks === undefined) byMaster.set(master, (chunks = []))
      const last = chunks[chunks.length - 1]
      if (last === undefined || last.length >= CLAIMS_PER_PIPELINE) chunks.push([cid])
      else last.push(cid)
    }
    await Promise.all([...byMaster.values()].flat().map(async (ids) => {
      const pipeline = client.pipeline()
      for (const cid of ids) {
        const [n, ...args] = callOf(cid)
        pipeline.pcClaimOrphanRead(Number(n), ...args)
      }
      const got = await pipeline.exec().catch(() => null)
      for (const [i, cid] of ids.entries()) {
        const [err, reply] = got?.[i] ?? [new Error('pipeline failed'), undefined]
        if (err === null) {
          answered(cid, reply as Array<string | string[]>)
          continue
        }
        const [n, ...args] = callOf(cid)
        answered(cid, await client.pcClaimOrphanRead(Number(n), ...args))
      }
    }))
    return claimed
  }

  /** The ids of the nodes alive now. */
  liveNodes(): Promise<string[]> {
    return this.#membership.liveNodes()
  }

  /** `handler` runs when another node died (a clean stop keeps its sessions for its return). */
  onNodeDied(handler: (nodeId: string) => void): void {
    this.#membership.onNodeGone((nodeId, stopped) => {
      if (stopped) {
        this.#logger.info({ node: nodeId }, 'cluster: a node stopped; its sessions wait for it (or for their clients to connect elsewhere)')
        return
      }
      this.#logger.warn({ node: nodeId }, 'cluster: a node died; its sessions are taken over by the survivors')
      handler(nodeId)
    })
  }

  /** Epoch ms of a node's last heartbeat. */
  lastHeartbeat(nodeId: string): Promise<number | undefined> {
    return this.#membership.lastHeartbeat(nodeId)
  }

  /** The session ended here for good: the entry goes (only while it still holds this node's epoch). */
  release(clientId: string): void {
    const epoch = this.#epochs.get(clientId)
    if (epoch === undefined) return
    this.#epochs.delete(clientId)
    const key = REGISTRY_KEYS.owner(clientId)
    this.#state.recordFenced(clientId, key, epoch, [], [['DEL', key]])
  }

  /** Another node holds the client id now: write nothing more for it. */
  forget(clientId: string): void {
    this.#epochs.delete(clientId)
    this.#unfence(clientId)
  }

  /** Stop listening (the state's connection is closed by its owner). */
  async close(): Promise<void> {
    for (const clientId of [...this.#fenced.keys()]) this.#unfence(clientId)
    const sub = this.#subscriber
    this.#subscriber = undefined
    sub?.disconnect()
    await Promise.resolve()
  }

  #signalled(text: string): void {
    const signal = parseNotice<TakeoverSignal>(text)
    if (signal === undefined) return
    if (signal.answer === true) {
      this.#answers.get(`${signal.clientId} ${signal.epoch}`)?.()
      return
    }
    const cid = signal.clientId
    const held = this.#epochs.get(cid)
    // A signal older than this node's own claim (it took the id back since) changes nothing.
    if (held === undefined || Number(held) >= Number(signal.epoch)) return
    this.#unfence(cid)
    // The client's packets are no longer read here, and what this node handles for it goes on to
    // the claimer; its writes so far reach Redis (they land while the hand-off key is there)
    // before the answer: the claimer loads the session after it.
    this.#onTakeoverStarted(cid, signal.from, signal.sessionEnds)
    this.#state.afterCommit(() => {
      // (Claimed back here meanwhile: that claim let the session go.)
      if (this.#epochs.get(cid) !== held) return
      this.#epochs.delete(cid)
      // Answer: take the hand-off (this node handles the will) unless the claimer gave up waiting.
      const answer = JSON.stringify({ ...signal, answer: true } satisfies TakeoverSignal)
      const handed = this.#state.client.pcHandoff(REGISTRY_KEYS.handoff(cid), signal.epoch, REGISTRY_KEYS.takeover(signal.from), answer)
      void handed.then((took) => took === 1, () => false).then((willHere) => {
        this.#logger.info({ clientId: cid, will: willHere ? 'here' : 'the claiming node\'s (answered late)' }, 'cluster: client taken over by another node')
        this.#onTakenOver(cid, signal.sessionEnds, willHere, signal.from)
      })
    })
  }

  #unfence(clientId: string): void {
    clearTimeout(this.#fenced.get(clientId))
    this.#fenced.delete(clientId)
  }

  #serial<T>(clientId: string, run: () => Promise<T>): Promise<T> {
    const before = this.#claims.get(clientId) ?? Promise.resolve()
    const next = before.then(run, run)
    const settled = next.then(() => {}, () => {})
    this.#claims.set(clientId, settled)
    void settled.then(() => {
      if (this.#claims.get(clientId) === settled) this.#claims.delete(clientId)
    })
    return next
  }
}
