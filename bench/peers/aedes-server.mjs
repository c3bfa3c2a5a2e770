// Aedes 1.2.0 on a plain net server, for the benchmark harness (bench/run.ts).
//   node bench/peers/aedes-server.mjs PORT [HOST]
// Defaults everywhere (in-memory persistence and mqemitter), no logging, TCP_NODELAY on.
// Prints "ready" on stdout once listening; exits on SIGTERM / SIGINT.
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 1883)
const host = process.argv[3] ?? '127.0.0.1'
const aedes = await Aedes.createBroker()
const server = createServer((socket) => {
  socket.setNoDelay(true)
  aedes.handle(socket)
})
server.listen(port, host, () => process.stdout.write('ready\n'))
const stop = () => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
