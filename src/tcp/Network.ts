/**
 * TCP's one door to the network layer. Every use of IPv4 by TCP — our address, the MSS a destination allows, whether
 * a destination can be connected to, sending a segment, parsing a received one (the pseudo-header checksum needs the
 * addresses), registering the receive handler, and reading, printing and hashing addresses — goes through the
 * narrow {@link Network} interface built here, so the rest of `src/tcp/` imports nothing from `ipv4/` and knows no
 * address family. Moving TCP onto an IP-version-neutral service means changing this module only.
 *
 * Send path (per segment, no Effect when the layers below are synchronous): {@link Network.transmit} serialises the
 * segment straight into the frame the IPv4 layer allocates (`Ipv4.writeUnsafe`, header and options emitted in place
 * in front of the payload, checksum per the device's capabilities). `writeUnsafe` runs the fill callback before it
 * returns and before anything that could re-enter TCP (local delivery), so one fill closure per stack serves every
 * segment. When the IPv4 service has no synchronous form, `Ipv4.write` runs the fill later: the segment's payload,
 * a view into a send ring, is copied first so that later writes cannot change it.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { Ipv4, type Ipv4Datagram, type Ipv4Error } from "../ipv4/Ipv4.ts"
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { IpProtocol, IPV4_HEADER_LEN } from "../wire/Ipv4.ts"
import { TCP_HEADER_LEN, TcpPacket, TcpRepr } from "../wire/Tcp.ts"
import { TcpError } from "./TcpError.ts"

/** The network-layer service TCP runs on (IPv4 today): what the Tcp layer requires. */
export type TcpNetworkService = Ipv4

/** An address as TCP sees it: the network layer's address type (IPv4 today). */
export type TcpAddress = Ipv4Address

/** Why the network layer could not send a segment. */
export type NetworkError = Ipv4Error

/** Why a received segment is dropped before it reaches a connection. */
export type ParseFailure = "BadChecksum" | "Malformed"

/** The receive handler TCP registers: a segment's source, destination and bytes (read-only, valid during the call). */
export type SegmentHandler = (src: TcpAddress, dst: TcpAddress, segment: Uint8Array) => Effect.Effect<void>

/** What TCP needs from the network layer. */
export interface Network {
  /** Our address. */
  readonly address: TcpAddress
  /** The address family, for messages ("IPv4"). */
  readonly family: string
  /**
   * The MSS we advertise to `dst`: the MTU towards it minus the IP and TCP headers (at least 64); `undefined` for a
   * listener's connections, before the peer is known.
   */
  readonly mss: (dst: TcpAddress | undefined) => number
  /** Whether a connection to `dst` can be opened: undefined, or the error ("NoRoute", or "InvalidArgument" for a group). */
  readonly route: (dst: TcpAddress) => TcpError | undefined
  /**
   * Sends `segment` to `dst` (emitted in place, checksum per the device's capabilities): `undefined` once sent as far
   * as the layers below go synchronously, otherwise the Effect that finishes the send (an address resolution, an
   * asynchronous device, or the failure).
   */
  readonly transmit: (dst: TcpAddress, segment: TcpRepr) => Effect.Effect<void, NetworkError> | undefined
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

const parseAddress = (a: TcpAddress | string): TcpAddress | undefined =>
  typeof a === "string" ? Ipv4Address.parse(a) : Number.isInteger(a) && a >= 0 && a <= 0xffffffff ? a : undefined

/** The {@link Network} of the current {@link Ipv4} service. */
export const makeNetwork: Effect.Effect<Network, never, TcpNetworkService> = Effect.map(Ipv4, (ipv4) => {
  const address = ipv4.address
  const caps = ipv4.checksum
  const mss = Math.max(64, ipv4.mtu - IPV4_HEADER_LEN - TCP_HEADER_LEN)
  const writeUnsafe = ipv4.writeUnsafe

  // the segment and destination of the `writeUnsafe` call in progress (its fill runs before it returns)
  let pending: TcpRepr | undefined = undefined
  let pendingDst: TcpAddress = address
  const fill = (buf: Uint8Array): void => {
    const s = pending
    pending = undefined
    if (s !== undefined) TcpRepr.emit(s, buf, address, pendingDst, caps)
  }

  const transmit = (dst: TcpAddress, segment: TcpRepr): Effect.Effect<void, NetworkError> | undefined => {
    const len = TcpRepr.bufferLen(segment)
    if (writeUnsafe !== undefined) {
      pending = segment
      pendingDst = dst
      const r = writeUnsafe(dst, IpProtocol.Tcp, len, fill)
      pending = undefined // a failure before the fill leaves nothing behind
      return r
    }
    const s = segment.payload.length > 0 ? { ...segment, payload: segment.payload.slice() } : segment
    return ipv4.write(dst, IpProtocol.Tcp, len, (buf) => TcpRepr.emit(s, buf, address, dst, caps))
  }

  const parse = (src: TcpAddress, dst: TcpAddress, segment: Uint8Array): Result.Result<TcpRepr, ParseFailure> => {
    if (dst !== address) return Result.fail("Malformed")
    const packet = TcpPacket.parse(segment)
    if (Result.isFailure(packet)) return Result.fail("Malformed")
    const parsed = TcpRepr.parse(packet.success, src, dst, caps)
    // a Success carries no error: hand it on as it is (no second Result per segment)
    if (Result.isSuccess(parsed)) return parsed as Result.Success<TcpRepr, never>
    return Result.fail(parsed.failure.reason === "BadChecksum" ? "BadChecksum" : "Malformed")
  }

  const route = (dst: TcpAddress): TcpError | undefined => {
    const hop = ipv4.nextHop(dst)
    if (hop._tag === "NoRoute") return new TcpError({ reason: "NoRoute", message: hop.message })
    if (hop._tag === "Group") {
      return new TcpError({
        reason: "InvalidArgument",
        message: `cannot connect to a broadcast or multicast address: ${Ipv4Address.format(dst)}`,
      })
    }
    return undefined
  }

  return {
    address,
    family: "IPv4",
    mss: () => mss,
    route,
    transmit,
    parse,
    register: (handler) => ipv4.register(IpProtocol.Tcp, (d: Ipv4Datagram) => handler(d.src, d.dst, d.payload)),
    parseAddress,
    formatAddress: Ipv4Address.format,
    addressHash: (a) => a,
  }
})
