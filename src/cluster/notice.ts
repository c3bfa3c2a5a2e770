/**
 * Messages nodes publish to each other on Redis channels (route notices, takeover signals,
 * requests and answers) are JSON: one parse for all of them.
 */

/** `text` parsed, or undefined when it is not JSON (a stray publish on the channel is ignored). */
export function parseNotice<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}
