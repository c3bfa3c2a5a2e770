import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Identity } from '../../src/auth/types.js'
import { parseAuthorizationConfig } from '../../src/authz/config.js'
import { createAuthorizerChain } from '../../src/authz/create.js'
import { PolicyAuthorizer } from '../../src/authz/policy.js'
import type { AuthzSubject, ClientAuthz } from '../../src/authz/types.js'

const identity: Identity = { authenticator: 'test', anonymous: false, claims: { tenant: { id: 't1' } } }

function subject(over: Partial<AuthzSubject> = {}): AuthzSubject {
  return { clientId: 'sensor-1', username: 'alice', remoteAddress: '10.1.2.3', identity, ...over }
}

/** Compile a chain from an `authorization` block for one client. */
function authz(raw: Record<string, unknown>, over: Partial<AuthzSubject> = {}): ClientAuthz {
  return createAuthorizerChain(parseAuthorizationConfig(raw)).compile(subject(over))
}

const allow = (name: string, priority: number, extra: Record<string, unknown>): Record<string, unknown> => ({
  name,
  priority,
  effect: 'allow',
  actions: ['publish', 'subscribe'],
  topics: ['t/#'],
  ...extra,
})

describe('policy conditions', () => {
  test('clientId is a regular expression searched in the client id', () => {
    const raw = { policies: [allow('sensors', 1, { clientId: '^sensor-\\d+$' })] }
    assert.equal(authz(raw).canPublish('t/x', 0, false), true)
    assert.equal(authz(raw, { clientId: 'sensor-x' }).canPublish('t/x', 0, false), false)
    assert.equal(authz(raw, { clientId: 'my-sensor-1' }).canPublish('t/x', 0, false), false)
  })

  test('username is matched exactly (no pattern, case-sensitive)', () => {
    const raw = { policies: [allow('alice-only', 1, { username: 'alice' })] }
    assert.equal(authz(raw).canPublish('t/x', 0, false), true)
    assert.equal(authz(raw, { username: 'Alice' }).canPublish('t/x', 0, false), false)
    assert.equal(authz(raw, { username: 'alice2' }).canPublish('t/x', 0, false), false)
    assert.equal(authz(raw, { username: undefined }).canPublish('t/x', 0, false), false)
  })

  test('ip: IPv4 address, CIDR, IPv4-mapped IPv6 remote address', () => {
    const cidr = { policies: [allow('lan', 1, { ip: '10.0.0.0/8' })] }
    assert.equal(authz(cidr).canPublish('t/x', 0, false), true)
    assert.equal(authz(cidr, { remoteAddress: '::ffff:10.9.9.9' }).canPublish('t/x', 0, false), true)
    assert.equal(authz(cidr, { remoteAddress: '11.0.0.1' }).canPublish('t/x', 0, false), false)
    const single = { policies: [allow('one', 1, { ip: '10.1.2.3' })] }
    assert.equal(authz(single).canPublish('t/x', 0, false), true)
    assert.equal(authz(single, { remoteAddress: '10.1.2.4' }).canPublish('t/x', 0, false), false)
  })

  test('ip: IPv6 address and CIDR (zone ids and brackets ignored); unknown address never matches', () => {
    const raw = { policies: [allow('ipv6', 1, { ip: ['fd00::/8', '::1'] })] }
    assert.equal(authz(raw, { remoteAddress: 'fd12:3456::1' }).canPublish('t/x', 0, false), true)
    assert.equal(authz(raw, { remoteAddress: '::1' }).canPublish('t/x', 0, false), true)
    assert.equal(authz(raw, { remoteAddress: '[::1]' }).canPublish('t/x', 0, false), true)
    assert.equal(authz(raw, { remoteAddress: 'fd00::1%eth0' }).canPublish('t/x', 0, false), true)
    assert.equal(authz(raw, { remoteAddress: 'fe80::1' }).canPublish('t/x', 0, false), false)
    assert.equal(authz(raw, { remoteAddress: '' }).canPublish('t/x', 0, false), false)
    assert.equal(authz(raw, { remoteAddress: 'not-an-ip' }).canPublish('t/x', 0, false), false)
  })

  test('qos condition applies to publish and subscribe', () => {
    const raw = { policies: [allow('low-qos', 1, { qos: [0, 1] })] }
    const a = authz(raw)
    assert.equal(a.canPublish('t/x', 1, false), true)
    assert.equal(a.canPublish('t/x', 2, false), false)
    assert.equal(a.canSubscribe('t/#', 0), true)
    assert.equal(a.canSubscribe('t/#', 2), false)
  })

  test('retain condition: true, false, any', () => {
    const retained = authz({ policies: [allow('ret', 1, { actions: ['publish'], retain: true })] })
    assert.equal(retained.canPublish('t/x', 0, true), true)
    assert.equal(retained.canPublish('t/x', 0, false), false)
    const plain = authz({ policies: [allow('plain', 1, { actions: ['publish'], retain: false })] })
    assert.equal(plain.canPublish('t/x', 0, true), false)
    assert.equal(plain.canPublish('t/x', 0, false), true)
    const any = authz({ policies: [allow('any', 1, { actions: ['publish'], retain: 'any' })] })
    assert.equal(any.canPublish('t/x', 0, true), true)
    assert.equal(any.canPublish('t/x', 0, false), true)
  })

  test('actions: a publish-only policy does not grant subscribe, and vice versa', () => {
    const pubOnly = authz({ policies: [allow('pub', 1, { actions: ['pub'] })] })
    assert.equal(pubOnly.canPublish('t/x', 0, false), true)
    assert.equal(pubOnly.canSubscribe('t/x', 0), false)
    const subOnly = authz({ policies: [allow('sub', 1, { actions: ['sub'] })] })
    assert.equal(subOnly.canPublish('t/x', 0, false), false)
    assert.equal(subOnly.canSubscribe('t/x', 0), true)
  })

  test('placeholders in policy topics are substituted per client', () => {
    const raw = {
      policies: [allow('own', 1, { topics: ['sensors/${clientid}/#', 'tenants/${claims.tenant.id}/${username}'] })],
    }
    const a = authz(raw)
    assert.equal(a.canPublish('sensors/sensor-1/temp', 0, false), true)
    assert.equal(a.canPublish('sensors/sensor-2/temp', 0, false), false)
    assert.equal(a.canPublish('tenants/t1/alice', 0, false), true)
    assert.equal(a.canSubscribe('sensors/sensor-1/#', 0), true)
    assert.equal(a.canSubscribe('sensors/+/#', 0), false)
  })

  test('injection: a client id "#" or "+" gains nothing from ${clientid} topics', () => {
    const raw = { policies: [allow('own', 1, { topics: ['sensors/${clientid}/#'] })] }
    for (const clientId of ['#', '+', 'a/#', '../', '']) {
      const a = authz(raw, { clientId })
      assert.equal(a.canPublish('sensors/other/x', 0, false), false, clientId)
      assert.equal(a.canSubscribe('sensors/#', 0), false, clientId)
      assert.equal(a.canSubscribe('#', 0), false, clientId)
    }
  })

  test('injection into a deny rule widens the deny instead of dropping it', () => {
    const raw = {
      noMatch: 'allow',
      policies: [{ name: 'no-own-admin', priority: 1, effect: 'deny', actions: ['publish'], topics: ['users/${clientid}/admin'] }],
    }
    const a = authz(raw, { clientId: '+' })
    assert.equal(a.canPublish('users/someone/admin', 0, false), false)
    assert.equal(a.canPublish('other', 0, false), true)
  })
})

describe('policy evaluation order and outcomes', () => {
  test('smaller priority is evaluated first, whatever the order in the file', () => {
    const raw = {
      policies: [
        { name: 'allow-all', priority: 20, effect: 'allow', actions: ['publish'], topics: ['#'] },
        { name: 'deny-secret', priority: 10, effect: 'deny', actions: ['publish'], topics: ['secret/#'] },
      ],
    }
    const a = authz(raw)
    assert.equal(a.canPublish('secret/x', 0, false), false)
    assert.equal(a.canPublish('public/x', 0, false), true)
    const swapped = authz({
      policies: [
        { name: 'allow-all', priority: 5, effect: 'allow', actions: ['publish'], topics: ['#'] },
        { name: 'deny-secret', priority: 10, effect: 'deny', actions: ['publish'], topics: ['secret/#'] },
      ],
    })
    assert.equal(swapped.canPublish('secret/x', 0, false), true, 'first match decides')
  })

  test('noMatch deny refuses what no rule allows; noMatch allow admits it', () => {
    const rules = [{ name: 'deny-x', priority: 1, effect: 'deny', actions: ['publish', 'subscribe'], topics: ['x/#'] }]
    const denyByDefault = authz({ noMatch: 'deny', policies: rules })
    assert.equal(denyByDefault.canPublish('y', 0, false), false)
    assert.equal(denyByDefault.canSubscribe('y/#', 0), false)
    const allowByDefault = authz({ noMatch: 'allow', policies: rules })
    assert.equal(allowByDefault.canPublish('y', 0, false), true)
    assert.equal(allowByDefault.canSubscribe('y/#', 0), true)
    assert.equal(allowByDefault.canPublish('x/1', 0, false), false)
  })

  test('subscribe: allow rules must cover the whole filter', () => {
    const a = authz({ policies: [allow('ab-rules', 1, { actions: ['subscribe'], topics: ['a/b/#', 'a/+/c'] })] })
    assert.equal(a.canSubscribe('a/b/#', 1), true)
    assert.equal(a.canSubscribe('a/b', 1), true)
    assert.equal(a.canSubscribe('a/x/c', 1), true)
    assert.equal(a.canSubscribe('a/+/c', 1), true)
    assert.equal(a.canSubscribe('a/#', 1), false)
    assert.equal(a.canSubscribe('+/b/c', 1), false)
    assert.equal(a.canSubscribe('#', 1), false)
  })

  test('subscribe: deny rules refuse the filters they cover, wider wildcards go on down the chain', () => {
    const a = authz({
      noMatch: 'allow',
      policies: [
        { name: 'no-secret', priority: 1, effect: 'deny', actions: ['subscribe'], topics: ['secret/#'] },
        { name: 'no-test', priority: 2, effect: 'deny', actions: ['subscribe'], topics: ['test/nosubscribe'] },
      ],
    })
    assert.equal(a.canSubscribe('secret/a', 0), false)
    assert.equal(a.canSubscribe('secret/+/b', 0), false)
    assert.equal(a.canSubscribe('#', 0), true)
    assert.equal(a.canSubscribe('+/a', 0), true)
    assert.equal(a.canSubscribe('test/nosubscribe', 0), false)
    assert.equal(a.canSubscribe('test/+', 0), true)
    assert.equal(a.canSubscribe('test/other', 0), true)
    assert.equal(a.canSubscribe('public/#', 0), true)
  })

  test('shared subscriptions: the filter the broker passes (prefix stripped) is checked', () => {
    const a = authz({ policies: [allow('jobs', 1, { actions: ['subscribe'], topics: ['jobs/#'] })] })
    // the broker turns $share/workers/jobs/+ into jobs/+ before asking
    assert.equal(a.canSubscribe('jobs/+', 1), true)
    assert.equal(a.canSubscribe('+/+', 1), false)
  })

  test('decisions are cached per topic without mixing QoS or retain', () => {
    const a = authz({ policies: [allow('qos0', 1, { actions: ['publish'], qos: [0], retain: false })] })
    for (let i = 0; i < 3; i++) {
      assert.equal(a.canPublish('t/x', 0, false), true)
      assert.equal(a.canPublish('t/x', 1, false), false)
      assert.equal(a.canPublish('t/x', 0, true), false)
    }
    // more distinct topics than the cache holds: answers stay right after it is cleared
    for (let i = 0; i < 3000; i++) assert.equal(a.canPublish(`t/${i}`, 0, false), true)
    assert.equal(a.canPublish('u/1', 0, false), false)
  })
})

describe('connect policies', () => {
  test('an authenticated client is refused only by a matching deny connect rule', () => {
    const raw = {
      policies: [{ name: 'block-guest', priority: 1, effect: 'deny', actions: ['connect'], username: 'guest' }],
    }
    assert.equal(authz(raw).canConnect(), true)
    assert.equal(authz(raw, { username: 'guest' }).canConnect(), false)
    assert.equal(authz({}).canConnect(), true, 'no policies: connect allowed even with noMatch deny')
  })

  test('an allow-list of who may connect: allow rule, then a lower-priority deny-all', () => {
    const raw = {
      policies: [
        { name: 'lan-clients', priority: 1, effect: 'allow', actions: ['connect'], ip: '10.0.0.0/8' },
        { name: 'nobody-else', priority: 2, effect: 'deny', actions: ['connect'] },
      ],
    }
    assert.equal(authz(raw).canConnect(), true)
    assert.equal(authz(raw, { remoteAddress: '192.0.2.1' }).canConnect(), false)
  })

  test('a publish-only policy plays no part in connect', () => {
    const raw = { policies: [{ name: 'deny-pub', priority: 1, effect: 'deny', actions: ['publish'], topics: ['#'] }] }
    assert.equal(authz(raw).canConnect(), true)
  })
})

describe('PolicyAuthorizer.compile', () => {
  test('keeps only the policies that apply to the client; nothing applies → undefined', () => {
    const config = parseAuthorizationConfig({
      policies: Array.from({ length: 100 }, (_, i) => allow(`per-client-${i}`, i, { clientId: `^dev-${i}$` })),
    })
    const authorizer = new PolicyAuthorizer(config.policies)
    const rules = authorizer.compile(subject({ clientId: 'dev-42' }))
    assert.deepEqual(rules?.counts, { connect: 0, publish: 1, subscribe: 1 })
    assert.equal(rules?.matchPublish('t/x', 0, false)?.origin, 'per-client-42')
    assert.equal(authorizer.compile(subject({ clientId: 'stranger' })), undefined)
  })
})
