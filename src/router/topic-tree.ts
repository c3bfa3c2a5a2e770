/**
 * The subscription trie. Matches for a topic are cached (the cache is dropped whenever
 * the tree changes), so steady publish traffic does one Map lookup per message. The cache
 * is bounded by bytes (a topic may be 65,535 bytes). Topics with subscribers and topics with
 * none are kept apart, each cache with its own budget: a flood of distinct topics nobody
 * subscribes to can only push out other such topics, never a topic with subscribers. Why the
 * topics with none are kept at all: in a cluster every message published here for another node's
 * subscribers is matched here first, and without the cache each one walked the tree again.
 */
import { BoundedCache, addUsage, type CacheUsage } from '../bounded-cache.js'
import type { QoS } from '../mqtt/types.js'

export interface Subscription {
  readonly clientId: string
  /** The filter as the client sent it (with any `$share/group/` prefix). */
  readonly key: string
  /** The filter matched against topics (without the share prefix). */
  readonly filter: string
  readonly qos: QoS
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  readonly retainHandling: 0 | 1 | 2
  readonly subscriptionId: number | undefined
  readonly group: string | undefined
}

/** All subscriptions of one client that match a topic (usually one). */
export interface ClientMatch {
  readonly clientId: string
  readonly subs: Subscription[]
}

/** Members of one shared subscription group for a filter. */
export interface SharedGroup {
  readonly name: string
  readonly filter: string
  /** The group's subscription key, `$share/<name>/<filter>` (how the cluster names it). */
  readonly key: string
  readonly members: Subscription[]
  cursor: number
}

export interface MatchResult {
  readonly clients: readonly ClientMatch[]
  readonly groups: readonly SharedGroup[]
}

class TrieNode {
  readonly children = new Map<string, TrieNode>()
  /** clientId → subscription */
  readonly subs = new Map<string, Subscription>()
  /** group name → group */
  readonly groups = new Map<string, SharedGroup>()

  isEmpty(): boolean {
    return this.children.size === 0 && this.subs.size === 0 && this.groups.size === 0
  }
}

const EMPTY: MatchResult = Object.freeze({ clients: [], groups: [] })
/** Match cache budget: 16,384 topics and 8 MiB (topic text, results and Map entries). */
export const MATCH_CACHE_ENTRIES = 16_384
export const MATCH_CACHE_BYTES = 8 * 1024 * 1024
/** Topics with no subscriber: 4,096 topics and 1 MiB (the topic text and Map entries). */
export const MISS_CACHE_ENTRIES = 4096
export const MISS_CACHE_BYTES = 1024 * 1024
/**
 * Longer topics with no subscriber are walked every time: the walk is cheap beside reading such a
 * topic, and a few long ones would push out hundreds of usual ones (a sixteenth of the budget each).
 */
export const MISS_TOPIC_MAX_CHARS = 512
/** Estimated bytes of a cached result: the object and arrays, and a slot per client, sub and group. */
function resultBytes(r: MatchResult): number {
  let slots = r.clients.length + r.groups.length
  for (const c of r.clients) slots += c.subs.length
  return 96 + 40 * slots
}

export class TopicTree {
  readonly #root = new TrieNode()
  readonly #cache = new BoundedCache<MatchResult>(MATCH_CACHE_ENTRIES, MATCH_CACHE_BYTES)
  /** Topics that matched nothing (the value is unused). */
  readonly #misses = new BoundedCache<true>(MISS_CACHE_ENTRIES, MISS_CACHE_BYTES)
  #count = 0

  get size(): number {
    return this.#count
  }

  /** Entries and estimated bytes held by the match caches (topics with subscribers and without). */
  get cacheUsage(): CacheUsage {
    return addUsage(this.#cache.usage, this.#misses.usage)
  }

  /** Add a subscription, or replace the client's one with the same filter (and group); true when it is new. */
  add(sub: Subscription): boolean {
    const node = this.#node(sub.filter, true) as TrieNode
    let added = false
    if (sub.group === undefined) {
      added = !node.subs.has(sub.clientId)
      node.subs.set(sub.clientId, sub)
    } else {
      let group = node.groups.get(sub.group)
      if (group === undefined) {
        group = { name: sub.group, filter: sub.filter, key: `$share/${sub.group}/${sub.filter}`, members: [], cursor: 0 }
        node.groups.set(sub.group, group)
      }
      const i = group.members.findIndex((m) => m.clientId === sub.clientId)
      added = i === -1
      if (added) group.members.push(sub)
      else group.members[i] = sub
    }
    if (added) this.#count++
    this.#forget()
    return added
  }

  remove(clientId: string, filter: string, group: string | undefined): boolean {
    const path: TrieNode[] = []
    const levels = filter.split('/')
    let node: TrieNode | undefined = this.#root
    for (const level of levels) {
      path.push(node)
      node = node.children.get(level)
      if (node === undefined) return false
    }
    let removed = false
    if (group === undefined) {
      removed = node.subs.delete(clientId)
    } else {
      const g = node.groups.get(group)
      if (g !== undefined) {
        const i = g.members.findIndex((m) => m.clientId === clientId)
        if (i !== -1) {
          g.members.splice(i, 1)
          removed = true
          if (g.members.length === 0) node.groups.delete(group)
        }
      }
    }
    if (!removed) return false
    this.#count--
    // prune empty nodes bottom-up
    for (let i = levels.length - 1; i >= 0 && node.isEmpty(); i--) {
      const parent = path[i]
      parent.children.delete(levels[i])
      node = parent
    }
    this.#forget()
    return true
  }

  match(topic: string): MatchResult {
    const cached = this.#cache.get(topic)
    if (cached !== undefined) return cached
    if (this.#misses.get(topic) === true) return EMPTY
    const result = this.#match(topic)
    if (result !== EMPTY) this.#cache.set(topic, result, resultBytes(result))
    else if (topic.length <= MISS_TOPIC_MAX_CHARS) this.#misses.set(topic, true, 0)
    return result
  }

  /** The tree changed: every cached answer, with subscribers or without, may be wrong now. */
  #forget(): void {
    this.#cache.clear()
    this.#misses.clear()
  }

  #node(filter: string, create: boolean): TrieNode | undefined {
    let node = this.#root
    for (const level of filter.split('/')) {
      let next = node.children.get(level)
      if (next === undefined) {
        if (!create) return undefined
        next = new TrieNode()
        node.children.set(level, next)
      }
      node = next
    }
    return node
  }

  #match(topic: string): MatchResult {
    const levels = topic.split('/')
    const found: TrieNode[] = []
    const dollar = topic.charCodeAt(0) === 0x24
    // An explicit stack, not recursion: a topic may have thousands of levels (a 65,535-byte
    // name), and the walk must not grow the call stack with them.
    const nodes: TrieNode[] = [this.#root]
    const depths: number[] = [0]
    for (;;) {
      const node = nodes.pop()
      if (node === undefined) break
      const i = depths.pop() as number
      // '#' matches the parent level too ("a/#" matches "a") [MQTT-4.7.1-2]; a leading
      // wildcard matches no '$' topic [MQTT-4.7.2-1]
      const wild = !(dollar && i === 0)
      if (wild) {
        const hash = node.children.get('#')
        if (hash !== undefined) found.push(hash)
      }
      if (i === levels.length) {
        found.push(node)
        continue
      }
      if (wild) {
        const plus = node.children.get('+')
        if (plus !== undefined) {
          nodes.push(plus)
          depths.push(i + 1)
        }
      }
      const exact = node.children.get(levels[i])
      if (exact !== undefined) {
        nodes.push(exact)
        depths.push(i + 1)
      }
    }
    if (found.length === 0) return EMPTY

    const byClient = new Map<string, ClientMatch>()
    const groups: SharedGroup[] = []
    for (const node of found) {
      for (const sub of node.subs.values()) {
        const existing = byClient.get(sub.clientId)
        if (existing === undefined) byClient.set(sub.clientId, { clientId: sub.clientId, subs: [sub] })
        else existing.subs.push(sub)
      }
      for (const g of node.groups.values()) groups.push(g)
    }
    if (byClient.size === 0 && groups.length === 0) return EMPTY
    return { clients: [...byClient.values()], groups }
  }
}
