/**
 * Requests from one node to another over the cluster's Redis, for what only the node that
 * holds a client can answer (the admin API's client list, details and disconnect): the asking
 * node publishes the request on the other node's channel `pc:ask:<node>`, that node answers on
 * the asker's `pc:answer:<node>`. Each node listens on both with one connection of its own.
 *
 * Pub/sub delivers at most once, which suits a question asked while a person waits: a node
 * with no listener (crashed, stopped, cut off from Redis) is known at once (PUBLISH reached
 * nobody; on a Redis Cluster, where PUBLISH counts only the master it ran on, a node whose
 * liveness key is gone), and one that does not answer within the wait (paused, overloaded) is an error
 * naming it — never a hang.
 */
import type { Logger } from '../log.js'
import { subscribersOf, type RedisClient, type RedisState } from '../store/redis/redis-state.js'
import { clock } from '../clock.js'
import { parseNotice } from './notice.js'

export const NODE_REQUEST_KEYS = {
  ask: (node: string) => `pc:ask:${node}`,
  answer: (node: string) => `pc:answer:${node}`,
} as const

/**
 * How long a node waits for another node's answer (ms): below NODE_DEAD_AFTER_MS, so a node
 * that is paused is named as not answering before the others count it as dead.
 */
export const NODE_ANSWER_MS = 2000

/** `work` (a Redis read), or an Error when it takes longer than NODE_ANSWER_MS: Redis paused or overloaded. */
export async function withinAnswerTime<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof clock.setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new Error(`the cluster's Redis did not answer within ${NODE_ANSWER_MS} ms`)), NODE_ANSWER_MS)
  })
  work.catch(() => {}) // (when it fails after the wait, nobody is waiting for it)
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/** An answer: the value, or the error the answering node's admin API would have given. */
export type NodeAnswer =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string; readonly path?: string } }

/** Serves requests addressed to this node: the kind of request and its arguments (JSON). */
export type NodeRequestHandler = (kind: string, args: unknown) => Promise<NodeAnswer>

interface AskWire {
  readonly id: string
  readonly from: string
  readonly kind: string
  readonly args: unknown
}

/** A node that cannot answer: not listening on the cluster's Redis, or no answer in time. */
export class NodeRequestError extends Error {
  readonly code = 'ERR_UNAVAILABLE'
  readonly node: string
  /** not-listening: no connection of the node listens (crashed, stopped, cut off); no-answer: it listens but did not answer in time. */
  readonly reason: 'not-listening' | 'no-answer'
  constructor(node: string, reason: 'not-listening' | 'no-answer', message: string) {
    super(message)
    this.name = 'NodeRequestError'
    this.node = node
    this.reason = reason
  }
}

export class NodeRequests {
  readonly nodeId: string
  readonly #client: RedisClient
  readonly #state: RedisState
  readonly #logger: Logger
  #listener: RedisClient | undefined
  #handler: NodeRequestHandler | undefined
  #next = 0
  readonly #waiting = new Map<string, (answer: NodeAnswer) => void>()

  constructor(state: RedisState, logger: Logger) {
    this.#client = state.client
    this.#state = state
    this.nodeId = state.nodeId
    this.#logger = logger
  }

  /** Listen for requests to this node (answered by `handler`) and for answers to its own. */
  async start(handler: NodeRequestHandler): Promise<void> {
    this.#handler = handler
    const listener = this.#state.connection('portcullis-node-requests', true)
    listener.on('error', () => { /* the main connection logs Redis trouble */ })
    listener.on('message', (channel: string, text: string) => {
      if (channel === NODE_REQUEST_KEYS.answer(this.nodeId)) this.#answered(text)
      else void this.#serve(text)
    })
    await listener.subscribe(NODE_REQUEST_KEYS.ask(this.nodeId), NODE_REQUEST_KEYS.answer(this.nodeId))
    this.#listener = listener
  }

  /**
   * Ask `node` and wait at most `timeoutMs` for its answer, the PUBLISH included. Throws
   * NodeRequestError when the node does not listen or does not answer in time; an Error when
   * Redis is unreachable or does not answer in time either.
   */
  async ask(node: string, kind: string, args: unknown, timeoutMs = NODE_ANSWER_MS): Promise<NodeAnswer> {
    const id = `${this.nodeId}:${++this.#next}`
    const answered = new Promise<NodeAnswer>((resolve) => this.#waiting.set(id, resolve))
    let timer: ReturnType<typeof clock.setTimeout> | undefined
    const late = new Promise<'late'>((resolve) => (timer = clock.setTimeout(() => resolve('late'), timeoutMs)))
    try {
      const request: AskWire = { id, from: this.nodeId, kind, args }
      const sent = this.#client.publish(NODE_REQUEST_KEYS.ask(node), JSON.stringify(request))
      sent.catch(() => {}) // (when it fails after the wait, nobody is waiting for it)
      const receivers = await Promise.race([sent, late])
      if (receivers === 'late') throw new Error(`the cluster's Redis did not answer within ${timeoutMs} ms`)
      // (Redis Cluster: PUBLISH counts the subscribers of one node only; every node is asked.)
      const listeners = receivers > 0 || !this.#state.sharded ? receivers : await Promise.race([subscribersOf(this.#client, NODE_REQUEST_KEYS.ask(node)), late])
      if (listeners === 'late') throw new Error(`the cluster's Redis did not answer within ${timeoutMs} ms`)
      const listening = listeners > 0
      if (!listening) throw new NodeRequestError(node, 'not-listening', `node '${node}' is not connected to the cluster's Redis (stopped or down)`)
      const answer = await Promise.race([answered, late])
      if (answer === 'late') throw new NodeRequestError(node, 'no-answer', `node '${node}' did not answer within ${timeoutMs} ms (paused, overloaded or cut off)`)
      return answer
    } finally {
      clearTimeout(timer)
      this.#waiting.delete(id)
    }
  }

  async close(): Promise<void> {
    const listener = this.#listener
    this.#listener = undefined
    for (const resolve of this.#waiting.values()) resolve({ ok: false, error: { code: 'ERR_UNAVAILABLE', message: `node '${this.nodeId}' is stopping` } })
    this.#waiting.clear()
    if (listener !== undefined) await listener.quit().catch(() => listener.disconnect())
  }

  #answered(text: string): void {
    const answer = parseNotice<NodeAnswer & { readonly id?: unknown }>(text)
    if (answer !== undefined && typeof answer.id === 'string') this.#waiting.get(answer.id)?.(answer)
  }

  async #serve(text: string): Promise<void> {
    const request = parseNotice<AskWire>(text)
    if (request === undefined) return
    if (typeof request.id !== 'string' || typeof request.from !== 'string' || typeof request.kind !== 'string') return
    let answer: NodeAnswer
    try {
      answer = this.#handler === undefined
        ? { ok: false, error: { code: 'ERR_UNAVAILABLE', message: `node '${this.nodeId}' is still starting` } }
        : await this.#handler(request.kind, request.args)
    } catch (err) {
      this.#logger.error({ kind: request.kind, from: request.from, err: { message: (err as Error).message, stack: (err as Error).stack } }, 'cluster: a request from another node failed here')
      answer = { ok: false, error: { code: 'ERR_INTERNAL', message: `node '${this.nodeId}' failed to answer (see its log)` } }
    }
    await this.#client.publish(NODE_REQUEST_KEYS.answer(request.from), JSON.stringify({ id: request.id, ...answer })).catch(() => {})
  }
}
