/**
 * The README cannot drift from the broker (issue 17 item 9): the examples it marks with
 * `<!-- readme-test: sh|node; expect: TEXT -->` are run as a user following it would, in
 * order, in a fresh project with portcullis installed (node_modules/.bin), against the
 * development setup. Only the port numbers change (free loopback ports instead of 1883 and
 * 18083; mosquitto clients get theirs from their own per-user default file), everything runs
 * on 127.0.0.1, the run is bounded in time, and every process it starts is stopped by its
 * process group at the end.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, test } from 'node:test'
import { until } from '../helpers/broker.js'
import { BIN, alive, freePort } from '../helpers/cli.js'

interface Example {
  readonly kind: 'sh' | 'node'
  readonly line: number
  readonly code: string
  readonly expect: readonly string[]
}

/** The marked fenced blocks of the README, in order. */
function markedExamples(readme: string): Example[] {
  const lines = readme.split('\n')
  const out: Example[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = /^<!-- readme-test: (sh|node)((?:; expect: .+?)*) -->$/.exec(lines[i])
    if (m === null) continue
    assert.match(lines[i + 1] ?? '', /^```(sh|js)$/, `README line ${i + 2}: a marked example is a fenced sh or js block`)
    const end = lines.indexOf('```', i + 2)
    out.push({
      kind: m[1] as 'sh' | 'node',
      line: i + 1,
      code: lines.slice(i + 2, end).join('\n'),
      expect: m[2].split('; expect: ').slice(1),
    })
  }
  return out
}

describe('README: the marked examples run as written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-readme-'))
  let group = 0
  after(async () => {
    // Everything the script started (broker through npx, mosquitto_sub, node examples) is in its process group.
    if (group !== 0 && alive(-group)) {
      process.kill(-group, 'SIGTERM')
      await until(() => !alive(-group), 'README processes stopped', 10_000).catch(() => process.kill(-group, 'SIGKILL'))
    }
    rmSync(dir, { recursive: true, force: true })
  })

  test('Quick start, MQTT.js, re-authentication and management examples', async () => {
    const examples = markedExamples(readFileSync('README.md', 'utf8'))
    assert.ok(examples.length >= 4, 'the README marks its runnable examples')
    const mqttPort = await freePort()
    const adminPort = await freePort()

    // A project that installed portcullis (and MQTT.js, mqtt-packet for the client examples).
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'uses-portcullis', version: '1.0.0', private: true, type: 'module' }))
    mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
    symlinkSync(BIN, join(dir, 'node_modules', '.bin', 'portcullis'))
    for (const pkg of ['mqtt', 'mqtt-packet']) symlinkSync(resolve('node_modules', pkg), join(dir, 'node_modules', pkg))
    // mosquitto_pub/sub read default options from $XDG_CONFIG_HOME/<name>: the port, and nothing else.
    mkdirSync(join(dir, 'xdg'))
    for (const tool of ['mosquitto_pub', 'mosquitto_sub']) writeFileSync(join(dir, 'xdg', tool), `-p ${mqttPort}\n`)

    const ported = (code: string): string => code.replaceAll('127.0.0.1:18083', `127.0.0.1:${adminPort}`).replaceAll('127.0.0.1:1883', `127.0.0.1:${mqttPort}`)
    const script = ['set -eu']
    examples.forEach((e, i) => {
      const code = ported(e.code)
      assert.doesNotMatch(code, /\b1883\b|\b18083\b/, `README line ${e.line}: every port is one the test can move`)
      assert.doesNotMatch(code, /(https?|mqtts?|wss?):\/\/(?!127\.0\.0\.1[:/])/, `README line ${e.line}: loopback only`)
      for (const h of code.matchAll(/ -h (\S+)/g)) assert.equal(h[1], '127.0.0.1', `README line ${e.line}: loopback only`)
      script.push(`echo '--- README line ${e.line}'`)
      if (e.kind === 'sh') {
        script.push(code)
        // What the examples after it read from the environment (the README says to export them).
        script.push('export TOKEN; NEW_TOKEN=${NEW_TOKEN:-$(npx portcullis token mint --sub alice --exp 2h)}; export NEW_TOKEN')
        return
      }
      // A client example runs until its expected output appears (at most 15 s), then is stopped.
      const file = `example-${i}.mjs`
      writeFileSync(join(dir, file), code)
      const wanted = e.expect[0] ?? ''
      script.push(
        `node ${file} > ${file}.out 2>&1 & P=$!`,
        `for _ in $(seq 150); do grep -qF '${wanted.replaceAll("'", '')}' ${file}.out && break; sleep 0.1; done`,
        `kill $P; cat ${file}.out`,
      )
    })

    const sh = spawn('bash', ['-c', script.join('\n')], {
      cwd: dir,
      detached: true, // its own process group, stopped as a whole in `after`
      env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg'), PORTCULLIS_MQTT_PORT: String(mqttPort), PORTCULLIS_ADMIN_PORT: String(adminPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    group = sh.pid!
    let out = ''
    let err = ''
    sh.stdout.on('data', (d: Buffer) => (out += d.toString()))
    sh.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const code = await new Promise<number | null>((resolveExit) => {
      const timer = setTimeout(() => {
        process.kill(-group, 'SIGKILL')
        resolveExit(null)
      }, 90_000)
      sh.once('exit', (c) => {
        clearTimeout(timer)
        resolveExit(c)
      })
    })
    assert.equal(code, 0, `the README's examples ran without error:\n${out.slice(-3000)}\n${err.slice(-3000)}`)
    // Each example's expected text appears in what it printed (a background process of an
    // example — mosquitto_sub — may print after the next example has begun).
    examples.forEach((e) => {
      const from = out.indexOf(`--- README line ${e.line}\n`)
      assert.ok(from >= 0, `README line ${e.line} ran`)
      for (const x of e.expect) assert.ok(out.slice(from).includes(x), `README line ${e.line}: expected ${JSON.stringify(x)} in:\n${out.slice(from, from + 3000)}`)
    })
  })
})
