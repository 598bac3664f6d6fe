/**
 * Bounded byte ring used by the TCB for its send buffer (unacknowledged + unsent bytes) and its receive buffer
 * (in-order bytes not yet read by the application, plus out-of-order bytes parked at their final position).
 *
 * Invariants: `0 <= length <= capacity`; the readable bytes are `capacity`-modular positions
 * `head … head+length-1`. Bytes beyond `length` (up to `capacity`) may be written with {@link Ring.writeAt} without
 * becoming readable — the receive path stores out-of-order segments there and {@link Ring.commit}s them once the hole
 * before them is filled, so no byte is copied twice. Views returned by {@link Ring.peek} alias the ring's storage
 * and stay valid only until the ring is written again. The storage is allocated lazily, on the first write (10 000
 * idle connections with 256 KiB buffers would otherwise hold 5 GiB).
 *
 * @module
 */

const EMPTY = new Uint8Array(0)

/** A fixed-capacity byte ring with zero-copy peeks; its storage is allocated on the first write. */
export class Ring {
  /** Maximum number of bytes held. */
  readonly capacity: number
  private head = 0
  private len = 0
  private store: Uint8Array | undefined = undefined

  /** A ring of `capacity` bytes (capacity ≥ 1). No memory is taken until something is written. */
  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`Ring capacity must be >= 1, got ${capacity}`)
    this.capacity = capacity
  }

  /** Backing storage (length = capacity), allocated on first use: an idle connection's rings cost nothing. */
  get buf(): Uint8Array {
    const b = this.store
    if (b !== undefined) return b
    return (this.store = new Uint8Array(new ArrayBuffer(this.capacity)))
  }

  /** Whether the storage has been allocated. */
  get allocated(): boolean {
    return this.store !== undefined
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
    const cap = this.capacity
    let start = this.head + offset
    if (start >= cap) start -= cap
    if (start + n <= cap) return this.buf.subarray(start, start + n)
    const out = new Uint8Array(n)
    const first = cap - start
    out.set(this.buf.subarray(start, cap), 0)
    out.set(this.buf.subarray(0, n - first), first)
    return out
  }

  /** Copy up to `dst.length` readable bytes into `dst` and consume them; returns the count. */
  readInto(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.len)
    if (n === 0) return 0
    const cap = this.capacity
    const first = Math.min(n, cap - this.head)
    dst.set(this.buf.subarray(this.head, this.head + first), 0)
    if (first < n) dst.set(this.buf.subarray(0, n - first), first)
    this.discard(n)
    return n
  }

  /** Drop `n` readable bytes from the front. */
  discard(n: number): void {
    const k = Math.min(n, this.len)
    this.len -= k
    this.head += k
    if (this.head >= this.capacity) this.head -= this.capacity
  }

  /** Forget all bytes. */
  clear(): void {
    this.head = 0
    this.len = 0
  }

  /** Copy `n` bytes of `src` to ring position `pos` (past head), wrapping. */
  private copyIn(pos: number, src: Uint8Array, n: number): void {
    const cap = this.capacity
    let start = this.head + pos
    if (start >= cap) start -= cap
    const first = Math.min(n, cap - start)
    this.buf.set(first === src.length ? src : src.subarray(0, first), start)
    if (first < n) this.buf.set(src.subarray(first, n), 0)
  }
}
