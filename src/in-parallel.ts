/**
 * Run `each` over `items` with at most `limit` calls in flight at once, in the items' order;
 * resolves once every call has ended, rejects with the first error (calls already started run on
 * to their end, none is started after it). For many independent round trips to one server
 * (Redis): the requests of the calls in flight travel together instead of one after another.
 */
export async function inParallel<T>(items: Iterable<T>, limit: number, each: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]()
  let failed: { readonly err: unknown } | undefined
  const worker = async (): Promise<void> => {
    for (let next = it.next(); !next.done && failed === undefined; next = it.next()) {
      try {
        await each(next.value)
      } catch (err) {
        failed ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker))
  if (failed !== undefined) throw failed.err
}
