/**
 * The command line as a user runs it (the compiled `bin/portcullis.js`, built by `npm test`
 * and by `npm ci`): the development setup end to end with Debian's mosquitto clients,
 * token mint / inspect, keygen, configuration errors and graceful shutdown.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cli, exited, freePort, run, startBroker } from '../helpers/cli.js'

describe('cli: development setup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'))
  let broker: { child: ChildProcess; stderr: () => string; stdout: () => string }
  let mqttPort = 0
  let env: NodeJS.ProcessEnv = {}
  before(async () => {
    mqttPort = await freePort()
    env = { PORTCULLIS_MQTT_PORT: String(mqttPort), PORTCULLIS_ADMIN_PORT: String(await freePort()) }
    broker = await startBroker(dir, [], env)
  })
  after(() => {
    if (broker.child.exitCode === null) broker.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  test('prints a development banner and keeps the key in data/ (mode 0600)', () => {
    assert.match(broker.stderr(), /DEVELOPMENT SETUP/)
    assert.match(broker.stderr(), /token mint/)
    const shown = /API key: (\S+) \(shown once/.exec(broker.stderr())
    assert.ok(shown, 'the generated admin API key is shown once')
    assert.equal(readFileSync(join(dir, 'data', 'admin-api-key'), 'utf8').trim(), shown[1])
    const key = join(dir, 'data', 'dev-signing-key.json')
    assert.equal(statSync(key).mode & 0o777, 0o600)
    assert.equal(JSON.parse(readFileSync(key, 'utf8')).alg, 'ES256')
  })

  test('a minted token lets mosquitto_pub / mosquitto_sub exchange a message; no token is refused', async () => {
    const { stdout: token } = await cli(['token', 'mint', '--sub', 'alice', '--exp', '10m'], dir)
    const t = token.trim()
    assert.equal(t.split('.').length, 3)
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-t', 'demo/#', '-u', 'alice', '-P', t, '-C', '1', '-v', '-W', '10'])
    let got = ''
    sub.stdout.on('data', (d: Buffer) => (got += d.toString()))
    await new Promise((r) => setTimeout(r, 500))
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-t', 'demo/hello', '-m', 'hi', '-u', 'alice', '-P', t])
    await exited(sub)
    assert.equal(got.trim(), 'demo/hello hi')
    await assert.rejects(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-t', 'demo/x', '-m', 'no']))
    await assert.rejects(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-t', 'demo/x', '-m', 'no', '-u', 'a', '-P', 'not.a.token']))
  })

  test('token inspect explains each check against the running configuration', async () => {
    const { stdout: token } = await cli(['token', 'mint', '--sub', 'bob', '--exp', '10m'], dir)
    const ok = await cli(['token', 'inspect', token.trim()], dir, env)
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /ok\s+signature/)
    assert.match(ok.stdout, /verdict: allow by dev-jwks/)
    const { stdout: old } = await cli(['token', 'mint', '--sub', 'bob', '--exp', '-1h'], dir)
    const bad = await cli(['token', 'inspect', old.trim()], dir, env)
    assert.equal(bad.code, 1)
    assert.match(bad.stdout, /FAIL\s+exp/)
    assert.doesNotMatch(bad.stdout, new RegExp(old.trim().split('.')[2]), 'the token is never echoed')
  })

  test('token inspect follows authenticators added through the admin API', async () => {
    const apiKey = readFileSync(join(dir, 'data', 'admin-api-key'), 'utf8').trim()
    const secret = 'an-api-created-hmac-secret-of-32-bytes+'
    const r = await fetch(`http://127.0.0.1:${env['PORTCULLIS_ADMIN_PORT']}/api/v1/authenticators`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'jwt', name: 'api-hmac', from: 'password', algorithm: 'hmac-based', secret }),
    })
    assert.equal(r.status, 201)
    const { stdout: token } = await cli(['token', 'mint', '--secret', secret, '--sub', 'carol'], dir)
    const ok = await cli(['token', 'inspect', token.trim()], dir, env)
    assert.equal(ok.code, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /verdict: allow by api-hmac/)
    assert.match(ok.stdout, /stored by the admin API/)
  })

  test('token inspect checks against the policies stored by the admin API', async () => {
    const apiKey = readFileSync(join(dir, 'data', 'admin-api-key'), 'utf8').trim()
    const r = await fetch(`http://127.0.0.1:${env['PORTCULLIS_ADMIN_PORT']}/api/v1/policies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'no-demo-secret', priority: 1, effect: 'deny', actions: ['publish'], topics: ['demo/secret'] }),
    })
    assert.equal(r.status, 201, await r.text())
    const { stdout: token } = await cli(['token', 'mint', '--sub', 'dave', '--exp', '10m'], dir)
    const refused = await cli(['token', 'inspect', token.trim(), '--publish', 'demo/secret'], dir, env)
    assert.equal(refused.code, 1, refused.stdout + refused.stderr)
    assert.match(refused.stdout, /^verdict: allow by dev-jwks$/m)
    assert.match(refused.stdout, /authorization, revocations and devices as stored by the admin API/)
    assert.match(refused.stdout, /^ {2}publish demo\/secret \(qos 0, retain false\): refused by policies rule "no-demo-secret"$/m)
  })

  test('SIGTERM shuts down gracefully with exit code 0', async () => {
    broker.child.kill('SIGTERM')
    assert.equal(await exited(broker.child), 0)
  })
})

describe('cli: configuration and tools', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('a bad configuration exits 2 before listening, naming the key path', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'authentication:\n  authenticators:\n    - { type: jwt, algorithm: hmac-based, secret: short }\n')
    const r = await cli(['start', '--config', 'bad.yaml'], dir)
    assert.equal(r.code, 2)
    assert.match(r.stderr, /authentication\.authenticators\[0\]\.secret/)
    writeFileSync(join(dir, 'typo.yaml'), 'listners: []\n')
    const t = await cli(['start', '--config', 'typo.yaml'], dir)
    assert.equal(t.code, 2)
    assert.match(t.stderr, /listners/)
    const missing = await cli(['start', '--config', 'nope.yaml'], dir)
    assert.equal(missing.code, 2)
  })

  test('./portcullis.yaml is used when present', async () => {
    const port = await freePort()
    writeFileSync(join(dir, 'portcullis.yaml'), `listeners: [{ type: tcp, host: 127.0.0.1, port: ${port} }]\nauthentication: { allowAnonymous: true }\nauthorization: { noMatch: allow }\n`)
    const b = await startBroker(dir, [], {})
    assert.match(b.stdout(), new RegExp(`"port":${port}`))
    assert.doesNotMatch(b.stderr(), /DEVELOPMENT SETUP/)
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'x', '-m', 'anonymous ok'])
    b.child.kill('SIGINT')
    assert.equal(await exited(b.child), 0)
    rmSync(join(dir, 'portcullis.yaml'))
  })

  test('keygen prints a key pair whose tokens the matching configuration accepts', async () => {
    const k = await cli(['keygen', '--alg', 'EdDSA'], dir)
    const pair = JSON.parse(k.stdout) as { kid: string; privateJwk: object; publicJwks: object; publicPem: string }
    assert.ok(pair.kid.length > 20)
    writeFileSync(join(dir, 'key.json'), JSON.stringify(pair.privateJwk))
    writeFileSync(join(dir, 'ed.yaml'), `authentication:\n  authenticators:\n    - type: jwks\n      text: '${JSON.stringify(pair.publicJwks)}'\n`)
    const { stdout: token } = await cli(['token', 'mint', '--key', 'key.json', '--alg', 'EdDSA', '--sub', 'x', '--claim', 'n=3'], dir)
    const r = await cli(['token', 'inspect', token.trim(), '--config', 'ed.yaml'], dir)
    assert.equal(r.code, 0, r.stdout)
    assert.match(r.stdout, /"n":3/)
  })

  test('token inspect of out-of-range time claims explains the refusal (no "Invalid time value")', async () => {
    const secret = 'cli-range-secret-0123456789-abcdefghij'
    writeFileSync(join(dir, 'hs.yaml'), `authentication:\n  authenticators:\n    - { type: jwt, name: hs, from: password, algorithm: hmac-based, secret: ${secret} }\n`)
    for (const claim of ['exp=-1e300', 'exp=-1e13', 'nbf=1e13', 'iat=1e13']) {
      const { stdout: token } = await cli(['token', 'mint', '--secret', secret, '--sub', 'x', '--claim', claim], dir)
      const r = await cli(['token', 'inspect', token.trim(), '--config', 'hs.yaml'], dir)
      assert.equal(r.code, 1, `${claim}: ${r.stdout}${r.stderr}`)
      assert.doesNotMatch(r.stdout + r.stderr, /Invalid time value/, claim)
      assert.match(r.stdout, /verdict: deny by hs \(ERR_JWT_MALFORMED\)/, claim)
      assert.match(r.stdout, /outside the range of dates/, claim)
    }
  })

  test('token inspect says when the checks use ${username} or ${clientid} and the option was not given', async () => {
    const secret = 'cli-hint-secret-0123456789-abcdefghij'
    writeFileSync(join(dir, 'match.yaml'), 'authentication:\n  authenticators:\n' +
      `    - { type: jwt, name: hs, from: password, algorithm: hmac-based, secret: ${secret}, claims: { match: { sub: '\${username}', cid: '\${clientid}' } } }\n`)
    const { stdout: token } = await cli(['token', 'mint', '--secret', secret, '--sub', 'alice', '--claim', 'cid=c1'], dir)
    const usernameHint = 'hint: --username not given, so checked as a CONNECT without a username; [hs] claims.match sub uses ${username}: give --username NAME'
    const clientIdHint = 'hint: --client-id not given, so checked with an empty client id; [hs] claims.match cid uses ${clientid}: give --client-id ID'
    const without = await cli(['token', 'inspect', token.trim(), '--config', 'match.yaml', '--client-id', 'c1'], dir)
    assert.equal(without.code, 1, without.stdout)
    assert.match(without.stdout, /FAIL match:sub +claim 'sub': template \$\{username\} cannot be filled in/)
    assert.ok(without.stdout.split('\n').includes(usernameHint), without.stdout)
    assert.ok(!without.stdout.includes('hint: --client-id'), 'the client id was given')
    const neither = await cli(['token', 'inspect', token.trim(), '--config', 'match.yaml'], dir)
    assert.deepEqual(neither.stdout.split('\n').filter((l) => l.startsWith('hint:')), [usernameHint, clientIdHint])
    const both = await cli(['token', 'inspect', token.trim(), '--config', 'match.yaml', '--client-id', 'c1', '--username', 'alice'], dir)
    assert.equal(both.code, 0, both.stdout)
    assert.doesNotMatch(both.stdout, /^hint:/m)
    // Checks that do not use them: no hint.
    writeFileSync(join(dir, 'plain.yaml'), `authentication:\n  authenticators:\n    - { type: jwt, name: hs, from: password, algorithm: hmac-based, secret: ${secret} }\n`)
    const plain = await cli(['token', 'inspect', token.trim(), '--config', 'plain.yaml'], dir)
    assert.equal(plain.code, 0, plain.stdout)
    assert.doesNotMatch(plain.stdout, /^hint:/m)
    // The token read from the username: a --username given is not used there, and the command says so.
    writeFileSync(join(dir, 'from-username.yaml'), `authentication:\n  authenticators:\n    - { type: jwt, name: hu, from: username, algorithm: hmac-based, secret: ${secret} }\n`)
    const ignored = await cli(['token', 'inspect', token.trim(), '--config', 'from-username.yaml', '--username', 'alice'], dir)
    assert.equal(ignored.code, 0, ignored.stdout)
    assert.deepEqual(ignored.stdout.split('\n').filter((l) => l.startsWith('hint:')),
      ['hint: --username is not used by [hu]: it reads the token from the username (a CONNECT carries the token there, so the token is checked as the username)'])
    const noUsername = await cli(['token', 'inspect', token.trim(), '--config', 'from-username.yaml'], dir)
    assert.equal(noUsername.code, 0, noUsername.stdout)
    assert.doesNotMatch(noUsername.stdout, /^hint:/m)
  })

  test('token inspect says what an accepted token may do: connect, rules, and each --publish / --subscribe with the rule that decides it', async () => {
    const secret = 'cli-authz-secret-0123456789-abcdefghij'
    writeFileSync(join(dir, 'acl-a.yaml'), '- { permission: allow, action: all, topic: "a/#" }\n')
    writeFileSync(join(dir, 'authz.yaml'), 'authentication:\n  authenticators:\n' +
      `    - { type: jwt, name: hs, from: password, algorithm: hmac-based, secret: ${secret} }\n` +
      'authorization:\n  noMatch: deny\n  policies:\n' +
      '    - { name: no-b, priority: 5, effect: deny, actions: [publish], topics: [b] }\n' +
      '    - { name: office, priority: 10, effect: allow, actions: [publish], topics: ["office/#"], ip: "10.0.0.0/8" }\n' +
      '    - { name: no-guests, priority: 1, effect: deny, actions: [connect], clientId: "^guest-" }\n')
    const { stdout: minted } = await cli(['token', 'mint', '--secret', secret, '--sub', 'alice', '--acl', 'acl-a.yaml'], dir)
    const token = minted.trim()
    const inspect = (...more: string[]): ReturnType<typeof cli> => cli(['token', 'inspect', token, '--config', 'authz.yaml', ...more], dir)

    const allowed = await inspect('--publish', 'a/x', '--client-id', 'dev-1')
    assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr)
    assert.match(allowed.stdout, /^verdict: allow by hs$/m, 'the existing report is unchanged')
    assert.match(allowed.stdout, /^permissions: client id "dev-1", username \(none\), ip 127\.0\.0\.1, until /m)
    assert.match(allowed.stdout, /^ {2}connect: allowed: no connect rule matched/m)
    assert.match(allowed.stdout, /^ {4}allow publish,subscribe a\/# {2}\[token-acl "acl\[0\]"\]$/m)
    assert.match(allowed.stdout, /^ {4}deny {2}publish b {2}\[policies "no-b"\]$/m)
    assert.doesNotMatch(allowed.stdout, /\[policies "office"\]/, 'the ip condition is not met from 127.0.0.1')
    assert.match(allowed.stdout, /^ {2}noMatch: deny$/m)
    assert.match(allowed.stdout, /^ {2}publish a\/x \(qos 0, retain false\): allowed by token-acl rule "acl\[0\]"$/m)
    assert.doesNotMatch(allowed.stdout, new RegExp(token.split('.')[2]), 'the token is never echoed')

    const denied = await inspect('--publish', 'b')
    assert.equal(denied.code, 1, denied.stdout)
    assert.match(denied.stdout, /^ {2}publish b \(qos 0, retain false\): refused by policies rule "no-b"$/m)
    const unmatched = await inspect('--publish', 'c', '--publish', 'a/y', '--qos', '1', '--retain')
    assert.equal(unmatched.code, 1, unmatched.stdout)
    assert.match(unmatched.stdout, /^ {2}publish c \(qos 1, retain true\): refused: no rule matched: noMatch is deny$/m)
    assert.match(unmatched.stdout, /^ {2}publish a\/y \(qos 1, retain true\): allowed by token-acl rule "acl\[0\]"$/m)

    // A policy with an ip condition applies to the address --ip gives (printed).
    const office = await inspect('--publish', 'office/1')
    assert.equal(office.code, 1, office.stdout)
    const fromOffice = await inspect('--publish', 'office/1', '--ip', '10.1.2.3')
    assert.equal(fromOffice.code, 0, fromOffice.stdout)
    assert.match(fromOffice.stdout, /, ip 10\.1\.2\.3, /)
    assert.match(fromOffice.stdout, /^ {2}publish office\/1 \(qos 0, retain false\): allowed by policies rule "office"$/m)

    // A shared subscription is checked on the filter it shares.
    const shared = await inspect('--subscribe', '$share/g/a/#', '--subscribe', '$share/g/b')
    assert.equal(shared.code, 1, shared.stdout)
    assert.match(shared.stdout, /^ {2}subscribe \$share\/g\/a\/# \(qos 0\): allowed by token-acl rule "acl\[0\]"$/m)
    assert.match(shared.stdout, /^ {2}subscribe \$share\/g\/b \(qos 0\): refused: no rule matched: noMatch is deny$/m)
    const malformed = await inspect('--subscribe', '$share//a')
    assert.equal(malformed.code, 2)
    assert.match(malformed.stderr, /not a valid shared subscription/)

    // Connect refused by a policy: exit 1 although the token is good, naming the rule.
    const guest = await inspect('--client-id', 'guest-7')
    assert.equal(guest.code, 1, guest.stdout)
    assert.match(guest.stdout, /^verdict: allow by hs$/m)
    assert.match(guest.stdout, /^ {2}connect: refused by policies rule "no-guests"$/m)

    // An ACL claim the broker cannot read refuses the client, and says why.
    const { stdout: unreadable } = await cli(['token', 'mint', '--secret', secret, '--sub', 'alice', '--claim', 'acl={"pub":5}'], dir)
    const badAcl = await cli(['token', 'inspect', unreadable.trim(), '--config', 'authz.yaml'], dir)
    assert.equal(badAcl.code, 1, badAcl.stdout)
    assert.match(badAcl.stdout, /^ {2}connect: refused by token-acl rule "ACL claim"$/m)
    assert.match(badAcl.stdout, /^ {2}acl claim unusable: ACL claim\.pub: must be a list of topic filters$/m)

    // A refused token: no permissions at all.
    const { stdout: expired } = await cli(['token', 'mint', '--secret', secret, '--sub', 'alice', '--acl', 'acl-a.yaml', '--exp', '-1h'], dir)
    const refused = await cli(['token', 'inspect', expired.trim(), '--config', 'authz.yaml', '--publish', 'a/x'], dir)
    assert.equal(refused.code, 1)
    assert.match(refused.stdout, /FAIL\s+exp/)
    assert.doesNotMatch(refused.stdout, /^permissions:/m)
    assert.doesNotMatch(refused.stdout, /publish a\/x/)
  })

  test('token inspect builds the identity as CONNECT does: the client id and username its identity block takes from the claims', async () => {
    const secret = 'cli-identity-secret-0123456789-abcdefg'
    writeFileSync(join(dir, 'identity.yaml'), 'authentication:\n  authenticators:\n' +
      `    - { type: jwt, name: hu, from: username, algorithm: hmac-based, secret: ${secret}, identity: { clientId: device } }\n` +
      'authorization:\n  noMatch: deny\n  policies:\n' +
      '    - { name: own-topic, priority: 10, effect: allow, actions: [publish], topics: ["dev/${clientid}/#"] }\n')
    const { stdout: minted } = await cli(['token', 'mint', '--secret', secret, '--sub', 'x', '--claim', 'device=pump-3'], dir)
    const r = await cli(['token', 'inspect', minted.trim(), '--config', 'identity.yaml', '--publish', 'dev/pump-3/t', '--publish', 'dev/pump-4/t'], dir)
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stdout, /^permissions: client id "pump-3", username \(the token\), /m)
    assert.match(r.stdout, /^ {4}allow publish dev\/pump-3\/# {2}\[policies "own-topic"\]$/m)
    assert.match(r.stdout, /^ {2}publish dev\/pump-3\/t \(qos 0, retain false\): allowed by policies rule "own-topic"$/m)
    assert.match(r.stdout, /^ {2}publish dev\/pump-4\/t \(qos 0, retain false\): refused: no rule matched/m)
    assert.doesNotMatch(r.stdout, new RegExp(minted.trim().split('.')[2]), 'the token (the username) is never echoed')
  })

  test('unknown commands and missing values are usage errors (exit 2)', async () => {
    assert.equal((await cli(['frobnicate'], dir)).code, 2)
    assert.equal((await cli(['token', 'mint', '--sub'], dir)).code, 2)
    const v = await cli(['--version'], dir)
    assert.match(v.stdout, /^\d+\.\d+\.\d+/)
  })
})
