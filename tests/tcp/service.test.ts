/**
 * Tests of the TCP service between stacks on a switch: hello world, Stream/Sink use, the handler form, typed errors
 * (refused, connect timeout under TestClock, invalid arguments, address in use, no route), keepalive detecting a
 * silent peer (TestClock + a partitioned link), simultaneous close leaving nothing behind (also with FINs forced to
 * cross), the FIN-WAIT-2 orphan timeout, and closing a stack's scope resetting its connections and stopping its
 * timer fiber.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { Backend } from "../../src/link/Backend.ts"
import { Impairment } from "../../src/link/middleware/Impairment.ts"
import { Switch } from "../../src/link/Switch.ts"
import { TcpError } from "../../src/tcp/Tcp.ts"
import { pollUntil, run, runTest, withSwitch } from "../support/TestDevice.ts"
import { fnv1a, node, randomBytes, receiveAll, sendAll } from "./_service.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

const failure = <A>(exit: Exit.Exit<A, TcpError>): TcpError => {
  assert.ok(Exit.isFailure(exit), "expected a failure")
  const e = exit.cause.reasons.find((r) => r._tag === "Fail")
  assert.ok(e !== undefined && e._tag === "Fail", `expected a TcpError, got ${String(exit.cause)}`)
  assert.ok(e.error instanceof TcpError)
  return e.error
}

describe("Tcp: connect and hello", () => {
  it("hello world both ways, then both ends see the end of stream", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const listener = yield* b.tcp.listen(80)
        const server = yield* Effect.forkChild(Effect.gen(function* () {
          const conn = yield* listener.accept
          assert.equal(conn.remoteAddress, a.address)
          assert.equal(conn.localPort, 80)
          const got = yield* receiveAll(conn)
          yield* conn.write(enc.encode("hello from B"))
          yield* conn.close
          return got
        }))
        const conn = yield* a.tcp.connect("10.0.0.2", 80)
        assert.equal(conn.remotePort, 80)
        assert.equal(conn.remoteAddress, b.address)
        assert.ok(conn.localPort >= 49152)
        assert.equal(yield* conn.state, "ESTABLISHED")
        yield* conn.write(enc.encode("hello world"))
        yield* conn.closeWrite
        const reply = yield* conn.read
        assert.equal(dec.decode(reply), "hello from B")
        assert.equal(yield* conn.read, undefined)
        assert.equal(yield* conn.read, undefined, "the end of stream repeats")
        const got = yield* Fiber.join(server)
        assert.deepEqual(got, { length: 11, hash: fnv1a(enc.encode("hello world")) })
        const stats = yield* conn.stats
        assert.equal(stats.bytesWritten, 11)
        assert.equal(stats.bytesRead, 12)
        assert.ok(stats.srtt >= 0 && stats.rto >= 200)
      })
    )))

  it("stream and sink: an echo server written with Stream.run(conn.stream, conn.sink)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        yield* b.tcp.serve(7, (conn) =>
          Stream.run(conn.stream, conn.sink).pipe(
            Effect.andThen(conn.closeWrite),
          ))
        const conn = yield* a.tcp.connect(b.address, 7)
        const data = randomBytes(300_000, 7)
        const reader = yield* Effect.forkChild(Stream.runFold(conn.stream, () => [0, 0x811c9dc5], ([n, h], d) => [
          n + d.length,
          fnv1a(d, h),
        ]))
        yield* Stream.run(
          Stream.fromIterable([0, 1, 2, 3, 4, 5].map((i) => data.subarray(i * 50_000, (i + 1) * 50_000))),
          conn.sink,
        )
        yield* conn.closeWrite
        const [n, h] = yield* Fiber.join(reader)
        assert.equal(n, data.length)
        assert.equal(h, fnv1a(data))
      })
    )))

  it("listener.connections is a Stream of accepted connections; readInto fills a buffer", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const listener = yield* b.tcp.listen(0)
        assert.ok(listener.localPort >= 49152)
        const server = yield* Effect.forkChild(
          listener.connections.pipe(
            Stream.take(3),
            Stream.mapEffect((conn) =>
              Effect.gen(function* () {
                const buf = new Uint8Array(4)
                const n = yield* conn.readInto(buf)
                yield* conn.close
                return dec.decode(buf.subarray(0, n))
              })
            ),
            Stream.runCollect,
          ),
        )
        for (const word of ["one", "two", "six"]) {
          const conn = yield* a.tcp.connect(b.address, listener.localPort)
          yield* conn.write(enc.encode(word))
          const buf = new Uint8Array(8)
          assert.equal(yield* conn.readInto(buf), 0, "server closed: end of stream")
        }
        assert.deepEqual(yield* Fiber.join(server), ["one", "two", "six"])
        const ls = yield* listener.stats
        assert.equal(ls.accepted, 3)
      })
    )))

  it("serve: a failing handler aborts its connection (the peer sees Reset); others go on", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        yield* b.tcp.serve(80, (conn) =>
          Effect.gen(function* () {
            const d = yield* conn.read
            if (d !== undefined && dec.decode(d) === "fail") return yield* Effect.fail("handler gave up")
            yield* conn.write(enc.encode("ok"))
          }))
        const bad = yield* a.tcp.connect(b.address, 80)
        yield* bad.write(enc.encode("fail"))
        const e = failure(yield* Effect.exit(bad.read))
        assert.equal(e.reason, "Reset")
        const good = yield* a.tcp.connect(b.address, 80)
        yield* good.write(enc.encode("hi"))
        assert.equal(dec.decode(yield* good.read), "ok")
        assert.equal(yield* good.read, undefined)
      })
    )))
})

describe("Tcp: typed errors", () => {
  it("a closed port refuses the connection (RST) → Refused", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const e = failure(yield* Effect.exit(Effect.scoped(a.tcp.connect(b.address, 81))))
        assert.equal(e.reason, "Refused")
        assert.match(e.message, /refused/)
        assert.equal((yield* b.tcp.stats).resetsSent, 1)
        assert.equal((yield* a.tcp.stats).connections, 0)
      })
    )))

  it("no answer → TimedOut after the connect timeout (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const f = yield* Effect.forkChild(
          Effect.exit(Effect.scoped(a.tcp.connect("10.0.0.99", 80, { timeout: "3 seconds" }))),
        )
        for (let i = 0; i < 40 && f.pollUnsafe() === undefined; i++) yield* TestClock.adjust("100 millis")
        const e = failure(yield* Fiber.join(f))
        assert.equal(e.reason, "TimedOut")
        assert.match(e.message, /timed out/)
        assert.equal((yield* a.tcp.stats).connections, 0)
      })
    )))

  it("invalid arguments, address in use, no route", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const reason = (e: Effect.Effect<unknown, TcpError, Scope.Scope>) =>
          Effect.map(Effect.exit(Effect.scoped(e)), (x) => failure(x).reason)
        assert.equal(yield* reason(a.tcp.connect("10.0.0.300", 80)), "InvalidArgument")
        assert.equal(yield* reason(a.tcp.connect("10.0.0.2", 0)), "InvalidArgument")
        assert.equal(yield* reason(a.tcp.connect("10.0.0.2", 80, { sendBufferSize: 3 })), "InvalidArgument")
        assert.equal(yield* reason(a.tcp.connect("10.0.0.2", 80, { timeout: -5 })), "InvalidArgument")
        assert.equal(yield* reason(a.tcp.connect("10.0.0.255", 80)), "InvalidArgument")
        assert.equal(yield* reason(a.tcp.connect("192.168.1.1", 80)), "NoRoute")
        assert.equal(yield* reason(a.tcp.listen(70000)), "InvalidArgument")
        assert.equal(yield* reason(a.tcp.listen(80, { backlog: 0 })), "InvalidArgument")
        yield* a.tcp.listen(80)
        assert.equal(yield* reason(a.tcp.listen(80)), "AddressInUse")
        // the listener's scope closed: the port is free again
        yield* Effect.scoped(a.tcp.listen(81))
        yield* a.tcp.listen(81)
      })
    )))

  it("a bad layer configuration fails with InvalidConfig", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const { Tcp } = yield* Effect.promise(() => import("../../src/tcp/Tcp.ts"))
        const { Ip } = yield* Effect.promise(() => import("../../src/ip/Ip.ts"))
        const a = yield* node("10.0.0.1/24")
        const exit = yield* Effect.exit(
          Effect.provideService(Tcp.make({ delayedAck: 500, congestion: "vegas" as "cubic" }), Ip, a.stack.ip),
        )
        const e = failure(exit)
        assert.equal(e.reason, "InvalidConfig")
        assert.match(e.message, /delayedAck/)
        assert.match(e.message, /congestion/)
      })
    )))

  it("the configuration: every default filled in, durations as Duration strings, a misspelled key named", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const { Tcp } = yield* Effect.promise(() => import("../../src/tcp/Tcp.ts"))
        const { Ip } = yield* Effect.promise(() => import("../../src/ip/Ip.ts"))
        const a = yield* node("10.0.0.1/24", { tcp: { timeWait: "50 millis", keepalive: { idle: "2 seconds" } } })
        const cfg = a.tcp.config
        assert.equal(cfg.timeWait, 50)
        assert.deepEqual(cfg.keepalive, { enabled: false, idle: 2000, interval: 10_000, probes: 5 })
        assert.equal(cfg.connectTimeout, 30_000)
        assert.equal(cfg.minRto, 200)
        assert.equal(cfg.backlog, 128)
        assert.equal(cfg.sendBufferSize, 256 * 1024)
        assert.equal(cfg.mssClamp, undefined, "no clamp unless set")
        const exit = yield* Effect.exit(
          Effect.provideService(Tcp.make({ timeWiat: 5 } as unknown as { timeWait: number }), Ip, a.stack.ip),
        )
        const e = failure(exit)
        assert.equal(e.reason, "InvalidConfig")
        assert.match(e.message, /timeWiat/)
      })
    )))
})

describe("Tcp: keepalive and closing", () => {
  it("keepalive detects a peer that went silent → TimedOut (TestClock)", () =>
    runTest(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const link = yield* Impairment.wrap(sw, {})
      yield* Effect.provideService(
        Effect.gen(function* () {
          const a = yield* node("10.0.0.1/24")
          const b = yield* node("10.0.0.2/24")
          const listener = yield* b.tcp.listen(80)
          const conn = yield* a.tcp.connect(b.address, 80, {
            keepalive: { enabled: true, idle: 2000, interval: 500, probes: 3 },
          })
          yield* listener.accept
          yield* conn.write(enc.encode("ping"))
          const reader = yield* Effect.forkChild(Effect.exit(conn.read))
          // while the peer answers, probes keep the connection up
          for (let i = 0; i < 60; i++) yield* TestClock.adjust("100 millis")
          assert.equal(reader.pollUnsafe(), undefined, "still connected after 6 s of answered probes")
          yield* link.setPartitioned(true)
          for (let i = 0; i < 60 && reader.pollUnsafe() === undefined; i++) yield* TestClock.adjust("100 millis")
          const e = failure(yield* Fiber.join(reader))
          assert.equal(e.reason, "TimedOut")
          assert.match(e.message, /keepalive/)
          // heal the link so the server's graceful close (scope end) gets its answer (a RST) under the TestClock
          yield* link.setPartitioned(false)
        }),
        Backend,
        link,
      )
    })))

  it("simultaneous close: both ends close at once and no connection is left behind", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { tcp: { timeWait: 50 } })
        const b = yield* node("10.0.0.2/24", { tcp: { timeWait: 50 } })
        const listener = yield* b.tcp.listen(80)
        for (let round = 0; round < 5; round++) {
          const ca = yield* a.tcp.connect(b.address, 80)
          const cb = yield* listener.accept
          yield* ca.write(enc.encode("x"))
          yield* cb.write(enc.encode("y"))
          yield* Effect.all([ca.close, cb.close], { concurrency: "unbounded" })
          const sa = yield* ca.state
          const sb = yield* cb.state
          assert.ok(["FIN-WAIT-2", "CLOSING", "TIME-WAIT", "CLOSED"].includes(sa), sa)
          assert.ok(["FIN-WAIT-2", "CLOSING", "TIME-WAIT", "CLOSED", "LAST-ACK"].includes(sb), sb)
        }
        yield* pollUntil(
          Effect.zip(a.tcp.stats, b.tcp.stats),
          ([x, y]) => x.connections === 0 && y.connections === 0,
          "both connection tables empty",
          1_000_000,
        )
      })
    )))

  it("crossing FINs (both ends in FIN-WAIT-1): CLOSING, TIME-WAIT, and both tables end empty", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const link = yield* Impairment.wrap(sw, {})
      yield* Effect.provideService(
        Effect.gen(function* () {
          const a = yield* node("10.0.0.1/24", { tcp: { timeWait: 50 } })
          const b = yield* node("10.0.0.2/24", { tcp: { timeWait: 50 } })
          const listener = yield* b.tcp.listen(80)
          const ca = yield* a.tcp.connect(b.address, 80)
          const cb = yield* listener.accept
          // both FINs are lost: each end stays in FIN-WAIT-1 until its retransmitted FIN meets the other's
          yield* link.setPartitioned(true)
          yield* Effect.all([ca.closeWrite, cb.closeWrite])
          assert.equal(yield* ca.state, "FIN-WAIT-1")
          assert.equal(yield* cb.state, "FIN-WAIT-1")
          yield* link.setPartitioned(false)
          const seen = new Set<string>()
          yield* pollUntil(
            Effect.gen(function* () {
              seen.add(yield* ca.state)
              seen.add(yield* cb.state)
              return [(yield* a.tcp.stats).connections, (yield* b.tcp.stats).connections]
            }),
            ([x, y]) => x === 0 && y === 0,
            "both connection tables empty",
            1_000_000,
          )
          assert.ok(seen.has("CLOSING") || seen.has("TIME-WAIT"), [...seen].join(","))
          assert.equal(yield* ca.read, undefined)
          assert.equal(yield* cb.read, undefined)
        }),
        Backend,
        link,
      )
    })))

  it("an orphan in FIN-WAIT-2 is aborted after finWait2Timeout when the peer never closes (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { tcp: { finWait2Timeout: 5000 } })
        const b = yield* node("10.0.0.2/24")
        const listener = yield* b.tcp.listen(80)
        const ca = yield* a.tcp.connect(b.address, 80)
        const cb = yield* listener.accept
        yield* ca.close
        assert.equal(yield* ca.state, "FIN-WAIT-2")
        assert.equal(yield* cb.read, undefined, "B saw the FIN")
        assert.equal(yield* cb.state, "CLOSE-WAIT")
        assert.equal((yield* a.tcp.stats).connections, 1)
        for (let i = 0; i < 60 && (yield* a.tcp.stats).connections > 0; i++) yield* TestClock.adjust("100 millis")
        assert.equal((yield* a.tcp.stats).connections, 0)
        // A's RST reached B: its connection is gone too
        const e = failure(yield* Effect.exit(cb.write(enc.encode("too late"))))
        assert.equal(e.reason, "Reset")
        assert.equal((yield* b.tcp.stats).connections, 0)
      })
    )))

  it("closing a stack's scope resets its connections, fails its readers and stops its timer fiber", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const b = yield* node("10.0.0.2/24")
        const scopeA = yield* Scope.make()
        const a = yield* Scope.provide(node("10.0.0.1/24"), scopeA)
        const listener = yield* b.tcp.listen(80)
        // the connections live in the outer scope: closing scopeA shuts the stack down under them
        const conns = yield* Effect.forEach([1, 2, 3], () => a.tcp.connect(b.address, 80))
        const peers = yield* Effect.forEach(conns, () => listener.accept)
        const peerReads = yield* Effect.forEach(peers, (p) => Effect.forkChild(Effect.exit(p.read)))
        const localReads = yield* Effect.forEach(conns, (c) => Effect.forkChild(Effect.exit(c.read)))
        assert.equal((yield* a.tcp.stats).timerRunning, true)
        yield* Scope.close(scopeA, Exit.void)
        for (const f of peerReads) assert.equal(failure(yield* Fiber.join(f)).reason, "Reset")
        for (const f of localReads) {
          const e = failure(yield* Fiber.join(f))
          assert.equal(e.reason, "Closed")
          assert.match(e.message, /shut down/)
        }
        const st = yield* a.tcp.stats
        assert.equal(st.timerRunning, false)
        assert.equal(st.connections, 0)
        assert.equal((yield* b.tcp.stats).connections, 0)
        const again = failure(yield* Effect.exit(Effect.scoped(a.tcp.connect(b.address, 80))))
        assert.equal(again.reason, "Closed")
      })
    )))

  it("close waits until the FIN is acknowledged; reading after close fails with Closed", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const listener = yield* b.tcp.listen(80)
        const data = randomBytes(1_000_000, 3)
        const conn = yield* a.tcp.connect(b.address, 80)
        const server = yield* Effect.forkChild(Effect.flatMap(listener.accept, (c) => receiveAll(c)))
        yield* conn.write(data)
        yield* conn.close
        assert.ok(["FIN-WAIT-2", "TIME-WAIT", "CLOSED"].includes(yield* conn.state))
        const got = yield* Fiber.join(server)
        assert.deepEqual(got, { length: data.length, hash: fnv1a(data) })
        assert.equal(failure(yield* Effect.exit(conn.read)).reason, "Closed")
        assert.equal(failure(yield* Effect.exit(conn.write(data))).reason, "Closed")
      })
    )))

  it("close on one fiber wakes a reader and a blocked writer on others: both fail with Closed", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { tcp: { sendBufferSize: 4096 } })
        const b = yield* node("10.0.0.2/24", { tcp: { receiveBufferSize: 4096 } })
        const listener = yield* b.tcp.listen(80)
        const conn = yield* a.tcp.connect(b.address, 80)
        yield* listener.accept // B never reads: A's writer blocks once both buffers are full
        const reader = yield* Effect.forkChild(Effect.exit(conn.read))
        const writer = yield* Effect.forkChild(Effect.exit(conn.write(randomBytes(100_000, 5))))
        // the writer has filled the send buffer and waits for room that never comes; the reader waits for data
        yield* pollUntil(conn.stats, (st) => st.bytesWritten >= 4096, "the writer filled its buffer")
        yield* Effect.forkChild(conn.close)
        const r = yield* Fiber.join(reader).pipe(Effect.timeout("2 seconds"))
        const w = yield* Fiber.join(writer).pipe(Effect.timeout("2 seconds"))
        assert.equal(failure(r).reason, "Closed")
        assert.equal(failure(w).reason, "Closed")
      })
    )))

  it("the sink pushes a stream through a connection", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const listener = yield* b.tcp.listen(9)
        const conn = yield* a.tcp.connect(b.address, 9)
        const peer = yield* listener.accept
        const data = randomBytes(200_000, 9)
        yield* Effect.forkChild(
          Effect.andThen(Stream.run(Stream.make(data.subarray(0, 1), data.subarray(1)), conn.sink), conn.closeWrite),
        )
        const chunks = yield* Stream.run(peer.stream, Sink.collect())
        const total = chunks.reduce((n, c) => n + c.length, 0)
        assert.equal(total, data.length)
        assert.equal(chunks.reduce((h, c) => fnv1a(c, h), 0x811c9dc5), fnv1a(data))
      })
    )))

  it("sendAll + receiveAll round trip with small buffers (backpressure in both directions)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { tcp: { sendBufferSize: 4096, receiveBufferSize: 4096 } })
        const b = yield* node("10.0.0.2/24", { tcp: { sendBufferSize: 4096, receiveBufferSize: 4096 } })
        const listener = yield* b.tcp.listen(80)
        const data = randomBytes(500_000, 11)
        const conn = yield* a.tcp.connect(b.address, 80)
        const server = yield* Effect.forkChild(Effect.flatMap(listener.accept, (c) => receiveAll(c)))
        yield* sendAll(conn, data, 65536)
        assert.deepEqual(yield* Fiber.join(server), { length: data.length, hash: fnv1a(data) })
      })
    )))
})
