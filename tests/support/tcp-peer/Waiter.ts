/**
 * How the scripted TCP peer waits for arrivals: in virtual time under TestClock (letting the other fibers run, then
 * stepping the clock) or in real time, woken by each arrival.
 *
 * @module
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { TestClock } from "effect/testing"

/** Waiting for arrivals in virtual time (TestClock) or real time. */
export class Waiter {
  arrivals = 0
  private signal: Deferred.Deferred<void> | undefined

  constructor(
    readonly clock: Clock.Clock,
    readonly testClock: TestClock.TestClock | undefined,
    readonly stepMs: number,
    readonly settleYields: number,
  ) {}

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** Called for each frame the peer keeps. */
  notify(): void {
    this.arrivals++
    const d = this.signal
    if (d !== undefined) {
      this.signal = undefined
      Deferred.doneUnsafe(d, Exit.void)
    }
  }

  /** Runs `poll` until it returns a value or `timeoutMs` of clock time have passed (then undefined). */
  waitFor<A>(poll: () => A | undefined, timeoutMs: number): Effect.Effect<A | undefined> {
    return this.testClock === undefined ? this.waitReal(poll, timeoutMs) : this.waitVirtual(poll, timeoutMs)
  }

  private waitReal<A>(poll: () => A | undefined, timeoutMs: number): Effect.Effect<A | undefined> {
    return Effect.gen({ self: this }, function* () {
      const deadline = this.now() + timeoutMs
      while (true) {
        const a = poll()
        if (a !== undefined) return a
        const left = deadline - this.now()
        if (left <= 0) return undefined
        this.signal ??= Deferred.makeUnsafe<void>()
        yield* Effect.timeoutOption(Deferred.await(this.signal), left)
      }
    })
  }

  private waitVirtual<A>(poll: () => A | undefined, timeoutMs: number): Effect.Effect<A | undefined> {
    const testClock = this.testClock!
    return Effect.gen({ self: this }, function* () {
      const deadline = this.now() + timeoutMs
      while (true) {
        const a = poll()
        if (a !== undefined) return a
        // let the stack's fibers run at this instant until nothing new arrives for a while
        const seen = this.arrivals
        for (let idle = 0; idle < this.settleYields && this.arrivals === seen; idle++) yield* Effect.yieldNow
        if (this.arrivals !== seen) continue
        const left = deadline - this.now()
        if (left <= 0) return undefined
        yield* testClock.adjust(Math.min(this.stepMs, left))
      }
    })
  }
}
