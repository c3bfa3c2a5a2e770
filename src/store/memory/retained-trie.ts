/**
 * Retained messages indexed by topic level, so that a subscription finds its retained
 * messages by walking the levels its filter can match instead of testing every stored topic.
 *
 * `scan()` walks for several filters at once, each node visited once, so a message matched
 * by more than one filter is found once (with the first filter, in the order given, that
 * matches it). The walk is iterative (an explicit stack, never recursion: topics may have
 * thousands of levels) and resumable: `next(max)` returns after at most `max` matches or a
 * bounded number of nodes, so a caller can yield to the event loop between slices.
 */
import { remainingExpiry, type Message } from '../../mqtt/types.js'
import type { RetainedBatch, RetainedHit, RetainedScan } from '../types.js'
import { clock } from '../../clock.js'

class RetainedNode {
  children: Map<string, RetainedNode> | undefined
  message: Message | undefined
}

/** Nodes a slice may visit per match asked for, so that a walk finding little still yields. */
const VISITS_PER_MATCH = 8

/**
 * Filter positions live at a node: pairs (filter index, level index) in one flat array.
 * (f, i) means the path to the node matched the first i levels of filter f.
 */
type States = number[]

interface Frame {
  readonly depth: number
  readonly states: States
  /** Children still to visit: all of them (some state is a wildcard) or only named ones. */
  readonly children: Iterator<[string, RetainedNode]>
}

/** What a retained message counts for limits.maxRetainedBytes: its topic (characters) and payload. */
export function retainedBytes(m: Message): number {
  return m.topic.length + m.payload.length
}

export class RetainedTrie {
  readonly #root = new RetainedNode()
  #size = 0
  /** Of them, on `$` topics ($SYS): the broker's own, not what clients retained [MQTT-4.7.2-1]. */
  #dollarSize = 0
  /** retainedBytes() of the messages not on `$` topics. */
  #userBytes = 0

  get size(): number {
    return this.#size
  }

  get dollarSize(): number {
    return this.#dollarSize
  }

  get userBytes(): number {
    return this.#userBytes
  }

  get(topic: string): Message | undefined {
    let node: RetainedNode | undefined = this.#root
    for (const level of topic.split('/')) {
      node = node.children?.get(level)
      if (node === undefined) return undefined
    }
    return node.message
  }

  set(message: Message): void {
    let node = this.#root
    for (const level of message.topic.split('/')) {
      const children: Map<string, RetainedNode> = (node.children ??= new Map<string, RetainedNode>())
      let next = children.get(level)
      if (next === undefined) {
        next = new RetainedNode()
        children.set(level, next)
      }
      node = next
    }
    const dollar = message.topic.startsWith('$')
    if (node.message === undefined) {
      this.#size++
      if (dollar) this.#dollarSize++
    } else if (!dollar) {
      this.#userBytes -= retainedBytes(node.message)
    }
    if (!dollar) this.#userBytes += retainedBytes(message)
    node.message = message
  }

  /** Remove the message of a topic (only `expected`, when given); empty nodes are pruned. */
  delete(topic: string, expected?: Message): boolean {
    const levels = topic.split('/')
    const path: RetainedNode[] = []
    let node: RetainedNode | undefined = this.#root
    for (const level of levels) {
      path.push(node)
      node = node.children?.get(level)
      if (node === undefined) return false
    }
    if (node.message === undefined || (expected !== undefined && node.message !== expected)) return false
    if (topic.startsWith('$')) this.#dollarSize--
    else this.#userBytes -= retainedBytes(node.message)
    node.message = undefined
    this.#size--
    for (let i = levels.length - 1; i >= 0; i--) {
      if (node.message !== undefined || (node.children !== undefined && node.children.size > 0)) break
      const parent = path[i]
      parent.children?.delete(levels[i])
      node = parent
    }
    return true
  }

  clear(): void {
    this.#root.children = undefined
    this.#size = 0
    this.#dollarSize = 0
    this.#userBytes = 0
  }

  /** Walk the messages matching any of `filters` (valid topic filters, without `$share/`). */
  scan(filters: readonly string[]): TrieScan {
    return new TrieScan(this, this.#root, filters.map((f) => f.split('/')))
  }
}

/** A scan of memory: every slice is ready at once. */
export class TrieScan implements RetainedScan {
  readonly #trie: RetainedTrie
  readonly #filters: readonly (readonly string[])[]
  readonly #stack: Frame[] = []

  constructor(trie: RetainedTrie, root: RetainedNode, filters: readonly (readonly string[])[]) {
    this.#trie = trie
    this.#filters = filters
    const states: States = []
    for (let f = 0; f < filters.length; f++) states.push(f, 0)
    this.#push(root, 0, states)
  }

  next(max: number): RetainedBatch {
    const hits: RetainedHit[] = []
    const now = clock.now()
    let expired: Message[] | undefined
    let visits = Math.max(1, max) * VISITS_PER_MATCH
    const filters = this.#filters
    while (hits.length < max && visits > 0) {
      const frame = this.#stack[this.#stack.length - 1]
      if (frame === undefined) break
      const step = frame.children.next()
      if (step.done === true) {
        this.#stack.pop()
        continue
      }
      visits--
      const [name, node] = step.value
      // Wildcards at the first level do not match topics starting with '$' [MQTT-4.7.2-1].
      const dollar = frame.depth === 0 && name.charCodeAt(0) === 0x24
      const states: States = []
      let matched = -1
      const parent = frame.states
      for (let k = 0; k < parent.length; k += 2) {
        const f = parent[k]
        const i = parent[k + 1]
        const levels = filters[f]
        const level = levels[i]
        let at: number
        if (level === '#') {
          if (dollar) continue
          at = i
        } else if (level === '+') {
          if (dollar) continue
          at = i + 1
        } else if (level === name) {
          at = i + 1
        } else {
          continue
        }
        // 'a/#' matches 'a' as well as everything below it [MQTT-4.7.1-2].
        if ((at === levels.length || levels[at] === '#') && (matched === -1 || f < matched)) matched = f
        if (at < levels.length) states.push(f, at)
      }
      const message = node.message
      if (matched !== -1 && message !== undefined) {
        if (remainingExpiry(message, now) === 0) (expired ??= []).push(message)
        else hits.push({ message, filter: matched })
      }
      if (states.length > 0 && node.children !== undefined) this.#push(node, frame.depth + 1, states)
    }
    if (expired !== undefined) for (const m of expired) this.#trie.delete(m.topic, m)
    return { hits, done: this.#stack.length === 0 }
  }

  #push(node: RetainedNode, depth: number, states: States): void {
    const children = node.children
    if (children === undefined || children.size === 0) return
    // Only named levels to follow: look them up rather than visit every child.
    let names: Set<string> | undefined = new Set()
    for (let k = 0; k < states.length; k += 2) {
      const level = (this.#filters[states[k]])[states[k + 1]]
      if (level === '#' || level === '+') {
        names = undefined
        break
      }
      names.add(level)
    }
    let iterator: Iterator<[string, RetainedNode]>
    if (names === undefined) {
      iterator = children.entries()
    } else {
      const found: Array<[string, RetainedNode]> = []
      for (const name of names) {
        const child = children.get(name)
        if (child !== undefined) found.push([name, child])
      }
      iterator = found.values()
    }
    this.#stack.push({ depth, states, children: iterator })
  }
}
