/**
 * The ARP translation table as a pure, synchronous core: IPv4 address → MAC address entries with expiry times,
 * static entries, and pending resolutions holding a bounded queue of outbound packets waiting for the answer.
 *
 * No Effect, no clock: every operation that depends on time takes `now` (milliseconds, from the caller's `Clock`),
 * and `nextExpiry()` tells the shell when the earliest dynamic entry ages out, so it can sleep until then.
 *
 * Implements: RFC 826 "Packet Reception" (the merge rule: an entry already in the table is refreshed by any ARP
 * packet from its owner; a new entry is created only from a packet addressed to us — see `merge`/`learn`),
 * RFC 1122 §2.3.2.1 (entries time out even when in use; a resolution queue per destination that is bounded and
 * keeps at least the most recent packets is allowed — here the oldest ones are kept and the overflow is dropped
 * and counted, as mirage does), §2.3.2.2 (flood protection: at most one outstanding request per destination).
 *
 * Update policy (issue 15, cache poisoning): {@link ArpCache.update} changes the MAC of a dynamic entry only when
 * told to (`force`: the packet answers our own request, or the layer trusts unsolicited ARP) or when the entry is no
 * longer reachable (not confirmed for `reachableTime`); a packet with the same MAC confirms the entry. Bound (issue
 * 15): at most `maxEntries` dynamic entries; learning one more evicts the least recently used one (lookups and
 * confirmations count as use; the table is a `Map` kept in use order, and a lookup of the most recent entry costs
 * nothing extra, so the send path to one gateway stays a single `get`).
 *
 * Invariants:
 * - An address is in at most one of the two maps: `entries` (resolved, dynamic or static) or `pending`.
 * - Static entries never expire and are never replaced by learned information (only `remove`/`addStatic` change
 *   them).
 * - A dynamic entry is never returned by `lookup` at or after its `expiresAt` (lazy expiry), even if `expire` has
 *   not run yet.
 * - A pending queue never holds more than `pendingLimit` packets.
 * - At most `maxEntries` dynamic entries are held; static ones are not counted and never evicted.
 *
 * @module
 */
import type { Ipv4Address } from "../wire/Ipv4Address.ts"
import type { MacAddress } from "../wire/MacAddress.ts"

/** One resolved entry as reported by {@link ArpCache.snapshot}. */
export interface ArpEntry {
  /** The IPv4 address. */
  readonly ip: Ipv4Address
  /** Its hardware address. */
  readonly mac: MacAddress
  /** `"static"` entries never expire; `"dynamic"` ones expire at `expiresAt`. */
  readonly kind: "static" | "dynamic"
  /** Absolute expiry time in milliseconds (`Infinity` for static entries). */
  readonly expiresAt: number
}

/** A resolution in progress: the packets waiting for it and how many requests were sent. */
export interface PendingResolution<P> {
  /** Packets queued for this destination, oldest first (bounded by `pendingLimit`). */
  readonly queue: Array<P>
  /** Requests sent so far. */
  attempts: number
}

/** Options of {@link ArpCache}. */
export interface ArpCacheOptions {
  /** Lifetime of a dynamic entry in milliseconds. */
  readonly timeout: number
  /** Most packets queued per pending destination. */
  readonly pendingLimit: number
  /** Most dynamic entries held before the least recently used one is evicted (default unbounded). */
  readonly maxEntries?: number
  /**
   * Milliseconds after its last confirmation during which an entry's MAC is changed only by a forced update
   * (default 0: any update changes it).
   */
  readonly reachableTime?: number
}

/** What {@link ArpCache.update} did. */
export type UpdateResult =
  /** No entry for the address (nothing done; the caller decides whether to `learn`). */
  | "absent"
  /** A static entry: left unchanged. */
  | "static"
  /** Same MAC: the entry is confirmed and its timer restarted. */
  | "confirmed"
  /** Another MAC, accepted: the entry now holds it. */
  | "changed"
  /** Another MAC for a reachable entry, not forced: ignored. */
  | "refused"

interface Resolved {
  mac: MacAddress
  expiresAt: number // Infinity for a static entry
  confirmedAt: number
  readonly isStatic: boolean
}

/** The ARP table. `P` is the type of a queued outbound packet (the shell queues IPv4 datagrams, not yet framed). */
export class ArpCache<P = Uint8Array> {
  private readonly resolved = new Map<Ipv4Address, Resolved>()
  private readonly pendingMap = new Map<Ipv4Address, PendingResolution<P>>()
  /** The most recently used address: the last key of `resolved`, which is kept in use order. */
  private mru: Ipv4Address | undefined = undefined
  private dynamicCount = 0
  private evictedCount = 0
  private readonly maxEntries: number
  private readonly reachableTime: number
  /** Options this table was made with. */
  readonly options: ArpCacheOptions

  /** A new empty table. */
  constructor(options: ArpCacheOptions) {
    this.options = options
    this.maxEntries = options.maxEntries ?? Infinity
    this.reachableTime = options.reachableTime ?? 0
  }

  /** Moves `ip` to the most recently used end (nothing to do when it is there already). */
  private touch(ip: Ipv4Address, e: Resolved): void {
    if (this.mru === ip) return
    this.resolved.delete(ip)
    this.resolved.set(ip, e)
    this.mru = ip
  }

  private delete(ip: Ipv4Address, e: Resolved): void {
    this.resolved.delete(ip)
    if (!e.isStatic) this.dynamicCount--
    if (this.mru === ip) this.mru = undefined
  }

  /** Inserts a new entry as the most recently used, evicting least recently used dynamic entries beyond the cap. */
  private insert(ip: Ipv4Address, e: Resolved): void {
    if (!e.isStatic) {
      if (this.dynamicCount >= this.maxEntries) {
        for (const [old, o] of this.resolved) { // oldest use first
          if (o.isStatic) continue
          this.delete(old, o)
          this.evictedCount++
          if (this.dynamicCount < this.maxEntries) break
        }
      }
      this.dynamicCount++
    }
    this.resolved.set(ip, e)
    this.mru = ip
  }

  /**
   * The MAC for `ip` if a live entry exists at `now` (it becomes the most recently used); an expired dynamic entry
   * is removed on the way.
   */
  lookup(ip: Ipv4Address, now: number): MacAddress | undefined {
    const e = this.resolved.get(ip)
    if (e === undefined) return undefined
    if (now >= e.expiresAt) {
      this.delete(ip, e)
      return undefined
    }
    this.touch(ip, e)
    return e.mac
  }

  /** The MAC of the live entry for `ip` at `now` (static or dynamic), without counting it as a use. */
  peek(ip: Ipv4Address, now: number): MacAddress | undefined {
    const e = this.resolved.get(ip)
    return e === undefined || now >= e.expiresAt ? undefined : e.mac
  }

  /**
   * RFC 826 merge step under the update policy. For an existing dynamic entry: the same MAC confirms it (timer
   * restarted); another MAC replaces it when `force` is true or the entry was not confirmed within `reachableTime`
   * (or has expired without being swept yet), and is refused otherwise. Static entries are left untouched.
   */
  update(ip: Ipv4Address, mac: MacAddress, now: number, force: boolean): UpdateResult {
    const e = this.resolved.get(ip)
    if (e === undefined) return "absent"
    if (e.isStatic) return "static"
    const same = e.mac === mac
    if (!same && !force && now < e.expiresAt && now - e.confirmedAt < this.reachableTime) return "refused"
    e.mac = mac
    e.expiresAt = now + this.options.timeout
    e.confirmedAt = now
    this.touch(ip, e)
    return same ? "confirmed" : "changed"
  }

  /**
   * RFC 826 merge step without a policy (a forced {@link update}): if `ip` already has a dynamic entry, update its
   * MAC and restart its timer. Returns true when an entry (dynamic or static) exists, i.e. the merge flag.
   */
  merge(ip: Ipv4Address, mac: MacAddress, now: number): boolean {
    return this.update(ip, mac, now, true) !== "absent"
  }

  /**
   * Adds or refreshes a dynamic entry (RFC 826: when we are the target, or the answer to our request); a new entry
   * may evict the least recently used one. Leaves static entries alone. Returns the packets that were waiting for
   * this address (the pending resolution is completed), or an empty array.
   */
  learn(ip: Ipv4Address, mac: MacAddress, now: number): Array<P> {
    if (this.update(ip, mac, now, true) === "absent") {
      this.insert(ip, { mac, expiresAt: now + this.options.timeout, confirmedAt: now, isStatic: false })
    }
    return this.completePending(ip)
  }

  /** Adds a static entry (replacing any dynamic one) and returns the packets that were waiting for it. */
  addStatic(ip: Ipv4Address, mac: MacAddress): Array<P> {
    const e = this.resolved.get(ip)
    if (e !== undefined) this.delete(ip, e)
    this.insert(ip, { mac, expiresAt: Infinity, confirmedAt: Infinity, isStatic: true })
    return this.completePending(ip)
  }

  /** Removes the entry for `ip` (static or dynamic). Returns true when one existed. Pending resolutions stay. */
  remove(ip: Ipv4Address): boolean {
    const e = this.resolved.get(ip)
    if (e === undefined) return false
    this.delete(ip, e)
    return true
  }

  /** Dynamic entries evicted to stay within `maxEntries`, since the table was made. */
  get evictions(): number {
    return this.evictedCount
  }

  /** Number of dynamic entries held (including expired ones not swept yet). */
  get dynamicSize(): number {
    return this.dynamicCount
  }

  /** True when a resolution for `ip` is in progress. */
  isPending(ip: Ipv4Address): boolean {
    return this.pendingMap.has(ip)
  }

  /** The resolution in progress for `ip`, if any. */
  pending(ip: Ipv4Address): PendingResolution<P> | undefined {
    return this.pendingMap.get(ip)
  }

  /** Starts a resolution for `ip` (no-op if one exists). Returns true when it is new. */
  startPending(ip: Ipv4Address): boolean {
    if (this.pendingMap.has(ip)) return false
    this.pendingMap.set(ip, { queue: [], attempts: 0 })
    return true
  }

  /**
   * Queues `packet` on the pending resolution of `ip` (starting one if needed). Returns false, without queueing,
   * when the queue already holds `pendingLimit` packets.
   */
  enqueue(ip: Ipv4Address, packet: P): boolean {
    let p = this.pendingMap.get(ip)
    if (p === undefined) {
      p = { queue: [], attempts: 0 }
      this.pendingMap.set(ip, p)
    }
    if (p.queue.length >= this.options.pendingLimit) return false
    p.queue.push(packet)
    return true
  }

  /** Ends the resolution of `ip` without an answer; returns the packets that were waiting (to be dropped). */
  failPending(ip: Ipv4Address): Array<P> {
    const p = this.pendingMap.get(ip)
    if (p === undefined) return []
    this.pendingMap.delete(ip)
    return p.queue
  }

  /** Removes dynamic entries whose time is up at `now`; returns how many were removed. */
  expire(now: number): number {
    let n = 0
    for (const [ip, e] of this.resolved) {
      if (now >= e.expiresAt) {
        this.delete(ip, e)
        n++
      }
    }
    return n
  }

  /** The earliest `expiresAt` of the dynamic entries, or `undefined` when there is none. */
  nextExpiry(): number | undefined {
    let min = Infinity
    for (const e of this.resolved.values()) if (e.expiresAt < min) min = e.expiresAt
    return min === Infinity ? undefined : min
  }

  /** The live entries at `now`, static and dynamic, sorted by address. */
  snapshot(now: number): Array<ArpEntry> {
    const out: Array<ArpEntry> = []
    for (const [ip, e] of this.resolved) {
      if (now < e.expiresAt) {
        out.push({ ip, mac: e.mac, kind: e.isStatic ? "static" : "dynamic", expiresAt: e.expiresAt })
      }
    }
    return out.sort((a, b) => a.ip - b.ip)
  }

  /** Number of resolved entries held (including expired ones not swept yet). */
  get size(): number {
    return this.resolved.size
  }

  /** Number of resolutions in progress. */
  get pendingCount(): number {
    return this.pendingMap.size
  }

  /** Addresses with a resolution in progress. */
  pendingAddresses(): Array<Ipv4Address> {
    return [...this.pendingMap.keys()]
  }

  /** Ends the resolution of `ip` (answered) and returns its queue. */
  private completePending(ip: Ipv4Address): Array<P> {
    const p = this.pendingMap.get(ip)
    if (p === undefined) return []
    this.pendingMap.delete(ip)
    return p.queue
  }
}
