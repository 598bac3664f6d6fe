/**
 * Micro-benchmark of `Checksum.sum` (RFC 1071 one's-complement sum) on a 1500-byte frame and a 64 KiB buffer, both
 * at an odd byte offset of their ArrayBuffer (the worst case for word-based implementations).
 *
 * Run: `bun bench/checksum.ts` or `deno run bench/checksum.ts`. Prints GB/s (10^9 bytes per second); never asserted.
 *
 * @module
 */
import { Checksum } from "../src/wire/Checksum.ts"

const WARMUP_MS = 300
const MEASURE_MS = 1000

const measure = (size: number): { readonly gbps: number; readonly nsPerCall: number; readonly sink: number } => {
  const backing = new Uint8Array(size + 1)
  const buf = backing.subarray(1) // odd byteOffset
  for (let i = 0; i < size; i++) buf[i] = (i * 131 + 7) & 0xff
  const batch = Math.max(1, Math.floor((1 << 20) / size))
  let sink = 0
  const run = (ms: number): { calls: number; elapsed: number } => {
    let calls = 0
    const t0 = performance.now()
    let t1 = t0
    do {
      for (let j = 0; j < batch; j++) sink = (sink + Checksum.fold(Checksum.sum(buf, 0, size))) & 0xffff
      calls += batch
      t1 = performance.now()
    } while (t1 - t0 < ms)
    return { calls, elapsed: t1 - t0 }
  }
  run(WARMUP_MS)
  const { calls, elapsed } = run(MEASURE_MS)
  return { gbps: (calls * size) / (elapsed / 1000) / 1e9, nsPerCall: (elapsed * 1e6) / calls, sink }
}

const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : "node"

let sink = 0
for (const [label, size] of [["1500 B", 1500], ["64 KiB", 65536]] as const) {
  const r = measure(size)
  sink ^= r.sink
  console.log(
    `Checksum.sum ${label.padStart(6)} (${runtime}): ${r.gbps.toFixed(2)} GB/s  (${r.nsPerCall.toFixed(0)} ns/call)`,
  )
}
if (sink === -1) console.log("unreachable", sink)
