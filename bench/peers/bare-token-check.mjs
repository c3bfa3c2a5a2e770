// The least a correct token check does, straight on node:crypto with the key imported once:
// header JSON and its alg, the signature, payload JSON and exp. The benchmark's yardstick for
// what checking a token costs a Node broker (bench/peers/portcullis-bare-token.mjs).
import { createHmac, createPublicKey, createSecretKey, timingSafeEqual, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'

/**
 * A check for tokens of `alg` (HS256, RS256, ES256, EdDSA) signed with the key in `file` (a
 * base64url HMAC secret or a public-key PEM): token → its payload when the signature verifies
 * and it has not expired, else undefined.
 */
export function bareTokenCheck(alg, file) {
  const text = readFileSync(file, 'utf8').trim()
  const key = alg === 'HS256' ? createSecretKey(Buffer.from(text, 'base64url')) : createPublicKey(text)
  const signatureOk = {
    HS256: (input, sig) => { const mac = createHmac('sha256', key).update(input, 'latin1').digest(); return mac.length === sig.length && timingSafeEqual(mac, sig) },
    RS256: (input, sig) => verify('sha256', Buffer.from(input, 'latin1'), key, sig),
    ES256: (input, sig) => verify('sha256', Buffer.from(input, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, sig),
    EdDSA: (input, sig) => verify(null, Buffer.from(input, 'latin1'), key, sig),
  }[alg]
  if (signatureOk === undefined) throw new Error(`--jwt-alg: unknown algorithm ${alg}`)
  const json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  return (token) => {
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first < 0 || second < 0) return undefined
    try {
      if (json(token.slice(0, first)).alg !== alg) return undefined
      if (!signatureOk(token.slice(0, second), Buffer.from(token.slice(second + 1), 'base64url'))) return undefined
      const payload = json(token.slice(first + 1, second))
      return typeof payload.exp === 'number' && payload.exp > Date.now() / 1000 ? payload : undefined
    } catch {
      return undefined
    }
  }
}
