/** Messages between the generator coordinator and its worker threads, and the shared counters. */
/** Indices into the shared Int32Array. */
export const CTRL = {
  PROGRESS: 0, // bumped (and notified) whenever a delivery or an ack arrives
  RECV_WARM: 1, // deliveries received in phase 1 (all subscribers, all workers)
  RECV_MEAS: 2, // deliveries received in phase 2
  SENT: 3, // messages sent in the current phase (all workers)
  STOP: 4, // set to 1 by the coordinator to abort a load
  SIZE: 8,
} as const

/** Credentials a message-scenario client sends in CONNECT (both optional; a token goes in `password`). */
export interface Credentials { readonly username?: string; readonly password?: string }
export interface PubSpec extends Credentials { readonly index: number; readonly clientId: string; readonly topics: readonly string[]; readonly qos: 0 | 1 }
export interface SubSpec extends Credentials {
  readonly index: number; readonly clientId: string; readonly filter: string; readonly qos: 0 | 1
  /** A persistent session (Clean Session 0), for the durable scenarios. */
  readonly persistent?: boolean
}

/** What a worker reports when its clients are torn down. */
export interface WorkerTeardown {
  readonly latencies: Float64Array
  /** Distinct messages its subscribers received, per phase. */
  readonly unique: [number, number]
  readonly duplicates: number
  /** QoS 1 messages its publishers sent and got no PUBACK for. */
  readonly unacked: number
  /** Per phase: 1 for each message (pub * countPerPub + seq) whose PUBACK one of its publishers received. */
  readonly acked: [Uint8Array | undefined, Uint8Array | undefined]
  /** Per phase: how many of its subscribers received each message. */
  readonly seenBy: [Uint16Array | undefined, Uint16Array | undefined]
}

/** Clients over TLS: the version they offer, and whether each resumes the session of its previous connection. */
export interface TransportTls { readonly version: 'TLSv1.2' | 'TLSv1.3'; readonly resume: boolean }

export type Job =
  | { op: 'setup'; host: string; port: number; pubs: PubSpec[]; subs: SubSpec[]; localAddresses: string[]; tls?: TransportTls }
  | {
    op: 'load'; phase: 1 | 2; countPerPub: number; totalPubs: number; window: number; fanout: number
    maxInflightPerPub: number; deadline: number; rate?: number; collectLatency: boolean
  }
  | { op: 'teardown' }
  | {
    op: 'connect'; host: string; port: number; count: number; concurrency: number; deadline: number
    idPrefix: string; localAddresses: string[]; tokens?: string[]; hold: boolean; tls?: TransportTls
    /** Connects per second started by this worker (paced); unpaced when absent. */
    rate?: number
  }
  | { op: 'release' }
  | { op: 'exit' }
