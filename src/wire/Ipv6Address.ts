/**
 * IPv6 addresses as interned immutable objects: there is exactly one `Ipv6Address` instance per 128-bit value alive
 * at a time, so `===` compares addresses and an address is a correct `Map`/`Set` key, as cheap as an IPv4 number.
 *
 * Implements: RFC 4291 §2.2 (text forms: eight groups of 1–4 hex digits; one `::` for a run of zero groups; the
 * last 32 bits as an embedded dotted-quad IPv4 address), §2.4–§2.7 (unspecified `::`, loopback `::1`, IPv4-mapped
 * `::ffff:0:0/96`, link-local `fe80::/10`, multicast `ff00::/8` with its scope field), RFC 4193 §3 (unique local
 * `fc00::/7`), RFC 4291 §2.7.1 (solicited-node multicast `ff02::1:ff00:0/104`), RFC 5952 §4–§5 (canonical text:
 * lower case, no leading zeros, `::` for the longest run of two or more zero groups — the first one on a tie — and
 * dotted-quad for IPv4-mapped addresses).
 *
 * Interning: every constructor (`parse`, `read`, `fromWords`, `fromBytes`) goes through one table keyed by a hash of
 * the four 32-bit words. The table holds `WeakRef`s and a `FinalizationRegistry` removes dead entries. A *weak* table
 * rather than a bounded (LRU) one because a bounded table would be unsound: evicting an address that is still
 * referenced (say, a key of a connection table) and parsing it again would make a second instance, and `===`
 * would silently stop matching. With weak references an entry disappears only once no instance is reachable, when
 * no comparison can observe the difference; memory stays bounded by the addresses the program holds.
 * A lookup that hits allocates nothing (`read` on a received packet costs a hash and a compare).
 *
 * Invariants: the words are unsigned 32-bit integers, most significant first; instances are frozen; parsing untrusted
 * text never throws (it returns `undefined`). Zone identifiers (`fe80::1%eth0`, RFC 4007 §11) are not addresses and
 * are rejected.
 *
 * @module
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { Ipv4Address } from "./Ipv4Address.ts"

// ---- the intern table (used by the class below) --------------------------------------------------------------

const buckets = new Map<number, Array<WeakRef<Ipv6Address>>>()

const sweep = (hash: number): void => {
  const b = buckets.get(hash)
  if (b === undefined) return
  for (let i = b.length - 1; i >= 0; i--) if (b[i].deref() === undefined) b.splice(i, 1)
  if (b.length === 0) buckets.delete(hash)
}

const registry = new FinalizationRegistry<number>(sweep)

const hashOf = (w0: number, w1: number, w2: number, w3: number): number => {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 15) ^ w1, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0x27d4eb2f)
  h = Math.imul(h ^ (h >>> 16) ^ w3, 0x165667b1)
  return (h ^ (h >>> 15)) >>> 0
}

/** Number of hash buckets in the intern table (lets a test watch dead entries being swept). */
export const ipv6InternTableSize = (): number => buckets.size

/**
 * An IPv6 address: immutable and interned, so compare with `===`. The class also carries the static API
 * (`Ipv6Address.parse`, `format`, `read`, `write`, predicates, constants), like the `Ipv4Address` helpers.
 */
export class Ipv6Address {
  /** Bits 127..96 (the first 4 bytes on the wire), unsigned. */
  readonly w0: number
  /** Bits 95..64, unsigned. */
  readonly w1: number
  /** Bits 63..32, unsigned. */
  readonly w2: number
  /** Bits 31..0, unsigned. */
  readonly w3: number
  /** The unfolded RFC 1071 sum of the eight 16-bit groups (what the address adds to a pseudo-header sum). */
  readonly sum: number

  private constructor(w0: number, w1: number, w2: number, w3: number) {
    this.w0 = w0
    this.w1 = w1
    this.w2 = w2
    this.w3 = w3
    this.sum = (w0 >>> 16) + (w0 & 0xffff) + (w1 >>> 16) + (w1 & 0xffff) + (w2 >>> 16) + (w2 & 0xffff) +
      (w3 >>> 16) + (w3 & 0xffff)
    Object.freeze(this)
  }

  /** The canonical (RFC 5952) text form. */
  toString(): string {
    return format(this)
  }

  /** The one live instance of four unsigned 32-bit words (taken modulo 2^32), most significant first. */
  static fromWords(w0: number, w1: number, w2: number, w3: number): Ipv6Address {
    w0 >>>= 0
    w1 >>>= 0
    w2 >>>= 0
    w3 >>>= 0
    const hash = hashOf(w0, w1, w2, w3)
    let b = buckets.get(hash)
    if (b !== undefined) {
      for (let i = 0; i < b.length; i++) {
        const a = b[i].deref()
        if (a !== undefined && a.w0 === w0 && a.w1 === w1 && a.w2 === w2 && a.w3 === w3) return a
      }
    } else {
      b = []
      buckets.set(hash, b)
    }
    const a = new Ipv6Address(w0, w1, w2, w3)
    b.push(new WeakRef(a))
    registry.register(a, hash)
    return a
  }

  /** The interned address of 16 bytes at `offset` (network byte order); same as `read`. */
  static fromBytes(buf: Uint8Array, offset: number = 0): Ipv6Address {
    return read(buf, offset)
  }
  /** Parses any RFC 4291 §2.2 text form; `undefined` when `s` is not one. Never throws. */
  static parse(s: string): Ipv6Address | undefined {
    return parse(s)
  }
  /** Formats in RFC 5952 canonical form. */
  static format(a: Ipv6Address): string {
    return format(a)
  }
  /** Reads 16 bytes at `offset`, network byte order. */
  static read(buf: Uint8Array, offset: number): Ipv6Address {
    return read(buf, offset)
  }
  /** Writes 16 bytes at `offset`, network byte order. */
  static write(buf: Uint8Array, offset: number, a: Ipv6Address): void {
    write(buf, offset, a)
  }
  /** The 16 bytes of `a` in a new buffer. */
  static toBytes(a: Ipv6Address): Uint8Array {
    const b = new Uint8Array(16)
    write(b, 0, a)
    return b
  }
  /** True for `::`. */
  static isUnspecified(a: Ipv6Address): boolean {
    return a.w0 === 0 && a.w1 === 0 && a.w2 === 0 && a.w3 === 0
  }
  /** True for `::1`. */
  static isLoopback(a: Ipv6Address): boolean {
    return a.w0 === 0 && a.w1 === 0 && a.w2 === 0 && a.w3 === 1
  }
  /** True for `ff00::/8`. */
  static isMulticast(a: Ipv6Address): boolean {
    return (a.w0 >>> 24) === 0xff
  }
  /** The scope field of a multicast address (1 interface, 2 link, 5 site, 14 global); -1 for a unicast address. */
  static multicastScope(a: Ipv6Address): number {
    return (a.w0 >>> 24) === 0xff ? (a.w0 >>> 16) & 0xf : -1
  }
  /** True for link-local unicast, `fe80::/10`. */
  static isLinkLocal(a: Ipv6Address): boolean {
    return (a.w0 >>> 22) === (0xfe80 >>> 6)
  }
  /** True for unique local addresses, `fc00::/7` (RFC 4193). */
  static isUniqueLocal(a: Ipv6Address): boolean {
    return (a.w0 >>> 25) === (0xfc >>> 1)
  }
  /** True for IPv4-mapped addresses, `::ffff:0:0/96`. */
  static isIpv4Mapped(a: Ipv6Address): boolean {
    return isIpv4Mapped(a)
  }
  /** The IPv4 address inside an IPv4-mapped address, else `undefined`. */
  static toIpv4(a: Ipv6Address): Ipv4Address | undefined {
    return isIpv4Mapped(a) ? (a.w3 as Ipv4Address) : undefined
  }
  /** The IPv4-mapped form `::ffff:a.b.c.d` of an IPv4 address. */
  static fromIpv4(a: Ipv4Address): Ipv6Address {
    return Ipv6Address.fromWords(0, 0, 0xffff, a)
  }
  /** The solicited-node multicast address `ff02::1:ffXX:XXXX` of `a` (RFC 4291 §2.7.1). */
  static solicitedNode(a: Ipv6Address): Ipv6Address {
    return Ipv6Address.fromWords(0xff020000, 0, 1, 0xff000000 | (a.w3 & 0xffffff))
  }
  /** The first `prefixLength` bits of `a`, the rest zero (lengths are clamped to `0 ..= 128`). */
  static network(a: Ipv6Address, prefixLength: number): Ipv6Address {
    const len = clampPrefix(prefixLength)
    return Ipv6Address.fromWords(
      a.w0 & wordMask(len, 0),
      a.w1 & wordMask(len, 1),
      a.w2 & wordMask(len, 2),
      a.w3 & wordMask(len, 3),
    )
  }
  /** True when `a` and `b` share the first `prefixLength` bits (clamped to `0 ..= 128`). */
  static sameSubnet(a: Ipv6Address, b: Ipv6Address, prefixLength: number): boolean {
    const len = clampPrefix(prefixLength)
    return ((a.w0 ^ b.w0) & wordMask(len, 0)) === 0 && ((a.w1 ^ b.w1) & wordMask(len, 1)) === 0 &&
      ((a.w2 ^ b.w2) & wordMask(len, 2)) === 0 && ((a.w3 ^ b.w3) & wordMask(len, 3)) === 0
  }

  /** `::`, the unspecified address. */
  static readonly ANY: Ipv6Address = Ipv6Address.fromWords(0, 0, 0, 0)
  /** `::1`, the loopback address. */
  static readonly LOOPBACK: Ipv6Address = Ipv6Address.fromWords(0, 0, 0, 1)
  /** `ff02::1`, all nodes on the link. */
  static readonly ALL_NODES: Ipv6Address = Ipv6Address.fromWords(0xff020000, 0, 0, 1)
  /** `ff02::2`, all routers on the link. */
  static readonly ALL_ROUTERS: Ipv6Address = Ipv6Address.fromWords(0xff020000, 0, 0, 2)
}

const clampPrefix = (len: number): number => len <= 0 ? 0 : len >= 128 ? 128 : Math.floor(len)

/** The 32-bit mask of word `k` (0..3) for a prefix length. */
const wordMask = (len: number, k: number): number => {
  const bits = len - 32 * k
  return bits <= 0 ? 0 : bits >= 32 ? -1 : -1 << (32 - bits)
}

// ---- text -------------------------------------------------------------------------------------------------------

const hexValue = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48 // 0-9
  if (c >= 97 && c <= 102) return c - 87 // a-f
  if (c >= 65 && c <= 70) return c - 55 // A-F
  return -1
}

/**
 * Parses RFC 4291 §2.2 text into eight 16-bit groups, or returns `undefined`. At most one `::`; groups of 1–4 hex
 * digits; an optional dotted-quad in the last 32 bits (counted as two groups).
 */
const parseGroups = (s: string): Array<number> | undefined => {
  if (typeof s !== "string" || s.length < 2 || s.length > 45) return undefined
  const head: Array<number> = []
  const tail: Array<number> = []
  let groups = head
  let i = 0
  const n = s.length
  if (s.charCodeAt(0) === 58) { // ':' — only as the start of a leading '::'
    if (s.charCodeAt(1) !== 58) return undefined
    groups = tail
    i = 2
    if (i === n) return [0, 0, 0, 0, 0, 0, 0, 0]
  }
  while (i < n) {
    // one group (hex) or a dotted quad (last)
    let j = i
    let v = 0
    while (j < n && j - i < 5) {
      const h = hexValue(s.charCodeAt(j))
      if (h < 0) break
      v = v * 16 + h
      j++
    }
    if (j < n && s.charCodeAt(j) === 46) { // '.': the rest must be a dotted-quad IPv4 address
      const v4 = Ipv4Address.parse(s.slice(i))
      if (v4 === undefined) return undefined
      groups.push(v4 >>> 16, v4 & 0xffff)
      i = n
      break
    }
    const len = j - i
    if (len < 1 || len > 4) return undefined
    groups.push(v)
    i = j
    if (i === n) break
    if (s.charCodeAt(i) !== 58) return undefined
    i++
    if (i < n && s.charCodeAt(i) === 58) { // '::'
      if (groups === tail) return undefined // a second '::'
      groups = tail
      i++
      if (i === n) break
    } else if (i === n) {
      return undefined // a trailing single ':'
    }
  }
  const compressed = groups === tail
  const total = head.length + tail.length
  if (compressed ? total > 7 : total !== 8) return undefined
  const out = head.slice()
  for (let k = total; k < 8; k++) out.push(0)
  for (const t of tail) out.push(t)
  return out
}

const parse = (s: string): Ipv6Address | undefined => {
  const g = parseGroups(s)
  if (g === undefined) return undefined
  return Ipv6Address.fromWords(
    ((g[0] << 16) | g[1]) >>> 0,
    ((g[2] << 16) | g[3]) >>> 0,
    ((g[4] << 16) | g[5]) >>> 0,
    ((g[6] << 16) | g[7]) >>> 0,
  )
}

const groupsOf = (a: Ipv6Address): Array<number> => [
  a.w0 >>> 16,
  a.w0 & 0xffff,
  a.w1 >>> 16,
  a.w1 & 0xffff,
  a.w2 >>> 16,
  a.w2 & 0xffff,
  a.w3 >>> 16,
  a.w3 & 0xffff,
]

const isIpv4Mapped = (a: Ipv6Address): boolean => a.w0 === 0 && a.w1 === 0 && a.w2 === 0xffff

const format = (a: Ipv6Address): string => {
  if (isIpv4Mapped(a)) return `::ffff:${Ipv4Address.format(a.w3 as Ipv4Address)}`
  const g = groupsOf(a)
  // the longest run of zero groups (length >= 2; the first on a tie) becomes "::" (RFC 5952 §4.2)
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(":")
  const left = g.slice(0, bestStart).map((x) => x.toString(16)).join(":")
  const right = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(":")
  return `${left}::${right}`
}

// ---- bytes ------------------------------------------------------------------------------------------------------

const word = (buf: Uint8Array, o: number): number =>
  ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0

const read = (buf: Uint8Array, offset: number): Ipv6Address =>
  Ipv6Address.fromWords(word(buf, offset), word(buf, offset + 4), word(buf, offset + 8), word(buf, offset + 12))

const putWord = (buf: Uint8Array, o: number, w: number): void => {
  buf[o] = w >>> 24
  buf[o + 1] = w >>> 16
  buf[o + 2] = w >>> 8
  buf[o + 3] = w
}

const write = (buf: Uint8Array, offset: number, a: Ipv6Address): void => {
  putWord(buf, offset, a.w0)
  putWord(buf, offset + 4, a.w1)
  putWord(buf, offset + 8, a.w2)
  putWord(buf, offset + 12, a.w3)
}

/** Schema of the decoded value: an {@link Ipv6Address} instance. */
export const Ipv6AddressSchema: Schema.declare<Ipv6Address> = Schema.declare(
  (u: unknown): u is Ipv6Address => u instanceof Ipv6Address,
  { title: "Ipv6Address" },
)

/** Schema: IPv6 text (any RFC 4291 form) ↔ {@link Ipv6Address}; encodes to the RFC 5952 canonical form. */
export const Ipv6AddressFromString: Schema.Codec<Ipv6Address, string> = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      parse(s) !== undefined || `expected an IPv6 address like "2001:db8::1", got ${JSON.stringify(s)}`
    ),
  ),
  Schema.decodeTo(
    Ipv6AddressSchema,
    SchemaTransformation.transform<Ipv6Address, string>({
      decode: (s) => parse(s) ?? Ipv6Address.ANY,
      encode: (a) => format(a),
    }),
  ),
)
