// The floor under any Node broker, for the benchmark harness (bench/run.ts): a bare node:net server
// that does the least an MQTT server can do, so that the bench shows how much of a Node broker's
// cost per connect and per idle connection is Node's own socket (create, read, write, destroy).
//   node bench/peers/node-floor-server.mjs PORT [HOST]
// Per connection: TCP_NODELAY, read until one whole packet (the CONNECT) has arrived, answer a fixed
// CONNACK (MQTT 3.1.1, accepted), then hold the socket: PINGREQ gets a PINGRESP, DISCONNECT or the
// peer's end closes it. No parsing beyond the fixed header, no session, no validation.
// Prints "ready" on stdout once listening; exits on SIGTERM / SIGINT.
import { createServer } from 'node:net'

const port = Number(process.argv[2] ?? 1883)
const host = process.argv[3] ?? '127.0.0.1'
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00])
const PINGRESP = Buffer.from([0xd0, 0x00])

/** Length of the first whole packet in `buf`, or 0 when it is cut short. */
function packetLength(buf) {
  let len = 0
  let mul = 1
  for (let i = 1; i < 5 && i < buf.length; i++) {
    len += (buf[i] & 0x7f) * mul
    if ((buf[i] & 0x80) === 0) return buf.length >= i + 1 + len ? i + 1 + len : 0
    mul *= 128
  }
  return 0
}

function onConnection(socket) {
  socket.setNoDelay(true)
  let pending
  let connected = false
  socket.on('data', (chunk) => {
    let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
    pending = undefined
    for (;;) {
      const n = packetLength(buf)
      if (n === 0) { if (buf.length > 0) pending = buf; return }
      const type = buf[0] >> 4
      if (!connected) {
        if (type !== 1) { socket.destroy(); return }
        connected = true
        socket.write(CONNACK)
      } else if (type === 14) { socket.destroy(); return } else if (type === 12) socket.write(PINGRESP)
      buf = buf.subarray(n)
    }
  })
  socket.on('end', () => socket.destroy())
  socket.on('error', () => socket.destroy())
}

const server = createServer(onConnection)
server.listen(port, host, () => process.stdout.write('ready\n'))
const stop = () => {
  server.close()
  setTimeout(() => process.exit(0), 200).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
