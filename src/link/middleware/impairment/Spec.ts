/**
 * The impairment's vocabulary: the spec a user writes ({@link ImpairmentSpec}, decoded and checked with
 * {@link ImpairmentSpecSchema}), the counters it reports ({@link ImpairmentStats}) and the handle it returns
 * ({@link ImpairmentHandle}). What each field does, and in which order the stages run, is told in
 * `../Impairment.ts`; the stages themselves live in `Stages.ts` (per frame, pure) and `Shaper.ts` (reorder, rate,
 * delay: the part that keeps frames for later).
 *
 * @module
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { BackendError, type BackendShape, MAX_PORT_ID, type PortId } from "../../Backend.ts"
import type { LinkDropSource } from "../Metrics.ts"

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

/** A `Duration.Input` in milliseconds: a finite value ≥ 0, or `undefined` when it is not one. */
export const toMillis = (u: unknown): number | undefined => {
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

const decodeUnknown = Schema.decodeUnknownEffect(ImpairmentSpecSchema)

/** Decodes a spec (every problem listed, unknown keys refused); a bad one is a `BackendError` "InvalidConfig". */
export const decodeSpec = (spec: unknown): Effect.Effect<ImpairmentSpec, BackendError> =>
  Effect.mapError(
    decodeUnknown(spec, { errors: "all", onExcessProperty: "error" }),
    (e) => new BackendError({ reason: "InvalidConfig", message: `invalid impairment spec: ${e.message}` }),
  )

// ---- counters ------------------------------------------------------------------------------------------------------

/** The running counters behind {@link ImpairmentStats} (its fields that are counters), bumped on the hot path. */
export type ImpairmentCounters = {
  -readonly [K in Exclude<keyof ImpairmentStats, "dropped" | "held" | "inFlight" | "queuedBytes">]: number
}

/** Counters all at zero. */
export const zeroCounters = (): ImpairmentCounters => ({
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

/** Sets every counter back to zero, in place (the stages keep a reference to the object). */
export const resetCounters = (c: ImpairmentCounters): void => {
  Object.assign(c, zeroCounters())
}
