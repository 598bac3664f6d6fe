/**
 * Bounded byte ring used by the TCB for its send buffer (unacknowledged + unsent bytes) and its receive buffer
 * (in-order bytes not yet read by the application, plus out-of-order bytes parked at their final position).
 *
 * Invariants: `0 <= length <= capacity`; the readable bytes are the storage-modular positions `head … head+length-1`.
 * Bytes beyond `length` (up to `capacity`) may be written with {@link Ring.writeAt} without
 * becoming readable — the receive path stores out-of-order segments there and {@link Ring.commit}s them once the hole
 * before them is filled, so no byte is copied twice. Views returned by {@link Ring.peek} alias the ring's storage
 * and stay valid only until the ring is written again. The storage is allocated lazily, on the first write, and grows
 * (doubling, up to `capacity`) only when the bytes held need it: an idle connection holds no buffer at all, and a
 * connection whose reader keeps up holds a few KiB instead of its full window (10 000 idle connections with 256 KiB
 * buffers would otherwise hold 5 GiB; 1000 busy ones 512 MiB).
 *
 * @module
 */

const EMPTY = new Uint8Array(0)

/** Smallest storage a ring allocates (bytes), unless its capacity is smaller. */
export const RING_MIN_STORAGE = 4096

/**
 * A bounded byte ring with zero-copy peeks. Its storage is allocated on the first write and grows, by doubling up to
 * `capacity`, when the bytes it holds (readable plus parked) need more room; growing keeps every byte at its logical
 * position.
 */
export class Ring {
  /** Maximum number of bytes held. */
  readonly capacity: number
  private head = 0
  private len = 0
  /** Bytes written past the readable end (parked by {@link writeAt}) reach at most this offset from `head`. */
  private high = 0
  private store: Uint8Array = EMPTY
  private size = 0

  /** A ring of `capacity` bytes (capacity ≥ 1). No memory is taken until something is written. */
  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`Ring capacity must be >= 1, got ${capacity}`)
    this.capacity = capacity
  }

  /** Current backing storage (its length is the storage size, ≤ capacity; empty until the first write). */
  get buf(): Uint8Array {
    return this.store
  }

  /** Whether storage has been allocated. */
  get allocated(): boolean {
    return this.size > 0
  }

  /** Bytes of storage currently allocated (0 … capacity). */
  get storage(): number {
    return this.size
  }

  /** Number of readable bytes. */
  get length(): number {
    return this.len
  }

  /** Free space (`capacity - length`). */
  get free(): number {
    return this.capacity - this.len
  }

  /** Append as many bytes of `src` as fit; returns how many were copied. */
  push(src: Uint8Array): number {
    const n = Math.min(src.length, this.capacity - this.len)
    if (n > 0) {
      this.copyIn(this.len, src, n)
      this.len += n
    }
    return n
  }

  /** Write `src` at `offset` bytes past the readable end without committing it (clipped to capacity); returns bytes written. */
  writeAt(offset: number, src: Uint8Array): number {
    const n = Math.min(src.length, this.capacity - this.len - offset)
    if (n > 0) this.copyIn(this.len + offset, src, n)
    return n > 0 ? n : 0
  }

  /** Make `n` bytes previously stored by {@link writeAt} at offset 0… readable. */
  commit(n: number): void {
    this.len = Math.min(this.capacity, this.len + n)
  }

  /**
   * The readable bytes `offset … offset+n-1` as one view. Zero-copy when the range does not wrap; when it wraps the
   * two pieces are copied into a fresh array (once per lap of the ring).
   */
  peek(offset: number, n: number): Uint8Array {
    if (n <= 0) return EMPTY
    const cap = this.size
    let start = this.head + offset
    if (start >= cap) start -= cap
    if (start + n <= cap) return this.store.subarray(start, start + n)
    const out = new Uint8Array(n)
    const first = cap - start
    out.set(this.store.subarray(start, cap), 0)
    out.set(this.store.subarray(0, n - first), first)
    return out
  }

  /** Copy up to `dst.length` readable bytes into `dst` and consume them; returns the count. */
  readInto(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.len)
    if (n === 0) return 0
    const cap = this.size
    const first = Math.min(n, cap - this.head)
    dst.set(this.store.subarray(this.head, this.head + first), 0)
    if (first < n) dst.set(this.store.subarray(0, n - first), first)
    this.discard(n)
    return n
  }

  /** Drop `n` readable bytes from the front. */
  discard(n: number): void {
    const k = Math.min(n, this.len)
    this.len -= k
    this.high = this.high > k ? this.high - k : 0
    if (this.len === 0 && this.high === 0) {
      this.head = 0 // empty: restart at 0 so the next bytes are contiguous (fewer wrapped peeks)
      return
    }
    this.head += k
    if (this.head >= this.size) this.head -= this.size
  }

  /** Forget all bytes. */
  clear(): void {
    this.head = 0
    this.len = 0
    this.high = 0
  }

  /** Copy `n` bytes of `src` to logical position `pos` (past head), growing the storage if needed, wrapping. */
  private copyIn(pos: number, src: Uint8Array, n: number): void {
    const end = pos + n
    if (end > this.size) this.grow(end)
    if (end > this.high) this.high = end
    const cap = this.size
    let start = this.head + pos
    if (start >= cap) start -= cap
    const first = Math.min(n, cap - start)
    this.store.set(first === src.length ? src : src.subarray(0, first), start)
    if (first < n) this.store.set(src.subarray(first, n), 0)
  }

  /** Grow the storage to hold logical positions `0 … need-1`, keeping the bytes held at their logical positions. */
  private grow(need: number): void {
    let size = Math.max(this.size * 2, Math.min(RING_MIN_STORAGE, this.capacity))
    while (size < need) size *= 2
    if (size > this.capacity) size = this.capacity
    const next = new Uint8Array(new ArrayBuffer(size))
    const keep = this.high
    if (keep > 0) {
      const old = this.store
      const first = Math.min(keep, this.size - this.head)
      next.set(old.subarray(this.head, this.head + first), 0)
      if (first < keep) next.set(old.subarray(0, keep - first), first)
    }
    this.store = next
    this.size = size
    this.head = 0
  }
}
