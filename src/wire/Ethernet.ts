/**
 * Ethernet II frames: a view (`EthernetFrame`) and a header Repr (`EthernetRepr`).
 *
 * Implements: IEEE 802.3-2018 §3.1.1 (MAC frame: destination, source, length/type), RFC 894 (IPv4 over Ethernet:
 * EtherType framing), IEEE 802.1Q-2018 §9.6 (one VLAN tag: TPID 0x8100 then a 16-bit TCI holding PCP, DEI and the
 * 12-bit VID). The FCS is not part of the frame here (devices strip it), and neither is minimum-size padding:
 * upper layers trim with their own length fields.
 *
 * Invariants: after `EthernetFrame.parse` succeeds the buffer holds the whole header (14 bytes, or 18 with one
 * 802.1Q tag), so no accessor reads past it. `etherType()` and `payload()` look through one 802.1Q tag. A frame
 * with two stacked 0x8100 tags reports the inner 0x8100 as its EtherType (no QinQ support). Accessors never throw.
 * `EthernetRepr` describes the header only: `bufferLen` is 14 and `emit` writes an untagged header; the caller
 * writes the payload at `ETHERNET_HEADER_LEN`.
 *
 * @module
 */
import * as Result from "effect/Result"
import { MacAddress } from "./MacAddress.ts"
import { WireError } from "./WireError.ts"

/** Length of an untagged Ethernet II header. */
export const ETHERNET_HEADER_LEN: number = 14
/** Length of an 802.1Q tag (TPID + TCI). */
export const VLAN_TAG_LEN: number = 4

/** Byte offsets of the Ethernet header fields (and of the 802.1Q tag fields when tagged). */
const F = {
  DST: 0,
  SRC: 6,
  ETHERTYPE: 12,
  PAYLOAD: 14,
  VLAN_TCI: 14,
  VLAN_ETHERTYPE: 16,
  VLAN_PAYLOAD: 18,
} as const

/** EtherType values we know. */
export const EtherType: { readonly Ipv4: 0x0800; readonly Arp: 0x0806; readonly Vlan: 0x8100; readonly Ipv6: 0x86dd } =
  {
    Ipv4: 0x0800,
    Arp: 0x0806,
    Vlan: 0x8100,
    Ipv6: 0x86dd,
  }

/** A view over the bytes of one Ethernet frame (no copy). */
export class EthernetFrame {
  /** The frame bytes, from the destination address to the end of the payload. */
  readonly buffer: Uint8Array

  /** Unchecked view, for buffers we write ourselves; use `EthernetFrame.parse` for received bytes. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer
  }

  /** Checked view: fails with `Truncated` unless the whole header (including an 802.1Q tag) is present. */
  static parse(buffer: Uint8Array): Result.Result<EthernetFrame, WireError> {
    if (buffer.length < ETHERNET_HEADER_LEN) {
      return Result.fail(
        new WireError({ reason: "Truncated", message: `Ethernet frame of ${buffer.length} bytes is shorter than 14` }),
      )
    }
    if (isTagged(buffer) && buffer.length < ETHERNET_HEADER_LEN + VLAN_TAG_LEN) {
      return Result.fail(
        new WireError({
          reason: "Truncated",
          message: `802.1Q-tagged Ethernet frame of ${buffer.length} bytes is shorter than 18`,
        }),
      )
    }
    return Result.succeed(new EthernetFrame(buffer))
  }

  /** Destination MAC address. */
  dstAddr(): MacAddress {
    return MacAddress.read(this.buffer, F.DST)
  }
  /** Source MAC address. */
  srcAddr(): MacAddress {
    return MacAddress.read(this.buffer, F.SRC)
  }
  /** True when the outer EtherType is 0x8100 (one 802.1Q tag follows the source address). */
  isVlanTagged(): boolean {
    return isTagged(this.buffer)
  }
  /** The EtherType of the payload (the inner one for a tagged frame). */
  etherType(): number {
    const b = this.buffer
    const o = isTagged(b) ? F.VLAN_ETHERTYPE : F.ETHERTYPE
    return (b[o] << 8) | b[o + 1]
  }
  /** The 12-bit VLAN identifier of a tagged frame, `undefined` when untagged. */
  vlanId(): number | undefined {
    const b = this.buffer
    return isTagged(b) ? ((b[F.VLAN_TCI] << 8) | b[F.VLAN_TCI + 1]) & 0x0fff : undefined
  }
  /** The 3-bit priority code point of a tagged frame, `undefined` when untagged. */
  vlanPriority(): number | undefined {
    const b = this.buffer
    return isTagged(b) ? b[F.VLAN_TCI] >>> 5 : undefined
  }
  /** Header length: 14, or 18 with an 802.1Q tag. */
  headerLen(): number {
    return isTagged(this.buffer) ? F.VLAN_PAYLOAD : F.PAYLOAD
  }
  /** The payload bytes (after the tag, if any), as a subarray. */
  payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen())
  }

  /** Sets the destination MAC address. */
  setDstAddr(a: MacAddress): void {
    MacAddress.write(this.buffer, F.DST, a)
  }
  /** Sets the source MAC address. */
  setSrcAddr(a: MacAddress): void {
    MacAddress.write(this.buffer, F.SRC, a)
  }
  /** Sets the EtherType field that `etherType()` reads (the inner one for a tagged frame). */
  setEtherType(v: number): void {
    const b = this.buffer
    const o = isTagged(b) ? F.VLAN_ETHERTYPE : F.ETHERTYPE
    b[o] = v >>> 8
    b[o + 1] = v
  }
}

const isTagged = (b: Uint8Array): boolean => b[F.ETHERTYPE] === 0x81 && b[F.ETHERTYPE + 1] === 0x00

/** The fields of an Ethernet header (an 802.1Q tag is looked through on parse and not written on emit). */
export interface EthernetRepr {
  /** Source MAC address. */
  readonly srcAddr: MacAddress
  /** Destination MAC address. */
  readonly dstAddr: MacAddress
  /** EtherType of the payload. */
  readonly etherType: number
}

/** Parse, size and emit Ethernet headers. */
export const EthernetRepr: {
  /** Reads the header of a checked frame (never fails: every EtherType is carried through). */
  readonly parse: (frame: EthernetFrame) => Result.Result<EthernetRepr, WireError>
  /** Header length written by `emit`: always 14. */
  readonly bufferLen: (repr: EthernetRepr) => number
  /** Writes an untagged 14-byte header at the start of `buf`; the payload goes at `ETHERNET_HEADER_LEN`. */
  readonly emit: (repr: EthernetRepr, buf: Uint8Array) => void
} = {
  parse: (frame) =>
    Result.succeed({ srcAddr: frame.srcAddr(), dstAddr: frame.dstAddr(), etherType: frame.etherType() }),
  bufferLen: () => ETHERNET_HEADER_LEN,
  emit: (repr, buf) => {
    MacAddress.write(buf, F.DST, repr.dstAddr)
    MacAddress.write(buf, F.SRC, repr.srcAddr)
    buf[F.ETHERTYPE] = repr.etherType >>> 8
    buf[F.ETHERTYPE + 1] = repr.etherType
  },
}
