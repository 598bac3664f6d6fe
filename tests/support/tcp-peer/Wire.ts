/**
 * The scripted TCP peer's wire access: opening its port on the link backend, transmitting frames, and encoding and
 * decoding Ethernet + IPv4 + TCP frames with the wire codecs. This whole module is the peer's ADAPTATION SECTION.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import type { BackendShape, PortInfo } from "../../../src/link/Backend.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetRepr, EtherType } from "../../../src/wire/Ethernet.ts"
import { IpProtocol, Ipv4Packet, Ipv4Repr } from "../../../src/wire/Ipv4.ts"
import type { Ipv4Address } from "../../../src/wire/Ipv4Address.ts"
import type { MacAddress } from "../../../src/wire/MacAddress.ts"
import { TcpPacket, TcpRepr } from "../../../src/wire/Tcp.ts"
import { toEffect } from "../../../src/util/Transmit.ts"
// ====================================================================================================================
// ADAPTATION SECTION — the only code of the peer that calls the link backend (`register`, `setListener`, `transmit`,
// `unregister`) or the IPv4/TCP codecs (`Ipv4Packet`, `Ipv4Repr`, `TcpPacket`, `TcpRepr`). When those contracts
// change (e.g. a synchronous `transmit(port, frame)`, `TcpRepr.emit(repr, buf, pseudoSum, caps)`), adapt
// `openPort`, `transmit`, `encodeTcpFrame` and `decodeTcpPacket`, and nothing else.
// ====================================================================================================================

/**
 * Registers a port on `backend` whose listener hands each frame to `onFrame` and sends the frame it returns (an ARP
 * reply); the port is unregistered when the scope closes.
 */
export const openPort = (
  backend: BackendShape,
  mtu: number,
  onFrame: (frame: Uint8Array, port: PortInfo) => Uint8Array | undefined,
): Effect.Effect<PortInfo, never, Scope.Scope> =>
  Effect.gen(function* () {
    const port = yield* Effect.acquireRelease(
      Effect.orDie(backend.register({ mtu })),
      (p) => Effect.ignore(backend.unregister(p.id)),
    )
    yield* Effect.orDie(backend.setListener(port.id, (frame) =>
      Effect.suspend(() => {
        const reply = onFrame(frame, port)
        return reply === undefined ? Effect.void : transmit(backend, port, reply)
      })))
    return port
  })

/** Sends `frame` from `port`; the backend owns it from now on. A refused frame is a defect of the test. */
export const transmit = (backend: BackendShape, port: PortInfo, frame: Uint8Array): Effect.Effect<void> =>
  Effect.orDie(toEffect(backend.transmit(port.id, frame)))

/** What the peer needs of the IPv4 header of a frame it sends. */
export interface IpHeader {
  readonly srcAddr: Ipv4Address
  readonly dstAddr: Ipv4Address
  readonly ttl: number
  readonly identification: number
}

/** A fresh Ethernet + IPv4 + TCP frame carrying `seg`, with the IPv4 and TCP checksums computed. */
export const encodeTcpFrame = (dstMac: MacAddress, srcMac: MacAddress, ip: IpHeader, seg: TcpRepr): Uint8Array => {
  const tcpLen = TcpRepr.bufferLen(seg)
  const ipRepr: Ipv4Repr = {
    srcAddr: ip.srcAddr,
    dstAddr: ip.dstAddr,
    protocol: IpProtocol.Tcp,
    payloadLen: tcpLen,
    ttl: ip.ttl,
    identification: ip.identification,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
  }
  const ipLen = Ipv4Repr.bufferLen(ipRepr)
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ipLen + tcpLen)
  EthernetRepr.emit({ dstAddr: dstMac, srcAddr: srcMac, etherType: EtherType.Ipv4 }, frame)
  Ipv4Repr.emit(ipRepr, frame.subarray(ETHERNET_HEADER_LEN), ChecksumCapabilities.all)
  const pseudo = pseudoHeaderSum(ip.srcAddr, ip.dstAddr, IpProtocol.Tcp, tcpLen)
  TcpRepr.emit(seg, frame.subarray(ETHERNET_HEADER_LEN + ipLen), pseudo, ChecksumCapabilities.all)
  return frame
}

/** A TCP segment decoded from an IPv4 packet (payload still a view into the frame). */
export interface DecodedTcp {
  readonly ip: { readonly srcAddr: Ipv4Address; readonly dstAddr: Ipv4Address; readonly ttl: number }
  readonly tcp: TcpRepr
  /** The TCP checksum verifies (false when the sender offloads it and sends 0). */
  readonly checksumOk: boolean
}

/** Decodes an IPv4 packet carrying an unfragmented TCP segment; undefined for anything else or malformed bytes. */
export const decodeTcpPacket = (packet: Uint8Array): DecodedTcp | undefined => {
  const p = Ipv4Packet.parse(packet)
  if (Result.isFailure(p)) return undefined
  const ip = Ipv4Repr.parse(p.success, ChecksumCapabilities.offload)
  if (Result.isFailure(ip)) return undefined
  const r = ip.success
  if (r.protocol !== IpProtocol.Tcp || r.moreFragments || r.fragmentOffset !== 0) return undefined
  const t = TcpPacket.parse(p.success.payload())
  if (Result.isFailure(t)) return undefined
  const pseudo = pseudoHeaderSum(r.srcAddr, r.dstAddr, IpProtocol.Tcp, r.payloadLen)
  const tcp = TcpRepr.parse(t.success, pseudo, ChecksumCapabilities.offload)
  if (Result.isFailure(tcp)) return undefined
  return {
    ip: { srcAddr: r.srcAddr, dstAddr: r.dstAddr, ttl: r.ttl },
    tcp: tcp.success,
    checksumOk: t.success.verifyChecksum(pseudo),
  }
}

// ====================================================================================================================
// END OF ADAPTATION SECTION
// ====================================================================================================================
