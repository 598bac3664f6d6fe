/**
 * A readable packet trace, one line per frame like `tcpdump -e -tt`, emitted through Effect's `Logger` (at Debug by
 * default): for debugging a run by reading its log.
 *
 * ```
 * 12.345678 02:50:00:00:00:00 > ff:ff:ff:ff:ff:ff ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
 * ```
 * The line is `formatLine` of `src/wire/Format.ts` (pure, documented there); the timestamp is Clock seconds with
 * microseconds (Unix time, or virtual time under `TestClock`).
 *
 * Sources, as for `Capture`: `Trace.layer(options)` / `Trace.wrap(backend)` is a Backend middleware that traces
 * every frame the backend below accepts from a transmit (the whole switch, or `options.ports`), and `Trace.device(dev)`
 * traces one device's frames in and out through its monitor (which it takes over until the Scope closes). Each log
 * entry is annotated with `port` (and `direction` for a device).
 *
 * Cost: formatting is plain TypeScript on the sender's stack, then the line is queued (`Queue.offerUnsafe`) and a
 * fiber logs the lines in batches: no Effect step per frame on the hot path. At most `maxBufferedLines` lines wait
 * (default 10 000); beyond that lines are dropped and counted. The level is checked once when the trace is built,
 * against the building fiber's `References.MinimumLogLevel` (the logging fiber inherits it): when the level is not
 * enabled the trace installs nothing and costs nothing. So set the minimum level to Debug where the layer is built
 * (`Effect.provideService(References.MinimumLogLevel, "Debug")` or `Logger.layer` + `MinimumLogLevel`).
 *
 * @module
 */
import type * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogLevelModule from "effect/LogLevel"
import * as Queue from "effect/Queue"
import { formatFrame, formatLine } from "../../wire/Format.ts"
import { Backend, type BackendError, type BackendShape, forwardBackend, type PortId } from "../Backend.ts"
import { dropCountersOf, type LinkDropSource } from "./Metrics.ts"
import type { FrameDirection, VnetifShape } from "../Vnetif.ts"

/** Options of a trace. */
export interface TraceOptions {
  /** Log level of the lines (default "Debug"). */
  readonly level?: LogLevel.Severity
  /** Backend trace only: trace frames written by these ports (default: every port). */
  readonly ports?: ReadonlyArray<PortId>
  /** Most lines waiting to be logged (default 10 000); more are dropped and counted. */
  readonly maxBufferedLines?: number
}

/** Counters of a trace (a snapshot). */
export interface TraceStats {
  /** Lines queued for the logger. */
  readonly lines: number
  /** Lines dropped because the queue was full. */
  readonly dropped: number
  /** Whether the trace is active (its level is enabled). */
  readonly enabled: boolean
}

/** A running trace. */
export interface TraceHandle {
  /** Traces one frame now (formats it; never blocks). */
  readonly record: (frame: Uint8Array, port?: PortId, direction?: FrameDirection) => void
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<TraceStats>
}

/** A tracing backend: the Backend contract plus the trace. */
export interface TraceBackend extends BackendShape, LinkDropSource {
  /** The trace of this backend's frames. */
  readonly trace: TraceHandle
}

// ---- the trace -----------------------------------------------------------------------------------------------------

interface Line {
  readonly text: string
  readonly port: PortId | undefined
  readonly direction: FrameDirection | undefined
}

const DEFAULT_MAX_LINES = 10_000

const make = (options?: TraceOptions): Effect.Effect<TraceHandle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const level: LogLevel.Severity = options?.level ?? "Debug"
    const enabled = yield* LogLevelModule.isEnabled(level)
    let lines = 0
    let dropped = 0
    const stats = Effect.sync((): TraceStats => ({ lines, dropped, enabled }))
    if (!enabled) return { record: () => {}, stats }
    const clock = yield* Clock.Clock
    const maxLines = options?.maxBufferedLines ?? DEFAULT_MAX_LINES
    const queue = yield* Queue.unbounded<Line>()
    let pending = 0
    const log = Effect.logWithLevel(level)
    const logOne = (l: Line): Effect.Effect<void> => {
      const annotations: Record<string, unknown> = {}
      if (l.port !== undefined) annotations.port = l.port
      if (l.direction !== undefined) annotations.direction = l.direction
      return Effect.annotateLogs(log(l.text), annotations)
    }
    const drain = Effect.flatMap(Queue.takeAll(queue), (batch) => {
      pending -= batch.length
      return Effect.forEach(batch, logOne, { discard: true })
    })
    yield* Effect.forkScoped(Effect.forever(drain))
    // On close, log what is still queued (added after the fork: runs before the drain fiber is interrupted).
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Queue.clear(queue), (rest) => {
        pending = 0
        return Effect.forEach(rest, logOne, { discard: true })
      })
    )
    const record = (frame: Uint8Array, port?: PortId, direction?: FrameDirection): void => {
      if (pending >= maxLines) {
        dropped++
        return
      }
      const text = formatLine(frame, clock.currentTimeNanosUnsafe())
      pending++
      lines++
      Queue.offerUnsafe(queue, { text, port, direction })
    }
    return { record, stats }
  })

const device = (dev: VnetifShape, options?: TraceOptions): Effect.Effect<TraceHandle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const handle = yield* make(options)
    if (!(yield* handle.stats).enabled) return handle
    yield* dev.monitor((direction, frame) => handle.record(frame, dev.id, direction))
    yield* Effect.addFinalizer(() => dev.monitor(undefined))
    return handle
  })

const wrap = (inner: BackendShape, options?: TraceOptions): Effect.Effect<TraceBackend, never, Scope.Scope> =>
  Effect.gen(function* () {
    const trace = yield* make(options)
    const enabled = (yield* trace.stats).enabled
    const filter = options?.ports === undefined ? undefined : new Set(options.ports)
    const innerTransmit = inner.transmit
    const record = trace.record
    const transmit = !enabled ? innerTransmit : (id: PortId, frame: Uint8Array): BackendError | undefined => {
      const e = innerTransmit(id, frame)
      if (e === undefined && frame.length >= 14 && (filter === undefined || filter.has(id))) record(frame, id)
      return e
    }
    return forwardBackend(inner, {
      transmit,
      dropCounters: dropCountersOf(inner),
      trace,
    })
  })

const layer = (options?: TraceOptions): Layer.Layer<Backend, never, Backend> =>
  Layer.effect(
    Backend,
    Effect.gen(function* () {
      return yield* wrap(yield* Backend, options)
    }),
  )

/** tcpdump-like tracing through the Logger: of a backend (the whole switch) or of one device. */
export const Trace: {
  /** A Layer tracing every frame the Backend below accepts from a transmit. */
  readonly layer: (options?: TraceOptions) => Layer.Layer<Backend, never, Backend>
  /** Wraps a Backend value; the trace lives as long as the Scope. */
  readonly wrap: (backend: BackendShape, options?: TraceOptions) => Effect.Effect<TraceBackend, never, Scope.Scope>
  /** Traces one device's frames in and out (through its monitor) until the Scope closes. */
  readonly device: (
    device: VnetifShape,
    options?: TraceOptions,
  ) => Effect.Effect<TraceHandle, never, Scope.Scope>
  /** A trace fed by hand through `record`. */
  readonly make: (options?: TraceOptions) => Effect.Effect<TraceHandle, never, Scope.Scope>
  /** One frame as a line, without timestamp. */
  readonly formatFrame: (frame: Uint8Array) => string
  /** One frame as a line, with its timestamp. */
  readonly formatLine: (frame: Uint8Array, nanos: bigint) => string
} = { layer, wrap, device, make, formatFrame, formatLine }
