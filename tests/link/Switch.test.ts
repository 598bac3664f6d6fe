/**
 * Tests of the Backend contract as the in-process Switch implements it: port numbering and MACs, hub and learning
 * forwarding, bounded queues and drop accounting, MTUs, listener failures, flush and scope shutdown.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { BackendError, type PortInfo } from "../../src/link/Backend.ts"
import { Switch, type SwitchShape } from "../../src/link/Switch.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { intact, mkFrame, range, run, runTest, seqOf, sink, yieldUntil } from "./_support.ts"
import { ip, ipv4Frame, udpDatagram } from "../support/TestDevice.ts"
import { toEffect } from "../../src/util/Transmit.ts"

const BCAST = MacAddress.BROADCAST

const failureOf = <A>(exit: Exit.Exit<A, BackendError>): BackendError => {
  assert.ok(Exit.isFailure(exit), "expected a failure")
  const err = Cause.findErrorOption(exit.cause)
  assert.ok(err._tag === "Some", `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  assert.ok(err.value instanceof BackendError)
  return err.value
}

const registerN = (sw: SwitchShape, n: number): Effect.Effect<Array<PortInfo>, BackendError> =>
  Effect.forEach(range(0, n), () => sw.register())

describe("Switch: ports", () => {
  it("numbers ports from 0 with 02:50 + 32-bit id MACs, beyond 254, never reusing ids", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const ps = yield* registerN(sw, 300)
      assert.deepEqual(ps.map((p) => p.id), range(0, 300))
      for (const p of ps) assert.equal(p.mac, 0x0250_0000_0000 + p.id)
      assert.equal(MacAddress.format(ps[0].mac), "02:50:00:00:00:00")
      assert.equal(MacAddress.format(ps[258].mac), "02:50:00:00:01:02")
      assert.equal(ps[299].mtu, 1500)
      assert.equal(yield* sw.mac(258), ps[258].mac)

      yield* sw.unregister(5)
      const next = yield* sw.register({ mtu: 9000 })
      assert.equal(next.id, 300)
      assert.equal(next.mtu, 9000)
      assert.equal((yield* sw.ports).length, 300)
      assert.ok(!(yield* sw.ports).some((p) => p.id === 5))
      assert.equal(yield* sw.mac(5), 0x0250_0000_0005, "the MAC of a dead port is still a function of its id")

      assert.equal(
        failureOf(yield* Effect.exit(toEffect(sw.transmit(5, mkFrame(BCAST, ps[5].mac, 0))))).reason,
        "PortClosed",
      )
      assert.equal(
        failureOf(yield* Effect.exit(toEffect(sw.transmit(1000, mkFrame(BCAST, 0, 0))))).reason,
        "UnknownPort",
      )
      assert.equal(failureOf(yield* Effect.exit(sw.mac(1000))).reason, "UnknownPort")
      assert.equal(failureOf(yield* Effect.exit(sw.portStats(5))).reason, "PortClosed")
      assert.equal(failureOf(yield* Effect.exit(sw.unregister(1000))).reason, "UnknownPort")
      yield* sw.unregister(5) // idempotent
    })))

  it("rejects a bad MTU or queue capacity with InvalidConfig", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      for (const opts of [{ mtu: 10 }, { mtu: 70000 }, { mtu: 1500.5 }, { queueCapacity: 0 }]) {
        const e = failureOf(yield* Effect.exit(sw.register(opts)))
        assert.equal(e.reason, "InvalidConfig")
        assert.ok(e.message.length > 0)
      }
      assert.equal((yield* sw.register()).id, 0, "a refused register does not use up an id")
    })))
})

describe("Switch: hub mode", () => {
  it("floods every frame to every other listening port, never back to the sender", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make({ mode: "hub" })
      const [a, b, c, d] = yield* registerN(sw, 4)
      const sa = sink(), sb = sink(), sc = sink()
      yield* sw.setListener(a.id, sa.listener)
      yield* sw.setListener(b.id, sb.listener)
      yield* sw.setListener(c.id, sc.listener)
      // d has no listener: its copies are dropped and counted
      yield* toEffect(sw.transmit(a.id, mkFrame(BCAST, a.mac, 0)))
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 1))) // unicast to b: a hub floods it anyway
      yield* toEffect(sw.transmit(b.id, mkFrame(a.mac, b.mac, 2)))
      yield* sb.until(2)
      yield* sc.until(3)
      yield* sa.until(1)
      assert.deepEqual(sb.seqs(), [0, 1])
      assert.deepEqual(sc.seqs(), [0, 1, 2])
      assert.deepEqual(sa.seqs(), [2])
      assert.ok(sc.frames.every(intact))
      assert.equal((yield* sw.portStats(d.id)).rxDrops, 3)
      assert.equal((yield* sw.portStats(a.id)).txPackets, 2)
      assert.equal((yield* sw.portStats(c.id)).rxPackets, 3)
      assert.equal((yield* sw.portStats(c.id)).rxBytes, 3 * 64)
    })))
})

describe("Switch: learning mode", () => {
  it("delivers unicast to the owner only and floods broadcast, multicast and unknown unicast", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      assert.equal(sw.mode, "learning")
      const [a, b, c] = yield* registerN(sw, 3)
      const sa = sink(), sb = sink(), sc = sink()
      yield* sw.setListener(a.id, sa.listener)
      yield* sw.setListener(b.id, sb.listener)
      yield* sw.setListener(c.id, sc.listener)
      const multicast = 0x0100_5e00_0001 // 01:00:5e:00:00:01
      const unknown = 0x0250_ffff_0000 + 77 // a unicast MAC nobody owns
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0))) // b only
      yield* toEffect(sw.transmit(a.id, mkFrame(a.mac, a.mac, 1))) // to itself: filtered
      yield* toEffect(sw.transmit(a.id, mkFrame(multicast, a.mac, 2))) // b and c
      yield* toEffect(sw.transmit(a.id, mkFrame(unknown, a.mac, 3))) // b and c
      yield* toEffect(sw.transmit(a.id, mkFrame(c.mac, a.mac, 4))) // c only
      yield* toEffect(sw.transmit(c.id, mkFrame(BCAST, c.mac, 5))) // a and b: marks the end for b
      yield* toEffect(sw.transmit(b.id, mkFrame(BCAST, b.mac, 6))) // a and c: marks the end for c and a
      yield* sb.until(4)
      yield* sc.until(4)
      yield* sa.until(2)
      assert.deepEqual(sb.seqs(), [0, 2, 3, 5])
      assert.deepEqual(sc.seqs(), [2, 3, 4, 6])
      assert.deepEqual(sa.seqs(), [5, 6])
      assert.equal(yield* sw.learnedMacs, 0, "port MACs are static, not learned")
    })))

  it("learns a MAC written from a port that is not its own (a bridge), unicasts to it, forgets it on unregister", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b, c] = yield* registerN(sw, 3)
      const sa = sink(), sb = sink(), sc = sink()
      yield* sw.setListener(a.id, sa.listener)
      yield* sw.setListener(b.id, sb.listener)
      yield* sw.setListener(c.id, sc.listener)
      const behindC = 0x0a00_0000_0001 // a host behind a bridge on port c
      yield* toEffect(sw.transmit(a.id, mkFrame(behindC, a.mac, 0))) // unknown yet: flooded to b and c
      yield* toEffect(sw.transmit(c.id, mkFrame(a.mac, behindC, 1))) // learned: behindC → c
      assert.equal(yield* sw.learnedMacs, 1)
      yield* toEffect(sw.transmit(a.id, mkFrame(behindC, a.mac, 2))) // now c only
      yield* toEffect(sw.transmit(a.id, mkFrame(BCAST, a.mac, 3)))
      yield* sb.until(2)
      yield* sc.until(3)
      yield* sa.until(1)
      assert.deepEqual(sb.seqs(), [0, 3])
      assert.deepEqual(sc.seqs(), [0, 2, 3])
      assert.deepEqual(sa.seqs(), [1])

      // a spoofed source equal to another port's own MAC is not learned
      yield* toEffect(sw.transmit(c.id, mkFrame(BCAST, b.mac, 4)))
      assert.equal(yield* sw.learnedMacs, 1)
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 5)))
      yield* sb.until(4)
      assert.deepEqual(sb.seqs(), [0, 3, 4, 5])

      yield* sw.unregister(c.id)
      assert.equal(yield* sw.learnedMacs, 0, "entries of an unregistered port are removed")
      yield* toEffect(sw.transmit(a.id, mkFrame(behindC, a.mac, 6))) // unknown again: flooded to b
      yield* sb.until(5)
      assert.deepEqual(sb.seqs(), [0, 3, 4, 5, 6])
    })))

  it("bounds the learned table, evicting the oldest entry", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make({ macTableSize: 4 })
      const [a, b, c] = yield* registerN(sw, 3)
      const sa = sink(), sb = sink(), sc = sink()
      yield* sw.setListener(a.id, sa.listener)
      yield* sw.setListener(b.id, sb.listener)
      yield* sw.setListener(c.id, sc.listener)
      const host = (i: number) => 0x0a00_0000_0000 + i
      for (let i = 0; i < 10; i++) yield* toEffect(sw.transmit(c.id, mkFrame(BCAST, host(i), i))) // all learned on c
      assert.equal(yield* sw.learnedMacs, 4)
      yield* toEffect(sw.transmit(a.id, mkFrame(host(0), a.mac, 10))) // evicted: flooded to b and c
      yield* toEffect(sw.transmit(a.id, mkFrame(host(9), a.mac, 11))) // still known: c only
      yield* toEffect(sw.transmit(a.id, mkFrame(BCAST, a.mac, 12)))
      yield* sb.until(12)
      yield* sc.until(3)
      assert.deepEqual(sb.seqs(), [...range(0, 10), 10, 12])
      assert.deepEqual(sc.seqs(), [10, 11, 12])
    })))
})

describe("Switch: fairness", () => {
  /** A UDP frame to port `dstPort` of 10.0.0.2 carrying `seq`. */
  const udpTo = (dst: MacAddress, src: MacAddress, dstPort: number, seq: number): Uint8Array => {
    const data = new Uint8Array(4)
    new DataView(data.buffer).setUint32(0, seq)
    const [s, d] = [ip("10.0.0.1"), ip("10.0.0.2")]
    return ipv4Frame(dst, src, { src: s, dst: d, protocol: 17, payload: udpDatagram(s, d, 40000, dstPort, data) })
  }
  const udpSeq = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(14 + 20 + 8)

  it("a flood of one flow filling a port's queue loses its own frames, not another flow's; counted as flow drops", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const a = yield* sw.register()
      const b = yield* sw.register({ queueCapacity: 8 })
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const got: Array<number> = []
      yield* sw.setListener(b.id, (f) => {
        got.push(udpSeq(f))
        return got.length === 1
          ? Deferred.succeed(entered, undefined).pipe(Effect.andThen(Deferred.await(gate)))
          : Effect.void
      })
      yield* toEffect(sw.transmit(a.id, udpTo(b.mac, a.mac, 7, 0)))
      yield* Deferred.await(entered) // the listener is now blocked on frame 0
      for (let i = 1; i <= 20; i++) sw.transmit(a.id, udpTo(b.mac, a.mac, 7, i)) // the flood: 8 queued, 12 dropped
      for (let i = 0; i < 3; i++) sw.transmit(a.id, udpTo(b.mac, a.mac, 9, 100 + i)) // another service
      for (let i = 21; i <= 30; i++) sw.transmit(a.id, udpTo(b.mac, a.mac, 7, i)) // the flood goes on: refused
      const during = yield* sw.portStats(b.id)
      assert.equal(during.rxDrops, 12 + 3 + 10)
      assert.equal(during.rxFlowDrops, 3 + 10, "evicted for port 9's frames, then refused while they were queued")
      yield* Deferred.succeed(gate, undefined)
      yield* yieldUntil(() => got.length >= 9, "8 queued frames delivered after release")
      assert.deepEqual(got.filter((n) => n >= 100), [100, 101, 102], "port 9's frames all delivered, in order")
      assert.deepEqual(got.filter((n) => n < 100), [0, 4, 5, 6, 7, 8], "the flood lost its oldest (head drop)")
      const sa = yield* sw.portStats(a.id)
      const sb = yield* sw.portStats(b.id)
      assert.equal(sb.rxPackets + sb.rxDrops, sa.txPackets, "every frame is either delivered or counted as dropped")
    })))

  it("batchSize bounds the work per batch: the reader yields to other fibers between batches of a backlog", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make({ batchSize: 4 })
      const a = yield* sw.register()
      const b = yield* sw.register()
      let ticks = 0
      const ticker = yield* Effect.forkChild(
        Effect.forever(Effect.andThen(Effect.yieldNow, Effect.sync(() => ticks++))),
      )
      const seen: Array<number> = []
      yield* sw.setListener(b.id, () => Effect.sync(() => seen.push(ticks)))
      for (let i = 0; i < 16; i++) sw.transmit(a.id, mkFrame(b.mac, a.mac, i)) // one backlog of 16
      yield* yieldUntil(() => seen.length >= 16, "16 frames delivered")
      yield* Fiber.interrupt(ticker)
      const changes = range(1, 16).filter((i) => seen[i] !== seen[i - 1])
      assert.ok(changes.length > 0, `the ticker ran while the backlog was delivered: ${seen}`)
      assert.ok(changes.every((i) => i % 4 === 0), `only between batches of 4, never inside one: ${seen}`)
    })))
})

describe("Switch: queues and drops", () => {
  it("drops and counts frames beyond a full queue (capacity 8), loses nothing silently", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const a = yield* sw.register()
      const b = yield* sw.register({ queueCapacity: 8 })
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const got: Array<number> = []
      yield* sw.setListener(b.id, (f) => {
        got.push(seqOf(f))
        return got.length === 1
          ? Deferred.succeed(entered, undefined).pipe(Effect.andThen(Deferred.await(gate)))
          : Effect.void
      })
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0)))
      yield* Deferred.await(entered) // the listener is now blocked on frame 0
      for (let i = 1; i <= 20; i++) yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, i)))
      const during = yield* sw.portStats(b.id)
      assert.equal(during.rxDrops, 12)
      assert.equal(during.rxPackets, 1)
      yield* Deferred.succeed(gate, undefined)
      yield* yieldUntil(() => got.length >= 9, "8 queued frames delivered after release")
      assert.deepEqual(got, range(0, 9))
      const sa = yield* sw.portStats(a.id)
      const sb = yield* sw.portStats(b.id)
      assert.equal(sa.txPackets, 21)
      assert.equal(sb.rxPackets + sb.rxDrops, sa.txPackets, "every frame is either delivered or counted as dropped")
    })))

  it("a queue's byte budget bounds full-size frames while small frames get more slots (defaults: 4096 / 1024 full)", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const a = yield* sw.register()
      const b = yield* sw.register() // MTU 1500: budget 1024 × 1514 bytes, at most 4096 frames
      const c = yield* sw.register({ queueBytes: 1000 })
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      let n = 0
      yield* sw.setListener(b.id, () => {
        n++
        return n === 1 ? Deferred.succeed(entered, undefined).pipe(Effect.andThen(Deferred.await(gate))) : Effect.void
      })
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0)))
      yield* Deferred.await(entered) // b's reader is blocked: everything below stays queued
      for (let i = 1; i <= 3000; i++) yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, i, 64)))
      assert.equal((yield* sw.portStats(b.id)).rxDrops, 0, "3000 small frames fit (more than 1024 slots)")
      // the budget left: 1024 × 1514 − 3000 × 64 bytes = 897 full-size frames
      for (let i = 0; i < 1000; i++) yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 10_000 + i, 1514)))
      assert.equal((yield* sw.portStats(b.id)).rxDrops, 1000 - Math.floor((1024 * 1514 - 3000 * 64) / 1514))
      yield* Deferred.succeed(gate, undefined)
      // an explicit byte budget: 1000 bytes hold ten 100-byte frames while the reader has not run yet
      yield* sw.setListener(c.id, () => Effect.void)
      for (let i = 0; i < 15; i++) yield* toEffect(sw.transmit(a.id, mkFrame(c.mac, a.mac, i, 100)))
      assert.equal((yield* sw.portStats(c.id)).rxDrops, 5)
    })))

  it("drops and counts frames for a port without a listener (mirage drops them too)", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b] = yield* registerN(sw, 2)
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0)))
      yield* toEffect(sw.transmit(a.id, mkFrame(BCAST, a.mac, 1)))
      assert.equal((yield* sw.portStats(b.id)).rxDrops, 2)
      const sb = sink()
      yield* sw.setListener(b.id, sb.listener)
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 2)))
      yield* sb.until(1)
      assert.deepEqual(sb.seqs(), [2])
      yield* sw.setListener(b.id, undefined)
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 3)))
      assert.equal((yield* sw.portStats(b.id)).rxDrops, 3)
    })))

  it("types FrameTooLarge on write, drops oversize frames at a smaller-MTU receiver, counts runts", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const jumbo = yield* sw.register({ mtu: 9000 })
      const small = yield* sw.register({ mtu: 1500 })
      const jumbo2 = yield* sw.register({ mtu: 9000 })
      const sSmall = sink(), sJumbo2 = sink()
      yield* sw.setListener(small.id, sSmall.listener)
      yield* sw.setListener(jumbo2.id, sJumbo2.listener)

      yield* toEffect(sw.transmit(jumbo.id, mkFrame(BCAST, jumbo.mac, 0, 9014))) // max size for MTU 9000
      yield* toEffect(sw.transmit(jumbo.id, mkFrame(BCAST, jumbo.mac, 1, 1514)))
      yield* sJumbo2.until(2)
      yield* sSmall.until(1)
      assert.deepEqual(sJumbo2.seqs(), [0, 1])
      assert.equal(sJumbo2.frames[0].length, 9014)
      assert.ok(sJumbo2.frames.every(intact))
      assert.deepEqual(sSmall.seqs(), [1])
      assert.equal((yield* sw.portStats(small.id)).rxDrops, 1, "the 1500-MTU port drops the jumbo frame")

      const e = failureOf(yield* Effect.exit(toEffect(sw.transmit(small.id, mkFrame(BCAST, small.mac, 2, 1515)))))
      assert.equal(e.reason, "FrameTooLarge")
      assert.match(e.message, /1515/)
      assert.equal(
        failureOf(yield* Effect.exit(toEffect(sw.transmit(jumbo.id, mkFrame(BCAST, jumbo.mac, 3, 9015))))).reason,
        "FrameTooLarge",
      )
      yield* toEffect(sw.transmit(small.id, new Uint8Array(10))) // a runt: dropped, counted, not an error
      const st = yield* sw.portStats(small.id)
      assert.equal(st.txErrors, 2)
      assert.equal(st.txPackets, 0)
      assert.equal((yield* sw.portStats(jumbo.id)).txErrors, 1)
    })))
})

describe("Switch: listeners", () => {
  it("keeps delivering after a listener fails, dies, throws or interrupts itself; logs and counts them", () => {
    const logged: Array<{ readonly level: string; readonly message: string }> = []
    const capture = Logger.make((o) => {
      logged.push({ level: o.logLevel, message: String(Array.isArray(o.message) ? o.message[0] : o.message) })
    })
    return run(
      Effect.gen(function* () {
        const sw = yield* Switch.make()
        const [a, b] = yield* registerN(sw, 2)
        const got: Array<number> = []
        yield* sw.setListener(b.id, (f) => {
          const seq = seqOf(f)
          got.push(seq)
          switch (seq) {
            case 1:
              return Effect.fail("boom") as unknown as Effect.Effect<void>
            case 2:
              return Effect.die(new Error("defect"))
            case 3:
              throw new Error("thrown")
            case 4:
              return Effect.interrupt
            default:
              return Effect.void
          }
        })
        for (let i = 0; i < 7; i++) yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, i)))
        yield* yieldUntil(() => got.length >= 7, "all 7 frames delivered")
        assert.deepEqual(got, range(0, 7))
        const st = yield* sw.portStats(b.id)
        assert.equal(st.rxErrors, 4)
        assert.equal(st.rxPackets, 7)
        assert.equal(yield* sw.activeReaders, 2, "the reader fiber survived")
        yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 7)))
        yield* yieldUntil(() => got.length >= 8, "a later frame is still delivered")
        assert.equal(logged.length, 4, "each failure is logged")
        assert.ok(logged.every((l) => l.level === "Warn" && /port 1/.test(l.message)))
      }).pipe(Effect.provide(Logger.layer([capture]))),
    )
  })

  it("runs the listener on the reader fiber, never on the writer's stack", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b] = yield* registerN(sw, 2)
      let inListener = 0
      const s = sink()
      yield* sw.setListener(b.id, (f) => {
        inListener++
        return s.listener(f)
      })
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0)))
      assert.equal(inListener, 0, "write returned before the listener ran")
      yield* s.until(1)
      assert.equal(inListener, 1)
    })))

  it("resetPortStats zeroes the counters", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b] = yield* registerN(sw, 2)
      const s = sink()
      yield* sw.setListener(b.id, s.listener)
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0, 100)))
      yield* s.until(1)
      assert.deepEqual(yield* sw.portStats(a.id), {
        rxBytes: 0,
        rxPackets: 0,
        txBytes: 100,
        txPackets: 1,
        rxDrops: 0,
        rxFlowDrops: 0,
        txErrors: 0,
        rxErrors: 0,
      })
      assert.equal((yield* sw.portStats(b.id)).rxBytes, 100)
      yield* sw.resetPortStats(a.id)
      yield* sw.resetPortStats(b.id)
      assert.equal((yield* sw.portStats(a.id)).txPackets, 0)
      assert.equal((yield* sw.portStats(b.id)).rxPackets, 0)
    })))
})

describe("Switch: unregister, flush and shutdown", () => {
  it("unregisterAndFlush waits for queued and in-flight deliveries of a slow listener", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b] = yield* registerN(sw, 2)
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const got: Array<number> = []
      yield* sw.setListener(b.id, (f) => {
        got.push(seqOf(f))
        return got.length === 1
          ? Deferred.succeed(entered, undefined).pipe(Effect.andThen(Deferred.await(gate)))
          : Effect.void
      })
      for (let i = 0; i < 5; i++) yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, i)))
      yield* Deferred.await(entered)
      const flush = yield* Effect.forkChild(sw.unregisterAndFlush(b.id), { startImmediately: true })
      assert.equal(flush.pollUnsafe(), undefined, "flush cannot finish while a delivery is in flight")
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 99))) // the port is closing: not accepted
      yield* Deferred.succeed(gate, undefined)
      const final = yield* Fiber.join(flush)
      assert.deepEqual(got, range(0, 5))
      assert.equal(final.rxPackets, 5)
      assert.equal(final.rxDrops, 1)
      assert.equal(yield* sw.activeReaders, 1)
      assert.equal(
        failureOf(yield* Effect.exit(toEffect(sw.transmit(b.id, mkFrame(a.mac, b.mac, 0))))).reason,
        "PortClosed",
      )
    })))

  it("unregisterAndFlush fails with FlushTimeout when a listener never finishes (TestClock)", () =>
    runTest(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b] = yield* registerN(sw, 2)
      const entered = yield* Deferred.make<void>()
      let interrupted = 0
      yield* sw.setListener(b.id, () =>
        Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              interrupted++
            })
          ),
        ))
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0)))
      yield* Deferred.await(entered)
      const flush = yield* Effect.forkChild(Effect.exit(sw.unregisterAndFlush(b.id, "2 seconds")), {
        startImmediately: true,
      })
      yield* TestClock.adjust("1999 millis")
      assert.equal(flush.pollUnsafe(), undefined)
      yield* TestClock.adjust("1 millis")
      const e = failureOf(yield* Fiber.join(flush))
      assert.equal(e.reason, "FlushTimeout")
      assert.equal(interrupted, 0, "the port stays closing; the listener is still running")
      const final = yield* sw.unregister(b.id) // force it
      assert.equal(final.rxPackets, 1)
      assert.equal(interrupted, 1)
      assert.equal(yield* sw.activeReaders, 1)
    })))

  it("unregister stops the port's reader and interrupts a running listener", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const [a, b] = yield* registerN(sw, 2)
      const entered = yield* Deferred.make<void>()
      let interrupted = 0
      yield* sw.setListener(b.id, () =>
        Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              interrupted++
            })
          ),
        ))
      yield* toEffect(sw.transmit(a.id, mkFrame(b.mac, a.mac, 0)))
      yield* Deferred.await(entered)
      assert.equal(yield* sw.activeReaders, 2)
      yield* sw.unregister(b.id)
      assert.equal(interrupted, 1)
      assert.equal(yield* sw.activeReaders, 1)
      yield* sw.unregister(a.id) // an idle reader, parked on its queue
      assert.equal(yield* sw.activeReaders, 0)
      const c = yield* sw.register()
      yield* sw.unregister(c.id) // a reader that may not have started yet
      assert.equal(yield* sw.activeReaders, 0)
    })))

  it("closing the switch's scope interrupts every reader fiber", () =>
    run(Effect.gen(function* () {
      const scope = yield* Scope.make()
      const sw = yield* Scope.provide(Switch.make(), scope)
      const ports = yield* registerN(sw, 3)
      const entered = yield* Deferred.make<void>()
      let interrupted = 0
      yield* sw.setListener(ports[1].id, () =>
        Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              interrupted++
            })
          ),
        ))
      yield* toEffect(sw.transmit(ports[0].id, mkFrame(ports[1].mac, ports[0].mac, 0)))
      yield* Deferred.await(entered)
      yield* yieldUntil(() => Effect.runSync(sw.activeReaders) === 3, "3 readers running")
      yield* Scope.close(scope, Exit.void)
      assert.equal(yield* sw.activeReaders, 0)
      assert.equal(interrupted, 1)
      assert.deepEqual(yield* sw.ports, [])
      assert.equal(
        failureOf(yield* Effect.exit(toEffect(sw.transmit(ports[0].id, mkFrame(BCAST, 0, 0))))).reason,
        "PortClosed",
      )
    })))
})
