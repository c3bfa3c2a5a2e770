// The floor under any Node broker for message traffic, for the benchmark harness (bench/run.ts): a bare
// node:net relay that moves the fixed-rate and fleet scenarios' PUBLISH packets with the same socket
// pattern as Portcullis and no MQTT logic beyond what forwarding needs, so that the bench shows how much
// of a Node broker's CPU per message is Node's own socket path (a read callback and Buffer per read, the
// stream's 'data' machinery, a write per connection per turn).
//   node bench/peers/node-relay-floor.mjs PORT HOST STATS_PORT|- [CERT KEY]
// With CERT and KEY it listens over TLS (a node:tls server with Node's defaults, as bench/peers/tls-floor.mjs).
// Per connection: TCP_NODELAY; packets framed by the broker's own framer (src/protocol/framer.ts, from
// dist/: a read that is exactly one packet is used as is); CONNECT gets a fixed CONNACK, SUBSCRIBE a SUBACK granting what was
// asked, PINGREQ a PINGRESP; DISCONNECT or the peer's end closes it. A PUBLISH is forwarded byte for byte
// (its packet identifier included: the bench's subscribers know messages by their payload) to the
// subscribers whose filter is its topic's parent level followed by `/+` or `/#` (the shapes the bench
// uses; the lookup is one Map get, cached per publisher while its topic stays the same), and a QoS 1
// PUBLISH gets its PUBACK. Subscribers' PUBACKs are read and dropped. Writes are joined per connection
// and handed to the socket once per turn of the event loop (one setImmediate for every connection: the
// broker's own src/broker/write-batch.ts, from dist/), up to 16 KiB in one write, as Portcullis does. No
// session, no validation, no packet identifiers of its own.
// With STATS_PORT it serves its longest event-loop stall since the previous request on
// http://HOST:STATS_PORT/metrics in the line Portcullis uses (portcullis_event_loop_stall_max_seconds),
// measured the same way (perf_hooks.monitorEventLoopDelay, 2 ms resolution), and its garbage collections
// (full and scavenge: seconds and count so far) in the lines Portcullis serves them (nodejs_gc_duration_seconds).
// Prints "ready" on stdout once listening; exits on SIGTERM / SIGINT.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks'
import { createServer as createTlsServer } from 'node:tls'
// The broker's own per-turn flush (the bench runs after `npm run build`): the same write pattern, not a copy of it.
import { flushThisTurn } from '../../dist/broker/write-batch.js'
import { Framer } from '../../dist/protocol/framer.js'

const [portArg = '1883', host = '127.0.0.1', statsArg = '-', certFile, keyFile] = process.argv.slice(2)
const port = Number(portArg)
const statsPort = statsArg !== '-' ? Number(statsArg) : undefined
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00])
const PINGRESP = Buffer.from([0xd0, 0x00])
const JOIN_LIMIT = 16 * 1024

/** filter prefix (the filter without its last `+` or `#` level) → subscribers' connections */
const routes = new Map()
/** The largest packet MQTT can frame (remaining length 268,435,455 + a 5-byte fixed header): the floor sets no limit of its own. */
const MAX_PACKET = 268_435_460

/** Bumped when subscriptions change: a publisher's cached route of an earlier version is looked up again. */
let routesVersion = 0

class Conn {
  constructor(socket) {
    this.socket = socket
    this.out = undefined
    this.more = undefined
    this.outBytes = 0
    this.framer = new Framer(MAX_PACKET)
    this.connected = false
    this.prefixes = undefined
    // the previous PUBLISH's topic bytes and where they went
    this.lastTopic = undefined
    this.lastTargets = undefined
    this.routesVersion = -1
  }

  write(buf) {
    if (this.socket.destroyed) return
    if (this.out === undefined) {
      this.out = buf
      flushThisTurn(this)
    } else (this.more ??= [this.out]).push(buf)
    this.outBytes += buf.length
    if (this.outBytes >= JOIN_LIMIT) this.flush()
  }

  flush() {
    const first = this.out
    if (first === undefined) return
    const more = this.more
    const total = this.outBytes
    this.out = undefined
    this.more = undefined
    this.outBytes = 0
    if (this.socket.destroyed) return
    if (more === undefined) this.socket.write(first)
    else if (total <= JOIN_LIMIT) this.socket.write(Buffer.concat(more, total))
    else {
      this.socket.cork()
      for (const b of more) this.socket.write(b)
      this.socket.uncork()
    }
  }

  onData(chunk) {
    this.framer.push(chunk, this)
  }

  /** FrameSink: one whole packet (the read itself when it is exactly one packet, as in Portcullis). */
  onFrame(p) {
    let h = 2
    while ((p[h - 1] & 0x80) !== 0) h++
    this.onPacket(p, h)
    return !this.socket.destroyed
  }

  onFrameError() {
    this.socket.destroy()
  }

  /** `p`: one whole packet; `h`: its fixed header's length. */
  onPacket(p, h) {
    const type = p[0] >> 4
    if (!this.connected) {
      if (type !== 1) { this.socket.destroy(); return }
      this.connected = true
      this.write(CONNACK)
      return
    }
    switch (type) {
      case 3: this.onPublish(p, h); return
      case 4: return // a subscriber's PUBACK
      case 8: this.onSubscribe(p, h); return
      case 12: this.write(PINGRESP); return
      case 14: this.socket.destroy(); return
      default: this.socket.destroy()
    }
  }

  onPublish(p, h) {
    const topicLen = (p[h] << 8) | p[h + 1]
    const t0 = h + 2
    let targets = this.lastTargets
    const last = this.lastTopic
    let same = last !== undefined && last.length === topicLen && this.routesVersion === routesVersion
    for (let k = 0; same && k < topicLen; k++) if (last[k] !== p[t0 + k]) same = false
    if (!same) {
      let slash = t0 + topicLen - 1
      while (slash >= t0 && p[slash] !== 0x2f) slash--
      targets = routes.get(p.toString('latin1', t0, slash + 1))
      this.lastTopic = Buffer.from(p.subarray(t0, t0 + topicLen))
      this.lastTargets = targets
      this.routesVersion = routesVersion
    }
    if (targets !== undefined) for (const c of targets) c.write(p)
    if (((p[0] >> 1) & 3) === 1) {
      const i = t0 + topicLen
      const ack = Buffer.allocUnsafe(4)
      ack[0] = 0x40
      ack[1] = 2
      ack[2] = p[i]
      ack[3] = p[i + 1]
      this.write(ack)
    }
  }

  onSubscribe(p, h) {
    const granted = []
    let i = h + 2
    while (i + 2 < p.length) {
      const len = (p[i] << 8) | p[i + 1]
      const filter = p.toString('utf8', i + 2, i + 2 + len)
      granted.push(p[i + 2 + len] & 3)
      i += 3 + len
      const prefix = filter.replace(/[+#]$/, '')
      let list = routes.get(prefix)
      if (list === undefined) routes.set(prefix, list = [])
      list.push(this)
      ;(this.prefixes ??= []).push(prefix)
    }
    // Every publisher's cached route may now be out of date.
    routesVersion++
    this.write(Buffer.from([0x90, 2 + granted.length, p[h], p[h + 1], ...granted]))
  }

  onClose() {
    for (const prefix of this.prefixes ?? []) {
      const list = routes.get(prefix)
      if (list === undefined) continue
      const at = list.indexOf(this)
      if (at >= 0) list.splice(at, 1)
      if (list.length === 0) routes.delete(prefix)
    }
    if (this.prefixes !== undefined) routesVersion++
  }
}

function onConnection(socket) {
  socket.setNoDelay(true)
  const c = new Conn(socket)
  socket.on('data', (chunk) => c.onData(chunk))
  socket.on('end', () => socket.destroy())
  socket.on('error', () => socket.destroy())
  socket.on('close', () => c.onClose())
}
const server = certFile !== undefined && keyFile !== undefined
  ? createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), noDelay: true }, onConnection)
  : createServer(onConnection)

let stats
if (statsPort !== undefined) {
  const h = monitorEventLoopDelay({ resolution: 2 })
  h.enable()
  // Its garbage collections by kind, in the lines Portcullis serves them (prom-client's nodejs_gc_duration_seconds).
  const gc = { major: [0, 0], minor: [0, 0] }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const t = e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR ? gc.major : e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? gc.minor : undefined
      if (t !== undefined) { t[0] += e.duration / 1000; t[1]++ }
    }
  }).observe({ entryTypes: ['gc'] })
  stats = createHttpServer((req, res) => {
    const max = h.count > 0 ? h.max / 1e9 : 0
    h.reset()
    let text = `portcullis_event_loop_stall_max_seconds ${max}\n`
    for (const [kind, [sum, count]] of Object.entries(gc)) text += `nodejs_gc_duration_seconds_sum{kind="${kind}"} ${sum}\nnodejs_gc_duration_seconds_count{kind="${kind}"} ${count}\n`
    res.end(text)
  })
  stats.listen(statsPort, host)
}

server.listen(port, host, () => process.stdout.write('ready\n'))
const stop = () => {
  server.close()
  stats?.close()
  setTimeout(() => process.exit(0), 200).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
