/**
 * The stack-wide budget of TCP buffer memory, Linux's `tcp_mem` for one stack: every byte of storage that the
 * connections of a stack allocate for data — send rings, receive rings ({@link Ring}) and out-of-order storage
 * ({@link Assembler}) — is charged here when it is allocated and released when it is freed, so `used` is the memory
 * the stack's TCP data holds now (not an estimate from the windows).
 *
 * Three regimes, decided at each allocation (plain arithmetic, no Effect):
 *
 * - below `pressureThreshold`: buffers grow as the connections need;
 * - under pressure (from `pressureThreshold` until usage falls back below {@link PRESSURE_EXIT} of it): new
 *   out-of-order data is dropped first (counted), receive windows open only within the storage a connection already
 *   holds (at least {@link RING_MIN_STORAGE}), the send-buffer autotuning stops growing, and drained buffers are freed
 *   at once instead of after an idle delay;
 * - at `limit`: nothing grows past it. In-order data that needs more storage is dropped (counted; it was not
 *   acknowledged, so the peer retransmits it), and application writes wait for memory ({@link TcpMemory.waitFor}) —
 *   they are resumed, oldest first, as memory is released. Each direction stops a sixteenth below the limit
 *   ({@link TcpMemory.directionLimit}): send buffers cannot take the last of it from receiving (a stack whose
 *   writers filled the budget still takes in requests), nor stalled receive buffers from sending (a stack whose
 *   readers stopped can still send its requests).
 *
 * Bytes already acknowledged to the peer are never dropped: an in-order byte is acknowledged only once it sits in a
 * receive ring, and out-of-order bytes are only SACKed once stored.
 *
 * New connections are accepted whatever the usage (Linux does the same): a connection holds no buffer until data
 * arrives or is written, its receive window opens only as far as the regime above allows, and its writes wait like
 * every other at the limit.
 *
 * Not implemented: reclaiming storage that holds data (Linux's `tcp_prune_ofo_queue` reneges on SACKed data under
 * pressure; here SACKed data is kept until it is delivered or the connection ends).
 *
 * @module
 */

/** Smallest storage a ring allocates (bytes), unless its capacity is smaller; also the window a connection under
 * memory pressure may always offer. */
export const RING_MIN_STORAGE = 4096

/** Memory pressure ends once usage falls below this fraction of the pressure threshold (hysteresis). */
export const PRESSURE_EXIT = 0.875

/** Something that waits for memory (a TCB whose writer is blocked); see {@link TcpMemory.waitFor}. */
export interface MemoryWaiter {
  /** Set while it is in the wait list (so it is listed once). */
  memoryWaiting: boolean
}

/** Counters and gauges of a {@link TcpMemory} (a snapshot). */
export interface TcpMemoryStats {
  /** Bytes of buffer storage held now (send rings, receive rings, out-of-order storage). */
  readonly memoryBytes: number
  /** Highest `memoryBytes` so far. */
  readonly memoryPeak: number
  /** Bytes held in out-of-order storage now (payload plus per-segment overhead). */
  readonly outOfOrderBytes: number
  /** Whether the stack is under memory pressure now. */
  readonly memoryPressure: boolean
  /** Times the stack entered memory pressure. */
  readonly memoryPressureEvents: number
  /** Allocations refused because they would pass the limit (a ring not grown, a writer made to wait). */
  readonly memoryLimitHits: number
  /** Out-of-order segments not stored (connection bound, stack bound, pressure, or too many ranges). */
  readonly outOfOrderDropped: number
  /** In-order segments (or their tails) dropped because the memory limit was reached; the peer retransmits them. */
  readonly memoryDropped: number
  /** Times an application write waited for memory. */
  readonly memoryWaits: number
}

/** The memory budget of one stack's TCP connections (see the module docs). */
export class TcpMemory {
  /** Hard limit, bytes. */
  readonly limit: number
  /** What send buffers, or receive buffers, may hold together: {@link limit} less a sixteenth kept for the other. */
  readonly directionLimit: number
  /** Usage at which memory pressure starts, bytes. */
  readonly pressureThreshold: number
  /** Limit of out-of-order storage across all connections, bytes. */
  readonly outOfOrderLimit: number
  /** Bytes held now. */
  used = 0
  /** Bytes held by send buffers now (included in {@link used}). */
  sendUsed = 0
  /** Highest {@link used} so far. */
  peak = 0
  /** Out-of-order bytes held now (included in {@link used}). */
  outOfOrder = 0
  /** Under memory pressure now. */
  pressure = false
  /** Times pressure started. */
  pressureEvents = 0
  /** Allocations refused at the limit. */
  limitHits = 0
  /** Out-of-order segments not stored. */
  outOfOrderDropped = 0
  /** In-order segments (or tails) dropped at the limit. */
  memoryDropped = 0
  /** Writes that waited for memory. */
  waits = 0
  /** Called for each waiter resumed by a release (set by the shell: it wakes the blocked writer). */
  onAvailable: ((waiter: MemoryWaiter) => void) | undefined = undefined
  private readonly waiting: Array<MemoryWaiter> = []
  private readonly exitBelow: number

  /** A budget of `limit` bytes; pressure from `pressure × limit`; out-of-order storage up to `outOfOrder × limit`. */
  constructor(limit: number, pressure: number = 0.75, outOfOrder: number = 0.25) {
    this.limit = limit
    this.directionLimit = limit - Math.floor(limit / 16)
    this.pressureThreshold = Math.floor(limit * pressure)
    this.outOfOrderLimit = Math.floor(limit * outOfOrder)
    this.exitBelow = Math.floor(this.pressureThreshold * PRESSURE_EXIT)
  }

  /** Bytes receive storage (rings, out-of-order data) may still allocate. */
  get available(): number {
    const a = Math.min(this.limit - this.used, this.directionLimit - (this.used - this.sendUsed))
    return a > 0 ? a : 0
  }

  /** Bytes a send buffer may still allocate. */
  get writeAvailable(): number {
    const a = Math.min(this.limit - this.used, this.directionLimit - this.sendUsed)
    return a > 0 ? a : 0
  }

  /** Accounts `n` bytes for a send buffer (`send`) or receive storage, if the limits allow; false (counted) if not. */
  charge(n: number, send: boolean = false): boolean {
    if (n > (send ? this.writeAvailable : this.available)) {
      this.limitHits++
      return false
    }
    this.add(n)
    if (send) this.sendUsed += n
    return true
  }

  /**
   * Accounts `n` out-of-order bytes: refused (false) under pressure, past the out-of-order limit or past the limit
   * (the caller counts the dropped segment), unless `force` (bytes that are held already and must stay accounted).
   */
  chargeOutOfOrder(n: number, force: boolean = false): boolean {
    if (!force) {
      if (this.pressure || this.outOfOrder + n > this.outOfOrderLimit) return false
      if (!this.charge(n)) return false
    } else this.add(n)
    this.outOfOrder += n
    return true
  }

  /** Counts an allocation clipped or refused at the limit without charging anything. */
  refused(): void {
    this.limitHits++
  }

  /** Releases `n` out-of-order bytes. */
  releaseOutOfOrder(n: number): void {
    this.outOfOrder -= n
    this.release(n)
  }

  /** Releases `n` bytes of a send buffer (`send`) or of receive storage; resumes waiting writers if they fit now. */
  release(n: number, send: boolean = false): void {
    if (n <= 0) return
    this.used -= n
    if (send) this.sendUsed -= n
    if (this.pressure && this.used < this.exitBelow) this.pressure = false
    if (this.waiting.length > 0) this.resumeWaiters()
  }

  /** Lists `w` as waiting for memory (once); it is resumed by a later {@link release}. */
  waitFor(w: MemoryWaiter): void {
    if (w.memoryWaiting) return
    w.memoryWaiting = true
    this.waits++
    this.waiting.push(w)
  }

  /** Removes `w` from the wait list (its connection ended). */
  forget(w: MemoryWaiter): void {
    if (!w.memoryWaiting) return
    w.memoryWaiting = false
    const i = this.waiting.indexOf(w)
    if (i >= 0) this.waiting.splice(i, 1)
  }

  /** A snapshot of the counters. */
  stats(): TcpMemoryStats {
    return {
      memoryBytes: this.used,
      memoryPeak: this.peak,
      outOfOrderBytes: this.outOfOrder,
      memoryPressure: this.pressure,
      memoryPressureEvents: this.pressureEvents,
      memoryLimitHits: this.limitHits,
      outOfOrderDropped: this.outOfOrderDropped,
      memoryDropped: this.memoryDropped,
      memoryWaits: this.waits,
    }
  }

  private add(n: number): void {
    this.used += n
    if (this.used > this.peak) this.peak = this.used
    if (!this.pressure && this.used >= this.pressureThreshold) {
      this.pressure = true
      this.pressureEvents++
    }
  }

  /** Resumes waiters, oldest first, while each can count on a minimum ring's worth of memory. */
  private resumeWaiters(): void {
    let room = this.writeAvailable
    const notify = this.onAvailable
    while (room >= RING_MIN_STORAGE && this.waiting.length > 0) {
      const w = this.waiting.shift() as MemoryWaiter
      w.memoryWaiting = false
      room -= RING_MIN_STORAGE
      if (notify !== undefined) notify(w)
    }
  }
}
