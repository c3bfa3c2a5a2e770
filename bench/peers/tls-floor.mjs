// The bare-Node TLS floor for the benchmark's TLS scenarios (bench/run.ts): a node:tls server
// with Node's defaults and the run's certificate that does the least an MQTT broker must —
// answers the first packet (CONNECT) with a fixed CONNACK (3.1.1, accepted), closes on
// DISCONNECT, and otherwise holds the socket. No parsing, no session, no state of its own:
// what it costs per connection (CPU per connect, memory per idle connection) is Node's own TLS
// socket, the part of a Node broker's figure no broker code can remove.
//   node bench/peers/tls-floor.mjs PORT HOST CERT KEY
import { readFileSync } from 'node:fs'
import { createServer } from 'node:tls'

const [portArg, host = '127.0.0.1', certFile, keyFile] = process.argv.slice(2)
if (certFile === undefined || keyFile === undefined) throw new Error('usage: tls-floor.mjs PORT HOST CERT KEY')
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00])

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), noDelay: true }, (socket) => {
  let answered = false
  socket.on('data', (chunk) => {
    // A CONNECT arrives in one chunk here (the generator writes it at once); DISCONNECT is 0xe0 0x00.
    if (!answered) {
      answered = true
      socket.write(CONNACK)
    } else if (chunk[0] === 0xe0) socket.end()
  })
  socket.on('error', () => socket.destroy())
})
server.listen(Number(portArg), host, () => process.stdout.write('ready\n'))
const stop = () => {
  server.close()
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
