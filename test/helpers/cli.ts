/**
 * Running the command line as a user does: the compiled `bin/portcullis.js` (built by
 * `npm test` and by `npm ci`) as a child process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { withTimeout } from './broker.js'

export { freePort } from './free-port.js'

export const run = promisify(execFile)
export const BIN = resolve('bin/portcullis.js')

export async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [BIN, ...args], { cwd, env: { ...process.env, ...env }, timeout: 20_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

/** Start `portcullis start` and wait until its log says the MQTT listener is up. */
export function startBroker(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; stderr: () => string; stdout: () => string }> {
  const child = spawn('node', [BIN, 'start', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  return withTimeout(
    new Promise((resolveStart, reject) => {
      const check = setInterval(() => {
        if (out.includes('"msg":"listening"')) {
          clearInterval(check)
          resolveStart({ child, stderr: () => err, stdout: () => out })
        }
      }, 20)
      child.once('exit', (code) => {
        clearInterval(check)
        reject(new Error(`broker exited with ${code}: ${err}`))
      })
    }),
    15_000,
    'portcullis start did not listen',
  )
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  return withTimeout(new Promise((r) => child.once('exit', (code) => r(code))), 10_000, 'broker did not exit')
}

/** Whether a process (or, with a negative pid, a process group) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
