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
 * Invariants:
 * - An address is in at most one of the two maps: `entries` (resolved, dynamic or static) or `pending`.
 * - Static entries never expire and are never replaced by learned information (only `remove`/`addStatic` change
 *   them).
 * - A dynamic entry is never returned by `lookup` at or after its `expiresAt` (lazy expiry), even if `expire` has
 *   not run yet.
 * - A pending queue never holds more than `pendingLimit` packets.
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
}

interface Resolved {
  mac: MacAddress
  expiresAt: number // Infinity for a static entry
  readonly isStatic: boolean
}

/** The ARP table. `P` is the type of a queued outbound packet (the shell queues IPv4 datagrams, not yet framed). */
export class ArpCache<P = Uint8Array> {
  private readonly resolved = new Map<Ipv4Address, Resolved>()
  private readonly pendingMap = new Map<Ipv4Address, PendingResolution<P>>()
  /** Options this table was made with. */
  readonly options: ArpCacheOptions

  /** A new empty table. */
  constructor(options: ArpCacheOptions) {
    this.options = options
  }

  /** The MAC for `ip` if a live entry exists at `now`; an expired dynamic entry is removed on the way. */
  lookup(ip: Ipv4Address, now: number): MacAddress | undefined {
    const e = this.resolved.get(ip)
    if (e === undefined) return undefined
    if (now >= e.expiresAt) {
      this.resolved.delete(ip)
      return undefined
    }
    return e.mac
  }

  /**
   * RFC 826 merge step: if `ip` already has a dynamic entry, update its MAC and restart its timer. Returns true
   * when an entry (dynamic or static) exists, i.e. the merge flag. Static entries are left untouched.
   */
  merge(ip: Ipv4Address, mac: MacAddress, now: number): boolean {
    const e = this.resolved.get(ip)
    if (e === undefined) return false
    if (!e.isStatic) {
      // an expired entry not swept yet is refreshed like a live one: the packet proves the mapping is current
      e.mac = mac
      e.expiresAt = now + this.options.timeout
    }
    return true
  }

  /**
   * Adds or refreshes a dynamic entry (RFC 826: when we are the target). Leaves static entries alone. Returns the
   * packets that were waiting for this address (the pending resolution is completed), or an empty array.
   */
  learn(ip: Ipv4Address, mac: MacAddress, now: number): Array<P> {
    const e = this.resolved.get(ip)
    if (e === undefined) {
      this.resolved.set(ip, { mac, expiresAt: now + this.options.timeout, isStatic: false })
    } else if (!e.isStatic) {
      e.mac = mac
      e.expiresAt = now + this.options.timeout
    }
    return this.completePending(ip)
  }

  /** Adds a static entry (replacing any dynamic one) and returns the packets that were waiting for it. */
  addStatic(ip: Ipv4Address, mac: MacAddress): Array<P> {
    this.resolved.set(ip, { mac, expiresAt: Infinity, isStatic: true })
    return this.completePending(ip)
  }

  /** Removes the entry for `ip` (static or dynamic). Returns true when one existed. Pending resolutions stay. */
  remove(ip: Ipv4Address): boolean {
    return this.resolved.delete(ip)
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
        this.resolved.delete(ip)
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
