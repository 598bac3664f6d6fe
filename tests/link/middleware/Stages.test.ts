/**
 * The impairment's per-frame stages (`impairment/Stages.ts`) on their own: plain calls, no Effect, with scripted
 * generators and a hand-moved clock, so each decision can be checked draw by draw — loss, burst loss, small-frame
 * loss, partition, the dropAfter window, corruption and trailing bytes in one copy, duplication, and the counters.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { type ImpairmentSpec, zeroCounters } from "../../../src/link/middleware/impairment/Spec.ts"
import {
  FrameStages,
  RANDOM_STREAMS,
  type RandomStream,
  type Rng,
  type Rngs,
  rngsFromSeeds,
  stagesConfig,
  Xoshiro128,
} from "../../../src/link/middleware/impairment/Stages.ts"

/** A generator that returns `draws` in order, then fails the test if asked for more. */
const scripted = (name: string, draws: ReadonlyArray<number>): Rng & { readonly used: () => number } => {
  let i = 0
  return {
    next: () => {
      assert.ok(i < draws.length, `${name}: no draw left`)
      return draws[i++]
    },
    used: () => i,
  }
}

/** Generators that refuse to be used, except the ones given. */
const rngs = (given: Partial<Record<RandomStream, Rng>>): Rngs => {
  const out: Partial<Record<RandomStream, Rng>> = {}
  for (const name of RANDOM_STREAMS) out[name] = given[name] ?? scripted(name, [])
  return out as Rngs
}

const frame = (len: number, fill = 7): Uint8Array => new Uint8Array(len).fill(fill)

const stages = (spec: ImpairmentSpec, given: Partial<Record<RandomStream, Rng>> = {}, now: () => number = () => 0) => {
  const c = zeroCounters()
  return { s: new FrameStages(stagesConfig(spec), rngs(given), now, c), c }
}

describe("impairment stages (pure)", () => {
  it("no spec: the very same bytes pass, no draw, no count", () => {
    const { s, c } = stages({})
    const f = frame(60)
    assert.equal(s.apply(f, 1514), f)
    assert.equal(s.copies(), 1)
    assert.equal(s.tooLarge(100_000), false)
    assert.deepEqual(c, zeroCounters())
  })

  it("maxFrameSize, partition, uniform loss: each draw decides one frame and is counted", () => {
    const loss = scripted("loss", [0.1, 0.5, 0.29, 0.3])
    const { s, c } = stages({ maxFrameSize: 100, loss: { probability: 0.3 } }, { loss })
    assert.equal(s.tooLarge(100), false)
    assert.equal(s.tooLarge(101), true)
    const f = frame(60)
    assert.equal(s.apply(f, 1514), undefined) // 0.1 < 0.3
    assert.equal(s.apply(f, 1514), f) // 0.5
    assert.equal(s.apply(f, 1514), undefined) // 0.29
    assert.equal(s.apply(f, 1514), f) // 0.3 is not < 0.3
    s.partitioned = true
    assert.equal(s.apply(f, 1514), undefined) // partition first: no loss draw
    assert.equal(loss.used(), 4)
    assert.equal(c.tooLarge, 1)
    assert.equal(c.droppedLoss, 2)
    assert.equal(c.droppedPartition, 1)
  })

  it("burst loss: the chain moves good → bad → good and loses with each state's probability", () => {
    // good: no loss draw (lossGood 0), move 0.05 < p → bad; bad: loss 0.2 < 1 → lost, move 0.9 ≥ r → stays bad;
    // bad: loss 0.5 → lost, move 0.1 < r → good; good: passes, move 0.99 ≥ p → stays good
    const burstLoss = scripted("burstLoss", [0.05, 0.2, 0.9, 0.5, 0.1, 0.99])
    const { s, c } = stages({ burstLoss: { p: 0.1, r: 0.25 } }, { burstLoss })
    const f = frame(60)
    assert.deepEqual([s.apply(f, 1514), s.apply(f, 1514), s.apply(f, 1514), s.apply(f, 1514)], [
      f,
      undefined,
      undefined,
      f,
    ])
    assert.equal(c.droppedBurst, 2)
    assert.equal(burstLoss.used(), 6)
  })

  it("small-frame loss only draws for frames of at most maxBytes", () => {
    const smallFrameLoss = scripted("smallFrameLoss", [0.1, 0.9])
    const { s, c } = stages({ smallFrameLoss: { probability: 0.5, maxBytes: 64 } }, { smallFrameLoss })
    assert.equal(s.apply(frame(65), 1514)?.length, 65) // no draw
    assert.equal(s.apply(frame(64), 1514), undefined)
    assert.equal(s.apply(frame(64), 1514)?.length, 64)
    assert.equal(c.droppedSmall, 1)
    assert.equal(smallFrameLoss.used(), 2)
  })

  it("dropAfter: the clock opens a window after `bytes`, every frame inside is dropped, then it passes again", () => {
    let now = 1000
    const { s, c } = stages({ dropAfter: { bytes: 200, duration: "50 millis" } }, {}, () => now)
    const f = frame(100)
    assert.equal(s.apply(f, 1514), f)
    assert.equal(s.apply(f, 1514), f) // 200 bytes: still within the count
    assert.equal(s.apply(f, 1514), undefined) // opens the window at t = 1000
    now = 1049
    assert.equal(s.apply(f, 1514), undefined)
    now = 1050
    assert.equal(s.apply(f, 1514), f) // over: passes, and one window only
    for (let i = 0; i < 10; i++) assert.equal(s.apply(f, 1514), f)
    assert.equal(c.droppedWindow, 2)
  })

  it("corruption and trailing bytes write one copy; the original is untouched; trailing stops at maxFrame", () => {
    const corrupt = scripted("corrupt", [0.1, 0.5])
    const trailingBytes = scripted("trailingBytes", [0.99, 0.99])
    const { s, c } = stages(
      { corrupt: { probability: 0.5 }, trailingBytes: { max: 9 } },
      { corrupt, trailingBytes },
    )
    const f = frame(64, 0)
    const out = s.apply(f, 1514)!
    assert.notEqual(out, f)
    assert.ok(f.every((x) => x === 0), "the sender's frame is never changed")
    assert.equal(out.length, 64 + 9)
    // bit floor(0.5 × (64 − 14) × 8) = 200 after byte 14: byte 14 + 25, bit 0
    assert.equal(out[39], 1)
    assert.equal(out.reduce((n, x) => n + x, 0), 1, "exactly one bit set, trailing bytes are zeros")
    const capped = stages({ trailingBytes: { max: 9 } }, { trailingBytes: scripted("t", [0.99]) })
    assert.equal(capped.s.apply(frame(110), 114)?.length, 114, "capped at maxFrame")
    assert.equal(c.corrupted, 1)
    assert.equal(c.trailed, 1)
    assert.equal(c.trailingBytes, 9)
  })

  it("duplication: copies() is 2 on a draw below the probability, counted", () => {
    const duplicate = scripted("duplicate", [0.4, 0.6])
    const { s, c } = stages({ duplicate: { probability: 0.5 } }, { duplicate })
    assert.equal(s.copies(), 2)
    assert.equal(s.copies(), 1)
    assert.equal(c.duplicated, 1)
  })

  it("seeded streams are independent and reproducible (xoshiro128**)", () => {
    const seeds = RANDOM_STREAMS.map((_, i) => [i + 1, 2, 3, 4])
    const a = rngsFromSeeds(seeds)
    const b = rngsFromSeeds(seeds)
    const xs = Array.from({ length: 5 }, () => a.loss.next())
    assert.deepEqual(Array.from({ length: 5 }, () => b.loss.next()), xs)
    assert.notDeepEqual(Array.from({ length: 5 }, () => a.corrupt.next()), xs)
    assert.ok(xs.every((x) => x >= 0 && x < 1))
    const zero = new Xoshiro128([0, 0, 0, 0])
    assert.ok([1, 2, 3, 4].some(() => zero.nextU32() !== 0), "the all-zero seed (a fixed point) is avoided")
  })
})
