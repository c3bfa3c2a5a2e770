/**
 * Redis Cluster runs a MULTI/EXEC only when every key in it hashes to one slot. With a Redis
 * Cluster (`cluster.redis.cluster`), a group commit is therefore sent as one MULTI per slot
 * (all of them at once): the changes recorded as functions of a command queue are captured
 * here as plain commands, and each command goes to the slot of its first key. A command with
 * no key (PUBLISH) goes with the keyed command before it in the same change (after what it
 * announces), else with the one after it.
 */
import calculateSlot from 'cluster-key-slot'
import { getKeyIndexes } from '@ioredis/commands'
import type { ChainableCommander } from 'ioredis'

export type RedisArg = string | Buffer | number

/** One command: its name and arguments, and the slot of its keys (undefined: it has none). */
export interface SlotCommand {
  readonly name: string
  readonly args: RedisArg[]
  readonly slot: number | undefined
}

/** The slot a key hashes to (its hash tag `{…}` when it has one). */
export function slotOf(key: string | Buffer): number {
  return calculateSlot(key)
}

/**
 * The commands `change` queues, in order, each with the slot of its keys; nothing is sent.
 * A command whose keys span several slots cannot run on a Redis Cluster: it throws (a
 * programming error — every key of a change is hash-tagged for that).
 */
export function captureCommands(change: (m: ChainableCommander) => void): SlotCommand[] {
  const out: SlotCommand[] = []
  const queue: ChainableCommander = new Proxy({}, {
    get: (_target, property) => (...args: RedisArg[]) => {
      out.push(command(String(property), args))
      return queue
    },
  }) as ChainableCommander
  change(queue)
  return out
}

/** One command with the slot of its keys (EVAL's declared keys included); throws when they span slots. */
export function command(name: string, args: RedisArg[]): SlotCommand {
  const lower = name.toLowerCase()
  let slot: number | undefined
  for (const i of getKeyIndexes(lower, args)) {
    const s = slotOf(args[i] as string | Buffer)
    if (slot !== undefined && s !== slot) throw new TypeError(`Redis Cluster: the keys of one ${lower} hash to different slots`)
    slot = s
  }
  return { name: lower, args, slot }
}

/**
 * Commands by slot, in order within each slot; a keyless command takes the slot of the keyed
 * command before it in `commands` (one change), else of the one after it, else `fallback`.
 */
export function placeKeyless(commands: readonly SlotCommand[], fallback: number): Array<[number, SlotCommand]> {
  const placed: Array<[number, SlotCommand]> = []
  let last: number | undefined
  const waiting: SlotCommand[] = []
  for (const c of commands) {
    if (c.slot === undefined) {
      if (last === undefined) waiting.push(c)
      else placed.push([last, c])
      continue
    }
    last = c.slot
    placed.push([c.slot, c])
    for (const w of waiting.splice(0)) placed.push([c.slot, w])
  }
  for (const w of waiting) placed.push([fallback, w])
  return placed
}
