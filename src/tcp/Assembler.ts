/**
 * Out-of-order receive assembler (RFC 9293 §3.10.7.4 "seventh", RFC 2018 §4 SACK block generation).
 *
 * The assembler keeps only *metadata*: the set of byte ranges received beyond the contiguous left edge, as absolute
 * stream offsets (plain numbers counting bytes since the start of the stream, so they never wrap — 2^53 bytes is
 * beyond any connection's life). The bytes themselves are written by the TCB straight into the receive {@link Ring}
 * at their final position, so an out-of-order byte is copied once, like an in-order one.
 *
 * Invariants:
 * - ranges are disjoint, non-adjacent (touching ranges are merged) and sorted by start;
 * - at most `maxRanges` ranges ("holes") are tracked: a segment that would need one more is rejected and the peer
 *   retransmits it later. The byte bound is the receive buffer (the TCB never stores past its free space);
 * - each range carries a recency stamp; a range created or extended by the latest segment is the most recent.
 *
 * Overlap rule: because bytes live in the ring, a later segment overwriting parked out-of-order bytes wins
 * ("last writer wins" for bytes beyond the left edge); bytes already delivered in order are never rewritten (the TCB
 * trims segments to the window first). Well-behaved peers retransmit identical bytes, so the rule only matters
 * against a broken or hostile peer, and it is applied consistently.
 *
 * @module
 */

/** Tracks received byte ranges beyond the contiguous edge and produces SACK blocks. */
export class Assembler {
  /** Maximum number of disjoint ranges held. */
  readonly maxRanges: number
  private readonly starts: number[] = []
  private readonly ends: number[] = []
  private readonly stamps: number[] = []
  private clock = 0

  /** An empty assembler tracking at most `maxRanges` disjoint ranges. */
  constructor(maxRanges: number = 32) {
    this.maxRanges = Math.max(1, maxRanges)
  }

  /** Number of disjoint ranges held. */
  get rangeCount(): number {
    return this.starts.length
  }

  /** True when nothing is held. */
  get isEmpty(): boolean {
    return this.starts.length === 0
  }

  /** Total bytes held in ranges. */
  get bufferedBytes(): number {
    let n = 0
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i] - this.starts[i]
    return n
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
   * Record bytes `[start, end)` as received. Overlapping or touching ranges are merged. Returns false (and changes
   * nothing) when the range is new and would exceed `maxRanges`.
   */
  add(start: number, end: number): boolean {
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
    const stamp = ++this.clock
    if (i === j) {
      if (n >= this.maxRanges) return false
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
   * The left edge moved to `edge` (bytes before it are delivered). Drops ranges now covered and, if a range starts
   * at or before `edge`, consumes it. Returns the new contiguous edge (≥ `edge`).
   */
  advance(edge: number): number {
    const starts = this.starts
    let k = 0
    while (k < starts.length && starts[k] <= edge) {
      if (this.ends[k] > edge) edge = this.ends[k]
      k++
    }
    if (k > 0) {
      starts.splice(0, k)
      this.ends.splice(0, k)
      this.stamps.splice(0, k)
    }
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
    const used: number[] = []
    const k = Math.min(max, n)
    for (let b = 0; b < k; b++) {
      let best = -1
      for (let i = 0; i < n; i++) {
        if (used.includes(i)) continue
        if (best < 0 || this.stamps[i] > this.stamps[best]) best = i
      }
      used.push(best)
      out.push(this.starts[best], this.ends[best])
    }
    return k
  }

  /** Forget every range. */
  clear(): void {
    this.starts.length = 0
    this.ends.length = 0
    this.stamps.length = 0
  }
}
