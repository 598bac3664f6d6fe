/**
 * Packet capture: record Ethernet frames to classic pcap or pcapng (`src/wire/Pcap.ts`), with timestamps from the
 * `Clock`, streamed to any Effect `Sink` of `Uint8Array` chunks or to a file.
 *
 * Three places to record from:
 * 1. One device: `Capture.device(vnetif, target)` installs the device's `monitor` and records every frame going out
 *    and every frame handed to its handler (pcapng keeps the direction in `epb_flags`). A device has one monitor
 *    slot: this replaces any other monitor until the Scope closes (use `Capture.monitorOf(handle)` to combine it
 *    with another monitor by hand).
 * 2. The whole switch, or some of its ports: `Capture.layer(target)` / `Capture.wrap(backend, target)` is a
 *    promiscuous listener in the form of a {@link Backend} middleware (mirage's backend listener): it records every
 *    frame that the backend below *accepted* from a `transmit` of any port (or of the ports in `options.ports`),
 *    once per transmit, synchronously within the call (its `transmit` calls the one below, then records). Frames
 *    refused by the backend (too large, port closed) and runts are not recorded, so the number of recorded frames
 *    equals the sum of the ports' `txPackets`. Put it directly above the
 *    Switch to record the wire as the receivers see it: below an `Impairment` it records corrupted, duplicated and
 *    delayed frames as they really went (and not the lost ones); above it, what the stacks wrote.
 * 3. By hand: `Capture.make(target)` gives a {@link CaptureHandle} whose `record(frame, direction?)` is a plain
 *    synchronous call, for any other hook.
 *
 * Targets: any `Sink<unknown, Uint8Array, unknown, E, R>` (the file bytes arrive in order: first the file header,
 * then one chunk per record, several chunks per pull), or a file path. Effect 4.1.0 defines the `FileSystem`
 * service but ships no Bun or Deno implementation of it, so a path is written through {@link fileSink}, a small
 * sink on `node:fs/promises` that Bun and Deno both provide (a program with a platform `FileSystem` layer can pass
 * `fs.sink(path)` as the target instead).
 *
 * Hot path: `record` copies the frame into its record buffer (header + bytes, one allocation: the capture never
 * keeps the caller's bytes, as the ownership contract requires), reads the Clock, and offers the record to an
 * unbounded Effect `Queue` with `offerUnsafe`: no Effect step per frame. One writer fiber runs the queue into the
 * sink, taking every queued record per pull. Memory is bounded: at most `maxBufferedFrames` records and
 * `maxBufferedBytes` bytes wait in the queue (plus the batch the sink is writing); a frame that finds the buffer
 * full is not recorded and counted in `dropped` (the capture has a gap, the link is never slowed down).
 *
 * Lifetime: the capture lives as long as its Scope. Closing it stops recording, lets the writer hand every buffered
 * record to the sink, ends the stream (the sink completes: a file is flushed and closed) and waits for it. `close`
 * does the same on demand and reports a sink failure as a typed {@link CaptureError}; on Scope close a failure is
 * logged at Warning. If the sink fails while running, later frames are counted in `dropped`.
 *
 * Determinism: timestamps come from the Clock of the fiber that builds the capture; under `TestClock` with a seeded
 * `Random` the same run gives the same capture bytes.
 *
 * @module
 */
import { open } from "node:fs/promises"
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import type { TaggedErrorClass } from "../../util/TaggedErrorClass.ts"
import { Pcap, Pcapng, type PcapResolution, type PcapWriteOptions } from "../../wire/Pcap.ts"
import { Backend, type BackendError, type BackendShape, forwardBackend, MAX_PORT_ID, type PortId } from "../Backend.ts"
import { dropCountersOf, type LinkDropSource } from "./Metrics.ts"
import type { FrameDirection, FrameMonitor, VnetifShape } from "../Vnetif.ts"

/** File format of a capture. */
export type CaptureFormat = "pcap" | "pcapng"

/** Options of a capture. */
export interface CaptureOptions {
  /** `"pcap"` (classic libpcap, default) or `"pcapng"`. */
  readonly format?: CaptureFormat
  /** Timestamp resolution, `"micro"` (default) or `"nano"`. */
  readonly resolution?: PcapResolution
  /** Bytes kept per frame (default 65535); longer frames are cut, their original length kept. */
  readonly snapLen?: number
  /** Most bytes of records waiting for the sink (default 16 MiB). */
  readonly maxBufferedBytes?: number
  /** Most records waiting for the sink (default 65536). */
  readonly maxBufferedFrames?: number
  /** pcapng: the interface name (`if_name`), e.g. "switch" or "port 0". */
  readonly interfaceName?: string
  /** Backend capture only: record frames written by these ports (default: every port). */
  readonly ports?: ReadonlyArray<PortId>
}

/** Counters of a capture (a snapshot). */
export interface CaptureStats {
  /** Frames recorded (queued for the sink). */
  readonly frames: number
  /** Original bytes of those frames. */
  readonly bytes: number
  /** Frames not recorded: buffer full, capture closed or sink failed. */
  readonly dropped: number
  /** Records the sink has finished with (it asked for more data after them; the file header not counted). */
  readonly written: number
  /** Records waiting for the sink now. */
  readonly bufferedFrames: number
  /** Bytes of those records. */
  readonly bufferedBytes: number
  /** Whether the sink has failed. */
  readonly failed: boolean
}

/** A running capture. */
export interface CaptureHandle {
  /** Records one frame now (copied; never blocks): a plain synchronous call, usable on the hot path. */
  readonly record: (frame: Uint8Array, direction?: FrameDirection) => void
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<CaptureStats>
  /** Waits until the sink has finished with every frame recorded so far (or has failed). */
  readonly flush: Effect.Effect<void>
  /** Stops recording, drains the buffer into the sink, ends it and waits; fails if the sink failed. Idempotent. */
  readonly close: Effect.Effect<CaptureStats, CaptureError>
}

/** Why a capture failed. */
export type CaptureErrorReason = "InvalidConfig" | "Io" | "Sink"

/** The fields of {@link CaptureError}. */
export interface CaptureErrorFields {
  /** Which kind of failure this is. */
  readonly reason: CaptureErrorReason
  /** What went wrong, for a person. */
  readonly message: string
  /** The underlying error, if any. */
  readonly cause?: unknown
}

/** The base class of {@link CaptureError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const CaptureErrorBase: TaggedErrorClass<"CaptureError", CaptureErrorFields> = Data.TaggedError(
  "CaptureError",
)<CaptureErrorFields>

/** The capture's one error type. */
export class CaptureError extends CaptureErrorBase {}

/** A capturing backend: the Backend contract plus the capture. */
export interface CaptureBackend extends BackendShape, LinkDropSource {
  /** The capture recording this backend's frames. */
  readonly capture: CaptureHandle
}

/** The service key base of {@link PacketCapture}: `Context.Service` with its type spelled out (JSR explicit types). */
export const PacketCaptureBase: Context.ServiceClass<PacketCapture, "vnetif/PacketCapture", CaptureHandle> = Context
  .Service<PacketCapture, CaptureHandle>()("vnetif/PacketCapture")

/** The capture of `Capture.layer`, as a service (stats, flush, close). */
export class PacketCapture extends PacketCaptureBase {}

/** Where a capture goes: a Sink of byte chunks, or a file path (written with {@link fileSink}). */
export type CaptureTarget<E = never, R = never> = string | Sink.Sink<unknown, Uint8Array, unknown, E, R>

// ---- options -------------------------------------------------------------------------------------------------------

const intBetween = (minimum: number, maximum: number): Schema.Int =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum, maximum })))

/** Schema of {@link CaptureOptions} (unknown keys are refused). */
export const CaptureOptionsSchema: Schema.Codec<CaptureOptions> = Schema.Struct({
  format: Schema.optionalKey(Schema.Literals(["pcap", "pcapng"])),
  resolution: Schema.optionalKey(Schema.Literals(["micro", "nano"])),
  snapLen: Schema.optionalKey(intBetween(1, 0x7fffffff)),
  maxBufferedBytes: Schema.optionalKey(intBetween(1, Number.MAX_SAFE_INTEGER)),
  maxBufferedFrames: Schema.optionalKey(intBetween(1, Number.MAX_SAFE_INTEGER)),
  interfaceName: Schema.optionalKey(Schema.String),
  ports: Schema.optionalKey(Schema.Array(intBetween(0, MAX_PORT_ID))),
})

const decodeOptions = Schema.decodeUnknownEffect(CaptureOptionsSchema)

const decode = (options: unknown): Effect.Effect<CaptureOptions, CaptureError> =>
  Effect.mapError(
    decodeOptions(options ?? {}, { errors: "all", onExcessProperty: "error" }),
    (e) => new CaptureError({ reason: "InvalidConfig", message: `invalid capture options: ${e.message}`, cause: e }),
  )

const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024
const DEFAULT_MAX_BUFFERED_FRAMES = 65536
const ETHERNET_HEADER_LEN = 14

// ---- the file sink -------------------------------------------------------------------------------------------------

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1) return chunks[0]
  let n = 0
  for (const c of chunks) n += c.length
  const out = new Uint8Array(n)
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

const ioError = (message: string, cause: unknown): CaptureError =>
  new CaptureError({
    reason: "Io",
    message: `${message}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
  })

/**
 * A Sink that writes byte chunks to a file (created or truncated; `append` to add to it), one write per pull. The
 * file is opened when the sink starts and closed when it ends, fails or is interrupted. Built on
 * `node:fs/promises`, which Bun and Deno provide (Deno needs `--allow-write`).
 */
export const fileSink = (
  path: string,
  options?: { readonly append?: boolean },
): Sink.Sink<void, Uint8Array, never, CaptureError> =>
  Sink.unwrap(
    Effect.map(
      Effect.acquireRelease(
        Effect.tryPromise({
          try: () => open(path, options?.append === true ? "a" : "w"),
          catch: (e) => ioError(`cannot open ${path}`, e),
        }),
        (fh) => Effect.ignore(Effect.tryPromise(() => fh.close())),
      ),
      (fh) =>
        Sink.forEachArray((chunks: ReadonlyArray<Uint8Array>) =>
          Effect.tryPromise({
            try: async () => {
              const buf = concat(chunks)
              let off = 0
              while (off < buf.length) {
                const { bytesWritten } = await fh.write(buf, off, buf.length - off)
                off += bytesWritten
              }
            },
            catch: (e) => ioError(`cannot write ${path}`, e),
          })
        ),
    ),
  )

const toSink = <E, R>(target: CaptureTarget<E, R>): Sink.Sink<unknown, Uint8Array, unknown, E | CaptureError, R> =>
  typeof target === "string" ? fileSink(target) : target

// ---- the capture ---------------------------------------------------------------------------------------------------

const make = <E = never, R = never>(
  target: CaptureTarget<E, R>,
  options?: CaptureOptions,
): Effect.Effect<CaptureHandle, CaptureError, Scope.Scope | R> =>
  Effect.gen(function* () {
    const opts = yield* decode(options)
    const clock = yield* Clock.Clock
    const scope = yield* Effect.scope
    const writeOptions: PcapWriteOptions = {
      snapLen: opts.snapLen ?? 65535,
      resolution: opts.resolution ?? "micro",
    }
    const pcapng = opts.format === "pcapng"
    const maxBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    const maxFrames = opts.maxBufferedFrames ?? DEFAULT_MAX_BUFFERED_FRAMES
    const header = pcapng
      ? Pcapng.header({
        ...writeOptions,
        ...(opts.interfaceName === undefined ? {} : { interfaceName: opts.interfaceName }),
      })
      : Pcap.header(writeOptions)

    const queue = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    let recording = true
    let failed: CaptureError | undefined
    let failureReported = false
    /** The sink has ended (completed or failed): flush waits for nothing more. */
    let finished = false
    let frames = 0
    let bytes = 0
    let dropped = 0
    let written = 0
    let bufferedFrames = 0
    let bufferedBytes = header.length
    const waiters: Array<{ readonly target: number; readonly done: Deferred.Deferred<void> }> = []

    const wake = (): void => {
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (finished || written >= waiters[i].target) {
          Deferred.doneUnsafe(waiters[i].done, Exit.void)
          waiters.splice(i, 1)
        }
      }
    }

    Queue.offerUnsafe(queue, header)

    /** Records taken from the queue by the sink (the header not counted). */
    let handed = 0
    let headerTaken = false

    const taken = (chunk: Arr.NonEmptyReadonlyArray<Uint8Array>): Arr.NonEmptyReadonlyArray<Uint8Array> => {
      let n = 0
      for (const c of chunk) n += c.length
      bufferedBytes -= n
      const records = headerTaken ? chunk.length : chunk.length - 1
      headerTaken = true
      bufferedFrames -= records
      handed += records
      return chunk
    }

    // The sink asks for its next chunk only once it is done with the previous one: that is when records count as
    // written (what `flush` waits for).
    const pull = Effect.suspend(() => {
      written = handed
      if (waiters.length > 0) wake()
      return Effect.map(Queue.takeAll(queue), taken)
    })

    const sink = toSink(target)
    const run = Stream.fromPull(Effect.succeed(pull)).pipe(
      Stream.run(sink),
      Effect.andThen(Effect.sync(() => {
        // The sink is done (the stream ended, or the sink stopped early): nothing more can be written.
        recording = false
        finished = true
        written = handed
        wake()
      })),
      Effect.catchCause((cause) =>
        Effect.sync(() => {
          const err = Cause.findErrorOption(cause)
          if (Option.isSome(err) && err.value instanceof CaptureError) failed = err.value
          else {
            const e = Cause.squash(cause)
            const why = e instanceof Error ? e.message : String(e)
            failed = new CaptureError({ reason: "Sink", message: `the capture sink failed: ${why}`, cause })
          }
          recording = false
          finished = true
          Queue.shutdownUnsafe(queue)
          wake()
        })
      ),
    )
    const writer = yield* Effect.forkIn(run, scope)

    const record = (frame: Uint8Array, direction?: FrameDirection): void => {
      if (!recording) {
        dropped++
        return
      }
      const len = pcapng
        ? Pcapng.enhancedPacketLen(frame.length, writeOptions, direction)
        : Pcap.recordLen(frame.length, writeOptions)
      if (bufferedFrames >= maxFrames || bufferedBytes + len > maxBytes) {
        dropped++
        return
      }
      const ts = clock.currentTimeNanosUnsafe()
      const rec = pcapng
        ? Pcapng.enhancedPacket(frame, ts, writeOptions, direction)
        : Pcap.record(frame, ts, writeOptions)
      Queue.offerUnsafe(queue, rec)
      frames++
      bytes += frame.length
      bufferedFrames++
      bufferedBytes += rec.length
    }

    const snapshot = (): CaptureStats => ({
      frames,
      bytes,
      dropped,
      written,
      bufferedFrames,
      bufferedBytes: Math.max(0, bufferedBytes),
      failed: failed !== undefined,
    })

    const flush: Effect.Effect<void> = Effect.suspend(() => {
      if (finished || written >= frames) return Effect.void
      const done = Deferred.makeUnsafe<void>()
      waiters.push({ target: frames, done })
      return Deferred.await(done)
    })

    const close: Effect.Effect<CaptureStats, CaptureError> = Effect.suspend(() => {
      if (recording) {
        recording = false
        Queue.endUnsafe(queue)
      }
      return Effect.flatMap(
        Fiber.await(writer),
        () => {
          if (failed === undefined) return Effect.succeed(snapshot())
          failureReported = true
          return Effect.fail(failed)
        },
      )
    })

    yield* Effect.addFinalizer(() =>
      Effect.catch(
        Effect.asVoid(close),
        (e) => failureReported ? Effect.void : Effect.logWarning(`vnetif capture: ${e.message}`, e.cause),
      )
    )

    return { record, stats: Effect.sync(snapshot), flush, close }
  })

const monitorOf = (handle: CaptureHandle): FrameMonitor => (direction, frame) => handle.record(frame, direction)

const device = <E = never, R = never>(
  dev: VnetifShape,
  target: CaptureTarget<E, R>,
  options?: CaptureOptions,
): Effect.Effect<CaptureHandle, CaptureError, Scope.Scope | R> =>
  Effect.gen(function* () {
    const handle = yield* make(target, { interfaceName: `port ${dev.id}`, ...options })
    yield* dev.monitor(monitorOf(handle))
    // Added after the capture's own finalizer, so it runs first: no frame is recorded into a closing capture.
    yield* Effect.addFinalizer(() => dev.monitor(undefined))
    return handle
  })

const wrap = <E = never, R = never>(
  inner: BackendShape,
  target: CaptureTarget<E, R>,
  options?: CaptureOptions,
): Effect.Effect<CaptureBackend, CaptureError, Scope.Scope | R> =>
  Effect.gen(function* () {
    const capture = yield* make(target, { interfaceName: "switch", ...options })
    const filter = options?.ports === undefined ? undefined : new Set(options.ports)
    const innerTransmit = inner.transmit
    const record = capture.record
    const transmit = filter === undefined
      ? (id: PortId, frame: Uint8Array): BackendError | undefined => {
        const e = innerTransmit(id, frame)
        if (e === undefined && frame.length >= ETHERNET_HEADER_LEN) record(frame)
        return e
      }
      : (id: PortId, frame: Uint8Array): BackendError | undefined => {
        const e = innerTransmit(id, frame)
        if (e === undefined && frame.length >= ETHERNET_HEADER_LEN && filter.has(id)) record(frame)
        return e
      }
    return forwardBackend(inner, {
      transmit,
      dropCounters: dropCountersOf(inner),
      capture,
    })
  })

const layer = <E = never, R = never>(
  target: CaptureTarget<E, R>,
  options?: CaptureOptions,
): Layer.Layer<Backend | PacketCapture, CaptureError, Backend | R> =>
  Layer.effectContext(Effect.gen(function* () {
    const cb = yield* wrap(yield* Backend, target, options)
    return Context.make(Backend, cb).pipe(Context.add(PacketCapture, cb.capture))
  }))

/** Packet capture to pcap/pcapng: of a device, of a backend (the whole switch), or by hand. */
export const Capture: {
  /** A capture fed by hand through `record`; it lives as long as the Scope. */
  readonly make: <E = never, R = never>(
    target: CaptureTarget<E, R>,
    options?: CaptureOptions,
  ) => Effect.Effect<CaptureHandle, CaptureError, Scope.Scope | R>
  /** Records every frame in and out of a device (through its monitor) until the Scope closes. */
  readonly device: <E = never, R = never>(
    device: VnetifShape,
    target: CaptureTarget<E, R>,
    options?: CaptureOptions,
  ) => Effect.Effect<CaptureHandle, CaptureError, Scope.Scope | R>
  /** A promiscuous Backend middleware: records every frame the backend below accepts from a transmit. */
  readonly wrap: <E = never, R = never>(
    backend: BackendShape,
    target: CaptureTarget<E, R>,
    options?: CaptureOptions,
  ) => Effect.Effect<CaptureBackend, CaptureError, Scope.Scope | R>
  /** `wrap` as a Layer over the Backend below it; also provides the capture as {@link PacketCapture}. */
  readonly layer: <E = never, R = never>(
    target: CaptureTarget<E, R>,
    options?: CaptureOptions,
  ) => Layer.Layer<Backend | PacketCapture, CaptureError, Backend | R>
  /** A device monitor that records into `handle` (to combine with another monitor by hand). */
  readonly monitorOf: (handle: CaptureHandle) => FrameMonitor
  /** The file sink used for a path target. */
  readonly fileSink: (
    path: string,
    options?: { readonly append?: boolean },
  ) => Sink.Sink<void, Uint8Array, never, CaptureError>
} = { make, device, wrap, layer, monitorOf, fileSink }
