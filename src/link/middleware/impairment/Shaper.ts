/**
 * The impairment's shaper: stages 9–11 of `../Impairment.ts` — `reorder` (hold a frame back), `rate` (a token
 * bucket per sending port with a bounded FIFO queue, tail drop) and `delay` (latency, jitter, correlation) — the part
 * of an impairment that keeps frames for later.
 *
 * Contract: `transmit(port, frame, copies)` is synchronous like every `transmit` of the link layer. It decides now,
 * in plain TypeScript: the frame is handed to the backend below at once (when nothing holds it back: it keeps that
 * backend's error), dropped and counted (a full rate queue), held by `reorder`, or put in the port's delay line for
 * its due time. The shaper owns that state — per port: the held frame, the rate bucket and queue accounting, and the
 * delay line sorted by due time — and the fibers that release it later: per port at most one line timer (started
 * when the line becomes non-empty or gets an earlier head, ended when it is empty) and one held-frame timer (while a
 * frame is held). Never a fiber per frame. A timer sleeps with the `Clock` until its deadline, then writes what is
 * due.
 *
 * Starting a timer from a synchronous `transmit`: the timer fiber is started exactly as `Effect.forkIn(timer, scope)`
 * run by the sending fiber would start it — on a task of the sending fiber's dispatcher, with its context — and is
 * attached to the shaper's Scope. So the order in which timers register their sleeps, and therefore the order of
 * events under `TestClock` (which the `Simulation` tests pin frame by frame), is the one of a forked fiber.
 * Why not one fiber for all ports: `TestClock` wakes one sleeper at a time and lets everything it started settle
 * before the next, so per-port timers deliver one port's due frames (and let the receivers react) before another
 * port's due at the same instant. A single fiber delivering all ports' due frames in one step was tried: equally
 * correct, but it changes the interleaving at equal virtual times, so `tests/sim/grid.expected.md` (pcap hashes, and
 * retransmit counts under loss and delay) would change. Keeping the timers per port keeps behaviour identical.
 *
 * Time: due times are computed from the rate and the delays, not measured, so the average rate is exact even with the
 * live `Clock`, whose timers have the granularity of the platform's `setTimeout` (about 1 ms: frames due within the
 * same millisecond leave together). Under `TestClock` a frame is written exactly at its due time.
 *
 * Failures later on: a delayed or held frame whose late write fails (its port gone below) is counted in
 * `delayedDiscarded` / `heldDiscarded`, never raised. Frames still held or in a line are written at once (not lost)
 * by `flushPort` / `flushAll` (unregister through the impairment, `flushHeld`, Scope close).
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { BackendError, PortId, PortInfo } from "../../Backend.ts"
import { type ImpairmentCounters, type ImpairmentSpec, toMillis } from "./Spec.ts"
import type { Rng } from "./Stages.ts"

const ETHERNET_HEADER_LEN = 14
const DEFAULT_FLUSH_AFTER_MS = 10
/** Smallest default rate queue (64 KiB), whatever the bandwidth-delay product. */
const MIN_DEFAULT_QUEUE_BYTES = 65536
/** Slack in time comparisons (1 ns), so a float rounding can never make the timer spin. */
const EPS_MS = 1e-6

/** What the shaper does: stages 9–11 of a spec flattened into numbers. */
export interface ShaperConfig {
  /** Stage 9: probability of holding a frame back (0: off). */
  readonly reorderP: number
  /** Stage 9: later frames that overtake a held one. */
  readonly holdFrames: number
  /** Stage 9: longest hold when traffic stops, ms. */
  readonly flushAfterMs: number
  /** Stage 10 is on. */
  readonly rateOn: boolean
  /** Stage 11 is on. */
  readonly delayOn: boolean
  /** Stage 11: one-way latency, ms. */
  readonly latencyMs: number
  /** Stage 11: largest jitter, ms. */
  readonly jitterMs: number
  /** Stage 11: correlation of successive jitter draws. */
  readonly correlation: number
  /** Stage 11: let jitter reorder frames. */
  readonly delayReorder: boolean
  /** Stage 10: the rate in bytes per millisecond. */
  readonly bytesPerMs: number
  /** Stage 10: bucket size in bytes (undefined: per port, one frame of its MTU). */
  readonly burstBytes: number | undefined
  /** Stage 10: bytes that may wait in the queue. */
  readonly queueBytes: number
}

/** The shaper's configuration of a decoded spec. */
export const shaperConfig = (spec: ImpairmentSpec): ShaperConfig => {
  const latencyMs = spec.delay === undefined ? 0 : toMillis(spec.delay.latency) ?? 0
  const bytesPerMs = (spec.rate?.bitsPerSecond ?? 8000) / 8000
  return {
    reorderP: spec.reorder?.probability ?? 0,
    holdFrames: spec.reorder?.holdFrames ?? 1,
    flushAfterMs: spec.reorder?.flushAfter === undefined
      ? DEFAULT_FLUSH_AFTER_MS
      : toMillis(spec.reorder.flushAfter) ?? DEFAULT_FLUSH_AFTER_MS,
    rateOn: spec.rate !== undefined,
    delayOn: spec.delay !== undefined,
    latencyMs,
    jitterMs: spec.delay?.jitter === undefined ? 0 : toMillis(spec.delay.jitter) ?? 0,
    correlation: spec.delay?.correlation ?? 0,
    delayReorder: spec.delay?.reorder ?? false,
    bytesPerMs,
    burstBytes: spec.rate?.burstBytes,
    queueBytes: spec.rate?.queueBytes ?? Math.max(MIN_DEFAULT_QUEUE_BYTES, Math.ceil(bytesPerMs * 2 * latencyMs)),
  }
}

/** A frame in a delay line: written to the backend below at `due` (Clock milliseconds). */
interface LineEntry {
  readonly frame: Uint8Array
  readonly due: number
}

/** Per-port state: the largest frame the port may send, the reorder hold, the rate bucket and the delay line. */
export interface ShapedPort {
  /** The port number. */
  readonly id: PortId
  /** Its largest frame, `mtu + 14`. */
  readonly maxFrame: number
  /** Set once the port is unregistered through the impairment. */
  closed: boolean
  /** The held frame (stage 9), its remaining overtakers and its deadline (Clock ms). */
  held: Uint8Array | undefined
  /** Later frames still to overtake the held one. */
  heldRemaining: number
  /** When the held frame is released if traffic stops (Clock ms). */
  heldDeadline: number
  /** The held-frame timer is running (or about to start). */
  heldTimerOn: boolean
  /** Token bucket: the time (ms) at which the bucket is full again; -Infinity when it is full. */
  tat: number
  /** Departure time of the last frame through the rate stage (FIFO). */
  lastDepart: number
  /** Departure times of the frames not yet sent (the rate queue), oldest first from `qHead`. */
  qDeparts: Array<number>
  /** Their sizes. */
  qLens: Array<number>
  /** First live entry of `qDeparts` / `qLens`. */
  qHead: number
  /** Bytes in the rate queue. */
  qBytes: number
  /** Due time of the last frame put in the line (no-reorder mode). */
  lastDue: number
  /** Previous uniform draw of the jitter (correlation). */
  prevU: number
  /** The delay line, sorted by due time, oldest first from `lineHead`. */
  line: Array<LineEntry>
  /** First live entry of `line`. */
  lineHead: number
  /** The line's timer (undefined when the line is empty), the due time it sleeps for, its generation. */
  lineTimer: Timer | undefined
  /** The due time the line's timer sleeps for. */
  lineTarget: number
  /** Bumped whenever the line's timer is replaced: an older timer ends at its next step. */
  lineGen: number
}

/** A timer fiber, possibly not started yet. */
interface Timer {
  fiber: Fiber.Fiber<void> | undefined
  cancelled: boolean
}

/** What is kept right now, over every port. */
export interface ShaperSnapshot {
  /** Frames held by `reorder`. */
  readonly held: number
  /** Frames in the delay lines. */
  readonly inFlight: number
  /** Bytes in the rate queues (not yet sent). */
  readonly queuedBytes: number
}

/** The counters the shaper bumps. */
export type ShaperCounters = Pick<
  ImpairmentCounters,
  | "passed"
  | "droppedQueue"
  | "reordered"
  | "flushedByTimer"
  | "flushedOnClose"
  | "heldDiscarded"
  | "delayed"
  | "delayedDiscarded"
>

/** The shaper of one impairment. */
export interface Shaper {
  /** The ports it knows, by id. */
  readonly ports: ReadonlyMap<PortId, ShapedPort>
  /** Starts tracking a port. */
  readonly addPort: (info: PortInfo) => ShapedPort
  /** Stops tracking a port: marks it closed and writes its held and delayed frames now. */
  readonly removePort: (id: PortId) => void
  /**
   * Stages 9–11 for `copies` (1 or 2) copies of one frame of `port`: the backend's error for a frame written now,
   * else `undefined` (written, held, queued, or dropped and counted).
   */
  readonly transmit: (port: ShapedPort, frame: Uint8Array, copies: number) => BackendError | undefined
  /** Writes every held frame and every frame of the delay lines now. */
  readonly flushAll: () => void
  /** What is kept right now. */
  readonly snapshot: () => ShaperSnapshot
}

const EMPTY: ReadonlyArray<Uint8Array> = []

/**
 * A shaper that hands frames to `deliver` (the backend below), draws from `rngs.reorder` and `rngs.delay`, and
 * counts into `counters`; its timer fibers live in the current Scope.
 */
export const makeShaper = (
  config: ShaperConfig,
  rngs: { readonly reorder: Rng; readonly delay: Rng },
  deliver: (id: PortId, frame: Uint8Array) => BackendError | undefined,
  counters: ShaperCounters,
): Effect.Effect<Shaper, never, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const c = counters
    const {
      reorderP,
      holdFrames,
      flushAfterMs,
      rateOn,
      delayOn,
      latencyMs,
      jitterMs,
      correlation,
      delayReorder,
      bytesPerMs,
      burstBytes,
      queueBytes,
    } = config
    const shapingOn = rateOn || delayOn
    const reorderOn = reorderP > 0
    const reorderRng = rngs.reorder
    const delayRng = rngs.delay
    const ports = new Map<PortId, ShapedPort>()

    // ---- timer fibers -------------------------------------------------------------------------------------------

    const scope = yield* Effect.scope
    const buildContext = yield* Effect.context<never>()

    /**
     * Starts `timer` as `Effect.forkIn(timer, scope)` would from the fiber running now: on a task of its dispatcher,
     * with its context (from outside any fiber: a fiber of the build context that yields first).
     */
    const spawn = (timer: Effect.Effect<void>): Timer => {
      const t: Timer = { fiber: undefined, cancelled: false }
      const parent = Fiber.getCurrent()
      if (parent === undefined) {
        t.fiber = Fiber.runIn(Effect.runForkWith(buildContext)(Effect.andThen(Effect.yieldNow, timer)), scope)
        return t
      }
      const context = parent.context
      parent.currentDispatcher.scheduleTask(() => {
        if (t.cancelled || scope.state._tag === "Closed") return
        t.fiber = Fiber.runIn(Effect.runForkWith(context)(timer), scope)
      }, 0)
      return t
    }

    const cancel = (t: Timer | undefined): void => {
      if (t === undefined) return
      t.cancelled = true
      t.fiber?.interruptUnsafe()
    }

    // ---- delivery to the backend below ----------------------------------------------------------------------------

    const pass = (id: PortId, frame: Uint8Array): BackendError | undefined => {
      c.passed++
      return deliver(id, frame)
    }

    /** Writes a released held frame; a failure (port gone below) is counted, never raised. */
    const writeHeld = (id: PortId, frame: Uint8Array): void => {
      if (pass(id, frame) !== undefined) c.heldDiscarded++
    }

    /** Writes a frame of a delay line; a failure (port gone below) is counted, never raised. */
    const writeDelayed = (id: PortId, frame: Uint8Array): void => {
      if (pass(id, frame) !== undefined) c.delayedDiscarded++
    }

    // ---- stages 10 and 11: rate and delay -------------------------------------------------------------------------

    /** Takes every frame of the line due by `until` (all of them with +Infinity), in order. */
    const takeDue = (st: ShapedPort, until: number): ReadonlyArray<Uint8Array> => {
      const line = st.line
      let h = st.lineHead
      if (h >= line.length || line[h].due > until) return EMPTY
      const out: Array<Uint8Array> = []
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

    /** The rate queue's bytes at `now`: forgets the frames that have left. */
    const queueAt = (st: ShapedPort, now: number): number => {
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
    const jitterDraw = (st: ShapedPort): number => {
      const u = delayRng.next()
      const v = correlation > 0 ? (1 - correlation) * u + correlation * st.prevU : u
      st.prevU = v
      return v
    }

    /** Stages 10–11 for one frame: drop it (queue full), write it now, or put it in the line. */
    const shape = (st: ShapedPort, frame: Uint8Array): BackendError | undefined => {
      const len = frame.length
      if (len > st.maxFrame || len < ETHERNET_HEADER_LEN) return pass(st.id, frame) // let the backend refuse it
      const now = clock.currentTimeMillisUnsafe()
      let depart = now
      if (rateOn) {
        const backlog = queueAt(st, now)
        if (backlog > 0 && backlog + len > queueBytes) {
          c.droppedQueue++
          return undefined
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
      // Insert after every entry due at or before `due` (stable: equal due times keep their order).
      let i = line.length
      while (i > st.lineHead && line[i - 1].due > due) i--
      const entry: LineEntry = { frame, due }
      if (i === line.length) line.push(entry)
      else line.splice(i, 0, entry)
      if (i === st.lineHead) armLine(st, due)
      return undefined
    }

    /** Hands a frame to stage 10 (when shaping) or to the backend below. */
    const emit = (st: ShapedPort, frame: Uint8Array): BackendError | undefined =>
      shapingOn ? shape(st, frame) : pass(st.id, frame)

    /** Hands a released held frame on; a failure is counted, never raised. */
    const emitHeld = (st: ShapedPort, frame: Uint8Array): void => {
      if (!shapingOn) writeHeld(st.id, frame)
      else if (shape(st, frame) !== undefined) c.heldDiscarded++
    }

    const takeHeld = (st: ShapedPort): Uint8Array | undefined => {
      const f = st.held
      st.held = undefined
      return f
    }

    // ---- the timers -----------------------------------------------------------------------------------------------

    /** The port's line timer: writes what is due, sleeps until the next due time; ends when the line is empty. */
    const lineTimer = (st: ShapedPort, gen: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (gen !== st.lineGen) return Effect.void // replaced by a timer for an earlier due time
        const now = clock.currentTimeMillisUnsafe()
        const due = takeDue(st, now + EPS_MS)
        if (st.lineHead >= st.line.length) {
          st.lineTimer = undefined
          st.lineTarget = Number.POSITIVE_INFINITY
          for (let i = 0; i < due.length; i++) writeDelayed(st.id, due[i])
          return Effect.void
        }
        const next = st.line[st.lineHead].due
        st.lineTarget = next
        for (let i = 0; i < due.length; i++) writeDelayed(st.id, due[i])
        return Effect.andThen(clock.sleep(Duration.millis(Math.max(0, next - now))), lineTimer(st, gen))
      })

    /** (Re)starts the port's line timer for a line whose first due time is `due`. */
    function armLine(st: ShapedPort, due: number): void {
      if (st.lineTimer !== undefined && due >= st.lineTarget) return
      const old = st.lineTimer
      const gen = ++st.lineGen
      st.lineTarget = due
      st.lineTimer = spawn(lineTimer(st, gen))
      cancel(old)
    }

    /** The port's held-frame timer: sleeps until the deadline and releases the frame if it is still held. */
    const heldTimer = (st: ShapedPort): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (st.held === undefined) {
          st.heldTimerOn = false
          return Effect.void
        }
        const wait = st.heldDeadline - clock.currentTimeMillisUnsafe()
        if (wait > 0) return Effect.andThen(clock.sleep(Duration.millis(wait)), heldTimer(st))
        st.heldTimerOn = false
        const f = takeHeld(st)!
        c.flushedByTimer++
        emitHeld(st, f)
        return Effect.void
      })

    // ---- stage 9 and the contract ---------------------------------------------------------------------------------

    const transmit = (st: ShapedPort, frame: Uint8Array, copies: number): BackendError | undefined => {
      if (!reorderOn && st.held === undefined) {
        const e = emit(st, frame)
        return copies === 1 || e !== undefined ? e : emit(st, frame)
      }
      // The sends in order: `undefined` stands for the current frame, a buffer for a released held frame.
      let out: Array<Uint8Array | undefined> | undefined
      let startTimer = false
      for (let i = 0; i < copies; i++) {
        if (st.held === undefined && reorderRng.next() < reorderP) {
          st.held = frame
          st.heldRemaining = holdFrames
          st.heldDeadline = clock.currentTimeMillisUnsafe() + flushAfterMs
          c.reordered++
          if (!st.heldTimerOn) startTimer = st.heldTimerOn = true
          continue
        }
        ;(out ??= []).push(undefined)
        if (st.held !== undefined && --st.heldRemaining <= 0) out.push(takeHeld(st))
      }
      if (startTimer) spawn(heldTimer(st))
      if (out === undefined) return undefined
      for (let i = 0; i < out.length; i++) {
        const f = out[i]
        if (f !== undefined) {
          emitHeld(st, f)
          continue
        }
        // The current frame's error is the sender's (and ends the sends, as a failed Effect would).
        const e = emit(st, frame)
        if (e !== undefined) return e
      }
      return undefined
    }

    /** Writes the port's delayed frames and its held frame now (unregister, flushHeld, Scope close). */
    const flushPort = (st: ShapedPort): void => {
      const delayed = takeDue(st, Number.POSITIVE_INFINITY)
      if (delayed.length > 0) {
        st.lineGen++
        st.lineTarget = Number.POSITIVE_INFINITY
        const t = st.lineTimer
        st.lineTimer = undefined
        cancel(t)
      }
      const held = takeHeld(st)
      if (held !== undefined) c.flushedOnClose++
      for (let i = 0; i < delayed.length; i++) writeDelayed(st.id, delayed[i])
      if (held !== undefined) writeHeld(st.id, held)
    }

    const flushAll = (): void => {
      for (const st of Array.from(ports.values())) flushPort(st)
    }

    yield* Effect.addFinalizer(() => Effect.sync(flushAll))

    const addPort = (info: PortInfo): ShapedPort => {
      const st: ShapedPort = {
        id: info.id,
        maxFrame: info.mtu + ETHERNET_HEADER_LEN,
        closed: false,
        held: undefined,
        heldRemaining: 0,
        heldDeadline: 0,
        heldTimerOn: false,
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
        lineTimer: undefined,
        lineTarget: Number.POSITIVE_INFINITY,
        lineGen: 0,
      }
      ports.set(info.id, st)
      return st
    }

    const removePort = (id: PortId): void => {
      const st = ports.get(id)
      if (st === undefined) return
      st.closed = true
      ports.delete(id)
      flushPort(st)
    }

    const snapshot = (): ShaperSnapshot => {
      let held = 0
      let inFlight = 0
      let queuedBytes = 0
      const now = clock.currentTimeMillisUnsafe()
      for (const st of ports.values()) {
        if (st.held !== undefined) held++
        inFlight += st.line.length - st.lineHead
        if (rateOn) queuedBytes += queueAt(st, now)
      }
      return { held, inFlight, queuedBytes }
    }

    return { ports, addPort, removePort, transmit, flushAll, snapshot }
  })
