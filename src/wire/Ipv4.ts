/**
 * IPv4 packets: a view (`Ipv4Packet`) and a header Repr (`Ipv4Repr`).
 *
 * Implements: RFC 791 §3.1 (header format: version, IHL, type of service, total length, identification, flags,
 * fragment offset, time to live, protocol, header checksum, addresses, options), RFC 1122 §3.2.1.1–§3.2.1.2
 * (silently discard a version other than 4 and a bad header checksum), RFC 2474 §3 / RFC 3168 §5 (the TOS byte as
 * DSCP + ECN), RFC 1071 (the checksum itself, in `Checksum.ts`).
 *
 * Invariants: after `Ipv4Packet.parse` succeeds, version is 4, `20 <= headerLen() <= totalLen() <= buffer.length`,
 * so `payload()` is exactly `buffer[headerLen .. totalLen)` (link padding after total length is trimmed) and no
 * accessor reads past the buffer. Accessors never throw, also on unchecked views (out-of-range bytes read as 0).
 * `fragmentOffset` is in bytes (the wire field × 8). Options are skipped, not interpreted (`options()` gives their
 * bytes), except that `sourceRoute()` finds an LSRR/SSRR option (RFC 791 §3.1) and says whether its route is
 * finished. `Ipv4Repr` describes the header only: `bufferLen` is 20, `emit` writes a header without options whose
 * total length is `20 + payloadLen`; the caller writes the payload at `IPV4_HEADER_LEN`.
 *
 * @module
 */
import * as Result from "effect/Result"
import { type ChecksumCapabilities, finish, fold, shouldCompute, shouldVerify, sum } from "./Checksum.ts"
import { Ipv4Address } from "./Ipv4Address.ts"
import type { WireError } from "./WireError.ts"
import { read16 as r16, write16 as w16 } from "./Bytes.ts"
import { wireFail as fail } from "./WireError.ts"

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN: number = 20
/** Largest IPv4 header (IHL 15). */
export const IPV4_MAX_HEADER_LEN: number = 60

/** Byte offsets of the IPv4 header fields. */
const F = {
  VER_IHL: 0,
  DSCP_ECN: 1,
  TOTAL_LEN: 2,
  IDENT: 4,
  FLG_OFF: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC_ADDR: 12,
  DST_ADDR: 16,
  OPTIONS: 20,
} as const

const FLAG_DF = 0x4000
const FLAG_MF = 0x2000
const OFFSET_MASK = 0x1fff

export { IpProtocol } from "./IpProtocol.ts"

const OPT_EOL = 0
const OPT_NOP = 1
/** Loose source and record route (RFC 791 §3.1, option type 131). */
const OPT_LSRR = 131
/** Strict source and record route (RFC 791 §3.1, option type 137). */
const OPT_SSRR = 137

/** What {@link Ipv4Packet.sourceRoute} found in the options. */
export type Ipv4SourceRoute = "None" | "Finished" | "Unfinished" | "Malformed"

/** A view over the bytes of one IPv4 packet (no copy). */
export class Ipv4Packet {
  /** The packet bytes (may extend past total length, e.g. Ethernet padding). */
  readonly buffer: Uint8Array

  /** Unchecked view, for buffers we write ourselves; use `Ipv4Packet.parse` for received bytes. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer
  }

  /**
   * Checked view: `Truncated` if shorter than the header or than total length, `BadVersion` unless version 4,
   * `Malformed` if IHL < 5 or total length < header length.
   */
  static parse(buffer: Uint8Array): Result.Result<Ipv4Packet, WireError> {
    const len = buffer.length
    if (len < IPV4_HEADER_LEN) return fail("Truncated", `IPv4 packet of ${len} bytes is shorter than 20`)
    const version = buffer[F.VER_IHL] >>> 4
    if (version !== 4) return fail("BadVersion", `IP version ${version} is not 4`)
    const headerLen = (buffer[F.VER_IHL] & 0x0f) * 4
    if (headerLen < IPV4_HEADER_LEN) return fail("Malformed", `IPv4 header length ${headerLen} is less than 20`)
    if (headerLen > len) {
      return fail("Truncated", `IPv4 header length ${headerLen} is more than the ${len} bytes received`)
    }
    const totalLen = r16(buffer, F.TOTAL_LEN)
    if (totalLen < headerLen) {
      return fail("Malformed", `IPv4 total length ${totalLen} is less than the header length ${headerLen}`)
    }
    if (totalLen > len) return fail("Truncated", `IPv4 total length ${totalLen} is more than the ${len} bytes received`)
    return Result.succeed(new Ipv4Packet(buffer))
  }

  /** Version field (4). */
  version(): number {
    return this.buffer[F.VER_IHL] >>> 4
  }
  /** Header length in bytes (IHL × 4). */
  headerLen(): number {
    return (this.buffer[F.VER_IHL] & 0x0f) * 4
  }
  /** Differentiated services code point (upper 6 bits of the TOS byte). */
  dscp(): number {
    return this.buffer[F.DSCP_ECN] >>> 2
  }
  /** Explicit congestion notification (lower 2 bits of the TOS byte). */
  ecn(): number {
    return this.buffer[F.DSCP_ECN] & 0x03
  }
  /** Total length (header + payload) in bytes. */
  totalLen(): number {
    return r16(this.buffer, F.TOTAL_LEN)
  }
  /** Identification. */
  identification(): number {
    return r16(this.buffer, F.IDENT)
  }
  /** Don't Fragment flag. */
  dontFragment(): boolean {
    return (r16(this.buffer, F.FLG_OFF) & FLAG_DF) !== 0
  }
  /** More Fragments flag. */
  moreFragments(): boolean {
    return (r16(this.buffer, F.FLG_OFF) & FLAG_MF) !== 0
  }
  /** Fragment offset in bytes (the 13-bit field × 8). */
  fragmentOffset(): number {
    return (r16(this.buffer, F.FLG_OFF) & OFFSET_MASK) * 8
  }
  /** Time to live. */
  ttl(): number {
    return this.buffer[F.TTL]
  }
  /** Protocol number of the payload. */
  protocol(): number {
    return this.buffer[F.PROTOCOL]
  }
  /** Header checksum field. */
  checksum(): number {
    return r16(this.buffer, F.CHECKSUM)
  }
  /** Source address. */
  srcAddr(): Ipv4Address {
    return Ipv4Address.read(this.buffer, F.SRC_ADDR)
  }
  /** Destination address. */
  dstAddr(): Ipv4Address {
    return Ipv4Address.read(this.buffer, F.DST_ADDR)
  }
  /** The option bytes (between byte 20 and the header length), as a subarray. */
  options(): Uint8Array {
    return this.buffer.subarray(F.OPTIONS, this.headerLen())
  }
  /**
   * The state of a loose or strict source route option (LSRR 131, SSRR 137; RFC 791 §3.1) in the header, walking
   * the options without allocating: "None" without one; "Finished" when its pointer is past the option's end (we
   * are the final destination); "Unfinished" when addresses are left to visit (the datagram is for another host;
   * a host that does not forward drops it, as Linux does); "Malformed" for an option list that overruns the header,
   * an option length below 2, a source route with length below 3, a pointer below 4 or into a partial address, or
   * two source routes (RFC 1812 §5.2.4.1) — Linux drops the datagram in each case.
   */
  sourceRoute(): Ipv4SourceRoute {
    const b = this.buffer
    const end = this.headerLen()
    let state: Ipv4SourceRoute = "None"
    let i = F.OPTIONS
    while (i < end) {
      const type = b[i]
      if (type === OPT_EOL) break
      if (type === OPT_NOP) {
        i++
        continue
      }
      if (i + 1 >= end) return "Malformed"
      const len = b[i + 1]
      if (len < 2 || i + len > end) return "Malformed"
      if (type === OPT_LSRR || type === OPT_SSRR) {
        if (len < 3 || state !== "None") return "Malformed"
        const pointer = b[i + 2]
        if (pointer < 4) return "Malformed"
        if (pointer <= len) {
          if (pointer + 3 > len) return "Malformed"
          state = "Unfinished"
        } else state = "Finished"
      }
      i += len
    }
    return state
  }
  /** The payload (from the header length to the total length), as a subarray. */
  payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen(), this.totalLen())
  }
  /** True when the header (with its options) sums to 0xffff. */
  verifyChecksum(): boolean {
    return fold(sum(this.buffer, 0, this.headerLen())) === 0xffff
  }

  /** Sets version and header length (bytes, a multiple of 4). */
  setVersionAndHeaderLen(version: number, headerLen: number): void {
    this.buffer[F.VER_IHL] = (version << 4) | ((headerLen >>> 2) & 0x0f)
  }
  /** Sets the DSCP (6 bits). */
  setDscp(v: number): void {
    const b = this.buffer
    b[F.DSCP_ECN] = ((v & 0x3f) << 2) | (b[F.DSCP_ECN] & 0x03)
  }
  /** Sets the ECN (2 bits). */
  setEcn(v: number): void {
    const b = this.buffer
    b[F.DSCP_ECN] = (b[F.DSCP_ECN] & 0xfc) | (v & 0x03)
  }
  /** Sets the total length. */
  setTotalLen(v: number): void {
    w16(this.buffer, F.TOTAL_LEN, v)
  }
  /** Sets the identification. */
  setIdentification(v: number): void {
    w16(this.buffer, F.IDENT, v)
  }
  /** Sets the Don't Fragment flag. */
  setDontFragment(v: boolean): void {
    const f = r16(this.buffer, F.FLG_OFF)
    w16(this.buffer, F.FLG_OFF, v ? f | FLAG_DF : f & ~FLAG_DF)
  }
  /** Sets the More Fragments flag. */
  setMoreFragments(v: boolean): void {
    const f = r16(this.buffer, F.FLG_OFF)
    w16(this.buffer, F.FLG_OFF, v ? f | FLAG_MF : f & ~FLAG_MF)
  }
  /** Sets the fragment offset in bytes (must be a multiple of 8; the low 3 bits are dropped). */
  setFragmentOffset(bytes: number): void {
    const f = r16(this.buffer, F.FLG_OFF)
    w16(this.buffer, F.FLG_OFF, (f & ~OFFSET_MASK) | ((bytes >>> 3) & OFFSET_MASK))
  }
  /** Sets the time to live. */
  setTtl(v: number): void {
    this.buffer[F.TTL] = v
  }
  /** Sets the protocol number. */
  setProtocol(v: number): void {
    this.buffer[F.PROTOCOL] = v
  }
  /** Sets the checksum field. */
  setChecksum(v: number): void {
    w16(this.buffer, F.CHECKSUM, v)
  }
  /** Sets the source address. */
  setSrcAddr(a: Ipv4Address): void {
    Ipv4Address.write(this.buffer, F.SRC_ADDR, a)
  }
  /** Sets the destination address. */
  setDstAddr(a: Ipv4Address): void {
    Ipv4Address.write(this.buffer, F.DST_ADDR, a)
  }
  /** Computes the header checksum over `headerLen()` bytes and stores it. */
  fillChecksum(): void {
    this.setChecksum(0)
    this.setChecksum(finish(sum(this.buffer, 0, this.headerLen())))
  }
}

/** The fields of an IPv4 header that the stack uses (DSCP/ECN are written as 0, options are not carried). */
export interface Ipv4Repr {
  /** Source address. */
  readonly srcAddr: Ipv4Address
  /** Destination address. */
  readonly dstAddr: Ipv4Address
  /** Protocol number of the payload (see `IpProtocol`). */
  readonly protocol: number
  /** Payload length in bytes (total length − header length). */
  readonly payloadLen: number
  /** Time to live. */
  readonly ttl: number
  /** Identification. */
  readonly identification: number
  /** Don't Fragment flag. */
  readonly dontFragment: boolean
  /** More Fragments flag. */
  readonly moreFragments: boolean
  /** Fragment offset in bytes (a multiple of 8). */
  readonly fragmentOffset: number
}

/** Parse, size and emit IPv4 headers. */
export const Ipv4Repr: {
  /** Reads the header of a checked packet; `BadChecksum` when `caps.ipv4` says verify and the sum is wrong. */
  readonly parse: (packet: Ipv4Packet, caps: ChecksumCapabilities) => Result.Result<Ipv4Repr, WireError>
  /** Bytes written by `emit`: the 20-byte header (the payload is not part of the Repr). */
  readonly bufferLen: (repr: Ipv4Repr) => number
  /** Writes a 20-byte header (total length `20 + payloadLen`), with its checksum when `caps.ipv4` says compute. */
  readonly emit: (repr: Ipv4Repr, buf: Uint8Array, caps: ChecksumCapabilities) => void
} = {
  parse: (packet, caps) => {
    if (shouldVerify(caps.ipv4) && !packet.verifyChecksum()) {
      return fail("BadChecksum", `IPv4 header checksum 0x${packet.checksum().toString(16)} is wrong`)
    }
    return Result.succeed({
      srcAddr: packet.srcAddr(),
      dstAddr: packet.dstAddr(),
      protocol: packet.protocol(),
      payloadLen: packet.totalLen() - packet.headerLen(),
      ttl: packet.ttl(),
      identification: packet.identification(),
      dontFragment: packet.dontFragment(),
      moreFragments: packet.moreFragments(),
      fragmentOffset: packet.fragmentOffset(),
    })
  },
  bufferLen: () => IPV4_HEADER_LEN,
  emit: (repr, buf, caps) => {
    buf[F.VER_IHL] = 0x45
    buf[F.DSCP_ECN] = 0
    w16(buf, F.TOTAL_LEN, IPV4_HEADER_LEN + repr.payloadLen)
    w16(buf, F.IDENT, repr.identification)
    w16(
      buf,
      F.FLG_OFF,
      (repr.dontFragment ? FLAG_DF : 0) | (repr.moreFragments ? FLAG_MF : 0) |
        ((repr.fragmentOffset >>> 3) & OFFSET_MASK),
    )
    buf[F.TTL] = repr.ttl
    buf[F.PROTOCOL] = repr.protocol
    w16(buf, F.CHECKSUM, 0)
    Ipv4Address.write(buf, F.SRC_ADDR, repr.srcAddr)
    Ipv4Address.write(buf, F.DST_ADDR, repr.dstAddr)
    if (shouldCompute(caps.ipv4)) w16(buf, F.CHECKSUM, finish(sum(buf, 0, IPV4_HEADER_LEN)))
  },
}
