/** The error codes, their reason codes and the README's table stay in step. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ErrorCodes, PortcullisError, toReasonCode, type ErrorCode } from '../../src/errors.js'
import { ReasonCode, v3ConnackCode, v3SubackCode } from '../../src/protocol/reason-codes.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const rows = new Map<string, { meaning: string; v5: number; v3: number }>()
for (const m of readme.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \| ([^|]+) \| 0x([0-9A-F]{2}) \| (\d) \|$/gm)) {
  rows.set(m[1], { meaning: (m[2]).trim(), v5: parseInt(m[3], 16), v3: Number(m[4]) })
}

test('every error code is documented in the README with its reason codes', () => {
  const codes = Object.keys(ErrorCodes) as ErrorCode[]
  assert.deepEqual([...rows.keys()].sort(), [...codes].sort())
  for (const code of codes) {
    const row = rows.get(code)
    assert.ok(row !== undefined, code)
    assert.equal(row.meaning, ErrorCodes[code], `${code} meaning`)
    assert.equal(row.v5, toReasonCode(code), `${code} MQTT 5 reason code`)
    assert.equal(row.v3, v3ConnackCode(toReasonCode(code)), `${code} 3.1.1 return code`)
  }
})

test('token and credential failures are 0x86 / 4, missing keys 0x88 / 3, authorization 0x87 / 5 (the README table)', () => {
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    if (code.startsWith('ERR_JWT_') || code === 'ERR_AUTH_BAD_CREDENTIALS' || code === 'ERR_AUTH_NO_CREDENTIALS') {
      assert.equal(toReasonCode(code), ReasonCode.BadUserNameOrPassword, code)
    }
  }
  assert.equal(toReasonCode('ERR_JWKS_UNAVAILABLE'), ReasonCode.ServerUnavailable)
  assert.equal(v3ConnackCode(ReasonCode.ServerUnavailable), 3)
  assert.equal(toReasonCode('ERR_AUTHZ_DENIED'), ReasonCode.NotAuthorized)
  assert.equal(v3ConnackCode(ReasonCode.NotAuthorized), 5)
  assert.equal(toReasonCode('ERR_AUTH_METHOD_UNSUPPORTED'), ReasonCode.BadAuthenticationMethod)
})

test('v3 SUBACK failures collapse to 0x80; granted QoS pass through', () => {
  assert.deepEqual([0, 1, 2, 0x87, 0x8f].map(v3SubackCode), [0, 1, 2, 0x80, 0x80])
})

test('PortcullisError keeps its code, message and cause', () => {
  const cause = new Error('inner')
  const e = new PortcullisError('ERR_JWT_EXPIRED', undefined, { cause })
  assert.equal(e.code, 'ERR_JWT_EXPIRED')
  assert.equal(e.message, 'token expired')
  assert.equal(e.cause, cause)
})
