/**
 * Fault containment: an exception while serving one client — in a packet handler, its close
 * handler, a timer (keep-alive wheel, will delay, session expiry), a will publish, a store
 * callback, a socket event — costs that client at most, never the process and never another
 * client. Every such place calls `contained` (or runs its work through `guarded`): the first
 * fault of a client is logged once at error level with where it happened (later ones of the
 * same client at debug), and that client's connection, if still open, is closed with
 * ERR_INTERNAL — MQTT 5 DISCONNECT 0x83 (Implementation specific error), 3.1.1 a plain close.
 */
import { toReasonCode } from '../errors.js'
import type { Logger } from '../log.js'
import type { Connection } from './connection.js'
import type { Session } from './session.js'

/** Whose fault: a connection, a session (offline, or with its connection), or the broker's own work. */
export type Offender = Connection | Session | undefined

/** Connections and sessions whose fault was already logged at error level. */
const logged = new WeakSet<object>()

function connectionOf(who: Offender): Connection | undefined {
  if (who === undefined) return undefined
  return 'stream' in who ? who : who.connection
}

/** Log `err` (once per client) and close the offending client's connection. Never throws. */
export function contained(logger: Logger, who: Offender, where: string, err: unknown): void {
  const conn = connectionOf(who)
  try {
    const first = who === undefined || !logged.has(who)
    if (who !== undefined) logged.add(who)
    if (conn !== undefined) logged.add(conn)
    const fields = { err, clientId: who?.clientId || undefined, where, code: 'ERR_INTERNAL' }
    if (first) logger.error(fields, 'fault contained: the client is disconnected, the broker carries on')
    else logger.debug(fields, 'fault contained (again for this client)')
    if (conn !== undefined && conn.open) conn.disconnect(toReasonCode('ERR_INTERNAL'))
  } catch {
    // Closing failed too (the fault may be in the close path itself): drop the socket, nothing more.
    try {
      conn?.stream.destroy()
    } catch {
      // nothing left to try
    }
  }
}

/** Run `work` for one client; a throw is `contained`. */
export function guarded(logger: Logger, who: Offender, where: string, work: () => void): void {
  try {
    work()
  } catch (err) {
    contained(logger, who, where, err)
  }
}

/** A store call's result: when it is a promise, its rejection is `contained` (never unhandled). */
export function guardedResult(logger: Logger, who: () => Offender, where: string, result: unknown): void {
  if (result instanceof Promise) result.catch((err: unknown) => contained(logger, who(), where, err))
}
