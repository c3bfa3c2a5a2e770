/**
 * The console's live form validation (src/console/public/validate.js, a browser module with
 * no DOM use) agrees with the server's configuration validation on the rules it mirrors.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { parseAuthorizationConfig } from '../../src/authz/config.js'
import { testKey } from '../helpers/tokens.js'

type Check = (v: Record<string, unknown>, context?: Record<string, unknown>) => { errors: Record<string, string>; warnings: Record<string, string> }
const modulePath = '../../src/console/public/validate.js'
const { validateAuthenticator, validatePolicy, validateAuthorizationSettings } = (await import(modulePath)) as {
  validateAuthenticator: Check; validatePolicy: Check; validateAuthorizationSettings: Check
}

const jwt = (over: Record<string, unknown>): Record<string, unknown> => ({ name: 'a', type: 'jwt', from: 'password', algorithm: 'hmac-based', secret: 'x'.repeat(32), ...over })
const jwks = (over: Record<string, unknown>): Record<string, unknown> => ({ name: 'b', type: 'jwks', from: 'password', source: 'endpoint', endpoint: 'https://id.example.com', refreshInterval: 60, ...over })

/** The server's verdict on the same entry: the failing key (last path segment), or ''. */
function server(raw: Record<string, unknown>): string {
  try {
    parseAuthenticatorConfig(raw, 'a')
    return ''
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.path.split('.').pop() ?? ''
  }
}

test('console validation: HMAC secrets need 32 bytes, as the server says', () => {
  for (const secret of ['x'.repeat(31), 'x'.repeat(32), 'é'.repeat(16), '-----BEGIN PUBLIC KEY-----' + 'x'.repeat(40)]) {
    const ours = validateAuthenticator(jwt({ secret })).errors
    assert.equal(ours['secret'] !== undefined, server({ type: 'jwt', algorithm: 'hmac-based', secret }) === 'secret', secret)
  }
  assert.match(validateAuthenticator(jwt({ secret: 'short' })).errors['secret'] ?? '', /at least 32 bytes/)
  assert.match(validateAuthenticator(jwt({ secret: '' })).errors['secret'] ?? '', /required/)
  // Editing an entry with a stored secret: empty keeps it (PUT without `secret`), unless the encoding changes.
  assert.equal(validateAuthenticator(jwt({ secret: '', editing: true, hasSecret: true })).errors['secret'], undefined)
  assert.equal(validateAuthenticator(jwt({ secret: '', editing: true, hasSecret: true, secretBase64: true, storedSecretBase64: true })).errors['secret'], undefined)
  assert.match(validateAuthenticator(jwt({ secret: '', editing: true, hasSecret: true, secretBase64: true })).errors['secret'] ?? '', /encoding/)
  assert.match(validateAuthenticator(jwt({ secret: '', editing: true, hasSecret: false })).errors['secret'] ?? '', /required/)
})

test('console validation: PEM public keys', () => {
  const key = testKey('ES256')
  assert.equal(validateAuthenticator(jwt({ algorithm: 'public-key', publicKey: key.publicPem })).errors['publicKey'], undefined)
  assert.match(validateAuthenticator(jwt({ algorithm: 'public-key', publicKey: 'MFkwEwYH' })).errors['publicKey'] ?? '', /PEM/)
  assert.match(validateAuthenticator(jwt({ algorithm: 'public-key', publicKey: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----' })).errors['publicKey'] ?? '', /private key/)
  assert.match(validateAuthenticator(jwt({ algorithm: 'public-key', publicKey: '-----BEGIN PUBLIC KEY-----\nabc' })).errors['publicKey'] ?? '', /incomplete/)
})

test('console validation: JWKS address and refresh interval', () => {
  assert.deepEqual(validateAuthenticator(jwks({})), { errors: {}, warnings: {} })
  assert.match(validateAuthenticator(jwks({ endpoint: 'https://id.example.com/.well-known/jwks.json' })).warnings['endpoint'] ?? '', /without/)
  assert.match(validateAuthenticator(jwks({ endpoint: 'ftp://id.example.com' })).errors['endpoint'] ?? '', /http/)
  assert.equal(server({ type: 'jwks', endpoint: 'ftp://id.example.com' }), 'endpoint')
  assert.match(validateAuthenticator(jwks({ endpoint: 'not a url' })).errors['endpoint'] ?? '', /URL/)
  assert.match(validateAuthenticator(jwks({ endpoint: 'http://id.example.com' })).warnings['endpoint'] ?? '', /https/)
  assert.equal(validateAuthenticator(jwks({ endpoint: 'http://127.0.0.1:8080' })).warnings['endpoint'], undefined)
  for (const r of [59, 60, 1000, 1001]) {
    assert.equal(validateAuthenticator(jwks({ refreshInterval: r })).errors['refreshInterval'] !== undefined,
      server({ type: 'jwks', endpoint: 'https://id.example.com', refreshInterval: r }) === 'refreshInterval', String(r))
  }
  assert.match(validateAuthenticator(jwks({ source: 'text', text: '{"keys":[]}' })).errors['text'] ?? '', /no keys/)
  assert.equal(validateAuthenticator(jwks({ source: 'text', text: JSON.stringify({ keys: [testKey('ES256').publicJwk] }) })).errors['text'], undefined)
})

test('console validation: descriptions are at most 128 characters (code points)', () => {
  for (const description of ['x'.repeat(128), 'x'.repeat(129), '😀'.repeat(128)]) {
    const ours = validateAuthenticator(jwt({ description })).errors['description'] !== undefined
    assert.equal(ours, server({ type: 'jwt', algorithm: 'hmac-based', secret: 'x'.repeat(32), description }) === 'description', description)
  }
})

test('console validation: policies', () => {
  const base = { name: 'own-topics', priority: 10, effect: 'allow', actions: ['publish'], topics: ['a/${clientid}/#'], retain: 'any' }
  assert.deepEqual(validatePolicy(base).errors, {})
  assert.ok(validatePolicy({ ...base, name: 'ab' }).errors['name'])
  assert.ok(validatePolicy({ ...base, topics: [] }).errors['topics'])
  assert.ok(validatePolicy({ ...base, topics: ['a/#/b'] }).errors['topics'])
  assert.ok(validatePolicy({ ...base, topics: ['a/b+'] }).errors['topics'])
  assert.ok(validatePolicy({ ...base, clientId: '(' }).errors['clientId'])
  assert.ok(validatePolicy({ ...base, ip: ['10.0.0.0/33'] }).errors['ip'])
  assert.deepEqual(validatePolicy({ ...base, ip: ['10.0.0.0/8', '::1'] }).errors, {})
  assert.ok(validatePolicy({ ...base, actions: ['connect'], topics: ['a'] }).errors['topics'])
})

test('console validation: claims.match templates, as the server compiles them', () => {
  const templates = ['${clientid}', 'dev-${clientid}', '${username}', '${claims.tenant}/${clientid}', 'plain', '', '${user}', '${}', '${claims.}', '${CLIENTID}', '${clientid', '$clientid']
  for (const from of ['username', 'password']) {
    for (const template of templates) {
      const ours = validateAuthenticator(jwt({ from, match: [{ claim: 'sub', template }] })).errors['match']
      const theirs = server({ type: 'jwt', from, algorithm: 'hmac-based', secret: 'x'.repeat(32), claims: { match: { sub: template } } })
      assert.equal(ours !== undefined, theirs === 'sub', `${from}: ${JSON.stringify(template)} → ours ${ours ?? 'ok'}, server ${theirs || 'ok'}`)
    }
  }
  assert.match(validateAuthenticator(jwt({ match: [{ claim: 'sub', template: '${user}' }] })).errors['match'] ?? '', /^sub: unknown placeholder \$\{user\}/)
  assert.match(validateAuthenticator(jwt({ from: 'username', match: [{ claim: 'cid', template: '${username}' }] })).errors['match'] ?? '', /from: username/)
  // Beyond the server: a row needs a claim name, used once (a JSON object cannot hold it twice).
  assert.match(validateAuthenticator(jwt({ match: [{ claim: ' ', template: '${clientid}' }] })).errors['match'] ?? '', /row 1: the claim name is required/)
  assert.match(validateAuthenticator(jwt({ match: [{ claim: 'sub', template: 'a' }, { claim: 'sub', template: 'b' }] })).errors['match'] ?? '', /listed twice/)
  assert.match(validateAuthenticator(jwt({ match: [{ claim: 'sub', template: '' }] })).warnings['match'] ?? '', /empty/)
  assert.deepEqual(validateAuthenticator(jwt({ match: [{ claim: 'sub', template: '${username}' }, { claim: 'cid', template: '${clientid}' }] })).errors, {})
})

test('console validation: authorization settings, as the server parses them', () => {
  const server = (raw: Record<string, unknown>): string => {
    try {
      parseAuthorizationConfig(raw, 'authorization')
      return ''
    } catch (err) {
      assert.ok(err instanceof ConfigError)
      return err.path.split('.').pop() ?? ''
    }
  }
  const cases: Array<Record<string, string>> = [
    { noMatch: 'deny', aclClaim: 'acl', superuserClaim: '' },
    { noMatch: 'allow', aclClaim: 'perms', superuserClaim: 'is_admin' },
    { noMatch: 'maybe', aclClaim: 'acl', superuserClaim: '' },
    { noMatch: 'deny', aclClaim: '', superuserClaim: '' },
    { noMatch: 'deny', aclClaim: 'a'.repeat(256), superuserClaim: 'b'.repeat(256) },
    { noMatch: 'deny', aclClaim: 'a'.repeat(257), superuserClaim: '' },
    { noMatch: 'deny', aclClaim: 'acl', superuserClaim: 'b'.repeat(257) },
    { noMatch: 'deny', aclClaim: '😀'.repeat(128), superuserClaim: '' },
    { noMatch: 'deny', aclClaim: '😀'.repeat(129), superuserClaim: '' },
  ]
  for (const v of cases) {
    const ours = Object.keys(validateAuthorizationSettings(v).errors).sort()
    // The console sends an empty superuser claim as null (none).
    const theirs = server({ ...v, superuserClaim: v['superuserClaim'] === '' ? null : v['superuserClaim'] })
    assert.deepEqual(ours, theirs === '' ? [] : [theirs], JSON.stringify(v).slice(0, 80))
  }
  assert.match(validateAuthorizationSettings({ noMatch: 'deny', aclClaim: 'acl', superuserClaim: '' }, { allowPolicies: false }).warnings['noMatch'] ?? '', /only when its token's "acl" claim/)
  assert.equal(validateAuthorizationSettings({ noMatch: 'deny', aclClaim: 'acl', superuserClaim: '' }, { allowPolicies: true }).warnings['noMatch'], undefined)
  assert.match(validateAuthorizationSettings({ noMatch: 'allow', aclClaim: 'acl', superuserClaim: '' }).warnings['noMatch'] ?? '', /allowed/)
  assert.match(validateAuthorizationSettings({ noMatch: 'deny', aclClaim: 'acl', superuserClaim: 'acl' }).warnings['superuserClaim'] ?? '', /ACL claim/)
})
