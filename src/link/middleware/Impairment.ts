/**
 * Link impairments: a {@link Backend} middleware that drops, damages, duplicates and reorders frames, for testing
 * protocols on a bad link (mirage-tcpip's `Vnetif_backends`, made public and composable).
 *
 * `Impairment.layer(spec)` wraps the Backend below it and provides an impaired Backend above it, so `Vnetif` and
 * `Stack.make` see the bad link without knowing:
 * ```ts
 * const link = Impairment.layer({ loss: { probability: 0.01 } }).pipe(Layer.provide(Switch.layer()))
 * ```
 * `Impairment.make(spec)` (Backend from the context) and `Impairment.wrap(backend, spec)` give an
 * {@link ImpairmentHandle}: the impaired Backend plus `setPartitioned`, `stats` and `flushHeld`. Several layers
 * stack (the outermost acts first), and one spec may list several impairments.
 *
 * One device: `Impairment.device(device, spec, { direction })` (or `Impairment.deviceLayer`, a Layer over `Vnetif`)
 * impairs a single device instead of a whole Backend: the frames it sends (`"out"`, default), the frames it
 * receives (`"in"`, between the device and its handler; the device's monitor still sees them before the
 * impairment), or both (`"both"`, two independent impairments with their own generators). Every stage applies, on
 * a backend of one port: the device. E.g. a lossy, slow NIC for one stack only:
 * `Stack.make(config, { vnetif: Impairment.deviceLayer(spec).pipe(Layer.provide(Vnetif.layer())) })`.
 *
 * Where: impairments act on `transmit`, on the *sending* side, for frames sent from every port or only from the
 * ports listed in `ports`. Frames from other ports pass untouched, at no cost. Receivers are not impaired directly
 * (a frame dropped on the way out never arrives anywhere).
 *
 * Order: the stages run in this fixed order for each frame (a dropped frame goes no further):
 * 1. `maxFrameSize`: a longer frame is refused with `BackendError` "FrameTooLarge" (mirage's MTU enforcement).
 * 2. `partition`: while partitioned (initially `spec.partition`, then `setPartitioned`), every frame is dropped.
 * 3. `dropAfter`: once `bytes` bytes have passed through this stage (all impaired ports together), the next
 *    frame opens a window of `duration` during which every frame is dropped (mirage: 1 s after 1 MB). When the
 *    window ends frames pass again; with `repeat` the count restarts and the next `bytes` open another window.
 * 4. `loss`: uniform loss, each frame dropped with `probability`; then `burstLoss`, the Gilbert–Elliott model: a
 *    two-state Markov chain (good, bad) shared by all impaired ports, starting good. Each frame is dropped with the
 *    current state's loss probability (`lossGood`, default 0; `lossBad`, default 1), then the chain moves good → bad
 *    with probability `p` and bad → good with probability `r` (mean burst length 1/r frames, mean loss rate
 *    `p / (p + r)` with the defaults).
 * 5. `smallFrameLoss`: a frame of at most `maxBytes` bytes (mirage: ≤ 100, frames without payload, i.e. bare ACKs)
 *    is dropped with `probability`.
 * 6. `corrupt`: with `probability`, one random bit at or after byte `fromByte` (default 14: past the Ethernet header,
 *    so the frame still reaches its receiver and it is the IP/TCP/UDP checksums that must catch it) is flipped in a
 *    copy. A frame no longer than `fromByte` is left alone.
 * 7. `trailingBytes`: 0..`max` zero bytes (uniform) are appended in a copy (mirage: 0–9; what Ethernet padding
 *    does to short frames). The count is capped so the frame stays within the sending port's `mtu + 14`.
 * 8. `duplicate`: with `probability` the frame is sent twice in a row (the same bytes: allowed by the ownership
 *    contract).
 * 9. `reorder`: with `probability` a frame is held back and sent after the next `holdFrames` frames of the same
 *    port (one held frame per port at a time). A held frame is never lost silently: it is also sent when
 *    `flushAfter` (default 10 ms, Clock time) passes without `holdFrames` later frames, when its port is
 *    unregistered through this backend (before the unregister), on `flushHeld`, and when the Scope closes.
 * 10. `rate`: a token bucket per sending port (its uplink): `bitsPerSecond`, a bucket of `burstBytes` (default one
 *    frame of the port's MTU, `mtu + 14`) and a bounded FIFO queue of `queueBytes` bytes waiting to be sent. A frame
 *    leaves when the bucket holds its size (a frame larger than the bucket leaves when the bucket is full, and
 *    leaves a debt), never before the frame in front of it. A frame that finds a non-empty queue with no room for
 *    it is dropped (tail drop) and counted in `droppedQueue`. Default `queueBytes`: the bandwidth-delay product
 *    `bitsPerSecond / 8 × 2 × delay.latency` (the round trip of a symmetric link whose other direction has the same
 *    latency: the classic buffer for one TCP flow to keep the link busy), at least 64 KiB.
 * 11. `delay`: each frame arrives `latency` after it leaves the rate stage (or after the transmit), plus a jitter drawn
 *    uniformly from [-`jitter`, +`jitter`] by the stage's own generator (a delay never goes below 0). With
 *    `correlation` ρ (0..1), the uniform draw is `(1 - ρ)·u + ρ·previous` (netem's correlated jitter). By default
 *    a frame is never released before the previous frame of the same port (its due time is raised to that frame's:
 *    jitter spreads frames, never reorders them); with `reorder: true` frames are released in due-time order, so
 *    a jitter larger than the spacing of frames reorders them.
 *
 * Stages 9–11 keep frames for later: a held frame, and per port a line ordered by due time (stages 10 and 11). Their
 * timers are fibers of the impairment, never one per frame: per port one line timer (started when the line becomes
 * non-empty, ended when it is empty) and one held-frame timer, each sleeping with the `Clock` until its deadline and
 * then sending every frame that is due, in order. Under `TestClock` a frame is sent exactly at its due time (a frame
 * sent at t = 0 through a 10 ms latency reaches the backend below at t = 10 ms, not before). A frame that needs no
 * wait (idle link, no latency) is sent at once, within the `transmit` call, and keeps the backend's error; a delayed
 * frame's later failure (its port gone below) is counted in `delayedDiscarded`. A frame larger than the port's
 * `mtu + 14`, or a runt, skips the line: it is sent at once so the backend below reports it (typed `FrameTooLarge`,
 * `txErrors`). Like held frames, frames still in the line are sent at once (not lost) when their port is
 * unregistered through this backend, on `flushHeld`, and when the Scope closes (so closing a test under `TestClock`
 * never waits for virtual time). Due times are computed from the rate and the delays, not measured, so the average
 * rate is exact even with the live `Clock`, whose timers have the granularity of the platform's `setTimeout` (about
 * 1 ms: frames due within the same millisecond leave together).
 *
 * Contract: like every link-layer member, `transmit` is synchronous plain TypeScript — no Effect per frame — and
 * returns the error or `undefined` (sent, held, queued, or dropped and counted).
 *
 * Modules (`impairment/`): `Spec.ts` (the spec, its Schema, the stats and handle types), `Stages.ts` (stages 1–8:
 * pure per-frame decisions, generators and clock injected), `Shaper.ts` (stages 9–11: owns the held frames, the
 * rate queues and delay lines, and their timer fibers), `Middleware.ts` (the Backend middleware composing both) and
 * `Device.ts` (the adapter for one device). This file is the public face.
 *
 * Ownership: the sender's frame is never changed. Stages 6 and 7 write into one new buffer (copied once even when
 * both apply); every other stage passes the very same bytes on (a delayed frame is kept as is until sent: the
 * ownership contract makes that safe).
 *
 * Determinism: every random decision comes from Effect's `Random`, without per-frame Effect overhead. When the
 * backend is built it draws 128 bits per stage from `Random` (or from `Random.withSeed(spec.seed)` when a seed is
 * given) and seeds one xoshiro128** generator per random stage (the jitter of `delay` included), which then runs in
 * plain TypeScript on the hot path. Each stage has its own stream, so adding an impairment to a spec does not change
 * the decisions of the others (the same seed loses the same frames with or without trailing bytes). Time comes from
 * the `Clock` of the fiber that builds the backend (used for `dropAfter`, the held-frame timeouts and the delay line).
 * So a run under `TestClock` with a seeded `Random` (`Random.withSeed`, or `spec.seed`) makes the same decisions
 * every time, given the same frames in the same order.
 *
 * Errors: a bad spec fails the build with `BackendError` "InvalidConfig" (decoded with {@link ImpairmentSpecSchema},
 * every problem listed; unknown keys are refused so a typo cannot silently disable an impairment). One error type
 * for the whole link layer, so the middleware stays a drop-in Backend.
 *
 * Counters: frames dropped or changed here are counted in {@link ImpairmentStats}; the ports' own `PortStats`
 * (kept by the backend below) count only what reached it. The handle is also a `LinkDropSource` (`dropCounters`:
 * drops by reason, plus those reported by the backend below), which `LinkMetrics` publishes as Effect Metrics.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Backend, type BackendError, type BackendShape } from "../Backend.ts"
import type { Vnetif, VnetifShape } from "../Vnetif.ts"
import { device, type DeviceImpairmentOptions, deviceLayer, type ImpairedDevice } from "./impairment/Device.ts"
import { wrap } from "./impairment/Middleware.ts"
import type { ImpairmentHandle, ImpairmentSpec } from "./impairment/Spec.ts"

export type { DeviceImpairmentOptions, ImpairedDevice, ImpairmentDirection } from "./impairment/Device.ts"
export {
  type BurstLossSpec,
  type CorruptSpec,
  type DelaySpec,
  type DropAfterSpec,
  type DuplicateSpec,
  type ImpairmentHandle,
  type ImpairmentSpec,
  ImpairmentSpecSchema,
  type ImpairmentStats,
  type LossSpec,
  type RateSpec,
  type ReorderSpec,
  type SmallFrameLossSpec,
  type TrailingBytesSpec,
} from "./impairment/Spec.ts"

const make = (spec: ImpairmentSpec): Effect.Effect<ImpairmentHandle, BackendError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    return yield* wrap(yield* Backend, spec)
  })

const layer = (spec: ImpairmentSpec): Layer.Layer<Backend, BackendError, Backend> => Layer.effect(Backend, make(spec))

/** Link impairments as Backend middleware: `Impairment.layer(spec)`, `Impairment.make(spec)`, `Impairment.wrap`. */
export const Impairment: {
  /** A Layer that wraps the Backend below it and provides the impaired Backend above it. */
  readonly layer: (spec: ImpairmentSpec) => Layer.Layer<Backend, BackendError, Backend>
  /** Wraps the context's Backend; the handle lives as long as the Scope (held frames are flushed on close). */
  readonly make: (spec: ImpairmentSpec) => Effect.Effect<ImpairmentHandle, BackendError, Backend | Scope.Scope>
  /** Wraps a Backend value; the handle lives as long as the Scope. */
  readonly wrap: (
    backend: BackendShape,
    spec: ImpairmentSpec,
  ) => Effect.Effect<ImpairmentHandle, BackendError, Scope.Scope>
  /** Impairs one device: the frames it sends, receives, or both; lives as long as the Scope. */
  readonly device: (
    device: VnetifShape,
    spec: ImpairmentSpec,
    options?: DeviceImpairmentOptions,
  ) => Effect.Effect<ImpairedDevice, BackendError, Scope.Scope>
  /** `device` as a Layer over the `Vnetif` below it (e.g. as the `vnetif` override of `Stack.make`). */
  readonly deviceLayer: (
    spec: ImpairmentSpec,
    options?: DeviceImpairmentOptions,
  ) => Layer.Layer<Vnetif, BackendError, Vnetif>
} = { layer, make, wrap, device, deviceLayer }
