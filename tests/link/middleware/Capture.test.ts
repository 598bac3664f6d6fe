/**
 * Tests of the link-layer observability: `Capture` (pcap/pcapng to a Sink or a file; whole switch, one device, by
 * hand), `Trace` (tcpdump-like lines through the Logger) and `LinkMetrics` (counters as Effect Metrics, `stats`).
 *
 * - Captures are read back with our own reader (`src/wire/Pcap.ts`) and, where tshark is installed, validated by it
 *   with IPv4/TCP/UDP checksum verification on and the filter of `/work/shared/docs/linux-interop.md` §4 (bad
 *   checksum, malformed packet or expert error): a ping + UDP exchange between two stacks (checksum "all") through
 *   the whole-switch capture must give no flagged frame and exactly as many frames as the switch counted
 *   (`txPackets` of every port, the retired ones included, via LinkMetrics), in classic pcap and in pcapng; and a
 *   negative control, where an Impairment corrupts one UDP datagram below the capture, must be flagged.
 * - Bounded buffering: a sink that does not pull makes the capture drop (and count) what does not fit.
 * - Determinism: a seeded, impaired ping + UDP exchange under TestClock gives the same capture bytes twice.
 *
 * tshark tests are skipped with the reason when tshark is not on PATH.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Random from "effect/Random"
import * as References from "effect/References"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import { TestClock } from "effect/testing"
import { Backend } from "../../../src/link/Backend.ts"
import { Capture, type CaptureOptions, PacketCapture } from "../../../src/link/middleware/Capture.ts"
import { Impairment, type ImpairmentSpec } from "../../../src/link/middleware/Impairment.ts"
import { LinkMetricKeys, LinkMetrics, LinkMetricsService } from "../../../src/link/middleware/Metrics.ts"
import { Switch } from "../../../src/link/Switch.ts"
import { Trace } from "../../../src/link/middleware/Trace.ts"
import { Stack, type StackHandle } from "../../../src/Stack.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../../src/wire/Checksum.ts"
import { EtherType } from "../../../src/wire/Ethernet.ts"
import { IpProtocol } from "../../../src/wire/Ipv4.ts"
import type { MacAddress } from "../../../src/wire/MacAddress.ts"
import { parseCapture, type PcapngFile, type PcapPacket } from "../../../src/wire/Pcap.ts"
import { TcpRepr } from "../../../src/wire/Tcp.ts"
import {
  echoRequest,
  ethFrame,
  ip,
  ipv4Frame,
  pattern,
  pollUntil,
  run,
  runTest,
  udpDatagram,
} from "../../support/TestDevice.ts"
import { toEffect } from "../../../src/util/Transmit.ts"

// ---- helpers -------------------------------------------------------------------------------------------------------

const tsharkVersion = ((): string | undefined => {
  try {
    const r = spawnSync("tshark", ["-v"], { encoding: "utf8" })
    return r.status === 0 ? r.stdout.split("\n")[0] : undefined
  } catch {
    return undefined
  }
})()
const needsTshark = tsharkVersion === undefined ? { skip: "needs tshark (apt-get install tshark)" } : {}

const CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
const BADF = "ip.checksum.status==0 || icmp.checksum.status==0 || tcp.checksum.status==0 || " +
  "udp.checksum.status==0 || _ws.malformed || _ws.expert.severity >= error"

const tshark = (args: ReadonlyArray<string>): string => {
  const r = spawnSync("tshark", [...args], { encoding: "utf8" })
  if (r.status !== 0) assert.fail(`tshark ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** Frame numbers tshark flags as bad (checksum, malformed, expert error). */
const flagged = (file: string): Array<number> =>
  tshark(["-r", file, ...CHECKS, "-Y", BADF, "-T", "fields", "-e", "frame.number"])
    .split("\n").filter((l) => l.trim() !== "").map(Number)

/** How many frames tshark reads. */
const frameCount = (file: string): number =>
  tshark(["-r", file, "-T", "fields", "-e", "frame.number"]).split("\n").filter((l) => l.trim() !== "").length

const tempDir = (): string => mkdtempSync(join(tmpdir(), "vnetif-capture-"))

/** An in-memory sink: every chunk, in order. */
const memorySink = (): { readonly chunks: Array<Uint8Array>; readonly sink: Sink.Sink<void, Uint8Array> } => {
  const chunks: Array<Uint8Array> = []
  return {
    chunks,
    sink: Sink.forEachArray((cs: ReadonlyArray<Uint8Array>) => Effect.sync(() => void chunks.push(...cs))),
  }
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

const packetsOf = (bytes: Uint8Array): ReadonlyArray<PcapPacket> => {
  const r = parseCapture(bytes)
  if (Result.isFailure(r)) assert.fail(`capture does not parse: ${r.failure.message}`)
  return r.success.packets
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")

const MAC_A = 0x025000000000 as MacAddress
const MAC_B = 0x025000000001 as MacAddress

/** A ping and a UDP echo exchange between two stacks. */
const exchange = (a: StackHandle, b: StackHandle): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    yield* b.udp.listen(7, (d, sock) => Effect.orDie(sock.send(d.src, d.srcPort, d.data)))
    yield* a.icmp.ping(b.address)
    yield* a.icmp.ping(b.address, { size: 1000 })
    const sock = yield* a.udp.bind(0)
    for (let i = 0; i < 5; i++) {
      const data = pattern(100 + i * 300, i + 1)
      yield* sock.send(b.address, 7, data)
      const echo = yield* sock.take
      assert.equal(hex(echo.data), hex(data))
    }
  })

// ---- Capture: by hand, to a Sink -----------------------------------------------------------------------------------

describe("Capture: to a Sink", () => {
  it("records frames with Clock timestamps, copies them, and ends the sink on close", () =>
    runTest(Effect.gen(function* () {
      const mem = memorySink()
      const cap = yield* Capture.make(mem.sink)
      const f1 = ethFrame(MAC_B, MAC_A, 0x88b5, pattern(50))
      cap.record(f1)
      yield* TestClock.adjust("1.5 millis")
      const f2 = ethFrame(MAC_A, MAC_B, 0x88b5, pattern(60, 2))
      cap.record(f2, "in")
      const originals = [hex(f1), hex(f2)]
      f1.fill(0) // the capture owns a copy
      yield* cap.flush
      const st = yield* cap.close
      assert.equal(st.frames, 2)
      assert.equal(st.written, 2)
      assert.equal(st.dropped, 0)
      assert.equal(st.bufferedFrames, 0)
      const ps = packetsOf(concat(mem.chunks))
      assert.deepEqual(ps.map((p) => hex(p.data)), originals)
      assert.deepEqual(ps.map((p) => p.timestamp), [0n, 1_500_000n])
      cap.record(f2)
      assert.equal((yield* cap.stats).dropped, 1, "a closed capture drops and counts")
      assert.equal((yield* cap.close).frames, 2, "close is idempotent")
    })))

  it("pcapng keeps the direction and nanosecond timestamps", () =>
    runTest(Effect.gen(function* () {
      const mem = memorySink()
      const cap = yield* Capture.make(mem.sink, { format: "pcapng", resolution: "nano", interfaceName: "tap0" })
      yield* TestClock.adjust("0.000123 millis")
      cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(10)), "out")
      cap.record(ethFrame(MAC_A, MAC_B, 0x88b5, pattern(10)), "in")
      cap.record(ethFrame(MAC_A, MAC_B, 0x88b5, pattern(10)))
      yield* cap.close
      const r = parseCapture(concat(mem.chunks))
      assert.ok(Result.isSuccess(r) && r.success.format === "pcapng")
      const f = r.success as PcapngFile
      assert.equal(f.interfaces[0].name, "tap0")
      assert.deepEqual(f.packets.map((p) => p.direction), ["out", "in", undefined])
      assert.deepEqual(f.packets.map((p) => p.timestamp), [123n, 123n, 123n])
    })))

  it("snapLen cuts long frames and keeps their length", () =>
    runTest(Effect.gen(function* () {
      const mem = memorySink()
      const cap = yield* Capture.make(mem.sink, { snapLen: 64 })
      cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(1000)))
      yield* cap.close
      const [p] = packetsOf(concat(mem.chunks))
      assert.equal(p.data.length, 64)
      assert.equal(p.originalLength, 1014)
    })))

  it("a slow sink: the buffer is bounded (frames, then bytes) and the overflow is dropped and counted", () =>
    runTest(Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const chunks: Array<Uint8Array> = []
      const slow = Sink.forEachArray((cs: ReadonlyArray<Uint8Array>) =>
        Effect.andThen(Deferred.await(gate), Effect.sync(() => void chunks.push(...cs)))
      )
      const cap = yield* Capture.make(slow, { maxBufferedFrames: 10 })
      for (let i = 0; i < 100; i++) cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(86, i)))
      let st = yield* cap.stats
      assert.equal(st.frames, 10)
      assert.equal(st.dropped, 90)
      assert.equal(st.bufferedFrames, 10)
      yield* Deferred.succeed(gate, undefined)
      st = yield* cap.close
      assert.equal(st.written, 10)
      assert.equal(packetsOf(concat(chunks)).length, 10)

      const gate2 = yield* Deferred.make<void>()
      const cap2 = yield* Capture.make(
        Sink.forEachArray(() => Deferred.await(gate2)),
        { maxBufferedBytes: 24 + 5 * (16 + 100) }, // the header and five 100-byte frames
      )
      for (let i = 0; i < 20; i++) cap2.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(86, i)))
      assert.equal((yield* cap2.stats).frames, 5)
      assert.equal((yield* cap2.stats).dropped, 15)
      yield* Deferred.succeed(gate2, undefined)
    })))

  it("a failing sink: close reports a typed CaptureError, later frames are dropped", () =>
    runTest(Effect.gen(function* () {
      const cap = yield* Capture.make(Sink.forEachArray(() => Effect.fail("disk full")))
      cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(10)))
      yield* cap.flush
      assert.equal((yield* cap.stats).failed, true)
      cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(10)))
      assert.equal((yield* cap.stats).dropped, 1)
      const e = yield* Effect.flip(cap.close)
      assert.equal(e._tag, "CaptureError")
      assert.equal(e.reason, "Sink")
      assert.match(e.message, /disk full/)
    })))

  it("to a file: closing the scope flushes and closes the file (no explicit close)", () =>
    run(Effect.gen(function* () {
      const dir = tempDir()
      try {
        const file = join(dir, "scoped.pcap")
        yield* Effect.scoped(Effect.gen(function* () {
          const cap = yield* Capture.make(file)
          for (let i = 0; i < 100; i++) cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(100, i)))
        }))
        const ps = packetsOf(new Uint8Array(readFileSync(file)))
        assert.equal(ps.length, 100)
        assert.equal(hex(ps[99].data), hex(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(100, 99))))
        const bad = yield* Effect.flip(Effect.scoped(Effect.gen(function* () {
          const cap = yield* Capture.make(join(dir, "no", "such", "dir.pcap"))
          return yield* cap.close
        })))
        assert.equal(bad.reason, "Io", "the file sink's own typed error")
        assert.match(bad.message, /cannot open .*dir\.pcap/)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })))

  it("below a delay, frames are recorded when they reach the wire (TestClock timestamps)", () =>
    runTest(Effect.gen(function* () {
      const mem = memorySink()
      const sw = yield* Switch.make()
      const cap = yield* Capture.wrap(sw, mem.sink)
      const imp = yield* Impairment.wrap(cap, { delay: { latency: "10 millis" } })
      const a = yield* imp.register()
      const b = yield* imp.register()
      yield* imp.setListener(b.id, () => Effect.void)
      yield* toEffect(imp.transmit(a.id, ethFrame(b.mac, a.mac, 0x88b5, pattern(50))))
      yield* TestClock.adjust("3 millis")
      yield* toEffect(imp.transmit(a.id, ethFrame(b.mac, a.mac, 0x88b5, pattern(50, 2))))
      yield* TestClock.adjust("20 millis")
      yield* cap.capture.close
      assert.deepEqual(packetsOf(concat(mem.chunks)).map((p) => p.timestamp), [10_000_000n, 13_000_000n])
    })))

  it("a sink that stops early (Sink.take): flush returns, later frames are dropped, close succeeds", () =>
    runTest(Effect.gen(function* () {
      const cap = yield* Capture.make(Sink.take<Uint8Array>(3))
      for (let i = 0; i < 5; i++) cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(20, i)))
      yield* cap.flush
      cap.record(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(20)))
      const st = yield* cap.close
      assert.equal(st.frames, 5)
      assert.equal(st.dropped, 1)
    })))

  it("bad options fail with InvalidConfig", () =>
    runTest(Effect.gen(function* () {
      for (const o of [{ snapLen: 0 }, { format: "erf" }, { maxBufferedBytes: -1 }, { snaplen: 10 }]) {
        const e = yield* Effect.flip(Capture.make(Sink.drain, o as CaptureOptions))
        assert.equal(e.reason, "InvalidConfig", JSON.stringify(o))
      }
    })))
})

// ---- Capture: the whole switch, to a file, validated by tshark ----------------------------------------------------

/** Runs the exchange through Switch → Capture(file) → LinkMetrics; returns the capture stats and the tx total. */
const captureExchange = (file: string, options: CaptureOptions, spec?: ImpairmentSpec) =>
  Effect.gen(function* () {
    const link = LinkMetrics.layer().pipe(
      Layer.provideMerge(spec === undefined ? Layer.empty : Impairment.layer(spec)),
      Layer.provideMerge(Capture.layer(file, options)),
      Layer.provide(Switch.layer()),
    )
    return yield* Effect.scoped(Effect.gen(function* () {
      const metrics = yield* LinkMetricsService
      const capture = yield* PacketCapture
      yield* Effect.scoped(Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        if (spec === undefined) yield* exchange(a, b)
        else {
          yield* b.udp.bind(9)
          yield* a.udp.send(1000, b.address, 9, pattern(200))
          yield* pollUntil(b.udp.stats, (s) => s.badChecksum === 1, "the corrupted datagram is refused")
        }
      }))
      const totals = (yield* metrics.stats).totals
      const st = yield* capture.close
      return { st, txPackets: totals.txPackets, retired: (yield* metrics.stats).retiredPorts }
    })).pipe(Effect.provide(link))
  })

describe("Capture: the whole switch (promiscuous listener) to a file", () => {
  for (const format of ["pcap", "pcapng"] as const) {
    it(`${format}: frames = switch counters; our reader and tshark agree, with no bad checksum or malformed frame`, {
      ...needsTshark,
    }, () =>
      run(Effect.gen(function* () {
        const dir = tempDir()
        try {
          const file = join(dir, `exchange.${format}`)
          const { st, txPackets, retired } = yield* captureExchange(file, { format })
          assert.equal(retired, 2, "both stacks' ports counted after they closed")
          assert.ok(st.frames >= 2 + 2 * 2 + 5 * 2, `at least ARP, 2 pings and 5 echoes: ${st.frames}`)
          assert.equal(st.frames, txPackets, "one record per frame the switch accepted")
          assert.equal(st.dropped, 0)
          const ps = packetsOf(new Uint8Array(readFileSync(file)))
          assert.equal(ps.length, txPackets)
          assert.ok(ps.some((p) => p.data.length === 14 + 20 + 8 + 1000), "the 1000-byte ping")
          assert.equal(frameCount(file), txPackets, "tshark reads every frame")
          assert.deepEqual(flagged(file), [], "tshark flags nothing")
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })))
  }

  it(
    "negative control: a UDP datagram corrupted below the capture is flagged by tshark",
    needsTshark,
    () =>
      run(Effect.gen(function* () {
        const dir = tempDir()
        try {
          const file = join(dir, "corrupt.pcap")
          // The capture sits below the impairment: it records the corrupted bytes that really went to the receiver.
          const link = Impairment.layer({ ports: [0], corrupt: { probability: 1, fromByte: 42 } }).pipe(
            Layer.provideMerge(Capture.layer(file)),
            Layer.provide(Switch.layer()),
          )
          yield* Effect.scoped(
            Effect.gen(function* () {
              const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
              const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
              yield* b.udp.bind(9)
              yield* a.udp.send(1000, b.address, 9, pattern(200))
              yield* pollUntil(b.udp.stats, (s) => s.badChecksum === 1, "the corrupted datagram is refused")
              yield* (yield* PacketCapture).close
            }).pipe(Effect.provide(link)),
          )
          const ps = packetsOf(new Uint8Array(readFileSync(file)))
          const udpIndex = ps.findIndex((p) => p.data.length === 14 + 20 + 8 + 200)
          assert.ok(udpIndex >= 0)
          assert.deepEqual(flagged(file), [udpIndex + 1], "exactly the corrupted datagram")
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })),
  )

  it("only the listed ports, and never refused frames or runts", () =>
    run(Effect.gen(function* () {
      const mem = memorySink()
      const sw = yield* Switch.make()
      const cap = yield* Capture.wrap(sw, mem.sink, { ports: [1] })
      const a = yield* cap.register()
      const b = yield* cap.register({ mtu: 100 })
      yield* toEffect(cap.transmit(a.id, ethFrame(MAC_B, MAC_A, 0x88b5, pattern(50)))) // port 0: not captured
      yield* toEffect(cap.transmit(b.id, ethFrame(MAC_A, MAC_B, 0x88b5, pattern(50))))
      yield* Effect.exit(toEffect(cap.transmit(b.id, ethFrame(MAC_A, MAC_B, 0x88b5, pattern(101))))) // FrameTooLarge
      yield* toEffect(cap.transmit(b.id, new Uint8Array(10))) // runt
      const st = yield* cap.capture.close
      assert.equal(st.frames, 1)
      assert.equal(packetsOf(concat(mem.chunks)).length, 1)
      assert.equal((yield* sw.portStats(b.id)).txPackets, 1)
    })))
})

// ---- Capture: one device --------------------------------------------------------------------------------------------

describe("Capture: one device", () => {
  it(
    "records every frame in and out of a stack's device, with directions (pcapng), tshark-clean",
    needsTshark,
    () =>
      run(Effect.gen(function* () {
        const dir = tempDir()
        try {
          const file = join(dir, "device.pcapng")
          yield* Effect.scoped(
            Effect.gen(function* () {
              const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
              const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
              const before = yield* a.vnetif.stats
              const cap = yield* Capture.device(a.vnetif, file, { format: "pcapng" })
              yield* a.icmp.ping(b.address)
              const after = yield* a.vnetif.stats // read just before close: frames keep flowing (ARP) after the ping
              const st = yield* cap.close
              const seen = after.txPackets + after.rxPackets - before.txPackets - before.rxPackets
              assert.equal(st.frames, seen, "every frame in and out since the capture started")
              assert.ok(st.frames >= 2, "at least the echo request and reply")
            }).pipe(Effect.provide(Switch.layer())),
          )
          const r = parseCapture(new Uint8Array(readFileSync(file)))
          assert.ok(Result.isSuccess(r))
          const f = r.success as PcapngFile
          assert.equal(f.interfaces[0].name, "port 0")
          const dirs = f.packets.map((p) => p.direction)
          assert.ok(dirs.includes("out") && dirs.includes("in"))
          assert.ok(dirs.every((d) => d !== undefined))
          assert.deepEqual(flagged(file), [])
          // tshark sees the direction too
          const out = tshark(["-r", file, "-T", "fields", "-e", "frame.packet_flags_direction"]).trim().split("\n")
          assert.equal(out.length, f.packets.length)
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })),
  )
})

// ---- determinism ----------------------------------------------------------------------------------------------------

describe("Capture: determinism", () => {
  it("same seed + TestClock ⇒ the same capture bytes twice (impaired ping + UDP); another seed differs", async () => {
    const once = (seed: string) =>
      runTest(
        Effect.gen(function* () {
          const mem = memorySink()
          const link = Impairment.layer({
            loss: { probability: 0.1 },
            duplicate: { probability: 0.1 },
            trailingBytes: { max: 4 },
            delay: { latency: "2 millis", jitter: "1 millis" },
            rate: { bitsPerSecond: 20_000_000 },
          }).pipe(
            Layer.provideMerge(Capture.layer(mem.sink, { format: "pcapng", resolution: "nano" })),
            Layer.provide(Switch.layer()),
          )
          yield* Effect.scoped(
            Effect.gen(function* () {
              const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
              const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
              yield* b.udp.listen(7, (d, sock) => Effect.orDie(sock.send(d.src, d.srcPort, d.data)))
              const sock = yield* a.udp.bind(0)
              const work = Effect.gen(function* () {
                // ARP first: announcements no longer fill caches (issue 15's policy), and a lost reply is retried
                // after 1.5 s, longer than the 50 ms pings below
                yield* Effect.exit(a.icmp.ping(b.address, { timeout: "5 seconds" }))
                for (let i = 0; i < 10; i++) {
                  yield* Effect.exit(a.icmp.ping(b.address, { timeout: "50 millis", size: 100 + i * 100 }))
                  yield* sock.send(b.address, 7, pattern(50 + i * 120, i))
                }
              })
              const f = yield* Effect.forkChild(work)
              for (let t = 0; t < 5000 && f.pollUnsafe() === undefined; t++) yield* TestClock.adjust("1 millis")
              yield* Fiber.join(f)
              yield* TestClock.adjust("100 millis")
              yield* (yield* PacketCapture).close
            }).pipe(Effect.provide(link)),
          )
          return concat(mem.chunks)
        }).pipe(Random.withSeed(seed)),
      )
    const one = await once("s1")
    assert.ok(packetsOf(one).length > 20)
    const again = await once("s1")
    assert.equal(hex(again), hex(one), "byte-identical")
    assert.notEqual(hex(await once("s2")), hex(one))
  })
})

// ---- Trace ----------------------------------------------------------------------------------------------------------

const captureLogs = <A, E, R>(e: Effect.Effect<A, E, R>, lines: Array<string>): Effect.Effect<A, E, R> =>
  e.pipe(
    Effect.provide(Logger.layer([Logger.make((o) => void lines.push(String(o.message)))])),
    Effect.provideService(References.MinimumLogLevel, "Debug"),
  )

describe("Trace", () => {
  it("formats ARP, ICMP, UDP and TCP like tcpdump", () => {
    const A = ip("10.0.0.1")
    const B = ip("10.0.0.2")
    const icmp = ipv4Frame(MAC_B, MAC_A, {
      src: A,
      dst: B,
      protocol: IpProtocol.Icmp,
      payload: echoRequest(1, 1, pattern(56)),
    })
    assert.equal(
      Trace.formatLine(icmp, 12_345_678_901n),
      "12.345678 02:50:00:00:00:00 > 02:50:00:00:00:01 IPv4 10.0.0.1 > 10.0.0.2: " +
        "ICMP echo request id 1 seq 1, length 64",
    )
    const udp = ipv4Frame(MAC_B, MAC_A, {
      src: A,
      dst: B,
      protocol: IpProtocol.Udp,
      payload: udpDatagram(A, B, 1000, 53, pattern(12)),
    })
    assert.equal(
      Trace.formatFrame(udp),
      "02:50:00:00:00:00 > 02:50:00:00:00:01 IPv4 10.0.0.1.1000 > 10.0.0.2.53: UDP, length 12",
    )
    const seg = (flags: number, payload: Uint8Array, withOptions: boolean) => {
      const repr: TcpRepr = {
        srcPort: 80,
        dstPort: 49152,
        seqNumber: 7,
        ackNumber: 1001,
        flags,
        windowLen: 65535,
        urgentPointer: 0,
        options: withOptions
          ? { mss: 1460, sackPermitted: true, sackBlocks: [], timestamps: { tsVal: 5, tsEcr: 9 }, windowScale: 7 }
          : { sackPermitted: false, sackBlocks: [] },
        payload,
      }
      const b = new Uint8Array(TcpRepr.bufferLen(repr))
      TcpRepr.emit(repr, b, pseudoHeaderSum(B, A, 6, b.length), ChecksumCapabilities.all)
      return ipv4Frame(MAC_A, MAC_B, { src: B, dst: A, protocol: IpProtocol.Tcp, payload: b })
    }
    assert.equal(
      Trace.formatFrame(seg(0x12, new Uint8Array(0), true)),
      "02:50:00:00:00:01 > 02:50:00:00:00:00 IPv4 10.0.0.2.80 > 10.0.0.1.49152: " +
        "Flags [S.], seq 7, ack 1001, win 65535, " +
        "options [mss 1460,sackOK,TS val 5 ecr 9,nop,wscale 7], length 0",
    )
    assert.equal(
      Trace.formatFrame(seg(0x18, pattern(100), false)),
      "02:50:00:00:00:01 > 02:50:00:00:00:00 IPv4 10.0.0.2.80 > 10.0.0.1.49152: " +
        "Flags [P.], seq 7:107, ack 1001, win 65535, length 100",
    )
    assert.equal(
      Trace.formatFrame(seg(0x04, new Uint8Array(0), false)),
      "02:50:00:00:00:01 > 02:50:00:00:00:00 IPv4 10.0.0.2.80 > 10.0.0.1.49152: Flags [R], seq 7, win 65535, length 0",
    )
    assert.equal(Trace.formatFrame(new Uint8Array(5)), "truncated Ethernet frame, length 5")
    assert.match(
      Trace.formatFrame(ethFrame(MAC_B, MAC_A, EtherType.Ipv4, pattern(30))),
      /^02:50:00:00:00:00 > 02:50:00:00:00:01 IPv4 /,
    )
    assert.equal(
      Trace.formatFrame(ethFrame(MAC_B, MAC_A, 0x88b5, pattern(30))),
      "02:50:00:00:00:00 > 02:50:00:00:00:01 ethertype 0x88b5, length 30",
    )
    // never throws, whatever the bytes
    for (let i = 0; i < 2000; i++) {
      const f = pattern(14 + (i % 80), i)
      f[12] = i % 2 === 0 ? 0x08 : 0x08
      f[13] = i % 3 === 0 ? 0x06 : 0x00
      Trace.formatFrame(f)
    }
  })

  it("Trace.layer logs one line per frame at Debug for a ping between two stacks", () =>
    runTest(Effect.gen(function* () {
      const lines: Array<string> = []
      yield* captureLogs(
        Effect.scoped(
          Effect.gen(function* () {
            const a = yield* Stack.make({ cidr: "10.0.0.1/24" })
            const b = yield* Stack.make({ cidr: "10.0.0.2/24" })
            const f = yield* Effect.forkChild(a.icmp.ping(b.address))
            for (let t = 0; t < 100 && f.pollUnsafe() === undefined; t++) yield* TestClock.adjust("1 millis")
            yield* Fiber.join(f)
          }).pipe(Effect.provide(Trace.layer().pipe(Layer.provide(Switch.layer())))),
        ),
        lines,
      )
      const trace = lines.filter((l) => /^\d+\.\d{6} /.test(l))
      assert.ok(
        trace.some((l) => / ARP, Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1, length 28$/.test(l)),
        trace.join("\n"),
      )
      assert.ok(trace.some((l) => / ARP, Reply 10\.0\.0\.2 is-at 02:50:00:00:00:01, length 28$/.test(l)))
      assert.ok(
        trace.some((l) =>
          /^\d+\.\d{6} 02:50:00:00:00:00 > 02:50:00:00:00:01 IPv4 10\.0\.0\.1 > 10\.0\.0\.2: ICMP /.test(l) &&
          /: ICMP echo request id \d+ seq \d+, length 64$/.test(l)
        ),
      )
      assert.ok(trace.some((l) => /IPv4 10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply id \d+ seq \d+, length 64$/.test(l)))
    })))

  it("costs nothing when its level is not enabled (Info minimum, Debug trace)", () =>
    run(Effect.gen(function* () {
      const lines: Array<string> = []
      const sw = yield* Switch.make()
      const tr = yield* Trace.wrap(sw).pipe(
        Effect.provide(Logger.layer([Logger.make((o) => void lines.push(String(o.message)))])),
      )
      const a = yield* tr.register()
      yield* toEffect(tr.transmit(a.id, ethFrame(MAC_B, MAC_A, 0x88b5, pattern(30))))
      assert.deepEqual(yield* tr.trace.stats, { lines: 0, dropped: 0, enabled: false })
      assert.deepEqual(lines, [])
    })))

  it("Trace.device traces both directions with annotations", () =>
    run(Effect.gen(function* () {
      const lines: Array<string> = []
      yield* captureLogs(
        Effect.scoped(
          Effect.gen(function* () {
            const a = yield* Stack.make({ cidr: "10.0.0.1/24" })
            const b = yield* Stack.make({ cidr: "10.0.0.2/24" })
            const tr = yield* Trace.device(a.vnetif)
            yield* a.icmp.ping(b.address)
            yield* pollUntil(tr.stats, (s) => s.lines >= 2, "two lines")
          }).pipe(Effect.provide(Switch.layer())),
        ),
        lines,
      )
      assert.ok(lines.some((l) => l.includes("ICMP echo request")))
      assert.ok(lines.some((l) => l.includes("ICMP echo reply")))
    })))
})

// ---- LinkMetrics ---------------------------------------------------------------------------------------------------

describe("LinkMetrics", () => {
  it("stats and Effect Metrics per port and per link, drops by reason, retired ports kept in the totals", () =>
    run(
      Effect.gen(function* () {
        const link = LinkMetrics.layer({ name: "lab" }).pipe(
          Layer.provideMerge(Impairment.layer({ ports: [0], smallFrameLoss: { probability: 1, maxBytes: 20 } })),
          Layer.provide(Switch.layer()),
        )
        yield* Effect.gen(function* () {
          const m = yield* LinkMetricsService
          const backend = yield* Backend
          yield* Effect.scoped(Effect.gen(function* () {
            const a = yield* Stack.make({ cidr: "10.0.0.1/24" })
            const b = yield* Stack.make({ cidr: "10.0.0.2/24" })
            yield* a.icmp.ping(b.address)
            // 20 bytes from port 0: smallFrameLoss drops it
            yield* toEffect(backend.transmit(a.vnetif.id, new Uint8Array(20).fill(0xff)))
            const s = yield* m.publish
            assert.equal(s.name, "lab")
            assert.equal(s.ports.length, 2)
            assert.equal(s.drops.small_frame, 1)
            const txA = s.ports[0].txPackets
            const v = yield* Metric.value(
              Metric.withAttributes(LinkMetricKeys.portFrames, { link: "lab", port: "0", direction: "tx" }),
            )
            assert.equal(v.count, txA)
            const d = yield* Metric.value(
              Metric.withAttributes(LinkMetricKeys.linkDrops, { link: "lab", reason: "small_frame" }),
            )
            assert.equal(d.count, 1)
            const table = LinkMetrics.format(s)
            assert.match(table, /link lab: 2 port\(s\)/)
            assert.match(table, /total/)
            assert.match(table, /small_frame 1/)
          }))
          const after = yield* m.publish
          assert.equal(after.ports.length, 0)
          assert.equal(after.retiredPorts, 2)
          assert.ok(after.totals.txPackets >= 4, "ARP and ICMP both ways")
          const lf = yield* Metric.value(
            Metric.withAttributes(LinkMetricKeys.linkFrames, { link: "lab", direction: "tx" }),
          )
          assert.equal(lf.count, after.totals.txPackets, "the link counter never goes back, retired ports included")
          yield* m.publish
          const again = yield* Metric.value(
            Metric.withAttributes(LinkMetricKeys.linkFrames, { link: "lab", direction: "tx" }),
          )
          assert.equal(again.count, lf.count, "publishing twice adds nothing")
        }).pipe(Effect.provide(link))
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
    ))

  it("publishes every interval on its own fiber (TestClock)", () =>
    runTest(
      Effect.gen(function* () {
        const link = LinkMetrics.layer({ interval: "1 second" }).pipe(Layer.provide(Switch.layer()))
        yield* Effect.gen(function* () {
          const backend = yield* Backend
          const a = yield* backend.register()
          const b = yield* backend.register()
          yield* backend.setListener(b.id, () => Effect.void)
          for (let i = 0; i < 3; i++) {
            yield* toEffect(backend.transmit(a.id, ethFrame(MAC_B, MAC_A, 0x88b5, pattern(50))))
          }
          const key = Metric.withAttributes(LinkMetricKeys.linkFrames, { link: "switch", direction: "tx" })
          assert.equal((yield* Metric.value(key)).count, 0, "nothing before the first interval")
          yield* TestClock.adjust("1 second")
          assert.equal((yield* Metric.value(key)).count, 3)
        }).pipe(Effect.provide(link))
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
    ))
})
