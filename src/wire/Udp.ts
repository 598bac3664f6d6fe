/**
 * UDP datagrams: a view (`UdpPacket`) and a Repr (`UdpRepr`).
 *
 * Implements: RFC 768 (header: source port, destination port, length, checksum over the pseudo-header, the
 * header and the data; a computed checksum of zero is transmitted as all ones; a received zero means "no checksum"),
 * RFC 1122 §4.1.3.4 (a datagram with a bad checksum is silently discarded; checksums on by default),
 * RFC 6335 §6 (port 0 is reserved: a destination port 0 is `Malformed`).
 *
 * Invariants: after `UdpPacket.parse` succeeds, `8 <= length() <= buffer.length`, so `payload()` is exactly
 * `buffer[8 .. length)` (bytes after the UDP length are trimmed) and no accessor reads past the buffer. Accessors
 * never throw. `UdpRepr` carries the payload; `emit` copies it into place unless it already is `buf[8 ..]`.
 *
 * Checksums take `pseudoSum`, the pseudo-header's partial sum from `pseudoHeaderSum(src, dst, 17, length)` of either
 * IP version, where `length` is the UDP length (8 + data: `packet.length()` on receive, `UdpRepr.bufferLen(repr)` on
 * send). The codec knows no address type; RFC 8200 §8.1's "a zero checksum is not allowed over IPv6" is the IPv6
 * layer's business, so a received 0 is accepted here as "no checksum".
 *
 * @module
 */
import * as Result from "effect/Result"
import { type ChecksumCapabilities, finish, fold, shouldCompute, shouldVerify, sum } from "./Checksum.ts"
import type { WireError } from "./WireError.ts"
import { read16 as r16, write16 as w16 } from "./Bytes.ts"
import { wireFail as fail } from "./WireError.ts"

/** Length of the UDP header. */
export const UDP_HEADER_LEN: number = 8

/** Byte offsets of the UDP header fields. */
const F = {
  SRC_PORT: 0,
  DST_PORT: 2,
  LENGTH: 4,
  CHECKSUM: 6,
  PAYLOAD: 8,
} as const

/** A view over the bytes of one UDP datagram (no copy). */
export class UdpPacket {
  /** The datagram bytes (may extend past the UDP length field). */
  readonly buffer: Uint8Array

  /** Unchecked view, for buffers we write ourselves; use `UdpPacket.parse` for received bytes. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer
  }

  /** Checked view: `Truncated` if shorter than 8 bytes or than the length field, `Malformed` if length < 8. */
  static parse(buffer: Uint8Array): Result.Result<UdpPacket, WireError> {
    const len = buffer.length
    if (len < UDP_HEADER_LEN) return fail("Truncated", `UDP datagram of ${len} bytes is shorter than 8`)
    const field = r16(buffer, F.LENGTH)
    if (field < UDP_HEADER_LEN) return fail("Malformed", `UDP length ${field} is less than 8`)
    if (field > len) return fail("Truncated", `UDP length ${field} is more than the ${len} bytes received`)
    return Result.succeed(new UdpPacket(buffer))
  }

  /** Source port. */
  srcPort(): number {
    return r16(this.buffer, F.SRC_PORT)
  }
  /** Destination port. */
  dstPort(): number {
    return r16(this.buffer, F.DST_PORT)
  }
  /** Length field (header + payload). */
  length(): number {
    return r16(this.buffer, F.LENGTH)
  }
  /** Checksum field (0 = not computed by the sender). */
  checksum(): number {
    return r16(this.buffer, F.CHECKSUM)
  }
  /** The payload (from byte 8 to the length field), as a subarray. */
  payload(): Uint8Array {
    return this.buffer.subarray(F.PAYLOAD, this.length())
  }
  /** True when the checksum is 0 (not sent) or the pseudo-header (`pseudoSum`) + datagram sum to 0xffff. */
  verifyChecksum(pseudoSum: number): boolean {
    if (this.checksum() === 0) return true
    return fold(sum(this.buffer, 0, this.length(), pseudoSum)) === 0xffff
  }

  /** Sets the source port. */
  setSrcPort(v: number): void {
    w16(this.buffer, F.SRC_PORT, v)
  }
  /** Sets the destination port. */
  setDstPort(v: number): void {
    w16(this.buffer, F.DST_PORT, v)
  }
  /** Sets the length field. */
  setLength(v: number): void {
    w16(this.buffer, F.LENGTH, v)
  }
  /** Sets the checksum field. */
  setChecksum(v: number): void {
    w16(this.buffer, F.CHECKSUM, v)
  }
  /** Computes the checksum over the pseudo-header (`pseudoSum`) and `length()` bytes and stores it (0 → 0xffff). */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0)
    this.setChecksum(finish(sum(this.buffer, 0, this.length(), pseudoSum)) || 0xffff)
  }
}

/** A UDP datagram. */
export interface UdpRepr {
  /** Source port (0 = none). */
  readonly srcPort: number
  /** Destination port (1–65535). */
  readonly dstPort: number
  /** The data (a subarray of the input on parse). */
  readonly payload: Uint8Array
}

/** Parse, size and emit UDP datagrams. */
export const UdpRepr: {
  /**
   * Reads a checked datagram: `Malformed` for destination port 0; `BadChecksum` when `caps.udp` says verify and a
   * nonzero checksum is wrong (a zero checksum is accepted: the sender did not compute one). `pseudoSum` is
   * `pseudoHeaderSum(src, dst, 17, packet.length())`.
   */
  readonly parse: (
    packet: UdpPacket,
    pseudoSum: number,
    caps: ChecksumCapabilities,
  ) => Result.Result<UdpRepr, WireError>
  /** Bytes written by `emit`: 8 + payload length. */
  readonly bufferLen: (repr: UdpRepr) => number
  /**
   * Writes header + payload at the start of `buf`; the checksum when `caps.udp` says compute, else 0. `pseudoSum`
   * is `pseudoHeaderSum(src, dst, 17, UdpRepr.bufferLen(repr))`.
   */
  readonly emit: (
    repr: UdpRepr,
    buf: Uint8Array,
    pseudoSum: number,
    caps: ChecksumCapabilities,
  ) => void
} = {
  parse: (packet, pseudoSum, caps) => {
    const dstPort = packet.dstPort()
    if (dstPort === 0) return fail("Malformed", "UDP destination port 0 is reserved")
    if (shouldVerify(caps.udp) && !packet.verifyChecksum(pseudoSum)) {
      return fail("BadChecksum", `UDP checksum 0x${packet.checksum().toString(16)} is wrong`)
    }
    return Result.succeed({ srcPort: packet.srcPort(), dstPort, payload: packet.payload() })
  },
  bufferLen: (repr) => UDP_HEADER_LEN + repr.payload.length,
  emit: (repr, buf, pseudoSum, caps) => {
    const p = repr.payload
    const len = UDP_HEADER_LEN + p.length
    // payload first: a source overlapping the header area is read before the header overwrites it
    if (!(p.buffer === buf.buffer && p.byteOffset === buf.byteOffset + F.PAYLOAD)) buf.set(p, F.PAYLOAD)
    w16(buf, F.SRC_PORT, repr.srcPort)
    w16(buf, F.DST_PORT, repr.dstPort)
    w16(buf, F.LENGTH, len)
    w16(buf, F.CHECKSUM, 0)
    if (shouldCompute(caps.udp)) {
      w16(buf, F.CHECKSUM, finish(sum(buf, 0, len, pseudoSum)) || 0xffff)
    }
  },
}
