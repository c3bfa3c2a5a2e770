/**
 * Token revocation over real sockets, MQTT 3.1.1 and 5.0, driven through the admin API: a
 * revoked jti is refused at CONNECT (0x86 / 4) and its live connection is dropped at once
 * (MQTT 5 DISCONNECT 0x98, 3.1.1 closed); by subject and "issued before"; refused at MQTT 5
 * re-authentication; shown by the token check; kept across a restart; withdrawn by DELETE.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'
import { promisify } from 'node:util'
import { after, before, describe, test } from 'node:test'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { API_KEY, baseConfig, removeDir, SEED_SECRET, startAdmin, tempDataDir, type RunningAdmin } from '../admin/helpers.js'
import { connackCode, REFUSED } from '../helpers/auth-broker.js'
import { cli } from '../helpers/cli.js'
import { rawSocket, uid, VERSIONS } from '../helpers/broker.js'


function token(claims: Record<string, unknown>, sub = 'alice'): string {
  return mintToken({ privateKey: SEED_SECRET, alg: 'HS256', sub, expiresIn: 600, claims })
}

describe('09 revocation', () => {
  let h: RunningAdmin
  const dataDir = tempDataDir()
  before(async () => {
    h = await startAdmin({ dataDir })
  })
  after(async () => {
    await h.close()
    removeDir(dataDir)
  })

  for (const version of VERSIONS) {
    const v = version === 5 ? '5.0' : '3.1.1'
    test(`MQTT ${v}: revoking a jti drops its live connection at once and refuses it at CONNECT`, async () => {
      const jti = uid('jti')
      const t = token({ jti })
      const raw = await rawSocket(h.mqttPort, version)
      const c = await raw.connect({ clientId: uid('live'), username: 'u', password: Buffer.from(t) })
      assert.equal(version === 5 ? c.reasonCode : c.returnCode, 0)
      const other = await rawSocket(h.mqttPort, version)
      await other.connect({ clientId: uid('other'), username: 'u', password: Buffer.from(token({ jti: uid('keep') })) })

      const res = await h.api('POST', '/api/v1/revocations', { jti, reason: 'leaked' })
      assert.equal(res.status, 201)
      assert.equal(res.body.disconnected, 1)
      assert.equal(res.body.revocation.kind, 'jti')
      if (version === 5) {
        const d = await raw.next('disconnect')
        assert.equal(d.reasonCode, 0x98)
        assert.match(String(d.properties?.reasonString), /revoked/)
      }
      await raw.waitClosed()
      assert.equal(other.closed, false, 'a client with another token stays')
      other.send({ cmd: 'pingreq' })
      await other.next('pingresp')
      other.destroy()

      assert.equal(await connackCode(h.mqttPort, version, t), REFUSED[version])
      const check = await h.api('POST', '/api/v1/token/check', { token: t })
      assert.equal(check.body.verdict.code, 'ERR_TOKEN_REVOKED')
      assert.match(check.body.verdict.message, /jti .* was revoked \(leaked\)/)
      assert.equal(h.server.broker.stats.authFailuresByReason['ERR_TOKEN_REVOKED'] >= 1, true)
    })

    test(`MQTT ${v}: by subject, and a subject's tokens issued before a time`, async () => {
      const sub = uid('sub')
      const t = token({}, sub)
      assert.equal(await connackCode(h.mqttPort, version, t), 0)
      const cut = await h.api('POST', '/api/v1/revocations', { sub, issuedBefore: Math.floor(Date.now() / 1000) + 1 })
      assert.equal(cut.status, 201)
      assert.equal(await connackCode(h.mqttPort, version, t), REFUSED[version])
      // issued after the cut-off: accepted
      assert.equal(await connackCode(h.mqttPort, version, mintToken({ privateKey: SEED_SECRET, alg: 'HS256', sub, expiresIn: 600, claims: { iat: Math.floor(Date.now() / 1000) + 2 } })), 0)
      const all = await h.api('POST', '/api/v1/revocations', { sub })
      assert.equal(all.status, 201)
      assert.equal(await connackCode(h.mqttPort, version, mintToken({ privateKey: SEED_SECRET, alg: 'HS256', sub, expiresIn: 600, claims: { iat: Math.floor(Date.now() / 1000) + 2 } })), REFUSED[version])
      assert.equal(await connackCode(h.mqttPort, version, token({}, uid('someone-else'))), 0)
      // withdrawn: the subject's new tokens work again
      assert.equal((await h.api('DELETE', `/api/v1/revocations/${all.body.revocation.id}`)).status, 204)
      assert.equal(await connackCode(h.mqttPort, version, token({ iat: Math.floor(Date.now() / 1000) + 2 }, sub)), 0)
    })
  }

  test('MQTT 5.0: re-authentication (AUTH 0x19) with a revoked token → DISCONNECT 0x87', async () => {
    const raw = await rawSocket(h.mqttPort, 5)
    await raw.connect({ clientId: uid('re'), properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token({ jti: uid('first') })) } })
    const jti = uid('second')
    await h.api('POST', '/api/v1/revocations', { jti })
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token({ jti })) } })
    const d = await raw.next('disconnect')
    assert.equal(d.reasonCode, 0x87)
    assert.match(String(d.properties?.reasonString), /revoked/)
    await raw.waitClosed()
  })

  test('bad requests are 400 with the field; unknown ids 404', async () => {
    for (const [body, path] of [[{}, 'body'], [{ jti: '' }, 'jti'], [{ jti: 'a', sub: 'b' }, 'jti'], [{ sub: 'b', issuedBefore: 'yesterday' }, 'issuedBefore'], [{ sub: 'b', exp: 1 }, 'exp'], [{ jtii: 'x' }, 'jtii']] as const) {
      const res = await h.api('POST', '/api/v1/revocations', body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.path, path, JSON.stringify(body))
    }
    assert.equal((await h.api('DELETE', '/api/v1/revocations/nope')).status, 404)
    assert.equal((await h.api('GET', '/api/v1/revocations/nope')).status, 404)
  })

  test('an entry for a token that has expired anyway is dropped', async () => {
    const res = await h.api('POST', '/api/v1/revocations', { jti: 'old-one', exp: Math.floor(Date.now() / 1000) - 1 })
    assert.equal(res.status, 201)
    const list = await h.api('GET', '/api/v1/revocations')
    assert.equal(list.body.some((r: { value: string }) => r.value === 'old-one'), false)
  })

  test('portcullis token revoke TOKEN: revokes its jti through the admin API and drops the live client (the token is not printed)', async () => {
    const jti = uid('cli')
    const t = token({ jti })
    const raw = await rawSocket(h.mqttPort, 5)
    await raw.connect({ clientId: uid('cli'), username: 'u', password: Buffer.from(t) })
    // the compiled command line, as a user runs it (npm test builds it first)
    const out = await promisify(execFile)('node', [resolve('bin/portcullis.js'), 'token', 'revoke', t, '--reason', 'lost laptop', '--url', h.adminUrl, '--api-key', API_KEY])
    assert.match(out.stdout, new RegExp(`revoked \\(jti "${jti}"\\)`))
    assert.match(out.stdout, /disconnected: 1/)
    assert.equal(out.stdout.includes(t), false)
    assert.equal((await raw.next('disconnect')).reasonCode, 0x98)
    // Offline, `token inspect` reads the stored revocations as the broker checks them.
    const config = join(dataDir, 'inspect.yaml')
    writeFileSync(config, stringify(baseConfig(dataDir)))
    const inspected = await cli(['token', 'inspect', t, '--config', config], dataDir)
    assert.equal(inspected.code, 1, inspected.stderr)
    assert.match(inspected.stdout, /ERR_TOKEN_REVOKED/)
    assert.match(inspected.stdout, /revocation.*was revoked \(lost laptop\)/)
    assert.match((await cli(['token', 'inspect', token({ jti: uid('fine') }), '--config', config], dataDir)).stdout, /verdict: allow|allow/)
    const bad = await promisify(execFile)('node', [resolve('bin/portcullis.js'), 'token', 'revoke', '--sub', 'x', '--issued-before', 'soon', '--url', h.adminUrl, '--api-key', API_KEY]).catch((e: { code: number; stdout: string }) => e)
    assert.equal((bad as { code?: number }).code, 1)
    assert.match((bad as { stdout: string }).stdout, /HTTP 400.*issuedBefore/)
    // A subject's tokens issued before a time: the answer says so (it said `issuedBefore "<sub>"`).
    const sub = uid('cli-sub')
    const before = await promisify(execFile)('node', [resolve('bin/portcullis.js'), 'token', 'revoke', '--sub', sub, '--issued-before', '1700000000', '--url', h.adminUrl, '--api-key', API_KEY])
    assert.match(before.stdout, new RegExp(`^revoked \\(sub "${sub}" issued before 2023-11-14T22:13:20\\.000Z\\), id `, 'm'))
  })

  test('revocations survive a restart', async () => {
    const jti = uid('persist')
    const t = token({ jti })
    await h.api('POST', '/api/v1/revocations', { jti })
    await h.close()
    h = await startAdmin({ dataDir })
    assert.equal(await connackCode(h.mqttPort, 5, t), 0x86)
    assert.equal(await connackCode(h.mqttPort, 4, t), 4)
    const list = await h.api('GET', '/api/v1/revocations')
    assert.ok(list.body.some((r: { value: string }) => r.value === jti))
  })
})
