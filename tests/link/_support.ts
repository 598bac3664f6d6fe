/**
 * Shared fixtures for the link-layer tests: frames that carry a sequence number and a checkable payload, a sink
 * listener that records frames and lets a test wait (by Deferred, never by sleeping) until N have arrived, and the
 * runners.
 *
 * @module
 */
import assert from "node:assert/strict"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import type { FrameListener } from "../../src/link/Backend.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"

/** Runs a scoped test program with the live clock. */
export const run = <A, E>(e: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(e))

/** Runs a scoped test program under TestClock. */
export const runTest = <A, E>(e: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(e).pipe(Effect.provide(TestClock.layer())))

/** EtherType used by the test frames (IEEE local experimental). */
export const TEST_ETHERTYPE = 0x88b5

/** A frame `dst ← src` of `size` bytes carrying `seq` at offset 14 and a payload derived from it. */
export const mkFrame = (dst: number, src: number, seq: number, size: number = 64): Uint8Array => {
  const f = new Uint8Array(size)
  MacAddress.write(f, 0, dst as MacAddress)
  MacAddress.write(f, 6, src as MacAddress)
  f[12] = TEST_ETHERTYPE >>> 8
  f[13] = TEST_ETHERTYPE & 0xff
  if (size >= 18) new DataView(f.buffer).setUint32(14, seq)
  for (let i = 18; i < size; i++) f[i] = (seq * 7 + i) & 0xff
  return f
}

/** The sequence number of a test frame. */
export const seqOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14)

/** True when the frame's payload is exactly what {@link mkFrame} wrote for its sequence number. */
export const intact = (f: Uint8Array): boolean => {
  const seq = seqOf(f)
  for (let i = 18; i < f.length; i++) if (f[i] !== ((seq * 7 + i) & 0xff)) return false
  return f[12] === TEST_ETHERTYPE >>> 8 && f[13] === (TEST_ETHERTYPE & 0xff)
}

/** A listener that records every frame; `until(n)` completes once `n` frames have arrived. */
export interface Sink {
  /** Frames received, in order. */
  readonly frames: Array<Uint8Array>
  /** The listener to install. */
  readonly listener: FrameListener
  /** Sequence numbers received, in order. */
  readonly seqs: () => Array<number>
  /** Completes when at least `n` frames have arrived (fails the test after 5 s of real time). */
  readonly until: (n: number) => Effect.Effect<void>
}

/** A new {@link Sink}. */
export const sink = (): Sink => {
  const frames: Array<Uint8Array> = []
  const waiters: Array<{ readonly n: number; readonly d: Deferred.Deferred<void> }> = []
  const listener: FrameListener = (f) => {
    frames.push(f)
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (frames.length >= waiters[i].n) {
        Deferred.doneUnsafe(waiters[i].d, Exit.void)
        waiters.splice(i, 1)
      }
    }
    return Effect.void
  }
  const until = (n: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (frames.length >= n) return Effect.void
      const d = Deferred.makeUnsafe<void>()
      waiters.push({ n, d })
      // A real-time safety net (works under TestClock too): fail instead of hanging the test run.
      const timer = setTimeout(
        () => Deferred.doneUnsafe(d, Exit.die(new Error(`sink: waited for ${n} frames, got ${frames.length}`))),
        5000,
      )
      return Deferred.await(d).pipe(Effect.ensuring(Effect.sync(() => clearTimeout(timer))))
    })
  return { frames, listener, seqs: () => frames.map(seqOf), until }
}

/** Yields to the scheduler up to `max` times until `cond` holds; fails the test otherwise (no real sleeping). */
export const yieldUntil = (cond: () => boolean, what: string, maxMillis: number = 10_000): Effect.Effect<void> =>
  Effect.gen(function* () {
    const deadline = performance.now() + maxMillis
    for (let i = 0;; i++) {
      if (cond()) return
      if (performance.now() > deadline) break
      // mostly fiber yields; every 64th try a real macrotask, so a loaded machine's timers and I/O get their turn
      if ((i & 63) === 63) yield* macrotask
      else yield* Effect.yieldNow
    }
    assert.fail(`condition not reached within ${maxMillis} ms of real time: ${what}`)
  })

/** Yields to the host event loop once (a real `setTimeout(0)`, independent of any TestClock). */
export const macrotask: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const t = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(t))
})
/** `[0, 1, …, n - 1]` shifted by `from`. */
export const range = (from: number, n: number): Array<number> => Array.from({ length: n }, (_, i) => from + i)
