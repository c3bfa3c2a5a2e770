/**
 * Starting and stopping the broker as users do: `npx portcullis start &` then
 * `kill -TERM <that pid>` stops the broker (npm's `sh -c` does not pass signals on), and a
 * final "stopped" line is logged; a direct SIGTERM does the same.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { until, withTimeout } from '../helpers/broker.js'
import { BIN, alive, exited, freePort, startBroker } from '../helpers/cli.js'

/** Log lines (pino JSON) with message `msg`. */
function logged(out: string, msg: string): Record<string, unknown>[] {
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === msg)
}

describe('cli: stopping the broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-stop-'))
  const started: number[] = []
  after(() => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  test('npx portcullis start, then SIGTERM to the npx process: the broker stops and logs "stopped"', async () => {
    // A project that has portcullis installed: npx runs node_modules/.bin/portcullis through `sh -c`.
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'uses-portcullis', version: '1.0.0', private: true }))
    mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
    symlinkSync(BIN, join(dir, 'node_modules', '.bin', 'portcullis'))
    const env = { ...process.env, PORTCULLIS_MQTT_PORT: String(await freePort()), PORTCULLIS_ADMIN_PORT: String(await freePort()) }
    const npx = spawn('npx', ['--no-install', 'portcullis', 'start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    started.push(npx.pid!)
    let out = ''
    npx.stdout.on('data', (d: Buffer) => (out += d.toString()))
    npx.stderr.on('data', () => {})
    await until(() => logged(out, 'listening').length > 0, 'npx portcullis start listening', 30_000)
    const brokerPid = logged(out, 'listening')[0]['pid'] as number
    started.push(brokerPid)
    assert.notEqual(brokerPid, npx.pid, 'the broker runs in a child of npm')
    npx.kill('SIGTERM')
    await withTimeout(until(() => !alive(brokerPid), 'the broker process exited', 10_000), 11_000, 'broker still running after npx got SIGTERM')
    const stopped = logged(out, 'stopped')
    assert.equal(stopped.length, 1, out.slice(-2000))
    assert.equal(stopped[0]['pid'], brokerPid)
  })

  test('portcullis start, then SIGTERM: exit 0 and a final "stopped" line', async () => {
    const env = { PORTCULLIS_MQTT_PORT: String(await freePort()), PORTCULLIS_ADMIN_PORT: String(await freePort()) }
    const b = await startBroker(dir, [], env)
    started.push(b.child.pid!)
    b.child.kill('SIGTERM')
    assert.equal(await exited(b.child), 0)
    const lines = b.stdout().trim().split('\n')
    assert.equal(JSON.parse(lines.at(-1)!)['msg'], 'stopped', 'the last line says the broker stopped')
  })
})
