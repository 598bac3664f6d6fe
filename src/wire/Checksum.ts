/**
 * The Internet checksum and the per-protocol checksum capabilities of a device.
 *
 * Implements: RFC 1071 §1–§2 (16-bit one's-complement sum, deferred carries, byte-order independence, incremental
 * combination of partial sums), RFC 791 §3.1 (IPv4 header checksum), RFC 768 / RFC 9293 §3.1 (the IPv4
 * pseudo-header: source, destination, zero, protocol, length), RFC 8200 §8.1 (the IPv6 pseudo-header: source,
 * destination, 32-bit upper-layer length, zero, next header).
 *
 * How the sum works: an accumulator is a plain non-negative integer (a float64, exact below 2^53) holding an
 * *unfolded* sum; it is congruent modulo 0xffff to the sum of the big-endian 16-bit words of the bytes, paired
 * from `start` (the byte at `start` is a high byte, whatever its absolute offset in the `ArrayBuffer`). An odd
 * trailing byte is padded with a zero low byte. Two accumulators add (`combine`) when the first range has an even
 * length. `fold` reduces an accumulator to 16 bits with end-around carry; it returns 0 only for an all-zero input.
 *
 * Speed: the inner loop sums the even-offset bytes and the odd-offset bytes in two small integer accumulators,
 * 16 bytes per iteration (`hi * 256 + lo` is exactly the 16-bit word sum). Byte reads from a `Uint8Array` have no
 * alignment or endianness concerns, need no `DataView` allocation per call, and stay in small-integer arithmetic
 * (at most 8 × 255 × 65 536 < 2^30 before they are flushed into the float accumulator). See `bench/checksum.ts`.
 *
 * Pseudo-header: the transport codecs (`UdpRepr`, `TcpRepr`) take the pseudo-header's partial sum as a number, not
 * addresses, so they know no address type; the network layer (or a test) computes it with `pseudoHeaderSum`, for
 * either IP version. Both layouts reduce to the same sum: the two addresses' 16-bit words, the protocol (next header)
 * in a low byte, and the upper-layer length (a 16-bit field in IPv4, 32-bit in IPv6, the same sum below 2^16).
 *
 * @module
 */
import type { IpAddress } from "./IpAddress.ts"

/** Bytes summed per flush of the small-integer accumulators (16 bytes × 65 536 iterations = 1 MiB). */
const FLUSH_BYTES = 16 * 65536

/**
 * RFC 1071 one's-complement sum of `buf[start .. end)` added to `acc`, unfolded (see module doc). Never throws;
 * bytes outside `buf` are not read (the range is clamped to `buf.length`).
 */
export const sum = (buf: Uint8Array, start: number, end: number, acc: number = 0): number => {
  if (end > buf.length) end = buf.length
  if (start < 0) start = 0
  let i = start
  let hi = 0 // sum of bytes at even distance from start
  let lo = 0 // sum of bytes at odd distance from start
  const end16 = start + ((end - start) & ~15)
  while (i < end16) {
    const lim = end16 - i > FLUSH_BYTES ? i + FLUSH_BYTES : end16
    for (; i < lim; i += 16) {
      hi += buf[i] + buf[i + 2] + buf[i + 4] + buf[i + 6] + buf[i + 8] + buf[i + 10] + buf[i + 12] + buf[i + 14]
      lo += buf[i + 1] + buf[i + 3] + buf[i + 5] + buf[i + 7] + buf[i + 9] + buf[i + 11] + buf[i + 13] + buf[i + 15]
    }
    acc += hi * 256 + lo
    hi = 0
    lo = 0
  }
  for (; i + 1 < end; i += 2) {
    hi += buf[i]
    lo += buf[i + 1]
  }
  if (i < end) hi += buf[i]
  return acc + hi * 256 + lo
}

/** Folds an accumulator (any non-negative integer below 2^53) to a 16-bit one's-complement sum. */
export const fold = (acc: number): number => {
  if (acc > 0xffffffff) acc = (acc >>> 0) + Math.floor(acc / 0x1_0000_0000) // 2^32 ≡ 1 (mod 0xffff)
  if (acc > 0xffffffff) acc = (acc >>> 0) + 1
  acc = (acc >>> 16) + (acc & 0xffff)
  acc = (acc >>> 16) + (acc & 0xffff)
  return acc
}

/** The checksum field value of an accumulator: `~fold(acc) & 0xffff`. */
export const finish = (acc: number): number => ~fold(acc) & 0xffff

/** Adds two accumulators (the first range must have had an even length). */
export const combine = (a: number, b: number): number => a + b

/** True when a range that includes its own checksum field sums to 0xffff (RFC 1071 §1 verification). */
export const isValid = (acc: number): boolean => fold(acc) === 0xffff

/** The unfolded sum of an address's 16-bit words (an IPv6 address carries it precomputed). */
const addressSum = (a: IpAddress): number => typeof a === "number" ? (a >>> 16) + (a & 0xffff) : a.sum

/**
 * Unfolded sum of the pseudo-header of either IP version (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1): source,
 * destination, protocol (next header), and `length`, the upper-layer length the checksum covers (for UDP its length
 * field, for TCP the whole segment). Pass it to `UdpRepr`/`TcpRepr`.
 */
export const pseudoHeaderSum = (src: IpAddress, dst: IpAddress, protocol: number, length: number): number =>
  addressSum(src) + addressSum(dst) + (protocol & 0xff) + (length >>> 16) + (length & 0xffff)

/**
 * RFC 1071 helpers as one namespace (what `mod.ts` exports): `sum`, `fold`, `finish`, `combine`, `isValid`,
 * `pseudoHeaderSum`, and `shouldCompute` / `shouldVerify` for a {@link ChecksumMode}.
 */
export const Checksum: {
  /** Unfolded one's-complement sum of `buf[start .. end)` added to `acc` (default 0). */
  readonly sum: (buf: Uint8Array, start: number, end: number, acc?: number) => number
  /** Folds an accumulator to a 16-bit one's-complement sum. */
  readonly fold: (acc: number) => number
  /** The checksum field value of an accumulator: `~fold(acc) & 0xffff`. */
  readonly finish: (acc: number) => number
  /** Adds two accumulators (the first range must have had an even length). */
  readonly combine: (a: number, b: number) => number
  /** True when a range that includes its own checksum field sums to 0xffff. */
  readonly isValid: (acc: number) => boolean
  /** Unfolded pseudo-header sum of either IP version (`length`: what the transport checksum covers). */
  readonly pseudoHeaderSum: (src: IpAddress, dst: IpAddress, protocol: number, length: number) => number
  /** True when a checksum must be computed on transmit (`"both"` or `"tx"`). */
  readonly shouldCompute: (mode: ChecksumMode) => boolean
  /** True when a checksum must be verified on receive (`"both"` or `"rx"`). */
  readonly shouldVerify: (mode: ChecksumMode) => boolean
} = {
  sum,
  fold,
  finish,
  combine,
  isValid,
  pseudoHeaderSum,
  shouldCompute: (mode) => shouldCompute(mode),
  shouldVerify: (mode) => shouldVerify(mode),
}

/** Per protocol: compute on transmit and verify on receive (`"both"`), only one of them, or neither. */
export type ChecksumMode = "both" | "tx" | "rx" | "none"

/** What a device wants the stack to do about checksums, per protocol (smoltcp's `ChecksumCapabilities`). */
export interface ChecksumCapabilities {
  /** IPv4 header checksum. */
  readonly ipv4: ChecksumMode
  /** UDP checksum. */
  readonly udp: ChecksumMode
  /** TCP checksum. */
  readonly tcp: ChecksumMode
  /** ICMPv4 checksum. */
  readonly icmpv4: ChecksumMode
}

/** True when a checksum must be computed on transmit (`"both"` or `"tx"`). */
export const shouldCompute = (mode: ChecksumMode): boolean => mode === "both" || mode === "tx"

/** True when a checksum must be verified on receive (`"both"` or `"rx"`). */
export const shouldVerify = (mode: ChecksumMode): boolean => mode === "both" || mode === "rx"

const ALL: ChecksumCapabilities = Object.freeze({ ipv4: "both", udp: "both", tcp: "both", icmpv4: "both" })
const OFFLOAD: ChecksumCapabilities = Object.freeze({ ipv4: "none", udp: "none", tcp: "none", icmpv4: "none" })

/** Capability presets and helpers: `all` (a real wire, e.g. TAP), `offload` (a virtual link that cannot corrupt). */
export const ChecksumCapabilities: {
  /** Every checksum computed and verified: a real wire (TAP, VXLAN). */
  readonly all: ChecksumCapabilities
  /** No checksum computed or verified: a virtual link that cannot corrupt. */
  readonly offload: ChecksumCapabilities
  /** True when a checksum must be computed on transmit (`"both"` or `"tx"`). */
  readonly shouldCompute: (mode: ChecksumMode) => boolean
  /** True when a checksum must be verified on receive (`"both"` or `"rx"`). */
  readonly shouldVerify: (mode: ChecksumMode) => boolean
} = { all: ALL, offload: OFFLOAD, shouldCompute, shouldVerify }
