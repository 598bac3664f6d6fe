/**
 * iperf over vnetif: two stacks (10.0.0.1 client, 10.0.0.2 server) on one in-process switch. The client sends
 * `--bytes` (default 1 GiB) in `--write-size` writes (default 64 KiB) — or for `--duration` seconds — to the
 * server, which reads everything. Both ends print one line per second and a summary the way iperf3 does (bytes,
 * Mbit/s, retransmits), plus the process's peak resident memory. The received bytes are verified: the client hashes
 * what it writes, the server what it reads (an incremental 32-bit FNV-style hash over little-endian words),
 * and the run exits with code 1 when length or hash differ, or anything fails.
 *
 * Run: `npx bun examples/iperf.ts [options]` or `npx deno run -A examples/iperf.ts [options]`
 *
 * Options:
 *   --bytes N          bytes to send (default 1073741824; suffixes K, M, G = KiB, MiB, GiB)
 *   --duration S       send for S seconds instead of a byte count
 *   --write-size N     bytes per write (default 64K)
 *   --mtu N            MTU of both stacks (default 1500); --client-mtu / --server-mtu set one side
 *   --loss P           drop P percent of all frames (an Impairment layer under the switch ports)
 *   --delay MS         one-way delay of every frame, each direction (the round trip is 2 × MS)
 *   --rate MBIT        shape each direction to MBIT Mbit/s (token bucket, bandwidth × delay queue)
 *   --pcap FILE        record the wire to a pcap file (128 bytes per frame; see `examples/_link.ts`)
 *   --buffer N         TCP send and receive buffer size (default 256K)
 *   --congestion C     newreno (default) or cubic
 *   --checksum         compute and verify every checksum (default: offload, as a virtual NIC)
 *   --interval S       seconds between interval reports (default 1)
 *   --json             one JSON document at the end instead of text
 *   --server           instead: an iperf3 server (the real iperf3 control protocol, see `examples/_iperf3.ts` for the
 *                      supported client options) on a stack attached to `--tap NAME` or to a VXLAN
 *                      (`--vxlan-local A --vxlan-remote B [--vni 42]`), address `--cidr` (default 10.99.0.2/24), port
 *                      `--port`, MTU `--mtu`; `--tests N` stops after N tests. E.g. in a netns with TAP vn0:
 *                      `bun examples/iperf.ts --server --tap vn0`, then `iperf3 -c 10.99.0.2 -t 3 [-R] [-J]`
 *   --keep-async-hooks on Deno, run without the async_hooks workaround of `src/util/NoAsyncContext.ts` (memory then
 *                      grows with every fiber suspension: an effect 4.1 + Deno 2.9 problem, not a vnetif one)
 *
 * The data is a 3 MiB + 4 KiB pseudo-random pool sent cyclically: its period is no power of two, so a byte from the
 * wrong place in the stream (a misplaced segment, a stale buffer) changes the hash.
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import { asyncContextDisabled } from "../src/util/NoAsyncContext.ts"
import { parseArgs } from "node:util"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { describeLink, linkLayer } from "./_link.ts"
import { Stack } from "../src/Stack.ts"
import type { TcpConnectionStats } from "../src/tcp/Tcp.ts"

// ------------------------------------------------------------------------------------------------ options

const sizeOf = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?$/.exec(s.trim())
  if (m === null) throw new Error(`not a size: ${s}`)
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"]
  return Math.round(Number(m[1]) * mult)
}

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    bytes: { type: "string", default: "1G" },
    duration: { type: "string" },
    "write-size": { type: "string", default: "64K" },
    mtu: { type: "string" },
    "client-mtu": { type: "string" },
    "server-mtu": { type: "string" },
    loss: { type: "string" },
    delay: { type: "string" },
    rate: { type: "string" },
    pcap: { type: "string" },
    buffer: { type: "string", default: "256K" },
    congestion: { type: "string", default: "newreno" },
    checksum: { type: "boolean", default: false },
    interval: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
    port: { type: "string", default: "5201" },
    "keep-async-hooks": { type: "boolean", default: false },
    server: { type: "boolean", default: false },
    tap: { type: "string" },
    cidr: { type: "string", default: "10.99.0.2/24" },
    "vxlan-local": { type: "string" },
    "vxlan-remote": { type: "string" },
    vni: { type: "string", default: "42" },
    tests: { type: "string" },
  },
})

if (args.server) {
  // iperf3 server mode (examples/_iperf3.ts): a stack on a TAP or VXLAN uplink for `iperf3 -c`
  const { iperf3ServerMain } = await import("./_iperf3.ts")
  const local = args["vxlan-local"]
  const remote = args["vxlan-remote"]
  const exit = await Effect.runPromiseExit(iperf3ServerMain({
    tap: args.tap,
    vxlan: local !== undefined && remote !== undefined ? { local, remote, vni: Number(args.vni) } : undefined,
    cidr: args.cidr,
    mtu: args.mtu === undefined ? undefined : Number(args.mtu),
    port: Number(args.port),
    tests: args.tests === undefined ? undefined : Number(args.tests),
  }))
  if (exit._tag === "Failure") console.error("iperf --server: FAILED", exit.cause)
  process.exit(exit._tag === "Failure" ? 1 : 0)
}

const totalBytes = args.duration === undefined ? sizeOf(args.bytes) : Infinity
const durationMs = args.duration === undefined ? Infinity : Number(args.duration) * 1000
const writeSize = sizeOf(args["write-size"])
const clientMtu = Number(args["client-mtu"] ?? args.mtu ?? 1500)
const serverMtu = Number(args["server-mtu"] ?? args.mtu ?? 1500)
const lossPercent = args.loss === undefined ? 0 : Number(args.loss.replace(/%$/, ""))
const bufferSize = sizeOf(args.buffer)
const congestion = args.congestion === "cubic" ? "cubic" : "newreno"
const intervalMs = Number(args.interval) * 1000
const port = Number(args.port)
const json = args.json
if (!(writeSize >= 1) || !(intervalMs > 0) || !(lossPercent >= 0 && lossPercent < 100) || !(durationMs > 0)) {
  console.error("iperf: bad option value (see the docblock of examples/iperf.ts)")
  process.exit(2)
}
if (args.congestion !== "newreno" && args.congestion !== "cubic") {
  console.error(`iperf: --congestion must be newreno or cubic, got ${args.congestion}`)
  process.exit(2)
}

// ------------------------------------------------------------------------------------------------ hashing

/**
 * Incremental 32-bit hash over little-endian 32-bit words: per word `h = (h ^ w) · 0x01000193; h ^= h >>> 15`
 * (FNV-1a's step on words, plus a shift so high bits feed the low ones), then the Murmur3 finaliser with the length.
 * Every step is a bijection of `h`, so one wrong word always changes the result; three operations per word keep the
 * check from dominating a multi-Gbit/s run.
 */
class Hasher {
  private h = 0x811c9dc5
  private readonly carry = new Uint8Array(4)
  private carryLen = 0
  private length = 0

  private word(k: number): void {
    const h = Math.imul(this.h ^ k, 0x01000193)
    this.h = h ^ (h >>> 15)
  }

  /** Adds `b` (any length, any alignment). */
  update(b: Uint8Array): void {
    this.length += b.length
    let i = 0
    while (this.carryLen > 0 && i < b.length) {
      this.carry[this.carryLen++] = b[i++]
      if (this.carryLen === 4) {
        this.word(this.carry[0] | (this.carry[1] << 8) | (this.carry[2] << 16) | (this.carry[3] << 24))
        this.carryLen = 0
      }
    }
    const words = (b.length - i) >>> 2
    if (words > 0) {
      const start = b.byteOffset + i
      if ((start & 3) === 0) {
        const w = new Uint32Array(b.buffer, start, words)
        let h = this.h
        for (let j = 0; j < words; j++) {
          h = Math.imul(h ^ w[j], 0x01000193)
          h ^= h >>> 15
        }
        this.h = h
      } else {
        const v = new DataView(b.buffer, start, words * 4)
        for (let j = 0; j < words; j++) this.word(v.getUint32(j * 4, true))
      }
      i += words * 4
    }
    while (i < b.length) this.carry[this.carryLen++] = b[i++]
  }

  /** The hash of everything so far (does not change the state). */
  digest(): number {
    let h = this.h
    if (this.carryLen > 0) {
      let k = 0
      for (let j = this.carryLen - 1; j >= 0; j--) k = (k << 8) | this.carry[j]
      h = Math.imul(h ^ k, 0x01000193)
      h ^= h >>> 15
    }
    h ^= (this.length | 0) ^ Math.floor(this.length / 2 ** 32)
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    return (h ^ (h >>> 16)) >>> 0
  }
}

// ------------------------------------------------------------------------------------------------ data

const POOL = 3 * 1024 * 1024 + 4096
const pool = new Uint8Array(POOL + writeSize + 4)
{
  const w = new Uint32Array(pool.buffer, 0, pool.length >>> 2)
  let x = 0x2545f491
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    w[i] = x
  }
  pool.copyWithin(POOL, 0, writeSize + 4)
}

// ------------------------------------------------------------------------------------------------ reporting

interface Interval {
  readonly start: number
  readonly end: number
  readonly sentBytes: number
  readonly receivedBytes: number
  readonly retransmits: number
  readonly cwnd: number
  readonly rss: number
}

const fmtBytes = (n: number): string =>
  n >= 1024 ** 3
    ? `${(n / 1024 ** 3).toFixed(2)} GBytes`
    : n >= 1024 ** 2
    ? `${(n / 1024 ** 2).toFixed(1)} MBytes`
    : `${(n / 1024).toFixed(1)} KBytes`
const fmtRate = (bytes: number, ms: number): string => `${(ms > 0 ? (bytes * 8) / ms / 1000 : 0).toFixed(0)} Mbits/sec`
const fmtTime = (a: number, b: number): string =>
  `${(a / 1000).toFixed(2).padStart(6)}-${(b / 1000).toFixed(2).padEnd(6)} sec`
const rssMiB = (n: number): string => `${(n / 1024 ** 2).toFixed(0)} MiB`
const out = (line: string): void => {
  if (!json) console.log(line)
}

// ------------------------------------------------------------------------------------------------ the run

const denoGlobal = (globalThis as { readonly Deno?: { readonly version: { readonly deno: string } } }).Deno
const runtimeName = denoGlobal === undefined ? `bun ${process.versions.bun}` : `deno ${denoGlobal.version.deno}`

const linkFlags = {
  lossPercent,
  delayMs: args.delay === undefined ? 0 : Number(args.delay),
  rateMbit: args.rate === undefined ? 0 : Number(args.rate),
  pcap: args.pcap,
}
if (!(linkFlags.delayMs >= 0) || !(linkFlags.rateMbit >= 0)) {
  console.error("iperf: bad --delay or --rate (see the docblock of examples/iperf.ts)")
  process.exit(2)
}
const link = linkLayer(linkFlags)

const tcpConfig = { sendBufferSize: bufferSize, receiveBufferSize: bufferSize, congestion } as const

const program = Effect.scoped(Effect.gen(function* () {
  const checksum = args.checksum ? "all" : "offload"
  const client = yield* Stack.make({ cidr: "10.0.0.1/24", mtu: clientMtu, checksum, tcp: tcpConfig })
  const server = yield* Stack.make({ cidr: "10.0.0.2/24", mtu: serverMtu, checksum, tcp: tcpConfig })
  const listener = yield* server.tcp.listen(port)

  let sent = 0
  let received = 0
  let peakRss = process.memoryUsage().rss
  const sendHash = new Hasher()
  const recvHash = new Hasher()
  const t0 = performance.now()
  let serverEnd = 0
  let clientEnd = 0

  const serverFiber = yield* Effect.forkChild(Effect.gen(function* () {
    const conn = yield* listener.accept
    const buf = new Uint8Array(256 * 1024)
    while (true) {
      const n = yield* conn.readInto(buf)
      if (n === 0) break
      recvHash.update(buf.subarray(0, n))
      received += n
    }
    serverEnd = performance.now() - t0
    const stats = yield* conn.stats
    yield* conn.close
    return stats
  }))

  const conn = yield* client.tcp.connect(server.address, port)
  out(`Connecting to host 10.0.0.2, port ${port}`)
  out(
    `[  5] local 10.0.0.1 port ${conn.localPort} connected to 10.0.0.2 port ${port}` +
      ` (MTU ${clientMtu}/${serverMtu}, MSS ${(yield* conn.stats).mss}, ${congestion}` +
      `${describeLink(linkFlags) === "unimpaired" ? "" : `, ${describeLink(linkFlags)}`})`,
  )
  out(`[ ID] Role     Interval           Transfer       Bitrate          Retr  Cwnd          RSS`)

  const intervals: Array<Interval> = []
  let last = { t: 0, sent: 0, received: 0, retransmits: 0 }
  const report = Effect.gen(function* () {
    const t = performance.now() - t0
    const s = yield* conn.stats
    const rss = process.memoryUsage().rss
    if (rss > peakRss) peakRss = rss
    const iv: Interval = {
      start: last.t,
      end: t,
      sentBytes: sent - last.sent,
      receivedBytes: received - last.received,
      retransmits: s.retransmits - last.retransmits,
      cwnd: s.cwnd,
      rss,
    }
    intervals.push(iv)
    last = { t, sent, received, retransmits: s.retransmits }
    out(
      `[  5] sender   ${fmtTime(iv.start, iv.end)}  ${fmtBytes(iv.sentBytes).padStart(12)}  ${
        fmtRate(iv.sentBytes, iv.end - iv.start).padStart(15)
      }  ${String(iv.retransmits).padStart(4)}  ${fmtBytes(iv.cwnd).padStart(12)}  ${rssMiB(rss)}`,
    )
    out(
      `[  5] receiver ${fmtTime(iv.start, iv.end)}  ${fmtBytes(iv.receivedBytes).padStart(12)}  ${
        fmtRate(iv.receivedBytes, iv.end - iv.start).padStart(15)
      }`,
    )
  })
  const reporter = yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep(intervalMs), report)))

  while (sent < totalBytes && performance.now() - t0 < durationMs) {
    const off = sent % POOL
    const n = Math.min(writeSize, totalBytes - sent)
    const chunk = pool.subarray(off, off + n)
    sendHash.update(chunk)
    yield* conn.write(chunk)
    sent += n
  }
  clientEnd = performance.now() - t0
  yield* conn.closeWrite
  const serverStats: TcpConnectionStats = yield* Fiber.join(serverFiber)
  yield* Fiber.interrupt(reporter)
  yield* report
  const clientStats = yield* conn.stats
  yield* conn.close

  const ok = received === sent && recvHash.digest() === sendHash.digest()
  const summary = {
    sender: {
      bytes: sent,
      seconds: clientEnd / 1000,
      bitsPerSecond: (sent * 8) / (clientEnd / 1000),
      retransmits: clientStats.retransmits,
      timeouts: clientStats.timeouts,
      segments: clientStats.segmentsOut,
      hash: sendHash.digest(),
    },
    receiver: {
      bytes: received,
      seconds: serverEnd / 1000,
      bitsPerSecond: (received * 8) / (serverEnd / 1000),
      segments: serverStats.segmentsIn,
      hash: recvHash.digest(),
    },
    verified: ok,
    peakRssBytes: peakRss,
  }
  if (json) {
    console.log(JSON.stringify(
      {
        start: {
          bytes: totalBytes === Infinity ? null : totalBytes,
          durationSeconds: durationMs === Infinity ? null : durationMs / 1000,
          writeSize,
          clientMtu,
          serverMtu,
          lossPercent,
          bufferSize,
          congestion,
          checksum,
          runtime: runtimeName,
          asyncHooksHidden: asyncContextDisabled,
        },
        intervals: intervals.map((iv) => ({
          start: iv.start / 1000,
          end: iv.end / 1000,
          sentBytes: iv.sentBytes,
          receivedBytes: iv.receivedBytes,
          sentBitsPerSecond: (iv.sentBytes * 8) / ((iv.end - iv.start) / 1000),
          receivedBitsPerSecond: (iv.receivedBytes * 8) / ((iv.end - iv.start) / 1000),
          retransmits: iv.retransmits,
          cwnd: iv.cwnd,
          rssBytes: iv.rss,
        })),
        end: summary,
      },
      null,
      2,
    ))
  } else {
    out("- - - - - - - - - - - - - - - - - - - - - - - - -")
    out(`[ ID] Interval           Transfer       Bitrate          Retr`)
    out(
      `[  5] ${fmtTime(0, clientEnd)}  ${fmtBytes(sent).padStart(12)}  ${fmtRate(sent, clientEnd).padStart(15)}  ${
        String(clientStats.retransmits).padStart(4)
      }   sender`,
    )
    out(
      `[  5] ${fmtTime(0, serverEnd)}  ${fmtBytes(received).padStart(12)}  ${
        fmtRate(received, serverEnd).padStart(15)
      }         receiver`,
    )
    out(
      `verify: ${received} bytes, hash ${summary.receiver.hash.toString(16).padStart(8, "0")} ` +
        `${ok ? "matches" : `DIFFERS from ${sent} bytes, hash ${summary.sender.hash.toString(16).padStart(8, "0")}`}`,
    )
    out(`peak RSS: ${rssMiB(peakRss)}`)
    out(ok ? "iperf Done." : "iperf: VERIFICATION FAILED")
  }
  return ok
})).pipe(Effect.provide(Layer.fresh(link)))

const exit = await Effect.runPromiseExit(program)
if (exit._tag === "Failure") {
  console.error("iperf: FAILED", exit.cause)
  process.exitCode = 1
} else if (!exit.value) {
  process.exitCode = 1
}
