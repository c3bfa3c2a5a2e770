import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Identity } from '../../src/auth/types.js'
import { parseAuthorizationConfig } from '../../src/authz/config.js'
import { createAuthorizerChain } from '../../src/authz/create.js'
import type { AuthzSubject, ClientAuthz } from '../../src/authz/types.js'
import { inspect } from 'node:util'

function subject(claims: Record<string, unknown> | undefined, expiresAt?: number, over: Partial<AuthzSubject> = {}): AuthzSubject {
  const identity: Identity = { authenticator: 'jwt', anonymous: claims === undefined, claims, expiresAt }
  return { clientId: 'c1', username: 'u1', remoteAddress: '192.0.2.10', identity, ...over }
}

function authz(raw: Record<string, unknown>, claims?: Record<string, unknown>, expiresAt?: number): ClientAuthz {
  return createAuthorizerChain(parseAuthorizationConfig(raw)).compile(subject(claims, expiresAt))
}

describe('superuser claim', () => {
  const raw = { superuserClaim: 'is_superuser' }

  test('a claim literally true allows every publish and subscribe, $SYS included', () => {
    const a = authz(raw, { is_superuser: true })
    assert.equal(a.canPublish('any/topic', 2, true), true)
    assert.equal(a.canSubscribe('#', 2), true)
    assert.equal(a.canSubscribe('$SYS/#', 0), true)
  })

  test('publishing to $-topics stays refused, even for a superuser', () => {
    assert.equal(authz(raw, { is_superuser: true }).canPublish('$SYS/fake', 0, false), false)
  })

  test('"true", 1 or a missing claim is not a superuser', () => {
    for (const value of ['true', 1, 'yes', undefined, null, {}]) {
      const a = authz(raw, { is_superuser: value })
      assert.equal(a.canPublish('any/topic', 0, false), false, inspect(value))
      assert.equal(a.canSubscribe('$SYS/#', 0), false, inspect(value))
    }
  })

  test('off by default: the claim means nothing without superuserClaim', () => {
    assert.equal(authz({}, { is_superuser: true }).canPublish('any/topic', 0, false), false)
  })

  test('overrides a deny in the token ACL and the policies', () => {
    const a = authz(
      { ...raw, policies: [{ name: 'deny-all', priority: 1, effect: 'deny', actions: ['publish', 'subscribe'], topics: ['#'] }] },
      { is_superuser: true, acl: [{ permission: 'deny', action: 'all', topic: '#' }] },
    )
    assert.equal(a.canPublish('x', 0, false), true)
    assert.equal(a.canSubscribe('x', 0), true)
  })

  test('does not bypass a connect deny policy (an IP block still applies)', () => {
    const a = authz(
      { ...raw, policies: [{ name: 'block-doc-net', priority: 1, effect: 'deny', actions: ['connect'], ip: '192.0.2.0/24' }] },
      { is_superuser: true },
    )
    assert.equal(a.canConnect(), false)
  })

  test('ends when the token expires', () => {
    const a = authz({ ...raw, noMatch: 'allow' }, { is_superuser: true }, Date.now() - 1)
    assert.equal(a.canPublish('x', 0, false), false)
    assert.equal(a.canSubscribe('x', 0), false)
  })
})

describe('$SYS and other $-topics', () => {
  test('noMatch allow does not open $SYS subscriptions', () => {
    const a = authz({ noMatch: 'allow' })
    assert.equal(a.canSubscribe('$SYS/#', 0), false)
    assert.equal(a.canSubscribe('$SYS/broker/uptime', 0), false)
    assert.equal(a.canSubscribe('#', 0), true, 'and # does not reach $SYS anyway')
  })

  test('an allow rule on # does not cover $SYS', () => {
    const a = authz({ policies: [{ name: 'everything', priority: 1, effect: 'allow', actions: ['subscribe'], topics: ['#', '+/#'] }] })
    assert.equal(a.canSubscribe('#', 0), true)
    assert.equal(a.canSubscribe('$SYS/#', 0), false)
  })

  test('an explicit rule naming $SYS allows it (policy or token ACL)', () => {
    const policy = authz({
      policies: [{ name: 'monitoring', priority: 1, effect: 'allow', actions: ['subscribe'], topics: ['$SYS/broker/#'] }],
    })
    assert.equal(policy.canSubscribe('$SYS/broker/clients/+', 0), true)
    assert.equal(policy.canSubscribe('$SYS/#', 0), false)
    const token = authz({}, { acl: { sub: ['$SYS/#'] } })
    assert.equal(token.canSubscribe('$SYS/#', 0), true)
  })

  test('clients never publish to $-topics, whatever the rules say', () => {
    const a = authz({ noMatch: 'allow' }, { acl: { pub: ['$SYS/#'] } })
    assert.equal(a.canPublish('$SYS/x', 0, false), false)
  })
})

describe('createAuthorizerChain', () => {
  test('an anonymous client (no claims) gets the policies and noMatch', () => {
    const raw = {
      noMatch: 'deny',
      policies: [{ name: 'public-read', priority: 1, effect: 'allow', actions: ['subscribe'], topics: ['public/#'] }],
    }
    const a = authz(raw)
    assert.equal(a.canConnect(), true)
    assert.equal(a.canSubscribe('public/#', 0), true)
    assert.equal(a.canPublish('public/x', 0, false), false)
  })

  test('exposes noMatch', () => {
    assert.equal(createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'allow' })).noMatch, 'allow')
    assert.equal(createAuthorizerChain(parseAuthorizationConfig({})).noMatch, 'deny')
  })
})

describe('compiled rules shared between clients (idle memory, issue 19)', () => {
  test('clients without rules of their own share one compiled answer, and it still refuses $-topics', () => {
    const chain = createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'allow' }))
    const a = chain.compile(subject(undefined, undefined, { clientId: 'a' }))
    const b = chain.compile(subject(undefined, undefined, { clientId: 'b' }))
    assert.equal(a, b)
    assert.equal(b.canPublish('x/y', 1, false), true)
    assert.equal(b.canSubscribe('$SYS/#', 0), false)
  })

  test('a client with an ACL claim gets its own rules, and the next client without one is not given them', () => {
    const chain = createAuthorizerChain(parseAuthorizationConfig({ noMatch: 'deny' }))
    const plain = chain.compile(subject(undefined, undefined, { clientId: 'a' }))
    const withAcl = chain.compile(subject({ acl: [{ permission: 'allow', action: 'publish', topic: 'mine/#' }] }, undefined, { clientId: 'b' }))
    const plainAgain = chain.compile(subject(undefined, undefined, { clientId: 'c' }))
    assert.notEqual(withAcl, plain)
    assert.equal(withAcl.canPublish('mine/x', 0, false), true)
    assert.equal(plain.canPublish('mine/x', 0, false), false)
    assert.equal(plainAgain.canPublish('mine/x', 0, false), false)
  })
})
