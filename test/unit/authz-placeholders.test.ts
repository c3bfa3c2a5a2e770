import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type PlaceholderContext,
  parseTopicTemplate,
  renderTopicTemplate,
  type TopicTemplate,
} from '../../src/authz/placeholders.js'
import { resolveClaim } from '../../src/auth/claim-lookup.js'

function tpl(source: string): TopicTemplate {
  const r = parseTopicTemplate(source)
  if (!r.ok) throw new Error(r.reason)
  return r.template
}

const ctx = (over: Partial<PlaceholderContext> = {}): PlaceholderContext => ({
  clientId: 'dev-1',
  username: 'alice',
  claims: { tenant: { id: 't42', n: 7 }, 'https://example.com/org': 'acme', flag: true, list: ['x'] },
  ...over,
})

describe('placeholder substitution', () => {
  test('clientid, username, claims (nested, numeric, namespaced key)', () => {
    assert.equal(renderTopicTemplate(tpl('s/${clientid}/#'), ctx(), 'allow'), 's/dev-1/#')
    assert.equal(renderTopicTemplate(tpl('u/${username}/in'), ctx(), 'allow'), 'u/alice/in')
    assert.equal(renderTopicTemplate(tpl('t/${claims.tenant.id}/+'), ctx(), 'allow'), 't/t42/+')
    assert.equal(renderTopicTemplate(tpl('n/${claims.tenant.n}'), ctx(), 'allow'), 'n/7')
    assert.equal(renderTopicTemplate(tpl('o/${claims.https://example.com/org}'), ctx(), 'allow'), 'o/acme')
    assert.equal(renderTopicTemplate(tpl('m/pre-${clientid}-${username}'), ctx(), 'allow'), 'm/pre-dev-1-alice')
  })

  test('keywords are case-insensitive (${ClientId}, ${Username})', () => {
    assert.equal(renderTopicTemplate(tpl('${ClientId}/${Username}'), ctx(), 'allow'), 'dev-1/alice')
  })

  test('a template without placeholders is returned as is', () => {
    assert.equal(renderTopicTemplate(tpl('a/+/#'), ctx(), 'allow'), 'a/+/#')
  })

  const injections: [what: string, over: Partial<PlaceholderContext>, template: string][] = [
    ['client id "#"', { clientId: '#' }, 'c/${clientid}'],
    ['client id "+"', { clientId: '+' }, 'c/${clientid}/x'],
    ['client id "a/#"', { clientId: 'a/#' }, 'c/${clientid}'],
    ['client id "../"', { clientId: '../' }, 'c/${clientid}/x'],
    ['client id "a/b"', { clientId: 'a/b' }, 'c/${clientid}'],
    ['client id with NUL', { clientId: 'a\u0000b' }, 'c/${clientid}'],
    ['empty client id', { clientId: '' }, 'c/${clientid}'],
    ['undefined username', { username: undefined }, 'u/${username}/#'],
    ['empty username', { username: '' }, 'u/${username}/#'],
    ['missing claim', {}, 't/${claims.nope}/#'],
    ['object claim', {}, 't/${claims.tenant}/#'],
    ['boolean claim', {}, 't/${claims.flag}/#'],
    ['array claim', {}, 't/${claims.list}/#'],
    ['inherited property', {}, 't/${claims.constructor}/#'],
    ['prototype path', {}, 't/${claims.__proto__.toString}/#'],
    ['claim with wildcard', { claims: { g: 'x/#' } }, 't/${claims.g}'],
    ['client id "$SYS" at the start', { clientId: '$SYS' }, '${clientid}/#'],
  ]
  for (const [what, over, template] of injections) {
    test(`allow rule with ${what} matches nothing`, () => {
      assert.equal(renderTopicTemplate(tpl(template), ctx(over), 'allow'), undefined)
    })
  }

  test('a deny rule with an unusable value grows to # from that level on', () => {
    assert.equal(renderTopicTemplate(tpl('users/${clientid}/secret'), ctx({ clientId: '#' }), 'deny'), 'users/#')
    assert.equal(renderTopicTemplate(tpl('users/${clientid}/secret'), ctx({ clientId: 'a/b' }), 'deny'), 'users/#')
    assert.equal(renderTopicTemplate(tpl('${username}/x'), ctx({ username: undefined }), 'deny'), '#')
  })

  test('a literal $ template keeps working; a $ value is fine away from the first level', () => {
    assert.equal(renderTopicTemplate(tpl('$SYS/${clientid}/#'), ctx(), 'allow'), '$SYS/dev-1/#')
    assert.equal(renderTopicTemplate(tpl('c/${clientid}'), ctx({ clientId: '$x' }), 'allow'), 'c/$x')
  })
})

describe('parseTopicTemplate', () => {
  const bad: [string, RegExp][] = [
    ['a/${foo}', /unknown placeholder/],
    ['a/${claims.}', /unknown placeholder/],
    ['a/${clientid', /unterminated/],
    ['a/#/b', /not a valid MQTT topic filter/],
    ['a/${clientid}+', /not a valid MQTT topic filter/],
    ['a/x#', /not a valid MQTT topic filter/],
    ['$share/g/a', /\$share/],
    ['', /non-empty/],
  ]
  for (const [source, reason] of bad) {
    test(`rejects ${JSON.stringify(source)}`, () => {
      const r = parseTopicTemplate(source)
      assert.equal(r.ok, false)
      if (!r.ok) assert.match(r.reason, reason)
    })
  }
})

describe('resolveClaim', () => {
  test('exact key wins over a dotted path; only own properties', () => {
    const claims = { 'a.b': 'exact', a: { b: 'nested' } }
    assert.equal(resolveClaim(claims, 'a.b'), 'exact')
    assert.equal(resolveClaim({ a: { b: 'nested' } }, 'a.b'), 'nested')
    assert.equal(resolveClaim({}, 'toString'), undefined)
    assert.equal(resolveClaim(undefined, 'x'), undefined)
  })
})
