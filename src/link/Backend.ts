/**
 * The link-layer backend contract (mirage-vnetif's `BACKEND` signature): a set of numbered ports that exchange
 * Ethernet frames. `Switch` is the in-process implementation; impairment middleware and TAP/VXLAN adapters implement
 * the same {@link BackendShape}.
 *
 * Ports: `register` hands out ids from 0 upwards, never reused (an unregistered id stays dead). A port's MAC is
 * `02:50:` followed by the 32-bit id big-endian (port 0 is 02:50:00:00:00:00, port 258 is 02:50:00:00:01:02), so
 * there is no 254-port limit.
 *
 * Transmit contract (smoltcp's `Device::transmit`, gVisor's `LinkWriter.WritePackets`): `transmit(port, frame)` is
 * the ONE send member. It is synchronous plain TypeScript and returns a {@link BackendError}, or `undefined` once
 * the frame is accepted — forwarded, queued, or dropped and counted. There is no Effect form and no second
 * (optional, faster) member that a wrapper could forget: middleware implements `transmit` like every other member
 * (see {@link forwardBackend}), and a backend that needs asynchrony owns a queue and a fiber behind `transmit` (the
 * Switch's per-port queues, the impairment shaper). Effect callers derive the Effect form with
 * `toEffect(backend.transmit(id, frame))` (`src/util/Transmit.ts`).
 *
 * Ownership contract (zero copy): a frame passed to `transmit` belongs to the backend from then on; the sender must
 * not change it again (re-sending the same unchanged bytes is fine). Every receiver gets the very same bytes and
 * treats them as read-only; a receiver that keeps data beyond its listener call, or wants to change it, copies first.
 *
 * Frame sizes: `transmit` refuses a frame longer than `mtu + 14` bytes of the *sending* port with a typed
 * `FrameTooLarge` error (mirage clamped silently) and counts a `txErrors`. A frame shorter than the 14-byte Ethernet
 * header is a runt: it is dropped and counted in `txErrors`, and `transmit` returns `undefined` (a NIC discards it
 * the same way). A frame longer than `mtu + 14` of a *receiving* port is dropped at that port and counted in its
 * `rxDrops`, as a real NIC with a smaller MTU would do.
 *
 * Delivery: inbound frames are queued per port (bounded) and handed to the port's listener one at a time, in order,
 * on a fiber owned by the backend — never on the sender's stack. A frame for a port whose queue is full, or that has
 * no listener, is dropped and counted in `rxDrops` (mirage drops frames for ports without a listener too).
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type { MacAddress } from "../wire/MacAddress.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"

/** A port number, assigned by `register` from 0 upwards and never reused. */
export type PortId = number

/** What `register` returns: the port's id, its MAC address and its MTU (the IP payload size; frames add 14). */
export interface PortInfo {
  /** The port number. */
  readonly id: PortId
  /** `02:50:` + the 32-bit id. */
  readonly mac: MacAddress
  /** Largest Ethernet payload in bytes; frames may be `mtu + 14` bytes long. */
  readonly mtu: number
}

/** A port's receive callback. It runs on the port's reader fiber, one frame at a time; the frame is read-only. */
export type FrameListener = (frame: Uint8Array) => Effect.Effect<void>

/** Per-port counters (a snapshot). */
export interface PortStats {
  /** Bytes of the frames handed to the listener. */
  readonly rxBytes: number
  /** Frames handed to the listener. */
  readonly rxPackets: number
  /** Bytes of the frames accepted by `transmit`. */
  readonly txBytes: number
  /** Frames accepted by `transmit`. */
  readonly txPackets: number
  /** Inbound frames dropped: queue full, no listener, or larger than this port's `mtu + 14`. */
  readonly rxDrops: number
  /**
   * Of `rxDrops`, the frames the flow-fair queue dropped from the flow holding the most of a full queue while other
   * flows had frames queued (a flood's own losses, which keep it from starving the port's other flows). 0 for a
   * backend without flow fairness.
   */
  readonly rxFlowDrops: number
  /** Outbound frames refused: too large for this port's MTU, or runts shorter than 14 bytes. */
  readonly txErrors: number
  /** Frames whose listener failed, died or interrupted itself (logged; the reader carries on). */
  readonly rxErrors: number
}

/** Why a backend operation failed. */
export type BackendErrorReason =
  | "FrameTooLarge"
  | "UnknownPort"
  | "PortClosed"
  | "FlushTimeout"
  | "InvalidConfig"

/** The fields of {@link BackendError}. */
export interface BackendErrorFields {
  /** Which kind of failure this is. */
  readonly reason: BackendErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link BackendError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const BackendErrorBase: TaggedErrorClass<"BackendError", BackendErrorFields> = Data.TaggedError("BackendError")<
  BackendErrorFields
>

/** The backend's one error type. */
export class BackendError extends BackendErrorBase {}

/** Options of `register`. */
export interface RegisterOptions {
  /** The port's MTU (payload bytes per frame), an integer in 68..65535; default 1500. */
  readonly mtu?: number
  /** Capacity of the port's inbound queue in frames; default: the backend's. */
  readonly queueCapacity?: number
  /** Byte budget of the port's inbound queue; default: the backend's (the Switch: see `SwitchOptions.queueBytes`). */
  readonly queueBytes?: number
  /** Flow buckets of the port's inbound queue (1: one FIFO); default: the backend's (the Switch: 1024). */
  readonly flowBuckets?: number
}

/** The backend contract: mirage-vnetif's `BACKEND` with typed errors, stats and a bounded flush. */
export interface BackendShape {
  /** Creates a port. Fails with `InvalidConfig` for a bad MTU or queue capacity. */
  readonly register: (options?: RegisterOptions) => Effect.Effect<PortInfo, BackendError>
  /**
   * Removes a port at once: stops its reader fiber (interrupting a running listener), drops its queued frames and
   * forgets MACs learned on it. Returns its final counters. Idempotent for a port already removed (zero counters
   * then); `UnknownPort` for an id never handed out.
   */
  readonly unregister: (id: PortId) => Effect.Effect<PortStats, BackendError>
  /**
   * Stops accepting frames for the port, waits until its queued and in-flight deliveries are done (at most
   * `timeout`, default 1 second), then unregisters it and returns its final counters. On timeout it fails with
   * `FlushTimeout` and leaves the port closing (no new frames, the slow listener still running): call `unregister`
   * to force it. Called from the port's own listener it does not wait for itself.
   */
  readonly unregisterAndFlush: (id: PortId, timeout?: Duration.Input) => Effect.Effect<PortStats, BackendError>
  /** The MAC address of a port (also of an unregistered one: it is a function of the id). */
  readonly mac: (id: PortId) => Effect.Effect<MacAddress, BackendError>
  /**
   * Sends a frame from a port, synchronously: the error, or `undefined` once the frame is accepted (forwarded,
   * queued, or dropped and counted). The frame is owned by the backend from now on (see the module docs).
   */
  readonly transmit: (id: PortId, frame: Uint8Array) => BackendError | undefined
  /** Installs (or with `undefined` removes) the port's listener; later frames go to the new one. */
  readonly setListener: (id: PortId, listener: FrameListener | undefined) => Effect.Effect<void, BackendError>
  /** A snapshot of the port's counters. */
  readonly portStats: (id: PortId) => Effect.Effect<PortStats, BackendError>
  /** Sets the port's counters back to zero. */
  readonly resetPortStats: (id: PortId) => Effect.Effect<void, BackendError>
  /** A snapshot of the registered ports, by ascending id. */
  readonly ports: Effect.Effect<ReadonlyArray<PortInfo>>
}

/** The service key base of {@link Backend}: `Context.Service` with its type spelled out (JSR explicit types). */
export const BackendBase: Context.ServiceClass<Backend, "vnetif/Backend", BackendShape> = Context.Service<
  Backend,
  BackendShape
>()(
  "vnetif/Backend",
)

/** The Backend service: one switch (or adapter) that Vnetif devices plug into. */
export class Backend extends BackendBase {}

/** The MAC prefix of every port: 02:50:00:00:00:00 (locally administered, unicast). */
export const PORT_MAC_BASE: number = 0x0250_0000_0000

/** Largest port id that fits the 32 bits of a port MAC. */
export const MAX_PORT_ID: number = 0xffff_ffff

/** The MAC address of port `id`: `02:50:` + the 32-bit id big-endian. */
export const portMac = (id: PortId): MacAddress => (PORT_MAC_BASE + id) as MacAddress

/** Counters all at zero. */
export const emptyPortStats: PortStats = {
  rxBytes: 0,
  rxPackets: 0,
  txBytes: 0,
  txPackets: 0,
  rxDrops: 0,
  rxFlowDrops: 0,
  txErrors: 0,
  rxErrors: 0,
}

/**
 * `inner`'s operations with `overrides` in place of some of them: the base of Backend middleware (Impairment,
 * Capture, Trace, LinkMetrics), which replace what they change and forward the rest unchanged — `transmit` included,
 * like every other member (there is no second send member that could bypass a middleware).
 */
export const forwardBackend = <O extends object>(
  inner: BackendShape,
  overrides: O,
): Omit<BackendShape, keyof O> & O => ({
  register: inner.register,
  unregister: inner.unregister,
  unregisterAndFlush: inner.unregisterAndFlush,
  mac: inner.mac,
  transmit: inner.transmit,
  setListener: inner.setListener,
  portStats: inner.portStats,
  resetPortStats: inner.resetPortStats,
  ports: inner.ports,
  ...overrides,
})
