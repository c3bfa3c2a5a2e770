/**
 * The test helper that picks ports for servers started later: below the kernel's ephemeral range
 * (where no outgoing connection takes them meanwhile) and never the same for two test processes.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test } from 'node:test'
import { freePort, reservePort } from '../helpers/free-port.js'

const run = promisify(execFile)
const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])

test('a port below the ephemeral range that a server can listen on', async () => {
  const port = await freePort()
  assert.ok(port >= 10_000 && port < low, `${port} not in [10000, ${low})`)
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  await new Promise((r) => server.close(r))
})

test('parallel test processes never get the same port', async () => {
  // Each child reserves 100 ports, prints them and stays alive (holding them, as a test file holds
  // its servers' ports) until every child has printed.
  const script = "import { freePort } from './test/helpers/free-port.ts'; const ps = []; for (let i = 0; i < 100; i++) ps.push(await freePort()); console.log(JSON.stringify(ps)); process.stdin.resume(); process.stdin.on('end', () => process.exit(0))"
  const children = [1, 2, 3, 4].map(() => spawn('node', ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }))
  try {
    const lists = await Promise.all(children.map((child) => new Promise<number[]>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('\n')) resolve(JSON.parse(out) as number[])
      })
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)))
    })))
    const all = lists.flat()
    assert.equal(all.length, 400)
    assert.equal(new Set(all).size, 400, 'a port was given twice')
  } finally {
    for (const child of children) child.stdin.end()
  }
})

test('a reservation left by a process that is gone is taken over; a live one is not', async () => {
  const dir = join(tmpdir(), 'portcullis-test-ports')
  const mine = await freePort()
  assert.equal(readFileSync(join(dir, String(mine)), 'utf8'), String(process.pid))
  assert.equal(reservePort(mine), false, 'a port held by a live process was given again')
  // A child that reserves a port and exits cleanly removes its reservation.
  const { stdout } = await run('node', ['--import', 'tsx', '--input-type=module', '-e', "import { freePort } from './test/helpers/free-port.ts'; process.stdout.write(String(await freePort()))"], { timeout: 60_000 })
  const theirs = Number(stdout)
  assert.equal(existsSync(join(dir, String(theirs))), false, 'a clean exit leaves no reservation')
  // One left by a killed process (a PID that no longer runs) is taken over.
  writeFileSync(join(dir, String(theirs)), '999999999')
  assert.equal(reservePort(theirs), true)
  assert.equal(readFileSync(join(dir, String(theirs)), 'utf8'), String(process.pid))
})
