/**
 * Out-of-order receive storage (RFC 9293 §3.10.7.4 "seventh": segments beyond RCV.NXT are held until the hole before
 * them is filled) and SACK block generation (RFC 2018 §4).
 *
 * Storage by need: the bytes of each out-of-order segment are copied into a piece of their own size, so what a
 * connection holds is proportional to what it received — one byte far out in the window costs that byte plus
 * {@link OOO_PIECE_OVERHEAD}, not a buffer reaching that far. Positions are absolute stream offsets (plain numbers
 * counting bytes since the start of the stream, so they never wrap — 2^53 bytes is beyond any connection's life).
 * When the left edge reaches a piece, {@link Assembler.advance} moves its bytes into the receive {@link Ring} in
 * order (the piece's memory is released before the ring grows, so the move never needs more memory than it frees).
 *
 * Invariants:
 * - ranges are disjoint, non-adjacent (touching ranges are merged) and sorted by start; pieces are disjoint, sorted,
 *   and cover exactly the ranges — so a SACK block never reports a byte that is not held;
 * - at most `maxRanges` ranges ("holes") are tracked, and at most `maxBytes` bytes are held, counting
 *   {@link OOO_PIECE_OVERHEAD} per piece; with a {@link TcpMemory}, every piece is also charged to the stack's budget
 *   (refused under memory pressure or past the stack's out-of-order limit). A segment that would pass a bound is not
 *   stored at all (the caller counts it; the peer retransmits it);
 * - each range carries a recency stamp; a range created or extended by the latest segment is the most recent.
 *
 * Overlap rule: only the bytes of a segment not already held are stored (first writer wins among out-of-order
 * bytes), and in-order bytes win over held ones (the TCB stores the in-order segment, then {@link Assembler.advance}
 * skips what it covered). Well-behaved peers retransmit identical bytes, so the rule only matters against a broken
 * or hostile peer, and it is applied consistently.
 *
 * @module
 */
import type { TcpMemory } from "./Memory.ts"
import type { Ring } from "./Ring.ts"

/** Bytes accounted per stored piece beyond its payload (the typed array and its buffer). */
export const OOO_PIECE_OVERHEAD = 64

/** Tracks received byte ranges beyond the contiguous edge, holds their bytes, and produces SACK blocks. */
export class Assembler {
  /** Maximum number of disjoint ranges held. */
  readonly maxRanges: number
  /** Maximum bytes held, payload plus {@link OOO_PIECE_OVERHEAD} per piece. */
  readonly maxBytes: number
  private readonly memory: TcpMemory | undefined
  private readonly starts: number[] = []
  private readonly ends: number[] = []
  private readonly stamps: number[] = []
  private readonly pieceStarts: number[] = []
  private readonly pieces: Uint8Array[] = []
  private clock = 0
  private held = 0
  private charged = 0

  /**
   * An empty assembler tracking at most `maxRanges` disjoint ranges and `maxBytes` bytes (with overhead), charging
   * its pieces to `memory` when given.
   */
  constructor(maxRanges: number = 32, maxBytes: number = Infinity, memory?: TcpMemory) {
    this.maxRanges = Math.max(1, maxRanges)
    this.maxBytes = maxBytes
    this.memory = memory
  }

  /** Number of disjoint ranges held. */
  get rangeCount(): number {
    return this.starts.length
  }

  /** True when nothing is held. */
  get isEmpty(): boolean {
    return this.starts.length === 0
  }

  /** Payload bytes held. */
  get bufferedBytes(): number {
    return this.held
  }

  /** Bytes of memory held: payload plus {@link OOO_PIECE_OVERHEAD} per piece. */
  get memoryBytes(): number {
    return this.charged
  }

  /** Number of pieces (stored segment parts) held. */
  get pieceCount(): number {
    return this.pieces.length
  }

  /** Start offset of range `i` (sorted order). */
  startAt(i: number): number {
    return this.starts[i]
  }

  /** End offset (exclusive) of range `i` (sorted order). */
  endAt(i: number): number {
    return this.ends[i]
  }

  /**
   * Store `data` received at stream offset `start`: the parts not already held are copied, and the range is merged
   * with those it overlaps or touches. Returns false (and changes nothing) when the segment would need one range
   * more than `maxRanges`, or its new bytes would pass `maxBytes` or the memory budget. Bytes already held count as
   * stored (true), and their range becomes the most recent.
   */
  add(start: number, data: Uint8Array): boolean {
    const end = start + data.length
    if (end <= start) return true
    const starts = this.starts
    const ends = this.ends
    const n = starts.length
    // first range whose end >= start (can merge or lies after)
    let i = 0
    while (i < n && ends[i] < start) i++
    // ranges i..j-1 overlap or touch [start, end)
    let j = i
    while (j < n && starts[j] <= end) j++
    if (i === j && n >= this.maxRanges) return false
    // the gaps of [start, end) that no range covers: what must be stored
    let cost = 0
    let pos = start
    for (let k = i; k < j; k++) {
      const gapEnd = starts[k] < end ? starts[k] : end
      if (gapEnd > pos) cost += gapEnd - pos + OOO_PIECE_OVERHEAD
      if (ends[k] > pos) pos = ends[k]
    }
    if (pos < end) cost += end - pos + OOO_PIECE_OVERHEAD
    if (cost > 0) {
      if (this.charged + cost > this.maxBytes) return false
      if (this.memory !== undefined && !this.memory.chargeOutOfOrder(cost)) return false
      this.charged += cost
      pos = start
      for (let k = i; k < j; k++) {
        const gapEnd = starts[k] < end ? starts[k] : end
        if (gapEnd > pos) this.store(pos, data.subarray(pos - start, gapEnd - start))
        if (ends[k] > pos) pos = ends[k]
      }
      if (pos < end) this.store(pos, data.subarray(pos - start))
    }
    const stamp = ++this.clock
    if (i === j) {
      starts.splice(i, 0, start)
      ends.splice(i, 0, end)
      this.stamps.splice(i, 0, stamp)
      return true
    }
    const s = Math.min(start, starts[i])
    const e = Math.max(end, ends[j - 1])
    starts[i] = s
    ends[i] = e
    this.stamps[i] = stamp
    if (j - i > 1) {
      starts.splice(i + 1, j - i - 1)
      ends.splice(i + 1, j - i - 1)
      this.stamps.splice(i + 1, j - i - 1)
    }
    return true
  }

  /**
   * The left edge moved to `edge` (bytes before it are in the ring). Bytes held from `edge` on, contiguously, are
   * pushed into `ring` in order and forgotten; pieces now covered are dropped. Returns the new contiguous edge
   * (≥ `edge`).
   */
  advance(edge: number, ring: Ring): number {
    const ps = this.pieceStarts
    const pd = this.pieces
    if (ps.length === 0 || ps[0] > edge) return edge
    let k = 0
    while (k < ps.length && ps[k] <= edge) {
      const s = ps[k]
      const b = pd[k]
      const e = s + b.length
      this.drop(b.length)
      if (e > edge) {
        const part = edge === s ? b : b.subarray(edge - s)
        const pushed = ring.push(part)
        if (pushed < part.length) {
          // cannot happen (the window kept room for these bytes, and releasing the piece paid for the ring's
          // growth); should it, the rest stays held rather than being lost after it was SACKed
          const rest = part.slice(pushed)
          pd[k] = rest
          ps[k] = edge + pushed
          this.held += rest.length
          this.charged += rest.length + OOO_PIECE_OVERHEAD
          this.memory?.chargeOutOfOrder(rest.length + OOO_PIECE_OVERHEAD, true)
          edge += pushed
          break
        }
        edge = e
      }
      k++
    }
    if (k > 0) {
      ps.splice(0, k)
      pd.splice(0, k)
    }
    const starts = this.starts
    let r = 0
    while (r < starts.length && this.ends[r] <= edge) r++
    if (r > 0) {
      starts.splice(0, r)
      this.ends.splice(0, r)
      this.stamps.splice(0, r)
    }
    if (starts.length > 0 && starts[0] < edge) starts[0] = edge
    return edge
  }

  /**
   * Write up to `max` SACK blocks as `[start0, end0, start1, end1, …]` stream offsets into `out` (cleared first),
   * most recently changed range first (RFC 2018 §4). Returns the number of blocks.
   */
  sackBlocks(out: number[], max: number): number {
    out.length = 0
    const n = this.starts.length
    if (n === 0 || max <= 0) return 0
    const k = Math.min(max, n)
    let above = Infinity // stamps are unique: each block is the most recent range older than the previous one
    for (let b = 0; b < k; b++) {
      let best = -1
      for (let i = 0; i < n; i++) {
        const st = this.stamps[i]
        if (st < above && (best < 0 || st > this.stamps[best])) best = i
      }
      above = this.stamps[best]
      out.push(this.starts[best], this.ends[best])
    }
    return k
  }

  /** Forget every range and give back the memory of every piece. */
  clear(): void {
    this.starts.length = 0
    this.ends.length = 0
    this.stamps.length = 0
    this.pieceStarts.length = 0
    this.pieces.length = 0
    this.held = 0
    const c = this.charged
    this.charged = 0
    if (c > 0 && this.memory !== undefined) this.memory.releaseOutOfOrder(c)
  }

  /** Copies `bytes` (received at `at`, not held yet) into a new piece at its sorted position. */
  private store(at: number, bytes: Uint8Array): void {
    const ps = this.pieceStarts
    let lo = 0
    let hi = ps.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (ps[mid] < at) lo = mid + 1
      else hi = mid
    }
    ps.splice(lo, 0, at)
    this.pieces.splice(lo, 0, bytes.slice())
    this.held += bytes.length
  }

  /** Forgets a piece of `len` payload bytes: its memory goes back to the budget. */
  private drop(len: number): void {
    this.held -= len
    this.charged -= len + OOO_PIECE_OVERHEAD
    if (this.memory !== undefined) this.memory.releaseOutOfOrder(len + OOO_PIECE_OVERHEAD)
  }
}
