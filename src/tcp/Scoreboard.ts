/**
 * Sender-side SACK scoreboard (RFC 6675 §3, RFC 2018 §5): the sequence ranges above SND.UNA that the peer reported
 * as received.
 *
 * Invariants: ranges are disjoint, non-touching, sorted in sequence order, and all lie within (SND.UNA, SND.MAX];
 * sequence comparisons are modular ({@link seqLt}), valid because every range is within one send window. The
 * scoreboard is advisory: after a retransmission timeout it is cleared (RFC 2018 §8, the peer may renege).
 *
 * @module
 */
import { seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from "./SeqNum.ts"

/** SACKed ranges of the send sequence space. */
export class Scoreboard {
  private readonly starts: number[] = []
  private readonly ends: number[] = []
  /** Bytes currently marked SACKed. */
  sacked = 0

  /** Number of disjoint SACKed ranges. */
  get rangeCount(): number {
    return this.starts.length
  }

  /** Start of range `i`. */
  startAt(i: number): number {
    return this.starts[i]
  }

  /** End (exclusive) of range `i`. */
  endAt(i: number): number {
    return this.ends[i]
  }

  /** Record `[left, right)` as SACKed, clipped to `(una, sndMax]`. Returns true when new bytes were marked. */
  add(left: number, right: number, una: number, sndMax: number): boolean {
    if (seqLe(right, una) || seqGt(right, sndMax) || seqGe(left, right)) return false
    if (seqLt(left, una)) left = una
    const starts = this.starts
    const ends = this.ends
    const n = starts.length
    let i = 0
    while (i < n && seqLt(ends[i], left)) i++
    let j = i
    while (j < n && seqLe(starts[j], right)) j++
    const before = this.sacked
    if (i === j) {
      starts.splice(i, 0, left)
      ends.splice(i, 0, right)
      this.sacked += seqSub(right, left)
      return true
    }
    let removed = 0
    for (let k = i; k < j; k++) removed += seqSub(ends[k], starts[k])
    const s = seqMin(left, starts[i])
    const e = seqMax(right, ends[j - 1])
    starts[i] = s
    ends[i] = e
    if (j - i > 1) {
      starts.splice(i + 1, j - i - 1)
      ends.splice(i + 1, j - i - 1)
    }
    this.sacked += seqSub(e, s) - removed
    return this.sacked !== before
  }

  /** SND.UNA advanced to `una`: drop or clip ranges below it. */
  prune(una: number): void {
    const starts = this.starts
    const ends = this.ends
    let k = 0
    while (k < starts.length && seqLe(ends[k], una)) {
      this.sacked -= seqSub(ends[k], starts[k])
      k++
    }
    if (k > 0) {
      starts.splice(0, k)
      ends.splice(0, k)
    }
    if (starts.length > 0 && seqLt(starts[0], una)) {
      this.sacked -= seqSub(una, starts[0])
      starts[0] = una
    }
  }

  /** Highest SACKed sequence number + 1, or `una` when nothing is SACKed. */
  highSacked(una: number): number {
    const n = this.ends.length
    return n === 0 ? una : this.ends[n - 1]
  }

  /** SACKed bytes within `[a, b)`. */
  sackedBetween(a: number, b: number): number {
    let n = 0
    for (let i = 0; i < this.starts.length; i++) {
      const s = seqMax(this.starts[i], a)
      const e = seqMin(this.ends[i], b)
      if (seqLt(s, e)) n += seqSub(e, s)
    }
    return n
  }

  /** Whether sequence number `seq` is SACKed. */
  isSacked(seq: number): boolean {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLe(this.starts[i], seq) && seqLt(seq, this.ends[i])) return true
    }
    return false
  }

  /** If `seq` is inside a SACKed range, the end of that range; otherwise `seq`. */
  skipSacked(seq: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLe(this.starts[i], seq) && seqLt(seq, this.ends[i])) return this.ends[i]
    }
    return seq
  }

  /**
   * First un-SACKed sequence number ≥ `from` and below the highest SACKed byte (a hole believed lost, RFC 6675
   * NextSeg rule 1), or -1 when none. {@link holeEnd} gives where that hole stops.
   */
  nextHole(from: number): number {
    const n = this.starts.length
    if (n === 0) return -1
    let p = from
    for (let i = 0; i < n; i++) {
      if (seqLt(p, this.starts[i])) return p
      if (seqLt(p, this.ends[i])) p = this.ends[i]
    }
    return -1
  }

  /** End (exclusive) of the hole starting at `seq` (the start of the next SACKed range above it). */
  holeEnd(seq: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqGt(this.starts[i], seq)) return this.starts[i]
    }
    return seq
  }

  /** Forget everything (after an RTO). */
  clear(): void {
    this.starts.length = 0
    this.ends.length = 0
    this.sacked = 0
  }
}
