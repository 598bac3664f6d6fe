/**
 * A binary min-heap of deadlines for one timer fiber serving many items (TCP connections today; ARP entries,
 * reassembly buffers or a shaper's queues fit the same shape). Plain TypeScript, no Effect: the owner asks for the
 * earliest deadline, sleeps until then, and pops the items that are due.
 *
 * Each item has at most one **live** entry, whose deadline the item itself records in {@link Scheduled.scheduledAt}
 * (owned by the heap: the item's code never writes it). Changes are lazy, so the hot path costs O(1) for the common
 * moves and O(log n) otherwise:
 *
 * - a deadline that moves **earlier** pushes a new entry ({@link DeadlineHeap.schedule}); the old one is now stale
 *   (its deadline differs from `scheduledAt`) and is skipped when it reaches the top;
 * - a deadline that moves **later** (or goes away) changes nothing: when the old entry comes due, {@link
 *   DeadlineHeap.pop} hands the item back and the owner, seeing it is not due after all, schedules it again under its
 *   new deadline (or not at all).
 *
 * So a wake-up costs O(log n) per due item, never a scan of all items: 10 000 idle connections do not slow down the
 * timers of a busy one. Deadlines are numbers (milliseconds in every current use); `Infinity` means "none".
 *
 * @module
 */

/** An item the heap can schedule: it carries the deadline of its live entry. */
export interface Scheduled {
  /** Deadline of this item's live entry in its heap (`Infinity`: none). Owned by the heap; start it at `Infinity`. */
  scheduledAt: number
}

/** A min-heap of deadlines with at most one live entry per item (see the module docs). */
export class DeadlineHeap<T extends Scheduled> {
  // parallel arrays ordered by deadline: no entry objects to allocate
  private readonly at: Array<number> = []
  private readonly items: Array<T> = []

  /** Entries held now, stale ones included. */
  get size(): number {
    return this.at.length
  }

  /**
   * Makes the heap know that `item` is due at `deadline` if that is earlier than its live entry (a later deadline is
   * noticed when the live entry comes due). Returns true when a new entry was pushed.
   */
  schedule(item: T, deadline: number): boolean {
    if (!(deadline < item.scheduledAt)) return false
    item.scheduledAt = deadline
    this.push(deadline, item)
    return true
  }

  /** Forgets `item`'s live entry (it becomes stale): `pop` will not return the item until it is scheduled again. */
  cancel(item: T): void {
    item.scheduledAt = Infinity
  }

  /** The earliest live deadline (`Infinity` when there is none); stale entries at the top are dropped. */
  earliest(): number {
    const at = this.at
    const items = this.items
    while (at.length > 0 && at[0] !== items[0].scheduledAt) this.removeTop()
    return at.length > 0 ? at[0] : Infinity
  }

  /**
   * The next item whose live entry is due at `now` (deadline ≤ `now`), or undefined. The entry is removed and the
   * item has no live entry any more (`scheduledAt` is `Infinity`): schedule it again if it still needs a timer.
   */
  pop(now: number): T | undefined {
    const at = this.at
    const items = this.items
    while (at.length > 0 && at[0] <= now) {
      const deadline = at[0]
      const item = items[0]
      this.removeTop()
      if (deadline !== item.scheduledAt) continue // stale: the deadline moved earlier and has its own entry
      item.scheduledAt = Infinity
      return item
    }
    return undefined
  }

  /** Drops every entry; the items that had a live one get `scheduledAt = Infinity`. */
  clear(): void {
    for (let i = 0; i < this.items.length; i++) this.items[i].scheduledAt = Infinity
    this.at.length = 0
    this.items.length = 0
  }

  private push(deadline: number, item: T): void {
    const at = this.at
    const items = this.items
    let i = at.length
    at.push(deadline)
    items.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (at[parent] <= deadline) break
      at[i] = at[parent]
      items[i] = items[parent]
      i = parent
    }
    at[i] = deadline
    items[i] = item
  }

  /** Removes the top entry (the heap must not be empty). */
  private removeTop(): void {
    const at = this.at
    const items = this.items
    const lastAt = at.pop() as number
    const lastItem = items.pop() as T
    const n = at.length
    if (n === 0) return
    let i = 0
    while (true) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const m = r < n && at[r] < at[l] ? r : l
      if (at[m] >= lastAt) break
      at[i] = at[m]
      items[i] = items[m]
      i = m
    }
    at[i] = lastAt
    items[i] = lastItem
  }
}
