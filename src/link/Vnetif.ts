/**
 * Vnetif: one {@link Backend} port seen as a network card (mirage-vnetif's `Vnetif.Make(Backend)`), the
 * `NetworkDevice` that the Ethernet layer sits on.
 *
 * - `write(frame)` hands the frame to the backend (ownership passes to it: see the zero-copy contract in
 *   `Backend.ts`). A frame longer than `mtu + 14` fails with `FrameTooLarge`; after `disconnect` every write fails
 *   with `Disconnected`.
 * - `listen(handler)` installs the handler (replacing an earlier one: later frames go to the new handler only) and
 *   completes when the device is disconnected, after the last delivery has finished. Frames that arrive before the
 *   first `listen` are dropped and counted in `rxDrops`, as mirage does. `ready` completes once a handler is
 *   installed (mirage's `unlock_on_listen`), or when the device is disconnected, so a waiter never hangs.
 * - `disconnect` unregisters the port with a flush (queued and in-flight frames are delivered first, for at most
 *   1 second; after that a stuck handler is interrupted and a warning logged). It is idempotent, and closing the
 *   Scope the device was made in runs it.
 * - `monitor(fn)` sees every frame that goes out (accepted for the wire) and every frame handed to the handler;
 *   it runs synchronously on the hot path and must not keep or change the bytes without copying (pcap copies).
 * - `checksum` tells the stack which checksums to compute and verify. Default `ChecksumCapabilities.offload`: an
 *   in-process switch cannot corrupt a frame, so like a NIC with offload the stack skips them.
 * - MTUs are per device: a 1500 and a 9000 device share one switch. A frame too large for the *receiving* device is
 *   dropped there and counted in its `rxDrops`, as a real NIC with a smaller MTU would do.
 *
 * Counters live in the backend (the switch counts on the hot path); `stats` reads them, and keeps the final values
 * after `disconnect`.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { ChecksumCapabilities } from "../wire/Checksum.ts"
import type { MacAddress } from "../wire/MacAddress.ts"
import {
  Backend,
  type BackendError,
  type FrameListener,
  type PortId,
  type PortStats,
  type RegisterOptions,
} from "./Backend.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"

/** Device counters (a snapshot). */
export interface NetifStats {
  /** Bytes handed to the handler. */
  readonly rxBytes: number
  /** Frames handed to the handler. */
  readonly rxPackets: number
  /** Bytes written. */
  readonly txBytes: number
  /** Frames written. */
  readonly txPackets: number
  /** Inbound frames dropped: no handler yet, receive queue full, or larger than this device's MTU. */
  readonly rxDrops: number
  /** Outbound frames refused: too large, or runts shorter than the 14-byte Ethernet header. */
  readonly txErrors: number
}

/** Direction of a frame seen by a monitor. */
export type FrameDirection = "in" | "out"

/** A monitor callback: sees every frame in and out, synchronously; the frame is read-only. */
export type FrameMonitor = (direction: FrameDirection, frame: Uint8Array) => void

/** The NetworkDevice contract: what the Ethernet layer needs from a network card. */
export interface NetworkDeviceShape {
  /** The backend port number. */
  readonly id: PortId
  /** The device's MAC address. */
  readonly mac: MacAddress
  /** Largest Ethernet payload; frames may be `mtu + 14` bytes. */
  readonly mtu: number
  /** Which checksums the stack must compute (tx) and verify (rx). */
  readonly checksum: ChecksumCapabilities
  /** Sends a frame; it belongs to the device from now on. */
  readonly write: (frame: Uint8Array) => Effect.Effect<void, NetifError>
  /**
   * Optional synchronous form of {@link write} for the per-frame hot path: does now what running `write(frame)` would
   * do and returns the error instead of failing (`undefined`: sent). Absent when the backend cannot write
   * synchronously; a wrapper that replaces `write` must replace it or set it to `undefined`.
   */
  readonly writeUnsafe?: ((frame: Uint8Array) => NetifError | undefined) | undefined
  /** Installs (replaces) the frame handler; completes when the device is disconnected. */
  readonly listen: (handler: FrameListener) => Effect.Effect<void>
  /** Unregisters from the backend (with flush) and makes `listen` return; idempotent. */
  readonly disconnect: Effect.Effect<void>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<NetifStats>
  /** Sets the counters back to zero. */
  readonly resetStats: Effect.Effect<void>
  /** Installs (or with `undefined` removes) the frame monitor. */
  readonly monitor: (fn: FrameMonitor | undefined) => Effect.Effect<void>
  /** Completes once a handler is installed (or the device is disconnected). */
  readonly ready: Effect.Effect<void>
}

/** The service key base of {@link Vnetif}: `Context.Service` with its type spelled out (JSR explicit types). */
export const VnetifBase: Context.ServiceClass<Vnetif, "vnetif/Vnetif", NetworkDeviceShape> = Context.Service<
  Vnetif,
  NetworkDeviceShape
>()(
  "vnetif/Vnetif",
)

/** The network device service: one Vnetif (or another NetworkDevice implementation). */
export class Vnetif extends VnetifBase {
  /** Builds a device on the current Backend; it disconnects when the Scope closes. */
  static readonly make: (
    options?: VnetifOptions,
  ) => Effect.Effect<NetworkDeviceShape, BackendError, Backend | Scope.Scope> = (
    options,
  ) => make(options)
  /** A Layer providing one device on the Backend from the context. */
  static readonly layer: (options?: VnetifOptions) => Layer.Layer<Vnetif, BackendError, Backend> = (options) =>
    Layer.effect(Vnetif, make(options))
}

/** Why a device operation failed. */
export type NetifErrorReason = "Disconnected" | "FrameTooLarge" | "Backend"

/** The fields of {@link NetifError}. */
export interface NetifErrorFields {
  /** Which kind of failure this is. */
  readonly reason: NetifErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link NetifError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const NetifErrorBase: TaggedErrorClass<"NetifError", NetifErrorFields> = Data.TaggedError("NetifError")<
  NetifErrorFields
>

/** The device's one error type. */
export class NetifError extends NetifErrorBase {}

/** Options of {@link Vnetif.make} / {@link Vnetif.layer}. */
export interface VnetifOptions {
  /** MTU in bytes (payload per frame), integer in 68..65535; default 1500. */
  readonly mtu?: number
  /** Checksum capabilities announced to the stack; default `ChecksumCapabilities.offload`. */
  readonly checksum?: ChecksumCapabilities
  /** Capacity of the receive queue in frames; default: the backend's (4096 for the Switch). */
  readonly queueCapacity?: number
  /** Byte budget of the receive queue; default: the backend's (for the Switch, 1024 full-size frames). */
  readonly queueBytes?: number
}

const CONNECTED = 0
const DISCONNECTING = 1
const DISCONNECTED = 2

const toNetifStats = (s: PortStats): NetifStats => ({
  rxBytes: s.rxBytes,
  rxPackets: s.rxPackets,
  txBytes: s.txBytes,
  txPackets: s.txPackets,
  rxDrops: s.rxDrops,
  txErrors: s.txErrors,
})

const ZERO_STATS: NetifStats = { rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0, rxDrops: 0, txErrors: 0 }

const toNetifError = (e: BackendError): NetifError =>
  new NetifError({
    reason: e.reason === "FrameTooLarge" ? "FrameTooLarge" : e.reason === "PortClosed" ? "Disconnected" : "Backend",
    message: e.message,
  })

// A constant handler: `Effect.mapError` would allocate a closure per write.
const onBackendCause = (cause: Cause.Cause<BackendError>): Effect.Effect<never, NetifError> =>
  Effect.failCause(Cause.map(cause, toNetifError))

const make = (options?: VnetifOptions): Effect.Effect<NetworkDeviceShape, BackendError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const registerOptions: RegisterOptions = {
      mtu: options?.mtu ?? 1500,
      ...(options?.queueCapacity === undefined ? {} : { queueCapacity: options.queueCapacity }),
      ...(options?.queueBytes === undefined ? {} : { queueBytes: options.queueBytes }),
    }
    const info = yield* backend.register(registerOptions)
    const id = info.id
    const maxFrame = info.mtu + 14

    let state = CONNECTED
    let handler: FrameListener | undefined = undefined
    let installed = false
    let monitorFn: FrameMonitor | undefined = undefined
    let finalStats: NetifStats | undefined = undefined
    const readyLatch = Deferred.makeUnsafe<void>()
    const disconnected = Deferred.makeUnsafe<void>()

    // The one listener given to the backend; it reads the current handler and monitor on each frame.
    const onFrame: FrameListener = (frame) => {
      const m = monitorFn
      if (m !== undefined) m("in", frame)
      return handler!(frame)
    }

    /** What every write does first: refuse when disconnected, show the frame to the monitor. */
    const beforeWrite = (frame: Uint8Array): NetifError | undefined => {
      if (state !== CONNECTED) {
        return new NetifError({ reason: "Disconnected", message: `device ${id} is disconnected` })
      }
      const m = monitorFn
      if (m !== undefined && frame.length <= maxFrame && frame.length >= 14) m("out", frame)
      return undefined
    }

    const write = (frame: Uint8Array): Effect.Effect<void, NetifError> =>
      Effect.suspend(() => {
        const refused = beforeWrite(frame)
        return refused !== undefined
          ? Effect.fail(refused)
          : Effect.catchCause(backend.write(id, frame), onBackendCause)
      })

    const backendWriteUnsafe = backend.writeUnsafe
    const writeUnsafe = backendWriteUnsafe === undefined ? undefined : (frame: Uint8Array): NetifError | undefined => {
      const refused = beforeWrite(frame)
      if (refused !== undefined) return refused
      const e = backendWriteUnsafe(id, frame)
      return e === undefined ? undefined : toNetifError(e)
    }

    const markReady = Effect.sync(() => {
      Deferred.doneUnsafe(readyLatch, Exit.void)
    })

    const listen = (h: FrameListener): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (state === DISCONNECTED) return Effect.void
        handler = h
        if (installed) return Deferred.await(disconnected)
        installed = true
        // Install first, then open `ready`: a waiter on `ready` may write at once and expects delivery.
        return backend.setListener(id, onFrame).pipe(
          Effect.ignore,
          Effect.andThen(markReady),
          Effect.andThen(Deferred.await(disconnected)),
        )
      })

    const finish = Effect.sync(() => {
      state = DISCONNECTED
      monitorFn = undefined
      Deferred.doneUnsafe(disconnected, Exit.void)
      Deferred.doneUnsafe(readyLatch, Exit.void)
    })

    const disconnect: Effect.Effect<void> = Effect.suspend(() => {
      if (state !== CONNECTED) return Deferred.await(disconnected)
      state = DISCONNECTING
      return backend.unregisterAndFlush(id).pipe(
        Effect.catchTag(
          "BackendError",
          (e) =>
            e.reason === "FlushTimeout"
              ? Effect.logWarning(`vnetif: ${e.message}; interrupting the handler`).pipe(
                Effect.andThen(backend.unregister(id)),
              )
              : Effect.fail(e),
        ),
        Effect.map(toNetifStats),
        Effect.catch(() => backend.portStats(id).pipe(Effect.map(toNetifStats))),
        Effect.catch(() => Effect.succeed(ZERO_STATS)),
        Effect.tap((s) =>
          Effect.sync(() => {
            finalStats = s
          })
        ),
        Effect.asVoid,
        Effect.ensuring(finish),
        Effect.uninterruptible,
      )
    })

    const stats: Effect.Effect<NetifStats> = Effect.suspend(() =>
      finalStats !== undefined ? Effect.succeed(finalStats) : backend.portStats(id).pipe(
        Effect.map(toNetifStats),
        Effect.catch(() => Effect.succeed(finalStats ?? ZERO_STATS)),
      )
    )

    const resetStats: Effect.Effect<void> = Effect.suspend(() => {
      if (finalStats !== undefined) {
        finalStats = ZERO_STATS
        return Effect.void
      }
      return Effect.ignore(backend.resetPortStats(id))
    })

    const monitor = (fn: FrameMonitor | undefined): Effect.Effect<void> =>
      Effect.sync(() => {
        monitorFn = state === DISCONNECTED ? undefined : fn
      })

    yield* Effect.addFinalizer(() => disconnect)

    return {
      id,
      mac: info.mac,
      mtu: info.mtu,
      checksum: options?.checksum ?? ChecksumCapabilities.offload,
      write,
      writeUnsafe,
      listen,
      disconnect,
      stats,
      resetStats,
      monitor,
      ready: Deferred.await(readyLatch),
    }
  })
