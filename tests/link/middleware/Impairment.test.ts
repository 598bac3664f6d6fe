/**
 * Tests of the Impairment middleware through a Switch with raw ports: each impairment alone (loss, small-frame loss,
 * drop-after window under TestClock, partition, trailing bytes, max frame size, duplication, reordering with its
 * flush timer, corruption), spec validation, composition in one spec and by stacking layers, deterministic replay
 * with a seeded Random, and two stacks running over an impaired link.
 *
 * Frames go from port `a` to port `b` (unicast) and carry a sequence number. To know that every frame written so
 * far has been delivered, a test writes a "fence" frame from port `c` straight to the switch below (unimpaired):
 * the switch queues frames for `b` in write order, so once the fence arrives everything before it has too.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Backend, BackendError, type BackendShape, type PortInfo } from "../../../src/link/Backend.ts"
import { Impairment, type ImpairmentHandle, type ImpairmentSpec } from "../../../src/link/middleware/Impairment.ts"
import { Switch, type SwitchShape } from "../../../src/link/Switch.ts"
import { Stack } from "../../../src/Stack.ts"
import { ip, pattern, pollUntil } from "../../support/TestDevice.ts"
import { intact, mkFrame, range, run, runTest, seqOf, type Sink, sink, yieldUntil } from "../_support.ts"
import { toEffect } from "../../../src/util/Transmit.ts"

const FENCE = 0xffff_ffff

const failureOf = <A>(exit: Exit.Exit<A, BackendError>): BackendError => {
  assert.ok(Exit.isFailure(exit), "expected a failure")
  const err = Cause.findErrorOption(exit.cause)
  assert.ok(err._tag === "Some", `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  assert.ok(err.value instanceof BackendError)
  return err.value
}

/** Three ports on a switch, `b` listening; frames from `a` to `b` go through the impairment. */
interface Rig {
  readonly sw: SwitchShape
  readonly imp: ImpairmentHandle
  readonly a: PortInfo
  readonly b: PortInfo
  readonly c: PortInfo
  readonly sb: Sink
  /** Writes test frame `seq` of `size` bytes from `a` to `b` through the impairment. */
  readonly send: (seq: number, size?: number) => Effect.Effect<void, BackendError>
  /** Waits until everything written so far has reached `b`; returns every data frame received so far. */
  readonly drain: Effect.Effect<Array<Uint8Array>>
}

const rigOn = (sw: SwitchShape, imp: ImpairmentHandle): Effect.Effect<Rig, BackendError> =>
  Effect.gen(function* () {
    const a = yield* imp.register()
    const b = yield* imp.register()
    const c = yield* imp.register()
    const sb = sink()
    yield* imp.setListener(b.id, sb.listener)
    let fences = 0
    const isFence = (f: Uint8Array): boolean => f[6 + 5] === (c.mac & 0xff) && seqOf(f) === FENCE
    const drain = Effect.gen(function* () {
      fences++
      yield* Effect.orDie(toEffect(sw.transmit(c.id, mkFrame(b.mac, c.mac, FENCE))))
      yield* yieldUntil(() => sb.frames.filter(isFence).length === fences, `fence ${fences}`)
      return sb.frames.filter((f) => !isFence(f))
    })
    const send = (seq: number, size = 64) => toEffect(imp.transmit(a.id, mkFrame(b.mac, a.mac, seq, size)))
    return { sw, imp, a, b, c, sb, send, drain }
  })

const rig = (spec: ImpairmentSpec): Effect.Effect<Rig, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const sw = yield* Switch.make({ queueCapacity: 1 << 15 })
    return yield* rigOn(sw, yield* Impairment.wrap(sw, spec))
  })

const sendAll = (r: Rig, seqs: ReadonlyArray<number>, size = 64): Effect.Effect<void, BackendError> =>
  Effect.forEach(seqs, (s) => r.send(s, size), { discard: true })

/** Sends `n` frames through a rig with `spec` and returns the sequence numbers that arrived, in order. */
const deliveredSeqs = (spec: ImpairmentSpec, n: number): Effect.Effect<Array<number>, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const r = yield* rig(spec)
    yield* sendAll(r, range(0, n))
    return (yield* r.drain).map(seqOf)
  })

const missing = (delivered: ReadonlyArray<number>, n: number): Array<number> => {
  const got = new Set(delivered)
  return range(0, n).filter((s) => !got.has(s))
}

const hex = (f: Uint8Array): string => Array.from(f, (x) => x.toString(16).padStart(2, "0")).join("")

const bitsDiffering = (x: Uint8Array, y: Uint8Array): Array<number> => {
  const bits: Array<number> = []
  for (let i = 0; i < x.length; i++) {
    const d = x[i] ^ y[i]
    for (let k = 0; k < 8; k++) if ((d >> k) & 1) bits.push(i * 8 + k)
  }
  return bits
}

describe("Impairment: uniform loss", () => {
  it("probability 0 delivers every frame in order, probability 1 delivers none", () =>
    run(Effect.gen(function* () {
      assert.deepEqual(yield* deliveredSeqs({ loss: { probability: 0 } }, 1000), range(0, 1000))

      const r = yield* rig({ loss: { probability: 1 } })
      yield* sendAll(r, range(0, 1000))
      assert.deepEqual(yield* r.drain, [])
      const st = yield* r.imp.stats
      assert.equal(st.frames, 1000)
      assert.equal(st.droppedLoss, 1000)
      assert.equal(st.dropped, 1000)
      assert.equal(st.passed, 0)
      assert.equal((yield* r.sw.portStats(r.a.id)).txPackets, 0, "nothing reached the switch")
    })))

  it("probability 0.3: a seed fixes the dropped set exactly, and about 30 % of 10 000 frames are lost", async () => {
    const n = 10_000
    const lost = (seed: number) =>
      run(deliveredSeqs({ loss: { probability: 0.3 } }, n).pipe(Random.withSeed(seed))).then((d) => {
        assert.deepEqual(d, [...d].sort((x, y) => x - y), "survivors keep their order")
        return missing(d, n)
      })
    const first = await lost(7)
    const again = await lost(7)
    const other = await lost(8)
    assert.deepEqual(again, first, "same seed, same dropped frames")
    assert.notDeepEqual(other, first, "another seed, other dropped frames")
    for (const l of [first, other]) {
      const fraction = l.length / n
      assert.ok(Math.abs(fraction - 0.3) < 0.03, `lost fraction ${fraction}`)
    }
    // spec.seed fixes the generators whatever the ambient Random (here the default, unseeded one)
    const bySpec1 = await run(deliveredSeqs({ loss: { probability: 0.3 }, seed: "abc" }, 2000))
    const bySpec2 = await run(deliveredSeqs({ loss: { probability: 0.3 }, seed: "abc" }, 2000))
    assert.deepEqual(bySpec1, bySpec2)
  })

  it("counts the drops and only impairs the ports listed in `ports`", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const imp = yield* Impairment.wrap(sw, { ports: [2], loss: { probability: 1 } })
      const r = yield* rigOn(sw, imp) // a = 0, b = 1, c = 2
      yield* sendAll(r, range(0, 10))
      yield* toEffect(imp.transmit(r.c.id, mkFrame(r.b.mac, r.c.mac, 99))) // port 2 is impaired: lost
      assert.deepEqual((yield* r.drain).map(seqOf), range(0, 10))
      const st = yield* imp.stats
      assert.equal(st.frames, 1, "frames from unlisted ports are not even seen")
      assert.equal(st.droppedLoss, 1)
    })))
})

describe("Impairment: Gilbert–Elliott burst loss", () => {
  /** Lengths of the runs of consecutive lost sequence numbers. */
  const bursts = (lost: ReadonlyArray<number>): Array<number> => {
    const out: Array<number> = []
    for (let i = 0; i < lost.length; i++) {
      if (i > 0 && lost[i] === lost[i - 1] + 1) out[out.length - 1]++
      else out.push(1)
    }
    return out
  }

  it("losses come in bursts of mean length 1/r at the mean rate p/(p+r); a seed replays them", async () => {
    const n = 20_000
    const spec: ImpairmentSpec = { burstLoss: { p: 0.01, r: 0.25 }, seed: 11 }
    const lost = missing(await run(deliveredSeqs(spec, n)), n)
    const again = missing(await run(deliveredSeqs(spec, n)), n)
    assert.deepEqual(again, lost, "same seed, same lost frames")
    const rate = lost.length / n
    assert.ok(Math.abs(rate - 0.01 / 0.26) < 0.012, `loss rate ${rate}, expected about ${0.01 / 0.26}`)
    const b = bursts(lost)
    const mean = lost.length / b.length
    assert.ok(mean > 3 && mean < 5, `mean burst length ${mean}, expected about 4`)
    // Uniform loss at the same rate gives bursts of mean length about 1 / (1 - rate) ≈ 1.04.
    const uniform = missing(await run(deliveredSeqs({ loss: { probability: rate }, seed: 11 }, n)), n)
    assert.ok(uniform.length / bursts(uniform).length < 1.2)
  })

  it("lossGood/lossBad: p = 0 never leaves the good state; counts droppedBurst and the `burst` drop reason", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ burstLoss: { p: 0, r: 1, lossGood: 0.5, lossBad: 0 }, seed: 3 })
      yield* sendAll(r, range(0, 2000))
      const lostSeqs = missing((yield* r.drain).map(seqOf), 2000)
      assert.ok(lostSeqs.length > 850 && lostSeqs.length < 1150, `lost ${lostSeqs.length} of 2000`)
      const st = yield* r.imp.stats
      assert.equal(st.droppedBurst, lostSeqs.length)
      assert.equal(st.dropped, lostSeqs.length)
      assert.equal((yield* r.imp.dropCounters).burst, lostSeqs.length)
      const none = yield* rig({ burstLoss: { p: 1, r: 0, lossBad: 0 } })
      yield* sendAll(none, range(0, 100))
      assert.equal((yield* none.drain).length, 100, "a bad state that loses nothing loses nothing")
    })))

  it("refuses probabilities outside 0..1", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(rig({ burstLoss: { p: 1.5, r: 0.1 } } as ImpairmentSpec)),
    )
    assert.equal(failureOf(exit).reason, "InvalidConfig")
  })
})

describe("Impairment: small-frame loss", () => {
  it("drops only frames of at most maxBytes bytes", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ smallFrameLoss: { probability: 1, maxBytes: 100 } })
      for (let i = 0; i < 200; i++) yield* r.send(i, i % 2 === 0 ? 64 : i % 4 === 1 ? 100 : 101)
      const got = (yield* r.drain).map(seqOf)
      assert.deepEqual(got, range(0, 200).filter((i) => i % 4 === 3), "only the 101-byte frames pass")
      assert.equal((yield* r.imp.stats).droppedSmall, 150)

      const h = yield* rig({ smallFrameLoss: { probability: 0.5, maxBytes: 100 } })
      for (let i = 0; i < 2000; i++) yield* h.send(i, i % 2 === 0 ? 60 : 1500)
      const seen = (yield* h.drain).map(seqOf)
      const lostSeqs = missing(seen, 2000)
      assert.ok(lostSeqs.every((s) => s % 2 === 0), "no large frame is lost")
      assert.ok(lostSeqs.length > 350 && lostSeqs.length < 650, `lost ${lostSeqs.length} of 1000 small frames`)
      assert.equal((yield* h.imp.stats).droppedSmall, lostSeqs.length)
    })))
})

describe("Impairment: drop after a volume", () => {
  it("drops exactly the frames inside the window, then passes again (one window by default)", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ dropAfter: { bytes: 1000, duration: "1 second" } })
      yield* sendAll(r, range(0, 10), 100) // exactly 1000 bytes: all pass
      yield* sendAll(r, range(10, 10), 100) // the window opens at frame 10
      yield* TestClock.adjust("999 millis")
      yield* r.send(20, 100) // still inside
      yield* TestClock.adjust("1 millis")
      yield* sendAll(r, range(21, 30), 100) // past the window; 3000 more bytes and no second window
      assert.deepEqual((yield* r.drain).map(seqOf), [...range(0, 10), ...range(21, 30)])
      assert.equal((yield* r.imp.stats).droppedWindow, 11)
    })))

  it("with repeat, every further `bytes` bytes open a new window", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ dropAfter: { bytes: 500, duration: 200, repeat: true } })
      yield* sendAll(r, range(0, 7), 100) // 0..4 pass, 5 opens the window, 6 inside
      yield* TestClock.adjust(200)
      yield* sendAll(r, range(7, 7), 100) // 7..11 pass (500 bytes), 12 opens a window, 13 inside
      yield* TestClock.adjust(200)
      yield* r.send(14, 100)
      assert.deepEqual((yield* r.drain).map(seqOf), [0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 14])
      assert.equal((yield* r.imp.stats).droppedWindow, 4)
    })))
})

describe("Impairment: partition", () => {
  it("opens and heals at run time", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ partition: true })
      assert.equal(yield* r.imp.partitioned, true)
      yield* sendAll(r, range(0, 5))
      yield* r.imp.setPartitioned(false)
      yield* sendAll(r, range(5, 5))
      yield* r.imp.setPartitioned(true)
      yield* sendAll(r, range(10, 5))
      yield* r.imp.setPartitioned(false)
      yield* sendAll(r, range(15, 5))
      assert.deepEqual((yield* r.drain).map(seqOf), [...range(5, 5), ...range(15, 5)])
      assert.equal((yield* r.imp.stats).droppedPartition, 10)
    })))

  it("with `ports`, cuts only the listed senders", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const imp = yield* Impairment.wrap(sw, { ports: [0] })
      const r = yield* rigOn(sw, imp)
      yield* imp.setPartitioned(true)
      yield* r.send(1)
      yield* toEffect(imp.transmit(r.c.id, mkFrame(r.b.mac, r.c.mac, 2)))
      assert.deepEqual((yield* r.drain).map(seqOf), [2])
    })))
})

describe("Impairment: trailing bytes", () => {
  it("appends 0..max zero bytes to a copy and leaves the original intact", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ trailingBytes: { max: 9 } })
      const originals = range(0, 2000).map((s) => mkFrame(r.b.mac, r.a.mac, s, 64))
      for (const f of originals) yield* toEffect(r.imp.transmit(r.a.id, f))
      const got = yield* r.drain
      assert.equal(got.length, 2000)
      const histogram = new Array<number>(10).fill(0)
      let appended = 0
      for (const [i, f] of got.entries()) {
        assert.equal(seqOf(f), i)
        const extra = f.length - 64
        assert.ok(extra >= 0 && extra <= 9, `frame ${i} has ${extra} extra bytes`)
        histogram[extra]++
        appended += extra
        assert.ok(intact(f.subarray(0, 64)), `frame ${i}: original bytes`)
        assert.ok(f.subarray(64).every((x) => x === 0), `frame ${i}: trailing bytes are zero`)
        if (extra > 0) assert.notEqual(f.buffer, originals[i].buffer, "a trailed frame is a copy")
      }
      assert.ok(histogram.every((n) => n > 100), `every count 0..9 occurs: ${histogram}`)
      for (const [i, f] of originals.entries()) assert.equal(hex(f), hex(mkFrame(r.b.mac, r.a.mac, i, 64)))
      const st = yield* r.imp.stats
      assert.equal(st.trailed, 2000 - histogram[0])
      assert.equal(st.trailingBytes, appended)
    })))

  it("never makes a frame longer than the sending port's MTU + 14", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ trailingBytes: { max: 9 } })
      const small = yield* r.imp.register({ mtu: 100 })
      for (let i = 0; i < 50; i++) yield* toEffect(r.imp.transmit(small.id, mkFrame(r.b.mac, small.mac, i, 110)))
      const got = (yield* r.drain).filter((f) => (f[11] & 0xff) === (small.mac & 0xff))
      assert.equal(got.length, 50)
      assert.ok(got.every((f) => f.length >= 110 && f.length <= 114))
      assert.ok(got.some((f) => f.length === 114), "capped at 114")
      assert.equal((yield* r.sw.portStats(small.id)).txErrors, 0)
    })))
})

describe("Impairment: max frame size and spec validation", () => {
  it("a frame above maxFrameSize fails with a typed FrameTooLarge", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ maxFrameSize: 100 })
      yield* r.send(0, 100)
      const e = failureOf(yield* Effect.exit(r.send(1, 101)))
      assert.equal(e.reason, "FrameTooLarge")
      assert.match(e.message, /101 bytes/)
      assert.deepEqual((yield* r.drain).map(seqOf), [0])
      assert.equal((yield* r.imp.stats).tooLarge, 1)
    })))

  it("a bad spec fails the build with InvalidConfig naming the problem", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const bad: Array<[unknown, RegExp]> = [
        [{ loss: { probability: 1.5 } }, /probability/],
        [{ loss: { probability: -0.1 } }, /probability/],
        [{ trailingBytes: { max: -1 } }, /max/],
        [{ smallFrameLoss: { probability: 0.1, maxBytes: 1.5 } }, /maxBytes/],
        [{ dropAfter: { bytes: 10, duration: "soon" } }, /duration/],
        [{ dropAfter: { bytes: 10, duration: -5 } }, /duration/],
        [{ reorder: { probability: 0.1, holdFrames: 0 } }, /holdFrames/],
        [{ los: { probability: 0.1 } }, /los/],
      ]
      for (const [spec, re] of bad) {
        const e = failureOf(yield* Effect.exit(Impairment.wrap(sw, spec as ImpairmentSpec)))
        assert.equal(e.reason, "InvalidConfig")
        assert.match(e.message, re)
      }
      const layerExit = yield* Effect.exit(
        Effect.scoped(Layer.build(
          Impairment.layer({ duplicate: { probability: 2 } }).pipe(Layer.provide(Switch.layer())),
        )),
      )
      assert.equal(failureOf(layerExit).reason, "InvalidConfig")
    })))
})

describe("Impairment: duplication", () => {
  it("probability 1 delivers every frame twice, back to back", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ duplicate: { probability: 1 } })
      yield* sendAll(r, range(0, 100))
      const got = yield* r.drain
      assert.deepEqual(got.map(seqOf), range(0, 100).flatMap((s) => [s, s]))
      assert.ok(got.every(intact))
      assert.equal((yield* r.imp.stats).duplicated, 100)
    })))

  it("probability 0.5 duplicates some frames and loses none", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ duplicate: { probability: 0.5 } })
      yield* sendAll(r, range(0, 1000))
      const got = (yield* r.drain).map(seqOf)
      const dups = (yield* r.imp.stats).duplicated
      assert.ok(dups > 400 && dups < 600, `${dups} duplicated`)
      assert.equal(got.length, 1000 + dups)
      assert.deepEqual([...new Set(got)], range(0, 1000))
    })))
})

describe("Impairment: reordering", () => {
  it("probability 1 releases each held frame after holdFrames later frames", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ reorder: { probability: 1, holdFrames: 2 } })
      yield* sendAll(r, range(0, 9))
      assert.deepEqual((yield* r.drain).map(seqOf), [1, 2, 0, 4, 5, 3, 7, 8, 6])
      assert.equal((yield* r.imp.stats).reordered, 3)
    })))

  it("changes the order but delivers every frame exactly once; the timer flushes when traffic stops", () =>
    runTest(Effect.gen(function* () {
      const r = yield* rig({ reorder: { probability: 0.3, holdFrames: 3, flushAfter: "5 millis" } })
      let n = 2000
      yield* sendAll(r, range(0, n))
      let st = yield* r.imp.stats
      assert.ok(st.reordered > 300, `${st.reordered} reordered`)
      while (st.held === 0) { // make sure a frame is held at the end, then stop the traffic
        yield* r.send(n++)
        st = yield* r.imp.stats
      }
      assert.equal((yield* r.drain).length, n - 1, "one frame is still held")
      yield* TestClock.adjust("4 millis")
      assert.equal((yield* r.drain).length, n - 1, "not before flushAfter")
      yield* TestClock.adjust("1 millis")
      yield* pollUntil(r.imp.stats, (s) => s.held === 0, "timer flush")
      const got = (yield* r.drain).map(seqOf)
      assert.equal(got.length, n)
      assert.deepEqual([...got].sort((x, y) => x - y), range(0, n), "each frame exactly once")
      assert.notDeepEqual(got, range(0, n), "the order changed")
      st = yield* r.imp.stats
      assert.equal(st.flushedByTimer, 1)
    })))

  it("flushes a held frame when its port unregisters, and when the scope closes", () =>
    run(Effect.gen(function* () {
      const r = yield* rig({ reorder: { probability: 1, holdFrames: 5, flushAfter: "1 hour" } })
      yield* r.send(0)
      assert.deepEqual(yield* r.drain, [])
      yield* r.imp.unregisterAndFlush(r.a.id)
      assert.deepEqual((yield* r.drain).map(seqOf), [0])
      assert.equal((yield* r.imp.stats).flushedOnClose, 1)

      const sw = yield* Switch.make()
      const scope = yield* Scope.make()
      const imp = yield* Scope.provide(scope)(Impairment.wrap(sw, { reorder: { probability: 1, holdFrames: 5 } }))
      const r2 = yield* rigOn(sw, imp)
      yield* r2.send(7)
      assert.equal((yield* imp.stats).held, 1)
      yield* Scope.close(scope, Exit.void)
      assert.deepEqual((yield* r2.drain).map(seqOf), [7])
    })))
})

describe("Impairment: corruption", () => {
  it("flips exactly one bit, in a copy, never in the Ethernet header (or before fromByte)", () =>
    run(Effect.gen(function* () {
      for (const fromByte of [undefined, 18]) {
        const r = yield* rig(
          fromByte === undefined ? { corrupt: { probability: 1 } } : {
            corrupt: { probability: 1, fromByte },
          },
        )
        const originals = range(0, 500).map((s) => mkFrame(r.b.mac, r.a.mac, s, 80))
        for (const f of originals) yield* toEffect(r.imp.transmit(r.a.id, f))
        const got = yield* r.drain
        assert.equal(got.length, 500)
        const positions = new Set<number>()
        for (const [i, f] of got.entries()) {
          const pristine = mkFrame(r.b.mac, r.a.mac, i, 80)
          assert.equal(hex(originals[i]), hex(pristine), "the writer's frame is untouched")
          const bits = bitsDiffering(f, pristine)
          assert.equal(bits.length, 1, `frame ${i}: one bit flipped`)
          assert.ok(bits[0] >= (fromByte ?? 14) * 8, `frame ${i}: bit ${bits[0]}`)
          positions.add(bits[0])
        }
        assert.ok(positions.size > 200, "the bit is chosen at random")
        assert.equal((yield* r.imp.stats).corrupted, 500)
      }
    })))
})

describe("Impairment: composition and replay", () => {
  it("loss + trailing bytes in one spec: the same frames are lost as with loss alone, the rest are trailed", () =>
    run(Effect.gen(function* () {
      const alone = yield* deliveredSeqs({ loss: { probability: 0.2 } }, 3000).pipe(Random.withSeed(3))
      const r = yield* rig({ loss: { probability: 0.2 }, trailingBytes: { max: 9 } }).pipe(Random.withSeed(3))
      yield* sendAll(r, range(0, 3000))
      const got = yield* r.drain
      assert.deepEqual(got.map(seqOf), alone)
      assert.ok(got.every((f) => intact(f.subarray(0, 64)) && f.subarray(64).every((x) => x === 0)))
      const st = yield* r.imp.stats
      assert.equal(st.droppedLoss, 3000 - alone.length)
      assert.ok(st.trailed > 0.8 * alone.length)
    })))

  it("stacked layers: loss over trailing bytes over a Switch", () =>
    run(Effect.gen(function* () {
      const alone = yield* deliveredSeqs({ loss: { probability: 0.2 }, seed: 11 }, 1000)
      const link = Impairment.layer({ loss: { probability: 0.2 }, seed: 11 }).pipe(
        Layer.provide(Impairment.layer({ trailingBytes: { max: 9 } })),
        Layer.provide(Switch.layer()),
      )
      const got = yield* Effect.gen(function* () {
        const backend: BackendShape = yield* Backend
        const a = yield* backend.register()
        const b = yield* backend.register()
        const sb = sink()
        yield* backend.setListener(b.id, sb.listener)
        for (let s = 0; s < 1000; s++) yield* toEffect(backend.transmit(a.id, mkFrame(b.mac, a.mac, s)))
        yield* sb.until(alone.length)
        return sb.frames
      }).pipe(Effect.provide(link))
      assert.deepEqual(got.map(seqOf), alone)
      assert.ok(got.some((f) => f.length > 64), "the lower layer appends trailing bytes")
    })))

  it("deterministic replay: same seed, same delivered frames and bytes; another seed, other frames", async () => {
    const spec: ImpairmentSpec = {
      loss: { probability: 0.1 },
      smallFrameLoss: { probability: 0.2, maxBytes: 64 },
      corrupt: { probability: 0.1 },
      trailingBytes: { max: 5 },
      duplicate: { probability: 0.1 },
      reorder: { probability: 0.2, holdFrames: 3 },
    }
    const replay = (seed: string) =>
      runTest(
        Effect.gen(function* () {
          const r = yield* rig(spec)
          for (let i = 0; i < 3000; i++) yield* r.send(i, 60 + (i % 3) * 20)
          yield* r.imp.flushHeld
          return (yield* r.drain).map(hex)
        }).pipe(Random.withSeed(seed)),
      )
    const one = await replay("one")
    assert.ok(one.length > 2000)
    assert.deepEqual(await replay("one"), one)
    assert.notDeepEqual(await replay("two"), one)
  })
})

describe("Impairment: under two stacks", () => {
  it("UDP echo between two stacks works over trailing bytes, duplicates and reordering", () =>
    run(Effect.gen(function* () {
      const link = Impairment.layer({ trailingBytes: { max: 9 }, duplicate: { probability: 0.2 } }).pipe(
        Layer.provide(Impairment.layer({ reorder: { probability: 0.2, holdFrames: 1, flushAfter: 1 } })),
        Layer.provide(Switch.layer()),
      )
      yield* Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        yield* b.udp.listen(7, (d, sock) => Effect.orDie(sock.send(d.src, d.srcPort, d.data)))
        const sock = yield* a.udp.bind(0)
        for (let i = 0; i < 20; i++) {
          const data = pattern(100 + i * 50, i + 1)
          yield* sock.send(ip("10.0.0.2"), 7, data)
          // a duplicated request or reply gives an extra echo of an earlier (shorter) datagram: skip those
          let echo = yield* sock.take
          while (echo.data.length < data.length) echo = yield* sock.take
          assert.equal(hex(echo.data), hex(data))
        }
        assert.equal((yield* b.udp.stats).badChecksum, 0)
      }).pipe(Effect.provide(link))
    })))

  it("corrupted UDP payloads are dropped by the receiver's checksum and counted", () =>
    run(Effect.gen(function* () {
      // fromByte 42 (past Ethernet + IPv4 + UDP headers): only payload bits flip; 42-byte ARP frames are spared
      const link = Impairment.layer({ corrupt: { probability: 1, fromByte: 42 } }).pipe(
        Layer.provide(Switch.layer()),
      )
      yield* Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        yield* b.udp.bind(9)
        for (let i = 0; i < 5; i++) yield* a.udp.send(1000, ip("10.0.0.2"), 9, pattern(200, i + 1))
        yield* pollUntil(b.udp.stats, (s) => s.badChecksum === 5, "5 bad checksums")
        const st = yield* b.udp.stats
        assert.equal(st.rxDatagrams, 5)
        assert.equal(st.rxDelivered, 0, "nothing delivered")
      }).pipe(Effect.provide(link))
    })))
})
