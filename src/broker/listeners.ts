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

function tlsOptions(cfg: ListenerConfig): tls.TlsOptions {
  return {
    cert: cfg.cert === undefined ? undefined : readFileSync(cfg.cert),
    key: cfg.key === undefined ? undefined : readFileSync(cfg.key),
    ca: cfg.ca === undefined ? undefined : readFileSync(cfg.ca),
    requestCert: cfg.requestCert,
    rejectUnauthorized: cfg.requestCert,
  }
}

function listen(server: net.Server, cfg: ListenerConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

export async function startListener(broker: Broker, cfg: ListenerConfig): Promise<RunningListener> {
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
      server = tls.createServer({ ...tlsOptions(cfg), noDelay: cfg.noDelay }, onSocket)
      server.on('tlsClientError', (err) => broker.logger.info({ err: err.message, listener: name }, 'TLS handshake failed'))
    }
  } else {
    server = cfg.type === 'ws' ? http.createServer() : https.createServer(tlsOptions(cfg))
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
  await listen(server, cfg)
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
