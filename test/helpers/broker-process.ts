/**
 * A broker child process (`portcullis start --config`) for crash and cluster tests: fixed port,
 * configuration of the test's choosing, started and SIGKILLed by PID, restartable.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { delay, withTimeout } from './broker.js'
import { BIN, freePort } from './cli.js'

export { freePort }

export class BrokerProcess {
  readonly port: number
  /** The broker's data directory. */
  readonly dataDir: string
  readonly #config: string
  #child: ChildProcess | undefined
  #log = ''
  #out = ''

  /** `extra` is merged over the defaults (anonymous clients allowed, everything authorized). */
  constructor(dir: string, port: number, extra: Record<string, unknown> = {}, name = 'portcullis') {
    this.port = port
    this.dataDir = join(dir, name === 'portcullis' ? 'data' : `${name}-data`)
    this.#config = join(dir, `${name}.json`)
    writeFileSync(this.#config, JSON.stringify({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port }],
      dataDir: this.dataDir,
      authentication: { allowAnonymous: true },
      authorization: { noMatch: 'allow' },
      limits: { sysInterval: 0, maxQueuedMessages: 100_000 },
      ...extra,
    }))
  }

  /** What the broker wrote to stderr. */
  get log(): string {
    return this.#log
  }

  /** What the broker wrote to stdout (its log lines). */
  get output(): string {
    return this.#out
  }

  async start(timeoutMs = 15_000): Promise<void> {
    const child = spawn('node', [BIN, 'start', '--config', this.#config], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      this.#out += d.toString()
    })
    child.stderr?.on('data', (d: Buffer) => (this.#log += d.toString()))
    await withTimeout(new Promise<void>((resolveStart, reject) => {
      const check = setInterval(() => {
        if (out.includes('"msg":"listening"')) {
          clearInterval(check)
          resolveStart()
        }
      }, 10)
      child.once('exit', (code) => {
        clearInterval(check)
        reject(new Error(`broker exited with ${code}: ${this.#log}${out}`))
      })
    }), timeoutMs, 'the broker did not start')
  }

  /** Send a signal by PID (SIGSTOP / SIGCONT: a paused node). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    const child = this.#child
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal)
  }

  /** A clean stop (SIGTERM by PID), waited for at most `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    process.kill(child.pid as number, 'SIGTERM')
    await withTimeout(gone, timeoutMs, 'the broker did not stop')
  }

  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    process.kill(child.pid as number, 'SIGKILL')
    await gone
  }
}

/** Connect, retrying while the broker is down; `prepare` sees each client before it connects. */
export async function connectRetry(port: number, opts: mqtt.IClientOptions, prepare?: (client: MqttClient) => void): Promise<MqttClient> {
  for (let attempt = 0; ; attempt++) {
    const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 2000, ...opts })
    client.on('error', () => {})
    // Messages may arrive with the CONNACK: listeners go on before it.
    prepare?.(client)
    const ok = await new Promise<boolean>((r) => {
      client.once('connect', () => r(true))
      client.once('close', () => r(false))
    })
    if (ok) return client
    client.end(true)
    if (attempt > 200) throw new Error('could not connect')
    await delay(50)
  }
}
