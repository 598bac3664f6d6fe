/**
 * The timer fiber of one TCP stack. Every timer of a connection lives in its core ({@link Tcb.nextDeadline} covers
 * retransmission, persist, delayed ACK, keepalive, connect, TIME-WAIT and the orphan timeouts); this fiber sleeps
 * until the earliest deadline of all connections, woken early when a nearer one appears, and polls the connections
 * that are due.
 *
 * Deadlines are kept in a {@link DeadlineHeap} with at most one entry per connection: {@link Timers.schedule}
 * runs after every poll and costs O(1) unless the deadline moved earlier, and a wake-up costs O(log n) per due
 * connection — 10 000 idle connections do not slow down the timers of a busy one. The heap holds only connections
 * in the table: one that leaves it is taken out at once ({@link Timers.forget}), not when its last deadline comes,
 * so a closed connection and its buffers are not kept alive by a timer it no longer has (a flood of connections
 * reset in FIN-WAIT-2 kept each one for its 30 s FIN-WAIT-2 timeout). All time comes from the stack's clock
 * (`Clock`), so the whole service runs under `TestClock`.
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { DeadlineHeap } from "../util/DeadlineHeap.ts"
import type { Conn } from "./Connection.ts"

/** The timer fiber of one stack and its deadline heap (see the module docs). */
export class Timers {
  /** Whether the fiber is running (false once the stack's Scope is closed). */
  running = false
  private readonly heap = new DeadlineHeap<Conn>()
  /** The deadline the fiber sleeps until (Infinity: until woken; -Infinity: awake). */
  private sleepingUntil = Infinity
  /** A nearer deadline appeared since the fiber last scanned: it must scan again before sleeping. */
  private kicked = false
  private resumeSleeper: (() => void) | undefined = undefined
  private readonly due: Array<Conn> = []

  /**
   * Timers over `connections` (every connection in the table); `flush(x)` polls `x` and sends what it produced, and
   * `now` is the stack's clock.
   */
  constructor(
    private readonly connections: () => Iterable<Conn>,
    private readonly flush: (x: Conn) => Effect.Effect<void>,
    private readonly now: () => number,
  ) {}

  /**
   * Makes the heap know `x`'s deadline if it moved earlier; wakes the fiber if it is the nearest. A connection out of
   * the table is not scheduled.
   */
  schedule(x: Conn): void {
    if (!x.inTable) return
    const d = x.tcb.nextDeadline() ?? Infinity
    if (this.heap.schedule(x, d) && !this.kicked && d < this.sleepingUntil) this.wakeUp()
  }

  /** Takes `x` out of the heap (it left the connection table): the timers keep no reference to it. */
  forget(x: Conn): void {
    this.heap.cancel(x)
  }

  /** Entries in the deadline heap now: connections in the table that have a timer. */
  get entries(): number {
    return this.heap.size
  }

  /** The fiber: forked in the stack's Scope; restarted (the defect logged) should it die of a bug. */
  get run(): Effect.Effect<void> {
    const supervised: Effect.Effect<void> = Effect.catchCause(
      this.loop,
      (cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.andThen(
          Effect.logError("tcp: the timer fiber failed; restarting it", cause),
          Effect.suspend(() => supervised),
        ),
    )
    return Effect.ensuring(
      Effect.suspend(() => {
        this.running = true
        return supervised
      }),
      Effect.sync(() => {
        this.running = false
      }),
    )
  }

  /** Tells the fiber that a deadline earlier than the one it sleeps until exists now. */
  private wakeUp(): void {
    this.kicked = true
    const r = this.resumeSleeper
    if (r !== undefined) {
      this.resumeSleeper = undefined
      r()
    }
  }

  /** Suspends until {@link wakeUp} (at once if it was called since the last scan). */
  private readonly signal: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.kicked) {
      resume(Effect.void)
      return
    }
    this.resumeSleeper = () => resume(Effect.void)
    return Effect.sync(() => {
      this.resumeSleeper = undefined
    })
  })

  /** Scans the heap, polls the due connections, sleeps until the next deadline or a wake-up; forever. */
  private get loop(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      const heap = this.heap
      const due = this.due
      // (re)start: forget the heap and schedule every connection again
      heap.clear()
      for (const x of this.connections()) this.schedule(x)
      while (true) {
        this.kicked = false
        const t = this.now()
        due.length = 0
        for (let x = heap.pop(t); x !== undefined; x = heap.pop(t)) {
          if (!x.inTable) continue
          if ((x.tcb.nextDeadline() ?? Infinity) <= t) due.push(x)
          else this.schedule(x) // it moved later: back into the heap under its new deadline
        }
        for (let i = 0; i < due.length; i++) yield* this.flush(due[i])
        due.length = 0
        const t2 = this.now()
        const next = heap.earliest()
        this.sleepingUntil = next
        if (next <= t2) continue
        yield* next === Infinity ? this.signal : Effect.raceFirst(this.signal, Effect.sleep(Math.max(1, next - t2)))
        this.resumeSleeper = undefined
        this.sleepingUntil = -Infinity // awake: nobody needs to wake it until the next scan sets a deadline
      }
    })
  }
}
