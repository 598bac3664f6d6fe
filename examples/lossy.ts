/**
 * iperf over a shaped, lossy, delayed link: two stacks on one switch behind an `Impairment` (rate, one-way delay,
 * uniform loss in both directions) with the wire recorded to a pcap file. The client sends for `--duration`
 * seconds; every second the example prints the receiver's goodput, the sender's retransmits and congestion window,
 * then a summary and the path of the pcap (open it in Wireshark: Statistics → TCP Stream Graphs shows the ramp).
 * The goodput ramps up in slow start (which overshoots the bandwidth × delay queue: the burst of retransmits in the
 * first second), then converges near the link rate: at most about 95.6 % of it, since the shaper charges whole
 * 1514-byte Ethernet frames that carry 1448 bytes of data (TCP timestamps on). With the defaults, 100 Mbit/s, 20 ms
 * RTT and 0.001 % loss, about 95 Mbit/s after the first two seconds. More loss caps one TCP flow lower, at about
 * MSS / RTT × 1.22 / √loss (Mathis et al.): `--loss 1` gives a few Mbit/s.
 *
 * Run: `npx bun examples/lossy.ts [options]` or `npx deno run -A examples/lossy.ts [options]`
 *
 * Options:
 *   --rate MBIT      link rate in Mbit/s, each direction (default 100)
 *   --delay MS       one-way delay in ms, each direction (default 10: a 20 ms round trip)
 *   --loss P         percent of frames lost, each direction (default 0.001)
 *   --duration S     seconds of sending (default 6)
 *   --congestion C   newreno (default) or cubic
 *   --pcap FILE      where to write the capture (default: a file in the temp directory)
 *   --seed N         seed of the impairment (default 1)
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import { parseArgs } from "node:util"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Stack } from "../src/Stack.ts"
import { describeLink, type LinkFlags, linkLayer } from "./_link.ts"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rate: { type: "string", default: "100" },
    delay: { type: "string", default: "10" },
    loss: { type: "string", default: "0.001" },
    duration: { type: "string", default: "6" },
    congestion: { type: "string", default: "newreno" },
    pcap: { type: "string" },
    seed: { type: "string", default: "1" },
  },
})

const flags: LinkFlags = {
  rateMbit: Number(args.rate),
  delayMs: Number(args.delay),
  lossPercent: Number(args.loss.replace(/%$/, "")),
  pcap: args.pcap ?? join(tmpdir(), `vnetif-lossy-${process.pid}.pcap`),
  seed: Number(args.seed),
}
const durationMs = Number(args.duration) * 1000
const congestion = args.congestion === "cubic" ? "cubic" : "newreno"
if (
  !(flags.rateMbit! > 0) || !(flags.delayMs! >= 0) || !(flags.lossPercent! >= 0 && flags.lossPercent! < 100) ||
  !(durationMs > 0) || !Number.isInteger(flags.seed)
) {
  console.error("lossy: bad option value (see the docblock of examples/lossy.ts)")
  process.exit(2)
}

const data = new Uint8Array(64 * 1024).map((_, i) => (i * 2654435761) >>> 24)
const mbit = (bytes: number, ms: number): string => (ms > 0 ? (bytes * 8) / ms / 1000 : 0).toFixed(1).padStart(6)

const program = Effect.scoped(Effect.gen(function* () {
  // Buffers hold a few bandwidth-delay products (100 Mbit/s × 20 ms = 250 KB), so the window is not the limit.
  const tcp = { sendBufferSize: 1 << 20, receiveBufferSize: 1 << 20, congestion } as const
  const client = yield* Stack.make({ cidr: "10.0.0.1/24", tcp })
  const server = yield* Stack.make({ cidr: "10.0.0.2/24", tcp })
  const listener = yield* server.tcp.listen(5201)
  let received = 0
  const serverFiber = yield* Effect.forkChild(Effect.gen(function* () {
    const conn = yield* listener.accept
    const buf = new Uint8Array(256 * 1024)
    while (true) {
      const n = yield* conn.readInto(buf)
      if (n === 0) break
      received += n
    }
    yield* conn.close
  }))
  const conn = yield* client.tcp.connect(server.address, 5201)
  console.log(`lossy: 10.0.0.1 → 10.0.0.2 over ${describeLink(flags)}, ${congestion}, ${durationMs / 1000} s`)
  console.log("  interval        goodput      retr   cwnd")
  const t0 = performance.now()
  let last = { t: 0, received: 0, retransmits: 0 }
  const report = Effect.gen(function* () {
    const t = performance.now() - t0
    const s = yield* conn.stats
    console.log(
      `  ${(last.t / 1000).toFixed(1).padStart(4)}-${(t / 1000).toFixed(1).padEnd(5)} s ` +
        `${mbit(received - last.received, t - last.t)} Mbit/s ${String(s.retransmits - last.retransmits).padStart(5)}` +
        `  ${(s.cwnd / 1024).toFixed(0).padStart(5)} KiB`,
    )
    last = { t, received, retransmits: s.retransmits }
  })
  const reporter = yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep(1000), report)))
  let sent = 0
  while (performance.now() - t0 < durationMs) {
    yield* conn.write(data)
    sent += data.length
  }
  yield* conn.closeWrite
  yield* Fiber.join(serverFiber)
  const total = performance.now() - t0
  yield* Fiber.interrupt(reporter)
  const s = yield* conn.stats
  yield* conn.close
  console.log(
    `  total ${(total / 1000).toFixed(1)} s: ${(received / 2 ** 20).toFixed(1)} MiB, ${
      mbit(received, total).trim()
    } Mbit/s, ` +
      `${s.retransmits} retransmits, ${s.timeouts} timeouts${
        received === sent ? "" : ` — RECEIVED ${received} OF ${sent}`
      }`,
  )
  return received === sent
})).pipe(Effect.provide(linkLayer(flags)))

const exit = await Effect.runPromiseExit(program)
if (exit._tag === "Failure") {
  console.error("lossy: FAILED", exit.cause)
  process.exitCode = 1
} else {
  console.log(`pcap: ${flags.pcap}`)
  if (!exit.value) process.exitCode = 1
}
