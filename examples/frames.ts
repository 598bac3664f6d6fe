/**
 * Raw frame blaster, the port of mirage-vnetif's `iperf_vnetif` without the TCP/IP stack: two Vnetif devices on one
 * Switch; the sender writes Ethernet frames to the receiver as fast as it can for N seconds (in bursts, yielding
 * between them so the receiver's reader fiber can take its batch). Prints frames/s and Gbit/s every second and a
 * summary.
 *
 *   npx bun examples/frames.ts [--seconds 3] [--size 1500] [--burst 256]
 *   npx deno run -A examples/frames.ts [--seconds 3] [--size 1500] [--burst 256]
 *
 * Frames are never modified after they are written (the zero-copy ownership contract), so a pool is reused.
 * Time comes from Effect's Clock.
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { Backend } from "../src/link/Backend.ts"
import { Switch } from "../src/link/Switch.ts"
import { Vnetif } from "../src/link/Vnetif.ts"
import { MacAddress } from "../src/wire/MacAddress.ts"

const argv: ReadonlyArray<string> = process.argv.slice(2)
const numArg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(argv[i + 1]) : dflt
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`)
  return v
}

const seconds: number = numArg("seconds", 3)
const size: number = Math.floor(numArg("size", 1500))
const burst: number = Math.floor(numArg("burst", 256))

const fmt = (frames: number, ms: number): string => {
  const fps = frames / (ms / 1000)
  return `${(fps / 1e6).toFixed(3)} M frames/s  ${((fps * size * 8) / 1e9).toFixed(2)} Gbit/s`
}

/** The example program: two devices on the Backend that `main` provides. */
const blast: Effect.Effect<void, unknown, Backend | Scope.Scope> = Effect.gen(function* () {
  const sender = yield* Vnetif.make({ mtu: Math.max(1500, size - 14) })
  const receiver = yield* Vnetif.make({ mtu: Math.max(1500, size - 14), queueCapacity: Math.max(1024, burst * 4) })
  let received = 0
  let receivedBytes = 0
  yield* Effect.forkScoped(receiver.listen((frame) => {
    received++
    receivedBytes += frame.length
    return Effect.void
  }))
  yield* receiver.ready

  const pool: Array<Uint8Array> = []
  for (let i = 0; i < 1024; i++) {
    const f = new Uint8Array(size)
    MacAddress.write(f, 0, receiver.mac)
    MacAddress.write(f, 6, sender.mac)
    f[12] = 0x88 // EtherType 0x88b5, local experimental
    f[13] = 0xb5
    f[14] = i & 0xff
    pool.push(f)
  }

  console.log(`vnetif frames: ${size}-byte frames, ${seconds} s, bursts of ${burst}`)
  let stop = false
  const send = Effect.gen(function* () {
    let n = 0
    while (!stop) {
      for (let i = 0; i < burst; i++) {
        const e = sender.transmit(pool[n++ & 1023])
        if (e !== undefined) return yield* Effect.fail(e)
      }
      yield* Effect.yieldNow
    }
  })
  const start = yield* Clock.currentTimeMillis
  const senderFiber = yield* Effect.forkChild(send)
  let lastFrames = 0
  let lastTime = start
  for (let s = 1; s <= seconds; s++) {
    yield* Effect.sleep("1 second")
    const now = yield* Clock.currentTimeMillis
    const frames = received
    console.log(`[${s}s] ${fmt(frames - lastFrames, now - lastTime)}`)
    lastFrames = frames
    lastTime = now
  }
  stop = true
  yield* Fiber.join(senderFiber)
  const end = yield* Clock.currentTimeMillis
  const tx = yield* sender.stats
  const rx = yield* receiver.stats
  console.log(
    `summary: ${received} frames (${(receivedBytes / 1e9).toFixed(2)} GB) in ${((end - start) / 1000).toFixed(2)} s: ` +
      `${fmt(received, end - start)}; sent ${tx.txPackets}, receiver drops ${rx.rxDrops}`,
  )
})

const main: Effect.Effect<void, unknown> = Effect.scoped(blast).pipe(Effect.provide(Switch.layer()))

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
