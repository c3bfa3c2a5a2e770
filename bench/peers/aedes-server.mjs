// Aedes 1.2.0 on a plain net server, for the benchmark harness (bench/run.ts).
//   node bench/peers/aedes-server.mjs PORT [HOST] [CERT KEY]
// Defaults everywhere (in-memory persistence and mqemitter), no logging, TCP_NODELAY on.
// With CERT and KEY (PEM files): a node:tls server with Node's defaults instead (the TLS scenarios).
// Prints "ready" on stdout once listening; exits on SIGTERM / SIGINT.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 1883)
const host = process.argv[3] ?? '127.0.0.1'
const [certFile, keyFile] = process.argv.slice(4)
const aedes = await Aedes.createBroker()
const onSocket = (socket) => {
  socket.setNoDelay(true)
  aedes.handle(socket)
}
const server = certFile !== undefined && keyFile !== undefined
  ? createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, onSocket)
  : createServer(onSocket)
server.listen(port, host, () => process.stdout.write('ready\n'))
const stop = () => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
