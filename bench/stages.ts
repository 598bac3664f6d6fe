/**
 * Per-stage micro-benchmarks of the hot path (ns per operation, median of `--runs`, default 5):
 *
 * - `checksum 1460 B`: the Internet checksum over a 1460-byte payload;
 * - `TcpRepr.emit 1460 B`: header + payload copy + checksum of a 1460-byte data segment with timestamps;
 * - `TcpRepr.parse 1460 B`: parse of the same segment, checksum verified;
 * - `receive Eth→IPv4→TCP`: one full data-segment receive of the codecs: Ethernet frame, IPv4 header (checksum
 *   verified), TCP segment (checksum verified) and the payload copied into a receive ring;
 * - `queue hop`: one 1500-byte frame through a bounded Queue between two fibers, batched (`offerAll`/`takeAll`);
 * - `switch hop`: one 1500-byte frame from one Vnetif through a learning Switch to another Vnetif's handler.
 *
 * Run: `npx bun bench/stages.ts` or `npx deno run -A bench/stages.ts` (`--runs N`, `--json`).
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import { Backend, type BackendShape } from "../src/link/Backend.ts"
import { Switch } from "../src/link/Switch.ts"
import { Vnetif } from "../src/link/Vnetif.ts"
import { Ring } from "../src/tcp/Ring.ts"
import { ChecksumCapabilities, pseudoHeaderSum, sum } from "../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame } from "../src/wire/Ethernet.ts"
import { IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../src/wire/Ipv4.ts"
import type { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { MacAddress } from "../src/wire/MacAddress.ts"
import { TcpFlags, TcpOptions, TcpPacket, TcpRepr } from "../src/wire/Tcp.ts"

const argv: ReadonlyArray<string> = process.argv.slice(2)
const runs: number = (() => {
  const i = argv.indexOf("--runs")
  return i >= 0 ? Number(argv[i + 1]) : 5
})()
const json: boolean = argv.includes("--json")

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

/** Times `n` calls of `f` (after a warm-up) and returns ns per call, median of `runs`. */
const timeSync = (n: number, f: (i: number) => void): number => {
  for (let i = 0; i < Math.min(n, 50_000); i++) f(i)
  const xs: Array<number> = []
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) f(i)
    xs.push(((performance.now() - t0) * 1e6) / n)
  }
  return median(xs)
}

let sink = 0

// ---- fixtures -------------------------------------------------------------------------------------------------

const SRC: Ipv4Address = 0x0a000001 as Ipv4Address
const DST: Ipv4Address = 0x0a000002 as Ipv4Address
const payload = new Uint8Array(1460)
for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff
const segment: TcpRepr = {
  srcPort: 49152,
  dstPort: 5201,
  seqNumber: 0x12345678,
  ackNumber: 0x9abcdef0,
  flags: TcpFlags.ACK | TcpFlags.PSH,
  windowLen: 0xffff,
  urgentPointer: 0,
  options: { ...TcpOptions.empty, timestamps: { tsVal: 123456, tsEcr: 654321 } },
  payload,
}
const caps = ChecksumCapabilities.all
const segLen = TcpRepr.bufferLen(segment)
const segBuf = new Uint8Array(segLen)
TcpRepr.emit(segment, segBuf, pseudoHeaderSum(SRC, DST, 6, segLen), caps)

// a full frame: Ethernet + IPv4 + TCP
const frame = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + segLen)
{
  MacAddress.write(frame, 0, MacAddress.make(0x020000000002))
  MacAddress.write(frame, 6, MacAddress.make(0x020000000001))
  frame[12] = 0x08
  frame[13] = 0x00
  const ip = new Ipv4Packet(frame.subarray(ETHERNET_HEADER_LEN))
  ip.setVersionAndHeaderLen(4, IPV4_HEADER_LEN)
  ip.setTotalLen(IPV4_HEADER_LEN + segLen)
  ip.setTtl(64)
  ip.setProtocol(6)
  ip.setSrcAddr(SRC)
  ip.setDstAddr(DST)
  ip.fillChecksum()
  frame.set(segBuf, ETHERNET_HEADER_LEN + IPV4_HEADER_LEN)
}

// ---- synchronous stages -----------------------------------------------------------------------------------------

const results: Array<{ stage: string; ns: number; note: string }> = []
const record = (stage: string, ns: number, note: string = ""): void => {
  results.push({ stage, ns, note })
  if (!json) console.error(`  ${stage}: ${ns.toFixed(1)} ns`)
}

{
  const ns = timeSync(200_000, () => {
    sink ^= sum(payload, 0, payload.length)
  })
  record("checksum 1460 B", ns, `${(1460 / ns).toFixed(2)} GB/s`)
}
{
  const out = new Uint8Array(segLen)
  record(
    "TcpRepr.emit 1460 B (checksum)",
    timeSync(200_000, () => {
      TcpRepr.emit(segment, out, pseudoHeaderSum(SRC, DST, 6, segLen), caps)
      sink ^= out[16]
    }),
  )
}
{
  const pkt = new TcpPacket(segBuf)
  record(
    "TcpRepr.parse 1460 B (checksum verified)",
    timeSync(200_000, () => {
      const r = TcpRepr.parse(pkt, pseudoHeaderSum(SRC, DST, 6, pkt.buffer.length), caps)
      if (r._tag === "Success") sink ^= r.success.seqNumber
    }),
  )
}
{
  const ring = new Ring(256 * 1024)
  record(
    "receive Eth→IPv4→TCP + ring copy",
    timeSync(200_000, () => {
      const eth = new EthernetFrame(frame)
      const ipPkt = new Ipv4Packet(eth.payload())
      const ip = Ipv4Repr.parse(ipPkt, caps)
      if (ip._tag !== "Success") throw new Error("ipv4")
      const seg = new TcpPacket(ipPkt.payload())
      const ph = pseudoHeaderSum(ip.success.srcAddr, ip.success.dstAddr, 6, seg.buffer.length)
      const tcp = TcpRepr.parse(seg, ph, caps)
      if (tcp._tag !== "Success") throw new Error("tcp")
      if (ring.push(tcp.success.payload) === 0) ring.clear()
      ring.discard(ring.length)
    }),
  )
}

// ---- fiber stages -----------------------------------------------------------------------------------------------

const queueHop = (n: number): Effect.Effect<number> =>
  Effect.gen(function* () {
    const q = yield* Queue.bounded<Uint8Array>(1024)
    const f = new Uint8Array(1500)
    const batch: Array<Uint8Array> = Array.from({ length: 256 }, () => f)
    const consumer = yield* Effect.forkChild(Effect.gen(function* () {
      let got = 0
      while (got < n) got += (yield* Queue.takeAll(q)).length
    }))
    const t0 = performance.now()
    for (let sent = 0; sent < n; sent += batch.length) yield* Queue.offerAll(q, batch)
    yield* Fiber.join(consumer)
    return ((performance.now() - t0) * 1e6) / n
  })

const switchHop = (n: number): Effect.Effect<number, unknown> =>
  Effect.scoped(Effect.gen(function* () {
    const backendValue: BackendShape = yield* Switch.make({ queueCapacity: 1024 })
    const withBackend = Effect.provideService(Backend, backendValue)
    const a = yield* withBackend(Vnetif.make())
    const b = yield* withBackend(Vnetif.make())
    let received = 0
    yield* Effect.forkScoped(b.listen(() => {
      received++
      return Effect.void
    }))
    yield* b.ready
    const pool: Array<Uint8Array> = []
    for (let i = 0; i < 1024; i++) {
      const f = new Uint8Array(1500)
      MacAddress.write(f, 0, b.mac)
      MacAddress.write(f, 6, a.mac)
      f[12] = 0x08
      pool.push(f)
    }
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const e = a.transmit(pool[i & 1023])
      if (e !== undefined) return yield* Effect.fail(e)
      if ((i & 255) === 255) yield* Effect.yieldNow
    }
    while (received < n) yield* Effect.yieldNow
    return ((performance.now() - t0) * 1e6) / n
  }))

const fiberStages = Effect.gen(function* () {
  yield* queueHop(200_000)
  const q: Array<number> = []
  for (let r = 0; r < runs; r++) q.push(yield* queueHop(1_000_000))
  record("queue hop (offerAll/takeAll, batch 256)", median(q))
  yield* switchHop(100_000)
  const s: Array<number> = []
  for (let r = 0; r < runs; r++) s.push(yield* switchHop(500_000))
  const ns = median(s)
  record("switch hop Vnetif→Switch→Vnetif 1500 B", ns, `${(1000 / ns).toFixed(2)} M frames/s`)
})

await Effect.runPromise(fiberStages)

const denoGlobal = (globalThis as { readonly Deno?: { readonly version: { readonly deno: string } } }).Deno
const runtime = denoGlobal !== undefined ? `deno ${denoGlobal.version.deno}` : `bun ${process.versions.bun}`
if (json) console.log(JSON.stringify({ runtime, runs, results, sink }, null, 2))
else {
  console.log(`${runtime}: ns per operation, median of ${runs}`)
  console.log("| stage | ns | |\n|---|---:|---|")
  for (const r of results) console.log(`| ${r.stage} | ${r.ns.toFixed(1)} | ${r.note} |`)
}
