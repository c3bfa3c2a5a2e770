/**
 * Topic matching for authorization rules (MQTT 5.0 §4.7, 3.1.1 §4.7).
 *
 * Three questions a rule can ask:
 * - `topicMatches(filter, topic)`: does a rule filter match a PUBLISH topic name?
 * - `filterCovers(rule, sub)`: is every topic a subscription filter could match also matched
 *   by the rule filter? (what an *allow* rule must satisfy before a SUBSCRIBE is granted)
 * - `filtersOverlap(a, b)`: is there at least one topic both filters match? (diagnostics;
 *   rules themselves, allow and deny alike, decide only the subscriptions they cover)
 *
 * In all three, a topic starting with `$` is never matched by a filter whose first level is
 * a wildcard [MQTT-4.7.2-1], so `#` does not cover `$SYS/#`.
 */

const DOLLAR = 0x24
const SLASH = 0x2f

/** A rule filter split into levels once, at compile time. */
export interface CompiledFilter {
  readonly filter: string
  readonly levels: readonly string[]
  /** No `+` or `#`: an equality test is enough for topic names. */
  readonly literal: boolean
  /** Text every matching topic starts with (the levels before the first wildcard): a quick reject. */
  readonly prefix: string
  /** Index of the first wildcard level (levels.length when literal). */
  readonly firstWildcard: number
}

export function compileFilter(filter: string): CompiledFilter {
  const levels = filter.split('/')
  let literal = true
  let prefix = filter
  let firstWildcard = levels.length
  let pos = 0 // offset of the current level in `filter`
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]
    if (level === '+' || level === '#') {
      literal = false
      firstWildcard = i
      // `a/+` needs `a/`; `a/#` also matches `a`, so only `a`
      prefix = i === 0 ? '' : filter.slice(0, level === '+' ? pos : pos - 1)
      break
    }
    pos += level.length + 1
  }
  return { filter, levels, literal, prefix, firstWildcard }
}

function isWildcard(level: string | undefined): boolean {
  return level === '+' || level === '#'
}

/** A topic filter as MQTT defines it (one definition, shared with the broker). */
export { isValidTopicFilter } from '../protocol/topic.js'

/**
 * Match a compiled filter against a topic name without allocating: the topic is walked
 * level by level with indexOf.
 */
export function matchCompiled(f: CompiledFilter, topic: string): boolean {
  if (f.literal) return f.filter === topic
  const levels = f.levels
  const len = topic.length
  let i = f.firstWildcard
  let pos: number // start of the current topic level; len + 1 once every level is consumed
  if (i === 0) {
    if (topic.charCodeAt(0) === DOLLAR) return false // [MQTT-4.7.2-1]
    pos = 0
  } else {
    // The literal levels before the first wildcard are the prefix: compared in one go.
    const prefix = f.prefix
    if (!topic.startsWith(prefix)) return false
    if (levels[i] === '#') return len === prefix.length || topic.charCodeAt(prefix.length) === SLASH
    pos = prefix.length // the prefix ends with '/': pos is the start of level i
  }
  for (; i < levels.length; i++) {
    const level = levels[i]
    if (level === '#') return true // also matches the parent level: `a/#` matches `a`
    if (pos > len) return false
    let end = topic.indexOf('/', pos)
    if (end === -1) end = len
    if (level !== '+' && (end - pos !== level.length || !topic.startsWith(level, pos))) return false
    pos = end + 1
  }
  return pos > len
}

/** Does `filter` match the topic name `topic`? */
export function topicMatches(filter: string, topic: string): boolean {
  return matchCompiled(compileFilter(filter), topic)
}

/**
 * Does the rule filter match every topic the subscription filter could match?
 * `a/#` covers `a`, `a/b/+` and `a/#`, but not `#`, `+/b` or `a`'s siblings;
 * `a/+/c` covers `a/x/c` and `a/+/c` but not `a/#`; `#` covers everything except `$`-topics.
 */
export function filterCoversLevels(rule: readonly string[], sub: readonly string[]): boolean {
  const s0 = sub[0]
  // A subscription that can reach `$`-topics needs a rule whose first level is not a wildcard.
  if (s0.charCodeAt(0) === DOLLAR && isWildcard(rule[0])) return false
  for (let i = 0; ; i++) {
    const r = rule[i]
    const s = sub[i]
    if (r === '#') return true // covers this level, every deeper one, and the parent
    if (s === undefined) return r === undefined // both ended together
    if (r === undefined) return false // the subscription reaches deeper than the rule
    if (s === '#') return false // only `#` covers `#` (handled above)
    if (s === '+') {
      if (r !== '+') return false
    } else if (r !== '+' && r !== s) {
      return false
    }
  }
}

export function filterCovers(ruleFilter: string, subscriptionFilter: string): boolean {
  return filterCoversLevels(ruleFilter.split('/'), subscriptionFilter.split('/'))
}

/** Is there a topic name both filters match? */
export function filtersOverlapLevels(a: readonly string[], b: readonly string[]): boolean {
  const a0 = a[0]
  const b0 = b[0]
  // A leading wildcard matches no `$`-topic, so it meets a `$`-literal first level nowhere.
  if (isWildcard(a0) && !isWildcard(b0) && b0.charCodeAt(0) === DOLLAR) return false
  if (isWildcard(b0) && !isWildcard(a0) && a0.charCodeAt(0) === DOLLAR) return false
  for (let i = 0; ; i++) {
    const x = a[i]
    const y = b[i]
    if (x === '#' || y === '#') return true
    if (x === undefined || y === undefined) return x === y
    if (x !== '+' && y !== '+' && x !== y) return false
  }
}

export function filtersOverlap(a: string, b: string): boolean {
  return filtersOverlapLevels(a.split('/'), b.split('/'))
}
