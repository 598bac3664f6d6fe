/**
 * Capture file formats: classic libpcap and pcapng, pure writers and readers (no I/O, no Effect services).
 *
 * Classic pcap (https://www.tcpdump.org/manpages/pcap-savefile.5.html, draft-ietf-opsawg-pcap): a 24-byte global
 * header (magic, version 2.4, thiszone 0, sigfigs 0, snaplen, link type) followed by one 16-byte record header per
 * packet (seconds, microseconds or nanoseconds, captured length, original length) and the captured bytes. Magic
 * `0xa1b2c3d4` means microsecond timestamps, `0xa1b23c4d` nanosecond ones. We write little-endian (on disk
 * `d4 c3 b2 a1`); the reader accepts both byte orders.
 *
 * pcapng (draft-ietf-opsawg-pcapng): a Section Header Block (SHB, byte-order magic `0x1a2b3c4d`, version 1.0,
 * section length -1 = unknown), one Interface Description Block (IDB: link type, snap length, options `if_name`
 * and `if_tsresol` = 6 for microseconds or 9 for nanoseconds), then one Enhanced Packet Block (EPB) per packet
 * (interface id, 64-bit timestamp in `if_tsresol` units split high/low, captured and original lengths, the bytes
 * padded to 32 bits, and an `epb_flags` option carrying the direction, inbound or outbound, when known). Every block
 * ends with its total length repeated. Options are written as code, length, value padded to 32 bits, and closed by
 * `opt_endofopt`. We write little-endian; the reader accepts both orders, several sections, any number of
 * interfaces, `if_tsresol` as a power of 10 or of 2, and skips block types it does not know (Simple Packet Blocks
 * included, as they carry no timestamp).
 *
 * Timestamps are `bigint` nanoseconds since the Unix epoch (what `Clock.currentTimeNanos` gives); a writer with
 * microsecond resolution truncates them to whole microseconds.
 *
 * Snap length: a packet longer than `snapLen` is cut to `snapLen` bytes; its record keeps the original length (as
 * tcpdump does). Default 65535.
 *
 * Readers never throw on untrusted bytes: `parse` returns a `Result` whose failure is a {@link WireError}
 * (`Truncated` for a file cut short, `Malformed` for impossible lengths, `Unsupported` for an unknown magic).
 *
 * @module
 */
import * as Result from "effect/Result"
import type { WireError } from "./WireError.ts"
import { wireFail as fail } from "./WireError.ts"

/** Magic number of a classic pcap file with microsecond timestamps. */
export const PCAP_MAGIC_MICRO: number = 0xa1b2c3d4
/** Magic number of a classic pcap file with nanosecond timestamps. */
export const PCAP_MAGIC_NANO: number = 0xa1b23c4d
/** Length of the classic pcap global header. */
export const PCAP_GLOBAL_HEADER_LEN: number = 24
/** Length of a classic pcap record header. */
export const PCAP_RECORD_HEADER_LEN: number = 16
/** LINKTYPE_ETHERNET: IEEE 802.3 Ethernet frames. */
export const LINKTYPE_ETHERNET: number = 1
/** Default snap length (largest number of bytes kept per packet). */
export const PCAP_DEFAULT_SNAPLEN: number = 65535
/** pcapng block type of a Section Header Block. */
export const PCAPNG_SHB_TYPE: number = 0x0a0d0d0a
/** pcapng block type of an Interface Description Block. */
export const PCAPNG_IDB_TYPE: number = 1
/** pcapng block type of an Enhanced Packet Block. */
export const PCAPNG_EPB_TYPE: number = 6
/** pcapng byte-order magic. */
export const PCAPNG_BYTE_ORDER_MAGIC: number = 0x1a2b3c4d

/** Timestamp resolution of a capture: microseconds or nanoseconds. */
export type PcapResolution = "micro" | "nano"

/** Direction of a captured packet (pcapng `epb_flags`; classic pcap cannot record it). */
export type PcapDirection = "in" | "out"

/** One captured packet, as written or as read back. */
export interface PcapPacket {
  /** Nanoseconds since the Unix epoch (truncated to the file's resolution when read back). */
  readonly timestamp: bigint
  /** The captured bytes (at most the snap length). */
  readonly data: Uint8Array
  /** The packet's length on the wire (≥ `data.length`); default `data.length` when writing. */
  readonly originalLength?: number
  /** pcapng: the interface the packet was seen on (index of its IDB in the section); default 0. */
  readonly interfaceId?: number
  /** pcapng: inbound or outbound, when known. */
  readonly direction?: PcapDirection
}

/** Options of the writers. */
export interface PcapWriteOptions {
  /** Bytes kept per packet, 1..2^31-1 (default 65535). */
  readonly snapLen?: number
  /** Link type of the packets (default 1, Ethernet). */
  readonly linkType?: number
  /** Timestamp resolution (default `"micro"`). */
  readonly resolution?: PcapResolution
}

/** pcapng writer options: those of classic pcap plus an interface name. */
export interface PcapngWriteOptions extends PcapWriteOptions {
  /** `if_name` of the interface (omitted when undefined). */
  readonly interfaceName?: string
  /** `shb_userappl` of the section (default "vnetif"; omitted when empty). */
  readonly application?: string
}

/** A classic pcap file, as read. */
export interface PcapFile {
  /** Which format this is. */
  readonly format: "pcap"
  /** Byte order the file was written in. */
  readonly littleEndian: boolean
  /** Timestamp resolution (from the magic). */
  readonly resolution: PcapResolution
  /** Format version, normally 2.4. */
  readonly version: { readonly major: number; readonly minor: number }
  /** Snap length of the file. */
  readonly snapLen: number
  /** Link type of the packets. */
  readonly linkType: number
  /** The packets, in file order. */
  readonly packets: ReadonlyArray<PcapPacket>
}

/** One interface of a pcapng file (an IDB). */
export interface PcapngInterface {
  /** Link type of its packets. */
  readonly linkType: number
  /** Its snap length (0 = no limit). */
  readonly snapLen: number
  /** Timestamp units per second (10^6 by default). */
  readonly ticksPerSecond: bigint
  /** `if_name`, if present. */
  readonly name?: string
}

/** A pcapng file, as read (all sections merged; interface ids are per section in the file, global here). */
export interface PcapngFile {
  /** Which format this is. */
  readonly format: "pcapng"
  /** Byte order of the first section. */
  readonly littleEndian: boolean
  /** Every interface of every section, in file order. */
  readonly interfaces: ReadonlyArray<PcapngInterface>
  /** The packets (Enhanced Packet Blocks), in file order; `interfaceId` indexes `interfaces`. */
  readonly packets: ReadonlyArray<PcapPacket>
}

// ---- helpers -------------------------------------------------------------------------------------------------------

const NANOS_PER_SECOND = 1_000_000_000n
const MAX_SNAPLEN = 0x7fffffff

const snapOf = (o: PcapWriteOptions | undefined): number => {
  const s = o?.snapLen ?? PCAP_DEFAULT_SNAPLEN
  return Number.isInteger(s) && s >= 1 && s <= MAX_SNAPLEN ? s : PCAP_DEFAULT_SNAPLEN
}

const pad4 = (n: number): number => (n + 3) & ~3

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: false })

/** Splits a timestamp into whole seconds and the fraction in the resolution's units. */
const splitTimestamp = (ns: bigint, resolution: PcapResolution): readonly [number, number] => {
  const t = ns < 0n ? 0n : ns
  const sec = t / NANOS_PER_SECOND
  const frac = t % NANOS_PER_SECOND
  return [Number(sec & 0xffffffffn), Number(resolution === "nano" ? frac : frac / 1000n)]
}

// ---- classic pcap: writers -----------------------------------------------------------------------------------------

const pcapHeader = (options?: PcapWriteOptions): Uint8Array => {
  const out = new Uint8Array(PCAP_GLOBAL_HEADER_LEN)
  const v = new DataView(out.buffer)
  v.setUint32(0, options?.resolution === "nano" ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, true)
  v.setUint16(4, 2, true)
  v.setUint16(6, 4, true)
  // thiszone (8) and sigfigs (12) stay 0
  v.setUint32(16, snapOf(options), true)
  v.setUint32(20, options?.linkType ?? LINKTYPE_ETHERNET, true)
  return out
}

const pcapRecordLen = (frameLen: number, options?: PcapWriteOptions): number =>
  PCAP_RECORD_HEADER_LEN + Math.min(frameLen, snapOf(options))

/** Writes one record (header + captured bytes) at `out[offset ..]`; returns the bytes written. */
const writePcapRecord = (
  out: Uint8Array,
  offset: number,
  frame: Uint8Array,
  timestamp: bigint,
  options?: PcapWriteOptions,
  originalLength?: number,
): number => {
  const caplen = Math.min(frame.length, snapOf(options))
  const [sec, frac] = splitTimestamp(timestamp, options?.resolution ?? "micro")
  const v = new DataView(out.buffer, out.byteOffset + offset, PCAP_RECORD_HEADER_LEN)
  v.setUint32(0, sec, true)
  v.setUint32(4, frac, true)
  v.setUint32(8, caplen, true)
  v.setUint32(12, originalLength ?? frame.length, true)
  out.set(caplen === frame.length ? frame : frame.subarray(0, caplen), offset + PCAP_RECORD_HEADER_LEN)
  return PCAP_RECORD_HEADER_LEN + caplen
}

const pcapRecord = (frame: Uint8Array, timestamp: bigint, options?: PcapWriteOptions): Uint8Array => {
  const out = new Uint8Array(pcapRecordLen(frame.length, options))
  writePcapRecord(out, 0, frame, timestamp, options)
  return out
}

const pcapFile = (packets: Iterable<PcapPacket>, options?: PcapWriteOptions): Uint8Array => {
  const list = Array.from(packets)
  let size = PCAP_GLOBAL_HEADER_LEN
  for (const p of list) size += pcapRecordLen(p.data.length, options)
  const out = new Uint8Array(size)
  out.set(pcapHeader(options))
  let o = PCAP_GLOBAL_HEADER_LEN
  for (const p of list) o += writePcapRecord(out, o, p.data, p.timestamp, options, p.originalLength)
  return out
}

// ---- classic pcap: reader ------------------------------------------------------------------------------------------

const parsePcap = (bytes: Uint8Array): Result.Result<PcapFile, WireError> => {
  if (bytes.length < PCAP_GLOBAL_HEADER_LEN) {
    return fail("Truncated", `pcap global header needs 24 bytes, got ${bytes.length}`)
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const le = v.getUint32(0, true)
  const be = v.getUint32(0, false)
  let littleEndian: boolean
  let resolution: PcapResolution
  if (le === PCAP_MAGIC_MICRO || le === PCAP_MAGIC_NANO) {
    littleEndian = true
    resolution = le === PCAP_MAGIC_NANO ? "nano" : "micro"
  } else if (be === PCAP_MAGIC_MICRO || be === PCAP_MAGIC_NANO) {
    littleEndian = false
    resolution = be === PCAP_MAGIC_NANO ? "nano" : "micro"
  } else {
    return fail("Unsupported", `not a classic pcap file: magic 0x${be.toString(16).padStart(8, "0")}`)
  }
  const major = v.getUint16(4, littleEndian)
  const minor = v.getUint16(6, littleEndian)
  if (major !== 2) return fail("Unsupported", `pcap version ${major}.${minor} (only 2.x is known)`)
  const snapLen = v.getUint32(16, littleEndian)
  const linkType = v.getUint32(20, littleEndian) & 0x0fffffff // upper bits: FCS length flags
  const packets: Array<PcapPacket> = []
  const unit = resolution === "nano" ? 1n : 1000n
  let o = PCAP_GLOBAL_HEADER_LEN
  while (o < bytes.length) {
    if (o + PCAP_RECORD_HEADER_LEN > bytes.length) {
      return fail("Truncated", `record ${packets.length + 1} at offset ${o}: header cut short`)
    }
    const sec = v.getUint32(o, littleEndian)
    const frac = v.getUint32(o + 4, littleEndian)
    const caplen = v.getUint32(o + 8, littleEndian)
    const origlen = v.getUint32(o + 12, littleEndian)
    if (frac >= (resolution === "nano" ? 1_000_000_000 : 1_000_000)) {
      return fail("Malformed", `record ${packets.length + 1}: fraction ${frac} out of range for ${resolution}seconds`)
    }
    if (caplen > origlen) {
      return fail("Malformed", `record ${packets.length + 1}: captured length ${caplen} > original length ${origlen}`)
    }
    const start = o + PCAP_RECORD_HEADER_LEN
    if (start + caplen > bytes.length) {
      return fail("Truncated", `record ${packets.length + 1}: ${caplen} bytes announced, ${bytes.length - start} left`)
    }
    packets.push({
      timestamp: BigInt(sec) * NANOS_PER_SECOND + BigInt(frac) * unit,
      data: bytes.subarray(start, start + caplen),
      originalLength: origlen,
    })
    o = start + caplen
  }
  return Result.succeed({
    format: "pcap",
    littleEndian,
    resolution,
    version: { major, minor },
    snapLen,
    linkType,
    packets,
  })
}

// ---- pcapng: writers -----------------------------------------------------------------------------------------------

interface RawOption {
  readonly code: number
  readonly value: Uint8Array
}

const optionsLen = (opts: ReadonlyArray<RawOption>): number =>
  opts.length === 0 ? 0 : opts.reduce((n, o) => n + 4 + pad4(o.value.length), 4)

const writeOptions = (v: DataView, out: Uint8Array, o: number, opts: ReadonlyArray<RawOption>): number => {
  if (opts.length === 0) return o
  for (const opt of opts) {
    v.setUint16(o, opt.code, true)
    v.setUint16(o + 2, opt.value.length, true)
    out.set(opt.value, o + 4)
    o += 4 + pad4(opt.value.length) // padding bytes are already 0
  }
  v.setUint32(o, 0, true) // opt_endofopt
  return o + 4
}

/** Wraps a block body: type, total length, body, total length. */
const block = (type: number, bodyLen: number, fill: (v: DataView, out: Uint8Array, o: number) => void): Uint8Array => {
  const total = 12 + bodyLen
  const out = new Uint8Array(total)
  const v = new DataView(out.buffer)
  v.setUint32(0, type, true)
  v.setUint32(4, total, true)
  fill(v, out, 8)
  v.setUint32(total - 4, total, true)
  return out
}

const sectionHeader = (options?: PcapngWriteOptions): Uint8Array => {
  const app = options?.application ?? "vnetif"
  const opts: Array<RawOption> = app === "" ? [] : [{ code: 4, value: utf8.encode(app) }]
  return block(PCAPNG_SHB_TYPE, 16 + optionsLen(opts), (v, out, o) => {
    v.setUint32(o, PCAPNG_BYTE_ORDER_MAGIC, true)
    v.setUint16(o + 4, 1, true)
    v.setUint16(o + 6, 0, true)
    v.setUint32(o + 8, 0xffffffff, true) // section length -1: unknown
    v.setUint32(o + 12, 0xffffffff, true)
    writeOptions(v, out, o + 16, opts)
  })
}

const interfaceDescription = (options?: PcapngWriteOptions): Uint8Array => {
  const opts: Array<RawOption> = []
  if (options?.interfaceName !== undefined) opts.push({ code: 2, value: utf8.encode(options.interfaceName) })
  opts.push({ code: 9, value: Uint8Array.of(options?.resolution === "nano" ? 9 : 6) })
  return block(PCAPNG_IDB_TYPE, 8 + optionsLen(opts), (v, out, o) => {
    v.setUint16(o, options?.linkType ?? LINKTYPE_ETHERNET, true)
    v.setUint16(o + 2, 0, true)
    v.setUint32(o + 4, snapOf(options), true)
    writeOptions(v, out, o + 8, opts)
  })
}

const EPB_FIXED = 20 // interface id, ts high, ts low, captured len, original len
const EPB_FLAGS_LEN = 12 // epb_flags option (4 + 4) + opt_endofopt (4)

const enhancedPacketLen = (frameLen: number, options?: PcapWriteOptions, direction?: PcapDirection): number =>
  12 + EPB_FIXED + pad4(Math.min(frameLen, snapOf(options))) + (direction === undefined ? 0 : EPB_FLAGS_LEN)

/** Writes one EPB at `out[offset ..]`; returns the bytes written. */
const writeEnhancedPacket = (
  out: Uint8Array,
  offset: number,
  frame: Uint8Array,
  timestamp: bigint,
  options?: PcapWriteOptions,
  direction?: PcapDirection,
  interfaceId = 0,
  originalLength?: number,
): number => {
  const caplen = Math.min(frame.length, snapOf(options))
  const total = enhancedPacketLen(frame.length, options, direction)
  const v = new DataView(out.buffer, out.byteOffset + offset, total)
  const t = timestamp < 0n ? 0n : timestamp
  const ticks = options?.resolution === "nano" ? t : t / 1000n
  v.setUint32(0, PCAPNG_EPB_TYPE, true)
  v.setUint32(4, total, true)
  v.setUint32(8, interfaceId, true)
  v.setUint32(12, Number((ticks >> 32n) & 0xffffffffn), true)
  v.setUint32(16, Number(ticks & 0xffffffffn), true)
  v.setUint32(20, caplen, true)
  v.setUint32(24, originalLength ?? frame.length, true)
  out.set(caplen === frame.length ? frame : frame.subarray(0, caplen), offset + 28)
  let o = 28 + pad4(caplen)
  if (direction !== undefined) {
    v.setUint16(o, 2, true) // epb_flags
    v.setUint16(o + 2, 4, true)
    v.setUint32(o + 4, direction === "in" ? 1 : 2, true)
    v.setUint32(o + 8, 0, true) // opt_endofopt
    o += EPB_FLAGS_LEN
  }
  v.setUint32(o, total, true)
  return total
}

const enhancedPacket = (
  frame: Uint8Array,
  timestamp: bigint,
  options?: PcapWriteOptions,
  direction?: PcapDirection,
  interfaceId?: number,
): Uint8Array => {
  const out = new Uint8Array(enhancedPacketLen(frame.length, options, direction))
  writeEnhancedPacket(out, 0, frame, timestamp, options, direction, interfaceId ?? 0)
  return out
}

const pcapngHeader = (options?: PcapngWriteOptions): Uint8Array => {
  const shb = sectionHeader(options)
  const idb = interfaceDescription(options)
  const out = new Uint8Array(shb.length + idb.length)
  out.set(shb)
  out.set(idb, shb.length)
  return out
}

const pcapngFile = (packets: Iterable<PcapPacket>, options?: PcapngWriteOptions): Uint8Array => {
  const list = Array.from(packets)
  const head = pcapngHeader(options)
  let size = head.length
  for (const p of list) size += enhancedPacketLen(p.data.length, options, p.direction)
  const out = new Uint8Array(size)
  out.set(head)
  let o = head.length
  for (const p of list) {
    o += writeEnhancedPacket(out, o, p.data, p.timestamp, options, p.direction, p.interfaceId ?? 0, p.originalLength)
  }
  return out
}

// ---- pcapng: reader ------------------------------------------------------------------------------------------------

/** Units per second of an `if_tsresol` byte: 10^n, or 2^n when the top bit is set; undefined if unusable. */
const ticksOfTsresol = (b: number): bigint | undefined => {
  const n = b & 0x7f
  if ((b & 0x80) !== 0) return n <= 63 ? 1n << BigInt(n) : undefined
  return n <= 18 ? 10n ** BigInt(n) : undefined
}

const ticksToNanos = (ticks: bigint, perSecond: bigint): bigint =>
  perSecond === NANOS_PER_SECOND
    ? ticks
    : (ticks / perSecond) * NANOS_PER_SECOND + ((ticks % perSecond) * NANOS_PER_SECOND) / perSecond

/** Walks the options of a block body from `o` to `end`; `false` if an option runs past `end`. */
const readOptions = (
  v: DataView,
  o: number,
  end: number,
  le: boolean,
  each: (code: number, start: number, len: number) => void,
): boolean => {
  while (o + 4 <= end) {
    const code = v.getUint16(o, le)
    const len = v.getUint16(o + 2, le)
    if (code === 0) return true
    if (o + 4 + len > end) return false
    each(code, o + 4, len)
    o += 4 + pad4(len)
  }
  return true
}

const parsePcapng = (bytes: Uint8Array): Result.Result<PcapngFile, WireError> => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 28) return fail("Truncated", `pcapng section header needs 28 bytes, got ${bytes.length}`)
  if (v.getUint32(0, true) !== PCAPNG_SHB_TYPE) return fail("Unsupported", "not a pcapng file: no section header")
  const interfaces: Array<PcapngInterface> = []
  const packets: Array<PcapPacket> = []
  let firstLe: boolean | undefined
  let le = true
  let sectionBase = 0 // index in `interfaces` of this section's interface 0
  let o = 0
  while (o < bytes.length) {
    if (o + 12 > bytes.length) return fail("Truncated", `block at offset ${o}: header cut short`)
    const rawType = v.getUint32(o, true)
    if (rawType === PCAPNG_SHB_TYPE) {
      if (o + 28 > bytes.length) return fail("Truncated", `section header at offset ${o} cut short`)
      const magicLe = v.getUint32(o + 8, true)
      if (magicLe === PCAPNG_BYTE_ORDER_MAGIC) le = true
      else if (v.getUint32(o + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) le = false
      else return fail("Malformed", `section header at offset ${o}: bad byte-order magic`)
      firstLe ??= le
      const major = v.getUint16(o + 12, le)
      if (major !== 1) return fail("Unsupported", `pcapng version ${major} at offset ${o} (only 1.x is known)`)
      sectionBase = interfaces.length
    }
    const type = v.getUint32(o, le)
    const total = v.getUint32(o + 4, le)
    if (total < 12 || total % 4 !== 0) return fail("Malformed", `block at offset ${o}: total length ${total}`)
    if (o + total > bytes.length) {
      return fail("Truncated", `block at offset ${o}: ${total} bytes announced, ${bytes.length - o} left`)
    }
    if (v.getUint32(o + total - 4, le) !== total) {
      return fail("Malformed", `block at offset ${o}: trailing length differs from ${total}`)
    }
    const end = o + total - 4
    if (type === PCAPNG_IDB_TYPE) {
      if (total < 20) return fail("Malformed", `interface block at offset ${o} is ${total} bytes`)
      let ticksPerSecond = 1_000_000n
      let name: string | undefined
      let bad = false
      const ok = readOptions(v, o + 16, end, le, (code, start, len) => {
        if (code === 9 && len >= 1) {
          const t = ticksOfTsresol(bytes[start])
          if (t === undefined) bad = true
          else ticksPerSecond = t
        } else if (code === 2) name = utf8Decoder.decode(bytes.subarray(start, start + len))
      })
      if (!ok || bad) return fail("Malformed", `interface block at offset ${o}: bad options`)
      interfaces.push({
        linkType: v.getUint16(o + 8, le),
        snapLen: v.getUint32(o + 12, le),
        ticksPerSecond,
        ...(name === undefined ? {} : { name }),
      })
    } else if (type === PCAPNG_EPB_TYPE) {
      if (total < 32) return fail("Malformed", `packet block at offset ${o} is ${total} bytes`)
      const localId = v.getUint32(o + 8, le)
      const iface = interfaces[sectionBase + localId]
      if (sectionBase + localId >= interfaces.length || iface === undefined) {
        return fail("Malformed", `packet block at offset ${o}: no interface ${localId}`)
      }
      const ticks = (BigInt(v.getUint32(o + 12, le)) << 32n) | BigInt(v.getUint32(o + 16, le))
      const caplen = v.getUint32(o + 20, le)
      const origlen = v.getUint32(o + 24, le)
      const dataStart = o + 28
      if (dataStart + caplen > end) {
        return fail("Malformed", `packet block at offset ${o}: captured length ${caplen} overruns the block`)
      }
      let direction: PcapDirection | undefined
      const ok = readOptions(v, dataStart + pad4(caplen), end, le, (code, start, len) => {
        if (code === 2 && len === 4) {
          const d = v.getUint32(start, le) & 3
          direction = d === 1 ? "in" : d === 2 ? "out" : undefined
        }
      })
      if (!ok) return fail("Malformed", `packet block at offset ${o}: bad options`)
      packets.push({
        timestamp: ticksToNanos(ticks, iface.ticksPerSecond),
        data: bytes.subarray(dataStart, dataStart + caplen),
        originalLength: origlen,
        interfaceId: sectionBase + localId,
        ...(direction === undefined ? {} : { direction }),
      })
    }
    o += total
  }
  return Result.succeed({ format: "pcapng", littleEndian: firstLe ?? true, interfaces, packets })
}

const parseAny = (bytes: Uint8Array): Result.Result<PcapFile | PcapngFile, WireError> => {
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === PCAPNG_SHB_TYPE) {
    return parsePcapng(bytes)
  }
  return parsePcap(bytes)
}

/** Classic pcap: writers (little-endian) and a reader (either byte order). */
export const Pcap: {
  /** The 24-byte global header. */
  readonly header: (options?: PcapWriteOptions) => Uint8Array
  /** Bytes of one record (16-byte header + captured bytes) for a frame of `frameLen` bytes. */
  readonly recordLen: (frameLen: number, options?: PcapWriteOptions) => number
  /** One record (header + captured bytes) in a new buffer: the frame is copied. */
  readonly record: (frame: Uint8Array, timestamp: bigint, options?: PcapWriteOptions) => Uint8Array
  /** A whole file: header and one record per packet. */
  readonly file: (packets: Iterable<PcapPacket>, options?: PcapWriteOptions) => Uint8Array
  /** Reads a classic pcap file; never throws. */
  readonly parse: (bytes: Uint8Array) => Result.Result<PcapFile, WireError>
} = { header: pcapHeader, recordLen: pcapRecordLen, record: pcapRecord, file: pcapFile, parse: parsePcap }

/** pcapng: writers (little-endian, one section, one interface per header) and a reader. */
export const Pcapng: {
  /** The Section Header Block. */
  readonly sectionHeader: (options?: PcapngWriteOptions) => Uint8Array
  /** An Interface Description Block (link type, snap length, `if_name`, `if_tsresol`). */
  readonly interfaceDescription: (options?: PcapngWriteOptions) => Uint8Array
  /** SHB followed by one IDB: the start of a single-interface file. */
  readonly header: (options?: PcapngWriteOptions) => Uint8Array
  /** Bytes of one Enhanced Packet Block for a frame of `frameLen` bytes. */
  readonly enhancedPacketLen: (frameLen: number, options?: PcapWriteOptions, direction?: PcapDirection) => number
  /** One Enhanced Packet Block in a new buffer: the frame is copied. */
  readonly enhancedPacket: (
    frame: Uint8Array,
    timestamp: bigint,
    options?: PcapWriteOptions,
    direction?: PcapDirection,
    interfaceId?: number,
  ) => Uint8Array
  /** A whole single-interface file: SHB, IDB and one EPB per packet. */
  readonly file: (packets: Iterable<PcapPacket>, options?: PcapngWriteOptions) => Uint8Array
  /** Reads a pcapng file; never throws. */
  readonly parse: (bytes: Uint8Array) => Result.Result<PcapngFile, WireError>
} = {
  sectionHeader,
  interfaceDescription,
  header: pcapngHeader,
  enhancedPacketLen,
  enhancedPacket,
  file: pcapngFile,
  parse: parsePcapng,
}

/** Reads a capture in either format (pcapng when it starts with a Section Header Block); never throws. */
export const parseCapture: (bytes: Uint8Array) => Result.Result<PcapFile | PcapngFile, WireError> = parseAny
