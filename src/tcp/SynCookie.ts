/**
 * SYN cookies (RFC 4987 §3.6): a listener whose half-open queue is full answers a SYN with a SYN-ACK whose initial
 * sequence number encodes what the connection needs, and keeps no state; the peer's ACK gives that number back
 * (`SEG.ACK − 1`), and if it checks, the connection is created from it. A flood of spoofed SYNs then costs one hash
 * and one SYN-ACK each, never memory, and real clients still get through.
 *
 * The cookie (our ISN, 32 bits) is
 *
 * ```
 * cookie = mask + (counter mod 4) << 30 | mssIndex << 27 | mac
 *   mask = SipHash(key, 1 ‖ local address ‖ remote address ‖ ports ‖ peer ISN)        low 32 bits
 *   mac  = SipHash(key, 2 ‖ local address ‖ remote address ‖ ports ‖ peer ISN ‖ counter ‖ mssIndex)  low 27 bits
 * ```
 *
 * - `counter` is a coarse clock: `floor(now / 30 s)`. A check tries the one counter whose two low bits the cookie
 *   carries among the current one and the three before (`age` 0–3), so a cookie is accepted 90 to 120 s after it
 *   was made ({@link SYN_COOKIE_LIFETIME_MS}) and never later: an older one names a counter whose MAC differs.
 * - `mssIndex` is the index of the peer's MSS rounded down in {@link SYN_COOKIE_MSS} (8 entries, 3 bits).
 * - `mac` is 27 bits of a keyed PRF — SipHash-2-4 (Aumasson and Bernstein, 2012), implemented here in 32-bit halves
 *   and checked against the reference test vectors — over the 4-tuple, the peer's ISN, the counter and the MSS index,
 *   under a 128-bit per-stack key. A forged ACK (a blind attacker guessing a cookie) is accepted with probability
 *   2^-27 per try; a cookie cannot be moved to another address, port, ISN, counter or MSS.
 * - `mask` (a second SipHash without the counter) makes the whole ISN look random, so the counter and the MSS index
 *   are not readable in clear and the ISN is as unpredictable as RFC 6528 asks of any ISN. Its high 32 bits give
 *   the connection's timestamp offset (RFC 7323 §5.4), which the ACK's check recomputes, so TSvals stay monotonic
 *   from the SYN-ACK on.
 *
 * Options: the ISN has no room for window scale and SACK-permitted. When the SYN carries timestamps, the SYN-ACK's
 * TSval carries them in its 5 low bits ({@link cookieTsVal}: 4 bits of the peer's window scale, 15 for none, and 1
 * bit of SACK-permitted), rounded down so our TSvals never go backwards; the peer echoes them in the ACK's TSecr
 * ({@link tsEcrWindowScale}, {@link tsEcrSack}). Without timestamps the SYN-ACK offers neither window scaling nor
 * SACK, and the connection has neither. These bits are not authenticated — a peer can claim any options it could
 * have put on its own SYN.
 *
 * What a cookie connection loses, compared to one that went through the half-open queue: no window scaling and no
 * SACK when the peer does not use timestamps; its MSS is rounded down to the table (a peer offering 1000 gets 536);
 * the first RTT sample comes from the TSecr of the ACK, up to 31 ms too large (its low bits are option bits), or,
 * without timestamps, from the first data; data on the third segment of the handshake is accepted, but if that
 * segment is lost and the peer's next one starts later in the stream, the ACK no longer names the peer's ISN and the
 * connection is refused with a RST (as with Linux); and a valid cookie ACK that meets a full accept queue is dropped
 * (the peer retransmits).
 *
 * The key is drawn from the random source given to {@link SynCookies} on first use, so a stack that never sends a
 * cookie draws nothing (runs replayed with a seeded `Random` are unchanged).
 *
 * @module
 */
import type { IpAddress } from "../wire/IpAddress.ts"
import { seqGt } from "./SeqNum.ts"

// ------------------------------------------------------------------------------------------------ SipHash-2-4

/**
 * `n` SipRounds over the state `s` (v0, v1, v2, v3 as low/high 32-bit halves: `[v0l, v0h, v1l, v1h, …]`).
 * Each 64-bit add carries from the low half; rotations by 32 swap the halves.
 */
const sipRounds = (s: Uint32Array, n: number): void => {
  let v0l = s[0], v0h = s[1], v1l = s[2], v1h = s[3], v2l = s[4], v2h = s[5], v3l = s[6], v3h = s[7]
  let t = 0
  for (let i = 0; i < n; i++) {
    // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
    t = (v0l + v1l) >>> 0
    v0h = (v0h + v1h + (t < v0l ? 1 : 0)) >>> 0
    v0l = t
    t = ((v1l << 13) | (v1h >>> 19)) >>> 0
    v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0
    v1l = (t ^ v0l) >>> 0
    v1h = (v1h ^ v0h) >>> 0
    t = v0l
    v0l = v0h
    v0h = t
    // v2 += v3; v3 <<<= 16; v3 ^= v2
    t = (v2l + v3l) >>> 0
    v2h = (v2h + v3h + (t < v2l ? 1 : 0)) >>> 0
    v2l = t
    t = ((v3l << 16) | (v3h >>> 16)) >>> 0
    v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0
    v3l = (t ^ v2l) >>> 0
    v3h = (v3h ^ v2h) >>> 0
    // v0 += v3; v3 <<<= 21; v3 ^= v0
    t = (v0l + v3l) >>> 0
    v0h = (v0h + v3h + (t < v0l ? 1 : 0)) >>> 0
    v0l = t
    t = ((v3l << 21) | (v3h >>> 11)) >>> 0
    v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0
    v3l = (t ^ v0l) >>> 0
    v3h = (v3h ^ v0h) >>> 0
    // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
    t = (v2l + v1l) >>> 0
    v2h = (v2h + v1h + (t < v2l ? 1 : 0)) >>> 0
    v2l = t
    t = ((v1l << 17) | (v1h >>> 15)) >>> 0
    v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0
    v1l = (t ^ v2l) >>> 0
    v1h = (v1h ^ v2h) >>> 0
    t = v2l
    v2l = v2h
    v2h = t
  }
  s[0] = v0l
  s[1] = v0h
  s[2] = v1l
  s[3] = v1h
  s[4] = v2l
  s[5] = v2h
  s[6] = v3l
  s[7] = v3h
}

const STATE = new Uint32Array(8)

/** `v3 ^= m; 2 rounds; v0 ^= m` for the 64-bit message word `m` (halves `ml`, `mh`). */
const compress = (s: Uint32Array, ml: number, mh: number): void => {
  s[6] ^= ml
  s[7] ^= mh
  sipRounds(s, 2)
  s[0] ^= ml
  s[1] ^= mh
}

/**
 * SipHash-2-4 of the first `byteLen` bytes of a message given as little-endian 32-bit words (`words[i]` holds bytes
 * `4i … 4i+3`; bytes past `byteLen` are ignored), under the 128-bit `key` (four little-endian words: k0 = key[0] |
 * key[1] << 32, k1 = key[2] | key[3] << 32). Writes the 64-bit result to `out` as `[low, high]`; allocates nothing.
 */
export const sipHash24 = (key: Uint32Array, words: Uint32Array, byteLen: number, out: Uint32Array): void => {
  const s = STATE
  s[0] = (key[0] ^ 0x70736575) >>> 0 // k0 ^ "somepseu"
  s[1] = (key[1] ^ 0x736f6d65) >>> 0
  s[2] = (key[2] ^ 0x6e646f6d) >>> 0 // k1 ^ "dorandom"
  s[3] = (key[3] ^ 0x646f7261) >>> 0
  s[4] = (key[0] ^ 0x6e657261) >>> 0 // k0 ^ "lygenera"
  s[5] = (key[1] ^ 0x6c796765) >>> 0
  s[6] = (key[2] ^ 0x79746573) >>> 0 // k1 ^ "tedbytes"
  s[7] = (key[3] ^ 0x74656462) >>> 0
  const blocks = byteLen >>> 3
  for (let i = 0; i < blocks; i++) compress(s, words[2 * i], words[2 * i + 1])
  // the last block: the remaining 0–7 bytes, and the length's low byte in the top byte
  const rest = byteLen & 7
  let ml = 0
  let mh = 0
  if (rest > 0) {
    const w = words[2 * blocks]
    if (rest < 4) ml = w & ((1 << (8 * rest)) - 1)
    else {
      ml = w
      if (rest > 4) mh = words[2 * blocks + 1] & ((1 << (8 * (rest - 4))) - 1)
    }
  }
  mh = (mh | ((byteLen & 0xff) << 24)) >>> 0
  compress(s, ml >>> 0, mh)
  s[4] ^= 0xff
  sipRounds(s, 4)
  out[0] = (s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0
  out[1] = (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0
}

/** SipHash-2-4 of `message` under the 16-byte `key`, as the 8 bytes of the reference implementation (little-endian). */
export const sipHash24Bytes = (key: Uint8Array, message: Uint8Array): Uint8Array => {
  if (key.length !== 16) throw new RangeError(`SipHash key must be 16 bytes, got ${key.length}`)
  const k = new Uint32Array(4)
  for (let i = 0; i < 16; i++) k[i >>> 2] |= key[i] << (8 * (i & 3))
  const words = new Uint32Array(((message.length + 7) >>> 3) * 2 + 2)
  for (let i = 0; i < message.length; i++) words[i >>> 2] |= message[i] << (8 * (i & 3))
  const out = new Uint32Array(2)
  sipHash24(k, words, message.length, out)
  const r = new Uint8Array(8)
  for (let i = 0; i < 8; i++) r[i] = (out[i >>> 2] >>> (8 * (i & 3))) & 0xff
  return r
}

// ------------------------------------------------------------------------------------------------ cookies

/** How a listener uses SYN cookies: when its half-open queue is full ("auto"), for every SYN, or never. */
export type SynCookieMode = "auto" | "always" | "never"

/**
 * The MSS values a cookie can carry (3 bits): a peer's MSS is rounded down to the largest entry not above it. 64 is
 * our floor for a peer below 536, 536 the default without an MSS option (RFC 9293 §3.7.1), 1220 IPv6's minimum MTU,
 * 1360 and 1400 common tunnels, 1440 IPv6 on Ethernet, 1460 IPv4 on Ethernet, 8960 a 9000-byte jumbo frame.
 */
export const SYN_COOKIE_MSS: ReadonlyArray<number> = [64, 536, 1220, 1360, 1400, 1440, 1460, 8960]

/** Length of one step of the cookie clock (ms). */
export const SYN_COOKIE_PERIOD_MS: number = 30_000

/** Steps of the cookie clock a cookie stays valid beyond the one it was made in. */
export const SYN_COOKIE_MAX_AGE: number = 3

/** A cookie is accepted for at least `SYN_COOKIE_PERIOD_MS × SYN_COOKIE_MAX_AGE` and less than this (ms): 120 s. */
export const SYN_COOKIE_LIFETIME_MS: number = SYN_COOKIE_PERIOD_MS * (SYN_COOKIE_MAX_AGE + 1)

/** The index in {@link SYN_COOKIE_MSS} of the largest entry not above `mss` (0 below 536). */
export const mssIndexFor = (mss: number): number => {
  let i = SYN_COOKIE_MSS.length - 1
  while (i > 0 && SYN_COOKIE_MSS[i] > mss) i--
  return i
}

const MAC_BITS = 27
const MAC_MASK = (1 << MAC_BITS) - 1
const TAG_MASK = 1
const TAG_MAC = 2
/** Message words: tag, local address (4), remote address (4), ports, peer ISN, counter, MSS index. */
const MSG_WORDS = 13
const MASK_BYTES = 11 * 4
const MAC_BYTES = 13 * 4

/** Writes the four 32-bit words of `a` (an IPv4 address as `0, 0, 0, a`) at `words[at …]`. */
const putAddress = (words: Uint32Array, at: number, a: IpAddress): void => {
  if (typeof a === "number") {
    words[at] = 0
    words[at + 1] = 0
    words[at + 2] = 0
    words[at + 3] = a
  } else {
    words[at] = a.w0
    words[at + 1] = a.w1
    words[at + 2] = a.w2
    words[at + 3] = a.w3
  }
}

/**
 * The cookie jar of one stack: its SipHash key and the scratch space of the hashes. `encode` makes a cookie, `check`
 * validates one; both leave the connection's timestamp offset in {@link tsOffset}. Allocates nothing per call.
 */
export class SynCookies {
  /** The timestamp offset (RFC 7323 §5.4) of the 4-tuple and peer ISN of the last `encode` or `check`. */
  tsOffset = 0
  private key: Uint32Array | undefined = undefined
  private readonly words = new Uint32Array(MSG_WORDS + 1)
  private readonly out = new Uint32Array(2)

  /**
   * A jar keyed with four words from `random` (uniform unsigned 32-bit integers), drawn on first use; or with the
   * given 128-bit key (four little-endian words, for tests).
   */
  constructor(private readonly random: (() => number) | ArrayLike<number>) {}

  /** The key, drawn on first use. */
  private keyed(): Uint32Array {
    let k = this.key
    if (k === undefined) {
      const r = this.random
      k = new Uint32Array(4)
      for (let i = 0; i < 4; i++) k[i] = typeof r === "function" ? r() >>> 0 : r[i] >>> 0
      this.key = k
    }
    return k
  }

  /** Fills the 4-tuple and peer ISN; computes the mask and the timestamp offset; returns the mask. */
  private flow(local: IpAddress, remote: IpAddress, localPort: number, remotePort: number, peerIsn: number): number {
    const w = this.words
    w[0] = TAG_MASK
    putAddress(w, 1, local)
    putAddress(w, 5, remote)
    w[9] = ((localPort << 16) | (remotePort & 0xffff)) >>> 0
    w[10] = peerIsn >>> 0
    sipHash24(this.keyed(), w, MASK_BYTES, this.out)
    this.tsOffset = this.out[1]
    return this.out[0]
  }

  /** The 27-bit MAC of the flow already in `words`, `counter` and `mssIndex`. */
  private mac(counter: number, mssIndex: number): number {
    const w = this.words
    w[0] = TAG_MAC
    w[11] = counter >>> 0
    w[12] = mssIndex
    sipHash24(this.keyed(), w, MAC_BYTES, this.out)
    return this.out[0] & MAC_MASK
  }

  /**
   * The cookie — our ISN for the SYN-ACK — answering a SYN from `remote:remotePort` to `local:localPort` with
   * sequence number `peerIsn`, carrying `mssIndex` (see {@link mssIndexFor}), at `now` (ms).
   */
  encode(
    local: IpAddress,
    remote: IpAddress,
    localPort: number,
    remotePort: number,
    peerIsn: number,
    mssIndex: number,
    now: number,
  ): number {
    const counter = Math.floor(now / SYN_COOKIE_PERIOD_MS)
    const mask = this.flow(local, remote, localPort, remotePort, peerIsn)
    const body = (((counter & 3) << 30) | ((mssIndex & 7) << MAC_BITS) | this.mac(counter, mssIndex & 7)) >>> 0
    return (mask + body) >>> 0
  }

  /**
   * Checks `cookie` (the ACK's `SEG.ACK − 1`) for the flow and `peerIsn` (the ACK's `SEG.SEQ − 1`) at `now`: the MSS
   * index it carries, or -1 when it was not made by this jar for this flow within {@link SYN_COOKIE_LIFETIME_MS}.
   */
  check(
    local: IpAddress,
    remote: IpAddress,
    localPort: number,
    remotePort: number,
    peerIsn: number,
    cookie: number,
    now: number,
  ): number {
    const current = Math.floor(now / SYN_COOKIE_PERIOD_MS)
    const body = (cookie - this.flow(local, remote, localPort, remotePort, peerIsn)) >>> 0
    const age = (current - (body >>> 30)) & 3 // ≤ SYN_COOKIE_MAX_AGE: every value of the two bits is a valid age
    const mssIndex = (body >>> MAC_BITS) & 7
    return this.mac(current - age, mssIndex) === (body & MAC_MASK) ? mssIndex : -1
  }
}

// ------------------------------------------------------------------------------------------------ timestamps

/** Low bits of a cookie SYN-ACK's TSval that carry options. */
const TS_OPTION_MASK = 0x1f
const TS_NO_WS = 0xf
const TS_SACK = 0x10

/**
 * The TSval of a cookie SYN-ACK at timestamp clock `tsClock`: its low 5 bits replaced by the peer's window scale
 * (`undefined`: none) and SACK-permitted, and taken 32 back if that moved it ahead of the clock, so the connection's
 * later TSvals are never smaller (the peer's PAWS).
 */
export const cookieTsVal = (tsClock: number, windowScale: number | undefined, sack: boolean): number => {
  const bits = (windowScale === undefined ? TS_NO_WS : Math.min(14, windowScale)) | (sack ? TS_SACK : 0)
  const v = ((tsClock & ~TS_OPTION_MASK) | bits) >>> 0
  return seqGt(v, tsClock >>> 0) ? (v - (TS_OPTION_MASK + 1)) >>> 0 : v
}

/** The peer's window scale carried in a cookie ACK's TSecr, or undefined when it offered none. */
export const tsEcrWindowScale = (tsEcr: number): number | undefined => {
  const ws = tsEcr & TS_NO_WS
  return ws === TS_NO_WS ? undefined : ws
}

/** Whether the peer offered SACK-permitted, as carried in a cookie ACK's TSecr. */
export const tsEcrSack = (tsEcr: number): boolean => (tsEcr & TS_SACK) !== 0
