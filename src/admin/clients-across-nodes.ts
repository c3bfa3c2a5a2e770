/**
 * The clients part of the admin API in a cluster: every node's clients, whichever node the
 * request reaches. Only the node that holds a client has its connection, so:
 * - a list asks every live node for its own first page (the same query, cursor included),
 *   in parallel, and merges them: each node picks its page from its own sessions as a single
 *   node does (n·log limit), and the merge sorts at most nodes × limit entries;
 * - one client (details, permissions, disconnect) is looked up in the client registry
 *   (`pc:{cid}:owner`, one read) and asked of its owner, which answers as for a local client.
 * Without `cluster` everything is the local ClientsAdmin's.
 */
import { clientOwner } from '../cluster/registry.js'
import type { ClusterNodeView, NodeMembership } from '../cluster/membership.js'
import { NodeRequestError, withinAnswerTime, type NodeAnswer, type NodeRequests } from '../cluster/node-requests.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { ApiError, ApiErrorCodes, type ApiErrorCode } from './errors.js'
import { clientOrderOf, compareKeyed, firstInOrder, type ClientSort, type Keyed } from './client-order.js'
import { CLIENT_PAGE_MAX, type ClientDetail, type ClientView, type ClientsAdmin } from './clients.js'
import type { ClientPermissionsView } from './permissions.js'
import { pageNumber, type Query } from './query.js'

/** What the cluster gives the clients API: who owns a client id, which nodes are alive, and a way to ask them. */
export interface ClusterPeers {
  readonly nodeId: string
  readonly requests: NodeRequests
  ownerOf(clientId: string): Promise<string | undefined>
  liveNodes(): Promise<string[]>
  /** Every node with its state (up, stopped, down) and last heartbeat. */
  nodes(): Promise<ClusterNodeView[]>
}

/** The peers of a node of a cluster on `state` (Redis), from its membership. */
export function clusterPeers(state: RedisState, requests: NodeRequests, membership: Pick<NodeMembership, 'liveNodes' | 'nodes'>): ClusterPeers {
  // Each Redis read bounded like an answer: a paused Redis is an error, not a wait without end.
  return {
    nodeId: state.nodeId,
    requests,
    ownerOf: (cid) => withinAnswerTime(clientOwner(state.client, cid)),
    liveNodes: () => withinAnswerTime(membership.liveNodes()),
    nodes: () => withinAnswerTime(membership.nodes()),
  }
}

/** Entries per answer when another node's whole list is asked for (see #wholeList). */
export const WHOLE_LIST_PAGE = 500

/** The key a view sorts by: the same as the node's own order (client-order.ts sortKeyOf). */
function viewSortKey(view: ClientView, sort: ClientSort): number | string | undefined {
  switch (sort) {
    case 'clientId': return undefined
    case 'connectedAt': return view.connected ? Date.parse(view.connectedAt) : undefined
    case 'address': return view.address
  }
}

function unavailable(err: unknown, what: string): ApiError {
  if (err instanceof NodeRequestError) return new ApiError('ERR_UNAVAILABLE', `${what}: ${err.message}`, undefined, { node: err.node })
  const message = (err as Error).message
  return new ApiError('ERR_UNAVAILABLE', message.startsWith('the cluster\'s Redis') ? `${what}: ${message}` : `${what}: the cluster's Redis cannot be reached (${message})`)
}

function idOf(args: unknown): string {
  const id = (args as { id?: unknown } | null)?.id
  if (typeof id !== 'string') throw new ApiError('ERR_BAD_REQUEST', 'a client id is needed')
  return id
}

export class ClientsAcrossNodes {
  readonly #local: ClientsAdmin
  readonly #peers: ClusterPeers | undefined

  constructor(local: ClientsAdmin, peers?: ClusterPeers) {
    this.#local = local
    this.#peers = peers
  }

  /** GET /clients: every node's clients (see ClientsAdmin.listClients for the query), each with its `node`. */
  async list(query: Query = {}): Promise<ClientView[]> {
    const here = this.#local.listClients(query) // (validates the query)
    const peers = this.#peers
    if (peers === undefined) return here
    let others: string[]
    try {
      others = (await peers.liveNodes()).filter((n) => n !== peers.nodeId)
    } catch (err) {
      throw unavailable(err, 'the clients of the other nodes cannot be listed')
    }
    const limit = query['limit'] === undefined ? undefined : pageNumber(query, 'limit', CLIENT_PAGE_MAX, CLIENT_PAGE_MAX)
    const { sort, direction } = clientOrderOf(query)
    const pages = await Promise.all(others.map(async (node) => {
      try {
        if (limit !== undefined) return this.#value(await peers.requests.ask(node, 'clients.list', query)) as ClientView[]
        return await this.#wholeList(node, query, sort)
      } catch (err) {
        // A node that just died (its liveness key not lapsed yet) holds no connection any more;
        // its sessions go to the survivors within seconds; one still starting (loading its sessions)
        // does not listen yet. One that listens but is silent is an error.
        if (err instanceof NodeRequestError && err.reason === 'not-listening') return []
        throw err instanceof ApiError ? err : unavailable(err, `node '${node}' cannot list its clients`)
      }
    }))
    // One entry per client id (for a moment during a takeover two nodes may list it: the connected one wins).
    const byId = new Map<string, ClientView>()
    for (const view of [here, ...pages].flat()) {
      const seen = byId.get(view.clientId)
      if (seen === undefined || (!seen.connected && view.connected)) byId.set(view.clientId, view)
    }
    const keyed = [...byId.values()].map((view) => ({ id: view.clientId, key: viewSortKey(view, sort), view }))
    const compare = (a: Keyed, b: Keyed): number => compareKeyed(a, b, direction)
    const page = limit === undefined ? keyed.sort(compare) : firstInOrder(keyed, limit, compare)
    return page.map((e) => e.view)
  }

  /**
   * Another node's whole list (a query without `limit`), asked WHOLE_LIST_PAGE entries at a
   * time: one answer of 100,000 entries (tens of MB) would risk Redis's output limit for pub/sub
   * clients (`client-output-buffer-limit pubsub`, 32 MB by default), which drops the listening
   * connection of the node asking — and with it every answer on its way.
   */
  async #wholeList(node: string, query: Query, sort: ClientSort): Promise<ClientView[]> {
    const peers = this.#peers as ClusterPeers
    const all: ClientView[] = []
    let cursor: Record<string, string> = {}
    for (;;) {
      const page = this.#value(await peers.requests.ask(node, 'clients.list', { ...query, ...cursor, limit: String(WHOLE_LIST_PAGE) })) as ClientView[]
      all.push(...page)
      const last = page[page.length - 1]
      if (page.length < WHOLE_LIST_PAGE || last === undefined) return all
      const key = viewSortKey(last, sort)
      cursor = { after: last.clientId, ...(sort === 'clientId' ? {} : { afterKey: key === undefined ? '' : sort === 'connectedAt' ? new Date(key).toISOString() : String(key) }) }
    }
  }

  /** GET /clients/:id, from the node that holds the client. */
  get(clientId: string): Promise<ClientDetail> {
    return this.#atOwner(clientId, 'clients.get', { id: clientId }, () => this.#local.getClient(clientId))
  }

  /** GET /clients/:id/permissions, worked out by the node that holds the client. */
  permissions(clientId: string, query: Query = {}): Promise<ClientPermissionsView> {
    return this.#atOwner(clientId, 'clients.permissions', { id: clientId, query }, () => this.#local.getPermissions(clientId, query))
  }

  /** DELETE /clients/:id: the node that holds the client disconnects it (or ends its offline session). */
  async disconnect(clientId: string): Promise<void> {
    await this.#atOwner(clientId, 'clients.delete', { id: clientId }, () => {
      this.#local.disconnectClient(clientId)
      return null
    })
  }

  /** Answers another node's request (node-requests.ts) with this node's own clients. */
  serve(kind: string, args: unknown): Promise<NodeAnswer> {
    try {
      return Promise.resolve({ ok: true, value: this.#serveHere(kind, args) })
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      return Promise.resolve({ ok: false, error: { code: err.code, message: err.message, ...(err.path !== undefined ? { path: err.path } : {}) } })
    }
  }

  #serveHere(kind: string, args: unknown): unknown {
    switch (kind) {
      case 'clients.list': return this.#local.listClients(args as Query)
      case 'clients.get': return this.#local.getClient(idOf(args))
      case 'clients.permissions': return this.#local.getPermissions(idOf(args), (args as { query?: Query }).query ?? {})
      case 'clients.delete':
        this.#local.disconnectClient(idOf(args))
        return null
      default: throw new ApiError('ERR_BAD_REQUEST', `unknown request '${kind}'`)
    }
  }

  /** Run `here` when this node holds the client (or no node does: then it answers 404), else ask the owner. */
  async #atOwner<T>(clientId: string, kind: string, args: unknown, here: () => T): Promise<T> {
    const peers = this.#peers
    if (peers === undefined) return here()
    let owner: string | undefined
    try {
      owner = await peers.ownerOf(clientId)
    } catch (err) {
      throw unavailable(err, `the node that holds client '${clientId}' cannot be looked up`)
    }
    if (owner === undefined || owner === peers.nodeId) return here()
    let answer: NodeAnswer
    try {
      answer = await peers.requests.ask(owner, kind, args)
    } catch (err) {
      if (err instanceof NodeRequestError && err.reason === 'not-listening') throw await this.#gone(clientId, owner)
      throw unavailable(err, `client '${clientId}' is held by node '${owner}'`)
    }
    return this.#value(answer) as T
  }

  /** The error for a client held by a node that no longer listens: what became of that node, and of the client's session. */
  async #gone(clientId: string, owner: string): Promise<ApiError> {
    const node = await (this.#peers as ClusterPeers).nodes().then((all) => all.find((n) => n.nodeId === owner), () => undefined)
    const since = node?.lastHeartbeat === undefined ? '' : ` (last heartbeat ${node.lastHeartbeat})`
    const what = node?.state === 'stopped'
      ? `which stopped${since}: its offline session waits in Redis until the client connects again (to any node) or node '${owner}' starts again`
      : node?.state === 'down'
        ? `which is down${since}: the other nodes take its sessions over within a few seconds; ask again then`
        : `which does not listen on the cluster's Redis${since}: it is still starting, or has just died or lost Redis (the other nodes take its sessions over once its heartbeat is 3 s old)`
    return new ApiError('ERR_UNAVAILABLE', `client '${clientId}' is held by node '${owner}', ${what}`, undefined, { node: owner })
  }

  /** An answer's value, or its error as this node's API gives it. */
  #value(answer: NodeAnswer): unknown {
    if (answer.ok) return answer.value
    const code = (Object.hasOwn(ApiErrorCodes, answer.error.code) ? answer.error.code : 'ERR_INTERNAL') as ApiErrorCode
    throw new ApiError(code, answer.error.message, answer.error.path)
  }
}
