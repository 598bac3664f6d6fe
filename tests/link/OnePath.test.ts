/**
 * One send path: the link layer's `transmit` is synchronous through every middleware, so observing or impairing a
 * link never puts TCP on another (slower, deferred) path.
 *
 * The rig stacks, from the stacks' devices down to a Switch:
 *
 *   top probe → Impairment (active, passes every frame) → Trace → Capture → LinkMetrics → bottom probe → Switch
 *
 * The top probe sets a flag around its call to the transmit below it; the bottom probe counts every frame and
 * whether it arrives while that flag is set, i.e. synchronously within the same call (no queue, no fiber, no Effect
 * in between). Two `Stack.make` stacks run a byte-exact TCP transfer (length and hash) over it; then the frame
 * counts must agree at the top, the bottom, the capture, the trace and the link metrics, and no frame may arrive
 * deferred. A negative control inserts a middleware that defers (a queue and a fiber, a legitimate asynchronous
 * device) and the checker must report it.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import { Backend, type BackendShape, forwardBackend, type PortId } from "../../src/link/Backend.ts"
import { Capture } from "../../src/link/middleware/Capture.ts"
import { Impairment } from "../../src/link/middleware/Impairment.ts"
import { LinkMetrics } from "../../src/link/middleware/Metrics.ts"
import { Trace } from "../../src/link/middleware/Trace.ts"
import { Switch } from "../../src/link/Switch.ts"
import { node, randomBytes, transfer } from "../tcp/_service.ts"
import { run } from "./_support.ts"

/** What the probes saw. */
interface Probes {
  /** Frames handed to the top probe's transmit. */
  top: number
  /** TCP frames among them. */
  topTcp: number
  /** Frames that reached the bottom probe. */
  bottom: number
  /** Frames that reached the bottom probe while the top probe's call was still running. */
  synchronous: number
  /** Frames that reached the bottom probe outside any top call: deferred by something in between. */
  deferred: number
  /** The top probe's flag: a call is running. */
  inTop: boolean
}

const isTcp = (f: Uint8Array): boolean => f.length >= 34 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 6

/** The bottom probe: counts every frame and whether it arrives within a top call. */
const bottomProbe = (inner: BackendShape, p: Probes): BackendShape =>
  forwardBackend(inner, {
    transmit: (id: PortId, frame: Uint8Array) => {
      p.bottom++
      if (p.inTop) p.synchronous++
      else p.deferred++
      return inner.transmit(id, frame)
    },
  })

/** The top probe: sets the flag around the transmit below it. */
const topProbe = (inner: BackendShape, p: Probes): BackendShape =>
  forwardBackend(inner, {
    transmit: (id: PortId, frame: Uint8Array) => {
      p.top++
      if (isTcp(frame)) p.topTcp++
      p.inTop = true
      try {
        return inner.transmit(id, frame)
      } finally {
        p.inTop = false
      }
    },
  })

/** A middleware that defers every frame to a fiber of its own (legitimate for a device; here, the control). */
const deferring = (inner: BackendShape): Effect.Effect<BackendShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<readonly [PortId, Uint8Array]>()
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeAll(queue), (batch) =>
      Effect.sync(() => {
        for (const [id, frame] of batch) inner.transmit(id, frame)
      }))))
    return forwardBackend(inner, {
      transmit: (id: PortId, frame: Uint8Array) => {
        Queue.offerUnsafe(queue, [id, frame])
        return undefined
      },
    })
  })

/** What one run observed at every level. */
interface Observed {
  readonly probes: Probes
  readonly captured: number
  readonly traced: number
  readonly traceDropped: number
  readonly metricsTx: number
  readonly segmentsOut: number
}

/** Problems with one path; empty when every frame went down synchronously and every level counted it. */
const onePathProblems = (o: Observed): Array<string> => {
  const p = o.probes
  const problems: Array<string> = []
  if (p.deferred > 0) problems.push(`${p.deferred} of ${p.bottom} frames reached the bottom deferred (not in the call)`)
  if (p.synchronous !== p.top) {
    problems.push(`${p.synchronous} frames synchronous at the bottom, ${p.top} sent at the top`)
  }
  if (p.bottom !== p.top) problems.push(`bottom saw ${p.bottom} frames, top ${p.top}`)
  if (o.captured !== p.top) problems.push(`capture recorded ${o.captured} frames, top ${p.top}`)
  if (o.traced !== p.top || o.traceDropped !== 0) problems.push(`trace has ${o.traced} lines (${o.traceDropped} lost)`)
  if (o.metricsTx !== p.top) problems.push(`link metrics count ${o.metricsTx} tx frames, top ${p.top}`)
  return problems
}

/** Builds the rig (optionally with a deferring middleware under the top probe) and runs a TCP transfer over it. */
const onePath = (bytes: number, withDeferral: boolean): Effect.Effect<Observed, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const probes: Probes = { top: 0, topTcp: 0, bottom: 0, synchronous: 0, deferred: 0, inTop: false }
    const sw = yield* Switch.make()
    const metrics = yield* LinkMetrics.wrap(bottomProbe(sw, probes))
    const capture = yield* Capture.wrap(metrics, Sink.drain)
    const trace = yield* Trace.wrap(capture, { maxBufferedLines: 1_000_000 }).pipe(
      Effect.provide(Logger.layer([Logger.make(() => {})])), // the lines are counted, not printed
      Effect.provideService(References.MinimumLogLevel, "Debug"),
    )
    // The stacks' ports are 0 and 1: the impairment is active for both, and its stages pass every frame.
    const impaired = yield* Impairment.wrap(trace, {
      ports: [0, 1],
      loss: { probability: 0 },
      smallFrameLoss: { probability: 0, maxBytes: 100 },
      duplicate: { probability: 0 },
      seed: 1,
    })
    const top = topProbe(withDeferral ? yield* deferring(impaired) : impaired, probes)
    const r = yield* Effect.gen(function* () {
      const a = yield* node("10.0.0.1/24")
      const b = yield* node("10.0.0.2/24")
      return yield* transfer(a, b, randomBytes(bytes, 7)) // asserts length and hash
    }).pipe(Effect.provideService(Backend, top))
    const impairment = yield* impaired.stats
    assert.equal(impairment.frames, probes.bottom, "every frame went through the impairment's stages")
    assert.equal(impairment.dropped, 0)
    const traceStats = yield* trace.trace.stats
    assert.ok(traceStats.enabled, "the trace is on")
    return {
      probes,
      captured: (yield* capture.capture.stats).frames,
      traced: traceStats.lines,
      traceDropped: traceStats.dropped,
      metricsTx: (yield* metrics.stats).totals.txPackets,
      segmentsOut: r.client.segmentsOut + r.server.segmentsOut,
    }
  })

describe("one send path through every middleware", () => {
  it("Capture + Trace + Impairment + LinkMetrics keep every TCP frame on the synchronous transmit", () =>
    run(Effect.gen(function* () {
      const o = yield* onePath(1 << 20, false)
      assert.deepEqual(onePathProblems(o), [])
      assert.ok(o.segmentsOut > 700, `segments sent: ${o.segmentsOut}`)
      assert.ok(o.probes.topTcp >= o.segmentsOut, `${o.probes.topTcp} TCP frames for ${o.segmentsOut} segments`)
      assert.equal(o.probes.synchronous, o.probes.top)
    })))

  it("negative control: a middleware that defers is reported by the checker", () =>
    run(Effect.gen(function* () {
      const o = yield* onePath(64 * 1024, true)
      const problems = onePathProblems(o)
      assert.ok(o.probes.deferred > 0, "frames arrived outside the top call")
      assert.equal(o.probes.synchronous, 0)
      assert.ok(problems.some((p) => p.includes("deferred")), `problems: ${problems.join("; ")}`)
    })))
})
