/**
 * The per-frame stages of the impairment, 1–8 in the order of `../Impairment.ts`: frame size, partition, the
 * `dropAfter` window, uniform and burst loss, small-frame loss, corruption, trailing bytes and duplication. Each
 * decides about one frame at once and keeps nothing for later (that is the shaper's job, `Shaper.ts`).
 *
 * Pure: plain TypeScript with no Effect, no Clock and no Random. What varies is injected: one generator per random
 * stage ({@link Rng}, seeded xoshiro128** streams, {@link rngsFromSeeds}) and a `now()` function in milliseconds
 * (read only by the `dropAfter` window, and only while a window is pending). The stages count what they drop or
 * change in the counters they are given. So a test can drive them frame by frame with scripted generators.
 *
 * Ownership: the caller's frame is never changed. Corruption and trailing bytes write into one new buffer (copied
 * once even when both apply); every other stage passes the very same bytes on.
 *
 * @module
 */
import type { ImpairmentCounters, ImpairmentSpec } from "./Spec.ts"
import { toMillis } from "./Spec.ts"

/** A source of uniform draws in [0, 1). */
export interface Rng {
  /** The next draw, in [0, 1). */
  next(): number
}

/**
 * xoshiro128** (Blackman & Vigna): 128-bit state, period 2^128 − 1, a few 32-bit operations per draw. Seeded from
 * Effect's `Random` when the impairment is built; `next()` is a float in [0, 1) with 32 bits of resolution.
 */
export class Xoshiro128 implements Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  /** A generator from four 32-bit words (the all-zero state, a fixed point, is avoided). */
  constructor(seed: ReadonlyArray<number>) {
    this.a = seed[0] | 0
    this.b = seed[1] | 0
    this.c = seed[2] | 0
    this.d = seed[3] | 0
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1
  }
  /** The next 32-bit output. */
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
  /** The next draw in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296
  }
}

/** The random streams, in the order their 128-bit seeds are drawn (fixed: a stage's stream never shifts). */
export const RANDOM_STREAMS: readonly [
  "loss",
  "smallFrameLoss",
  "corrupt",
  "trailingBytes",
  "duplicate",
  "reorder",
  "delay",
  "burstLoss",
] = ["loss", "smallFrameLoss", "corrupt", "trailingBytes", "duplicate", "reorder", "delay", "burstLoss"]

/** The name of one random stream. */
export type RandomStream = (typeof RANDOM_STREAMS)[number]

/** One generator per random stream. */
export type Rngs = Readonly<Record<RandomStream, Rng>>

/** The generators seeded with `seeds[i]` (four 32-bit words) for `RANDOM_STREAMS[i]`. */
export const rngsFromSeeds = (seeds: ReadonlyArray<ReadonlyArray<number>>): Rngs => {
  const out: Partial<Record<RandomStream, Rng>> = {}
  RANDOM_STREAMS.forEach((name, i) => {
    out[name] = new Xoshiro128(seeds[i])
  })
  return out as Rngs
}

const ETHERNET_HEADER_LEN = 14

/** What the stages do to each frame: the spec flattened into numbers (0 / Infinity / -1 mean "stage off"). */
export interface StagesConfig {
  /** Stage 1: frames longer than this are refused. */
  readonly maxFrameSize: number
  /** Stage 2: the initial partition. */
  readonly partition: boolean
  /** Stage 3: bytes before the window (-1: no window), its length in ms, whether it repeats. */
  readonly windowBytes: number
  /** Stage 3: the window's length, ms. */
  readonly windowMs: number
  /** Stage 3: open a new window after every further `windowBytes`. */
  readonly windowRepeat: boolean
  /** Stage 4: uniform loss probability. */
  readonly lossP: number
  /** Stage 4: whether the Gilbert–Elliott chain runs. */
  readonly burstOn: boolean
  /** Stage 4: good → bad probability. */
  readonly burstP: number
  /** Stage 4: bad → good probability. */
  readonly burstR: number
  /** Stage 4: loss probability in the good state. */
  readonly burstLossGood: number
  /** Stage 4: loss probability in the bad state. */
  readonly burstLossBad: number
  /** Stage 5: small-frame loss probability. */
  readonly smallP: number
  /** Stage 5: largest small frame (-1: stage off). */
  readonly smallMax: number
  /** Stage 6: corruption probability. */
  readonly corruptP: number
  /** Stage 6: first byte that may be damaged. */
  readonly corruptFrom: number
  /** Stage 7: most trailing bytes. */
  readonly trailMax: number
  /** Stage 8: duplication probability. */
  readonly dupP: number
}

/** The stages' configuration of a decoded spec. */
export const stagesConfig = (spec: ImpairmentSpec): StagesConfig => ({
  maxFrameSize: spec.maxFrameSize ?? Number.POSITIVE_INFINITY,
  partition: spec.partition ?? false,
  windowBytes: spec.dropAfter?.bytes ?? -1,
  windowMs: spec.dropAfter === undefined ? 0 : toMillis(spec.dropAfter.duration) ?? 0,
  windowRepeat: spec.dropAfter?.repeat ?? false,
  lossP: spec.loss?.probability ?? 0,
  burstOn: spec.burstLoss !== undefined,
  burstP: spec.burstLoss?.p ?? 0,
  burstR: spec.burstLoss?.r ?? 0,
  burstLossGood: spec.burstLoss?.lossGood ?? 0,
  burstLossBad: spec.burstLoss?.lossBad ?? 1,
  smallP: spec.smallFrameLoss?.probability ?? 0,
  smallMax: spec.smallFrameLoss?.maxBytes ?? -1,
  corruptP: spec.corrupt?.probability ?? 0,
  corruptFrom: spec.corrupt?.fromByte ?? ETHERNET_HEADER_LEN,
  trailMax: spec.trailingBytes?.max ?? 0,
  dupP: spec.duplicate?.probability ?? 0,
})

/** The counters the stages bump. */
export type StageCounters = Pick<
  ImpairmentCounters,
  | "tooLarge"
  | "droppedPartition"
  | "droppedWindow"
  | "droppedLoss"
  | "droppedBurst"
  | "droppedSmall"
  | "corrupted"
  | "trailed"
  | "trailingBytes"
  | "duplicated"
>

/** Stages 1–8 with their state (the partition, the `dropAfter` window, the Gilbert–Elliott chain). */
export class FrameStages {
  /** Stage 2: every frame is dropped while true. */
  partitioned: boolean
  // stage 3: bytes counted towards the next window; end of the open window (-1: none); one-shot done
  private windowCount = 0
  private windowUntil = -1
  private windowDone: boolean
  // stage 4: the Gilbert–Elliott state (false: good)
  private burstBad = false
  private readonly cfg: StagesConfig
  private readonly rngs: Rngs
  private readonly now: () => number
  private readonly c: StageCounters

  /** Stages over `config`, drawing from `rngs`, reading the time (ms) from `now`, counting into `counters`. */
  constructor(config: StagesConfig, rngs: Rngs, now: () => number, counters: StageCounters) {
    this.cfg = config
    this.rngs = rngs
    this.now = now
    this.c = counters
    this.partitioned = config.partition
    this.windowDone = config.windowBytes < 0
  }

  /** Stage 1: true (and counted) when a frame of `len` bytes is above `maxFrameSize`. */
  tooLarge(len: number): boolean {
    if (len <= this.cfg.maxFrameSize) return false
    this.c.tooLarge++
    return true
  }

  /**
   * Stages 2–7 for one frame that may grow to `maxFrame` bytes (its port's `mtu + 14`): `undefined` when it is
   * dropped (counted), else the frame to pass on — the same bytes, or a damaged copy.
   */
  apply(frame: Uint8Array, maxFrame: number): Uint8Array | undefined {
    const cfg = this.cfg
    const c = this.c
    const len = frame.length
    if (this.partitioned) {
      c.droppedPartition++
      return undefined
    }
    if (!this.windowDone && this.inWindow(len)) {
      c.droppedWindow++
      return undefined
    }
    if (cfg.lossP > 0 && this.rngs.loss.next() < cfg.lossP) {
      c.droppedLoss++
      return undefined
    }
    if (cfg.burstOn) {
      const rng = this.rngs.burstLoss
      const pl = this.burstBad ? cfg.burstLossBad : cfg.burstLossGood
      const drop = pl > 0 && rng.next() < pl
      this.burstBad = this.burstBad ? !(rng.next() < cfg.burstR) : rng.next() < cfg.burstP
      if (drop) {
        c.droppedBurst++
        return undefined
      }
    }
    if (len <= cfg.smallMax && cfg.smallP > 0 && this.rngs.smallFrameLoss.next() < cfg.smallP) {
      c.droppedSmall++
      return undefined
    }
    const from = cfg.corruptFrom
    const flipBit = cfg.corruptP > 0 && len > from && this.rngs.corrupt.next() < cfg.corruptP
      ? Math.floor(this.rngs.corrupt.next() * (len - from) * 8)
      : -1
    let extra = cfg.trailMax > 0 ? Math.floor(this.rngs.trailingBytes.next() * (cfg.trailMax + 1)) : 0
    if (extra > maxFrame - len) extra = Math.max(0, maxFrame - len)
    if (flipBit < 0 && extra === 0) return frame
    const out = new Uint8Array(len + extra) // zero-filled: the trailing bytes are zeros
    out.set(frame)
    if (flipBit >= 0) {
      out[from + (flipBit >>> 3)] ^= 1 << (flipBit & 7)
      c.corrupted++
    }
    if (extra > 0) {
      c.trailed++
      c.trailingBytes += extra
    }
    return out
  }

  /** Stage 8: how many copies of the frame go on, 1 or 2 (a duplicate counted). */
  copies(): number {
    if (this.cfg.dupP > 0 && this.rngs.duplicate.next() < this.cfg.dupP) {
      this.c.duplicated++
      return 2
    }
    return 1
  }

  /** Stage 3: true when the frame falls in a window. */
  private inWindow(len: number): boolean {
    const cfg = this.cfg
    if (this.windowUntil < 0) {
      if (this.windowCount + len <= cfg.windowBytes) {
        this.windowCount += len
        return false
      }
      this.windowUntil = this.now() + cfg.windowMs
    }
    if (this.now() < this.windowUntil) return true
    // The window is over: this frame passes and starts the next count.
    this.windowUntil = -1
    this.windowCount = len
    if (!cfg.windowRepeat) this.windowDone = true
    return false
  }
}
