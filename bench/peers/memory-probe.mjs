// Preloaded into a Node broker (Portcullis, Aedes) by the bench's idle-memory scenario:
//   node --expose-gc --import ./bench/peers/memory-probe.mjs … (BENCH_MEMORY_PROBE=FILE in the environment)
// On SIGUSR2: process.memoryUsage() as it is (`asIs`), two full garbage collections, then
// process.memoryUsage() again and a sequence number as JSON into FILE (written beside it and renamed, so the harness never reads half a file).
// Without --expose-gc or the variable it does nothing (and SIGUSR2 keeps Node's default).
import { renameSync, writeFileSync } from 'node:fs'

const file = process.env.BENCH_MEMORY_PROBE
const gc = globalThis.gc
let seq = 0
if (file !== undefined && typeof gc === 'function') {
  process.on('SIGUSR2', () => {
    const asIs = process.memoryUsage()
    gc()
    gc()
    writeFileSync(`${file}.tmp`, JSON.stringify({ seq: ++seq, ...process.memoryUsage(), asIs }))
    renameSync(`${file}.tmp`, file)
  })
}
