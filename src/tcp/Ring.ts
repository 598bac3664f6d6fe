/**
 * Bounded byte ring used by the TCB for its send buffer (unacknowledged + unsent bytes) and its receive buffer
 * (in-order bytes not yet read by the application; out-of-order bytes live in the {@link Assembler} until the hole
 * before them is filled).
 *
 * Invariants: `0 <= length <= storage <= capacity`; the readable bytes are the storage-modular positions
 * `head … head+length-1`. Views returned by {@link Ring.peek} alias the ring's storage and stay valid only until the
 * ring is written again.
 *
 * Storage by need: nothing is allocated until the first write; the storage then grows, doubling up to `capacity`, only
 * when the bytes held need it, so an idle connection holds no buffer at all and a connection whose reader keeps up
 * holds a few KiB instead of its full window (10 000 idle connections with 256 KiB buffers would otherwise hold
 * 5 GiB; 1000 busy ones 512 MiB). A drained ring gives its storage back with {@link Ring.release} (the TCB decides
 * when: if it is still empty a delay after draining, or at once under memory pressure, so a busy ring is not freed
 * and regrown per burst).
 *
 * With a {@link TcpMemory} budget every byte of storage is charged to it when allocated and released when freed;
 * growth never passes the budget's limit: a ring that cannot double grows as far as the budget allows, and a
 * {@link Ring.push} takes only the bytes that fit ({@link Ring.room} says how many beforehand).
 *
 * @module
 */
import { RING_MIN_STORAGE, type TcpMemory } from "./Memory.ts"

export { RING_MIN_STORAGE }

const EMPTY = new Uint8Array(0)

/**
 * A bounded byte ring with zero-copy peeks. Its storage is allocated on the first write and grows, by doubling up to
 * `capacity` (or as far as the memory budget allows), when the bytes it holds need more room.
 */
export class Ring {
  /** Maximum number of bytes held. */
  readonly capacity: number
  private head = 0
  private len = 0
  private store: Uint8Array = EMPTY
  private size = 0
  private readonly memory: TcpMemory | undefined
  private readonly send: boolean

  /**
   * A ring of `capacity` bytes (capacity ≥ 1) charging its storage to `memory`, as a send buffer when `send` (the
   * budget keeps each direction's share). No memory is taken until written.
   */
  constructor(capacity: number, memory?: TcpMemory, send: boolean = false) {
    if (!(capacity >= 1)) throw new RangeError(`Ring capacity must be >= 1, got ${capacity}`)
    this.capacity = capacity
    this.memory = memory
    this.send = send
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

  /** Free space (`capacity - length`), whatever the memory budget. */
  get free(): number {
    return this.capacity - this.len
  }

  /** Bytes {@link push} would take now: the free space, less what the memory budget does not allow to allocate. */
  get room(): number {
    const free = this.capacity - this.len
    const m = this.memory
    if (m === undefined) return free
    const r = this.size + (this.send ? m.writeAvailable : m.available) - this.len
    return r < free ? (r > 0 ? r : 0) : free
  }

  /** Append as many bytes of `src` as fit (capacity and memory budget); returns how many were copied. */
  push(src: Uint8Array): number {
    let n = Math.min(src.length, this.capacity - this.len)
    if (n <= 0) return 0
    const end = this.len + n
    if (end > this.size) {
      this.grow(end)
      if (end > this.size) n = this.size - this.len
      if (n <= 0) return 0
    }
    const cap = this.size
    let start = this.head + this.len
    if (start >= cap) start -= cap
    const first = Math.min(n, cap - start)
    this.store.set(first === src.length ? src : src.subarray(0, first), start)
    if (first < n) this.store.set(src.subarray(first, n), 0)
    this.len += n
    return n
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
    if (this.len === 0) {
      this.head = 0 // empty: restart at 0 so the next bytes are contiguous (fewer wrapped peeks)
      return
    }
    this.head += k
    if (this.head >= this.size) this.head -= this.size
  }

  /** Forget all bytes (the storage is kept). */
  clear(): void {
    this.head = 0
    this.len = 0
  }

  /** Gives the storage back (to the memory budget) if the ring is empty; returns the bytes freed. */
  release(): number {
    if (this.len > 0 || this.size === 0) return 0
    return this.freeStorage()
  }

  /** Forgets all bytes and gives the storage back; returns the bytes freed. */
  dispose(): number {
    this.head = 0
    this.len = 0
    return this.size === 0 ? 0 : this.freeStorage()
  }

  private freeStorage(): number {
    const n = this.size
    this.store = EMPTY
    this.size = 0
    this.head = 0
    if (this.memory !== undefined) this.memory.release(n, this.send)
    return n
  }

  /**
   * Grow the storage towards `need` bytes (doubling, at most `capacity`), keeping the bytes at their logical
   * positions. With a memory budget that cannot pay for the doubling, grows as far as it can (maybe not at all).
   */
  private grow(need: number): void {
    let size = Math.max(this.size * 2, Math.min(RING_MIN_STORAGE, this.capacity))
    while (size < need) size *= 2
    if (size > this.capacity) size = this.capacity
    const m = this.memory
    if (m !== undefined) {
      const affordable = this.size + (this.send ? m.writeAvailable : m.available)
      if (size > affordable) {
        if (affordable < need) {
          m.refused()
          size = affordable
        } else size = need
        if (size <= this.size) return
      }
      m.charge(size - this.size, this.send)
    }
    const next = new Uint8Array(new ArrayBuffer(size))
    const keep = this.len
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
