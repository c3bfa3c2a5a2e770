/**
 * Listeners: tcp, tls, ws and wss (WebSocket subprotocol `mqtt`). Each hands client
 * byte streams to the broker.
 */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { ConfigError } from '../errors.js'
import type { Broker } from './broker.js'
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
  readonly requestCert: boolean
  /** ws/wss: where the upgrade request may carry a token. */
  readonly upgradeToken?: UpgradeTokenConfig
}

export interface RunningListener {
  readonly type: ListenerConfig['type']
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

/**
 * A tls / wss listener's certificate, key and CA, read and checked to work together —
 * called for every listener before any listener (the admin one included) opens, so a
 * missing or unusable file stops start-up naming its key path (`listeners[1].cert`).
 * Undefined for tcp and ws listeners.
 */
export function loadListenerTls(cfg: ListenerConfig, path: string): tls.TlsOptions | undefined {
  if (cfg.type !== 'tls' && cfg.type !== 'wss') return undefined
  const read = (key: 'cert' | 'key' | 'ca'): Buffer | undefined => {
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
  return { ...material, requestCert: cfg.requestCert, rejectUnauthorized: cfg.requestCert }
}

/** Listens; an address in use or not available is a configuration error at `path`.port. */
function listen(server: net.Server, cfg: ListenerConfig, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => reject(listenError(err, `${path}.port`, cfg.host, cfg.port))
    server.once('error', fail)
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', fail)
      resolve()
    })
  })
}

/** Why a listener could not open, as a configuration error naming its key path. */
export function listenError(err: NodeJS.ErrnoException, path: string, host: string, port: number): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(path, `${host}:${port} is already in use (EADDRINUSE): stop what listens there or choose another port`, { cause: err })
    case 'EACCES':
      return new ConfigError(path, `${host}:${port} may not be opened by this user (EACCES): ports below 1024 need privileges`, { cause: err })
    case 'EADDRNOTAVAIL':
      return new ConfigError(path, `${host} is not an address of this machine (EADDRNOTAVAIL)`, { cause: err })
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
  let server: net.Server
  let wss: WebSocketServer | undefined
  if (cfg.type === 'tcp' || cfg.type === 'tls') {
    const onSocket = (socket: net.Socket): void => {
      broker.accept(socket, socket.remoteAddress ?? 'unknown', name)
    }
    // TCP_NODELAY is set by the server on each accepted handle (no setNoDelay call per socket).
    if (cfg.type === 'tcp') {
      server = net.createServer({ noDelay: cfg.noDelay }, onSocket)
    } else {
      server = tls.createServer({ ...(tlsOptions ?? loadListenerTls(cfg, path)), noDelay: cfg.noDelay }, onSocket)
      server.on('tlsClientError', (err: Error) => broker.logger.info({ err: err.message, listener: name }, 'TLS handshake failed'))
    }
  } else {
    server = cfg.type === 'ws' ? http.createServer() : https.createServer(tlsOptions ?? loadListenerTls(cfg, path) ?? {})
    wss = new WebSocketServer({
      server: server as http.Server,
      path: cfg.path,
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      maxPayload: broker.limits.maxPacketSize + 5,
    })
    wss.on('connection', (ws, req) => {
      req.socket.setNoDelay(cfg.noDelay)
      const stream: Duplex = createWebSocketStream(ws)
      const conn = broker.accept(stream, req.socket.remoteAddress ?? 'unknown', name)
      if (conn !== undefined && cfg.upgradeToken !== undefined) conn.upgradeToken = readUpgradeToken(req, cfg.upgradeToken)
    })
  }
  await listen(server, cfg, path)
  const address = server.address() as net.AddressInfo
  broker.logger.info({ listener: cfg.type, host: address.address, port: address.port }, 'listening')
  return {
    type: cfg.type,
    host: address.address,
    port: address.port,
    async close() {
      if (wss !== undefined) wss.close()
      await closeServer(server)
    },
  }
}
