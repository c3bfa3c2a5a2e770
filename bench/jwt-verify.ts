/**
 * Signature verification: Portcullis's verifier (node:crypto with pre-imported KeyObjects)
 * vs jose's jwtVerify, per algorithm. Prints the median µs per verification over several
 * rounds. Both sides do the same work: decode, signature, payload JSON, standard claim
 * checks (exp/nbf/iat). Bounded: each round runs at most BENCH_N verifications and about
 * 150 ms, so the whole run takes well under a minute.
 *
 *   node --import tsx bench/jwt-verify.ts            (BENCH_N=2000, BENCH_ROUNDS=5)
 *   BENCH_N=500 BENCH_ROUNDS=3 node --import tsx bench/jwt-verify.ts
 */
import { createPublicKey, createSecretKey } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { jwtVerify } from 'jose'
import { JWS_ALGORITHMS } from '../src/auth/jwt/algorithms.js'
import { evaluateClaims, type ClaimContext, type ClaimsConfig } from '../src/auth/jwt/claims.js'
import { decodeJws, decodePayload, verifyWithKeys } from '../src/auth/jwt/jws.js'
import { bindAlgorithms, makeVerifyKey } from '../src/auth/jwt/keys.js'
import { generateKeyPair, mintToken } from '../src/auth/jwt/tools.js'

const N = Math.min(Number(process.env['BENCH_N'] ?? 2000), 20_000)
const ROUNDS = Math.min(Number(process.env['BENCH_ROUNDS'] ?? 5), 20)

const RULES: ClaimsConfig = { leeway: 5, required: [], match: {} }
const CTX: ClaimContext = { clientId: 'bench', username: undefined }

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function measure(fn: (token: string) => unknown, tokens: readonly string[]): Promise<number> {
  // Calibrate: as many iterations as fit in ~150 ms, at least 50, at most N.
  const c0 = performance.now()
  for (let i = 0; i < 50; i++) await fn(tokens[i % tokens.length])
  const perOp = (performance.now() - c0) / 50
  const n = Math.max(50, Math.min(N, Math.floor(150 / perOp)))
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) await fn(tokens[i % tokens.length])
    rounds.push(((performance.now() - t0) * 1000) / n)
  }
  return median(rounds)
}

const rows: string[][] = [['alg', 'portcullis µs', 'jose µs', 'speed-up']]
for (const alg of JWS_ALGORITHMS) {
  const pair = generateKeyPair(alg)
  const keyObject = alg.startsWith('HS') ? createSecretKey(Buffer.from(pair.secret!, 'base64url')) : createPublicKey({ key: pair.publicJwk, format: 'jwk' })
  const verifyKey = makeVerifyKey(keyObject, bindAlgorithms(keyObject, undefined), pair.kid, 0)
  // Distinct tokens so no layer can cache; realistic size (~300-600 bytes).
  const tokens = Array.from({ length: 64 }, (_, i) => mintToken({
    privateKey: pair.privateJwk, alg, kid: pair.kid, sub: `device-${i}`, expiresIn: '1h',
    claims: { iss: 'https://id.example.com', aud: 'mqtt' }, acl: { pub: [`sensors/device-${i}/#`], sub: ['cmd/#'] },
  }))
  const ours = (token: string): unknown => {
    const jws = decodeJws(token, 8192)
    const m = verifyWithKeys(jws, [verifyKey], false)
    if (!m.ok) throw m.error
    const payload = decodePayload(jws)
    const failure = evaluateClaims(payload, RULES, [], CTX, Date.now() / 1000)
    if (failure !== undefined) throw failure
    return payload
  }
  const theirs = (token: string): Promise<unknown> => jwtVerify(token, keyObject, { algorithms: [alg] })
  // warm-up
  for (let i = 0; i < 200; i++) { ours(tokens[i % 64]); await theirs(tokens[i % 64]) }
  const a = await measure(ours, tokens)
  const b = await measure(theirs, tokens)
  rows.push([alg, a.toFixed(1), b.toFixed(1), `${(b / a).toFixed(2)}x`])
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
console.log(`node ${process.version}, ≤${N} verifications (~150 ms) × ${ROUNDS} rounds, median µs/verify (decode + signature + payload + exp/nbf/iat)`)
for (const r of rows) console.log(r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  '))
