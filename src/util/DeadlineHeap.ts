/**
 * A binary min-heap of deadlines for one timer fiber serving many items (TCP connections today; ARP entries,
 * reassembly buffers or a shaper's queues fit the same shape). Plain TypeScript, no Effect: the owner asks for the
 * earliest deadline, sleeps until then, and pops the items that are due.
 *
 * Each item has at most one entry, whose deadline and position the item itself records ({@link Scheduled.scheduledAt},
 * {@link Scheduled.heapIndex}; both owned by the heap: the item's code never writes them), so an item is in one heap
 * at a time and the heap never holds more entries than items with a timer:
 *
 * - a deadline that moves **earlier** moves the item's entry up ({@link DeadlineHeap.schedule}, O(log n));
 * - a deadline that moves **later** (or goes away) changes nothing, O(1): when the entry comes due,
 *   {@link DeadlineHeap.pop} hands the item back and the owner, seeing it is not due after all, schedules it again
 *   under its new deadline (or not at all);
 * - an item that is done (a closed connection) is taken out at once with {@link DeadlineHeap.cancel}, O(log n), so
 *   the heap keeps no reference to it: an entry left until its deadline would keep the item, and everything it
 *   holds, alive for as long as the longest timer (a TCP connection reset in FIN-WAIT-2 would stay for the
 *   30 s of its FIN-WAIT-2 timeout, its buffers with it).
 *
 * So a wake-up costs O(log n) per due item, never a scan of all items: 10 000 idle connections do not slow down the
 * timers of a busy one. Deadlines are numbers (milliseconds in every current use); `Infinity` means "none".
 *
 * @module
 */

/** An item the heap can schedule: it carries the deadline and the position of its entry. */
export interface Scheduled {
  /** Deadline of this item's entry in its heap (`Infinity`: none). Owned by the heap; start it at `Infinity`. */
  scheduledAt: number
  /** Position of this item's entry in its heap (`-1`: none). Owned by the heap; start it at `-1`. */
  heapIndex: number
}

/** A min-heap of deadlines with at most one entry per item (see the module docs). */
export class DeadlineHeap<T extends Scheduled> {
  // parallel arrays ordered by deadline: no entry objects to allocate
  private readonly at: Array<number> = []
  private readonly items: Array<T> = []

  /** Entries held now: the items that have a timer. */
  get size(): number {
    return this.at.length
  }

  /**
   * Makes the heap know that `item` is due at `deadline` if that is earlier than its entry (a later deadline is
   * noticed when the entry comes due). Returns true when the item's deadline moved earlier (or it had none).
   */
  schedule(item: T, deadline: number): boolean {
    if (!(deadline < item.scheduledAt)) return false
    item.scheduledAt = deadline
    const i = item.heapIndex
    if (i >= 0) {
      this.at[i] = deadline
      this.siftUp(i, deadline, item)
    } else {
      this.at.push(deadline)
      this.items.push(item)
      this.siftUp(this.at.length - 1, deadline, item)
    }
    return true
  }

  /** Takes `item`'s entry out of the heap, if it has one: `pop` will not return it until it is scheduled again. */
  cancel(item: T): void {
    const i = item.heapIndex
    item.scheduledAt = Infinity
    item.heapIndex = -1
    if (i < 0) return
    const at = this.at
    const items = this.items
    const lastAt = at.pop() as number
    const lastItem = items.pop() as T
    if (i === at.length) return // it was the last entry
    // put the last entry in the hole and restore the order from there (up or down)
    if (i > 0 && lastAt < at[(i - 1) >> 1]) this.siftUp(i, lastAt, lastItem)
    else this.siftDown(i, lastAt, lastItem)
  }

  /** The earliest deadline (`Infinity` when there is none). */
  earliest(): number {
    return this.at.length > 0 ? this.at[0] : Infinity
  }

  /**
   * The next item whose entry is due at `now` (deadline ≤ `now`), or undefined. The entry is removed and the item has
   * none any more (`scheduledAt` is `Infinity`): schedule it again if it still needs a timer.
   */
  pop(now: number): T | undefined {
    const at = this.at
    if (at.length === 0 || at[0] > now) return undefined
    const item = this.items[0]
    this.cancel(item)
    return item
  }

  /** Drops every entry; the items that had one get `scheduledAt = Infinity` and `heapIndex = -1`. */
  clear(): void {
    for (let i = 0; i < this.items.length; i++) {
      this.items[i].scheduledAt = Infinity
      this.items[i].heapIndex = -1
    }
    this.at.length = 0
    this.items.length = 0
  }

  /** Places the entry (`deadline`, `item`) at `i` or above it, moving larger parents down. */
  private siftUp(i: number, deadline: number, item: T): void {
    const at = this.at
    const items = this.items
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (at[parent] <= deadline) break
      at[i] = at[parent]
      items[i] = items[parent]
      items[i].heapIndex = i
      i = parent
    }
    at[i] = deadline
    items[i] = item
    item.heapIndex = i
  }

  /** Places the entry (`deadline`, `item`) at `i` or below it, moving smaller children up. */
  private siftDown(i: number, deadline: number, item: T): void {
    const at = this.at
    const items = this.items
    const n = at.length
    while (true) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const m = r < n && at[r] < at[l] ? r : l
      if (at[m] >= deadline) break
      at[i] = at[m]
      items[i] = items[m]
      items[i].heapIndex = i
      i = m
    }
    at[i] = deadline
    items[i] = item
    item.heapIndex = i
  }
}
