/**
 * The "raw verification": node:crypto's own cost of verifying one token signature
 * with a prepared KeyObject, in a hot loop (CPU time, median of rounds). Measured in the run
 * that uses it, on the same machine, so token connects are judged against this run's figure.
 *
 * `between` runs something between two verifications and times only the verifications:
 * - `touchBytes`: touches that much other memory, as the work of a busy server between two
 *   verifications pushes the crypto's code and tables out of the CPU caches;
 * - `sleepMicros`: the thread sleeps that long, as a broker paced at one connect per
 *   `sleepMicros` waits for the next one (a core that idles, on a VM, comes back to caches
 *   and predictors other work has used).
 */
import { createPublicKey, createSecretKey, createHmac, verify, type KeyObject } from 'node:crypto'
import type { JwtAlg } from './scenarios.js'

export type Between = { readonly touchBytes: number } | { readonly sleepMicros: number }

export function rawVerifyMicros(
  alg: JwtAlg, key: { secret?: string; publicPem?: string }, tokens: readonly string[], rounds = 5, perRound = 1_000, between?: Between,
): number {
  const keyObject: KeyObject = alg === 'HS256' ? createSecretKey(Buffer.from(key.secret!, 'base64url')) : createPublicKey(key.publicPem!)
  const parts = tokens.slice(0, perRound).map((t) => {
    const dot = t.lastIndexOf('.')
    return { input: Buffer.from(t.slice(0, dot), 'latin1'), signature: Buffer.from(t.slice(dot + 1), 'base64url') }
  })
  const one = (p: { input: Buffer; signature: Buffer }): boolean => {
    switch (alg) {
      case 'HS256': return createHmac('sha256', keyObject).update(p.input).digest().equals(p.signature)
      case 'RS256': return verify('sha256', p.input, keyObject, p.signature)
      case 'ES256': return verify('sha256', p.input, { key: keyObject, dsaEncoding: 'ieee-p1363' }, p.signature)
      case 'EdDSA': return verify(null, p.input, keyObject, p.signature)
    }
  }
  const junk = new Uint8Array(between !== undefined && 'touchBytes' in between ? between.touchBytes : 0)
  const sleepMs = between !== undefined && 'sleepMicros' in between ? between.sleepMicros / 1000 : 0
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  const perOp: number[] = []
  for (let r = 0; r <= rounds; r++) {
    let micros = 0
    if (between === undefined) {
      const c0 = process.cpuUsage()
      for (const p of parts) if (!one(p)) throw new Error(`raw ${alg} verification failed on a token the harness minted`)
      const c = process.cpuUsage(c0)
      micros = c.user + c.system
    } else {
      for (const p of parts) {
        for (let i = 0; i < junk.length; i += 64) junk[i]++
        if (sleepMs > 0) Atomics.wait(sleeper, 0, 0, sleepMs)
        const t0 = process.hrtime.bigint()
        const ok = one(p)
        micros += Number(process.hrtime.bigint() - t0) / 1000
        if (!ok) throw new Error(`raw ${alg} verification failed on a token the harness minted`)
      }
    }
    if (r > 0) perOp.push(micros / parts.length) // round 0 warms up
  }
  perOp.sort((a, b) => a - b)
  return perOp[perOp.length >> 1]
}
