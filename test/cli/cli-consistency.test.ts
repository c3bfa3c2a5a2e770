/**
 * The command line is consistent (issue 17 item 7), run as a user runs it (the compiled
 * `bin/portcullis.js`): `--help` on every command with one layout, unknown options and stray
 * arguments are usage errors (exit 2) naming the command, every `--alg` error lists the valid
 * algorithms, `keygen` for HS* prints a secret and nothing "public", `keygen --out DIR` writes
 * files (private ones 0600, never overwritten), and `token mint --secret-base64` signs with the
 * secret keygen prints, accepted by a configuration with `secretBase64: true`.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { JWS_ALGORITHMS } from '../../src/auth/jwt/algorithms.js'
import { cli } from '../helpers/cli.js'

const COMMANDS: Record<string, string[]> = {
  start: ['--reset-config', '--config', '--data-dir'],
  'token mint': ['--sub', '--exp', '--claim', '--acl', '--iss', '--aud', '--key', '--secret', '--secret-base64', '--alg', '--kid', '--data-dir'],
  'token inspect': ['--client-id', '--username', '--ip', '--publish', '--subscribe', '--qos', '--retain', '--config', '--data-dir'],
  'token revoke': ['--jti', '--sub', '--issued-before', '--reason', '--url', '--api-key', '--config', '--data-dir'],
  keygen: ['--alg', '--out'],
}
const ALL_ALGS = JWS_ALGORITHMS.join(', ')

describe('cli: consistency', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-consistency-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('--help on every command: exit 0, one layout, every option listed once in one column', async () => {
    const column = new Set<number>()
    for (const [command, options] of Object.entries(COMMANDS)) {
      const r = await cli([...command.split(' '), '--help'], dir)
      assert.equal(r.code, 0, `${command}: ${r.stderr}`)
      assert.equal(r.stderr, '', command)
      const lines = r.stdout.split('\n')
      assert.match(lines[0], new RegExp(`^usage: portcullis ${command}( \\S+)? \\[options\\]$`), command)
      const optionLines = lines.slice(lines.indexOf('options:') + 1).filter((l) => l.startsWith('  -'))
      const listed = optionLines.map((l) => /--([a-z0-9-]+)/.exec(l)![0])
      assert.deepEqual(listed, [...options, '--help'], command)
      for (const l of optionLines) {
        const m = /^( {2}(?:-h, )?--[a-z0-9-]+(?: \S+)?) +(\S)/.exec(l)
        assert.ok(m, `${command}: ${l}`)
        column.add(l.indexOf(m[2], m[1].length))
      }
    }
    assert.equal(column.size, 1, 'the help text starts in the same column everywhere')
    // -h is --help; the token group and the top level list their commands
    const short = await cli(['token', 'mint', '-h'], dir)
    assert.equal(short.code, 0)
    assert.match(short.stdout, /^usage: portcullis token mint \[options\]/)
    assert.doesNotMatch(short.stdout + short.stderr, /needs a value/)
    const group = await cli(['token', '--help'], dir)
    assert.equal(group.code, 0)
    for (const c of ['token mint', 'token inspect', 'token revoke']) assert.match(group.stdout, new RegExp(`^  ${c} +\\S`, 'm'))
    const top = await cli(['--help'], dir)
    assert.equal(top.code, 0)
    for (const c of Object.keys(COMMANDS)) assert.match(top.stdout, new RegExp(`^  ${c} +\\S`, 'm'))
  })

  test('unknown options, stray arguments and values on flags are usage errors: exit 2, naming the command', async () => {
    for (const command of Object.keys(COMMANDS)) {
      const r = await cli([...command.split(' '), '--no-such-option'], dir)
      assert.equal(r.code, 2, command)
      assert.match(r.stderr, new RegExp(`^portcullis ${command}: unknown option '--no-such-option'`), command)
      assert.match(r.stderr, new RegExp(`Run 'portcullis ${command} --help'`), command)
      assert.equal(r.stdout, '', command)
    }
    const typo = await cli(['token', 'mint', '--secret-base46', 'x'], dir)
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /did you mean --secret-base64\?/)
    const stray = await cli(['keygen', 'ES256'], dir)
    assert.equal(stray.code, 2)
    assert.match(stray.stderr, /unexpected argument 'ES256'/)
    const flag = await cli(['start', '--reset-config=yes'], dir)
    assert.equal(flag.code, 2)
    assert.match(flag.stderr, /--reset-config takes no value/)
    const missing = await cli(['token', 'inspect'], dir)
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /TOKEN is missing/)
    const twice = await cli(['token', 'mint', '--sub', 'a', '--sub', 'b', '--secret', 'x'.repeat(32)], dir)
    assert.equal(twice.code, 2)
    assert.match(twice.stderr, /--sub is given more than once/)
    const none = await cli(['token'], dir)
    assert.equal(none.code, 2)
    assert.match(none.stderr, /a command is missing \(mint, inspect, revoke\)/)
  })

  test('token mint: a bad --exp, an unreadable or unparsable --acl file and a secret the broker would refuse are usage errors naming the option (exit 2)', async () => {
    const secret = 'x'.repeat(32)
    const exp = await cli(['token', 'mint', '--secret', secret, '--exp', '10x'], dir)
    assert.equal(exp.code, 2, exp.stderr)
    assert.match(exp.stderr, /^portcullis token mint: --exp: cannot read duration '10x' \(e\.g\. 90, 30s, 30m, 1h, 7d\), or none$/m)
    const missing = await cli(['token', 'mint', '--secret', secret, '--acl', join(dir, 'no-such-acl.yaml')], dir)
    assert.equal(missing.code, 2, missing.stderr)
    assert.match(missing.stderr, /^portcullis token mint: --acl: cannot read .*no-such-acl\.yaml: ENOENT/m)
    writeFileSync(join(dir, 'broken-acl.yaml'), 'pub: [a/#\n')
    const broken = await cli(['token', 'mint', '--secret', secret, '--acl', join(dir, 'broken-acl.yaml')], dir)
    assert.equal(broken.code, 2, broken.stderr)
    assert.match(broken.stderr, /^portcullis token mint: --acl: .*broken-acl\.yaml is not YAML or JSON: /m)
    for (const [argv, said] of [
      [['--secret', 'short'], /the secret is 5 bytes; HS256 needs at least 32 \(the broker refuses a shorter one\)/],
      [['--secret', secret, '--alg', 'HS512'], /the secret is 32 bytes; HS512 needs at least 64/],
      [['--secret-base64', Buffer.alloc(16, 7).toString('base64')], /the secret is 16 bytes; HS256 needs at least 32/],
    ] as const) {
      const r = await cli(['token', 'mint', ...argv], dir)
      assert.equal(r.code, 2, argv.join(' '))
      assert.match(r.stderr, said)
      assert.equal(r.stdout, '', 'no token printed')
    }
    // The good forms still work: a negative --exp (an expired token, for tests), none, an ACL file.
    writeFileSync(join(dir, 'acl.yaml'), 'pub: ["a/#"]\n')
    for (const argv of [['--exp', '-1h'], ['--exp', 'none'], ['--acl', join(dir, 'acl.yaml')]]) {
      const r = await cli(['token', 'mint', '--secret', secret, ...argv], dir)
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`)
      assert.match(r.stdout, /^ey[\w-]+\.[\w-]+\.[\w-]+\n$/)
    }
  })

  test('every --alg error lists the valid algorithms', async () => {
    for (const argv of [['keygen', '--alg', 'ES257'], ['token', 'mint', '--secret', 'x'.repeat(32), '--alg', 'none']]) {
      const r = await cli(argv, dir)
      assert.equal(r.code, 2, argv.join(' '))
      assert.ok(r.stderr.includes(ALL_ALGS) || r.stderr.includes('HS256, HS384, HS512'), r.stderr)
    }
    const unknown = await cli(['keygen', '--alg', 'ES257'], dir)
    assert.ok(unknown.stderr.includes(`unknown algorithm 'ES257' (valid: ${ALL_ALGS})`), unknown.stderr)
    const secretWithEc = await cli(['token', 'mint', '--secret', 'x'.repeat(32), '--alg', 'ES256'], dir)
    assert.equal(secretWithEc.code, 2)
    assert.match(secretWithEc.stderr, /algorithm 'ES256' does not fit this key \(valid: HS256, HS384, HS512\)/)
  })

  test('keygen --out DIR writes the key files (private ones 0600), prints no key material, never overwrites', async () => {
    const out = join(dir, 'es')
    const r = await cli(['keygen', '--alg', 'ES384', '--out', out], dir)
    assert.equal(r.code, 0, r.stderr)
    const printed = JSON.parse(r.stdout) as { kid: string; alg: string; files: Record<string, string> }
    assert.equal(printed.alg, 'ES384')
    assert.deepEqual(readdirSync(out).sort(), ['private.jwk.json', 'private.pem', 'public.jwks.json', 'public.pem'])
    assert.deepEqual(Object.keys(printed.files).sort(), readdirSync(out).sort())
    for (const f of ['private.jwk.json', 'private.pem']) assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, f)
    for (const f of ['public.jwks.json', 'public.pem']) assert.equal(statSync(join(out, f)).mode & 0o077, 0o044, f)
    const priv = JSON.parse(readFileSync(join(out, 'private.jwk.json'), 'utf8')) as { d: string }
    assert.ok(!r.stdout.includes(priv.d), 'the private key is not printed')
    const jwks = readFileSync(join(out, 'public.jwks.json'), 'utf8')
    assert.ok(!jwks.includes(priv.d), 'the public key set holds no private member')

    writeFileSync(join(dir, 'es.yaml'), `authentication:\n  authenticators:\n    - { type: jwks, name: es, text: '${JSON.stringify(JSON.parse(jwks))}' }\n`)
    for (const key of ['private.jwk.json', 'private.pem']) {
      const mint = await cli(['token', 'mint', '--key', join(out, key), '--sub', 'x', ...(key.endsWith('.pem') ? ['--kid', printed.kid] : [])], dir)
      assert.equal(mint.code, 0, `${key}: ${mint.stderr}`)
      const ok = await cli(['token', 'inspect', mint.stdout.trim(), '--config', 'es.yaml'], dir)
      assert.equal(ok.code, 0, `${key}: ${ok.stdout}`)
    }
    const wrongAlg = await cli(['token', 'mint', '--key', join(out, 'private.pem'), '--alg', 'RS256'], dir)
    assert.equal(wrongAlg.code, 2)
    assert.match(wrongAlg.stderr, /'RS256' does not fit this key \(valid: ES384\)/)

    const before = readFileSync(join(out, 'private.jwk.json'), 'utf8')
    const again = await cli(['keygen', '--out', out], dir)
    assert.equal(again.code, 2)
    assert.match(again.stderr, /exist: keygen never overwrites a key/)
    assert.equal(readFileSync(join(out, 'private.jwk.json'), 'utf8'), before)
  })

  test('keygen HS*: a secret and nothing "public"; mint --secret-base64 signs tokens a secretBase64 configuration accepts', async () => {
    for (const [alg, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
      const r = await cli(['keygen', '--alg', alg], dir)
      assert.equal(r.code, 0, r.stderr)
      const printed = JSON.parse(r.stdout) as Record<string, unknown>
      assert.deepEqual(Object.keys(printed).sort(), ['alg', 'kid', 'secretBase64url', 'secretJwk'], alg)
      assert.doesNotMatch(r.stdout, /public/i, alg)
      const secret = printed['secretBase64url'] as string
      assert.equal(Buffer.from(secret, 'base64url').length, bytes, alg)

      writeFileSync(join(dir, `${alg}.yaml`), `authentication:\n  authenticators:\n    - { type: jwt, name: hs, from: password, algorithm: hmac-based, secret: "${secret}", secretBase64: true }\n`)
      const mint = await cli(['token', 'mint', '--secret-base64', secret, '--alg', alg, '--sub', 'x'], dir)
      assert.equal(mint.code, 0, mint.stderr)
      const ok = await cli(['token', 'inspect', mint.stdout.trim(), '--config', `${alg}.yaml`], dir)
      assert.equal(ok.code, 0, `${alg}: ${ok.stdout}`)
      assert.match(ok.stdout, /verdict: allow by hs/)
    }
    // the same secret given as text is another key: refused
    const secret = JSON.parse((await cli(['keygen', '--alg', 'HS256', '--out', join(dir, 'hs')], dir)).stdout) as { files: Record<string, string> }
    assert.deepEqual(Object.keys(secret.files).sort(), ['secret.base64url', 'secret.jwk.json'])
    for (const f of Object.keys(secret.files)) assert.equal(statSync(join(dir, 'hs', f)).mode & 0o777, 0o600, f)
    const b64 = readFileSync(join(dir, 'hs', 'secret.base64url'), 'utf8').trim()
    writeFileSync(join(dir, 'hs.yaml'), `authentication:\n  authenticators:\n    - { type: jwt, name: hs, from: password, algorithm: hmac-based, secret: "${b64}", secretBase64: true }\n`)
    const fromFile = await cli(['token', 'mint', '--key', join(dir, 'hs', 'secret.jwk.json'), '--sub', 'x'], dir)
    assert.equal((await cli(['token', 'inspect', fromFile.stdout.trim(), '--config', 'hs.yaml'], dir)).code, 0, fromFile.stderr)
    const asText = await cli(['token', 'mint', '--secret', b64, '--sub', 'x'], dir)
    assert.equal((await cli(['token', 'inspect', asText.stdout.trim(), '--config', 'hs.yaml'], dir)).code, 1)
    const bad = await cli(['token', 'mint', '--secret-base64', 'not base64!'], dir)
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--secret-base64 is not valid base64 or base64url/)
    const both = await cli(['token', 'mint', '--secret-base64', b64, '--secret', 'x'], dir)
    assert.equal(both.code, 2)
    assert.match(both.stderr, /not both/)
  })
})
