/**
 * IPv4 addresses as branded unsigned 32-bit numbers (`0x0a000001` is 10.0.0.1), cheap to compare and to use as
 * `Map` keys.
 *
 * Implements: RFC 791 §3.1 (32-bit address, network byte order on the wire), RFC 1112 §4 (host group addresses,
 * 224.0.0.0/4), RFC 1122 §3.2.1.3 (0.0.0.0 "this host", 127/8 loopback, limited broadcast 255.255.255.255 and the
 * directed broadcast {network, -1}), RFC 4632 §3.1 (CIDR prefix notation `a.b.c.d/len`).
 *
 * Invariants: every `Ipv4Address` is an integer in `0 ..= 0xffffffff` (never negative: `>>> 0` after bit math).
 * Text form is strict dotted-quad decimal: four parts `0..255`, no leading zeros (so "010.0.0.1" is rejected
 * rather than read as octal like `inet_aton` would), no whitespace.
 *
 * @module
 */
import type * as Brand from "effect/Brand"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/** An IPv4 address: an unsigned 32-bit integer, most significant byte first on the wire. */
export type Ipv4Address = number & Brand.Brand<"Ipv4Address">

/** An address with its prefix length, as decoded from "10.0.0.2/24". */
export interface Ipv4Cidr {
  /** The address as written (host bits kept). */
  readonly address: Ipv4Address
  /** Prefix length, `0 ..= 32`. */
  readonly prefixLength: number
}

const make = (n: number): Ipv4Address => (n >>> 0) as Ipv4Address

/** Parses one decimal octet of `s` in `[from, to)`; returns -1 if it is not `0..255` without leading zeros. */
const parseOctet = (s: string, from: number, to: number): number => {
  const len = to - from
  if (len < 1 || len > 3) return -1
  if (len > 1 && s.charCodeAt(from) === 48) return -1 // leading zero
  let v = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    v = v * 10 + c
  }
  return v > 255 ? -1 : v
}

const parse = (s: string): Ipv4Address | undefined => {
  if (typeof s !== "string" || s.length < 7 || s.length > 15) return undefined
  let acc = 0
  let from = 0
  for (let part = 0; part < 4; part++) {
    let to = s.indexOf(".", from)
    if (part === 3) {
      if (to !== -1) return undefined
      to = s.length
    } else if (to === -1) {
      return undefined
    }
    const o = parseOctet(s, from, to)
    if (o < 0) return undefined
    acc = acc * 256 + o
    from = to + 1
  }
  return acc as Ipv4Address
}

const format = (a: Ipv4Address): string => `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`

const read = (buf: Uint8Array, offset: number): Ipv4Address =>
  (((buf[offset] << 24) | (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3]) >>> 0) as Ipv4Address

const write = (buf: Uint8Array, offset: number, a: Ipv4Address): void => {
  buf[offset] = a >>> 24
  buf[offset + 1] = a >>> 16
  buf[offset + 2] = a >>> 8
  buf[offset + 3] = a
}

const prefixMask = (len: number): Ipv4Address =>
  (len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0) as Ipv4Address

/** The API of {@link Ipv4Address}: constants, text and byte conversions, predicates. */
export interface Ipv4AddressApi {
  /** 0.0.0.0, the unspecified address. */
  readonly ANY: Ipv4Address
  /** 255.255.255.255, the limited broadcast address. */
  readonly BROADCAST: Ipv4Address
  /** 127.0.0.1. */
  readonly LOOPBACK: Ipv4Address
  /** Brands an integer (taken modulo 2^32, so it is never negative). No other check. */
  readonly make: (n: number) => Ipv4Address
  /** Parses strict dotted-quad text; `undefined` when it is not one. */
  readonly parse: (s: string) => Ipv4Address | undefined
  /** Formats as dotted-quad text. */
  readonly format: (a: Ipv4Address) => string
  /** Reads 4 bytes at `offset`, network byte order. */
  readonly read: (buf: Uint8Array, offset: number) => Ipv4Address
  /** Writes 4 bytes at `offset`, network byte order. */
  readonly write: (buf: Uint8Array, offset: number, a: Ipv4Address) => void
  /** True for 0.0.0.0. */
  readonly isUnspecified: (a: Ipv4Address) => boolean
  /** True for 255.255.255.255 (the limited broadcast; a directed broadcast needs the prefix: see `isBroadcastIn`). */
  readonly isBroadcast: (a: Ipv4Address) => boolean
  /** True for 224.0.0.0/4. */
  readonly isMulticast: (a: Ipv4Address) => boolean
  /** True for 127.0.0.0/8. */
  readonly isLoopback: (a: Ipv4Address) => boolean
  /** The netmask of a prefix length (`prefixMask(24)` is 255.255.255.0); lengths are clamped to `0 ..= 32`. */
  readonly prefixMask: (len: number) => Ipv4Address
  /** The network part of `a` for a prefix length (`network(10.0.0.2, 24)` is 10.0.0.0). */
  readonly network: (a: Ipv4Address, prefixLength: number) => Ipv4Address
  /** The directed broadcast address of `a`'s subnet (`10.0.0.255` for 10.0.0.2/24). */
  readonly directedBroadcast: (a: Ipv4Address, prefixLength: number) => Ipv4Address
  /** True when `a` and `b` share the first `prefixLength` bits. */
  readonly sameSubnet: (a: Ipv4Address, b: Ipv4Address, prefixLength: number) => boolean
  /** True for the limited broadcast or the directed broadcast of the subnet (prefix length < 31). */
  readonly isBroadcastIn: (a: Ipv4Address, subnet: Ipv4Address, prefixLength: number) => boolean
}

/** IPv4 address helpers; the type of the same name is the branded number. */
export const Ipv4Address: Ipv4AddressApi = {
  ANY: 0 as Ipv4Address,
  BROADCAST: 0xffffffff as Ipv4Address,
  LOOPBACK: 0x7f000001 as Ipv4Address,
  make,
  parse,
  format,
  read,
  write,
  isUnspecified: (a) => a === 0,
  isBroadcast: (a) => a === 0xffffffff,
  isMulticast: (a) => (a >>> 28) === 0xe,
  isLoopback: (a) => (a >>> 24) === 127,
  prefixMask,
  network: (a, len) => ((a & prefixMask(len)) >>> 0) as Ipv4Address,
  directedBroadcast: (a, len) => ((a | ~prefixMask(len)) >>> 0) as Ipv4Address,
  sameSubnet: (a, b, len) => ((a ^ b) & prefixMask(len)) === 0,
  isBroadcastIn: (a, subnet, len) => a === 0xffffffff || (len < 31 && a === ((subnet | ~prefixMask(len)) >>> 0)),
}

const isAddressNumber = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff

/** Schema of the decoded value: an integer in `0 ..= 0xffffffff`, branded. */
export const Ipv4AddressSchema: Schema.Codec<Ipv4Address, number> = Schema.Number.pipe(
  Schema.check(Schema.makeFilter((n: number) => isAddressNumber(n) || "expected an unsigned 32-bit integer")),
  Schema.brand("Ipv4Address"),
)

/** Schema: dotted-quad text ↔ {@link Ipv4Address}, e.g. "10.0.0.1" ↔ `0x0a000001`. */
export const Ipv4AddressFromString: Schema.Codec<Ipv4Address, string> = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      parse(s) !== undefined || `expected an IPv4 address in dotted-quad form like "10.0.0.1", got ${JSON.stringify(s)}`
    ),
  ),
  Schema.decodeTo(
    Ipv4AddressSchema,
    SchemaTransformation.transform<number, string>({
      decode: (s) => parse(s) ?? 0,
      encode: (n) => format(n as Ipv4Address),
    }),
  ),
)

const parseCidr = (s: string): Ipv4Cidr | undefined => {
  if (typeof s !== "string") return undefined
  const slash = s.indexOf("/")
  if (slash < 0) return undefined
  const address = parse(s.slice(0, slash))
  if (address === undefined) return undefined
  const lenText = s.slice(slash + 1)
  if (!/^(?:0|[1-9][0-9]?)$/.test(lenText)) return undefined
  const prefixLength = Number(lenText)
  if (prefixLength > 32) return undefined
  return { address, prefixLength }
}

const CidrValue = Schema.Struct({
  address: Ipv4AddressSchema,
  prefixLength: Schema.Number.pipe(
    Schema.check(
      Schema.makeFilter((n: number) =>
        (Number.isInteger(n) && n >= 0 && n <= 32) || "expected a prefix length between 0 and 32"
      ),
    ),
  ),
})

/** Schema: CIDR text ↔ {@link Ipv4Cidr}, e.g. "10.0.0.2/24" ↔ `{ address: 10.0.0.2, prefixLength: 24 }`. */
export const Ipv4Cidr: Schema.Codec<Ipv4Cidr, string> = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      parseCidr(s) !== undefined ||
      `expected an IPv4 address with a prefix length 0..32 like "10.0.0.2/24", got ${JSON.stringify(s)}`
    ),
  ),
  Schema.decodeTo(
    CidrValue,
    SchemaTransformation.transform<{ readonly address: number; readonly prefixLength: number }, string>({
      decode: (s) => parseCidr(s) ?? { address: 0, prefixLength: 0 },
      encode: (c) => `${format(c.address as Ipv4Address)}/${c.prefixLength}`,
    }),
  ),
)
