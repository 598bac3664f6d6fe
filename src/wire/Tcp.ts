/**
 * TCP segments: a view (`TcpPacket`), an options codec (`TcpOptions`) and a Repr (`TcpRepr`).
 *
 * Implements: RFC 9293 §3.1 (header format: ports, sequence and acknowledgment numbers, data offset, control bits,
 * window, checksum over the pseudo-header, urgent pointer, options: End of Option List kind 0, No-Operation
 * kind 1, Maximum Segment Size kind 2 length 4; options of unknown kind are skipped by their length, and a length
 * that is < 2 or runs past the header makes the segment malformed, §3.2 "Specific Option Definitions"; in a SYN
 * it only ends option parsing, see below),
 * RFC 3168 §6.1 (ECE and CWR bits), RFC 7323 §2.2–§2.3 (window scale kind 3 length 3; a shift above 14 is used as
 * 14) and §3.2 (timestamps kind 8 length 10: TSval, TSecr), RFC 2018 §2–§3 (SACK-permitted kind 4 length 2; SACK
 * kind 5 with 1–4 blocks of left/right edges).
 *
 * Invariants: after `TcpPacket.parse` succeeds, `20 <= headerLen() <= buffer.length`; the segment (and so the
 * checksummed length and `payload()`) extends to the end of the buffer, which the IPv4 layer has already trimmed
 * to its payload. Accessors never throw. Sequence/acknowledgment numbers are unsigned 32-bit values.
 *
 * Lenient SYNs: in a segment with SYN set (`TcpRepr.parse`, or `TcpOptions.parse` with `lenient`), a malformed or
 * truncated option (bad length for its kind, no length byte, length < 2 or past the header) ends option parsing
 * instead of failing: the options before it are kept, the rest is ignored, and the segment is still processed, as
 * Linux's `tcp_parse_options` does. Nothing malformed gets through: every kept option passed its own length check,
 * and a window scale above 14 is still read as 14 (RFC 7323 §2.3); an MSS of 0 is returned as 0 and the TCB uses
 * its default (536) for it. Other segments stay strict (`Malformed`).
 *
 * Checksums take `pseudoSum`, the pseudo-header's partial sum from `pseudoHeaderSum(src, dst, 6, length)` of either IP
 * version, where `length` is the whole segment (`packet.buffer.length` on receive, `TcpRepr.bufferLen(repr)` on
 * send): the codec knows no address type.
 *
 * Emit layout of options (the order Linux uses, so a Linux SYN round-trips byte for byte): MSS; then
 * SACK-permitted + timestamps, or NOP NOP timestamps; NOP window scale; NOP NOP SACK-permitted when there are no
 * timestamps; NOP NOP SACK blocks. Every item is a multiple of 4 bytes; the block is padded with EOL (0) to a
 * multiple of 4 in any case. SACK blocks that would not fit in the 40 option bytes are dropped (the first ones,
 * the most recent per RFC 2018 §4, are kept).
 *
 * @module
 */
import * as Result from "effect/Result"
import { type ChecksumCapabilities, finish, fold, shouldCompute, shouldVerify, sum } from "./Checksum.ts"
import type { WireError } from "./WireError.ts"
import { read16 as r16, read32 as r32, write16 as w16, write32 as w32 } from "./Bytes.ts"
import { wireFail as fail } from "./WireError.ts"

/** Length of a TCP header without options. */
export const TCP_HEADER_LEN: number = 20
/** Largest TCP header (data offset 15). */
export const TCP_MAX_HEADER_LEN: number = 60
/** Largest option block. */
export const TCP_MAX_OPTIONS_LEN: number = 40

/** Byte offsets of the TCP header fields. */
const F = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ_NUM: 4,
  ACK_NUM: 8,
  DATA_OFF: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind: {
  readonly EndOfList: 0
  readonly Nop: 1
  readonly Mss: 2
  readonly WindowScale: 3
  readonly SackPermitted: 4
  readonly Sack: 5
  readonly Timestamps: 8
} = { EndOfList: 0, Nop: 1, Mss: 2, WindowScale: 3, SackPermitted: 4, Sack: 5, Timestamps: 8 }

/** Control bits, as masks of the flags byte (byte 13). */
export const TcpFlags: {
  readonly FIN: 0x01
  readonly SYN: 0x02
  readonly RST: 0x04
  readonly PSH: 0x08
  readonly ACK: 0x10
  readonly URG: 0x20
  readonly ECE: 0x40
  readonly CWR: 0x80
} = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 }

/** Largest window scale shift (RFC 7323 §2.3). */
export const TCP_MAX_WINDOW_SCALE: number = 14

/** A view over the bytes of one TCP segment (no copy). */
export class TcpPacket {
  /** The segment bytes: header, options and payload, to the end of the buffer. */
  readonly buffer: Uint8Array

  /** Unchecked view, for buffers we write ourselves; use `TcpPacket.parse` for received bytes. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer
  }

  /** Checked view: `Truncated` if shorter than 20 bytes or than the data offset, `Malformed` if data offset < 5. */
  static parse(buffer: Uint8Array): Result.Result<TcpPacket, WireError> {
    const len = buffer.length
    if (len < TCP_HEADER_LEN) return fail("Truncated", `TCP segment of ${len} bytes is shorter than 20`)
    const headerLen = (buffer[F.DATA_OFF] >>> 4) * 4
    if (headerLen < TCP_HEADER_LEN) return fail("Malformed", `TCP data offset ${headerLen / 4} is less than 5`)
    if (headerLen > len) return fail("Truncated", `TCP header length ${headerLen} is more than the ${len} bytes`)
    return Result.succeed(new TcpPacket(buffer))
  }

  /** Source port. */
  srcPort(): number {
    return r16(this.buffer, F.SRC_PORT)
  }
  /** Destination port. */
  dstPort(): number {
    return r16(this.buffer, F.DST_PORT)
  }
  /** Sequence number (unsigned 32-bit). */
  seqNumber(): number {
    return r32(this.buffer, F.SEQ_NUM)
  }
  /** Acknowledgment number (unsigned 32-bit; meaningful when ACK is set). */
  ackNumber(): number {
    return r32(this.buffer, F.ACK_NUM)
  }
  /** Header length in bytes (data offset × 4). */
  headerLen(): number {
    return (this.buffer[F.DATA_OFF] >>> 4) * 4
  }
  /** The flags byte (see `TcpFlags`). */
  flags(): number {
    return this.buffer[F.FLAGS]
  }
  /** FIN bit. */
  fin(): boolean {
    return (this.buffer[F.FLAGS] & 0x01) !== 0
  }
  /** SYN bit. */
  syn(): boolean {
    return (this.buffer[F.FLAGS] & 0x02) !== 0
  }
  /** RST bit. */
  rst(): boolean {
    return (this.buffer[F.FLAGS] & 0x04) !== 0
  }
  /** PSH bit. */
  psh(): boolean {
    return (this.buffer[F.FLAGS] & 0x08) !== 0
  }
  /** ACK bit. */
  ack(): boolean {
    return (this.buffer[F.FLAGS] & 0x10) !== 0
  }
  /** URG bit. */
  urg(): boolean {
    return (this.buffer[F.FLAGS] & 0x20) !== 0
  }
  /** ECE bit. */
  ece(): boolean {
    return (this.buffer[F.FLAGS] & 0x40) !== 0
  }
  /** CWR bit. */
  cwr(): boolean {
    return (this.buffer[F.FLAGS] & 0x80) !== 0
  }
  /** Window field (not scaled). */
  windowLen(): number {
    return r16(this.buffer, F.WINDOW)
  }
  /** Checksum field. */
  checksum(): number {
    return r16(this.buffer, F.CHECKSUM)
  }
  /** Urgent pointer. */
  urgentPointer(): number {
    return r16(this.buffer, F.URGENT)
  }
  /** The option bytes (byte 20 to the header length), as a subarray. */
  options(): Uint8Array {
    return this.buffer.subarray(F.OPTIONS, this.headerLen())
  }
  /** The payload (header length to the end of the buffer), as a subarray. */
  payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen())
  }
  /** True when the pseudo-header (`pseudoSum`) and the whole segment sum to 0xffff. */
  verifyChecksum(pseudoSum: number): boolean {
    return fold(sum(this.buffer, 0, this.buffer.length, pseudoSum)) === 0xffff
  }

  /** Sets the source port. */
  setSrcPort(v: number): void {
    w16(this.buffer, F.SRC_PORT, v)
  }
  /** Sets the destination port. */
  setDstPort(v: number): void {
    w16(this.buffer, F.DST_PORT, v)
  }
  /** Sets the sequence number. */
  setSeqNumber(v: number): void {
    w32(this.buffer, F.SEQ_NUM, v)
  }
  /** Sets the acknowledgment number. */
  setAckNumber(v: number): void {
    w32(this.buffer, F.ACK_NUM, v)
  }
  /** Sets the header length in bytes (a multiple of 4; the reserved bits are cleared). */
  setHeaderLen(v: number): void {
    this.buffer[F.DATA_OFF] = ((v >>> 2) & 0x0f) << 4
  }
  /** Sets the flags byte. */
  setFlags(v: number): void {
    this.buffer[F.FLAGS] = v
  }
  /** Sets the window field. */
  setWindowLen(v: number): void {
    w16(this.buffer, F.WINDOW, v)
  }
  /** Sets the checksum field. */
  setChecksum(v: number): void {
    w16(this.buffer, F.CHECKSUM, v)
  }
  /** Sets the urgent pointer. */
  setUrgentPointer(v: number): void {
    w16(this.buffer, F.URGENT, v)
  }
  /** Computes the checksum over the pseudo-header (`pseudoSum`) and the whole buffer and stores it. */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0)
    this.setChecksum(finish(sum(this.buffer, 0, this.buffer.length, pseudoSum)))
  }
}

/** One SACK block: the sequence numbers of the first byte of the block and of the byte after it. */
export interface TcpSackBlock {
  /** Left edge (first sequence number of the block). */
  readonly left: number
  /** Right edge (sequence number just after the block). */
  readonly right: number
}

/** The timestamps option (RFC 7323 §3.2). */
export interface TcpTimestamps {
  /** TSval: the sender's timestamp clock. */
  readonly tsVal: number
  /** TSecr: the echoed TSval (meaningful when ACK is set). */
  readonly tsEcr: number
}

/** The TCP options the stack understands (others are skipped on parse and never emitted). */
export interface TcpOptions {
  /** Maximum segment size (SYN only). */
  readonly mss?: number | undefined
  /** Window scale shift, 0–14 (SYN only). */
  readonly windowScale?: number | undefined
  /** SACK-permitted (SYN only). */
  readonly sackPermitted: boolean
  /** SACK blocks, at most 4 (the first ones are kept on emit if they do not all fit). */
  readonly sackBlocks: ReadonlyArray<TcpSackBlock>
  /** Timestamps. */
  readonly timestamps?: TcpTimestamps | undefined
}

const EMPTY_BLOCKS: ReadonlyArray<TcpSackBlock> = Object.freeze([])
const NO_OPTIONS: TcpOptions = Object.freeze({ sackPermitted: false, sackBlocks: EMPTY_BLOCKS })

const malformed = (message: string): Result.Result<never, WireError> => fail("Malformed", `TCP option ${message}`)

const parseOptions = (
  b: Uint8Array,
  start: number,
  end: number,
  lenient: boolean = false,
): Result.Result<TcpOptions, WireError> => {
  if (start >= end) return Result.succeed(NO_OPTIONS)
  let mss: number | undefined
  let windowScale: number | undefined
  let sackPermitted = false
  let sackBlocks = EMPTY_BLOCKS
  let timestamps: TcpTimestamps | undefined
  let bad: string | undefined
  let i = start
  options: while (i < end) {
    const kind = b[i]
    if (kind === 0) break
    if (kind === 1) {
      i++
      continue
    }
    if (i + 1 >= end) {
      bad = `kind ${kind} at offset ${i} has no length byte`
      break options
    }
    const len = b[i + 1]
    if (len < 2 || i + len > end) {
      bad = `kind ${kind} has length ${len}, outside 2..${end - i}`
      break options
    }
    switch (kind) {
      case 2:
        if (len !== 4) {
          bad = `MSS has length ${len} (expected 4)`
          break options
        }
        mss = r16(b, i + 2)
        break
      case 3:
        if (len !== 3) {
          bad = `window scale has length ${len} (expected 3)`
          break options
        }
        windowScale = b[i + 2] > TCP_MAX_WINDOW_SCALE ? TCP_MAX_WINDOW_SCALE : b[i + 2]
        break
      case 4:
        if (len !== 2) {
          bad = `SACK-permitted has length ${len} (expected 2)`
          break options
        }
        sackPermitted = true
        break
      case 5: {
        const n = (len - 2) / 8
        if (n !== 1 && n !== 2 && n !== 3 && n !== 4) {
          bad = `SACK has length ${len} (expected 10/18/26/34)`
          break options
        }
        const blocks: Array<TcpSackBlock> = []
        for (let k = 0; k < n; k++) blocks.push({ left: r32(b, i + 2 + 8 * k), right: r32(b, i + 6 + 8 * k) })
        sackBlocks = blocks
        break
      }
      case 8:
        if (len !== 10) {
          bad = `timestamps has length ${len} (expected 10)`
          break options
        }
        timestamps = { tsVal: r32(b, i + 2), tsEcr: r32(b, i + 6) }
        break
      default:
        break // unknown kind: skipped by its length
    }
    i += len
  }
  // strict: the whole segment is malformed; lenient: the options before the bad one are kept (Linux's
  // tcp_parse_options stops at the first bad length the same way)
  if (bad !== undefined && !lenient) return malformed(bad)
  const out: { -readonly [K in keyof TcpOptions]: TcpOptions[K] } = { sackPermitted, sackBlocks }
  if (mss !== undefined) out.mss = mss
  if (windowScale !== undefined) out.windowScale = windowScale
  if (timestamps !== undefined) out.timestamps = timestamps
  return Result.succeed(out)
}

/** Option bytes without SACK blocks. */
const fixedOptionsLen = (o: TcpOptions): number =>
  (o.mss !== undefined ? 4 : 0) + (o.timestamps !== undefined ? 12 : o.sackPermitted ? 4 : 0) +
  (o.windowScale !== undefined ? 4 : 0)

/** How many SACK blocks `emit` writes. */
const sackBlocksEmitted = (o: TcpOptions): number => {
  const n = o.sackBlocks.length
  if (n === 0) return 0
  const room = Math.floor((TCP_MAX_OPTIONS_LEN - fixedOptionsLen(o) - 4) / 8)
  return Math.max(0, Math.min(n, 4, room))
}

const optionsLen = (o: TcpOptions): number => {
  const n = sackBlocksEmitted(o)
  const len = fixedOptionsLen(o) + (n > 0 ? 4 + 8 * n : 0)
  return (len + 3) & ~3
}

const emitOptions = (o: TcpOptions, b: Uint8Array, start: number): number => {
  let i = start
  if (o.mss !== undefined) {
    b[i] = 2
    b[i + 1] = 4
    w16(b, i + 2, o.mss)
    i += 4
  }
  if (o.timestamps !== undefined) {
    if (o.sackPermitted) {
      b[i] = 4
      b[i + 1] = 2
    } else {
      b[i] = 1
      b[i + 1] = 1
    }
    b[i + 2] = 8
    b[i + 3] = 10
    w32(b, i + 4, o.timestamps.tsVal)
    w32(b, i + 8, o.timestamps.tsEcr)
    i += 12
  }
  if (o.windowScale !== undefined) {
    b[i] = 1
    b[i + 1] = 3
    b[i + 2] = 3
    b[i + 3] = o.windowScale
    i += 4
  }
  if (o.sackPermitted && o.timestamps === undefined) {
    b[i] = 1
    b[i + 1] = 1
    b[i + 2] = 4
    b[i + 3] = 2
    i += 4
  }
  const n = sackBlocksEmitted(o)
  if (n > 0) {
    b[i] = 1
    b[i + 1] = 1
    b[i + 2] = 5
    b[i + 3] = 2 + 8 * n
    i += 4
    for (let k = 0; k < n; k++) {
      w32(b, i, o.sackBlocks[k].left)
      w32(b, i + 4, o.sackBlocks[k].right)
      i += 8
    }
  }
  while ((i - start) & 3) b[i++] = 0 // EOL padding (not reached with the layout above, kept as a guarantee)
  return i - start
}

/** Parse, size and emit the TCP option block. */
export const TcpOptions: {
  /** No options: the value `parse` returns for an empty option block. */
  readonly empty: TcpOptions
  /**
   * Parses `buf[start .. end)`; `Malformed` for a bad length (see module doc), or with `lenient` the options before
   * the bad one.
   */
  readonly parse: (
    buf: Uint8Array,
    start: number,
    end: number,
    lenient?: boolean,
  ) => Result.Result<TcpOptions, WireError>
  /** Bytes written by `emit` (a multiple of 4, at most 40). */
  readonly bufferLen: (options: TcpOptions) => number
  /** Writes the option block at `buf[start ..]`; returns the number of bytes written. */
  readonly emit: (options: TcpOptions, buf: Uint8Array, start: number) => number
} = { empty: NO_OPTIONS, parse: parseOptions, bufferLen: optionsLen, emit: emitOptions }

/** A TCP segment. */
export interface TcpRepr {
  /** Source port. */
  readonly srcPort: number
  /** Destination port. */
  readonly dstPort: number
  /** Sequence number (unsigned 32-bit). */
  readonly seqNumber: number
  /** Acknowledgment number (unsigned 32-bit; written as given, meaningful when ACK is set). */
  readonly ackNumber: number
  /** Control bits (see `TcpFlags`). */
  readonly flags: number
  /** Window field as sent (not scaled). */
  readonly windowLen: number
  /** Urgent pointer. */
  readonly urgentPointer: number
  /** Options. */
  readonly options: TcpOptions
  /** Data (a subarray of the input on parse). */
  readonly payload: Uint8Array
}

/** Parse, size and emit TCP segments. */
export const TcpRepr: {
  /**
   * Reads a checked segment: `BadChecksum` when `caps.tcp` says verify and the sum is wrong, `Malformed` for port 0
   * or a bad option length (in a SYN a bad option only ends option parsing, see the module doc). `pseudoSum` is `pseudoHeaderSum(src, dst, 6, packet.buffer.length)`.
   */
  readonly parse: (
    packet: TcpPacket,
    pseudoSum: number,
    caps: ChecksumCapabilities,
  ) => Result.Result<TcpRepr, WireError>
  /** Header length `emit` writes: 20 + options, a multiple of 4. */
  readonly headerLen: (repr: TcpRepr) => number
  /** Bytes written by `emit`: header length + payload length. */
  readonly bufferLen: (repr: TcpRepr) => number
  /**
   * Writes header, options and payload at the start of `buf`; the checksum when `caps.tcp` says compute, else 0.
   * `pseudoSum` is `pseudoHeaderSum(src, dst, 6, TcpRepr.bufferLen(repr))`.
   */
  readonly emit: (
    repr: TcpRepr,
    buf: Uint8Array,
    pseudoSum: number,
    caps: ChecksumCapabilities,
  ) => void
} = {
  parse: (packet, pseudoSum, caps) => {
    const srcPort = packet.srcPort()
    const dstPort = packet.dstPort()
    if (srcPort === 0 || dstPort === 0) return fail("Malformed", `TCP port 0 (${srcPort} → ${dstPort})`)
    if (shouldVerify(caps.tcp) && !packet.verifyChecksum(pseudoSum)) {
      return fail("BadChecksum", `TCP checksum 0x${packet.checksum().toString(16)} is wrong`)
    }
    // a SYN is parsed leniently (Linux answers a SYN whose options end in garbage): see the module doc
    const options = parseOptions(packet.buffer, F.OPTIONS, packet.headerLen(), packet.syn())
    if (Result.isFailure(options)) return Result.fail(options.failure)
    return Result.succeed({
      srcPort,
      dstPort,
      seqNumber: packet.seqNumber(),
      ackNumber: packet.ackNumber(),
      flags: packet.flags(),
      windowLen: packet.windowLen(),
      urgentPointer: packet.urgentPointer(),
      options: options.success,
      payload: packet.payload(),
    })
  },
  headerLen: (repr) => TCP_HEADER_LEN + optionsLen(repr.options),
  bufferLen: (repr) => TCP_HEADER_LEN + optionsLen(repr.options) + repr.payload.length,
  emit: (repr, buf, pseudoSum, caps) => {
    const p = repr.payload
    const headerLen = TCP_HEADER_LEN + optionsLen(repr.options)
    // payload first: a source overlapping the header area is read before the header overwrites it
    if (!(p.buffer === buf.buffer && p.byteOffset === buf.byteOffset + headerLen)) buf.set(p, headerLen)
    w16(buf, F.SRC_PORT, repr.srcPort)
    w16(buf, F.DST_PORT, repr.dstPort)
    w32(buf, F.SEQ_NUM, repr.seqNumber)
    w32(buf, F.ACK_NUM, repr.ackNumber)
    emitOptions(repr.options, buf, F.OPTIONS)
    buf[F.DATA_OFF] = (headerLen >>> 2) << 4
    buf[F.FLAGS] = repr.flags
    w16(buf, F.WINDOW, repr.windowLen)
    w16(buf, F.CHECKSUM, 0)
    w16(buf, F.URGENT, repr.urgentPointer)
    if (shouldCompute(caps.tcp)) w16(buf, F.CHECKSUM, finish(sum(buf, 0, headerLen + p.length, pseudoSum)))
  },
}
