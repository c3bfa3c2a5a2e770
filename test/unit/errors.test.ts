/** The error codes, their reason codes and the README's table stay in step. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ErrorCodes, PortcullisError, toDisconnectReasonCode, toReasonCode, type ErrorCode } from '../../src/errors.js'
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

test('a connected client is disconnected with a reason DISCONNECT may carry [MQTT-3.14.2-1]: expiries 0xA0, withdrawals 0x98', () => {
  // MQTT 5 §3.14.2.1: the reason codes a DISCONNECT may carry.
  const allowed = new Set([
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ])
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    const reason = toDisconnectReasonCode(code)
    assert.ok(allowed.has(reason), `${code} → 0x${reason.toString(16)}`)
    if (allowed.has(toReasonCode(code)) && !/EXPIRED|REVOKED|DISABLED/.test(code)) assert.equal(reason, toReasonCode(code), code)
  }
  for (const code of ['ERR_JWT_EXPIRED', 'ERR_CERT_EXPIRED', 'ERR_DEVICE_KEY_EXPIRED'] as const) assert.equal(toDisconnectReasonCode(code), ReasonCode.MaximumConnectTime, code)
  for (const code of ['ERR_TOKEN_REVOKED', 'ERR_CERT_REVOKED', 'ERR_DEVICE_DISABLED'] as const) assert.equal(toDisconnectReasonCode(code), ReasonCode.AdministrativeAction, code)
  assert.equal(toDisconnectReasonCode('ERR_JWT_SIGNATURE_INVALID'), ReasonCode.NotAuthorized)
  assert.equal(toDisconnectReasonCode('ERR_KEEP_ALIVE_TIMEOUT'), ReasonCode.KeepAliveTimeout)
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
