/**
 * Tests of the Impairment middleware's time-based stages, `delay` (latency, jitter, correlation, reorder) and `rate`
 * (token bucket + bounded queue), under TestClock: exact arrival times, bounds and order of jittered frames, the
 * virtual-time spacing of a shaped burst (frame bits / rate) and the counted tail drop of the queue, the bucket's
 * burst, the default queue (bandwidth-delay product), a long shaped flood converging on the rate, flush on
 * unregister / scope close, deterministic replay, and two stacks over a delayed link (ping and UDP echo RTTs).
 *
 * Arrival times are read from the Clock inside the receiving port's listener, which runs on the switch's reader
 * fiber with the test's TestClock.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import type { BackendError, FrameListener, PortInfo } from "../../../src/link/Backend.ts"
import { Impairment, type ImpairmentHandle, type ImpairmentSpec } from "../../../src/link/middleware/Impairment.ts"
import { Switch, type SwitchShape } from "../../../src/link/Switch.ts"
import { Stack } from "../../../src/Stack.ts"
import { ip, pattern } from "../../support/TestDevice.ts"
import { mkFrame, range, runTest, seqOf, yieldUntil } from "../_support.ts"
import { toEffect } from "../../../src/util/Transmit.ts"

/** A listener that records each frame's sequence number and its arrival time (Clock ms). */
interface Timed {
  readonly seqs: Array<number>
  readonly times: Array<number>
  readonly sizes: Array<number>
  readonly listener: FrameListener
}

const timed = (): Timed => {
  const seqs: Array<number> = []
  const times: Array<number> = []
  const sizes: Array<number> = []
  const listener: FrameListener = (f) =>
    Effect.map(Clock.currentTimeMillis, (t) => {
      seqs.push(seqOf(f))
      times.push(t)
      sizes.push(f.length)
    })
  return { seqs, times, sizes, listener }
}

interface Rig {
  readonly sw: SwitchShape
  readonly imp: ImpairmentHandle
  readonly a: PortInfo
  readonly b: PortInfo
  readonly rx: Timed
  readonly send: (seq: number, size?: number) => Effect.Effect<void, BackendError>
}

const rig = (spec: ImpairmentSpec): Effect.Effect<Rig, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const sw = yield* Switch.make({ queueCapacity: 1 << 16 })
    const imp = yield* Impairment.wrap(sw, spec)
    const a = yield* imp.register()
    const b = yield* imp.register()
    const rx = timed()
    yield* imp.setListener(b.id, rx.listener)
    const send = (seq: number, size = 64) => toEffect(imp.transmit(a.id, mkFrame(b.mac, a.mac, seq, size)))
    return { sw, imp, a, b, rx, send }
  })

/** Lets the reader fibers run (no time passes). */
const settle: Effect.Effect<void> = Effect.forEach(range(0, 20), () => Effect.yieldNow, { discard: true })

const close = (x: number, y: number, what: string): void => assert.ok(Math.abs(x - y) < 1e-6, `${what}: ${x} ≠ ${y}`)

describe("Shaping: latency", () => {
  it("a frame written at t=0 with latency 10 ms arrives at exactly t=10 ms, not before", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ delay: { latency: "10 millis" } })
      yield* r.send(1)
      yield* settle
      assert.deepEqual(r.rx.seqs, [], "nothing at t=0")
      assert.equal((yield* r.imp.stats).inFlight, 1)
      yield* TestClock.adjust("9.999 millis")
      yield* settle
      assert.deepEqual(r.rx.seqs, [], "nothing at t=9.999 ms")
      yield* TestClock.adjust("0.001 millis")
      yield* yieldUntil(() => r.rx.seqs.length === 1, "delivery at t=10")
      assert.deepEqual(r.rx.seqs, [1])
      close(r.rx.times[0], 10, "arrival time")
      const st = yield* r.imp.stats
      assert.equal(st.delayed, 1)
      assert.equal(st.inFlight, 0)
      assert.equal(st.passed, 1)
    })))

  it("frames written over time each arrive exactly `latency` later, in order", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ delay: { latency: 25 } })
      for (let i = 0; i < 50; i++) {
        yield* r.send(i)
        yield* TestClock.adjust("3 millis")
      }
      yield* TestClock.adjust("30 millis")
      yield* yieldUntil(() => r.rx.seqs.length === 50, "all delivered")
      assert.deepEqual(r.rx.seqs, range(0, 50))
      r.rx.times.forEach((t, i) => close(t, i * 3 + 25, `frame ${i}`))
    })))
})

describe("Shaping: jitter", () => {
  it("stays within latency ± jitter, keeps the order by default, and spreads the delays", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ delay: { latency: "20 millis", jitter: "8 millis" }, seed: 5 })
      const n = 400
      for (let i = 0; i < n; i++) {
        yield* r.send(i)
        yield* TestClock.adjust("1 millis")
      }
      yield* TestClock.adjust("30 millis")
      yield* yieldUntil(() => r.rx.seqs.length === n, "all delivered")
      assert.deepEqual(r.rx.seqs, range(0, n), "no reordering")
      const delays = r.rx.times.map((t, i) => t - i)
      for (const [i, d] of delays.entries()) assert.ok(d >= 12 - 1e-9 && d <= 28 + 1e-9, `frame ${i}: delay ${d}`)
      for (let i = 1; i < n; i++) assert.ok(r.rx.times[i] >= r.rx.times[i - 1], "arrival times never go back")

      // Frames further apart than the jitter's range are never held back by the one before: the whole range shows.
      const s = yield* rig({ delay: { latency: "20 millis", jitter: "8 millis" }, seed: 6 })
      const t0 = yield* Clock.currentTimeMillis
      for (let i = 0; i < 200; i++) {
        yield* s.send(i)
        yield* TestClock.adjust("20 millis")
      }
      yield* TestClock.adjust("30 millis")
      yield* yieldUntil(() => s.rx.seqs.length === 200, "all delivered")
      const spread = s.rx.times.map((t, i) => t - t0 - i * 20)
      for (const [i, d] of spread.entries()) assert.ok(d >= 12 - 1e-9 && d <= 28 + 1e-9, `frame ${i}: delay ${d}`)
      assert.ok(spread.some((d) => d < 13) && spread.some((d) => d > 27), "the jitter's whole range is used")
      const mean = spread.reduce((x, y) => x + y, 0) / spread.length
      assert.ok(Math.abs(mean - 20) < 1, `mean delay ${mean}`)
    })))

  it("with reorder: true, a jitter larger than the spacing reorders frames, each delivered once", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ delay: { latency: 20, jitter: 10, reorder: true }, seed: 9 })
      const n = 300
      for (let i = 0; i < n; i++) {
        yield* r.send(i)
        yield* TestClock.adjust("1 millis")
      }
      yield* TestClock.adjust("40 millis")
      yield* yieldUntil(() => r.rx.seqs.length === n, "all delivered")
      assert.notDeepEqual(r.rx.seqs, range(0, n), "the order changed")
      assert.deepEqual([...r.rx.seqs].sort((x, y) => x - y), range(0, n), "each frame once")
      r.rx.seqs.forEach((s, k) => {
        const d = r.rx.times[k] - s
        assert.ok(d >= 10 - 1e-9 && d <= 30 + 1e-9, `frame ${s}: delay ${d}`)
      })
      for (let i = 1; i < n; i++) assert.ok(r.rx.times[i] >= r.rx.times[i - 1], "released in due-time order")
    })))

  it("correlation makes successive delays closer to each other", () =>
    runTest(Effect.gen(function* () {
      const spread = (correlation: number) =>
        Effect.gen(function* () {
          const r = yield* rig({ delay: { latency: 50, jitter: 40, correlation, reorder: true }, seed: 3 })
          for (let i = 0; i < 300; i++) {
            yield* r.send(i)
            yield* TestClock.adjust("100 millis") // far apart: no reordering, delays are visible one by one
          }
          yield* yieldUntil(() => r.rx.seqs.length === 300, "all delivered")
          const d = r.rx.times.map((t, i) => t - i * 100)
          let step = 0
          for (let i = 1; i < d.length; i++) step += Math.abs(d[i] - d[i - 1])
          return step / (d.length - 1)
        })
      const independent = yield* spread(0)
      const correlated = yield* spread(0.9)
      assert.ok(correlated < independent / 3, `mean step ${correlated} vs ${independent}`)
    })))
})

describe("Shaping: rate", () => {
  it("a burst through 10 Mbit/s is released one frame per bits/rate, and the queue bound drops the excess", () =>
    runTest(Effect.gen(function* () {
      // 1250-byte frames at 10 Mbit/s: 10 000 bits / 10^7 bit/s = exactly 1 ms each.
      const r = yield* rig({ rate: { bitsPerSecond: 10_000_000, burstBytes: 1250, queueBytes: 12_500 } })
      for (let i = 0; i < 20; i++) yield* r.send(i, 1250)
      const st0 = yield* r.imp.stats
      assert.equal(st0.droppedQueue, 9, "1 sent at once + 10 queued (12 500 bytes), 9 dropped")
      assert.equal(st0.queuedBytes, 12_500)
      assert.equal(st0.dropped, 9)
      yield* TestClock.adjust("20 millis")
      yield* yieldUntil(() => r.rx.seqs.length === 11, "11 delivered")
      assert.deepEqual(r.rx.seqs, range(0, 11))
      r.rx.times.forEach((t, i) => close(t, i, `frame ${i} leaves at ${i} ms`))
      const st = yield* r.imp.stats
      assert.equal(st.queuedBytes, 0)
      assert.equal((yield* r.imp.dropCounters).queue, 9)
    })))

  it("the spacing is frame bits / rate for any frame size; the bucket lets `burstBytes` go back to back", () =>
    runTest(Effect.gen(function* () {
      const rate = 8_000_000 // 1 byte per microsecond
      const r = yield* rig({ rate: { bitsPerSecond: rate, burstBytes: 3000, queueBytes: 1 << 20 } })
      const sizes = [1000, 1000, 1000, 1514, 64, 700, 1514, 1514, 300]
      for (const [i, s] of sizes.entries()) yield* r.send(i, s)
      yield* TestClock.adjust("1 second")
      yield* yieldUntil(() => r.rx.seqs.length === sizes.length, "all delivered")
      // Frames 0–2 (3000 bytes) empty the bucket at t=0; then each frame waits for its own size in tokens.
      close(r.rx.times[0], 0, "frame 0")
      close(r.rx.times[1], 0, "frame 1")
      close(r.rx.times[2], 0, "frame 2")
      let t = 0
      for (let i = 3; i < sizes.length; i++) {
        t += (sizes[i] * 8 * 1000) / rate
        close(r.rx.times[i], t, `frame ${i}`)
      }
    })))

  it("the default queue is the bandwidth-delay product (2 × latency), at least 64 KiB", () =>
    runTest(Effect.gen(function* () {
      // 100 Mbit/s, 10 ms one way: 12 500 bytes/ms × 20 ms = 250 000 bytes of queue.
      const r = yield* rig({ rate: { bitsPerSecond: 100_000_000 }, delay: { latency: "10 millis" } })
      for (let i = 0; i < 400; i++) yield* r.send(i, 1000)
      const st = yield* r.imp.stats
      assert.equal(st.droppedQueue, 400 - 1 - 250, "the first leaves at once, 250 frames of 1000 bytes wait")
      const small = yield* rig({ rate: { bitsPerSecond: 1_000_000 } })
      for (let i = 0; i < 100; i++) yield* small.send(i, 1000)
      assert.equal((yield* small.imp.stats).droppedQueue, 100 - 1 - 65, "64 KiB floor: 65 frames of 1000 bytes")
      yield* TestClock.adjust("2 seconds")
    })))

  it("a long flood at twice the rate converges on the rate, and only the queue overflow is lost", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ rate: { bitsPerSecond: 10_000_000, queueBytes: 30_000 } })
      // 1500-byte frames every 0.6 ms = 20 Mbit/s offered, for 1 virtual second.
      let seq = 0
      for (let step = 0; step < 1000; step++) {
        yield* r.send(seq++, 1500)
        yield* TestClock.adjust("0.6 millis")
        yield* r.send(seq++, 1500)
        yield* TestClock.adjust("0.4 millis")
      }
      yield* settle
      const received = r.rx.sizes.reduce((n, s) => n + s, 0)
      const expected = 10_000_000 / 8 // bytes in one second at the rate
      assert.ok(Math.abs(received - expected) <= 3000, `received ${received} bytes in 1 s, expected ≈ ${expected}`)
      const st = yield* r.imp.stats
      assert.equal(st.frames, 2000)
      assert.equal(r.rx.seqs.length + st.droppedQueue + st.inFlight, 2000, "every frame delivered, dropped or queued")
      assert.ok(st.queuedBytes <= 30_000)
      yield* TestClock.adjust("1 second")
    })))

  it("rate and delay together: a frame arrives when it has left the queue plus the latency", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({
        rate: { bitsPerSecond: 10_000_000, burstBytes: 1250 },
        delay: { latency: "5 millis" },
      })
      for (let i = 0; i < 5; i++) yield* r.send(i, 1250)
      yield* TestClock.adjust("20 millis")
      yield* yieldUntil(() => r.rx.seqs.length === 5, "all delivered")
      r.rx.times.forEach((t, i) => close(t, i + 5, `frame ${i}`))
    })))
})

describe("Shaping: lifetime, replay, validation", () => {
  it("frames in flight are written at once when their port unregisters, on flushHeld and when the scope closes", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ delay: { latency: "1 hour" } })
      yield* r.send(1)
      yield* r.send(2)
      yield* r.imp.flushHeld
      yield* yieldUntil(() => r.rx.seqs.length === 2, "flushHeld")
      yield* r.send(3)
      yield* r.imp.unregisterAndFlush(r.a.id)
      yield* yieldUntil(() => r.rx.seqs.length === 3, "unregister")
      assert.deepEqual(r.rx.seqs, [1, 2, 3])

      const sw = yield* Switch.make()
      const scope = yield* Scope.make()
      const imp = yield* Scope.provide(scope)(Impairment.wrap(sw, { delay: { latency: "1 hour" } }))
      const a = yield* imp.register()
      const b = yield* imp.register()
      const rx = timed()
      yield* imp.setListener(b.id, rx.listener)
      yield* toEffect(imp.transmit(a.id, mkFrame(b.mac, a.mac, 7)))
      assert.equal((yield* imp.stats).inFlight, 1)
      yield* Scope.close(scope, Exit.void)
      yield* yieldUntil(() => rx.seqs.length === 1, "scope close")
      assert.deepEqual(rx.seqs, [7])
    })))

  it("an oversized frame is refused at once with the backend's typed error, not delayed", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ delay: { latency: 10 } })
      const exit = yield* Effect.exit(r.send(1, 1515))
      assert.ok(Exit.isFailure(exit))
      assert.equal((yield* r.sw.portStats(r.a.id)).txErrors, 1)
      assert.equal((yield* r.imp.stats).inFlight, 0)
    })))

  it("same seed, same arrival times; another seed, other times", async () => {
    const spec: ImpairmentSpec = {
      loss: { probability: 0.05 },
      rate: { bitsPerSecond: 50_000_000 },
      delay: { latency: "3 millis", jitter: "2 millis", correlation: 0.25 },
    }
    const replay = (seed: string) =>
      runTest(
        Effect.gen(function* () {
          const r = yield* rig(spec)
          for (let i = 0; i < 500; i++) {
            yield* r.send(i, 100 + (i % 7) * 200)
            if (i % 3 === 0) yield* TestClock.adjust("0.2 millis")
          }
          yield* TestClock.adjust("1 second")
          yield* settle
          return r.rx.seqs.map((s, k) => `${s}@${r.rx.times[k].toFixed(6)}`)
        }).pipe(Random.withSeed(seed)),
      )
    const one = await replay("one")
    assert.ok(one.length > 400)
    assert.deepEqual(await replay("one"), one)
    assert.notDeepEqual(await replay("two"), one)
  })

  it("a bad rate or delay spec fails the build with InvalidConfig", () =>
    runTest(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const bad: Array<[unknown, RegExp]> = [
        [{ rate: { bitsPerSecond: 0 } }, /bitsPerSecond/],
        [{ rate: { bitsPerSecond: 1e6, burstBytes: 0 } }, /burstBytes/],
        [{ rate: { bitsPerSecond: 1e6, queueBytes: -1 } }, /queueBytes/],
        [{ delay: { latency: "soon" } }, /latency/],
        [{ delay: { latency: 1, jitter: -1 } }, /jitter/],
        [{ delay: { latency: 1, correlation: 2 } }, /correlation/],
        [{ delay: { latency: 1, jiter: 1 } }, /jiter/],
      ]
      for (const [spec, re] of bad) {
        const e = yield* Effect.flip(Impairment.wrap(sw, spec as ImpairmentSpec))
        assert.equal(e.reason, "InvalidConfig", JSON.stringify(spec))
        assert.match(e.message, re)
      }
    })))
})

describe("Shaping: under two stacks", () => {
  /** Runs `e` forked and moves the TestClock in 1 ms steps until it is done. */
  const driveClock = <A, E>(e: Effect.Effect<A, E>, maxMs = 10_000): Effect.Effect<A, E> =>
    Effect.gen(function* () {
      const f = yield* Effect.forkChild(e)
      for (let i = 0; i < maxMs && f.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 millis")
      return yield* Fiber.join(f)
    })

  it("ping RTT ≥ 2 × latency (exactly 10 ms over 5 ms each way) and a UDP echo takes as long", () =>
    runTest(Effect.gen(function* () {
      const link = Impairment.layer({ delay: { latency: "5 millis" } }).pipe(Layer.provide(Switch.layer()))
      yield* Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        const first = yield* driveClock(a.icmp.ping(ip("10.0.0.2")))
        assert.ok(first >= 10, `first ping (with ARP) ${first} ms`)
        const rtt = yield* driveClock(a.icmp.ping(ip("10.0.0.2")))
        close(rtt, 10, "ping RTT with the address resolved")

        yield* b.udp.listen(7, (d, sock) => Effect.orDie(sock.send(d.src, d.srcPort, d.data)))
        const sock = yield* a.udp.bind(0)
        const data = pattern(300, 4)
        const t0 = yield* Clock.currentTimeMillis
        const echo = yield* driveClock(Effect.andThen(sock.send(ip("10.0.0.2"), 7, data), sock.take))
        const t1 = yield* Clock.currentTimeMillis
        assert.deepEqual(Array.from(echo.data), Array.from(data))
        assert.ok(t1 - t0 >= 10, `UDP echo took ${t1 - t0} ms`)
      }).pipe(Effect.provide(link))
    })))

  it("a 10 Mbit/s rate spaces a burst of UDP datagrams by their serialisation time (frame bits / rate)", () =>
    runTest(Effect.gen(function* () {
      const link = Impairment.layer({ rate: { bitsPerSecond: 10_000_000, burstBytes: 1250 } }).pipe(
        Layer.provide(Switch.layer()),
      )
      yield* Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        const times: Array<number> = []
        yield* b.udp.listen(9, () => Effect.map(Clock.currentTimeMillis, (t) => void times.push(t)))
        yield* a.udp.send(1000, ip("10.0.0.2"), 9, pattern(10)) // resolves the address first
        yield* driveClock(yieldUntil(() => times.length === 1, "warm-up datagram"))
        yield* TestClock.adjust("10 millis")
        times.length = 0
        const t0 = yield* Clock.currentTimeMillis
        // 1208 bytes of data + 8 UDP + 20 IPv4 + 14 Ethernet = 1250-byte frames: 1 ms each at 10 Mbit/s.
        for (let i = 0; i < 8; i++) yield* a.udp.send(1000, ip("10.0.0.2"), 9, pattern(1208, i))
        yield* TestClock.adjust("20 millis")
        yield* yieldUntil(() => times.length === 8, "8 datagrams")
        times.forEach((t, i) => close(t - t0, i, `datagram ${i}`))
      }).pipe(Effect.provide(link))
    })))
})
