/**
 * Raw switch throughput: two Vnetif ports on one learning Switch; the sender writes 1500-byte frames in bursts and
 * yields, the receiver's reader fiber takes them in batches. Prints frames/s and Gbit/s (median of 3 runs of ~2 s)
 * for the runtime it runs on: `npx bun bench/frames.ts`, `npx deno run -A bench/frames.ts`.
 *
 * Options: `--seconds N` (per run, default 2), `--size B` (frame bytes, default 1500), `--burst N` (frames written
 * between yields, default 256), `--runs N` (default 3), `--raw` (write through the Backend instead of the Vnetif).
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Effect from "effect/Effect"
import { Backend, type BackendShape } from "../src/link/Backend.ts"
import { Switch } from "../src/link/Switch.ts"
import { Vnetif } from "../src/link/Vnetif.ts"
import { MacAddress } from "../src/wire/MacAddress.ts"

const argv: ReadonlyArray<string> = process.argv.slice(2)
const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : dflt
}
const flag = (name: string): boolean => argv.includes(`--${name}`)

const seconds: number = arg("seconds", 2)
const size: number = arg("size", 1500)
const burst: number = arg("burst", 256)
const runs: number = arg("runs", 3)
const raw: boolean = flag("raw")

/** One measurement: frames delivered to the receiver's handler per second. */
interface RunResult {
  readonly frames: number
  readonly elapsedMs: number
  readonly drops: number
}

const oneRun: Effect.Effect<RunResult, unknown> = Effect.scoped(
  Effect.gen(function* () {
    const backendValue: BackendShape = yield* Switch.make({ queueCapacity: Math.max(1024, burst * 2) })
    const withBackend = Effect.provideService(Backend, backendValue)
    const a = yield* withBackend(Vnetif.make())
    const b = yield* withBackend(Vnetif.make())
    let received = 0
    yield* Effect.forkScoped(b.listen(() => {
      received++
      return Effect.void
    }))
    yield* b.ready
    // A pool of distinct frames, never changed after the first write (ownership contract).
    const pool: Array<Uint8Array> = []
    for (let i = 0; i < 1024; i++) {
      const f = new Uint8Array(size)
      MacAddress.write(f, 0, b.mac)
      MacAddress.write(f, 6, a.mac)
      f[12] = 0x08
      f[14] = i & 0xff
      pool.push(f)
    }
    const transmitA = raw ? (f: Uint8Array) => backendValue.transmit(a.id, f) : a.transmit
    // warm-up
    for (let i = 0; i < 20_000; i++) {
      const e = transmitA(pool[i & 1023])
      if (e !== undefined) return yield* Effect.fail(e)
      if ((i & (burst - 1)) === 0) yield* Effect.yieldNow
    }
    yield* Effect.yieldNow
    yield* Effect.sleep("10 millis")
    received = 0
    yield* b.resetStats
    const start = performance.now()
    const end = start + seconds * 1000
    let n = 0
    while (performance.now() < end) {
      for (let i = 0; i < burst; i++) {
        const e = transmitA(pool[n++ & 1023])
        if (e !== undefined) return yield* Effect.fail(e)
      }
      yield* Effect.yieldNow
    }
    yield* Effect.sleep("10 millis")
    const elapsedMs = performance.now() - start
    const s = yield* b.stats
    return { frames: received, elapsedMs, drops: s.rxDrops }
  }),
)

const main = Effect.gen(function* () {
  const runtime = "Deno" in globalThis ? "deno" : "bun" in process.versions ? "bun" : "node"
  const results: Array<number> = []
  for (let r = 0; r < runs; r++) {
    const res = yield* oneRun
    const fps = res.frames / (res.elapsedMs / 1000)
    results.push(fps)
    console.log(
      `run ${r + 1}: ${(fps / 1e6).toFixed(3)} M frames/s, ${((fps * size * 8) / 1e9).toFixed(2)} Gbit/s, ` +
        `drops ${res.drops}`,
    )
  }
  results.sort((x, y) => x - y)
  const median = results[Math.floor(results.length / 2)]
  console.log(
    `${runtime}${raw ? " (raw backend)" : ""}: median ${(median / 1e6).toFixed(3)} M ${size}-byte frames/s, ` +
      `${((median * size * 8) / 1e9).toFixed(2)} Gbit/s (burst ${burst}, ${runs} runs of ${seconds} s)`,
  )
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
