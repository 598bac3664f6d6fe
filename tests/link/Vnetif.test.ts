/**
 * Tests of Vnetif, the device over a Backend port: its configuration (VnetifConfig), transmit/listen with exact bytes
 * and order, handler replacement, disconnect semantics, typed errors, MTUs, stats, monitor, ready, and the Layer's
 * lifetime.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { Backend } from "../../src/link/Backend.ts"
import { Switch } from "../../src/link/Switch.ts"
import {
  type FrameDirection,
  Vnetif,
  VnetifConfig,
  type VnetifConfigInput,
  VnetifError,
} from "../../src/link/Vnetif.ts"
import { decodeConfig } from "../../src/util/Config.ts"
import { toEffect } from "../../src/util/Transmit.ts"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { intact, mkFrame, range, run, seqOf, sink, yieldUntil } from "./_support.ts"

const BCAST = MacAddress.BROADCAST

/** Runs a program with a fresh learning Switch as the Backend. */
const withSwitch = <A, E>(e: Effect.Effect<A, E, Backend | Scope.Scope>): Effect.Effect<A, E, Scope.Scope> =>
  Effect.gen(function* () {
    const sw = yield* Switch.make()
    return yield* Effect.provideService(e, Backend, sw)
  })

const vnetifFailure = <A>(exit: Exit.Exit<A, VnetifError>): VnetifError => {
  assert.ok(Exit.isFailure(exit), "expected a failure")
  const err = Cause.findErrorOption(exit.cause)
  assert.ok(err._tag === "Some", `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  assert.ok(err.value instanceof VnetifError)
  return err.value
}

describe("Vnetif: basics", () => {
  it("has a 02:50 MAC, MTU 1500 and checksum offload by default; options override them", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make({ mtu: 9000, checksum: ChecksumCapabilities.all })
      assert.equal(a.id, 0)
      assert.equal(MacAddress.format(a.mac), "02:50:00:00:00:00")
      assert.equal(MacAddress.format(b.mac), "02:50:00:00:00:01")
      assert.equal(a.mtu, 1500)
      assert.equal(b.mtu, 9000)
      assert.deepEqual(a.checksum, ChecksumCapabilities.offload)
      assert.deepEqual(b.checksum, ChecksumCapabilities.all)
      const bad = yield* Effect.exit(Vnetif.make({ mtu: 20 }))
      assert.ok(Exit.isFailure(bad))
    }))))

  it("VnetifConfig owns the defaults; checksum by name or value; a bad or misspelled key is InvalidConfig", () =>
    run(withSwitch(Effect.gen(function* () {
      const defaults = decodeConfig(VnetifConfig, {})
      assert.ok(defaults._tag === "Success")
      assert.deepEqual(defaults.success, { mtu: 1500, checksum: ChecksumCapabilities.offload })
      assert.deepEqual((yield* Vnetif.make({ checksum: "all" })).checksum, ChecksumCapabilities.all)
      const custom = { ipv4: "both", udp: "none", tcp: "tx", icmpv4: "rx" } as const
      assert.deepEqual((yield* Vnetif.make({ checksum: custom })).checksum, custom)
      const registered = (yield* (yield* Backend).ports).length
      const typo = vnetifFailure(yield* Effect.exit(Vnetif.make({ mtuu: 9000 } as VnetifConfigInput)))
      assert.equal(typo.reason, "InvalidConfig")
      assert.match(typo.message, /mtuu/)
      const small = vnetifFailure(yield* Effect.exit(Vnetif.make({ mtu: 20 })))
      assert.equal(small.reason, "InvalidConfig")
      assert.match(small.message, /mtu/)
      const queue = vnetifFailure(yield* Effect.exit(Vnetif.make({ queueCapacity: 0 })))
      assert.equal(queue.reason, "InvalidConfig")
      for (const flowBuckets of [0, 65537, 1.5]) {
        const buckets = vnetifFailure(yield* Effect.exit(Vnetif.make({ flowBuckets })))
        assert.equal(buckets.reason, "InvalidConfig")
        assert.match(buckets.message, /flowBuckets/)
      }
      yield* Vnetif.make({ flowBuckets: 1 })
      yield* Vnetif.make({ flowBuckets: 100 }) // rounded up to 128 by the switch
      const ports = (yield* (yield* Backend).ports).length
      assert.equal(ports, registered + 2)
      assert.equal(ports - 2, registered, "no port registered for a refused config")
    }))))

  it("delivers written frames in order with exact bytes, zero copy", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make()
      const s = sink()
      yield* Effect.forkScoped(b.listen(s.listener))
      yield* b.ready
      const sent = range(0, 100).map((i) => mkFrame(b.mac, a.mac, i, 60 + i * 14))
      for (const f of sent) yield* toEffect(a.transmit(f))
      yield* s.until(100)
      assert.deepEqual(s.seqs(), range(0, 100))
      assert.ok(s.frames.every(intact))
      s.frames.forEach((f, i) => assert.equal(f, sent[i], "the receiver gets the very same bytes (no copy)"))
    }))))

  it("replaces the handler: the second gets the later frames, the first gets none of them", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make()
      const first = sink(), second = sink()
      const l1 = yield* Effect.forkChild(b.listen(first.listener), { startImmediately: true })
      for (let i = 0; i < 3; i++) yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, i)))
      yield* first.until(3)
      // listen installs the handler before it suspends, so a fiber started immediately has installed it
      const l2 = yield* Effect.forkChild(b.listen(second.listener), { startImmediately: true })
      for (let i = 3; i < 6; i++) yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, i)))
      yield* second.until(3)
      assert.deepEqual(first.seqs(), [0, 1, 2])
      assert.deepEqual(second.seqs(), [3, 4, 5])
      yield* b.disconnect
      yield* Fiber.join(l1)
      yield* Fiber.join(l2)
    }))))

  it("listen completes on disconnect; writes after it fail with Disconnected; disconnect is idempotent", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make()
      const s = sink()
      const listening = yield* Effect.forkChild(b.listen(s.listener), { startImmediately: true })
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 0)))
      yield* s.until(1)
      assert.equal(listening.pollUnsafe(), undefined)
      yield* b.disconnect
      const exit = yield* Fiber.await(listening)
      assert.ok(Exit.isSuccess(exit), "listen returns normally")
      yield* b.disconnect
      const e = vnetifFailure(yield* Effect.exit(toEffect(b.transmit(mkFrame(a.mac, b.mac, 1)))))
      assert.equal(e.reason, "Disconnected")
      assert.equal((yield* b.stats).rxPackets, 1, "stats survive the disconnect")
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 2))) // b's port is gone: flooded to nobody, not an error
      yield* b.listen(s.listener) // listen on a disconnected device returns at once
    }))))

  it("disconnect flushes: a slow handler gets every queued frame before listen returns", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make()
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const got: Array<number> = []
      const listening = yield* Effect.forkChild(
        b.listen((f) => {
          got.push(seqOf(f))
          return got.length === 1
            ? Deferred.succeed(entered, undefined).pipe(Effect.andThen(Deferred.await(gate)))
            : Effect.void
        }),
        { startImmediately: true },
      )
      for (let i = 0; i < 10; i++) yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, i)))
      yield* Deferred.await(entered)
      const disconnecting = yield* Effect.forkChild(b.disconnect, { startImmediately: true })
      assert.equal(disconnecting.pollUnsafe(), undefined)
      assert.equal(
        vnetifFailure(yield* Effect.exit(toEffect(b.transmit(mkFrame(a.mac, b.mac, 0))))).reason,
        "Disconnected",
      )
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(disconnecting)
      yield* Fiber.join(listening)
      assert.deepEqual(got, range(0, 10))
    }))))

  it("a handler may disconnect its own device without deadlock", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make()
      const got: Array<number> = []
      const listening = yield* Effect.forkChild(
        b.listen((f) => {
          got.push(seqOf(f))
          return seqOf(f) === 1 ? b.disconnect : Effect.void
        }),
        { startImmediately: true },
      )
      for (let i = 0; i < 3; i++) yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, i)))
      yield* Fiber.join(listening)
      assert.deepEqual(got, [0, 1])
    }))))
})

describe("Vnetif: errors, MTU, stats", () => {
  it("types FrameTooLarge, and a 9000-MTU device works beside a 1500 one", () =>
    run(withSwitch(Effect.gen(function* () {
      const jumbo = yield* Vnetif.make({ mtu: 9000 })
      const jumbo2 = yield* Vnetif.make({ mtu: 9000 })
      const small = yield* Vnetif.make()
      const sj = sink(), ss = sink()
      yield* Effect.forkScoped(jumbo2.listen(sj.listener))
      yield* Effect.forkScoped(small.listen(ss.listener))
      yield* jumbo2.ready
      yield* small.ready
      yield* toEffect(jumbo.transmit(mkFrame(BCAST, jumbo.mac, 0, 9014)))
      yield* toEffect(jumbo.transmit(mkFrame(BCAST, jumbo.mac, 1, 1514)))
      yield* sj.until(2)
      yield* ss.until(1)
      assert.deepEqual(sj.seqs(), [0, 1])
      assert.ok(sj.frames.every(intact))
      assert.deepEqual(ss.seqs(), [1])
      assert.equal((yield* small.stats).rxDrops, 1, "too large for the receiver: dropped and counted there")
      const e = vnetifFailure(yield* Effect.exit(toEffect(small.transmit(mkFrame(BCAST, small.mac, 2, 1515)))))
      assert.equal(e.reason, "FrameTooLarge")
      assert.equal((yield* small.stats).txErrors, 1)
      assert.equal(
        vnetifFailure(yield* Effect.exit(toEffect(jumbo.transmit(new Uint8Array(9015))))).reason,
        "FrameTooLarge",
      )
    }))))

  it("counts rx/tx bytes, packets and drops; resetStats zeroes them", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make({ queueCapacity: 4 })
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 0, 100))) // b has no handler yet: dropped
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const s = sink()
      yield* Effect.forkScoped(b.listen((f) =>
        seqOf(f) === 1
          ? Deferred.succeed(entered, undefined).pipe(
            Effect.andThen(Deferred.await(gate)),
            Effect.andThen(s.listener(f)),
          )
          : s.listener(f)
      ))
      yield* b.ready
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 1, 100)))
      yield* Deferred.await(entered) // the handler holds frame 1
      for (let i = 2; i <= 10; i++) yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, i, 100))) // 4 fit in the queue, 5 dropped
      yield* Deferred.succeed(gate, undefined)
      yield* s.until(5)
      yield* toEffect(b.transmit(mkFrame(a.mac, b.mac, 11, 200)))
      yield* toEffect(a.transmit(new Uint8Array(5))) // a runt
      assert.deepEqual(yield* a.stats, {
        rxBytes: 0,
        rxPackets: 0,
        txBytes: 1100,
        txPackets: 11,
        rxDrops: 1, // a has no handler
        rxFlowDrops: 0,
        txErrors: 1,
      })
      assert.deepEqual(yield* b.stats, {
        rxBytes: 500,
        rxPackets: 5,
        txBytes: 200,
        txPackets: 1,
        rxDrops: 6,
        rxFlowDrops: 0,
        txErrors: 0,
      })
      assert.deepEqual(s.seqs(), [1, 2, 3, 4, 5])
      yield* b.resetStats
      assert.deepEqual(yield* b.stats, {
        rxBytes: 0,
        rxPackets: 0,
        txBytes: 0,
        txPackets: 0,
        rxDrops: 0,
        rxFlowDrops: 0,
        txErrors: 0,
      })
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 12, 100)))
      yield* s.until(6)
      yield* b.disconnect
      assert.equal((yield* b.stats).rxPackets, 1, "the final counters are kept after disconnect")
      yield* b.resetStats
      assert.equal((yield* b.stats).rxPackets, 0)
    }))))
})

describe("Vnetif: monitor, ready, lifetime", () => {
  it("monitor sees every frame out and in, until removed", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const b = yield* Vnetif.make()
      const seenA: Array<[FrameDirection, number]> = []
      const seenB: Array<[FrameDirection, number]> = []
      yield* a.monitor((d, f) => seenA.push([d, seqOf(f)]))
      yield* b.monitor((d, f) => seenB.push([d, seqOf(f)]))
      const sa = sink(), sb = sink()
      yield* Effect.forkScoped(a.listen(sa.listener))
      yield* Effect.forkScoped(b.listen(sb.listener))
      yield* a.ready
      yield* b.ready
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 0)))
      yield* sb.until(1) // delivery is asynchronous: wait for it so the order of b's events is fixed
      yield* toEffect(b.transmit(mkFrame(a.mac, b.mac, 1)))
      yield* Effect.exit(toEffect(a.transmit(new Uint8Array(2000)))) // refused: not seen
      yield* sa.until(1)
      assert.deepEqual(seenA, [["out", 0], ["in", 1]])
      assert.deepEqual(seenB, [["in", 0], ["out", 1]])
      yield* a.monitor(undefined)
      yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, 2)))
      yield* sb.until(2)
      assert.equal(seenA.length, 2)
      assert.deepEqual(seenB, [["in", 0], ["out", 1], ["in", 2]])
    }))))

  it("ready completes only after listen", () =>
    run(withSwitch(Effect.gen(function* () {
      const a = yield* Vnetif.make()
      const ready = yield* Effect.forkChild(a.ready, { startImmediately: true })
      yield* Effect.yieldNow
      assert.equal(ready.pollUnsafe(), undefined)
      yield* Effect.forkChild(a.listen(() => Effect.void), { startImmediately: true })
      yield* Fiber.join(ready)
      yield* a.ready
    }))))

  it("a dying handler does not stop later deliveries", () => {
    let warnings = 0
    const countWarnings = Logger.make((o) => {
      if (o.logLevel === "Warn") warnings++
    })
    return run(
      withSwitch(Effect.gen(function* () {
        const a = yield* Vnetif.make()
        const b = yield* Vnetif.make()
        const got: Array<number> = []
        yield* Effect.forkScoped(b.listen((f) => {
          got.push(seqOf(f))
          return seqOf(f) % 2 === 0 ? Effect.die(new Error("handler bug")) : Effect.void
        }))
        yield* b.ready
        for (let i = 0; i < 6; i++) yield* toEffect(a.transmit(mkFrame(b.mac, a.mac, i)))
        yield* yieldUntil(() => got.length >= 6, "6 frames delivered")
        assert.deepEqual(got, range(0, 6))
        assert.equal(warnings, 3)
        assert.equal((yield* b.stats).rxPackets, 6)
      })).pipe(Effect.provide(Logger.layer([countWarnings]))),
    )
  })

  it("Vnetif.layer: closing its scope disconnects the device and ends listen", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make()
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(Vnetif.layer({ mtu: 4000 }), scope).pipe(
        Effect.provideService(Backend, sw),
      )
      const dev = Context.get(ctx, Vnetif)
      assert.equal(dev.mtu, 4000)
      assert.equal((yield* sw.ports).length, 1)
      const listening = yield* Effect.forkChild(dev.listen(() => Effect.void), { startImmediately: true })
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(listening)
      assert.equal((yield* sw.ports).length, 0, "the port is unregistered")
      assert.equal(yield* sw.activeReaders, 0)
      assert.equal(
        vnetifFailure(yield* Effect.exit(toEffect(dev.transmit(mkFrame(BCAST, dev.mac, 0))))).reason,
        "Disconnected",
      )
    })))

  it("Switch.layer + Vnetif.layer compose into a device", () =>
    run(
      Effect.gen(function* () {
        const dev = yield* Vnetif
        assert.equal(dev.id, 0)
        yield* toEffect(dev.transmit(mkFrame(BCAST, dev.mac, 0)))
        assert.equal((yield* dev.stats).txPackets, 1)
      }).pipe(Effect.provide(Vnetif.layer().pipe(Layer.provide(Switch.layer({ mode: "hub" }))))),
    ))
})
