import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { authorizationWarning, parseAuthorizationConfig } from '../../src/authz/config.js'
import { ConfigError } from '../../src/errors.js'

const policy = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'sensors',
  priority: 10,
  effect: 'allow',
  actions: ['publish'],
  topics: ['sensors/${clientid}/#'],
  ...over,
})

function configError(raw: unknown, path: string, reason: RegExp): void {
  assert.throws(
    () => parseAuthorizationConfig(raw),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
      assert.equal(err.path, path)
      assert.match(err.message, reason)
      assert.ok(err.message.startsWith(`${path}: `))
      return true
    },
  )
}

describe('parseAuthorizationConfig: defaults and normalisation', () => {
  test('absent or null block: noMatch deny, aclClaim acl, no superuser claim, no policies', () => {
    for (const raw of [undefined, null, {}]) {
      const c = parseAuthorizationConfig(raw)
      assert.equal(c.noMatch, 'deny')
      assert.equal(c.aclClaim, 'acl')
      assert.equal(c.superuserClaim, undefined)
      assert.deepEqual(c.policies, [])
    }
  })

  test('the full README example parses; actions normalised, qos sorted, ip as a list', () => {
    const c = parseAuthorizationConfig({
      noMatch: 'allow',
      aclClaim: 'https://example.com/acl',
      superuserClaim: 'is_superuser',
      policies: [
        policy({
          actions: ['sub', 'pub', 'publish', 'connect'],
          clientId: '^sensor-',
          username: 'bob',
          ip: '10.0.0.0/8',
          qos: [1, 0, 1],
          retain: 'any',
          description: 'sensors may use their own topics',
        }),
      ],
    })
    assert.equal(c.noMatch, 'allow')
    assert.equal(c.aclClaim, 'https://example.com/acl')
    assert.equal(c.superuserClaim, 'is_superuser')
    const p = c.policies[0]
    assert.deepEqual(p.actions, ['connect', 'publish', 'subscribe'])
    assert.deepEqual(p.qos, [0, 1])
    assert.deepEqual(p.ip, ['10.0.0.0/8'])
    assert.equal(p.retain, 'any')
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.policies) && Object.isFrozen(p))
  })

  test('connect-only policies need no topics; ip lists, IPv6 and single addresses are accepted', () => {
    const c = parseAuthorizationConfig({
      policies: [
        { name: 'block-net', priority: 1, effect: 'deny', actions: ['connect'], ip: ['192.168.1.7', 'fd00::/8', '::1'] },
      ],
    })
    assert.deepEqual(c.policies[0].topics, [])
    assert.deepEqual(c.policies[0].ip, ['192.168.1.7', 'fd00::/8', '::1'])
  })
})

describe('parseAuthorizationConfig: every error names its key path', () => {
  const cases: [what: string, raw: unknown, path: string, reason: RegExp][] = [
    ['block not an object', 'deny', 'authorization', /must be a mapping/],
    ['unknown key', { nomatch: 'deny' }, 'authorization.nomatch', /unknown key/],
    ['noMatch', { noMatch: 'maybe' }, 'authorization.noMatch', /allow or deny/],
    ['aclClaim empty', { aclClaim: '' }, 'authorization.aclClaim', /claim name/],
    ['superuserClaim number', { superuserClaim: 1 }, 'authorization.superuserClaim', /claim name/],
    ['policies not a list', { policies: {} }, 'authorization.policies', /list of policies/],
    ['policy not an object', { policies: [policy(), 'x'] }, 'authorization.policies[1]', /must be a mapping/],
    ['policy unknown key (typo)', { policies: [policy({ topic: 'a' })] }, 'authorization.policies[0].topic', /unknown key/],
    ['name too short', { policies: [policy({ name: 'ab' })] }, 'authorization.policies[0].name', /3\.\.64/],
    ['name too long', { policies: [policy({ name: 'x'.repeat(65) })] }, 'authorization.policies[0].name', /3\.\.64/],
    ['name missing', { policies: [policy({ name: undefined })] }, 'authorization.policies[0].name', /3\.\.64/],
    [
      'duplicate name',
      { policies: [policy(), policy({ priority: 11 })] },
      'authorization.policies[1].name',
      /already used by authorization\.policies\[0\]/,
    ],
    [
      'duplicate priority',
      { policies: [policy(), policy({ name: 'other' })] },
      'authorization.policies[1].priority',
      /already used/,
    ],
    ['priority not an integer', { policies: [policy({ priority: 1.5 })] }, 'authorization.policies[0].priority', /integer/],
    ['priority a string', { policies: [policy({ priority: '1' })] }, 'authorization.policies[0].priority', /integer/],
    ['effect', { policies: [policy({ effect: 'permit' })] }, 'authorization.policies[0].effect', /allow or deny/],
    ['actions empty', { policies: [policy({ actions: [] })] }, 'authorization.policies[0].actions', /non-empty list/],
    ['actions a string', { policies: [policy({ actions: 'publish' })] }, 'authorization.policies[0].actions', /list/],
    ['unknown action', { policies: [policy({ actions: ['publish', 'delete'] })] }, 'authorization.policies[0].actions[1]', /connect, publish/],
    ['prototype action', { policies: [policy({ actions: ['constructor'] })] }, 'authorization.policies[0].actions[0]', /connect, publish/],
    ['topics missing', { policies: [policy({ topics: undefined })] }, 'authorization.policies[0].topics', /required/],
    ['topics empty', { policies: [policy({ topics: [] })] }, 'authorization.policies[0].topics', /required/],
    ['invalid filter', { policies: [policy({ topics: ['a/#', 'a/#/b'] })] }, 'authorization.policies[0].topics[1]', /valid MQTT topic filter/],
    ['unknown placeholder', { policies: [policy({ topics: ['a/${tenant}'] })] }, 'authorization.policies[0].topics[0]', /unknown placeholder/],
    ['$share in a rule', { policies: [policy({ topics: ['$share/g/a'] })] }, 'authorization.policies[0].topics[0]', /\$share/],
    [
      'topics on connect-only',
      { policies: [policy({ actions: ['connect'] })] },
      'authorization.policies[0].topics',
      /not used for connect-only/,
    ],
    ['clientId regex', { policies: [policy({ clientId: '^sensor-(' })] }, 'authorization.policies[0].clientId', /invalid regular expression/],
    ['clientId empty', { policies: [policy({ clientId: '' })] }, 'authorization.policies[0].clientId', /non-empty/],
    ['username not a string', { policies: [policy({ username: 5 })] }, 'authorization.policies[0].username', /non-empty string/],
    ['ip garbage', { policies: [policy({ ip: 'localhost' })] }, 'authorization.policies[0].ip', /IPv4\/IPv6/],
    ['ip bad v4 prefix', { policies: [policy({ ip: '10.0.0.0/33' })] }, 'authorization.policies[0].ip', /0\.\.32/],
    ['ip bad v6 prefix', { policies: [policy({ ip: 'fd00::/129' })] }, 'authorization.policies[0].ip', /0\.\.128/],
    ['ip prefix not a number', { policies: [policy({ ip: '10.0.0.0/x' })] }, 'authorization.policies[0].ip', /prefix/],
    ['ip list entry', { policies: [policy({ ip: ['10.0.0.1', '300.1.1.1'] })] }, 'authorization.policies[0].ip[1]', /IPv4\/IPv6/],
    ['ip empty list', { policies: [policy({ ip: [] })] }, 'authorization.policies[0].ip', /empty/],
    ['ip with zone', { policies: [policy({ ip: 'fe80::1%eth0' })] }, 'authorization.policies[0].ip', /IPv4\/IPv6/],
    ['qos out of range', { policies: [policy({ qos: [0, 3] })] }, 'authorization.policies[0].qos[1]', /0, 1 or 2/],
    ['qos not a list', { policies: [policy({ qos: 1 })] }, 'authorization.policies[0].qos', /list/],
    ['qos empty', { policies: [policy({ qos: [] })] }, 'authorization.policies[0].qos', /empty/],
    [
      'qos on connect-only',
      { policies: [{ name: 'c-only', priority: 1, effect: 'deny', actions: ['connect'], qos: [0] }] },
      'authorization.policies[0].qos',
      /publish and subscribe/,
    ],
    ['retain value', { policies: [policy({ retain: 'yes' })] }, 'authorization.policies[0].retain', /true, false or any/],
    [
      'retain without publish',
      { policies: [policy({ actions: ['subscribe'], retain: true })] },
      'authorization.policies[0].retain',
      /publish only/,
    ],
    [
      'description too long',
      { policies: [policy({ description: 'd'.repeat(129) })] },
      'authorization.policies[0].description',
      /128/,
    ],
    [
      'third policy ip',
      { policies: [policy({ name: 'p-0', priority: 0 }), policy({ name: 'p-1', priority: 1 }), policy({ name: 'p-2', priority: 2, ip: '10.0.0' })] },
      'authorization.policies[2].ip',
      /IPv4\/IPv6/,
    ],
  ]
  for (const [what, raw, path, reason] of cases) {
    test(`${what} → ${path}`, () => configError(raw, path, reason))
  }

  test('a custom base path is used', () => {
    assert.throws(() => parseAuthorizationConfig({ noMatch: 1 }, 'config.authorization'), {
      path: 'config.authorization.noMatch',
    })
  })

  test('a 128-character description and a 64-character name are accepted', () => {
    const c = parseAuthorizationConfig({ policies: [policy({ name: 'n'.repeat(64), description: 'd'.repeat(128) })] })
    assert.equal(c.policies[0].name.length, 64)
  })
})

describe('authorizationWarning', () => {
  test('default configuration: only token ACLs can allow anything', () => {
    const w = authorizationWarning(parseAuthorizationConfig(undefined))
    assert.match(w ?? '', /noMatch is deny/)
    assert.match(w ?? '', /"acl" claim/)
  })

  test('without token authenticators everything is refused', () => {
    const w = authorizationWarning(parseAuthorizationConfig({}), { tokens: false })
    assert.match(w ?? '', /every publish and subscribe will be refused/)
  })

  test('no warning with noMatch allow, or with an allow policy for publish/subscribe', () => {
    assert.equal(authorizationWarning(parseAuthorizationConfig({ noMatch: 'allow' })), undefined)
    assert.equal(authorizationWarning(parseAuthorizationConfig({ policies: [policy()] }), { tokens: false }), undefined)
  })

  test('an allow policy for connect only does not count', () => {
    const c = parseAuthorizationConfig({ policies: [{ name: 'who', priority: 1, effect: 'allow', actions: ['connect'] }] })
    assert.match(authorizationWarning(c, { tokens: false }) ?? '', /refused/)
  })

  test('an unconditioned deny-connect policy ahead of every connect allow refuses every connection', () => {
    const c = parseAuthorizationConfig({
      noMatch: 'allow',
      policies: [
        { name: 'nobody', priority: 1, effect: 'deny', actions: ['connect'] },
        { name: 'some', priority: 2, effect: 'allow', actions: ['connect'], clientId: '^a' },
      ],
    })
    assert.match(authorizationWarning(c) ?? '', /every connection will be refused/)
    const allowList = parseAuthorizationConfig({
      noMatch: 'allow',
      policies: [
        { name: 'some', priority: 1, effect: 'allow', actions: ['connect'], clientId: '^a' },
        { name: 'nobody', priority: 2, effect: 'deny', actions: ['connect'] },
      ],
    })
    assert.equal(authorizationWarning(allowList), undefined)
  })
})
