/**
 * IPv4 fragment reassembly as a pure, synchronous core. Datagrams in progress are keyed by (source, destination,
 * protocol, identification); fragments are copied in (the frame they arrived in is read-only and short-lived) and
 * the whole datagram is assembled once every byte from 0 to the total length has arrived.
 *
 * Implements: RFC 791 §3.2 "Fragmentation and Reassembly" (key, offsets in 8-byte units, the last fragment gives
 * the total length, a reassembly timer per datagram), RFC 815 (hole accounting: with overlaps refused, the datagram
 * is complete exactly when the received byte count equals the total length), RFC 1122 §3.3.2 (a host MUST
 * reassemble, SHOULD bound the time; 30 s here, configurable), RFC 5722 in spirit for IPv4 (overlapping fragments
 * are an attack or a bug: the whole datagram is dropped; an exact duplicate of a fragment already held is ignored).
 *
 * Memory bounds: at most `maxBytes` of fragment payload held in total and at most `maxDatagrams` datagrams in
 * progress. When a new fragment would exceed either, the oldest datagrams are evicted first (counted); a datagram
 * whose total would exceed 65535 − 20 payload bytes is dropped.
 *
 * Invariants: `bytes` is always the sum of the payload lengths held; fragments of one datagram never overlap;
 * deadlines are set when a datagram's first fragment arrives and never move, so the oldest datagram (first in
 * `Map` insertion order) always has the earliest deadline.
 *
 * @module
 */
import type { Ipv4Address } from "../wire/Ipv4Address.ts"

/** Largest IPv4 payload: 65535 − the 20-byte minimum header. */
export const MAX_DATAGRAM_PAYLOAD = 65535 - 20

/** Options of {@link Reassembler}. */
export interface ReassemblyOptions {
  /** Most fragment payload bytes held at once (default 4 MiB). */
  readonly maxBytes: number
  /** Most datagrams in progress at once (default 256). */
  readonly maxDatagrams: number
  /** Milliseconds after its first fragment that an incomplete datagram is discarded (default 30 000). */
  readonly timeout: number
}

/** Default options: 4 MiB, 256 datagrams, 30 s. */
export const defaultReassemblyOptions: ReassemblyOptions = {
  maxBytes: 4 * 1024 * 1024,
  maxDatagrams: 256,
  timeout: 30_000,
}

/** One fragment as seen by the reassembler. `payload` is read-only and copied if kept. */
export interface Fragment {
  /** Source address. */
  readonly src: Ipv4Address
  /** Destination address. */
  readonly dst: Ipv4Address
  /** IP protocol number. */
  readonly protocol: number
  /** Identification field. */
  readonly identification: number
  /** Fragment offset in bytes. */
  readonly offset: number
  /** The MF flag. */
  readonly moreFragments: boolean
  /** The fragment's payload (trimmed to the total length). */
  readonly payload: Uint8Array
  /** The fragment's IP header bytes (kept from the first fragment, for ICMP quoting). */
  readonly header: Uint8Array
  /** The fragment's TTL. */
  readonly ttl: number
}

/** What happened to a fragment. */
export type ReassemblyResult =
  /** The datagram is complete: `payload` is a fresh buffer the caller owns; `header` is the first fragment's. */
  | {
    readonly _tag: "Complete"
    readonly payload: Uint8Array
    readonly header: Uint8Array
    readonly ttl: number
  }
  /** Held; more fragments are needed. */
  | { readonly _tag: "Pending" }
  /** An exact duplicate of a fragment already held; ignored. */
  | { readonly _tag: "Duplicate" }
  /** The fragment (and, for "Overlap"/"TooLarge"/"Inconsistent", its whole datagram) was dropped. */
  | { readonly _tag: "Dropped"; readonly reason: "Overlap" | "TooLarge" | "Inconsistent" | "Misaligned" | "NoRoom" }

/** Counters of the reassembler. */
export interface ReassemblyStats {
  /** Datagrams completed. */
  readonly reassembled: number
  /** Datagrams discarded because their timer ran out. */
  readonly timedOut: number
  /** Datagrams evicted to make room for newer fragments. */
  readonly evicted: number
  /** Datagrams dropped because of overlapping fragments. */
  readonly overlaps: number
  /** Fragments or datagrams dropped as malformed (too large, misaligned, inconsistent last fragment). */
  readonly malformed: number
  /** Exact duplicate fragments ignored. */
  readonly duplicates: number
}

interface Piece {
  readonly offset: number
  readonly data: Uint8Array
}

interface InProgress {
  readonly pieces: Array<Piece> // sorted by offset, never overlapping
  received: number
  total: number // -1 until the last fragment arrives
  header: Uint8Array | undefined // copy of the first fragment's header
  ttl: number
  readonly deadline: number
}

const keyOf = (f: Fragment): string => `${f.src}/${f.dst}/${f.protocol}/${f.identification}`

/** The reassembly buffer of one IPv4 interface. */
export class Reassembler {
  private readonly inProgress = new Map<string, InProgress>()
  private heldBytes = 0
  private readonly counters = { reassembled: 0, timedOut: 0, evicted: 0, overlaps: 0, malformed: 0, duplicates: 0 }
  /** Options this buffer was made with. */
  readonly options: ReassemblyOptions

  /** A new empty buffer. */
  constructor(options: Partial<ReassemblyOptions> = {}) {
    this.options = { ...defaultReassemblyOptions, ...options }
  }

  /** Payload bytes currently held. */
  get bytes(): number {
    return this.heldBytes
  }

  /** Datagrams currently in progress. */
  get size(): number {
    return this.inProgress.size
  }

  /** A snapshot of the counters. */
  stats(): ReassemblyStats {
    return { ...this.counters }
  }

  /** Sets the counters back to zero (the buffer itself is kept). */
  resetStats(): void {
    for (const k of Object.keys(this.counters) as Array<keyof typeof this.counters>) this.counters[k] = 0
  }

  /** The earliest deadline of the datagrams in progress, or `undefined` when none is. */
  nextDeadline(): number | undefined {
    for (const d of this.inProgress.values()) return d.deadline // insertion order = deadline order
    return undefined
  }

  /** Discards the datagrams whose timer ran out at `now`; returns how many. */
  expire(now: number): number {
    let n = 0
    for (const [k, d] of this.inProgress) {
      if (d.deadline > now) break
      this.discard(k, d)
      n++
    }
    this.counters.timedOut += n
    return n
  }

  /** Drops everything held. */
  clear(): void {
    this.inProgress.clear()
    this.heldBytes = 0
  }

  /** Adds one fragment received at `now`. */
  insert(f: Fragment, now: number): ReassemblyResult {
    const len = f.payload.length
    const end = f.offset + len
    if (f.moreFragments && (len === 0 || (len & 7) !== 0)) {
      // RFC 791: every fragment but the last carries a multiple of 8 bytes
      this.counters.malformed++
      return { _tag: "Dropped", reason: "Misaligned" }
    }
    const key = keyOf(f)
    let d = this.inProgress.get(key)
    if (end > MAX_DATAGRAM_PAYLOAD) {
      if (d !== undefined) this.discard(key, d)
      this.counters.malformed++
      return { _tag: "Dropped", reason: "TooLarge" }
    }
    if (d !== undefined) {
      // consistency with a known total length
      if (
        (d.total >= 0 && (end > d.total || (!f.moreFragments && end !== d.total))) ||
        (!f.moreFragments && d.total < 0 && d.pieces.length > 0 && d.pieces[d.pieces.length - 1].offset +
                d.pieces[d.pieces.length - 1].data.length > end)
      ) {
        this.discard(key, d)
        this.counters.malformed++
        return { _tag: "Dropped", reason: "Inconsistent" }
      }
    }
    // find the insertion point and check overlaps against the neighbours
    const pieces = d?.pieces
    let at = 0
    if (pieces !== undefined) {
      while (at < pieces.length && pieces[at].offset < f.offset) at++
      const prev = at > 0 ? pieces[at - 1] : undefined
      const next = at < pieces.length ? pieces[at] : undefined
      if (
        next !== undefined && next.offset === f.offset && next.data.length === len && sameBytes(next.data, f.payload)
      ) {
        this.counters.duplicates++
        return { _tag: "Duplicate" }
      }
      if (
        (prev !== undefined && prev.offset + prev.data.length > f.offset) || (next !== undefined && next.offset < end)
      ) {
        this.discard(key, d!)
        this.counters.overlaps++
        return { _tag: "Dropped", reason: "Overlap" }
      }
    }
    // room: evict the oldest datagrams (never the one being completed) until the fragment fits
    if (len > this.options.maxBytes) {
      if (d !== undefined) this.discard(key, d)
      this.counters.malformed++
      return { _tag: "Dropped", reason: "NoRoom" }
    }
    while (
      this.heldBytes + len > this.options.maxBytes ||
      (d === undefined && this.inProgress.size >= this.options.maxDatagrams)
    ) {
      const oldest = this.oldestOtherThan(key)
      if (oldest === undefined) break
      this.discard(oldest[0], oldest[1])
      this.counters.evicted++
    }
    if (
      this.heldBytes + len > this.options.maxBytes ||
      (d === undefined && this.inProgress.size >= this.options.maxDatagrams)
    ) {
      if (d !== undefined) this.discard(key, d)
      this.counters.malformed++
      return { _tag: "Dropped", reason: "NoRoom" }
    }
    if (d === undefined) {
      d = { pieces: [], received: 0, total: -1, header: undefined, ttl: f.ttl, deadline: now + this.options.timeout }
      this.inProgress.set(key, d)
    }
    d.pieces.splice(at, 0, { offset: f.offset, data: f.payload.slice() })
    d.received += len
    this.heldBytes += len
    if (!f.moreFragments) d.total = end
    if (f.offset === 0) {
      d.header = f.header.slice()
      d.ttl = f.ttl
    }
    if (d.total >= 0 && d.received === d.total && d.header !== undefined) {
      const payload = new Uint8Array(d.total)
      for (const p of d.pieces) payload.set(p.data, p.offset)
      const header = d.header
      const ttl = d.ttl
      this.discard(key, d)
      this.counters.reassembled++
      return { _tag: "Complete", payload, header, ttl }
    }
    return { _tag: "Pending" }
  }

  /** The oldest datagram in progress other than `key`. */
  private oldestOtherThan(key: string): [string, InProgress] | undefined {
    for (const entry of this.inProgress) if (entry[0] !== key) return entry
    return undefined
  }

  /** Forgets a datagram and its bytes. */
  private discard(key: string, d: InProgress): void {
    if (this.inProgress.delete(key)) this.heldBytes -= d.received
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
