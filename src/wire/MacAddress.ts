/**
 * Ethernet MAC addresses as branded numbers holding 48 bits (`0x025000000001` is 02:50:00:00:00:01), cheap to
 * compare and to use as `Map` keys.
 *
 * Implements: IEEE Std 802-2014 clause 8 (48-bit MAC addresses: the I/G bit is the least significant bit of the
 * first octet, the U/L bit the next one; the first octet is transmitted first), RFC 7042 §2 (EUI-48 and its
 * hexadecimal text form).
 *
 * Invariants: every `MacAddress` is an integer in `0 ..= 0xffffffffffff` (exact in a float64). Bitwise operators
 * only work on 32 bits in JavaScript, so the value is split into a 16-bit high part and a 32-bit low part with
 * division/multiplication by 2^32 where needed. Text form: six 2-digit hex groups separated by ":" (or "-" on
 * input), case-insensitive on input, lower case on output.
 *
 * @module
 */
import type * as Brand from "effect/Brand"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/** A 48-bit MAC address held in a number; the first octet on the wire is the most significant. */
export type MacAddress = number & Brand.Brand<"MacAddress">

const TWO_32 = 0x1_0000_0000
const MAX = 0xffff_ffff_ffff

const hexValue = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48 // 0-9
  const l = c | 0x20 // to lower case
  if (l >= 97 && l <= 102) return l - 87 // a-f
  return -1
}

const parse = (s: string): MacAddress | undefined => {
  if (typeof s !== "string" || s.length !== 17) return undefined
  const sep = s.charCodeAt(2)
  if (sep !== 58 && sep !== 45) return undefined // ':' or '-'
  let hi = 0 // first 2 octets
  let lo = 0 // last 4 octets
  for (let i = 0; i < 6; i++) {
    const p = i * 3
    if (i > 0 && s.charCodeAt(p - 1) !== sep) return undefined
    const h = hexValue(s.charCodeAt(p))
    const l = hexValue(s.charCodeAt(p + 1))
    if (h < 0 || l < 0) return undefined
    const octet = (h << 4) | l
    if (i < 2) hi = (hi << 8) | octet
    else lo = lo * 256 + octet
  }
  return (hi * TWO_32 + lo) as MacAddress
}

const hex2 = (n: number): string => (n < 16 ? "0" : "") + n.toString(16)

const format = (a: MacAddress): string => {
  const hi = Math.floor(a / TWO_32)
  const lo = a >>> 0
  return `${hex2(hi >>> 8)}:${hex2(hi & 0xff)}:${hex2(lo >>> 24)}:${hex2((lo >>> 16) & 0xff)}:${
    hex2((lo >>> 8) & 0xff)
  }:${hex2(lo & 0xff)}`
}

const read = (buf: Uint8Array, offset: number): MacAddress =>
  (((buf[offset] << 8) | buf[offset + 1]) * TWO_32 +
    (((buf[offset + 2] << 24) | (buf[offset + 3] << 16) | (buf[offset + 4] << 8) | buf[offset + 5]) >>>
      0)) as MacAddress

const write = (buf: Uint8Array, offset: number, a: MacAddress): void => {
  const hi = Math.floor(a / TWO_32)
  const lo = a >>> 0
  buf[offset] = hi >>> 8
  buf[offset + 1] = hi
  buf[offset + 2] = lo >>> 24
  buf[offset + 3] = lo >>> 16
  buf[offset + 4] = lo >>> 8
  buf[offset + 5] = lo
}

const firstOctet = (a: MacAddress): number => Math.floor(a / 0x100_0000_0000)

/** The API of {@link MacAddress}: constants, text and byte conversions, predicates. */
export interface MacAddressApi {
  /** ff:ff:ff:ff:ff:ff. */
  readonly BROADCAST: MacAddress
  /** 00:00:00:00:00:00 (e.g. the unknown target hardware address of an ARP request). */
  readonly ZERO: MacAddress
  /** Brands an integer; values outside `0 ..= 2^48-1` or non-integers are not checked here (see `isValid`). */
  readonly make: (n: number) => MacAddress
  /** True for an integer in `0 ..= 2^48-1`. */
  readonly isValid: (n: number) => boolean
  /** Parses "02:50:00:00:00:01" (also "-" separators, any case); `undefined` when it is not one. */
  readonly parse: (s: string) => MacAddress | undefined
  /** Formats as lower-case colon-separated hex. */
  readonly format: (a: MacAddress) => string
  /** Reads 6 bytes at `offset`. */
  readonly read: (buf: Uint8Array, offset: number) => MacAddress
  /** Writes 6 bytes at `offset`. */
  readonly write: (buf: Uint8Array, offset: number, a: MacAddress) => void
  /** True for ff:ff:ff:ff:ff:ff. */
  readonly isBroadcast: (a: MacAddress) => boolean
  /** True when the I/G bit is set (group address; includes broadcast). */
  readonly isMulticast: (a: MacAddress) => boolean
  /** True when the I/G bit is clear (individual address). */
  readonly isUnicast: (a: MacAddress) => boolean
  /** True when the U/L bit is set (locally administered, like the 02:50:… switch ports). */
  readonly isLocallyAdministered: (a: MacAddress) => boolean
}

/** MAC address helpers; the type of the same name is the branded number. */
export const MacAddress: MacAddressApi = {
  BROADCAST: MAX as MacAddress,
  ZERO: 0 as MacAddress,
  make: (n) => n as MacAddress,
  isValid: (n) => Number.isInteger(n) && n >= 0 && n <= MAX,
  parse,
  format,
  read,
  write,
  isBroadcast: (a) => a === MAX,
  isMulticast: (a) => (firstOctet(a) & 1) === 1,
  isUnicast: (a) => (firstOctet(a) & 1) === 0,
  isLocallyAdministered: (a) => (firstOctet(a) & 2) === 2,
}

/** Schema of the decoded value: an integer in `0 ..= 2^48-1`, branded. */
export const MacAddressSchema: Schema.Codec<MacAddress, number> = Schema.Number.pipe(
  Schema.check(Schema.makeFilter((n: number) => MacAddress.isValid(n) || "expected an unsigned 48-bit integer")),
  Schema.brand("MacAddress"),
)

/** Schema: "02:50:00:00:00:01" ↔ {@link MacAddress}. */
export const MacAddressFromString: Schema.Codec<MacAddress, string> = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      parse(s) !== undefined ||
      `expected a MAC address as six hex pairs like "02:50:00:00:00:01", got ${JSON.stringify(s)}`
    ),
  ),
  Schema.decodeTo(
    MacAddressSchema,
    SchemaTransformation.transform<number, string>({
      decode: (s) => parse(s) ?? 0,
      encode: (n) => format(n as MacAddress),
    }),
  ),
)
