/**
 * ICMPv4 messages: a view (`Icmpv4Packet`) and a Repr (`Icmpv4Repr`) for echo, destination unreachable and time
 * exceeded.
 *
 * Implements: RFC 792 (message formats: Echo / Echo Reply type 8/0 with identifier, sequence number and data;
 * Destination Unreachable type 3 and Time Exceeded type 11 with a code and the quoted internet header + 64 bits of
 * the original datagram; the checksum over the whole ICMP message), RFC 1122 §3.2.2 (unknown types are silently
 * discarded: here `Unsupported`; an echo with a nonzero code is accepted, as Linux does), RFC 1812 §4.3.2.3 (a
 * router may quote more than 8 bytes: `data` is taken as is).
 *
 * Invariants: after `Icmpv4Packet.parse` succeeds the 8-byte header is present; the message extends to the end of
 * the buffer (the IPv4 layer hands over a payload already trimmed to total length). The 4 "rest of header" bytes
 * are echo identifier/sequence number for echo messages and unused (written as zero) for the error messages;
 * the RFC 1191 next-hop MTU of "fragmentation needed" is readable with `nextHopMtu()` on the view but is not part of
 * the Repr. Accessors never throw.
 *
 * @module
 */
import * as Result from "effect/Result"
import { type ChecksumCapabilities, finish, fold, shouldCompute, shouldVerify, sum } from "./Checksum.ts"
import type { WireError } from "./WireError.ts"
import { read16 as r16, write16 as w16 } from "./Bytes.ts"
import { wireFail as fail } from "./WireError.ts"

/** Length of the ICMPv4 header (type, code, checksum, 4 bytes rest of header). */
export const ICMPV4_HEADER_LEN: number = 8

/** Byte offsets of the ICMPv4 fields. */
const F = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  ECHO_IDENT: 4,
  ECHO_SEQNO: 6,
  NEXT_HOP_MTU: 6,
  DATA: 8,
} as const

/** ICMPv4 message types we know. */
export const Icmpv4Type: {
  readonly EchoReply: 0
  readonly DstUnreachable: 3
  readonly EchoRequest: 8
  readonly TimeExceeded: 11
} = { EchoReply: 0, DstUnreachable: 3, EchoRequest: 8, TimeExceeded: 11 }

/** Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const Icmpv4DstUnreachableCode: {
  readonly NetUnreachable: 0
  readonly HostUnreachable: 1
  readonly ProtocolUnreachable: 2
  readonly PortUnreachable: 3
  readonly FragRequired: 4
  readonly SourceRouteFailed: 5
  readonly DstNetUnknown: 6
  readonly DstHostUnknown: 7
  readonly SourceHostIsolated: 8
  readonly NetProhibited: 9
  readonly HostProhibited: 10
  readonly NetUnreachToS: 11
  readonly HostUnreachToS: 12
  readonly CommProhibited: 13
  readonly HostPrecedViol: 14
  readonly PrecedCutoff: 15
} = {
  NetUnreachable: 0,
  HostUnreachable: 1,
  ProtocolUnreachable: 2,
  PortUnreachable: 3,
  FragRequired: 4,
  SourceRouteFailed: 5,
  DstNetUnknown: 6,
  DstHostUnknown: 7,
  SourceHostIsolated: 8,
  NetProhibited: 9,
  HostProhibited: 10,
  NetUnreachToS: 11,
  HostUnreachToS: 12,
  CommProhibited: 13,
  HostPrecedViol: 14,
  PrecedCutoff: 15,
}

/** Time Exceeded codes (RFC 792). */
export const Icmpv4TimeExceededCode: { readonly TtlExpired: 0; readonly FragReassemblyExpired: 1 } = {
  TtlExpired: 0,
  FragReassemblyExpired: 1,
}

/** A view over the bytes of one ICMPv4 message (no copy). */
export class Icmpv4Packet {
  /** The message bytes, from the type to the end of the data. */
  readonly buffer: Uint8Array

  /** Unchecked view, for buffers we write ourselves; use `Icmpv4Packet.parse` for received bytes. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer
  }

  /** Checked view: `Truncated` if shorter than the 8-byte header. */
  static parse(buffer: Uint8Array): Result.Result<Icmpv4Packet, WireError> {
    if (buffer.length < ICMPV4_HEADER_LEN) {
      return fail("Truncated", `ICMPv4 message of ${buffer.length} bytes is shorter than 8`)
    }
    return Result.succeed(new Icmpv4Packet(buffer))
  }

  /** Message type. */
  msgType(): number {
    return this.buffer[F.TYPE]
  }
  /** Message code. */
  msgCode(): number {
    return this.buffer[F.CODE]
  }
  /** Checksum field. */
  checksum(): number {
    return r16(this.buffer, F.CHECKSUM)
  }
  /** Echo identifier (bytes 4–5). */
  echoIdent(): number {
    return r16(this.buffer, F.ECHO_IDENT)
  }
  /** Echo sequence number (bytes 6–7). */
  echoSeqNo(): number {
    return r16(this.buffer, F.ECHO_SEQNO)
  }
  /** Next-hop MTU of a "fragmentation needed" message (RFC 1191; bytes 6–7). */
  nextHopMtu(): number {
    return r16(this.buffer, F.NEXT_HOP_MTU)
  }
  /** The bytes after the header (echo data, or the quoted datagram), as a subarray. */
  data(): Uint8Array {
    return this.buffer.subarray(F.DATA)
  }
  /** True when the whole message sums to 0xffff. */
  verifyChecksum(): boolean {
    return fold(sum(this.buffer, 0, this.buffer.length)) === 0xffff
  }

  /** Sets the message type. */
  setMsgType(v: number): void {
    this.buffer[F.TYPE] = v
  }
  /** Sets the message code. */
  setMsgCode(v: number): void {
    this.buffer[F.CODE] = v
  }
  /** Sets the checksum field. */
  setChecksum(v: number): void {
    w16(this.buffer, F.CHECKSUM, v)
  }
  /** Sets the echo identifier. */
  setEchoIdent(v: number): void {
    w16(this.buffer, F.ECHO_IDENT, v)
  }
  /** Sets the echo sequence number. */
  setEchoSeqNo(v: number): void {
    w16(this.buffer, F.ECHO_SEQNO, v)
  }
  /** Sets the next-hop MTU (bytes 6–7). */
  setNextHopMtu(v: number): void {
    w16(this.buffer, F.NEXT_HOP_MTU, v)
  }
  /** Computes the checksum over the whole buffer and stores it. */
  fillChecksum(): void {
    this.setChecksum(0)
    this.setChecksum(finish(sum(this.buffer, 0, this.buffer.length)))
  }
}

/** An ICMPv4 echo request (type 8). */
export interface Icmpv4EchoRequest {
  /** Discriminant. */
  readonly _tag: "EchoRequest"
  /**
   * The code: RFC 792 says 0, and absent means 0 (parse sets it only when nonzero). A receiver is liberal: Linux
   * answers any code, and echoes it back in the reply.
   */
  readonly code?: number
  /** Identifier. */
  readonly ident: number
  /** Sequence number. */
  readonly seqNo: number
  /** Echo data (a subarray of the input on parse). */
  readonly data: Uint8Array
}

/** An ICMPv4 echo reply (type 0). */
export interface Icmpv4EchoReply {
  /** Discriminant. */
  readonly _tag: "EchoReply"
  /** The code: 0 when absent (parse sets it only when nonzero); Linux copies the request's code into its reply. */
  readonly code?: number
  /** Identifier (copied from the request). */
  readonly ident: number
  /** Sequence number (copied from the request). */
  readonly seqNo: number
  /** Echo data (copied from the request; a subarray of the input on parse). */
  readonly data: Uint8Array
}

/** An ICMPv4 destination unreachable message (type 3). */
export interface Icmpv4DstUnreachable {
  /** Discriminant. */
  readonly _tag: "DstUnreachable"
  /** Code 0–15 (see `Icmpv4DstUnreachableCode`). */
  readonly code: number
  /** The quoted original datagram: its IPv4 header and at least 8 bytes of its payload. */
  readonly data: Uint8Array
}

/** An ICMPv4 time exceeded message (type 11). */
export interface Icmpv4TimeExceeded {
  /** Discriminant. */
  readonly _tag: "TimeExceeded"
  /** Code 0–1 (see `Icmpv4TimeExceededCode`). */
  readonly code: number
  /** The quoted original datagram: its IPv4 header and at least 8 bytes of its payload. */
  readonly data: Uint8Array
}

/** The ICMPv4 messages the stack understands. */
export type Icmpv4Repr = Icmpv4EchoRequest | Icmpv4EchoReply | Icmpv4DstUnreachable | Icmpv4TimeExceeded

const TYPE_OF = { EchoRequest: 8, EchoReply: 0, DstUnreachable: 3, TimeExceeded: 11 } as const

/** Parse, size and emit ICMPv4 messages. */
export const Icmpv4Repr: {
  /**
   * Reads a checked message: `BadChecksum` when `caps.icmpv4` says verify and the sum is wrong; `Unsupported` for
   * other types or error codes out of range (an echo's nonzero code is kept in `code`).
   */
  readonly parse: (packet: Icmpv4Packet, caps: ChecksumCapabilities) => Result.Result<Icmpv4Repr, WireError>
  /** Bytes written by `emit`: 8 + data length. */
  readonly bufferLen: (repr: Icmpv4Repr) => number
  /** Writes the message (header + data) at the start of `buf`, with its checksum when `caps.icmpv4` says compute. */
  readonly emit: (repr: Icmpv4Repr, buf: Uint8Array, caps: ChecksumCapabilities) => void
} = {
  parse: (packet, caps) => {
    if (shouldVerify(caps.icmpv4) && !packet.verifyChecksum()) {
      return fail("BadChecksum", `ICMPv4 checksum 0x${packet.checksum().toString(16)} is wrong`)
    }
    const type = packet.msgType()
    const code = packet.msgCode()
    switch (type) {
      case 8:
      case 0: {
        // RFC 792 says code 0; any other is accepted (RFC 1122 §1.2.2: be liberal in what you accept, as Linux is)
        const repr: Icmpv4Repr = code === 0
          ? {
            _tag: type === 8 ? "EchoRequest" : "EchoReply",
            ident: packet.echoIdent(),
            seqNo: packet.echoSeqNo(),
            data: packet.data(),
          }
          : {
            _tag: type === 8 ? "EchoRequest" : "EchoReply",
            code,
            ident: packet.echoIdent(),
            seqNo: packet.echoSeqNo(),
            data: packet.data(),
          }
        return Result.succeed(repr)
      }
      case 3: {
        if (code > 15) return fail("Unsupported", `ICMPv4 destination unreachable code ${code} is unknown`)
        return Result.succeed({ _tag: "DstUnreachable", code, data: packet.data() })
      }
      case 11: {
        if (code > 1) return fail("Unsupported", `ICMPv4 time exceeded code ${code} is unknown`)
        return Result.succeed({ _tag: "TimeExceeded", code, data: packet.data() })
      }
      default:
        return fail("Unsupported", `ICMPv4 type ${type} is not supported`)
    }
  },
  bufferLen: (repr) => ICMPV4_HEADER_LEN + repr.data.length,
  emit: (repr, buf, caps) => {
    const data = repr.data
    const len = ICMPV4_HEADER_LEN + data.length
    // data first: a source overlapping the header area is read before the header overwrites it
    if (!(data.buffer === buf.buffer && data.byteOffset === buf.byteOffset + F.DATA)) buf.set(data, F.DATA)
    buf[F.TYPE] = TYPE_OF[repr._tag]
    w16(buf, F.CHECKSUM, 0)
    if (repr._tag === "DstUnreachable" || repr._tag === "TimeExceeded") {
      buf[F.CODE] = repr.code
      w16(buf, 4, 0) // unused
      w16(buf, 6, 0)
    } else {
      buf[F.CODE] = repr.code ?? 0
      w16(buf, F.ECHO_IDENT, repr.ident)
      w16(buf, F.ECHO_SEQNO, repr.seqNo)
    }
    if (shouldCompute(caps.icmpv4)) w16(buf, F.CHECKSUM, finish(sum(buf, 0, len)))
  },
}
