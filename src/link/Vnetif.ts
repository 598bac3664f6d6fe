/**
 * Vnetif: one {@link Backend} port seen as a network card (mirage-vnetif's `Vnetif.Make(Backend)`), the device
 * that the Ethernet layer sits on. The service, its shape and its error share one name: `Vnetif`, {@link VnetifShape},
 * {@link VnetifError}; its configuration is the {@link VnetifConfig} Schema (defaults in the Schema).
 *
 * - `transmit(frame)` is the one send member, synchronous like `Backend.transmit`: it hands the frame to the backend
 *   (ownership passes to it: see the zero-copy contract in `Backend.ts`) and returns a {@link VnetifError}, or
 *   `undefined` once the frame is accepted. A frame longer than `mtu + 14` gives `FrameTooLarge`; after `disconnect`
 *   every transmit gives `Disconnected`. Effect callers use `toEffect(device.transmit(frame))`.
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
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { ChecksumCapabilities } from "../wire/Checksum.ts"
import type { MacAddress } from "../wire/MacAddress.ts"
import {
  Backend,
  type BackendError,
  emptyPortStats,
  type FrameListener,
  type PortId,
  type PortStats,
  type RegisterOptions,
} from "./Backend.ts"
import { decodeLayerConfig, int, withDefault } from "../util/Config.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"

/** Device counters (a snapshot). */
export interface VnetifStats {
  /** Bytes handed to the handler. */
  readonly rxBytes: number
  /** Frames handed to the handler. */
  readonly rxPackets: number
  /** Bytes transmitted. */
  readonly txBytes: number
  /** Frames transmitted. */
  readonly txPackets: number
  /** Inbound frames dropped: no handler yet, receive queue full, or larger than this device's MTU. */
  readonly rxDrops: number
  /**
   * Of `rxDrops`, the frames the backend's flow-fair queue dropped from the flow holding the most of a full receive
   * queue while other flows were queued (see `FlowQueue.ts`): what a flood lost so that other flows did not.
   */
  readonly rxFlowDrops: number
  /** Outbound frames refused: too large, or runts shorter than the 14-byte Ethernet header. */
  readonly txErrors: number
}

/** Direction of a frame seen by a monitor. */
export type FrameDirection = "in" | "out"

/** A monitor callback: sees every frame in and out, synchronously; the frame is read-only. */
export type FrameMonitor = (direction: FrameDirection, frame: Uint8Array) => void

/** The device contract: what the Ethernet layer needs from a network card. */
export interface VnetifShape {
  /** The backend port number. */
  readonly id: PortId
  /** The device's MAC address. */
  readonly mac: MacAddress
  /** Largest Ethernet payload; frames may be `mtu + 14` bytes. */
  readonly mtu: number
  /** Which checksums the stack must compute (tx) and verify (rx). */
  readonly checksum: ChecksumCapabilities
  /**
   * Sends a frame, synchronously: the error, or `undefined` once it is accepted (sent, queued, or dropped and
   * counted). The frame belongs to the device from now on.
   */
  readonly transmit: (frame: Uint8Array) => VnetifError | undefined
  /** Installs (replaces) the frame handler; completes when the device is disconnected. */
  readonly listen: (handler: FrameListener) => Effect.Effect<void>
  /** Unregisters from the backend (with flush) and makes `listen` return; idempotent. */
  readonly disconnect: Effect.Effect<void>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<VnetifStats>
  /** Sets the counters back to zero. */
  readonly resetStats: Effect.Effect<void>
  /** Installs (or with `undefined` removes) the frame monitor. */
  readonly monitor: (fn: FrameMonitor | undefined) => Effect.Effect<void>
  /** Completes once a handler is installed (or the device is disconnected). */
  readonly ready: Effect.Effect<void>
}

/** The service key base of {@link Vnetif}: `Context.Service` with its type spelled out (JSR explicit types). */
export const VnetifBase: Context.ServiceClass<Vnetif, "vnetif/Vnetif", VnetifShape> = Context.Service<
  Vnetif,
  VnetifShape
>()(
  "vnetif/Vnetif",
)

/** The network device service: one Vnetif (or another {@link VnetifShape} implementation). */
export class Vnetif extends VnetifBase {
  /** Builds a device on the current Backend; it disconnects when the Scope closes. */
  static readonly make: (
    config?: VnetifConfigInput,
  ) => Effect.Effect<VnetifShape, VnetifError, Backend | Scope.Scope> = (config) => make(config)
  /** A Layer providing one device on the Backend from the context. */
  static readonly layer: (config?: VnetifConfigInput) => Layer.Layer<Vnetif, VnetifError, Backend> = (config) =>
    Layer.effect(Vnetif, make(config))
}

/** Why a device operation failed. */
export type VnetifErrorReason = "Disconnected" | "FrameTooLarge" | "Backend" | "InvalidConfig"

/** The fields of {@link VnetifError}. */
export interface VnetifErrorFields {
  /** Which kind of failure this is. */
  readonly reason: VnetifErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link VnetifError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const VnetifErrorBase: TaggedErrorClass<"VnetifError", VnetifErrorFields> = Data.TaggedError("VnetifError")<
  VnetifErrorFields
>

/** The device's one error type. */
export class VnetifError extends VnetifErrorBase {}

// ---- configuration -------------------------------------------------------------------------------------------------

const ChecksumModeSchema = Schema.Literals(["both", "tx", "rx", "none"])

/** The Schema type of {@link ChecksumCapabilitiesSchema}. */
export type ChecksumCapabilitiesSchema = Schema.Struct<{
  readonly ipv4: Schema.Literals<readonly ["both", "tx", "rx", "none"]>
  readonly udp: Schema.Literals<readonly ["both", "tx", "rx", "none"]>
  readonly tcp: Schema.Literals<readonly ["both", "tx", "rx", "none"]>
  readonly icmpv4: Schema.Literals<readonly ["both", "tx", "rx", "none"]>
}>

/** Schema of a `ChecksumCapabilities` value written out per protocol. */
export const ChecksumCapabilitiesSchema: ChecksumCapabilitiesSchema = Schema.Struct({
  ipv4: ChecksumModeSchema,
  udp: ChecksumModeSchema,
  tcp: ChecksumModeSchema,
  icmpv4: ChecksumModeSchema,
})

/** The Schema type of {@link VnetifChecksum}. */
export type VnetifChecksum = Schema.decodeTo<
  ChecksumCapabilitiesSchema,
  Schema.Union<readonly [Schema.Literals<readonly ["offload", "all"]>, ChecksumCapabilitiesSchema]>
>

/**
 * The checksum capabilities a device announces: `"offload"` (`ChecksumCapabilities.offload`), `"all"`
 * (`ChecksumCapabilities.all`), or a `ChecksumCapabilities` value.
 */
export const VnetifChecksum: VnetifChecksum = Schema.Union([
  Schema.Literals(["offload", "all"]),
  ChecksumCapabilitiesSchema,
]).pipe(
  Schema.decodeTo(ChecksumCapabilitiesSchema, {
    decode: SchemaGetter.transform((v: "offload" | "all" | ChecksumCapabilities) =>
      v === "all" ? ChecksumCapabilities.all : v === "offload" ? ChecksumCapabilities.offload : v
    ),
    encode: SchemaGetter.transform((v: ChecksumCapabilities) => v),
  }),
)

/** Schema of the device's configuration: what {@link Vnetif.make} / {@link Vnetif.layer} take. */
export const VnetifConfig: Schema.Struct<{
  readonly mtu: Schema.withDecodingDefaultKey<Schema.Int>
  readonly checksum: Schema.withDecodingDefaultKey<VnetifChecksum>
  readonly queueCapacity: Schema.optionalKey<Schema.Int>
  readonly queueBytes: Schema.optionalKey<Schema.Int>
  readonly flowBuckets: Schema.optionalKey<Schema.Int>
}> = Schema.Struct({
  /** MTU in bytes (Ethernet payload per frame), an integer in 68..65535; default 1500. */
  mtu: int(68, 65535).pipe(withDefault(1500)),
  /**
   * Checksums the stack computes (tx) and verifies (rx), announced to it: default `"offload"` (an in-process switch
   * cannot corrupt a frame); `"all"` on a real wire (TAP, VXLAN); or a `ChecksumCapabilities` value.
   */
  checksum: VnetifChecksum.pipe(withDefault<VnetifChecksum>("offload")),
  /** Capacity of the receive queue in frames; default: the backend's (4096 for the Switch). */
  queueCapacity: Schema.optionalKey(int(1, Number.MAX_SAFE_INTEGER)),
  /** Byte budget of the receive queue; default: the backend's (for the Switch, 1024 full-size frames). */
  queueBytes: Schema.optionalKey(int(1, Number.MAX_SAFE_INTEGER)),
  /**
   * Flow buckets of the receive queue, 1..65536, rounded up to a power of two (1: one FIFO for every flow); default:
   * the backend's (1024 for the Switch, whose queue is flow-fair: a flood on one flow drops its own frames, not other
   * flows', see `FlowQueue.ts`).
   */
  flowBuckets: Schema.optionalKey(int(1, 65536)),
})

/** A decoded device configuration: every default filled in. */
export type VnetifConfig = typeof VnetifConfig.Type

/** A device configuration as written: every key optional. */
export type VnetifConfigInput = typeof VnetifConfig.Encoded

const CONNECTED = 0
const DISCONNECTING = 1
const DISCONNECTED = 2

const toVnetifStats = (s: PortStats): VnetifStats => ({
  rxBytes: s.rxBytes,
  rxPackets: s.rxPackets,
  txBytes: s.txBytes,
  txPackets: s.txPackets,
  rxDrops: s.rxDrops,
  rxFlowDrops: s.rxFlowDrops,
  txErrors: s.txErrors,
})

const ZERO_STATS: VnetifStats = toVnetifStats(emptyPortStats)

/** The device's view of a backend error. */
export const toVnetifError = (e: BackendError): VnetifError =>
  new VnetifError({
    reason: e.reason === "FrameTooLarge"
      ? "FrameTooLarge"
      : e.reason === "PortClosed"
      ? "Disconnected"
      : e.reason === "InvalidConfig"
      ? "InvalidConfig"
      : "Backend",
    message: e.message,
  })

const make = (input?: VnetifConfigInput): Effect.Effect<VnetifShape, VnetifError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const config: VnetifConfig = yield* decodeLayerConfig(
      VnetifConfig,
      input ?? {},
      "device",
      (message) => new VnetifError({ reason: "InvalidConfig", message }),
    )
    const backend = yield* Backend
    const registerOptions: RegisterOptions = {
      mtu: config.mtu,
      ...(config.queueCapacity === undefined ? {} : { queueCapacity: config.queueCapacity }),
      ...(config.queueBytes === undefined ? {} : { queueBytes: config.queueBytes }),
      ...(config.flowBuckets === undefined ? {} : { flowBuckets: config.flowBuckets }),
    }
    const info = yield* Effect.mapError(backend.register(registerOptions), toVnetifError)
    const id = info.id
    const maxFrame = info.mtu + 14

    let state = CONNECTED
    let handler: FrameListener | undefined = undefined
    let installed = false
    let monitorFn: FrameMonitor | undefined = undefined
    let finalStats: VnetifStats | undefined = undefined
    const readyLatch = Deferred.makeUnsafe<void>()
    const disconnected = Deferred.makeUnsafe<void>()

    // The one listener given to the backend; it reads the current handler and monitor on each frame.
    const onFrame: FrameListener = (frame) => {
      const m = monitorFn
      if (m !== undefined) m("in", frame)
      return handler!(frame)
    }

    const backendTransmit = backend.transmit

    /** Refuses when disconnected, shows the frame to the monitor, hands it to the backend. */
    const transmit = (frame: Uint8Array): VnetifError | undefined => {
      if (state !== CONNECTED) {
        return new VnetifError({ reason: "Disconnected", message: `device ${id} is disconnected` })
      }
      const m = monitorFn
      if (m !== undefined && frame.length <= maxFrame && frame.length >= 14) m("out", frame)
      const e = backendTransmit(id, frame)
      return e === undefined ? undefined : toVnetifError(e)
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
        // Install first, then open `ready`: a waiter on `ready` may transmit at once and expects delivery.
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
        Effect.map(toVnetifStats),
        Effect.catch(() => backend.portStats(id).pipe(Effect.map(toVnetifStats))),
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

    const stats: Effect.Effect<VnetifStats> = Effect.suspend(() =>
      finalStats !== undefined ? Effect.succeed(finalStats) : backend.portStats(id).pipe(
        Effect.map(toVnetifStats),
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
      checksum: config.checksum,
      transmit,
      listen,
      disconnect,
      stats,
      resetStats,
      monitor,
      ready: Deferred.await(readyLatch),
    }
  })
