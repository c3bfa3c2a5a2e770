/**
 * Listeners: tcp, tls, ws and wss (WebSocket subprotocol `mqtt`). Each hands client
 * byte streams to the broker.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { constants as cryptoConstants, randomBytes } from 'node:crypto'
import tls from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { describeCertificate, presentedCertificate } from '../auth/certificate.js'
import { revocationKeyOf, revokedCertificates } from '../auth/crl.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import { ConfigError } from '../errors.js'
import type { Broker } from './broker.js'
import { PEER_PROBE_IDLE_MS } from './connection.js'
import { readUpgradeToken, type UpgradeTokenConfig } from './upgrade-token.js'

export interface ListenerConfig {
  readonly type: 'tcp' | 'tls' | 'ws' | 'wss'
  readonly host: string
  readonly port: number
  readonly noDelay: boolean
  readonly path: string
  readonly cert: string | undefined
  readonly key: string | undefined
  readonly ca: string | undefined
  /** Ask clients for a certificate, verified against `ca` (and `crl`); see loadListenerTls. */
  readonly requestCert: boolean
  /** PEM certificate revocation list(s) for client certificates; reloaded when the file changes. */
  readonly crl?: string | undefined
  /**
   * tls/wss: resume TLS sessions with tickets (TLS 1.2 and 1.3; default true): a returning client
   * skips the certificate and its signature (TLS 1.2: the key exchange too). See resumptionOptions.
   */
  readonly sessionResumption?: boolean
  /** ws/wss: where the upgrade request may carry a token. */
  readonly upgradeToken?: UpgradeTokenConfig
}

export interface RunningListener {
  readonly type: ListenerConfig['type']
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

/** How often a listener's CRL file is checked for changes (one stat per interval). */
const CRL_POLL_MS = 1000

/**
 * How long a TLS session ticket can be resumed, in seconds (Node's default for tls servers,
 * set here so it does not depend on it). Tickets are encrypted with keys each listener draws
 * at random when it opens: a restart, another node of a cluster, or a CRL reload (see watchCrl)
 * means a full handshake, never a failure.
 */
const TLS_SESSION_TIMEOUT_S = 300

/** tls.Server ticket keys: 16 bytes of key name, 16 of HMAC key, 16 of AES key. */
const TICKET_KEYS_BYTES = 48

/**
 * Session resumption (RFC 5077 tickets in TLS 1.2, PSK tickets in TLS 1.3) is Node's default
 * for tls servers; it is kept on explicitly, or turned off with SSL_OP_NO_TICKET (TLS 1.2
 * session ids are not cached either: no 'newSession' / 'resumeSession' handler, OpenSSL's internal
 * cache off as Node sets it), so every handshake is a full one.
 */
function resumptionOptions(cfg: ListenerConfig): tls.TlsOptions {
  return cfg.sessionResumption === false
    ? { secureOptions: cryptoConstants.SSL_OP_NO_TICKET }
    : { sessionTimeout: TLS_SESSION_TIMEOUT_S }
}

/**
 * A tls / wss listener's certificate, key, CA and CRL, read and checked to work together —
 * called for every listener before any listener (the admin one included) opens, so a
 * missing or unusable file stops start-up naming its key path (`listeners[1].cert`).
 * Undefined for tcp and ws listeners.
 *
 * With requestCert the handshake completes even when the client's certificate is missing or
 * fails verification (rejectUnauthorized off): the broker then refuses the CONNECT with a
 * CONNACK that says why (0x86 / 3.1.1: 4, see client certificates in the README) instead of
 * a bare TLS alert. No MQTT packet of such a client goes beyond CONNECT.
 */
export function loadListenerTls(cfg: ListenerConfig, path: string): tls.TlsOptions | undefined {
  if (cfg.type !== 'tls' && cfg.type !== 'wss') return undefined
  const read = (key: 'cert' | 'key' | 'ca' | 'crl'): Buffer | undefined => {
    const file = cfg[key]
    if (file === undefined) return undefined
    try {
      return readFileSync(file)
    } catch (cause) {
      throw new ConfigError(`${path}.${key}`, `cannot read ${file}: ${(cause as Error).message}`, { cause })
    }
  }
  const material = { cert: read('cert'), key: read('key'), ca: read('ca') }
  try {
    tls.createSecureContext(material)
  } catch (cause) {
    throw new ConfigError(`${path}.cert`, `${cfg.cert ?? ''} and ${path}.key ${cfg.key ?? ''} cannot be used together: ${(cause as Error).message}`, { cause })
  }
  const crl = read('crl')
  if (crl !== undefined) {
    try {
      tls.createSecureContext({ ...material, crl })
    } catch (cause) {
      throw new ConfigError(`${path}.crl`, `${cfg.crl ?? ''} is not a PEM certificate revocation list: ${(cause as Error).message}`, { cause })
    }
  }
  return { ...material, ...(crl !== undefined ? { crl } : {}), requestCert: cfg.requestCert, rejectUnauthorized: false, ...resumptionOptions(cfg) }
}

/**
 * Clients of `listener` connected with a certificate the new CRL lists are disconnected
 * (MQTT 5: DISCONNECT 0x98 administrative action, as for a revoked token), one log line each.
 */
function disconnectRevoked(broker: Broker, listener: string, pem: string): void {
  let revoked: Set<string>
  try {
    revoked = revokedCertificates(pem)
  } catch (err) {
    broker.logger.warn({ listener, err: (err as Error).message }, 'CRL reloaded, but its entries could not be read: connected clients were not re-checked')
    return
  }
  if (revoked.size === 0) return
  for (const session of broker.sessions.values()) {
    const conn = session.connection
    const presented = conn?.clientCertificate
    if (conn === undefined || conn.listener !== listener || presented?.ok !== true) continue
    let key: string
    try {
      key = revocationKeyOf(presented.der)
    } catch {
      continue
    }
    if (!revoked.has(key)) continue
    const reason = `client certificate revoked (listed in the reloaded CRL; ${describeCertificate(presented.certificate)})`
    broker.logger.info({ clientId: conn.clientId, listener, code: 'ERR_CERT_REVOKED' }, `client disconnected: ${reason}`)
    conn.disconnect(ReasonCode.AdministrativeAction, reason)
  }
}

/**
 * Reloads a listener's CRL when its file changes (polled, so a file replaced by a rename is
 * seen too). New handshakes use the new list; a file that cannot be read or used keeps the
 * last good one, with a warning. Returns the function that stops watching.
 */
function watchCrl(server: tls.Server, cfg: ListenerConfig, options: tls.TlsOptions, broker: Broker): () => void {
  const logger = broker.logger
  const file = cfg.crl
  if (file === undefined) return () => undefined
  const onChange = (now: Stats, before: Stats): void => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return
    try {
      const crl = readFileSync(file)
      const next = { ...options, crl }
      tls.createSecureContext(next)
      server.setSecureContext(next)
      // A resumed session keeps the verification its certificate had when it began: new ticket
      // keys make every session from before this CRL a full handshake, checked against it.
      server.setTicketKeys(randomBytes(TICKET_KEYS_BYTES))
      logger.info({ listener: `${cfg.type}:${cfg.port}`, file }, 'CRL reloaded: new TLS handshakes use it')
      // connections carry the listener's configured name (startListener: `${type}:${port}`)
      disconnectRevoked(broker, `${cfg.type}:${cfg.port}`, crl.toString('latin1'))
    } catch (err) {
      logger.warn({ listener: `${cfg.type}:${cfg.port}`, file, err: (err as Error).message }, 'CRL not reloaded: keeping the previous one')
    }
  }
  watchFile(file, { interval: CRL_POLL_MS, persistent: false }, onChange)
  return () => unwatchFile(file, onChange)
}

/** Listens; an address in use, not available or not resolved is a configuration error under `path`. */
function listen(server: net.Server, cfg: ListenerConfig, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => reject(listenError(err, path, cfg.host, cfg.port))
    server.once('error', fail)
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', fail)
      resolve()
    })
  })
}

/** Why a listener (at key path `path`: `listeners[0]`, `admin`) could not open, as a configuration error naming its host or port. */
export function listenError(err: NodeJS.ErrnoException, path: string, host: string, port: number): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(`${path}.port`, `${host}:${port} is already in use (EADDRINUSE): stop what listens there or choose another port`, { cause: err })
    case 'EACCES':
      return new ConfigError(`${path}.port`, `${host}:${port} may not be opened by this user (EACCES): ports below 1024 need privileges`, { cause: err })
    case 'EADDRNOTAVAIL':
      return new ConfigError(`${path}.host`, `${host} is not an address of this machine (EADDRNOTAVAIL)`, { cause: err })
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`${path}.host`, `${host} cannot be resolved to an address of this machine (${err.code})`, { cause: err })
    default:
      return err
  }
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/**
 * Opens one listener. `path` is its key path in the configuration (`listeners[0]`) for
 * errors; `tlsOptions` comes from loadListenerTls (read before any listener opened).
 */
export async function startListener(broker: Broker, cfg: ListenerConfig, path: string, tlsOptions?: tls.TlsOptions): Promise<RunningListener> {
  const name = `${cfg.type}:${cfg.port}`
  const options = tlsOptions ?? loadListenerTls(cfg, path)
  let server: net.Server
  let wss: WebSocketServer | undefined
  if (cfg.type === 'tcp' || cfg.type === 'tls') {
    const onSocket = (socket: net.Socket): void => {
      const conn = broker.accept(socket, socket, name)
      if (conn !== undefined && cfg.requestCert) conn.clientCertificate = presentedCertificate(socket as tls.TLSSocket)
    }
    // TCP_NODELAY is set by the server on each accepted handle (no setNoDelay call per socket).
    if (cfg.type === 'tcp') {
      server = net.createServer({ noDelay: cfg.noDelay }, onSocket)
    } else {
      server = tls.createServer({ ...options, noDelay: cfg.noDelay }, onSocket)
      server.on('tlsClientError', (err: Error) => broker.logger.info({ err: err.message, listener: name }, 'TLS handshake failed'))
    }
  } else {
    server = cfg.type === 'ws' ? http.createServer() : https.createServer(options ?? {})
    wss = new WebSocketServer({
      server: server as http.Server,
      path: cfg.path,
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      maxPayload: broker.limits.maxPacketSize + 5,
    })
    // ws re-emits its HTTP server's errors; the listen error itself is listen()'s to report (as a
    // configuration error). Without a listener here a port in use crashed the process.
    let opened = false
    wss.on('listening', () => (opened = true))
    wss.on('error', (err: Error) => {
      if (opened) broker.logger.error({ err: err.message, listener: name }, 'WebSocket listener error')
    })
    wss.on('connection', (ws, req) => {
      req.socket.setNoDelay(cfg.noDelay)
      // The socket under a WebSocket is probed when silent from the start (see
      // Connection.probePeerWhenSilent): the stream in front of it cannot reach it later.
      req.socket.setKeepAlive(true, PEER_PROBE_IDLE_MS)
      const stream: Duplex = createWebSocketStream(ws)
      const conn = broker.accept(stream, req.socket, name)
      if (conn !== undefined && cfg.upgradeToken !== undefined) conn.upgradeToken = readUpgradeToken(req, cfg.upgradeToken)
      if (conn !== undefined && cfg.requestCert) conn.clientCertificate = presentedCertificate(req.socket as tls.TLSSocket)
    })
  }
  const stopCrl = options !== undefined ? watchCrl(server as tls.Server, cfg, options, broker) : () => undefined
  try {
    await listen(server, cfg, path)
  } catch (err) {
    stopCrl()
    throw err
  }
  const address = server.address() as net.AddressInfo
  broker.logger.info({ listener: cfg.type, host: address.address, port: address.port }, 'listening')
  return {
    type: cfg.type,
    host: address.address,
    port: address.port,
    async close() {
      stopCrl()
      if (wss !== undefined) wss.close()
      await closeServer(server)
    },
  }
}
