/**
 * The network-layer contract the transports (TCP, UDP) are written against, whatever the IP version: mirage's
 * `Tcpip.Ip.S` (`src`, `mtu`, `pseudoheader`, `write` with a fill callback) and gVisor's `Route` (local address,
 * next hop, MTU, `PseudoHeaderChecksum`) plus its `HandleUnknownDestinationPacket` (the network layer, not the
 * transport, answers "no endpoint" with its own ICMP). `Ipv4.layer` provides it; an IPv6 layer will provide it too.
 *
 * Contract:
 * - `transmit(dst, protocol, payloadLen, fill, options?)` is the ONE send path: synchronous, returns an
 *   {@link IpError} or `undefined` once the datagram is sent, queued (e.g. waiting for address resolution, or on the
 *   loopback queue) or dropped and counted. `fill` is called exactly once, synchronously, before `transmit`
 *   returns, with the payload area of the final frame (or of the datagram a resolution queue holds); it must write
 *   all `payloadLen` bytes and keep no reference. A datagram larger than the path MTU is fragmented unless
 *   `dontFragment`. The Effect form, where one is wanted, is `toEffect(ip.transmit(…))` (`util/Transmit.ts`).
 * - Checksums: the transport computes its own over `pseudoHeaderSum(src, dst, protocol, length)` where `src` is
 *   the address `transmit` will use (`source(dst)`, or `options.src`), and honours `checksum` (the device's
 *   capabilities).
 * - `register(protocol, handler)` installs the receive handler of a protocol for the current Scope. A handler runs
 *   on the device's reader fiber, synchronously per datagram, and gets an {@link IpDatagram} whose bytes are valid
 *   only during the call. It returns an Effect (run by the network layer), or {@link NoEndpoint} when no socket or
 *   connection wants the datagram: the network layer then answers with its own error (ICMPv4 "port unreachable"
 *   for a datagram sent to our unicast address); a protocol nobody registered gets "protocol unreachable". So
 *   transports never import ICMP.
 * - MTU: `mtu(dst)` is the largest datagram, IP header included, that goes to `dst` in one frame; `headerLen` is the
 *   IP header `transmit` writes (no options). A transport's largest unfragmented payload is their difference (TCP:
 *   MSS = `mtu(dst) − headerLen − 20`).
 *
 * @module
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type { ChecksumCapabilities } from "../wire/Checksum.ts"
import type { IpAddress, IpFamily } from "../wire/IpAddress.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"

/** A received datagram, family neutral, as handed to a protocol handler. The bytes are valid during the call only. */
export interface IpDatagram {
  /** Source address. */
  readonly src: IpAddress
  /** Destination address (ours, a broadcast, or a multicast group). */
  readonly dst: IpAddress
  /** Protocol number (IPv4 protocol, IPv6 next header). */
  readonly protocol: number
  /** Time to live (IPv4) or hop limit (IPv6) as received. */
  readonly ttl: number
  /** The payload (after reassembly), trimmed to the datagram's length. */
  readonly payload: Uint8Array
  /** The IP header as received (with options), which ICMP errors quote. */
  readonly header: Uint8Array
}

/** What a protocol handler returns for a datagram no endpoint wants; the network layer answers it (see module doc). */
export const NoEndpoint: unique symbol = Symbol.for("vnetif/Ip/NoEndpoint")
/** The type of {@link NoEndpoint}. */
export type NoEndpoint = typeof NoEndpoint

/** A protocol's receive handler: an Effect to run, or {@link NoEndpoint}. */
export type IpHandler = (datagram: IpDatagram) => Effect.Effect<void> | NoEndpoint

/** Options of one `transmit`. */
export interface IpTransmitOptions {
  /** Time to live / hop limit, 1..255 (default: the layer's configured default, 64). */
  readonly ttl?: number
  /** Do not fragment: a datagram above the path MTU then fails with "MessageTooLong". */
  readonly dontFragment?: boolean
  /** Source address (default `source(dst)`). Must be of the layer's family. */
  readonly src?: IpAddress
}

/** Where a datagram to some destination goes (gVisor's `Route`, resolved per call). */
export interface IpRoute {
  /** The source address a datagram to this destination carries. */
  readonly source: IpAddress
  /** `"Local"` (this host: delivered without the wire), `"Unicast"` (on-link or via a gateway), `"Group"` (broadcast or multicast). */
  readonly kind: "Local" | "Unicast" | "Group"
  /** The neighbour the frame is sent to: the destination on-link, else the gateway (the destination for the others). */
  readonly nextHop: IpAddress
  /** The path MTU: largest datagram, IP header included, sent in one frame. */
  readonly mtu: number
}

/** The network-layer service TCP and UDP are written against. */
export interface IpShape {
  /** The IP version of this layer. */
  readonly family: IpFamily
  /** This interface's addresses (the first one is the primary address). */
  readonly addresses: ReadonlyArray<IpAddress>
  /** The route to `dst`, or `undefined` when there is none (or `dst` is of another family). Plain function. */
  readonly route: (dst: IpAddress) => IpRoute | undefined
  /** The source address for a datagram to `dst`, or `undefined` when there is no route. Plain function. */
  readonly source: (dst: IpAddress) => IpAddress | undefined
  /** The path MTU to `dst` (largest datagram, IP header included, in one frame). Plain function. */
  readonly mtu: (dst: IpAddress) => number
  /** Bytes of the IP header `transmit` writes in front of the payload (20 for IPv4, 40 for IPv6). */
  readonly headerLen: number
  /** The pseudo-header partial sum a transport checksum starts from (`wire/Checksum.ts`). Plain function. */
  readonly pseudoHeaderSum: (src: IpAddress, dst: IpAddress, protocol: number, length: number) => number
  /** The device's checksum capabilities. */
  readonly checksum: ChecksumCapabilities
  /** Sends one datagram; `fill` writes the payload in place. Synchronous: the one send path (see module doc). */
  readonly transmit: (
    dst: IpAddress,
    protocol: number,
    payloadLen: number,
    fill: (payload: Uint8Array) => void,
    options?: IpTransmitOptions,
  ) => IpError | undefined
  /** Registers the handler of `protocol` for the lifetime of the current Scope (replacing an earlier one). */
  readonly register: (protocol: number, handler: IpHandler) => Effect.Effect<void, never, Scope.Scope>
}

/** The service key base of {@link Ip}: `Context.Service` with its type spelled out (JSR explicit types). */
export const IpBase: Context.ServiceClass<Ip, "vnetif/Ip", IpShape> = Context.Service<Ip, IpShape>()("vnetif/Ip")

/** The network layer of one stack, IP-version neutral (provided by `Ipv4.layer`). */
export class Ip extends IpBase {}

/** Why a transmit failed. */
export type IpErrorReason = "NoRoute" | "MessageTooLong" | "InvalidArgument" | "Device"

/** The fields of {@link IpError}. */
export interface IpErrorFields {
  /** Which kind of failure this is. */
  readonly reason: IpErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link IpError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const IpErrorBase: TaggedErrorClass<"IpError", IpErrorFields> = Data.TaggedError("IpError")<IpErrorFields>

/** The error of the network-layer contract. */
export class IpError extends IpErrorBase {}
