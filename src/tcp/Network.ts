/**
 * TCP's one door to the network layer: the version-neutral {@link Ip} service. Our address, the MSS a destination
 * allows, whether a destination can be connected to, sending a segment, parsing a received one (the checksum starts
 * from the network layer's pseudo-header sum), registering the receive handler, and reading, printing and hashing
 * addresses all go through the narrow {@link Network} interface built here, so nothing in `src/tcp/` imports an IP
 * version (`ipv4/`) or knows an address family.
 *
 * Send path (per segment, synchronous, no Effect): {@link Network.transmit} serialises the segment straight into the
 * datagram the network layer allocates (`Ip.transmit`, header and options emitted in place in front of the payload,
 * checksum per the device's capabilities). `Ip.transmit` runs the fill callback before it returns, so one fill
 * closure per stack serves every segment. Whatever needs asynchrony below (an address resolution, a shaping device)
 * queues inside the layer that needs it; the result here is an error or `undefined`.
 *
 * Addresses: a connection's local address is the network layer's primary address (its first); choosing among
 * several addresses per destination comes with multi-address interfaces.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { Ip, type IpDatagram, type IpError } from "../ip/Ip.ts"
import { IpAddress } from "../wire/IpAddress.ts"
import type { Ipv4Address } from "../wire/Ipv4Address.ts"
import { Ipv6Address } from "../wire/Ipv6Address.ts"
import { IpProtocol } from "../wire/IpProtocol.ts"
import { TCP_HEADER_LEN, TcpPacket, TcpRepr } from "../wire/Tcp.ts"
import { TcpError } from "./TcpError.ts"

/** The network-layer service TCP runs on: the version-neutral {@link Ip} (what the Tcp layer requires). */
export type TcpNetworkService = Ip

/** An address as TCP sees it: an IP address of the network layer's family. */
export type TcpAddress = IpAddress

/** Why the network layer could not send a segment. */
export type NetworkError = IpError

/** Why a received segment is dropped before it reaches a connection. */
export type ParseFailure = "BadChecksum" | "Malformed"

/** The receive handler TCP registers: a segment's source, destination and bytes (read-only, valid during the call). */
export type SegmentHandler = (src: TcpAddress, dst: TcpAddress, segment: Uint8Array) => Effect.Effect<void>

/** What TCP needs from the network layer. */
export interface Network {
  /** Our address. */
  readonly address: TcpAddress
  /** The address family, for messages ("IPv4" or "IPv6"). */
  readonly family: string
  /**
   * The MSS we advertise to `dst`: the MTU towards it minus the IP and TCP headers (at least 64); `undefined` for a
   * listener's connections, before the peer is known.
   */
  readonly mss: (dst: TcpAddress | undefined) => number
  /** Whether a connection to `dst` can be opened: undefined, or the error ("NoRoute", or "InvalidArgument" for a group). */
  readonly route: (dst: TcpAddress) => TcpError | undefined
  /**
   * Sends `segment` to `dst` (emitted in place, checksum per the device's capabilities), synchronously: `undefined`
   * once handed to the network layer (sent, or queued by a layer that needs asynchrony), or the error.
   */
  readonly transmit: (dst: TcpAddress, segment: TcpRepr) => NetworkError | undefined
  /** Parses a received segment (checksum verified when the device's capabilities say so; not to our address → "Malformed"). */
  readonly parse: (src: TcpAddress, dst: TcpAddress, segment: Uint8Array) => Result.Result<TcpRepr, ParseFailure>
  /** Registers the receive handler of TCP for the lifetime of the current Scope. */
  readonly register: (handler: SegmentHandler) => Effect.Effect<void, never, Scope.Scope>
  /** An address from its text form (or a number already an address), or undefined. */
  readonly parseAddress: (address: TcpAddress | string) => TcpAddress | undefined
  /** The text form of an address. */
  readonly formatAddress: (address: TcpAddress) => string
  /** 32 bits mixed into the initial sequence number (RFC 6528) for `address`. */
  readonly addressHash: (address: TcpAddress) => number
}

/** 32 bits of an address for the ISN hash (RFC 6528): the address itself for IPv4, its four words mixed for IPv6. */
const addressHash = (a: TcpAddress): number =>
  typeof a === "number"
    ? a
    : (Math.imul(a.w0, 0x9e3779b1) ^ Math.imul(a.w1, 0x85ebca6b) ^ Math.imul(a.w2, 0xc2b2ae35) ^ a.w3) >>> 0

/** The {@link Network} of the current {@link Ip} service. */
export const makeNetwork: Effect.Effect<Network, never, TcpNetworkService> = Effect.map(Ip, (ip) => {
  const address = ip.addresses[0]
  const family = ip.family
  const caps = ip.checksum
  const headerLen = ip.headerLen
  const ipTransmit = ip.transmit
  const pseudo = ip.pseudoHeaderSum
  const mssTo = (dst: TcpAddress): number => Math.max(64, ip.mtu(dst) - headerLen - TCP_HEADER_LEN)
  const defaultMss = mssTo(address)
  const sameFamily = (a: TcpAddress): boolean => (typeof a === "number") === (family === 4)

  // the segment and destination of the `transmit` call in progress (its fill runs before it returns)
  let pending: TcpRepr | undefined = undefined
  let pendingDst: TcpAddress = address
  const fill = (buf: Uint8Array): void => {
    const s = pending
    pending = undefined
    if (s !== undefined) TcpRepr.emit(s, buf, pseudo(address, pendingDst, IpProtocol.Tcp, buf.length), caps)
  }

  const transmit = (dst: TcpAddress, segment: TcpRepr): NetworkError | undefined => {
    pending = segment
    pendingDst = dst
    const e = ipTransmit(dst, IpProtocol.Tcp, TcpRepr.bufferLen(segment), fill)
    pending = undefined // a failure before the fill leaves nothing behind
    return e
  }

  const parse = (src: TcpAddress, dst: TcpAddress, segment: Uint8Array): Result.Result<TcpRepr, ParseFailure> => {
    if (dst !== address) return Result.fail("Malformed")
    const packet = TcpPacket.parse(segment)
    if (Result.isFailure(packet)) return Result.fail("Malformed")
    const parsed = TcpRepr.parse(packet.success, pseudo(src, dst, IpProtocol.Tcp, segment.length), caps)
    // a Success carries no error: hand it on as it is (no second Result per segment)
    if (Result.isSuccess(parsed)) return parsed as Result.Success<TcpRepr, never>
    return Result.fail(parsed.failure.reason === "BadChecksum" ? "BadChecksum" : "Malformed")
  }

  const route = (dst: TcpAddress): TcpError | undefined => {
    const r = ip.route(dst)
    if (r === undefined) {
      return new TcpError({ reason: "NoRoute", message: `no route to ${IpAddress.format(dst)}` })
    }
    if (r.kind === "Group" || IpAddress.isMulticast(dst)) {
      return new TcpError({
        reason: "InvalidArgument",
        message: `cannot connect to a broadcast or multicast address: ${IpAddress.format(dst)}`,
      })
    }
    return undefined
  }

  const parseAddress = (a: TcpAddress | string): TcpAddress | undefined => {
    const r = typeof a === "string"
      ? IpAddress.parse(a)
      : typeof a === "number"
      ? (Number.isInteger(a) && a >= 0 && a <= 0xffffffff ? a as Ipv4Address : undefined)
      : a instanceof Ipv6Address
      ? a
      : undefined
    return r !== undefined && sameFamily(r) ? r : undefined
  }

  const onDatagram = (handler: SegmentHandler) => (d: IpDatagram): Effect.Effect<void> =>
    handler(d.src, d.dst, d.payload)

  return {
    address,
    family: family === 4 ? "IPv4" : "IPv6",
    mss: (dst) => dst === undefined ? defaultMss : mssTo(dst),
    route,
    transmit,
    parse,
    register: (handler) => ip.register(IpProtocol.Tcp, onDatagram(handler)),
    parseAddress,
    formatAddress: IpAddress.format,
    addressHash,
  }
})
