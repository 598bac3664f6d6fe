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
 * impairs a single NetworkDevice instead of a whole Backend: the frames it sends (`"out"`, default), the frames it
 * receives (`"in"`, between the device and its handler; the device's monitor still sees them before the
 * impairment), or both (`"both"`, two independent impairments with their own generators). Every stage applies, on
 * a backend of one port: the device. E.g. a lossy, slow NIC for one stack only:
 * `Stack.make(config, { vnetif: Impairment.deviceLayer(spec).pipe(Layer.provide(Vnetif.layer())) })`.
 *
 * Where: impairments act on `write`, on the *sending* side, for frames written from every port or only from the
 * ports listed in `ports`. Frames from other ports pass untouched, at no cost. Receivers are not impaired directly
 * (a frame dropped on the way out never arrives anywhere).
 *
 * Order: the stages run in this fixed order for each frame (a dropped frame goes no further):
 * 1. `maxFrameSize`: a longer frame fails the write with `BackendError` "FrameTooLarge" (mirage's MTU enforcement).
 * 2. `partition`: while partitioned (initially `spec.partition`, then `setPartitioned`), every frame is dropped.
 * 3. `dropAfter`: once `bytes` bytes have been written through this stage (all impaired ports together), the next
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
 * 8. `duplicate`: with `probability` the frame is written twice in a row (the same bytes: allowed by the ownership
 *    contract).
 * 9. `reorder`: with `probability` a frame is held back and written after the next `holdFrames` frames of the same
 *    port (one held frame per port at a time). A held frame is never lost silently: it is also written when
 *    `flushAfter` (default 10 ms, Clock time) passes without `holdFrames` later frames, when its port is
 *    unregistered through this backend (before the unregister), on `flushHeld`, and when the Scope closes.
 * 10. `rate`: a token bucket per sending port (its uplink): `bitsPerSecond`, a bucket of `burstBytes` (default one
 *    frame of the port's MTU, `mtu + 14`) and a bounded FIFO queue of `queueBytes` bytes waiting to be sent. A frame
 *    leaves when the bucket holds its size (a frame larger than the bucket leaves when the bucket is full, and
 *    leaves a debt), never before the frame in front of it. A frame that finds a non-empty queue with no room for
 *    it is dropped (tail drop) and counted in `droppedQueue`. Default `queueBytes`: the bandwidth-delay product
 *    `bitsPerSecond / 8 × 2 × delay.latency` (the round trip of a symmetric link whose other direction has the same
 *    latency: the classic buffer for one TCP flow to keep the link busy), at least 64 KiB.
 * 11. `delay`: each frame arrives `latency` after it leaves the rate stage (or after the write), plus a jitter drawn
 *    uniformly from [-`jitter`, +`jitter`] by the stage's own generator (a delay never goes below 0). With
 *    `correlation` ρ (0..1), the uniform draw is `(1 - ρ)·u + ρ·previous` (netem's correlated jitter). By default
 *    a frame is never released before the previous frame of the same port (its due time is raised to that frame's:
 *    jitter spreads frames, never reorders them); with `reorder: true` frames are released in due-time order, so
 *    a jitter larger than the spacing of frames reorders them.
 *
 * Stages 10 and 11 put frames in a per-port line ordered by due time, served by ONE timer fiber per port (started
 * when the line becomes non-empty, ended when it is empty: never a fiber per frame) that sleeps with the `Clock`
 * until the first due time and then writes every frame that is due, in order. Under `TestClock` a frame is written
 * exactly at its due time (a frame written at t = 0 through a 10 ms latency reaches the backend below at t = 10 ms,
 * not before). A frame that needs no wait (idle link, no latency) is written at once, on the writer's fiber, and
 * keeps the backend's error; a delayed frame's later write failure (its port gone below) is counted in
 * `delayedDiscarded`. A frame larger than the port's `mtu + 14`, or a runt, skips the line: it is written at once
 * so the backend below reports it (typed `FrameTooLarge`, `txErrors`). Like held frames, frames still in the line
 * are written at once (not lost) when their port is unregistered through this backend, on `flushHeld`, and when
 * the Scope closes (so closing a test under `TestClock` never waits for virtual time). Due times are computed from
 * the rate and the delays, not measured, so the average rate is exact even with the live `Clock`, whose timers have
 * the granularity of the platform's `setTimeout` (about 1 ms: frames due within the same millisecond leave together).
 * A port has at most two timer fibers: this one and the reorder stage's held-frame timer.
 *
 * Ownership: the writer's frame is never changed. Stages 6 and 7 write into one new buffer (copied once even when
 * both apply); every other stage passes the very same bytes on (a delayed frame is kept as is until written: the
 * ownership contract makes that safe).
 *
 * Determinism: every random decision comes from Effect's `Random`, without per-frame Effect overhead. When the
 * backend is built it draws 128 bits per stage from `Random` (or from `Random.withSeed(spec.seed)` when a seed is
 * given) and seeds one xoshiro128** generator per random stage (the jitter of `delay` included), which then runs in
 * plain TypeScript on the hot path. Each stage has its own stream, so adding an impairment to a spec does not change
 * the decisions of the others (the same seed loses the same frames with or without trailing bytes). Time comes from
 * the `Clock` of the fiber that builds the backend (used for `dropAfter`, the held-frame timers and the delay line).
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
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import { dropCountersOf, type LinkDropSource, mergeDropCounters } from "./Metrics.ts"
import { NetifError, type NetworkDeviceShape, Vnetif } from "../Vnetif.ts"
import {
  Backend,
  BackendError,
  type BackendShape,
  forwardBackend,
  type FrameListener,
  MAX_PORT_ID,
  type PortId,
  type PortInfo,
  type PortStats,
  type RegisterOptions,
} from "../Backend.ts"

/** Uniform loss: each frame is dropped with `probability` (0..1). */
export interface LossSpec {
  /** Probability of dropping a frame, 0..1. */
  readonly probability: number
}

/** Gilbert–Elliott burst loss: a good and a bad state, each with its own loss probability. */
export interface BurstLossSpec {
  /** Probability of moving from the good to the bad state after a frame, 0..1. */
  readonly p: number
  /** Probability of moving from the bad to the good state after a frame, 0..1. */
  readonly r: number
  /** Loss probability in the good state (default 0). */
  readonly lossGood?: number
  /** Loss probability in the bad state (default 1). */
  readonly lossBad?: number
}

/** Loss of small frames only: frames of at most `maxBytes` bytes are dropped with `probability`. */
export interface SmallFrameLossSpec {
  /** Probability of dropping a small frame, 0..1. */
  readonly probability: number
  /** Largest frame (whole Ethernet frame, in bytes) that counts as small. */
  readonly maxBytes: number
}

/** An outage after a volume: drop everything for `duration` once `bytes` bytes have been written. */
export interface DropAfterSpec {
  /** Bytes that pass before the window opens. */
  readonly bytes: number
  /** Length of the window (a `Duration.Input`: milliseconds, `"1 second"`, …). */
  readonly duration: Duration.Input
  /** Open a new window after every further `bytes` bytes (default false: one window, as mirage). */
  readonly repeat?: boolean
}

/** Trailing garbage: append 0..`max` zero bytes (uniformly chosen) to each frame. */
export interface TrailingBytesSpec {
  /** Most bytes appended, 0..65535. */
  readonly max: number
}

/** Duplication: each frame is written twice with `probability`. */
export interface DuplicateSpec {
  /** Probability of duplicating a frame, 0..1. */
  readonly probability: number
}

/** Reordering: hold a frame back with `probability` and release it after `holdFrames` later frames of its port. */
export interface ReorderSpec {
  /** Probability of holding a frame back, 0..1. */
  readonly probability: number
  /** How many later frames overtake a held frame, ≥ 1. */
  readonly holdFrames: number
  /** Longest time a frame is held when traffic stops (a `Duration.Input`; default 10 ms). */
  readonly flushAfter?: Duration.Input
}

/** Corruption: with `probability`, flip one random bit at or after byte `fromByte`, in a copy. */
export interface CorruptSpec {
  /** Probability of corrupting a frame, 0..1. */
  readonly probability: number
  /** First byte that may be damaged (default 14: the Ethernet header is spared). */
  readonly fromByte?: number
}

/** Latency and jitter (stage 11): each frame is due `latency ± jitter` after it leaves the rate stage. */
export interface DelaySpec {
  /** Base one-way delay (a `Duration.Input`: milliseconds, `"20 millis"`, …). */
  readonly latency: Duration.Input
  /** Largest deviation from `latency`, drawn uniformly in [-jitter, +jitter] (default 0). */
  readonly jitter?: Duration.Input
  /** Correlation of successive jitter draws, 0..1 (default 0: independent). */
  readonly correlation?: number
  /** Let jitter reorder frames of one port (default false: a frame never overtakes the previous one). */
  readonly reorder?: boolean
}

/** Bandwidth shaping (stage 10): a token bucket per sending port with a bounded FIFO queue. */
export interface RateSpec {
  /** Link rate in bits per second (> 0). */
  readonly bitsPerSecond: number
  /** Bucket size in bytes: how much may leave back to back (default: one frame of the port's MTU). */
  readonly burstBytes?: number
  /** Bytes that may wait in the queue (default: bandwidth × 2 × `delay.latency`, at least 64 KiB). */
  readonly queueBytes?: number
}

/** What to do to frames: any combination; stages run in the order of the module docs. */
export interface ImpairmentSpec {
  /** Only frames written from these ports are impaired (default: all ports). */
  readonly ports?: ReadonlyArray<PortId>
  /** Frames longer than this fail with `BackendError` "FrameTooLarge". */
  readonly maxFrameSize?: number
  /** Start partitioned (drop everything) until `setPartitioned(false)`. */
  readonly partition?: boolean
  /** Drop everything for a while after a volume has passed. */
  readonly dropAfter?: DropAfterSpec
  /** Uniform loss. */
  readonly loss?: LossSpec
  /** Gilbert–Elliott burst loss. */
  readonly burstLoss?: BurstLossSpec
  /** Loss of small frames only. */
  readonly smallFrameLoss?: SmallFrameLossSpec
  /** Flip one bit. */
  readonly corrupt?: CorruptSpec
  /** Append zero bytes. */
  readonly trailingBytes?: TrailingBytesSpec
  /** Write frames twice. */
  readonly duplicate?: DuplicateSpec
  /** Hold frames back. */
  readonly reorder?: ReorderSpec
  /** Shape to a bandwidth (token bucket + bounded queue). */
  readonly rate?: RateSpec
  /** Delay frames (latency and jitter). */
  readonly delay?: DelaySpec
  /** Seed of this backend's generators (default: draw from the context's `Random`). */
  readonly seed?: number | string
}

/** Counters of one impaired backend (a snapshot). */
export interface ImpairmentStats {
  /** Frames written from impaired ports (each frame once, before any stage). */
  readonly frames: number
  /** Frames handed to the backend below (which may still refuse them): duplicates and released held frames too. */
  readonly passed: number
  /** Frames refused by `maxFrameSize`. */
  readonly tooLarge: number
  /** Frames dropped, all causes: the sum of the six `dropped…` counters. */
  readonly dropped: number
  /** Frames dropped while partitioned. */
  readonly droppedPartition: number
  /** Frames dropped in a `dropAfter` window. */
  readonly droppedWindow: number
  /** Frames dropped by uniform `loss`. */
  readonly droppedLoss: number
  /** Frames dropped by `burstLoss`. */
  readonly droppedBurst: number
  /** Frames dropped by `smallFrameLoss`. */
  readonly droppedSmall: number
  /** Frames dropped by `rate` because its queue was full (tail drop). */
  readonly droppedQueue: number
  /** Frames with one bit flipped. */
  readonly corrupted: number
  /** Frames that got at least one trailing byte. */
  readonly trailed: number
  /** Trailing bytes appended in all. */
  readonly trailingBytes: number
  /** Frames written twice. */
  readonly duplicated: number
  /** Frames held back by `reorder`. */
  readonly reordered: number
  /** Held frames released by the `flushAfter` timer (traffic had stopped). */
  readonly flushedByTimer: number
  /** Held frames released by `unregister`, `flushHeld` or the Scope closing. */
  readonly flushedOnClose: number
  /** Held frames whose late write failed (their port was already gone below); they are lost. */
  readonly heldDiscarded: number
  /** Frames held right now. */
  readonly held: number
  /** Frames that waited in the delay line (rate and/or delay) before being written. */
  readonly delayed: number
  /** Delayed frames whose late write failed (their port was already gone below); they are lost. */
  readonly delayedDiscarded: number
  /** Frames in the delay line right now (queued or in flight). */
  readonly inFlight: number
  /** Bytes waiting in the rate queues right now (not yet sent). */
  readonly queuedBytes: number
}

/** An impaired backend: the Backend contract plus run-time controls and counters. */
export interface ImpairmentHandle extends BackendShape, LinkDropSource {
  /** Opens (`true`: drop every frame of the impaired ports) or heals (`false`) the partition. */
  readonly setPartitioned: (partitioned: boolean) => Effect.Effect<void>
  /** Whether the partition is open now. */
  readonly partitioned: Effect.Effect<boolean>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<ImpairmentStats>
  /** Sets the counters back to zero (`held` is a state, not a counter: it stays). */
  readonly resetStats: Effect.Effect<void>
  /** Writes every held frame and every frame of the delay line now (held ones counted in `flushedOnClose`). */
  readonly flushHeld: Effect.Effect<void>
}

// ---- spec schema ---------------------------------------------------------------------------------------------------

const probability: Schema.Finite = Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1 })))
const intBetween = (minimum: number, maximum: number): Schema.Int =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum, maximum })))
const size: Schema.Int = intBetween(0, Number.MAX_SAFE_INTEGER)

const toMillis = (u: unknown): number | undefined => {
  const d = Duration.fromInput(u as Duration.Input)
  if (Option.isNone(d)) return undefined
  const ms = Duration.toMillis(d.value)
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined
}

const isDurationInput = (u: unknown): u is Duration.Input => toMillis(u) !== undefined

const durationInput: Schema.declare<Duration.Input> = Schema.declare(isDurationInput, {
  expected: 'a finite duration ≥ 0 (a number of milliseconds, "1 second", a Duration, …)',
})

/** Schema of {@link ImpairmentSpec}: probabilities in 0..1, sizes and counts non-negative integers. */
export const ImpairmentSpecSchema: Schema.Codec<ImpairmentSpec> = Schema.Struct({
  ports: Schema.optionalKey(Schema.Array(intBetween(0, MAX_PORT_ID))),
  maxFrameSize: Schema.optionalKey(size),
  partition: Schema.optionalKey(Schema.Boolean),
  dropAfter: Schema.optionalKey(Schema.Struct({
    bytes: size,
    duration: durationInput,
    repeat: Schema.optionalKey(Schema.Boolean),
  })),
  loss: Schema.optionalKey(Schema.Struct({ probability })),
  burstLoss: Schema.optionalKey(Schema.Struct({
    p: probability,
    r: probability,
    lossGood: Schema.optionalKey(probability),
    lossBad: Schema.optionalKey(probability),
  })),
  smallFrameLoss: Schema.optionalKey(Schema.Struct({ probability, maxBytes: size })),
  corrupt: Schema.optionalKey(Schema.Struct({ probability, fromByte: Schema.optionalKey(size) })),
  trailingBytes: Schema.optionalKey(Schema.Struct({ max: intBetween(0, 65535) })),
  duplicate: Schema.optionalKey(Schema.Struct({ probability })),
  reorder: Schema.optionalKey(Schema.Struct({
    probability,
    holdFrames: intBetween(1, 1_000_000),
    flushAfter: Schema.optionalKey(durationInput),
  })),
  rate: Schema.optionalKey(Schema.Struct({
    bitsPerSecond: Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1e15 }))),
    burstBytes: Schema.optionalKey(intBetween(1, Number.MAX_SAFE_INTEGER)),
    queueBytes: Schema.optionalKey(size),
  })),
  delay: Schema.optionalKey(Schema.Struct({
    latency: durationInput,
    jitter: Schema.optionalKey(durationInput),
    correlation: Schema.optionalKey(probability),
    reorder: Schema.optionalKey(Schema.Boolean),
  })),
  seed: Schema.optionalKey(Schema.Union([Schema.Finite, Schema.String])),
})

const decodeSpec = Schema.decodeUnknownEffect(ImpairmentSpecSchema)

const decode = (spec: unknown): Effect.Effect<ImpairmentSpec, BackendError> =>
  Effect.mapError(
    decodeSpec(spec, { errors: "all", onExcessProperty: "error" }),
    (e) => new BackendError({ reason: "InvalidConfig", message: `invalid impairment spec: ${e.message}` }),
  )

// ---- deterministic generator ---------------------------------------------------------------------------------------

/**
 * xoshiro128** (Blackman & Vigna): 128-bit state, period 2^128 − 1, a few 32-bit operations per draw. Seeded from
 * Effect's `Random` at build time; `next()` is a float in [0, 1) with 32 bits of resolution.
 */
class Xoshiro128 {
  private a: number
  private b: number
  private c: number
  private d: number
  constructor(seed: ReadonlyArray<number>) {
    this.a = seed[0] | 0
    this.b = seed[1] | 0
    this.c = seed[2] | 0
    this.d = seed[3] | 0
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1 // the all-zero state is a fixed point
  }
  nextU32(): number {
    const b = this.b
    const r = Math.imul(b, 5)
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0
    const t = b << 9
    this.c ^= this.a
    this.d ^= b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = (this.d << 11) | (this.d >>> 21)
    return result
  }
  next(): number {
    return this.nextU32() / 4294967296
  }
}

/** The random stages, in the order their 128-bit seeds are drawn (fixed: a stage's stream never shifts). */
const STREAMS = [
  "loss",
  "smallFrameLoss",
  "corrupt",
  "trailingBytes",
  "duplicate",
  "reorder",
  "delay",
  "burstLoss",
] as const

const drawSeeds: Effect.Effect<ReadonlyArray<ReadonlyArray<number>>> = Effect.gen(function* () {
  const random = yield* Random.Random
  return STREAMS.map(() => [0, 1, 2, 3].map(() => Math.floor(random.nextDoubleUnsafe() * 4294967296) | 0))
})

// ---- the middleware ------------------------------------------------------------------------------------------------

const ETHERNET_HEADER_LEN = 14
const DEFAULT_FLUSH_AFTER_MS = 10
/** Smallest default rate queue (64 KiB), whatever the bandwidth-delay product. */
const MIN_DEFAULT_QUEUE_BYTES = 65536
/** Slack in time comparisons (1 ns), so a float rounding can never make the line timer spin. */
const EPS_MS = 1e-6

/** A frame in the delay line: written to the backend below at `due` (Clock milliseconds). */
interface LineEntry {
  readonly frame: Uint8Array
  readonly due: number
}

/** Per-port state: the largest frame the port may send, the reorder hold, the rate bucket and the delay line. */
interface PortState {
  readonly id: PortId
  readonly maxFrame: number
  closed: boolean
  held: Uint8Array | undefined
  heldRemaining: number
  heldDeadline: number
  timerRunning: boolean
  /** Token bucket: the time (ms) at which the bucket is full again; -Infinity when it is full. */
  tat: number
  /** Departure time of the last frame through the rate stage (FIFO). */
  lastDepart: number
  /** Departure times and sizes of the frames not yet sent (the rate queue), oldest first from `qHead`. */
  qDeparts: Array<number>
  qLens: Array<number>
  qHead: number
  qBytes: number
  /** Due time of the last frame put in the line (no-reorder mode). */
  lastDue: number
  /** Previous uniform draw of the jitter (correlation). */
  prevU: number
  /** The delay line, sorted by due time, oldest first from `lineHead`. */
  line: Array<LineEntry>
  lineHead: number
  /** The line's timer fiber (undefined when the line is empty), the due time it sleeps for, its generation. */
  lineFiber: Fiber.Fiber<void> | undefined
  lineTarget: number
  lineGen: number
}

interface Counters {
  frames: number
  passed: number
  tooLarge: number
  droppedPartition: number
  droppedWindow: number
  droppedLoss: number
  droppedBurst: number
  droppedSmall: number
  droppedQueue: number
  corrupted: number
  trailed: number
  trailingBytes: number
  duplicated: number
  reordered: number
  flushedByTimer: number
  flushedOnClose: number
  heldDiscarded: number
  delayed: number
  delayedDiscarded: number
}

const zeroCounters = (): Counters => ({
  frames: 0,
  passed: 0,
  tooLarge: 0,
  droppedPartition: 0,
  droppedWindow: 0,
  droppedLoss: 0,
  droppedBurst: 0,
  droppedSmall: 0,
  droppedQueue: 0,
  corrupted: 0,
  trailed: 0,
  trailingBytes: 0,
  duplicated: 0,
  reordered: 0,
  flushedByTimer: 0,
  flushedOnClose: 0,
  heldDiscarded: 0,
  delayed: 0,
  delayedDiscarded: 0,
})

const wrap = (
  inner: BackendShape,
  rawSpec: ImpairmentSpec,
): Effect.Effect<ImpairmentHandle, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const spec = yield* decode(rawSpec)
    const seeds = yield* (spec.seed === undefined ? drawSeeds : Random.withSeed(drawSeeds, spec.seed))
    const rng = (stream: (typeof STREAMS)[number]): Xoshiro128 => new Xoshiro128(seeds[STREAMS.indexOf(stream)])
    const clock = yield* Clock.Clock
    const scope = yield* Effect.scope

    // Configuration, flattened into constants for the hot path (0 / Infinity mean "stage off").
    const portFilter = spec.ports === undefined ? undefined : new Set(spec.ports)
    const maxFrameSize = spec.maxFrameSize ?? Number.POSITIVE_INFINITY
    const windowBytes = spec.dropAfter?.bytes ?? -1
    const windowMs = spec.dropAfter === undefined ? 0 : toMillis(spec.dropAfter.duration) ?? 0
    const windowRepeat = spec.dropAfter?.repeat ?? false
    const lossP = spec.loss?.probability ?? 0
    const burstOn = spec.burstLoss !== undefined
    const burstP = spec.burstLoss?.p ?? 0
    const burstR = spec.burstLoss?.r ?? 0
    const burstLossGood = spec.burstLoss?.lossGood ?? 0
    const burstLossBad = spec.burstLoss?.lossBad ?? 1
    const smallP = spec.smallFrameLoss?.probability ?? 0
    const smallMax = spec.smallFrameLoss?.maxBytes ?? -1
    const corruptP = spec.corrupt?.probability ?? 0
    const corruptFrom = spec.corrupt?.fromByte ?? ETHERNET_HEADER_LEN
    const trailMax = spec.trailingBytes?.max ?? 0
    const dupP = spec.duplicate?.probability ?? 0
    const reorderP = spec.reorder?.probability ?? 0
    const holdFrames = spec.reorder?.holdFrames ?? 1
    const flushAfterMs = spec.reorder?.flushAfter === undefined
      ? DEFAULT_FLUSH_AFTER_MS
      : toMillis(spec.reorder.flushAfter) ?? DEFAULT_FLUSH_AFTER_MS
    const rateOn = spec.rate !== undefined
    const delayOn = spec.delay !== undefined
    const shapingOn = rateOn || delayOn
    const latencyMs = spec.delay === undefined ? 0 : toMillis(spec.delay.latency) ?? 0
    const jitterMs = spec.delay?.jitter === undefined ? 0 : toMillis(spec.delay.jitter) ?? 0
    const correlation = spec.delay?.correlation ?? 0
    const delayReorder = spec.delay?.reorder ?? false
    /** Bytes per millisecond of the rate stage. */
    const bytesPerMs = (spec.rate?.bitsPerSecond ?? 8000) / 8000
    const burstBytes = spec.rate?.burstBytes // per port when undefined: its max frame
    const queueBytes = spec.rate?.queueBytes ??
      Math.max(MIN_DEFAULT_QUEUE_BYTES, Math.ceil(bytesPerMs * 2 * latencyMs))

    const lossRng = rng("loss")
    const smallRng = rng("smallFrameLoss")
    const burstRng = rng("burstLoss")
    const corruptRng = rng("corrupt")
    const trailRng = rng("trailingBytes")
    const dupRng = rng("duplicate")
    const reorderRng = rng("reorder")
    const delayRng = rng("delay")

    let partitioned = spec.partition ?? false
    // dropAfter: bytes counted towards the next window; end of the open window (-1: none); one-shot done.
    let windowCount = 0
    let windowUntil = -1
    let windowDone = windowBytes < 0
    // burstLoss: the Gilbert–Elliott state (false: good).
    let burstBad = false
    let c = zeroCounters()
    const states = new Map<PortId, PortState>()

    const newState = (info: PortInfo): PortState => {
      const st: PortState = {
        id: info.id,
        maxFrame: info.mtu + ETHERNET_HEADER_LEN,
        closed: false,
        held: undefined,
        heldRemaining: 0,
        heldDeadline: 0,
        timerRunning: false,
        tat: Number.NEGATIVE_INFINITY,
        lastDepart: Number.NEGATIVE_INFINITY,
        qDeparts: [],
        qLens: [],
        qHead: 0,
        qBytes: 0,
        lastDue: Number.NEGATIVE_INFINITY,
        prevU: 0.5,
        line: [],
        lineHead: 0,
        lineFiber: undefined,
        lineTarget: Number.POSITIVE_INFINITY,
        lineGen: 0,
      }
      states.set(info.id, st)
      return st
    }

    /** State of a port registered on the backend below directly (not through us): looked up once. */
    const discover = (id: PortId): Effect.Effect<PortState | undefined> =>
      Effect.map(inner.ports, (ps) => {
        const known = states.get(id)
        if (known !== undefined) return known
        const info = ps.find((p) => p.id === id)
        return info === undefined ? undefined : newState(info)
      })

    // ---- stage 3: the dropAfter window (plain TS) -----------------------------------------------------------------

    /** True when the frame falls in a window. */
    const inWindow = (len: number): boolean => {
      if (windowDone) return false
      if (windowUntil < 0) {
        if (windowCount + len <= windowBytes) {
          windowCount += len
          return false
        }
        windowUntil = clock.currentTimeMillisUnsafe() + windowMs
      }
      if (clock.currentTimeMillisUnsafe() < windowUntil) return true
      // The window is over: this frame passes and starts the next count.
      windowUntil = -1
      windowCount = len
      if (!windowRepeat) windowDone = true
      return false
    }

    // ---- delivery to the backend below ----------------------------------------------------------------------------

    const pass = (id: PortId, frame: Uint8Array): Effect.Effect<void, BackendError> => {
      c.passed++
      return inner.write(id, frame)
    }

    /** Writes a released held frame; a failure (port gone below) is counted, never raised. */
    const writeHeld = (id: PortId, frame: Uint8Array): Effect.Effect<void> =>
      Effect.catch(pass(id, frame), () =>
        Effect.sync(() => {
          c.heldDiscarded++
        }))

    /** Writes a frame of the delay line; a failure (port gone below) is counted, never raised. */
    const writeDelayed = (id: PortId, frame: Uint8Array): Effect.Effect<void> =>
      Effect.catch(pass(id, frame), () =>
        Effect.sync(() => {
          c.delayedDiscarded++
        }))

    // ---- stages 10 and 11: rate and delay (plain TS, one timer fiber per port) ----------------------------------

    /** Takes every frame of the line due by `until` (all of them with +Infinity), in order. */
    const takeDue = (st: PortState, until: number): Array<Uint8Array> => {
      const out: Array<Uint8Array> = []
      const line = st.line
      let h = st.lineHead
      while (h < line.length && line[h].due <= until) out.push(line[h++].frame)
      if (h >= line.length) {
        st.line = []
        st.lineHead = 0
      } else if (h > 1024 && h * 2 > line.length) {
        st.line = line.slice(h)
        st.lineHead = 0
      } else {
        st.lineHead = h
      }
      return out
    }

    const writeAllDelayed = (id: PortId, frames: ReadonlyArray<Uint8Array>): Effect.Effect<void> => {
      if (frames.length === 0) return Effect.void
      if (frames.length === 1) return writeDelayed(id, frames[0])
      return Effect.forEach(frames, (f) => writeDelayed(id, f), { discard: true })
    }

    /** The per-port line timer: writes what is due, sleeps until the next due time; ends when the line is empty. */
    const lineTimer = (st: PortState, gen: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (gen !== st.lineGen) return Effect.void // replaced by a timer for an earlier due time
        const now = clock.currentTimeMillisUnsafe()
        // Uninterruptible: frames taken from the line are always written, even if an earlier frame restarts us.
        const write = Effect.uninterruptible(writeAllDelayed(st.id, takeDue(st, now + EPS_MS)))
        if (st.lineHead >= st.line.length) {
          st.lineFiber = undefined
          st.lineTarget = Number.POSITIVE_INFINITY
          return write
        }
        const next = st.line[st.lineHead].due
        st.lineTarget = next
        return Effect.andThen(
          write,
          Effect.andThen(clock.sleep(Duration.millis(Math.max(0, next - now))), lineTimer(st, gen)),
        )
      })

    /** (Re)starts the port's line timer for a line whose first due time is `due`. */
    const armLine = (st: PortState, due: number): Effect.Effect<void> => {
      if (st.lineFiber !== undefined && due >= st.lineTarget) return Effect.void
      const old = st.lineFiber
      const gen = ++st.lineGen
      st.lineTarget = due
      return Effect.flatMap(Effect.forkIn(lineTimer(st, gen), scope), (f) =>
        Effect.sync(() => {
          if (st.lineGen === gen && st.lineTarget === due) st.lineFiber = f
          if (old !== undefined) old.interruptUnsafe()
        }))
    }

    /** The rate queue's bytes at `now`: forgets the frames that have left. */
    const queueAt = (st: PortState, now: number): number => {
      let h = st.qHead
      while (h < st.qDeparts.length && st.qDeparts[h] <= now + EPS_MS) st.qBytes -= st.qLens[h++]
      if (h >= st.qDeparts.length) {
        st.qDeparts = []
        st.qLens = []
        st.qHead = 0
        st.qBytes = 0
      } else if (h > 1024 && h * 2 > st.qDeparts.length) {
        st.qDeparts = st.qDeparts.slice(h)
        st.qLens = st.qLens.slice(h)
        st.qHead = 0
      } else {
        st.qHead = h
      }
      return st.qBytes
    }

    /** One uniform draw in [0, 1) for the jitter, correlated with the previous one. */
    const jitterDraw = (st: PortState): number => {
      const u = delayRng.next()
      const v = correlation > 0 ? (1 - correlation) * u + correlation * st.prevU : u
      st.prevU = v
      return v
    }

    /** Stages 10–11 for one frame: drop it (queue full), write it now, or put it in the line. */
    const shape = (st: PortState, frame: Uint8Array): Effect.Effect<void, BackendError> => {
      const len = frame.length
      if (len > st.maxFrame || len < ETHERNET_HEADER_LEN) return pass(st.id, frame) // let the backend refuse it
      const now = clock.currentTimeMillisUnsafe()
      let depart = now
      if (rateOn) {
        const backlog = queueAt(st, now)
        if (backlog > 0 && backlog + len > queueBytes) {
          c.droppedQueue++
          return Effect.void
        }
        const burst = burstBytes ?? st.maxFrame
        const need = len < burst ? len : burst
        depart = Math.max(now, st.lastDepart, st.tat - (burst - need) / bytesPerMs)
        st.tat = Math.max(st.tat, depart) + len / bytesPerMs
        st.lastDepart = depart
        if (depart > now + EPS_MS) {
          st.qDeparts.push(depart)
          st.qLens.push(len)
          st.qBytes += len
        }
      }
      let due = depart
      if (delayOn) {
        due += jitterMs > 0 ? Math.max(0, latencyMs + jitterMs * (2 * jitterDraw(st) - 1)) : latencyMs
        if (!delayReorder) {
          if (due < st.lastDue) due = st.lastDue
          st.lastDue = due
        }
      }
      const line = st.line
      if (due <= now + EPS_MS && st.lineHead >= line.length) return pass(st.id, frame) // nothing to wait for
      c.delayed++
      // Insert after every entry due at or before `due` (stable: equal due times keep their write order).
      let i = line.length
      while (i > st.lineHead && line[i - 1].due > due) i--
      const entry: LineEntry = { frame, due }
      if (i === line.length) line.push(entry)
      else line.splice(i, 0, entry)
      return i === st.lineHead ? armLine(st, due) : Effect.void
    }

    /** Hands a frame to stage 10 (when shaping) or to the backend below. */
    const emit = (st: PortState, frame: Uint8Array): Effect.Effect<void, BackendError> =>
      shapingOn ? shape(st, frame) : pass(st.id, frame)

    /** Hands a released held frame on; a failure is counted, never raised. */
    const emitHeld = (st: PortState, frame: Uint8Array): Effect.Effect<void> =>
      shapingOn
        ? Effect.catch(shape(st, frame), () =>
          Effect.sync(() => {
            c.heldDiscarded++
          }))
        : writeHeld(st.id, frame)

    const takeHeld = (st: PortState): Uint8Array | undefined => {
      const f = st.held
      st.held = undefined
      return f
    }

    /** The per-port timer: sleeps until the held frame's deadline and writes it if it is still held. */
    const heldTimer = (st: PortState): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (st.held === undefined) {
          st.timerRunning = false
          return Effect.void
        }
        const wait = st.heldDeadline - clock.currentTimeMillisUnsafe()
        if (wait > 0) return Effect.andThen(clock.sleep(Duration.millis(wait)), heldTimer(st))
        st.timerRunning = false
        const f = takeHeld(st)!
        c.flushedByTimer++
        return emitHeld(st, f)
      })

    /** Writes the port's delayed frames and its held frame at once (unregister, flushHeld, Scope close). */
    const flushPort = (st: PortState | undefined): Effect.Effect<void> => {
      if (st === undefined) return Effect.void
      const delayed = st.lineHead < st.line.length ? takeDue(st, Number.POSITIVE_INFINITY) : []
      if (delayed.length > 0) {
        st.lineGen++
        st.lineTarget = Number.POSITIVE_INFINITY
        const f = st.lineFiber
        st.lineFiber = undefined
        if (f !== undefined) f.interruptUnsafe()
      }
      const held = takeHeld(st)
      if (held !== undefined) c.flushedOnClose++
      const writeLine = writeAllDelayed(st.id, delayed)
      return held === undefined ? writeLine : Effect.andThen(writeLine, writeHeld(st.id, held))
    }

    const flushHeld: Effect.Effect<void> = Effect.suspend(() =>
      Effect.forEach(Array.from(states.values()), flushPort, { discard: true })
    )

    yield* Effect.addFinalizer(() => flushHeld)

    /** Stage 9 and the writes: `copies` (1 or 2) writes of `frame`, some held back. */
    const reorderAndWrite = (st: PortState, frame: Uint8Array, copies: number): Effect.Effect<void, BackendError> => {
      // Writes in order; `undefined` stands for the current frame, a buffer for a released held frame.
      const out: Array<Uint8Array | undefined> = []
      let startTimer = false
      for (let i = 0; i < copies; i++) {
        if (st.held === undefined && reorderRng.next() < reorderP) {
          st.held = frame
          st.heldRemaining = holdFrames
          st.heldDeadline = clock.currentTimeMillisUnsafe() + flushAfterMs
          c.reordered++
          if (!st.timerRunning) startTimer = st.timerRunning = true
          continue
        }
        out.push(undefined)
        if (st.held !== undefined && --st.heldRemaining <= 0) out.push(takeHeld(st))
      }
      let eff: Effect.Effect<void, BackendError> = Effect.void
      for (let i = out.length - 1; i >= 0; i--) {
        const f = out[i]
        // The current frame's error is the writer's; a released held frame's failure is only counted.
        eff = f === undefined ? Effect.andThen(emitLazy(st, frame), eff) : Effect.andThen(emitHeldLazy(st, f), eff)
      }
      return startTimer ? Effect.andThen(Effect.forkIn(heldTimer(st), scope), eff) : eff
    }

    // Stage 10 reads the Clock and updates the bucket when the write actually runs, in write order.
    const emitLazy = (st: PortState, frame: Uint8Array): Effect.Effect<void, BackendError> =>
      shapingOn ? Effect.suspend(() => shape(st, frame)) : pass(st.id, frame)
    const emitHeldLazy = (st: PortState, frame: Uint8Array): Effect.Effect<void> =>
      shapingOn ? Effect.suspend(() => emitHeld(st, frame)) : writeHeld(st.id, frame)

    /** The pipeline for one frame of an impaired port (stages 1–11). */
    const impairedWrite = (st: PortState, frame: Uint8Array): Effect.Effect<void, BackendError> =>
      Effect.suspend(() => {
        if (st.closed) return inner.write(st.id, frame) // let the backend below report the closed port
        const len = frame.length
        c.frames++
        if (len > maxFrameSize) {
          c.tooLarge++
          return Effect.fail(
            new BackendError({
              reason: "FrameTooLarge",
              message: `frame of ${len} bytes exceeds the impairment's maxFrameSize ${maxFrameSize} (port ${st.id})`,
            }),
          )
        }
        if (partitioned) {
          c.droppedPartition++
          return Effect.void
        }
        if (!windowDone && inWindow(len)) {
          c.droppedWindow++
          return Effect.void
        }
        if (lossP > 0 && lossRng.next() < lossP) {
          c.droppedLoss++
          return Effect.void
        }
        if (burstOn) {
          const pl = burstBad ? burstLossBad : burstLossGood
          const drop = pl > 0 && burstRng.next() < pl
          burstBad = burstBad ? !(burstRng.next() < burstR) : burstRng.next() < burstP
          if (drop) {
            c.droppedBurst++
            return Effect.void
          }
        }
        if (len <= smallMax && smallP > 0 && smallRng.next() < smallP) {
          c.droppedSmall++
          return Effect.void
        }
        let out = frame
        const flipBit = corruptP > 0 && len > corruptFrom && corruptRng.next() < corruptP
          ? Math.floor(corruptRng.next() * (len - corruptFrom) * 8)
          : -1
        let extra = trailMax > 0 ? Math.floor(trailRng.next() * (trailMax + 1)) : 0
        if (extra > st.maxFrame - len) extra = Math.max(0, st.maxFrame - len)
        if (flipBit >= 0 || extra > 0) {
          out = new Uint8Array(len + extra) // zero-filled: the trailing bytes are zeros
          out.set(frame)
          if (flipBit >= 0) {
            out[corruptFrom + (flipBit >>> 3)] ^= 1 << (flipBit & 7)
            c.corrupted++
          }
          if (extra > 0) {
            c.trailed++
            c.trailingBytes += extra
          }
        }
        let copies = 1
        if (dupP > 0 && dupRng.next() < dupP) {
          copies = 2
          c.duplicated++
        }
        if (reorderP > 0 || st.held !== undefined) return reorderAndWrite(st, out, copies)
        if (copies === 1) return emit(st, out)
        return shapingOn
          ? Effect.andThen(emit(st, out), emitLazy(st, out))
          : Effect.andThen(pass(st.id, out), pass(st.id, out))
      })

    // ---- the Backend contract -------------------------------------------------------------------------------------

    const write = (id: PortId, frame: Uint8Array): Effect.Effect<void, BackendError> => {
      if (portFilter !== undefined && !portFilter.has(id)) return inner.write(id, frame)
      const st = states.get(id)
      if (st !== undefined) return impairedWrite(st, frame)
      return Effect.flatMap(
        discover(id),
        (found) => found === undefined ? inner.write(id, frame) : impairedWrite(found, frame),
      )
    }

    const register = (options?: RegisterOptions): Effect.Effect<PortInfo, BackendError> =>
      Effect.map(inner.register(options), (info) => {
        newState(info)
        return info
      })

    const close = (id: PortId): Effect.Effect<void> =>
      Effect.suspend(() => {
        const st = states.get(id)
        if (st === undefined) return Effect.void
        st.closed = true
        states.delete(id)
        return flushPort(st)
      })

    const unregister = (id: PortId): Effect.Effect<PortStats, BackendError> =>
      Effect.andThen(close(id), inner.unregister(id))

    const unregisterAndFlush: BackendShape["unregisterAndFlush"] = (id, timeout) =>
      Effect.andThen(close(id), inner.unregisterAndFlush(id, timeout))

    const stats: Effect.Effect<ImpairmentStats> = Effect.sync(() => {
      let held = 0
      let inFlight = 0
      let queuedBytes = 0
      const now = clock.currentTimeMillisUnsafe()
      for (const st of states.values()) {
        if (st.held !== undefined) held++
        inFlight += st.line.length - st.lineHead
        if (rateOn) queuedBytes += queueAt(st, now)
      }
      return {
        ...c,
        dropped: c.droppedPartition + c.droppedWindow + c.droppedLoss + c.droppedBurst + c.droppedSmall +
          c.droppedQueue,
        held,
        inFlight,
        queuedBytes,
      }
    })

    const ownDrops: Effect.Effect<Readonly<Record<string, number>>> = Effect.sync(() => ({
      partition: c.droppedPartition,
      window: c.droppedWindow,
      loss: c.droppedLoss,
      burst: c.droppedBurst,
      small_frame: c.droppedSmall,
      queue: c.droppedQueue,
    }))

    const overrides = {
      register,
      unregister,
      unregisterAndFlush,
      write,
      dropCounters: Effect.zipWith(ownDrops, dropCountersOf(inner), mergeDropCounters),
      setPartitioned: (b: boolean) =>
        Effect.sync(() => {
          partitioned = b
        }),
      partitioned: Effect.sync(() => partitioned),
      stats,
      resetStats: Effect.sync(() => {
        c = zeroCounters()
      }),
      flushHeld,
    }
    return forwardBackend(inner, overrides)
  })

// ---- one device -----------------------------------------------------------------------------------------------------

/** Which frames of a device {@link Impairment.device} impairs. */
export type ImpairmentDirection = "out" | "in" | "both"

/** Options of {@link Impairment.device}. */
export interface DeviceImpairmentOptions {
  /** The frames sent (`"out"`, default), received (`"in"`) or both. */
  readonly direction?: ImpairmentDirection
}

/** An impaired device: the NetworkDevice contract plus the impairment of each impaired direction. */
export interface ImpairedDevice extends NetworkDeviceShape {
  /** The impairment of the frames the device sends (undefined when only "in" is impaired). */
  readonly outbound: ImpairmentHandle | undefined
  /** The impairment of the frames the device receives (undefined when only "out" is impaired). */
  readonly inbound: ImpairmentHandle | undefined
}

/** A one-port Backend over a device: `write` hands the frame to `deliver`. */
const deviceBackend = (
  dev: NetworkDeviceShape,
  deliver: (frame: Uint8Array) => Effect.Effect<void, BackendError>,
): BackendShape => {
  const portStats = Effect.map(dev.stats, (st): PortStats => ({ ...st, rxErrors: 0 }))
  return {
    register: () =>
      Effect.fail(
        new BackendError({ reason: "InvalidConfig", message: "a device impairment has one port: its device" }),
      ),
    unregister: () => portStats,
    unregisterAndFlush: () => portStats,
    mac: () => Effect.succeed(dev.mac),
    write: (_id, frame) => deliver(frame),
    setListener: () => Effect.void,
    portStats: () => portStats,
    resetPortStats: () => dev.resetStats,
    ports: Effect.succeed([{ id: dev.id, mac: dev.mac, mtu: dev.mtu }]),
  }
}

const toBackendError = (e: NetifError): BackendError =>
  new BackendError({
    reason: e.reason === "FrameTooLarge" ? "FrameTooLarge" : "PortClosed",
    message: e.message,
  })

const toNetifError = (e: BackendError): NetifError =>
  new NetifError({
    reason: e.reason === "FrameTooLarge" ? "FrameTooLarge" : e.reason === "PortClosed" ? "Disconnected" : "Backend",
    message: e.message,
  })

/** The seed of the inbound impairment when both directions share one spec (distinct streams). */
const inboundSpec = (spec: ImpairmentSpec, direction: ImpairmentDirection): ImpairmentSpec =>
  direction === "both" && spec.seed !== undefined ? { ...spec, seed: `${spec.seed}/in` } : spec

const device = (
  dev: NetworkDeviceShape,
  spec: ImpairmentSpec,
  options?: DeviceImpairmentOptions,
): Effect.Effect<ImpairedDevice, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const direction = options?.direction ?? "out"
    const outbound = direction === "in"
      ? undefined
      : yield* wrap(deviceBackend(dev, (frame) => Effect.mapError(dev.write(frame), toBackendError)), spec)
    let handler: FrameListener | undefined
    const inbound = direction === "out" ? undefined : yield* wrap(
      deviceBackend(dev, (frame) => handler === undefined ? Effect.void : handler(frame)),
      inboundSpec(spec, direction),
    )
    const write = outbound === undefined
      ? dev.write
      : (frame: Uint8Array): Effect.Effect<void, NetifError> =>
        Effect.mapError(outbound.write(dev.id, frame), toNetifError)
    const listen = inbound === undefined ? dev.listen : (h: FrameListener): Effect.Effect<void> =>
      Effect.suspend(() => {
        handler = h
        return dev.listen((frame) => Effect.catch(inbound.write(dev.id, frame), () => Effect.void))
      })
    // with an outbound impairment every frame must go through `write`: no synchronous bypass
    return {
      ...dev,
      write,
      writeUnsafe: outbound === undefined ? dev.writeUnsafe : undefined,
      listen,
      outbound,
      inbound,
    }
  })

const deviceLayer = (
  spec: ImpairmentSpec,
  options?: DeviceImpairmentOptions,
): Layer.Layer<Vnetif, BackendError, Vnetif> =>
  Layer.effect(
    Vnetif,
    Effect.gen(function* () {
      return yield* device(yield* Vnetif, spec, options)
    }),
  )

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
  /** Impairs one NetworkDevice: the frames it sends, receives, or both; lives as long as the Scope. */
  readonly device: (
    device: NetworkDeviceShape,
    spec: ImpairmentSpec,
    options?: DeviceImpairmentOptions,
  ) => Effect.Effect<ImpairedDevice, BackendError, Scope.Scope>
  /** `device` as a Layer over the `Vnetif` below it (e.g. as the `vnetif` override of `Stack.make`). */
  readonly deviceLayer: (
    spec: ImpairmentSpec,
    options?: DeviceImpairmentOptions,
  ) => Layer.Layer<Vnetif, BackendError, Vnetif>
} = { layer, make, wrap, device, deviceLayer }
