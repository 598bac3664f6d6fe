/**
 * The IPv4 Identification field of outgoing datagrams, chosen so that it tells an observer nothing about the
 * traffic to other hosts: a pure core, no Effect, no clock (the caller passes `now`).
 *
 * A single global counter is what a host must NOT use (RFC 7739 §3): anyone who can make it send two datagrams
 * (a ping, a SYN to a closed port) learns how many it sent to everybody else in between, which is how an idle scan
 * uses the host as a "zombie" to probe a third party, and how its traffic is counted from outside. Here the
 * identification follows RFC 7739 §5.3 (the hash-based algorithm) the way Linux's `ip_idents_reserve` does:
 *
 * - a keyed hash of (source, destination, protocol) — HalfSipHash-2-4 (Aumasson & Bernstein) with a 64-bit secret
 *   drawn once per stack from Effect `Random` — gives a bucket index (its top 11 bits) and an offset (its low 16);
 * - each of {@link IDENT_BUCKETS} buckets holds a 16-bit counter; a datagram advances the counter of its bucket by
 *   one and gets `counter + offset` (mod 2^16), so datagrams to one destination get successive identifications
 *   (unique for 65 536 datagrams, RFC 6864 §4.1: enough for any reassembly lifetime this stack could be faced
 *   with), and datagrams to other destinations do not move them, unless both hash to the same bucket (one chance in
 *   2 048 for a given pair, and the attacker does not know the secret);
 * - as in Linux, a bucket that has not been used for `Δ` milliseconds also advances by a random amount below `Δ`
 *   (drawn from a small generator seeded from the same `Random`), so even a colliding bucket, or the same
 *   destination probed twice, shows nothing reliable about the traffic in between.
 *
 * Fragments of one datagram carry its identification (the caller asks once per datagram). The hash of the last
 * (source, destination, protocol) is remembered, so a stream to one peer costs one comparison per datagram; any
 * other costs one hash (~40 integer operations, no allocation).
 *
 * Under `TestClock` with a seeded `Random` everything here is deterministic.
 *
 * Implements: RFC 7739 §5.3 (hash-based identification; also its advice in §5 against a global counter), RFC 6864
 * §4 (uniqueness only as needed for fragmented datagrams).
 *
 * @module
 */

/** Buckets of the identification table (Linux's `IP_IDENTS_SZ`); a power of two, indexed by the hash's top bits. */
export const IDENT_BUCKETS = 2048
const BUCKET_SHIFT = 21 // 32 - log2(IDENT_BUCKETS)

/** The secret of one generator: six 32-bit words (two for the hash key, four seeding the delta generator). */
export interface IdentificationSecret {
  /** Low word of the HalfSipHash key. */
  readonly k0: number
  /** High word of the HalfSipHash key. */
  readonly k1: number
  /** Seed of the generator of the random advances (four words, not all zero). */
  readonly seed: readonly [number, number, number, number]
}

const rotl = (x: number, b: number): number => (x << b) | (x >>> (32 - b))

/**
 * HalfSipHash-2-4 with a 32-bit result over the 12-byte message made of the little-endian words `a`, `b`, `c`
 * (exported for its test against the reference vectors).
 */
export const halfSipHash3 = (k0: number, k1: number, a: number, b: number, c: number): number => {
  let v0 = k0 | 0
  let v1 = k1 | 0
  let v2 = (0x6c796765 ^ k0) | 0
  let v3 = (0x74656462 ^ k1) | 0
  // the message words and the length word (12 << 24), each with c = 2 rounds; then `v2 ^= 0xff` and d = 4 rounds
  for (let i = 0; i < 5; i++) {
    const final = i === 4
    const m = i === 0 ? a : i === 1 ? b : i === 2 ? c : 12 << 24
    if (final) v2 ^= 0xff
    else v3 ^= m
    for (let r = final ? 4 : 2; r > 0; r--) {
      v0 = (v0 + v1) | 0
      v1 = rotl(v1, 5) ^ v0
      v0 = rotl(v0, 16)
      v2 = (v2 + v3) | 0
      v3 = rotl(v3, 8) ^ v2
      v0 = (v0 + v3) | 0
      v3 = rotl(v3, 7) ^ v0
      v2 = (v2 + v1) | 0
      v1 = rotl(v1, 13) ^ v2
      v2 = rotl(v2, 16)
    }
    if (!final) v0 ^= m
  }
  return (v1 ^ v3) >>> 0
}

/** The identification generator of one stack (see the module docs). */
export class Ipv4Identification {
  private readonly counters = new Uint16Array(IDENT_BUCKETS)
  private readonly stamps = new Float64Array(IDENT_BUCKETS)
  private readonly k0: number
  private readonly k1: number
  // xorshift128 state of the random advances
  private x: number
  private y: number
  private z: number
  private w: number
  // the last (src, dst, protocol) and its hash
  private lastSrc = -1
  private lastDst = -1
  private lastProtocol = -1
  private lastHash = 0

  /** A generator keyed with `secret`; `now` (milliseconds) is when every bucket counts as last used. */
  constructor(secret: IdentificationSecret, now: number) {
    this.k0 = secret.k0 | 0
    this.k1 = secret.k1 | 0
    const [x, y, z, w] = secret.seed
    this.x = x | 0
    this.y = y | 0
    this.z = z | 0
    this.w = (x | y | z | w) === 0 ? 1 : w | 0
    this.stamps.fill(now)
  }

  /** A uniform integer in `[0, n)` for `0 < n <= 2^16`. */
  private below(n: number): number {
    const t = this.x ^ (this.x << 11)
    this.x = this.y
    this.y = this.z
    this.z = this.w
    this.w = this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))
    return Math.floor(((this.w >>> 0) / 4294967296) * n)
  }

  /** The identification of the next datagram from `src` to `dst` with `protocol`, sent at `now` (milliseconds). */
  next(src: number, dst: number, protocol: number, now: number): number {
    let h = this.lastHash
    if (src !== this.lastSrc || dst !== this.lastDst || protocol !== this.lastProtocol) {
      h = halfSipHash3(this.k0, this.k1, src, dst, protocol)
      this.lastSrc = src
      this.lastDst = dst
      this.lastProtocol = protocol
      this.lastHash = h
    }
    const i = h >>> BUCKET_SHIFT
    let advance = 1
    const idle = now - this.stamps[i]
    if (idle >= 1) {
      advance += this.below(idle < 65536 ? Math.floor(idle) : 65536)
      this.stamps[i] = now
    }
    const counter = (this.counters[i] + advance) & 0xffff
    this.counters[i] = counter
    return (counter + h) & 0xffff
  }
}
