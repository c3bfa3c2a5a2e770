/**
 * A TCP port on 127.0.0.1 for a server a test starts later (a broker child process, redis-server,
 * a sentinel), chosen so nothing else takes it in between.
 *
 * Why not `listen(0)` and close: that port comes from the kernel's ephemeral range, the same range
 * every outgoing connection of every test file running in parallel draws its local port from, so
 * between the close and the server's own `listen` a client socket elsewhere could take it (CI saw
 * `admin.port … is already in use` once). Ports are taken instead from below the ephemeral range,
 * where no outgoing connection lands, and reserved across the parallel test processes by a file
 * created exclusively in a shared folder (its owner's PID inside; a dead owner's file is taken over).
 */
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const RESERVATIONS = join(tmpdir(), 'portcullis-test-ports')
const LOWEST = 10_000
const reserved = new Set<string>()
let cleanupInstalled = false

/** The first port of the kernel's ephemeral range (Linux); 32768 when it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 0 ? low : 32_768
  } catch {
    return 32_768
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Reserve `port` for this process; false when a live process holds it. */
export function reservePort(port: number): boolean {
  const file = join(RESERVATIONS, String(port))
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      reserved.add(file)
      if (!cleanupInstalled) {
        cleanupInstalled = true
        process.once('exit', () => {
          for (const f of reserved) rmSync(f, { force: true })
        })
      }
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let owner = 0
      try {
        owner = Number(readFileSync(file, 'utf8'))
      } catch {
        continue // removed meanwhile: try once more
      }
      // An empty file is one being written this very moment: held.
      if (owner === 0 || owner === process.pid || alive(owner)) return false
      rmSync(file, { force: true })
    }
  }
  return false
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** The kernel's choice: the fallback where no range below the ephemeral one is left. */
function kernelPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolvePort(port))
    })
    s.on('error', reject)
  })
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1
  if (high - LOWEST < 1_000) return kernelPort()
  mkdirSync(RESERVATIONS, { recursive: true })
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1))
    if (!reservePort(port)) continue
    if (await bindable(port)) return port
  }
  throw new Error(`no free port found between ${LOWEST} and ${high}`)
}
