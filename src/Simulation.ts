/**
 * Deterministic network simulation: N stacks on one switch, under `TestClock` with a seeded `Random`, behind an
 * optional {@link ImpairmentSpec}, with a pcap capture of the wire and every counter at the end — the base for
 * reproducing a network bug (smoltcp's netsim, mirage's lossy test backends, made one call).
 *
 * ```ts
 * const result = yield* Simulation.run(
 *   { stacks: 2, seed: 42, impairment: { loss: { probability: 0.01 }, delay: { latency: 50 } } },
 *   ([a, b]) => myScenario(a, b),
 * )
 * result.value      // what the scenario returned
 * result.pcap       // the capture (classic pcap bytes; open in Wireshark)
 * result.elapsed    // virtual milliseconds the scenario took
 * result.stats      // switch ports, impairment, per-stack TCP/UDP/IPv4 counters (every layer: StackMetrics)
 * ```
 *
 * Layout: `Switch` ← `Capture` (the wire as the receivers see it: lost frames are absent, corrupted, duplicated and
 * delayed ones are recorded as they went) ← `Impairment` ← stack `i` with address `10.0.0.(i+1)/24` (or the
 * configurations given; `overrides(i)` replaces protocol layers of stack `i`, e.g. an impaired device with
 * `Impairment.deviceLayer`). The scenario runs in a Scope that closes (stacks torn down, capture flushed) before `run`
 * returns; its value, the capture and the stats (taken when the scenario ends, before the teardown) are returned.
 *
 * Virtual time: the run has its own `TestClock` (`TestClock.layer()`, whose scheduler waits for fibers woken by
 * the clock). A driver fiber advances it automatically: whenever the program is idle — two consecutive round
 * trips of the driver through the scheduler during which no other fiber ran a task (counted by a scheduler
 * wrapper) — it sets the clock to the earliest pending sleep (tracked by a `Clock` wrapper around the TestClock).
 * So a TCP transfer over a 100 ms link takes virtual seconds and real milliseconds, and timers fire exactly at
 * their virtual deadlines. `timeLimit` (virtual, default one hour) bounds a run that never ends: a deadlocked
 * scenario (a read nobody answers) fails with `SimulationError` "TimeLimit" after milliseconds of real time, since
 * idle virtual time passes at once. If the program is idle with no pending sleep at all (no timer left, not even
 * the time limit's), it fails with "Stalled".
 *
 * Determinism contract: given the same options (seed included), the same scenario and the same vnetif and effect
 * versions, a run makes the same random decisions (Random seeded with `seed`; the impairment's generators drawn
 * from it), sees the same virtual times, and produces the same frames in the same order — byte-identical pcap and
 * identical stats — on Bun and on Deno. It holds as long as the scenario itself is deterministic: no real time
 * (`Date.now`, `performance.now`, `setTimeout`, live-clock effects), no `Math.random`, no real I/O whose timing
 * can interleave with the simulation (promises resolved by the outside world). Real-time wall clock values never
 * enter the run (the TestClock starts at 0, so pcap timestamps are virtual and start at 1970-01-01). Why it holds
 * across runtimes: every fiber step goes through Effect's scheduler (per-fiber task queues drained by `setImmediate`
 * callbacks, which both runtimes run in FIFO order), time moves only when the program is idle, and all arithmetic
 * is IEEE-754 doubles and 32-bit integer operations, identical on V8 and JavaScriptCore. `tests/sim/grid.test.ts`
 * checks it: its committed table (times, retransmits, frame counts and a hash of each pcap) is the same on both.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Scheduler from "effect/Scheduler"
import * as Sink from "effect/Sink"
import { TestClock } from "effect/testing"
import { Backend, type BackendShape, type PortInfo, type PortStats } from "./link/Backend.ts"
import { Capture, type CaptureFormat } from "./link/middleware/Capture.ts"
import {
  Impairment,
  type ImpairmentHandle,
  type ImpairmentSpec,
  type ImpairmentStats,
} from "./link/middleware/Impairment.ts"
import { Switch, type SwitchShape } from "./link/Switch.ts"
import { Stack, type StackConfigInput, type StackHandle, type StackOverrides } from "./Stack.ts"
import type { Ipv4Stats } from "./ipv4/Ipv4.ts"
import type { TcpStats } from "./tcp/Tcp.ts"
import type { UdpStats } from "./udp/Udp.ts"
import { Ipv4Address } from "./wire/Ipv4Address.ts"
import type { TaggedErrorClass } from "./util/TaggedErrorClass.ts"

/** Options of {@link Simulation.run}. */
export interface SimulationOptions {
  /** How many stacks (addresses `10.0.0.1/24`, `10.0.0.2/24`, …), or one configuration per stack. */
  readonly stacks: number | ReadonlyArray<StackConfigInput>
  /** Seed of every random decision (stacks and impairment). */
  readonly seed: number | string
  /** Configuration merged into every numbered stack (e.g. `{ tcp: { congestion: "cubic" } }`). */
  readonly stack?: Omit<StackConfigInput, "cidr">
  /** Layers replacing protocol layers of stack `i` (e.g. an impaired device: `Impairment.deviceLayer`). */
  readonly overrides?: (index: number) => StackOverrides | undefined
  /** Impairments between the stacks and the switch (default none). Its `seed` defaults to one drawn from `seed`. */
  readonly impairment?: ImpairmentSpec
  /** Capture format (default "pcap"); `false`: no capture. */
  readonly capture?: CaptureFormat | false
  /** Longest virtual time the scenario may take (a `Duration.Input`, default 1 hour). */
  readonly timeLimit?: Duration.Input
}

/** One switch port at the end of the scenario. */
export interface SimulationPortStats extends PortStats {
  /** Port id. */
  readonly id: number
}

/** Per-stack counters at the end of the scenario. */
export interface SimulationStackStats {
  /** The stack's address. */
  readonly address: string
  /** TCP counters. */
  readonly tcp: TcpStats
  /** UDP counters. */
  readonly udp: UdpStats
  /** IPv4 counters. */
  readonly ipv4: Ipv4Stats
}

/** Every counter of a simulation, taken when the scenario ends. */
export interface SimulationStats {
  /** Switch ports, by ascending id. */
  readonly ports: ReadonlyArray<SimulationPortStats>
  /** The impairment's counters (undefined without an impairment). */
  readonly impairment: ImpairmentStats | undefined
  /** One entry per stack, in order. */
  readonly stacks: ReadonlyArray<SimulationStackStats>
}

/** The outcome of {@link Simulation.run}. */
export interface SimulationResult<A> {
  /** What the scenario returned. */
  readonly value: A
  /** The capture of the wire (pcap or pcapng bytes; empty when `capture: false`). */
  readonly pcap: Uint8Array
  /** Frames in the capture. */
  readonly frames: number
  /** Virtual milliseconds from the start of the scenario to its end. */
  readonly elapsed: number
  /** Counters at the end of the scenario. */
  readonly stats: SimulationStats
}

/** What the scenario gets besides the stacks. */
export interface SimulationContext {
  /** The switch. */
  readonly switch: SwitchShape
  /** The impairment (undefined without one). */
  readonly impairment: ImpairmentHandle | undefined
  /** Virtual milliseconds now. */
  readonly now: Effect.Effect<number>
}

/** Why a simulation failed. */
export type SimulationErrorReason = "Stalled" | "TimeLimit" | "Setup"

/** Fields of {@link SimulationError}. */
export interface SimulationErrorFields {
  /** What went wrong. */
  readonly reason: SimulationErrorReason
  /** A readable explanation. */
  readonly message: string
  /** The underlying failure, if any. */
  readonly cause?: unknown
}

/** The base class of {@link SimulationError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const SimulationErrorBase: TaggedErrorClass<"SimulationError", SimulationErrorFields> = Data.TaggedError(
  "SimulationError",
)<SimulationErrorFields>

/** A simulation that deadlocked, ran out of virtual time, or could not be set up. */
export class SimulationError extends SimulationErrorBase {}

// ---- the idle detector: a scheduler that counts the tasks it runs ---------------------------------------------------

interface TaskCounter {
  count: number
}

const countingScheduler = (parent: Scheduler.Scheduler, counter: TaskCounter): Scheduler.Scheduler => ({
  executionMode: parent.executionMode,
  shouldYield: (fiber) => parent.shouldYield(fiber),
  makeDispatcher: () => {
    const d = parent.makeDispatcher()
    return {
      scheduleTask: (task, priority) =>
        d.scheduleTask(() => {
          counter.count++
          task()
        }, priority),
      flush: () => d.flush(),
    }
  },
})

// ---- the clock wrapper: the TestClock plus the set of pending sleep deadlines ----------------------------------------

interface PendingSleeps {
  /** Deadlines (virtual ms) of the sleeps not yet woken, ascending. */
  readonly deadlines: Array<number>
}

const insertSorted = (a: Array<number>, x: number): void => {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid] <= x) lo = mid + 1
    else hi = mid
  }
  a.splice(lo, 0, x)
}

const removeOne = (a: Array<number>, x: number): void => {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid] < x) lo = mid + 1
    else hi = mid
  }
  if (lo < a.length && a[lo] === x) a.splice(lo, 1)
}

const trackingClock = (tc: Clock.Clock, pending: PendingSleeps): Clock.Clock => ({
  currentTimeMillisUnsafe: () => tc.currentTimeMillisUnsafe(),
  currentTimeMillis: tc.currentTimeMillis,
  currentTimeNanosUnsafe: () => tc.currentTimeNanosUnsafe(),
  currentTimeNanos: tc.currentTimeNanos,
  monotonicTimeNanosUnsafe: () => tc.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: tc.monotonicTimeNanos,
  sleep: (duration: Duration.Duration) =>
    Effect.suspend(() => {
      const deadline = tc.currentTimeMillisUnsafe() + Duration.toMillis(duration)
      if (!(deadline > tc.currentTimeMillisUnsafe())) return tc.sleep(duration)
      insertSorted(pending.deadlines, deadline)
      return Effect.ensuring(tc.sleep(duration), Effect.sync(() => removeOne(pending.deadlines, deadline)))
    }),
})

/** Quiet round trips of the driver before the program counts as idle. */
const QUIET_ROUNDS = 2

/**
 * The driver: waits until no other fiber runs, then moves the clock to the earliest pending sleep. Signals `stalled`
 * when the program is idle with no sleep pending (then polls every real millisecond, in case outside I/O resumes it).
 */
const driver = (
  testClock: TestClock.TestClock,
  pending: PendingSleeps,
  counter: TaskCounter,
  stalled: Deferred.Deferred<void>,
): Effect.Effect<never> =>
  Effect.gen(function* () {
    let quiet = 0
    while (true) {
      const before = counter.count
      yield* Effect.yieldNow
      // Our own resumption is one task; anything more means another fiber ran.
      if (counter.count - before > 1) {
        quiet = 0
        continue
      }
      if (++quiet < QUIET_ROUNDS) continue
      quiet = 0
      if (pending.deadlines.length === 0) {
        yield* Deferred.succeed(stalled, undefined)
        yield* testClock.withLive(Effect.sleep("1 millis"))
        continue
      }
      yield* testClock.setTime(pending.deadlines[0])
    }
  })

// ---- run ------------------------------------------------------------------------------------------------------------

const stackConfigs = (options: SimulationOptions): ReadonlyArray<StackConfigInput> =>
  typeof options.stacks === "number"
    ? Array.from({ length: options.stacks }, (_, i) => ({ ...options.stack, cidr: `10.0.0.${i + 1}/24` }))
    : options.stacks

const snapshot = (
  sw: SwitchShape,
  impairment: ImpairmentHandle | undefined,
  stacks: ReadonlyArray<StackHandle>,
): Effect.Effect<SimulationStats> =>
  Effect.gen(function* () {
    const infos: ReadonlyArray<PortInfo> = yield* sw.ports
    const ports: Array<SimulationPortStats> = []
    for (const info of infos) {
      const s = yield* Effect.option(sw.portStats(info.id))
      if (s._tag === "Some") ports.push({ id: info.id, ...s.value })
    }
    const perStack: Array<SimulationStackStats> = []
    for (const st of stacks) {
      perStack.push({
        address: Ipv4Address.format(st.address),
        tcp: yield* st.tcp.stats,
        udp: yield* st.udp.stats,
        ipv4: yield* st.ipv4.stats,
      })
    }
    return {
      ports,
      impairment: impairment === undefined ? undefined : yield* impairment.stats,
      stacks: perStack,
    }
  })

const run = <A, E>(
  options: SimulationOptions,
  scenario: (stacks: ReadonlyArray<StackHandle>, sim: SimulationContext) => Effect.Effect<A, E, Scope.Scope>,
): Effect.Effect<SimulationResult<A>, E | SimulationError> => {
  const counter: TaskCounter = { count: 0 }
  const pending: PendingSleeps = { deadlines: [] }
  const chunks: Array<Uint8Array> = []
  let frames = 0

  const body = (testClock: TestClock.TestClock) =>
    Effect.gen(function* () {
      const stalled = yield* Deferred.make<void>()
      const driverFiber = yield* Effect.forkChild(driver(testClock, pending, counter, stalled))
      const inner = Effect.scoped(Effect.gen(function* () {
        const sw = yield* Switch.make()
        let below: BackendShape = sw
        if (options.capture !== false) {
          const cb = yield* Effect.mapError(
            Capture.wrap(
              sw,
              Sink.forEachArray((cs: ReadonlyArray<Uint8Array>) =>
                Effect.sync(() => {
                  for (const c of cs) chunks.push(c)
                })
              ),
              { format: options.capture ?? "pcap" },
            ),
            (e) => new SimulationError({ reason: "Setup", message: e.message, cause: e }),
          )
          below = cb
          yield* Effect.addFinalizer(() =>
            Effect.map(cb.capture.stats, (s) => {
              frames = s.frames
            })
          )
        }
        const impairment = options.impairment === undefined ? undefined : yield* Effect.mapError(
          Impairment.wrap(below, options.impairment),
          (e) => new SimulationError({ reason: "Setup", message: e.message, cause: e }),
        )
        const backend = impairment ?? below
        const stacks: Array<StackHandle> = []
        const configs = stackConfigs(options)
        for (let i = 0; i < configs.length; i++) {
          stacks.push(
            yield* Effect.mapError(
              Effect.provideService(Stack.make(configs[i], options.overrides?.(i)), Backend, backend),
              (e) => new SimulationError({ reason: "Setup", message: e.message, cause: e }),
            ),
          )
        }
        const start = testClock.currentTimeMillisUnsafe()
        const limit = Duration.toMillis(Duration.fromInputUnsafe(options.timeLimit ?? "1 hour"))
        const value = yield* scenario(stacks, {
          switch: sw,
          impairment,
          now: Effect.sync(() => testClock.currentTimeMillisUnsafe()),
        }).pipe(
          Effect.timeoutOrElse({
            duration: limit,
            orElse: () =>
              Effect.fail(new SimulationError({ reason: "TimeLimit", message: `scenario ran past ${limit} ms` })),
          }),
          Effect.raceFirst(Effect.andThen(
            Deferred.await(stalled),
            Effect.fail(
              new SimulationError({
                reason: "Stalled",
                message: "the simulation is idle with no timer pending: the scenario can never finish (deadlock)",
              }),
            ),
          )),
        )
        const elapsed = testClock.currentTimeMillisUnsafe() - start
        const stats = yield* snapshot(sw, impairment, stacks)
        return { value, elapsed, stats }
      }))
      const exit = yield* Effect.exit(inner)
      yield* Fiber.interrupt(driverFiber)
      const r = yield* exit
      let len = 0
      for (const c of chunks) len += c.length
      const pcap = new Uint8Array(len)
      let off = 0
      for (const c of chunks) {
        pcap.set(c, off)
        off += c.length
      }
      return { value: r.value, pcap, frames, elapsed: r.elapsed, stats: r.stats }
    })

  return Effect.gen(function* () {
    const tc = yield* Clock.Clock
    const testClock = tc as TestClock.TestClock
    return yield* Effect.provideService(body(testClock), Clock.Clock, trackingClock(tc, pending))
  }).pipe(
    Random.withSeed(options.seed),
    Effect.provide(Layer.fresh(TestClock.layer({ warningDelay: "1 hour" }))),
    Effect.updateService(Scheduler.Scheduler, (parent) => countingScheduler(parent, counter)),
  )
}

/** Deterministic simulation of N stacks on one switch under a self-advancing `TestClock`. */
export const Simulation: {
  /** Builds the network, runs `scenario` with the stacks, returns its value, the capture and the counters. */
  readonly run: <A, E>(
    options: SimulationOptions,
    scenario: (stacks: ReadonlyArray<StackHandle>, sim: SimulationContext) => Effect.Effect<A, E, Scope.Scope>,
  ) => Effect.Effect<SimulationResult<A>, E | SimulationError>
} = { run }
