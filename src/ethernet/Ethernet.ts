/**
 * The Ethernet layer: filters inbound frames by destination MAC, demultiplexes them by EtherType to the handlers
 * that upper layers register (ARP, IPv4), and builds outbound frames in one buffer that the caller fills in place.
 *
 * Inbound (on the device's reader fiber, plain TypeScript per frame): a frame is accepted when its destination is
 * this device's MAC, broadcast, or any group (multicast) address (IEEE 802.3 §3.2.3: the I/G bit); anything else is
 * dropped and counted as `notForUs`. 802.1Q-tagged frames are not supported on this untagged interface and are
 * counted as `unknownEtherType`, like an EtherType without a handler. Truncated frames are counted as `malformed`.
 * A handler that dies is logged and counted (`handlerDefects`); the reader carries on.
 *
 * Outbound, ONE synchronous path: `allocate(dst, etherType, payloadLen)` returns a fresh frame of `14 + payloadLen`
 * bytes (a zeroed view of its own, carved from a 64 KiB slab that is never reused) with the header written — the
 * destination MAC is known when the frame is allocated (ARP resolves before IPv4 frames a datagram); the caller
 * writes the payload in place and calls `transmit(frame)`, which hands the frame to the device (it owns it from then
 * on: the zero-copy contract of `link/Backend.ts`) and returns an `EthernetError` or `undefined` (sent, or queued by
 * a device that needs asynchrony). No Effect per frame. No minimum-size padding is added (a virtual link does not
 * need it; receivers trim with their own length fields, as RFC 894 allows).
 *
 * Implements: RFC 894 (IPv4 over Ethernet II framing), IEEE 802.3 §3.1.1 (frame format).
 *
 * Lifetime: `layer` forks the device's `listen` into the layer's scope and waits for `ready`, so frames are
 * delivered as soon as the layer is built; closing the scope interrupts the reader fiber.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { Vnetif, type VnetifError } from "../link/Vnetif.ts"
import type { ChecksumCapabilities } from "../wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr } from "../wire/Ethernet.ts"
import { MacAddress } from "../wire/MacAddress.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"

/** An upper-layer receive handler: gets the payload (read-only, valid during the call) and the two MACs. */
export type EthernetHandler = (payload: Uint8Array, src: MacAddress, dst: MacAddress) => Effect.Effect<void>

/** Counters of the Ethernet layer (a snapshot). */
export interface EthernetStats {
  /** Frames received from the device (before filtering). */
  readonly rxFrames: number
  /** Frames handed to an upper-layer handler. */
  readonly rxDelivered: number
  /** Frames sent. */
  readonly txFrames: number
  /** Frames refused on send (too large, device error, device backlog full). */
  readonly txErrors: number
  /** Frames dropped because their destination is neither this MAC nor a group address. */
  readonly notForUs: number
  /** Frames dropped because no handler is registered for their EtherType (or they carry an 802.1Q tag). */
  readonly unknownEtherType: number
  /** Frames dropped because they are shorter than the Ethernet header. */
  readonly malformed: number
  /** Frames whose handler died (a bug upstream; logged). */
  readonly handlerDefects: number
}

/** The Ethernet service. */
export interface EthernetShape {
  /** This interface's MAC address. */
  readonly mac: MacAddress
  /** Largest payload per frame (the device MTU). */
  readonly mtu: number
  /** The device's checksum capabilities, passed on to the layers above. */
  readonly checksum: ChecksumCapabilities
  /**
   * Registers the handler of an EtherType for the lifetime of the current Scope (a later registration for the same
   * EtherType replaces it; closing the scope removes it if it is still the current one).
   */
  readonly register: (etherType: number, handler: EthernetHandler) => Effect.Effect<void, never, Scope.Scope>
  /**
   * A fresh frame buffer of `14 + payloadLen` bytes with the header written (destination `dst`, source this MAC);
   * the caller writes the payload at offset 14, then calls `transmit`. Plain function.
   */
  readonly allocate: (dst: MacAddress, etherType: number, payloadLen: number) => Uint8Array
  /**
   * Sends a complete frame (from `allocate`); it belongs to the device from now on. Synchronous: returns the error,
   * or `undefined` once the frame is sent or queued by the device. `util/Transmit.ts` derives the Effect form.
   */
  readonly transmit: (frame: Uint8Array) => EthernetError | undefined
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<EthernetStats>
  /** Sets the counters back to zero. */
  readonly resetStats: Effect.Effect<void>
}

/** The service key base of {@link Ethernet}: `Context.Service` with its type spelled out (JSR explicit types). */
export const EthernetBase: Context.ServiceClass<Ethernet, "vnetif/Ethernet", EthernetShape> = Context.Service<
  Ethernet,
  EthernetShape
>()(
  "vnetif/Ethernet",
)

/** The Ethernet layer of one stack. */
export class Ethernet extends EthernetBase {
  /** Builds the service on the current {@link Vnetif}; the reader lives as long as the Scope. */
  static readonly make: Effect.Effect<EthernetShape, never, Vnetif | Scope.Scope> = Effect.suspend(() => make)
  /** A Layer providing {@link Ethernet}; needs {@link Vnetif}. */
  static readonly layer: Layer.Layer<Ethernet, never, Vnetif> = Layer.effect(Ethernet, Effect.suspend(() => make))
}

/** Why an Ethernet operation failed. */
export type EthernetErrorReason = "FrameTooLarge" | "InvalidLength" | "Disconnected" | "Device"

/** The fields of {@link EthernetError}. */
export interface EthernetErrorFields {
  /** Which kind of failure this is. */
  readonly reason: EthernetErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link EthernetError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const EthernetErrorBase: TaggedErrorClass<"EthernetError", EthernetErrorFields> = Data.TaggedError(
  "EthernetError",
)<EthernetErrorFields>

/** The Ethernet layer's error. */
export class EthernetError extends EthernetErrorBase {}

const fromVnetifError = (e: VnetifError): EthernetError =>
  new EthernetError({
    reason: e.reason === "Disconnected" ? "Disconnected" : e.reason === "FrameTooLarge" ? "FrameTooLarge" : "Device",
    message: e.message,
  })

/** Bytes of one frame slab (see `allocate`). */
const SLAB_BYTES = 64 * 1024

const make: Effect.Effect<EthernetShape, never, Vnetif | Scope.Scope> = Effect.gen(function* () {
  const device = yield* Vnetif
  const mac = device.mac
  const mtu = device.mtu
  const handlers = new Map<number, EthernetHandler>()
  const c = {
    rxFrames: 0,
    rxDelivered: 0,
    txFrames: 0,
    txErrors: 0,
    notForUs: 0,
    unknownEtherType: 0,
    malformed: 0,
    handlerDefects: 0,
  }

  const onDefect = (defect: unknown): Effect.Effect<void> => {
    c.handlerDefects++
    return Effect.logWarning("ethernet: an upper-layer handler died", defect)
  }

  const receive = (frame: Uint8Array): Effect.Effect<void> => {
    c.rxFrames++
    const parsed = EthernetFrame.parse(frame)
    if (Result.isFailure(parsed)) {
      c.malformed++
      return Effect.void
    }
    const view = parsed.success
    const dst = view.dstAddr()
    if (dst !== mac && !MacAddress.isMulticast(dst)) {
      c.notForUs++
      return Effect.void
    }
    const handler = view.isVlanTagged() ? undefined : handlers.get(view.etherType())
    if (handler === undefined) {
      c.unknownEtherType++
      return Effect.void
    }
    c.rxDelivered++
    const r = handler(view.payload(), view.srcAddr(), dst)
    // a handler that finished synchronously (the common case) cannot die any more: skip the wrapper
    return Exit.isExit(r) && Exit.isSuccess(r) ? r : Effect.catchDefect(r, onDefect)
  }

  // Frames are carved from a slab: one ArrayBuffer allocation per ~40 MTU-1500 frames instead of one per frame.
  // Views never overlap and a slab is never reused, so each frame is still owned by whoever it is handed to (the
  // zero-copy contract of `link/Backend.ts`); the slab is collected once no frame of it is referenced. Frames larger
  // than a quarter slab get their own buffer. An explicit ArrayBuffer also matters on JavaScriptCore (Bun): a
  // `new Uint8Array(n)` is a "fast" array without one, and its first `subarray` (every layer takes views) copies it.
  let slab = new Uint8Array(0)
  let slabUsed = 0
  const allocate = (dst: MacAddress, etherType: number, payloadLen: number): Uint8Array => {
    const len = ETHERNET_HEADER_LEN + payloadLen
    let frame: Uint8Array
    if (len > SLAB_BYTES >>> 2) frame = new Uint8Array(new ArrayBuffer(len))
    else {
      if (slabUsed + len > slab.length) {
        slab = new Uint8Array(new ArrayBuffer(SLAB_BYTES))
        slabUsed = 0
      }
      frame = slab.subarray(slabUsed, slabUsed + len)
      slabUsed = (slabUsed + len + 7) & ~7
    }
    EthernetRepr.emit({ dstAddr: dst, srcAddr: mac, etherType }, frame)
    return frame
  }

  const deviceTransmit = device.transmit
  const txError = (reason: EthernetErrorReason, message: string): EthernetError => {
    c.txErrors++
    return new EthernetError({ reason, message })
  }

  const transmit = (frame: Uint8Array): EthernetError | undefined => {
    const len = frame.length - ETHERNET_HEADER_LEN
    if (len < 0) return txError("InvalidLength", `frame of ${frame.length} bytes has no full header`)
    if (len > mtu) return txError("FrameTooLarge", `payload of ${len} bytes is larger than the MTU of ${mtu} bytes`)
    const e = deviceTransmit(frame)
    if (e === undefined) {
      c.txFrames++
      return undefined
    }
    c.txErrors++
    return fromVnetifError(e)
  }

  const register = (etherType: number, handler: EthernetHandler): Effect.Effect<void, never, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.sync(() => {
        handlers.set(etherType, handler)
      }),
      () =>
        Effect.sync(() => {
          if (handlers.get(etherType) === handler) handlers.delete(etherType)
        }),
    )

  yield* Effect.forkScoped(device.listen(receive))
  yield* device.ready

  return {
    mac,
    mtu,
    checksum: device.checksum,
    register,
    allocate,
    transmit,
    stats: Effect.sync(() => ({ ...c })),
    resetStats: Effect.sync(() => {
      for (const k of Object.keys(c) as Array<keyof typeof c>) c[k] = 0
    }),
  }
})
