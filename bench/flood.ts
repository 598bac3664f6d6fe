/**
 * Fairness under a flood (issue 15): TCP throughput between two stacks on one Switch, alone and while a raw port
 * floods UDP datagrams at the receiving stack's echo service (port 7), plus what became of the flood.
 *
 * Setup: `server` (10.0.0.1) runs a UDP echo on port 7 and a TCP sink on 5001; `client` (10.0.0.2) sends `--bytes`
 * (default 16 MiB) to the sink in 64 KiB writes; the receiver checks the length and a hash. The flooder is a raw
 * switch port that answers ARP and sends bursts of `--burst` (default 8192, twice the default receive queue of 4096
 * frames) 106-byte UDP datagrams to the server's port 7 from 256 source ports in turn (as hping3 varies its own), one burst per macrotask (`setTimeout(0)`), for as long as the
 * transfer runs. The flood shares the thread with the stacks, so its offered rate is whatever the event loop gives it;
 * it is printed. A flooded transfer that has not finished after `--limit` seconds (default 15) is reported as
 * stalled with the bytes it moved.
 *
 * Per run it prints: TCP Mbit/s alone; TCP Mbit/s under the flood; the flood's frames offered, delivered to the
 * stack (device rxPackets), dropped at the switch port (rxDrops, and of those rxFlowDrops when the backend has flow
 * fairness), taken by the echo socket (rxDelivered), dropped by the socket's full queue (queueOverflows), and echoes
 * received by the flooder. Then medians with min–max over `--runs` (default 3).
 *
 * Run: `npx bun bench/flood.ts` or `npx deno run -A bench/flood.ts`. Options: `--runs N`, `--bytes N` (K/M/G),
 * `--burst N`, `--limit S`, `--flow-buckets N` (the Switch's `flowBuckets`; 1 = one FIFO per port, the behaviour
 * before flow fairness).
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Backend, type FrameListener } from "../src/link/Backend.ts"
import { Switch, type SwitchOptions } from "../src/link/Switch.ts"
import { Vnetif } from "../src/link/Vnetif.ts"
import { Stack } from "../src/Stack.ts"
import { ArpPacket, ArpRepr } from "../src/wire/Arp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../src/wire/Checksum.ts"
import { EthernetRepr, EtherType } from "../src/wire/Ethernet.ts"
import { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { Ipv4Repr } from "../src/wire/Ipv4.ts"
import type { MacAddress } from "../src/wire/MacAddress.ts"
import { UdpRepr } from "../src/wire/Udp.ts"

// ------------------------------------------------------------------------------------------------ options

const argv: ReadonlyArray<string> = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined
}
const sizeOf = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?$/.exec(s.trim())
  if (m === null) throw new Error(`not a size: ${s}`)
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"]
  return Math.round(Number(m[1]) * mult)
}
const runs: number = Number(opt("runs") ?? 3)
const totalBytes: number = sizeOf(opt("bytes") ?? "16M")
const burst: number = Number(opt("burst") ?? 8192)
const limitMs: number = Number(opt("limit") ?? 15) * 1000
const flowBuckets: number | undefined = opt("flow-buckets") === undefined ? undefined : Number(opt("flow-buckets"))
const switchOptions: SwitchOptions = flowBuckets === undefined ? {} : { flowBuckets }
const runtime: string = (globalThis as { Deno?: unknown }).Deno !== undefined ? "deno" : "bun"

// ------------------------------------------------------------------------------------------------ frames

const FLOODER: Ipv4Address = Ipv4Address.parse("10.0.0.9")!
const WRITE = 64 * 1024
const data = new Uint8Array(totalBytes)
for (let i = 0, x = 0x2545f491; i < data.length; i++) {
  x = (Math.imul(x, 1103515245) + 12345) | 0
  data[i] = x >>> 24
}
/** An order-sensitive hash of every 61st byte of a stream (chunking does not matter), with its length. */
class Hasher {
  h = 0x811c9dc5
  pos = 0
  update(b: Uint8Array): void {
    let h = this.h
    for (let i = (61 - (this.pos % 61)) % 61; i < b.length; i += 61) h = Math.imul(h ^ b[i], 0x01000193)
    this.h = h
    this.pos += b.length
  }
  digest(): number {
    return (this.h ^ this.pos) >>> 0
  }
}
const expected = new Hasher()
expected.update(data)

/** A 106-byte frame: UDP from the flooder's `srcPort` to `dst:7` with 64 zero bytes. */
const floodFrame = (dstMac: MacAddress, srcMac: MacAddress, dst: Ipv4Address, srcPort: number): Uint8Array => {
  const udp = new Uint8Array(8 + 64)
  UdpRepr.emit(
    { srcPort, dstPort: 7, payload: new Uint8Array(64) },
    udp,
    pseudoHeaderSum(FLOODER, dst, 17, udp.length),
    ChecksumCapabilities.all,
  )
  const f = new Uint8Array(14 + 20 + udp.length)
  EthernetRepr.emit({ dstAddr: dstMac, srcAddr: srcMac, etherType: EtherType.Ipv4 }, f)
  Ipv4Repr.emit(
    {
      srcAddr: FLOODER,
      dstAddr: dst,
      protocol: 17,
      payloadLen: udp.length,
      ttl: 64,
      identification: 1,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
    },
    f.subarray(14),
    ChecksumCapabilities.all,
  )
  f.set(udp, 34)
  return f
}

/** An ARP reply frame from the flooder to the asker. */
const arpReply = (mac: MacAddress, req: ArpRepr): Uint8Array => {
  const f = new Uint8Array(14 + 28)
  EthernetRepr.emit({ dstAddr: req.senderHardwareAddr, srcAddr: mac, etherType: EtherType.Arp }, f)
  ArpRepr.emit({
    operation: 2,
    senderHardwareAddr: mac,
    senderProtocolAddr: FLOODER,
    targetHardwareAddr: req.senderHardwareAddr,
    targetProtocolAddr: req.senderProtocolAddr,
  }, f.subarray(14))
  return f
}

const macrotask: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const t = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(t))
})

// ------------------------------------------------------------------------------------------------ one run

interface RunResult {
  readonly aloneMbps: number
  readonly floodMbps: number
  readonly floodBytes: number
  readonly stalled: boolean
  readonly offered: number
  readonly offeredPerSec: number
  readonly rxPackets: number
  readonly rxDrops: number
  readonly rxFlowDrops: number
  readonly echoDelivered: number
  readonly echoOverflows: number
  readonly echoes: number
}

/** One transfer client → server; with `flood`, under the flood. */
const transfer = (flood: boolean) =>
  Effect.scoped(Effect.gen(function* () {
    const sw = yield* Switch.make(switchOptions)
    const onSwitch = Effect.provideService(Backend, sw)
    const server = yield* onSwitch(Stack.make({ cidr: "10.0.0.1/24" }))
    const client = yield* onSwitch(Stack.make({ cidr: "10.0.0.2/24" }))
    yield* server.udp.listen(7, (d, s) => Effect.ignore(s.send(d.src, d.srcPort, d.data)))
    const flooder = yield* Effect.orDie(onSwitch(Vnetif.make()))
    let echoes = 0
    const onFrame: FrameListener = (f) =>
      Effect.sync(() => {
        if (f[12] === 8 && f[13] === 6) {
          const p = ArpPacket.parse(f.subarray(14))
          if (p._tag === "Success") {
            const r = ArpRepr.parse(p.success)
            if (r._tag === "Success" && r.success.operation === 1 && r.success.targetProtocolAddr === FLOODER) {
              flooder.transmit(arpReply(flooder.mac, r.success))
            }
          }
        } else echoes++
      })
    yield* Effect.forkScoped(flooder.listen(onFrame))
    yield* flooder.ready
    yield* Effect.orDie(client.ipv4.resolve(server.address))
    const frames = Array.from({ length: 256 }, (_, i) => floodFrame(server.mac, flooder.mac, server.address, 20000 + i))
    const listener = yield* server.tcp.listen(5001)
    let received = 0
    const hash = new Hasher()
    const sink = yield* Effect.forkChild(Effect.gen(function* () {
      const conn = yield* listener.accept
      while (true) {
        const d = yield* conn.read
        if (d === undefined) break
        hash.update(d)
        received += d.length
      }
      yield* conn.close
    }))
    let done = false
    let offered = 0
    const t0 = performance.now()
    const flooding = flood
      ? yield* Effect.forkChild(Effect.gen(function* () {
        while (!done) {
          for (let i = 0; i < burst; i++) flooder.transmit(frames[i & 255])
          offered += burst
          yield* macrotask
        }
      }))
      : undefined
    const send = Effect.gen(function* () {
      const conn = yield* client.tcp.connect(server.address, 5001)
      for (let off = 0; off < data.length; off += WRITE) yield* conn.write(data.subarray(off, off + WRITE))
      yield* conn.closeWrite
      yield* Fiber.join(sink)
      yield* conn.close
    })
    const finished = yield* Effect.scoped(send).pipe(
      Effect.timeoutOption(limitMs),
      Effect.map((o) => o._tag === "Some"),
      Effect.orDie,
    )
    const seconds = (performance.now() - t0) / 1000
    done = true
    if (flooding !== undefined) yield* Fiber.join(flooding)
    if (finished && (received !== data.length || hash.digest() !== expected.digest())) {
      return yield* Effect.die(new Error(`transfer not byte-exact: ${received} of ${data.length} bytes`))
    }
    const dev = yield* server.vnetif.stats
    const udp = yield* server.udp.stats
    return {
      mbps: finished ? (received * 8) / seconds / 1e6 : 0,
      received,
      finished,
      seconds,
      offered,
      rxPackets: dev.rxPackets,
      rxDrops: dev.rxDrops,
      rxFlowDrops: (dev as { rxFlowDrops?: number }).rxFlowDrops ?? 0,
      echoDelivered: udp.rxDelivered,
      echoOverflows: udp.queueOverflows,
      echoes,
    }
  }))

const oneRun: Effect.Effect<RunResult> = Effect.orDie(Effect.gen(function* () {
  const alone = yield* transfer(false)
  const f = yield* transfer(true)
  return {
    aloneMbps: alone.mbps,
    floodMbps: f.mbps,
    floodBytes: f.received,
    stalled: !f.finished,
    offered: f.offered,
    offeredPerSec: f.offered / f.seconds,
    rxPackets: f.rxPackets,
    rxDrops: f.rxDrops,
    rxFlowDrops: f.rxFlowDrops,
    echoDelivered: f.echoDelivered,
    echoOverflows: f.echoOverflows,
    echoes: f.echoes,
  }
}))

// ------------------------------------------------------------------------------------------------ main

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1))
const spread = (xs: ReadonlyArray<number>): string =>
  `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`

const main = Effect.gen(function* () {
  console.log(
    `flood bench (${runtime}): ${totalBytes} bytes client → server, bursts of ${burst} UDP datagrams to the ` +
      `server's echo port per macrotask, limit ${limitMs / 1000} s, flowBuckets ${flowBuckets ?? "default"}`,
  )
  const results: Array<RunResult> = []
  for (let i = 0; i < runs; i++) {
    const r = yield* oneRun
    results.push(r)
    console.log(
      `run ${i + 1}: TCP alone ${fmt(r.aloneMbps)} Mbit/s; under flood ${
        r.stalled ? `STALLED (${r.floodBytes} bytes in ${limitMs / 1000} s)` : `${fmt(r.floodMbps)} Mbit/s`
      }; flood offered ${r.offered} (${fmt(r.offeredPerSec / 1000)} k/s), switch drops ${r.rxDrops} ` +
        `(flow drops ${r.rxFlowDrops}), delivered to the stack ${r.rxPackets}, to the echo socket ${r.echoDelivered} ` +
        `(socket overflows ${r.echoOverflows}), echoes back ${r.echoes}`,
    )
  }
  const col = (k: keyof RunResult) => results.map((r) => Number(r[k]))
  console.log(
    `median (min–max) of ${runs}: TCP alone ${spread(col("aloneMbps"))} Mbit/s; under flood ${
      spread(col("floodMbps"))
    } Mbit/s (stalled ${results.filter((r) => r.stalled).length}/${runs}); flood offered ${
      spread(col("offeredPerSec").map((x) => x / 1000))
    } k frames/s, switch drops ${spread(col("rxDrops"))}, flow drops ${spread(col("rxFlowDrops"))}, ` +
      `echo socket ${spread(col("echoDelivered"))}, echoes ${spread(col("echoes"))}`,
  )
})

await Effect.runPromise(main)
process.exit(0)
