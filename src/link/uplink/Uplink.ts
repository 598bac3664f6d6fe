/**
 * Uplinks: one port of a {@link Backend} (usually the in-process `Switch`) bridged to a wire outside the process —
 * a Linux TAP device (`Tap.ts`) or a VXLAN UDP socket (`Vxlan.ts`). A switch can then have local `Vnetif` ports and
 * one or more uplinks at the same time (the bridge of issue 4):
 * ```
 *   Stack A ── Vnetif ─┐
 *   Stack B ── Vnetif ─┼─ Switch ── uplink port ── FrameWire (TAP fd | VXLAN socket) ── the kernel / other hosts
 *                      │
 * ```
 * `Uplink.attach(wire)` registers a port on the Backend in the context and moves frames both ways:
 * - backend → wire: the port's listener hands every frame the switch forwards to the port (broadcasts, unknown
 *   unicast, and unicast to MACs learned on the uplink) to `wire.send`, synchronously, on the port's reader fiber.
 *   The frame stays read-only; a wire that needs it after `send` returns copies it.
 * - wire → backend: a fiber runs `wire.receive`, which writes every frame from the wire into the backend *from the
 *   uplink port* (`Backend.transmit`), so the switch learns the outside MACs on that port exactly as for a local device. Frames from the
 *   wire are fresh buffers, owned by the backend from then on (the zero-copy contract of `Backend.ts`).
 *
 * The uplink port's MAC (`02:50:` + id) is never used on the wire: an uplink is a bridge port, frames keep their own
 * source MACs. A frame from the wire longer than the uplink port's `mtu + 14` is refused by the backend and counted
 * in {@link UplinkStats.fromWireRefused}; a frame the wire cannot send is counted in `toWireDropped`.
 *
 * Checksums: a stack on a real wire must compute and verify every checksum (`Stack.make({ …, checksum: "all" })`):
 * the in-process default (`"offload"`) leaves them out, and the kernel drops such packets. The uplink watches for
 * that mistake and logs one warning when an IPv4 frame with a zero header checksum goes out to the wire.
 *
 * MACs across processes: every switch numbers its ports from 0, so two processes joined by VXLAN (or sharing a Linux
 * bridge through TAPs) would give their stacks the same MACs. {@link Uplink.withMacPrefix} wraps a Backend so that
 * port `id` gets the MAC `prefix:id` (three octets of prefix, the id's low 24 bits), and the switch then learns each
 * stack's MAC from its first frame. `Tap.make`/`Vxlan.make` apply it (`macPrefix`; Vxlan draws a random prefix by
 * default).
 *
 * Lifetime: the receive fiber is forked in the Scope of `attach`; closing it interrupts the fiber first, then
 * unregisters the port. The wire itself (fd, socket) is closed by its own Scope, opened before `attach`, so it
 * closes after the uplink has stopped using it.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { MacAddress } from "../../wire/MacAddress.ts"
import {
  Backend,
  BackendError,
  type BackendShape,
  emptyPortStats,
  type FrameListener,
  type PortInfo,
  type PortStats,
  type RegisterOptions,
} from "../Backend.ts"
import { fold, sum } from "../../wire/Checksum.ts"

/** A source and sink of Ethernet frames outside the process: what an uplink bridges a backend port to. */
export interface FrameWire {
  /** A short description for logs and errors, e.g. `tap vn0` or `vxlan 127.0.0.1:4789 vni 42`. */
  readonly name: string
  /** Largest Ethernet payload the wire carries (frames are up to `mtu + 14` bytes). */
  readonly mtu: number
  /**
   * Sends one frame, synchronously. The frame is read-only and must not be kept after the call (copy it if it is
   * needed later). Returns false when the wire dropped it (the wire counts why).
   */
  readonly send: (frame: Uint8Array) => boolean
  /**
   * The receive loop: hands every frame that arrives on the wire to `deliver`, one at a time, in order; each frame is
   * a fresh buffer owned by the receiver. Runs until interrupted; wire errors are logged and counted, not failed.
   */
  readonly receive: (deliver: (frame: Uint8Array) => Effect.Effect<void>) => Effect.Effect<void>
}

/** Counters of one uplink (a snapshot). */
export interface UplinkStats {
  /** Frames the backend forwarded to the uplink port and the wire accepted. */
  readonly toWire: number
  /** Bytes of those frames. */
  readonly toWireBytes: number
  /** Frames forwarded to the uplink port that the wire dropped. */
  readonly toWireDropped: number
  /** Frames from the wire written into the backend. */
  readonly fromWire: number
  /** Bytes of those frames. */
  readonly fromWireBytes: number
  /** Frames from the wire the backend refused (longer than the uplink port's `mtu + 14`, or a runt). */
  readonly fromWireRefused: number
  /** The uplink port's own counters, as the backend keeps them. */
  readonly port: PortStats
}

/** A running uplink. */
export interface UplinkHandle {
  /** The backend port the wire is bridged to. */
  readonly port: PortInfo
  /** The wire's name. */
  readonly wire: string
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<UplinkStats>
}

/** Options of {@link Uplink.attach}. */
export interface UplinkOptions {
  /** Capacity of the uplink port's inbound queue (frames on their way to the wire); default: the backend's. */
  readonly queueCapacity?: number
}

/** True for an IPv4 frame (no VLAN tag) whose header checksum field is zero: a stack left checksums to "offload". */
/**
 * An IPv4 frame whose header checksum field is 0 and whose header does not verify: what a stack with checksum offload
 * sends. (A field of 0 can also be the correct checksum of some headers — about one in 65 536 — so verify.)
 */
const looksUnchecksummed = (frame: Uint8Array): boolean => {
  if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00 || frame[24] !== 0 || frame[25] !== 0) return false
  if ((frame[14] >>> 4) !== 4) return false
  const headerEnd = 14 + (frame[14] & 0x0f) * 4
  return headerEnd > frame.length || fold(sum(frame, 14, headerEnd)) !== 0xffff
}

const attach = (
  wire: FrameWire,
  options?: UplinkOptions,
): Effect.Effect<UplinkHandle, BackendError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const port = yield* backend.register(
      options?.queueCapacity === undefined
        ? { mtu: wire.mtu }
        : { mtu: wire.mtu, queueCapacity: options.queueCapacity },
    )
    const id = port.id
    yield* Effect.addFinalizer(() => Effect.ignore(backend.unregister(id)))

    let toWire = 0
    let toWireBytes = 0
    let toWireDropped = 0
    let fromWire = 0
    let fromWireBytes = 0
    let fromWireRefused = 0
    let warned = false

    const offloadWarning = Effect.logWarning(
      `vnetif uplink ${wire.name}: an IPv4 frame with a zero header checksum is going out to a real wire; a stack ` +
        `on this backend probably uses checksum offload. Build it with Stack.make({ …, checksum: "all" }) or the ` +
        `kernel will drop its packets.`,
    )

    const listener: FrameListener = (frame) => {
      if (wire.send(frame)) {
        toWire++
        toWireBytes += frame.length
      } else {
        toWireDropped++
      }
      if (!warned && looksUnchecksummed(frame)) {
        warned = true
        return offloadWarning
      }
      return Effect.void
    }
    yield* backend.setListener(id, listener)

    const transmit = backend.transmit
    const deliver = (frame: Uint8Array): Effect.Effect<void> => {
      fromWire++
      fromWireBytes += frame.length
      if (transmit(id, frame) !== undefined) fromWireRefused++
      return Effect.void
    }
    yield* Effect.forkScoped(
      wire.receive(deliver).pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logWarning(`vnetif uplink ${wire.name}: the receive loop stopped`, cause)
        ),
      ),
    )

    const stats: Effect.Effect<UplinkStats> = Effect.map(
      Effect.catch(backend.portStats(id), () => Effect.succeed(emptyPortStats)),
      (portStats) => ({
        toWire,
        toWireBytes,
        toWireDropped,
        fromWire,
        fromWireBytes,
        fromWireRefused,
        port: portStats,
      }),
    )
    return { port, wire: wire.name, stats }
  })

/** Parses a MAC prefix: three octets `"02:aa:bb"` (or a number below 2^24). */
const parsePrefix = (prefix: string | number): number | undefined => {
  if (typeof prefix === "number") {
    return Number.isInteger(prefix) && prefix >= 0 && prefix <= 0xffffff ? prefix : undefined
  }
  const m = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/.exec(prefix.trim())
  return m === null ? undefined : (parseInt(m[1], 16) << 16) | (parseInt(m[2], 16) << 8) | parseInt(m[3], 16)
}

const withMacPrefix = (inner: BackendShape, prefix: string | number): Effect.Effect<BackendShape, BackendError> =>
  Effect.suspend(() => {
    const p = parsePrefix(prefix)
    if (p === undefined || ((p >>> 16) & 1) === 1) {
      return Effect.fail(
        new BackendError({
          reason: "InvalidConfig",
          message: `macPrefix must be three octets of a unicast MAC such as "02:aa:bb" (the first octet even; ` +
            `02, 06, 0a, 0e… are the locally administered ones), got ${JSON.stringify(prefix)}`,
        }),
      )
    }
    const base = p * 0x1000000
    const macOf = (id: number): MacAddress => MacAddress.make(base + (id & 0xffffff))
    const remap = (info: PortInfo): PortInfo => ({ id: info.id, mac: macOf(info.id), mtu: info.mtu })
    return Effect.succeed({
      ...inner,
      register: (o?: RegisterOptions) => Effect.map(inner.register(o), remap),
      mac: (id: number) => Effect.map(inner.mac(id), () => macOf(id)),
      ports: Effect.map(inner.ports, (ps) => ps.map(remap)),
    })
  })

/** Draws a random locally administered MAC prefix `02:xx:xx` from the context's `Random`. */
const randomMacPrefix: Effect.Effect<number> = Effect.map(Random.nextIntBetween(0, 0xffff), (n) => 0x020000 | n)

/** Bridging a backend port to a wire outside the process; see the module docs. */
export const Uplink: {
  /** Registers a port on the context's Backend and bridges it to `wire` until the Scope closes. */
  readonly attach: (
    wire: FrameWire,
    options?: UplinkOptions,
  ) => Effect.Effect<UplinkHandle, BackendError, Backend | Scope.Scope>
  /**
   * Wraps a Backend so that port `id` gets the MAC `prefix` (three octets, e.g. `"02:aa:bb"`) followed by the id's
   * low 24 bits, for processes that share one LAN. Fails with `InvalidConfig` for a malformed or multicast prefix.
   */
  readonly withMacPrefix: (inner: BackendShape, prefix: string | number) => Effect.Effect<BackendShape, BackendError>
  /** A random locally administered prefix `02:xx:xx` (a number below 2^24) drawn from the context's `Random`. */
  readonly randomMacPrefix: Effect.Effect<number>
} = { attach, withMacPrefix, randomMacPrefix }
