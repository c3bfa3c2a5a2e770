import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Identity } from '../../src/auth/types.js'
import { ClaimsAuthorizer, parseAclClaim } from '../../src/authz/acl-claim.js'
import { parseAuthorizationConfig } from '../../src/authz/config.js'
import { createAuthorizerChain } from '../../src/authz/create.js'
import type { AuthzSubject, ClientAuthz } from '../../src/authz/types.js'

function subject(claims: Record<string, unknown> | undefined, expiresAt?: number, over: Partial<AuthzSubject> = {}): AuthzSubject {
  const identity: Identity = { authenticator: 'jwt', anonymous: false, claims, expiresAt }
  return { clientId: 'dev-1', username: 'alice', remoteAddress: '127.0.0.1', identity, ...over }
}

function authz(acl: unknown, raw: Record<string, unknown> = {}, over: Partial<AuthzSubject> = {}): ClientAuthz {
  return createAuthorizerChain(parseAuthorizationConfig(raw)).compile(subject({ acl }, undefined, over))
}

describe('ACL claim: rule list format', () => {
  test('allow and deny rules, first match decides, noMatch decides the rest', () => {
    const a = authz([
      { permission: 'deny', action: 'publish', topic: 'dev/${clientid}/admin' },
      { permission: 'allow', action: 'all', topics: ['dev/${clientid}/#', 'shared/${username}'] },
      { permission: 'allow', action: 'subscribe', topic: 'broadcast/#' },
    ])
    assert.equal(a.canPublish('dev/dev-1/temp', 0, false), true)
    assert.equal(a.canPublish('dev/dev-1/admin', 0, false), false)
    assert.equal(a.canPublish('dev/dev-2/temp', 0, false), false)
    assert.equal(a.canPublish('shared/alice', 0, false), true)
    assert.equal(a.canSubscribe('dev/dev-1/#', 0), true)
    assert.equal(a.canSubscribe('broadcast/news', 0), true)
    assert.equal(a.canPublish('broadcast/news', 0, false), false, 'subscribe-only rule')
    assert.equal(a.canSubscribe('#', 0), false)
  })

  test('qos and retain conditions (qos as a list or a single number)', () => {
    const a = authz([
      { permission: 'allow', action: 'publish', topic: 'q/#', qos: [0, 1], retain: false },
      { permission: 'allow', action: 'subscribe', topic: 's/#', qos: 2 },
    ])
    assert.equal(a.canPublish('q/a', 1, false), true)
    assert.equal(a.canPublish('q/a', 2, false), false)
    assert.equal(a.canPublish('q/a', 0, true), false)
    assert.equal(a.canSubscribe('s/a', 2), true)
    assert.equal(a.canSubscribe('s/a', 1), false)
  })

  test('deny rules decide the subscriptions they cover', () => {
    const a = authz([{ permission: 'deny', action: 'subscribe', topic: 'secret/#' }], { noMatch: 'allow' })
    assert.equal(a.canSubscribe('secret/x', 0), false)
    assert.equal(a.canSubscribe('secret/#', 0), false)
    assert.equal(a.canSubscribe('#', 0), true)
    assert.equal(a.canSubscribe('public/#', 0), true)
  })

  test('placeholders from claims, and injection through the client id', () => {
    const rules = [{ permission: 'allow', action: 'all', topic: 't/${claims.org}/${clientid}/#' }]
    const ok = createAuthorizerChain(parseAuthorizationConfig({})).compile(subject({ acl: rules, org: 'acme' }))
    assert.equal(ok.canPublish('t/acme/dev-1/x', 0, false), true)
    for (const clientId of ['#', '+', 'a/#', '../']) {
      const evil = createAuthorizerChain(parseAuthorizationConfig({})).compile(
        subject({ acl: rules, org: 'acme' }, undefined, { clientId }),
      )
      assert.equal(evil.canSubscribe('t/acme/#', 0), false, clientId)
      assert.equal(evil.canPublish('t/acme/other/x', 0, false), false, clientId)
    }
  })

  test('the token ACL comes before the policies', () => {
    const raw = {
      policies: [{ name: 'deny-all-pub', priority: 1, effect: 'deny', actions: ['publish'], topics: ['#'] }],
    }
    const a = authz([{ permission: 'allow', action: 'publish', topic: 'mine/#' }], raw)
    assert.equal(a.canPublish('mine/x', 0, false), true, 'token ACL decides first')
    assert.equal(a.canPublish('other', 0, false), false, 'then the policies')
  })
})

describe('ACL claim: map format (an allow-list)', () => {
  test('pub, sub and all', () => {
    const a = authz({ pub: ['out/${clientid}'], sub: ['in/#'], all: ['both/+'] })
    assert.equal(a.canPublish('out/dev-1', 0, false), true)
    assert.equal(a.canSubscribe('out/dev-1', 0), false)
    assert.equal(a.canSubscribe('in/x/y', 0), true)
    assert.equal(a.canPublish('in/x', 0, false), false)
    assert.equal(a.canPublish('both/a', 2, true), true)
    assert.equal(a.canSubscribe('both/+', 1), true)
    assert.equal(a.canSubscribe('both/#', 1), false)
  })

  test('an empty map or list grants nothing; noMatch decides', () => {
    assert.equal(authz({}).canPublish('x', 0, false), false)
    assert.equal(authz([]).canPublish('x', 0, false), false)
    assert.equal(authz([], { noMatch: 'allow' }).canPublish('x', 0, false), true)
  })

  test('a JSON string claim is read too', () => {
    const a = authz(JSON.stringify({ pub: ['a/b'] }))
    assert.equal(a.canPublish('a/b', 0, false), true)
  })

  test('a custom claim name (exact key, even with dots and slashes)', () => {
    const chain = createAuthorizerChain(parseAuthorizationConfig({ aclClaim: 'https://example.com/acl' }))
    const a = chain.compile(subject({ 'https://example.com/acl': { pub: ['x'] }, acl: { pub: ['y'] } }))
    assert.equal(a.canPublish('x', 0, false), true)
    assert.equal(a.canPublish('y', 0, false), false)
  })
})

describe('ACL claim: malformed claims deny everything from that source, never crash', () => {
  const malformed: [what: string, acl: unknown, reason: RegExp][] = [
    ['a number', 42, /list of rules or a \{pub, sub, all\} map/],
    ['null', null, /list of rules/],
    ['a non-JSON string', 'pub:a/b', /not JSON/],
    ['a rule that is not an object', ['a/b'], /\[0\]: must be a mapping/],
    ['unknown rule key', [{ permission: 'allow', action: 'all', topic: 'a', clientid: 'x' }], /\[0\]\.clientid: unknown key/],
    ['bad permission', [{ permission: 'permit', action: 'all', topic: 'a' }], /permission/],
    ['bad action', [{ permission: 'allow', action: 'connect', topic: 'a' }], /action/],
    ['prototype action', [{ permission: 'allow', action: 'constructor', topic: 'a' }], /action/],
    ['no topic', [{ permission: 'allow', action: 'all' }], /topic/],
    ['topic and topics', [{ permission: 'allow', action: 'all', topic: 'a', topics: ['b'] }], /either/],
    ['invalid filter', [{ permission: 'allow', action: 'all', topic: 'a/#/b' }], /valid MQTT topic filter/],
    ['unknown placeholder', [{ permission: 'allow', action: 'all', topic: 'a/${tenant}' }], /unknown placeholder/],
    ['bad qos', [{ permission: 'allow', action: 'all', topic: 'a', qos: [3] }], /qos/],
    ['bad retain', [{ permission: 'allow', action: 'publish', topic: 'a', retain: 'yes' }], /retain/],
    ['retain on subscribe', [{ permission: 'allow', action: 'subscribe', topic: 'a', retain: true }], /publish only/],
    ['unknown map key', { pub: ['a'], publish: ['b'] }, /\.publish: unknown key/],
    ['prototype map key', JSON.parse('{"__proto__":["a"]}'), /unknown key/],
    ['map value not a list', { pub: 'a/b' }, /\.pub: must be a list/],
    ['map entry not a string', { sub: [1] }, /\.sub\[0\]: must be a string/],
  ]
  for (const [what, acl, reason] of malformed) {
    test(what, () => {
      const problems: string[] = []
      const chain = createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'allow' }), {
        onAclProblem: (s, r) => problems.push(`${s.clientId}: ${r}`),
      })
      const a = chain.compile(subject({ acl }))
      assert.equal(a.canPublish('a', 0, false), false)
      assert.equal(a.canSubscribe('a', 0), false)
      assert.equal(a.canConnect(), false)
      assert.equal(problems.length, 1)
      assert.match(problems[0], reason)
      assert.ok(problems[0].startsWith('dev-1: ACL claim'))
      const parsed = parseAclClaim(acl, { clientId: 'dev-1', username: 'alice', claims: {} })
      assert.equal(parsed.ok, false)
    })
  }

  test('no ACL claim (or no claims at all): the source has nothing for the client', () => {
    const authorizer = new ClaimsAuthorizer({ aclClaim: 'acl' })
    assert.equal(authorizer.compile(subject({ sub: 'x' })), undefined)
    assert.equal(authorizer.compile(subject(undefined)), undefined)
  })
})

describe('ACL claim: void after the token expires', () => {
  test('an ACL from an expired token denies every check', () => {
    const chain = createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'allow' }))
    const a = chain.compile(subject({ acl: { all: ['#'] } }, Date.now() - 1))
    assert.equal(a.canPublish('x', 0, false), false)
    assert.equal(a.canSubscribe('x', 0), false)
    assert.equal(a.canConnect(), false)
  })

  test('an ACL allows until expiresAt, then denies (even a cached decision)', async () => {
    const chain = createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'allow' }))
    const a = chain.compile(subject({ acl: { all: ['x'] } }, Date.now() + 60))
    assert.equal(a.canPublish('x', 0, false), true)
    assert.equal(a.canSubscribe('x', 0), true)
    await new Promise((resolve) => setTimeout(resolve, 80))
    assert.equal(a.canPublish('x', 0, false), false)
    assert.equal(a.canSubscribe('x', 0), false)
  })
})

describe('ACL claim: many rules (first-level index) keep first-match order', () => {
  test('wildcard-first and literal-first rules interleaved', () => {
    const rules: Record<string, unknown>[] = []
    for (let i = 0; i < 10; i++) rules.push({ permission: 'allow', action: 'publish', topic: `zone${i}/#` })
    rules.push({ permission: 'deny', action: 'publish', topic: '+/secret/#' })
    rules.push({ permission: 'allow', action: 'publish', topic: 'zone3/secret/ok' }) // shadowed by the deny
    rules.push({ permission: 'allow', action: 'publish', topic: '+/open', qos: [0] })
    rules.push({ permission: 'deny', action: 'publish', topic: '#' })
    const a = authz(rules, { noMatch: 'allow' })
    assert.equal(a.canPublish('zone3/secret/ok', 0, false), true, 'zone3/# comes before the deny')
    assert.equal(a.canPublish('other/secret/x', 0, false), false)
    assert.equal(a.canPublish('other/open', 0, false), true)
    assert.equal(a.canPublish('other/open', 1, false), false, 'qos condition, then deny #')
    assert.equal(a.canPublish('zone9', 0, false), true, 'a/# matches a')
    assert.equal(a.canPublish('zone99/x', 0, false), false)
    assert.equal(a.canPublish('$SYS/open', 0, false), false)
  })
})
