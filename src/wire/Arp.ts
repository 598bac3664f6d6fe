/**
 * ARP packets for IPv4 over Ethernet: a view (`ArpPacket`) and a Repr (`ArpRepr`).
 *
 * Implements: RFC 826 ("Packet format": ar$hrd, ar$pro, ar$hln, ar$pln, ar$op, ar$sha, ar$spa, ar$tha, ar$tpa),
 * RFC 5227 §2.1 (probes and announcements are ordinary requests, so they parse here too), IANA ARP parameters
 * (hardware type 1 = Ethernet, operation 1 = request, 2 = reply).
 *
 * Invariants: `ArpPacket.parse` checks that the fixed 8-byte prefix and the four addresses its `hlen`/`plen`
 * announce are present; trailing bytes (Ethernet padding) are ignored. The address accessors use the
 * Ethernet/IPv4 offsets, which `ArpRepr.parse` guarantees (htype 1, ptype 0x0800, hlen 6, plen 4; anything else is
 * `Unsupported`). For other hardware/protocol sizes the accessors still never throw, they just read other bytes.
 *
 * @module
 */
import * as Result from "effect/Result"
import { Ipv4Address } from "./Ipv4Address.ts"
import { MacAddress } from "./MacAddress.ts"
import { WireError } from "./WireError.ts"
import { read16 as r16, write16 as w16 } from "./Bytes.ts"

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_PACKET_LEN: number = 28

/** Byte offsets of the ARP fields (addresses at their Ethernet/IPv4 positions). */
const F = {
  HTYPE: 0,
  PTYPE: 2,
  HLEN: 4,
  PLEN: 5,
  OPER: 6,
  SHA: 8,
  SPA: 14,
  THA: 18,
  TPA: 24,
} as const

/** The fixed part before the addresses. */
const ARP_FIXED_LEN = 8

/** ARP hardware type for Ethernet. */
export const ARP_HTYPE_ETHERNET: number = 1

/** ARP operation codes. */
export const ArpOperation: { readonly Request: 1; readonly Reply: 2 } = { Request: 1, Reply: 2 }
/** An ARP operation code we support. */
export type ArpOperation = 1 | 2

/** A view over the bytes of one ARP packet (no copy). */
export class ArpPacket {
  /** The packet bytes (may include trailing Ethernet padding). */
  readonly buffer: Uint8Array

  /** Unchecked view, for buffers we write ourselves; use `ArpPacket.parse` for received bytes. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer
  }

  /** Checked view: fails with `Truncated` unless the header and the addresses it announces are present. */
  static parse(buffer: Uint8Array): Result.Result<ArpPacket, WireError> {
    if (buffer.length < ARP_FIXED_LEN) {
      return Result.fail(
        new WireError({ reason: "Truncated", message: `ARP packet of ${buffer.length} bytes is shorter than 8` }),
      )
    }
    const need = ARP_FIXED_LEN + 2 * (buffer[F.HLEN] + buffer[F.PLEN])
    if (buffer.length < need) {
      return Result.fail(
        new WireError({
          reason: "Truncated",
          message: `ARP packet of ${buffer.length} bytes is shorter than the ${need} its address lengths announce`,
        }),
      )
    }
    return Result.succeed(new ArpPacket(buffer))
  }

  /** Hardware type (1 = Ethernet). */
  hardwareType(): number {
    return r16(this.buffer, F.HTYPE)
  }
  /** Protocol type (0x0800 = IPv4). */
  protocolType(): number {
    return r16(this.buffer, F.PTYPE)
  }
  /** Hardware address length in bytes. */
  hardwareLen(): number {
    return this.buffer[F.HLEN]
  }
  /** Protocol address length in bytes. */
  protocolLen(): number {
    return this.buffer[F.PLEN]
  }
  /** Operation (1 request, 2 reply). */
  operation(): number {
    return r16(this.buffer, F.OPER)
  }
  /** Sender hardware address. */
  senderHardwareAddr(): MacAddress {
    return MacAddress.read(this.buffer, F.SHA)
  }
  /** Sender protocol address. */
  senderProtocolAddr(): Ipv4Address {
    return Ipv4Address.read(this.buffer, F.SPA)
  }
  /** Target hardware address. */
  targetHardwareAddr(): MacAddress {
    return MacAddress.read(this.buffer, F.THA)
  }
  /** Target protocol address. */
  targetProtocolAddr(): Ipv4Address {
    return Ipv4Address.read(this.buffer, F.TPA)
  }

  /** Sets the hardware type. */
  setHardwareType(v: number): void {
    w16(this.buffer, F.HTYPE, v)
  }
  /** Sets the protocol type. */
  setProtocolType(v: number): void {
    w16(this.buffer, F.PTYPE, v)
  }
  /** Sets the hardware address length. */
  setHardwareLen(v: number): void {
    this.buffer[F.HLEN] = v
  }
  /** Sets the protocol address length. */
  setProtocolLen(v: number): void {
    this.buffer[F.PLEN] = v
  }
  /** Sets the operation. */
  setOperation(v: number): void {
    w16(this.buffer, F.OPER, v)
  }
  /** Sets the sender hardware address. */
  setSenderHardwareAddr(a: MacAddress): void {
    MacAddress.write(this.buffer, F.SHA, a)
  }
  /** Sets the sender protocol address. */
  setSenderProtocolAddr(a: Ipv4Address): void {
    Ipv4Address.write(this.buffer, F.SPA, a)
  }
  /** Sets the target hardware address. */
  setTargetHardwareAddr(a: MacAddress): void {
    MacAddress.write(this.buffer, F.THA, a)
  }
  /** Sets the target protocol address. */
  setTargetProtocolAddr(a: Ipv4Address): void {
    Ipv4Address.write(this.buffer, F.TPA, a)
  }
}

/** An Ethernet/IPv4 ARP request or reply. */
export interface ArpRepr {
  /** 1 request, 2 reply. */
  readonly operation: ArpOperation
  /** Sender hardware address (ar$sha). */
  readonly senderHardwareAddr: MacAddress
  /** Sender protocol address (ar$spa). */
  readonly senderProtocolAddr: Ipv4Address
  /** Target hardware address (ar$tha); zero in a request. */
  readonly targetHardwareAddr: MacAddress
  /** Target protocol address (ar$tpa). */
  readonly targetProtocolAddr: Ipv4Address
}

const unsupported = (message: string): Result.Result<never, WireError> =>
  Result.fail(new WireError({ reason: "Unsupported", message }))

/** Parse, size and emit Ethernet/IPv4 ARP packets. */
export const ArpRepr: {
  /** Reads a request or reply; anything but Ethernet/IPv4 (1/0x0800/6/4) or operations 1–2 is `Unsupported`. */
  readonly parse: (packet: ArpPacket) => Result.Result<ArpRepr, WireError>
  /** Bytes written by `emit`: always 28. */
  readonly bufferLen: (repr: ArpRepr) => number
  /** Writes the 28-byte packet at the start of `buf`. */
  readonly emit: (repr: ArpRepr, buf: Uint8Array) => void
} = {
  parse: (packet) => {
    const htype = packet.hardwareType()
    const ptype = packet.protocolType()
    const hlen = packet.hardwareLen()
    const plen = packet.protocolLen()
    if (htype !== ARP_HTYPE_ETHERNET || ptype !== 0x0800 || hlen !== 6 || plen !== 4) {
      return unsupported(
        `ARP for hardware type ${htype}, protocol 0x${ptype.toString(16)}, lengths ${hlen}/${plen} is not ` +
          `supported (only Ethernet/IPv4: 1, 0x0800, 6/4)`,
      )
    }
    const operation = packet.operation()
    if (operation !== 1 && operation !== 2) {
      return unsupported(`ARP operation ${operation} is not supported (only 1 request, 2 reply)`)
    }
    return Result.succeed({
      operation,
      senderHardwareAddr: packet.senderHardwareAddr(),
      senderProtocolAddr: packet.senderProtocolAddr(),
      targetHardwareAddr: packet.targetHardwareAddr(),
      targetProtocolAddr: packet.targetProtocolAddr(),
    })
  },
  bufferLen: () => ARP_PACKET_LEN,
  emit: (repr, buf) => {
    w16(buf, F.HTYPE, ARP_HTYPE_ETHERNET)
    w16(buf, F.PTYPE, 0x0800)
    buf[F.HLEN] = 6
    buf[F.PLEN] = 4
    w16(buf, F.OPER, repr.operation)
    MacAddress.write(buf, F.SHA, repr.senderHardwareAddr)
    Ipv4Address.write(buf, F.SPA, repr.senderProtocolAddr)
    MacAddress.write(buf, F.THA, repr.targetHardwareAddr)
    Ipv4Address.write(buf, F.TPA, repr.targetProtocolAddr)
  },
}
