/**
 * The README cannot drift from the broker (issue 17 item 9): the examples it marks with
 * `<!-- readme-test: sh|node; expect: TEXT -->` are run as a user following it would, in
 * order, in a fresh project with portcullis installed (node_modules/.bin), against the
 * development setup. Only the port numbers change (free loopback ports instead of 1883 and
 * 18083; mosquitto clients get theirs from their own per-user default file), everything runs
 * on 127.0.0.1, the run is bounded in time, and every process it starts is stopped by its
 * process group at the end. The cluster quick start (`<!-- readme-test: cluster; … -->`: one
 * redis-server, three nodes) runs the same way on its own free ports.
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

/** A project that installed portcullis (and MQTT.js, mqtt-packet for the client examples). */
function userProject(dir: string): void {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'uses-portcullis', version: '1.0.0', private: true, type: 'module' }))
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
  symlinkSync(BIN, join(dir, 'node_modules', '.bin', 'portcullis'))
  for (const pkg of ['mqtt', 'mqtt-packet']) symlinkSync(resolve('node_modules', pkg), join(dir, 'node_modules', pkg))
}

/** Runs `script` with bash in its own process group (`started` gets its pid), at most 90 s; its exit code (null: killed). */
async function runScript(
  script: string, cwd: string, env: NodeJS.ProcessEnv, started: (pid: number) => void,
): Promise<{ code: number | null; out: string; err: string }> {
  const sh = spawn('bash', ['-c', script], {
    cwd,
    detached: true, // its own process group, stopped as a whole in `after`
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started(sh.pid!)
  let out = ''
  let err = ''
  sh.stdout.on('data', (d: Buffer) => (out += d.toString()))
  sh.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((resolveExit) => {
    const timer = setTimeout(() => {
      process.kill(-sh.pid!, 'SIGKILL')
      resolveExit(null)
    }, 90_000)
    sh.once('exit', (c) => {
      clearTimeout(timer)
      resolveExit(c)
    })
  })
  return { code, out, err }
}

/** Stops what a script left running (its whole process group), bounded. */
async function stopGroup(group: number): Promise<void> {
  if (group === 0 || !alive(-group)) return
  process.kill(-group, 'SIGTERM')
  await until(() => !alive(-group), 'README processes stopped', 10_000).catch(() => process.kill(-group, 'SIGKILL'))
}

describe('README: the marked examples run as written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-readme-'))
  let group = 0
  after(async () => {
    // Everything the script started (broker through npx, mosquitto_sub, node examples) is in its process group.
    await stopGroup(group)
    rmSync(dir, { recursive: true, force: true })
  })

  test('Quick start, MQTT.js, re-authentication and management examples', async () => {
    const examples = markedExamples(readFileSync('README.md', 'utf8'))
    assert.ok(examples.length >= 4, 'the README marks its runnable examples')
    const mqttPort = await freePort()
    const adminPort = await freePort()

    userProject(dir)
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

    const env = { XDG_CONFIG_HOME: join(dir, 'xdg'), PORTCULLIS_MQTT_PORT: String(mqttPort), PORTCULLIS_ADMIN_PORT: String(adminPort) }
    const { code, out, err } = await runScript(script.join('\n'), dir, env, (pid) => (group = pid))
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

describe('README: the cluster quick start runs as written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-readme-cluster-'))
  let group = 0
  after(async () => {
    // redis-server, the three nodes (through npx) and mosquitto_sub are all in the script's process group.
    await stopGroup(group)
    rmSync(dir, { recursive: true, force: true })
  })

  test('one redis-server and three nodes: delivery across nodes, a retained message, GET /cluster/nodes', async () => {
    const readme = readFileSync('README.md', 'utf8')
    const lines = readme.split('\n')
    const at = lines.findIndex((l) => l.startsWith('<!-- readme-test: cluster'))
    assert.ok(at >= 0, 'the README marks its cluster quick start')
    const expect = /^<!-- readme-test: cluster((?:; expect: .+?)*) -->$/.exec(lines[at])![1].split('; expect: ').slice(1)
    assert.equal(lines[at + 1], '```sh')
    const code = lines.slice(at + 2, lines.indexOf('```', at + 2)).join('\n')

    // Free loopback ports instead of 1881-1883 (MQTT), 18081-18083 (admin) and 6379 (Redis): only the numbers change.
    const mqtt = [await freePort(), await freePort(), await freePort()]
    const admin = [await freePort(), await freePort(), await freePort()]
    const redis = await freePort()
    const ported = code
      .replaceAll('1808$i', '${ADMIN[$i]}').replaceAll('188$i', '${MQTT[$i]}')
      .replace(/\b1808([1-3])\b/g, '${ADMIN[$1]}').replace(/\b188([1-3])\b/g, '${MQTT[$1]}')
      .replaceAll('6379', String(redis))
    assert.doesNotMatch(ported, /\b188\d\b|\b1808\d\b|\b6379\b/, 'every port is one the test can move')
    assert.doesNotMatch(ported, /(https?|redis|mqtts?):\/\/(?!127\.0\.0\.1[:/])/, 'loopback only')
    for (const h of ported.matchAll(/ -h (\S+)/g)) assert.equal(h[1], '127.0.0.1', 'loopback only')
    assert.match(ported, /redis-server --bind 127\.0\.0\.1 /, 'Redis listens on loopback only')

    userProject(dir)
    const script = ['set -eu', `MQTT=(- ${mqtt.join(' ')}); ADMIN=(- ${admin.join(' ')})`, ported].join('\n')
    const { code: exit, out, err } = await runScript(script, dir, { XDG_CONFIG_HOME: join(dir, 'xdg') }, (pid) => (group = pid))
    const logs = ['node1.log', 'node2.log', 'node3.log', 'redis.log'].map((f) => {
      try {
        return `${f}:\n${readFileSync(join(dir, f), 'utf8').slice(-1500)}`
      } catch {
        return `${f}: (none)`
      }
    }).join('\n')
    assert.equal(exit, 0, `the cluster quick start ran without error:\n${out.slice(-3000)}\n${err.slice(-3000)}\n${logs}`)
    for (const x of expect) assert.ok(out.includes(x), `expected ${JSON.stringify(x)} in:\n${out.slice(-3000)}`)
    const nodes = JSON.parse(out.slice(out.lastIndexOf('[{'))) as Array<{ nodeId: string; state: string }>
    assert.deepEqual(nodes.map((n) => `${n.nodeId} ${n.state}`).sort(), ['node-1 up', 'node-2 up', 'node-3 up'])
  })
})
