/**
 * The impairment of one device (`Impairment.device` / `Impairment.deviceLayer`): the device adapter that puts the
 * Backend middleware of `Middleware.ts` on a single {@link VnetifShape}, for the frames it sends, receives, or both.
 *
 * Each impaired direction is a full impairment (`wrap`) over a one-port Backend whose port is the device:
 * - out: the device's `transmit` goes through the impairment, whose backend below is the device's own `transmit`
 *   (the device's monitor still sees what actually goes out).
 * - in: the device's listener hands every received frame to the impairment's `transmit`; what comes out of it is
 *   handed to the handler installed with `listen`. A frame that passes at once (or a held frame it releases) is
 *   handled on the device's reader fiber, right after, in order, as without the impairment. A frame released later
 *   by the shaper (delay, rate, a held frame's `flushAfter`) goes through a queue to one delivery fiber of this
 *   adapter, which runs the handler for it. Frames still queued when the Scope closes are handed over then.
 * - both: two independent impairments with their own generators (the inbound seed is `${seed}/in`).
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import { BackendError, type BackendShape, type FrameListener, type PortStats } from "../../Backend.ts"
import { toVnetifError, Vnetif, type VnetifError, type VnetifShape } from "../../Vnetif.ts"
import { wrap } from "./Middleware.ts"
import type { ImpairmentHandle, ImpairmentSpec } from "./Spec.ts"

/** Which frames of a device `Impairment.device` impairs. */
export type ImpairmentDirection = "out" | "in" | "both"

/** Options of `Impairment.device`. */
export interface DeviceImpairmentOptions {
  /** The frames sent (`"out"`, default), received (`"in"`) or both. */
  readonly direction?: ImpairmentDirection
}

/** An impaired device: the device contract plus the impairment of each impaired direction. */
export interface ImpairedDevice extends VnetifShape {
  /** The impairment of the frames the device sends (undefined when only "in" is impaired). */
  readonly outbound: ImpairmentHandle | undefined
  /** The impairment of the frames the device receives (undefined when only "out" is impaired). */
  readonly inbound: ImpairmentHandle | undefined
}

/** A one-port Backend over a device: `transmit` hands the frame to `deliver`. */
const deviceBackend = (
  dev: VnetifShape,
  deliver: (frame: Uint8Array) => BackendError | undefined,
): BackendShape => {
  const portStats = Effect.map(dev.stats, (st): PortStats => ({ ...st, rxErrors: 0 }))
  return {
    register: () =>
      Effect.fail(
        new BackendError({ reason: "InvalidConfig", message: "a device impairment has one port: its device" }),
      ),
    unregister: () => portStats,
    unregisterAndFlush: () => portStats,
    mac: () => Effect.succeed(dev.mac),
    transmit: (_id, frame) => deliver(frame),
    setListener: () => Effect.void,
    portStats: () => portStats,
    resetPortStats: () => dev.resetStats,
    ports: Effect.succeed([{ id: dev.id, mac: dev.mac, mtu: dev.mtu }]),
  }
}

const toBackendError = (e: VnetifError): BackendError =>
  new BackendError({
    reason: e.reason === "FrameTooLarge" ? "FrameTooLarge" : "PortClosed",
    message: e.message,
  })

/** The seed of the inbound impairment when both directions share one spec (distinct streams). */
const inboundSpec = (spec: ImpairmentSpec, direction: ImpairmentDirection): ImpairmentSpec =>
  direction === "both" && spec.seed !== undefined ? { ...spec, seed: `${spec.seed}/in` } : spec

/** Impairs one device: the frames it sends, receives, or both; lives as long as the Scope. */
export const device = (
  dev: VnetifShape,
  spec: ImpairmentSpec,
  options?: DeviceImpairmentOptions,
): Effect.Effect<ImpairedDevice, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const direction = options?.direction ?? "out"
    const devTransmit = dev.transmit
    const outbound = direction === "in" ? undefined : yield* wrap(
      deviceBackend(dev, (frame) => {
        const e = devTransmit(frame)
        return e === undefined ? undefined : toBackendError(e)
      }),
      spec,
    )
    const transmit = outbound === undefined ? devTransmit : (frame: Uint8Array): VnetifError | undefined => {
      const e = outbound.transmit(dev.id, frame)
      return e === undefined ? undefined : toVnetifError(e)
    }
    if (direction === "out") return { ...dev, transmit, outbound, inbound: undefined }

    // ---- inbound ----------------------------------------------------------------------------------------------
    let handler: FrameListener | undefined
    /** True while the device's listener runs the impairment: frames that pass now are handled right after. */
    let collecting = false
    let now: Array<Uint8Array> = []
    const late = yield* Queue.unbounded<Uint8Array>()
    const handleAll = (frames: ReadonlyArray<Uint8Array>): Effect.Effect<void> => {
      const h = handler
      if (h === undefined || frames.length === 0) return Effect.void
      return frames.length === 1 ? h(frames[0]) : Effect.forEach(frames, (f) => h(f), { discard: true })
    }
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeAll(late), handleAll)))
    // Registered before the impairment: runs after its Scope-close flush, so flushed frames reach the handler.
    yield* Effect.addFinalizer(() => Effect.flatMap(Queue.clear(late), handleAll))
    const inbound = yield* wrap(
      deviceBackend(dev, (frame) => {
        if (collecting) now.push(frame)
        else Queue.offerUnsafe(late, frame)
        return undefined
      }),
      inboundSpec(spec, direction),
    )
    const inboundTransmit = inbound.transmit
    const onFrame: FrameListener = (frame) => {
      collecting = true
      try {
        inboundTransmit(dev.id, frame)
      } finally {
        collecting = false
      }
      if (now.length === 0) return Effect.void
      const frames = now
      now = []
      return handleAll(frames)
    }
    const listen = (h: FrameListener): Effect.Effect<void> =>
      Effect.suspend(() => {
        handler = h
        return dev.listen(onFrame)
      })
    return { ...dev, transmit, listen, outbound, inbound }
  })

/** `device` as a Layer over the `Vnetif` below it (e.g. as the `vnetif` override of `Stack.make`). */
export const deviceLayer = (
  spec: ImpairmentSpec,
  options?: DeviceImpairmentOptions,
): Layer.Layer<Vnetif, BackendError, Vnetif> =>
  Layer.effect(
    Vnetif,
    Effect.gen(function* () {
      return yield* device(yield* Vnetif, spec, options)
    }),
  )
