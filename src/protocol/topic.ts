/**
 * Topic name and topic filter validation (MQTT 5.0 §4.7, 3.1.1 §4.7) and shared
 * subscription parsing (MQTT 5.0 §4.8.2).
 */

import { isValidUtf8Field } from './utf8.js'

const MAX_TOPIC_BYTES = 65535

/**
 * What is wrong with a topic name, if anything: 'malformed' for ill-formed UTF-8 or U+0000
 * [MQTT-1.5.4-1, MQTT-1.5.4-2] (see utf8.ts), 'invalid' when empty, too long or holding a
 * wildcard [MQTT-3.3.2-2]. One UTF-8 scan: PUBLISH asks this for every message.
 */
export function topicNameFault(topic: string): 'malformed' | 'invalid' | undefined {
  if (!isValidUtf8Field(topic)) return 'malformed'
  if (topic.length === 0 || topic.length > MAX_TOPIC_BYTES || topic.includes('#') || topic.includes('+')) return 'invalid'
  return undefined
}

/** A topic name for PUBLISH: non-empty, no wildcards, well-formed UTF-8. */
export function isValidTopicName(topic: string): boolean {
  return topicNameFault(topic) === undefined
}

/**
 * Does a topic name or filter have more than `max` levels? Counts separators with indexOf and
 * stops at the limit, so a long topic costs no more than the limit allows.
 */
export function hasMoreLevels(topic: string, max: number): boolean {
  let slashes = 0
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) {
    if (++slashes >= max) return true
  }
  return false
}

/** A topic filter: '#' only as the whole last level, '+' only as a whole level [MQTT-4.7.1-1..3]. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > MAX_TOPIC_BYTES) return false
  if (!isValidUtf8Field(filter)) return false
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]
    if (level.includes('#')) {
      if (level !== '#' || i !== levels.length - 1) return false
    } else if (level.includes('+') && level !== '+') {
      return false
    }
  }
  return true
}

export interface SharedFilter {
  readonly group: string
  readonly filter: string
}

const SHARE_PREFIX = '$share/'

/**
 * Split `$share/{group}/{filter}`. Returns undefined for an ordinary filter and null for a
 * malformed shared subscription (empty group, wildcard in the group, no filter).
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined | null {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined
  const rest = filter.slice(SHARE_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash <= 0) return null
  const group = rest.slice(0, slash)
  const inner = rest.slice(slash + 1)
  if (group.includes('+') || group.includes('#')) return null
  if (!isValidTopicFilter(inner)) return null
  return { group, filter: inner }
}
