/**
 * The ARP service: answers requests for this host's address, learns neighbours, resolves IPv4 addresses to MACs
 * for the IPv4 layer, and holds outbound IPv4 datagrams while their next hop is being resolved.
 *
 * Implements: RFC 826 (packet reception with the merge rule: an existing entry is refreshed by any packet from its
 * owner; a new entry is created only when we are the target; requests for our address get a unicast reply),
 * RFC 1122 §2.3.2.1 (cache entries time out — 60 s by default, as RFC 1122 suggests "on the order of a minute";
 * mirage keeps them 1200 s), §2.3.2.2 (at most one outstanding resolution per address; a bounded queue of
 * packets waiting for it), RFC 5227 §3 (an ARP announcement — a request with sender = target = our address — on
 * start; a packet claiming our own address is counted as a conflict and never learned), RFC 5227 §2.1.1 (probes,
 * with sender address 0.0.0.0, are answered but never learned).
 *
 * Policy against cache poisoning (issue 15; Linux's `arp_accept=0`, stricter on updates), with the default
 * `acceptUnsolicited: false`:
 * - An entry is CREATED only from a reply to a request of ours (a reply addressed to us from an address we are
 *   resolving) or from a request addressed to us (RFC 826's rule: the requester is about to talk to us). An
 *   unsolicited reply, or a gratuitous ARP (sender = target address: a host announcing its own, possibly new,
 *   address), creates nothing and is counted in `unsolicitedIgnored`.
 * - An existing entry is CONFIRMED (timer restarted) by any ARP packet from its address with the same MAC.
 * - A packet with ANOTHER MAC for an entry that is no longer reachable (not confirmed for `reachableTime`, default
 *   30 s, Linux's `base_reachable_time`) replaces its MAC at once.
 * - A packet with ANOTHER MAC for a REACHABLE entry, whoever sends it (a gratuitous request claiming the gateway, a
 *   request for us, an unsolicited reply), is a claim that is VERIFIED before it is believed ("update only after
 *   verification"): the entry keeps its MAC, and one ARP request for the address is sent unicast to the OLD MAC
 *   (counted in `updatesProbed`). If the old MAC answers — or sends any ARP packet for the address — within
 *   `verifyTimeout` (default 1 s), its host is alive: the entry stays and the claim is counted in `updatesIgnored`
 *   (a poisoning attempt). If it stays silent, the claimed MAC replaces it (`updatesVerified`): a host re-created
 *   with the same address and a new MAC is reached again after about a second, not after its entry expires. One
 *   verification runs per address; repeated claims of the same MAC meanwhile join it, a claim of yet another MAC is
 *   refused (`updatesIgnored`), and a verification whose entry changed, expired or was removed meanwhile ends
 *   without effect (`updatesIgnored`). So a live host's entry cannot be taken over by claims: its own answer
 *   to the probe defeats them. What remains (ARP has no authentication): a claim while the real host is silent
 *   (down, or its answer suppressed) wins after `verifyTimeout`, and a claim for an entry that is no longer
 *   reachable wins at once.
 * - `acceptUnsolicited: true` restores the trusting behaviour: any packet for us, and any gratuitous ARP, creates
 *   an entry, and any packet from a known address replaces its MAC at once (what Linux does for updates).
 * - Static entries are never changed by packets.
 *
 * Bound (issue 15): at most `maxEntries` dynamic entries (default 1 024, ~280 B each); learning one more evicts the
 * least recently used (lookups and confirmations count as use), counted in `evictions`. Static entries are not
 * counted and never evicted; resolutions in progress are not entries (they are bounded by their timeout and
 * `pendingLimit`), and their answer is inserted as the most recently used entry. Verifications are bounded by the
 * entries (at most one per entry, each a sleeping fiber for `verifyTimeout`).
 *
 * Resolution: `query(ip)` returns at once on a live entry; otherwise one resolution per address (shared by every
 * concurrent caller and by queued datagrams) sends a request, waits `retryInterval`, and repeats up to `retries`
 * requests in all (mirage's defaults: 5 × 1.5 s). No answer after the last wait → every waiter fails with
 * `ArpError` "Timeout" and the queued datagrams are dropped and counted. The resolution runs on a fiber owned by the
 * layer's Scope (started synchronously, so its first request leaves before the caller returns), and a caller that
 * gives up does not cancel it for the others.
 *
 * Send path (ARP resolves BEFORE Ethernet frames a packet; no frame is ever emitted with a placeholder MAC): IPv4
 * calls `lookup(nextHop)` per datagram (a plain function). A hit gives the MAC the frame is allocated with. On a miss
 * IPv4 builds the bare datagram and hands it to `enqueue(nextHop, datagram)`, which queues it (at most
 * `pendingLimit` per address; overflow is dropped and counted) and starts the resolution; when the answer arrives
 * the queued datagrams are framed with the learned MAC and transmitted, in order, on the receiving fiber. Replies,
 * requests and queued datagrams all go through `Ethernet.transmit`, synchronously.
 *
 * Expiry is driven by `Clock`: lookups ignore expired entries (lazy expiry), and a sweeper fiber sleeps until the
 * earliest expiry to free them — both work under `TestClock`.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import { Ethernet, type EthernetError } from "../ethernet/Ethernet.ts"
import { ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr } from "../wire/Arp.ts"
import { ETHERNET_HEADER_LEN, EtherType } from "../wire/Ethernet.ts"
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { MacAddress } from "../wire/MacAddress.ts"
import { ArpCache, type ArpEntry } from "./ArpCache.ts"
import { ArpConfig, type ArpConfigInput } from "./ArpConfig.ts"
import { decodeLayerConfig } from "../util/Config.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import { toEffect } from "../util/Transmit.ts"

export type { ArpEntry } from "./ArpCache.ts"
export { ArpConfig, type ArpConfigFields, type ArpConfigInput } from "./ArpConfig.ts"

/** Counters of the ARP layer (a snapshot). */
export interface ArpStats {
  /** Requests sent (resolutions, retries and announcements). */
  readonly requestsSent: number
  /** Replies sent. */
  readonly repliesSent: number
  /** Requests received. */
  readonly requestsReceived: number
  /** Replies received. */
  readonly repliesReceived: number
  /** Packets dropped as malformed or unsupported. */
  readonly malformed: number
  /** Packets that claimed our own address from another MAC. */
  readonly conflicts: number
  /** Resolutions that ended without an answer. */
  readonly timeouts: number
  /** Datagrams queued waiting for a resolution. */
  readonly queued: number
  /** Datagrams dropped because the per-address queue was full. */
  readonly queueOverflows: number
  /** Queued datagrams dropped because their resolution timed out. */
  readonly timeoutDrops: number
  /** ARP packets and queued datagrams that could not be sent (device errors, unresolvable next hops). */
  readonly sendErrors: number
  /**
   * Unsolicited replies and gratuitous ARP packets that would have created an entry and did not
   * (`acceptUnsolicited: false`).
   */
  readonly unsolicitedIgnored: number
  /**
   * Claims of another MAC for a reachable entry that were refused (`acceptUnsolicited: false`), once per
   * verification: the old MAC answered the probe (a poisoning attempt against a live host), or the entry changed or
   * went away meanwhile; and claims of yet another MAC while a verification was running.
   */
  readonly updatesIgnored: number
  /** Verifications started: a claim of another MAC for a reachable entry sent one unicast request to the old MAC. */
  readonly updatesProbed: number
  /** MAC changes accepted after verification: the old MAC stayed silent for `verifyTimeout`. */
  readonly updatesVerified: number
  /** Dynamic entries evicted (least recently used) to stay within `maxEntries`. */
  readonly evictions: number
}

/** The ARP service. */
export interface ArpShape {
  /** The address this layer answers for. */
  readonly address: Ipv4Address
  /** Resolves `ip` to a MAC: immediate on a live entry, otherwise shared retries, then `ArpError` "Timeout". */
  readonly query: (ip: Ipv4Address) => Effect.Effect<MacAddress, ArpError>
  /** The live entry for `ip`, if any (no request is sent). Plain function. */
  readonly lookup: (ip: Ipv4Address) => MacAddress | undefined
  /**
   * Holds an IPv4 datagram (header included, no Ethernet header) for the neighbour `nextHop`, whose `lookup` missed,
   * and starts resolving it: on the answer the datagram is framed with the learned MAC and transmitted; when the
   * queue is full or the resolution times out it is dropped and counted. Synchronous; never fails. The datagram
   * belongs to ARP from now on.
   */
  readonly enqueue: (nextHop: Ipv4Address, datagram: Uint8Array) => void
  /** Adds a static entry, which never expires and is never overwritten by learned information. */
  readonly addStatic: (ip: Ipv4Address, mac: MacAddress) => Effect.Effect<void>
  /** Removes the entry for `ip` (static or dynamic). */
  readonly remove: (ip: Ipv4Address) => Effect.Effect<void>
  /** A snapshot of the live entries, sorted by address. */
  readonly entries: Effect.Effect<ReadonlyArray<ArpEntry>>
  /** Sends an ARP announcement (gratuitous ARP) for our address (the Effect form of one synchronous transmit). */
  readonly announce: Effect.Effect<void, EthernetError>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<ArpStats>
  /** Sets the counters back to zero. */
  readonly resetStats: Effect.Effect<void>
}

/** The service key base of {@link Arp}: `Context.Service` with its type spelled out (JSR explicit types). */
export const ArpBase: Context.ServiceClass<Arp, "vnetif/Arp", ArpShape> = Context.Service<Arp, ArpShape>()(
  "vnetif/Arp",
)

/** The ARP layer of one stack. */
export class Arp extends ArpBase {
  /** Builds the service on the current {@link Ethernet}; an invalid `config` fails with `ArpError` "InvalidConfig". */
  static readonly make: (config: ArpConfigInput) => Effect.Effect<ArpShape, ArpError, Ethernet | Scope.Scope> = (
    config,
  ) => make(config)
  /** A Layer providing {@link Arp}; needs {@link Ethernet}. */
  static readonly layer: (config: ArpConfigInput) => Layer.Layer<Arp, ArpError, Ethernet> = (config) => layer(config)
}

/** Why an ARP operation failed. */
export type ArpErrorReason = "Timeout" | "InvalidAddress" | "InvalidConfig"

/** The fields of {@link ArpError}. */
export interface ArpErrorFields {
  /** Which kind of failure this is. */
  readonly reason: ArpErrorReason
  /** What went wrong, for a person. */
  readonly message: string
  /** The address being resolved (absent for "InvalidConfig"). */
  readonly address?: Ipv4Address
}

/** The base class of {@link ArpError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const ArpErrorBase: TaggedErrorClass<"ArpError", ArpErrorFields> = Data.TaggedError("ArpError")<ArpErrorFields>

/** The ARP layer's error. */
export class ArpError extends ArpErrorBase {}

/** A claim of another MAC for a reachable entry, being verified. */
interface Verification {
  /** The MAC the entry held when the claim arrived, probed with a unicast request. */
  readonly oldMac: MacAddress
  /** The claimed MAC, accepted if the old one stays silent for `verifyTimeout`. */
  readonly candidate: MacAddress
}

const make = (input: ArpConfigInput): Effect.Effect<ArpShape, ArpError, Ethernet | Scope.Scope> =>
  Effect.gen(function* () {
    const config: ArpConfig = yield* decodeLayerConfig(
      ArpConfig,
      input,
      "ARP",
      (message) => new ArpError({ reason: "InvalidConfig", message }),
    )
    const eth = yield* Ethernet
    const clock = yield* Clock.Clock
    const address = config.address
    const mac = eth.mac
    const retries = config.retries
    const retryInterval = config.retryInterval
    const acceptUnsolicited = config.acceptUnsolicited
    const cache = new ArpCache<Uint8Array>({
      timeout: config.timeout,
      pendingLimit: config.pendingLimit,
      maxEntries: config.maxEntries,
      reachableTime: acceptUnsolicited ? 0 : config.reachableTime,
    })
    const verifyTimeout = config.verifyTimeout
    const resolutions = new Map<Ipv4Address, Deferred.Deferred<MacAddress, ArpError>>()
    /** Claims of another MAC for a reachable entry, being verified (at most one per address). */
    const verifications = new Map<Ipv4Address, Verification>()
    const wake = yield* Queue.sliding<void>(1)
    const c = {
      requestsSent: 0,
      repliesSent: 0,
      requestsReceived: 0,
      repliesReceived: 0,
      malformed: 0,
      conflicts: 0,
      timeouts: 0,
      queued: 0,
      queueOverflows: 0,
      timeoutDrops: 0,
      sendErrors: 0,
      unsolicitedIgnored: 0,
      updatesIgnored: 0,
      updatesProbed: 0,
      updatesVerified: 0,
    }
    let evictionsBase = 0 // cache.evictions at the last resetStats
    const now = (): number => clock.currentTimeMillisUnsafe()

    /** Frames and transmits one ARP packet: the synchronous path; the error is also counted. */
    const sendArp = (dst: MacAddress, repr: ArpRepr): EthernetError | undefined => {
      if (repr.operation === ArpOperation.Request) c.requestsSent++
      else c.repliesSent++
      const frame = eth.allocate(dst, EtherType.Arp, ARP_PACKET_LEN)
      ArpRepr.emit(repr, frame.subarray(ETHERNET_HEADER_LEN))
      const e = eth.transmit(frame)
      if (e !== undefined) c.sendErrors++
      return e
    }

    const request = (ip: Ipv4Address): EthernetError | undefined =>
      sendArp(MacAddress.BROADCAST, {
        operation: ArpOperation.Request,
        senderHardwareAddr: mac,
        senderProtocolAddr: address,
        targetHardwareAddr: MacAddress.ZERO,
        targetProtocolAddr: ip,
      })

    const announce: Effect.Effect<void, EthernetError> = Effect.suspend(() => toEffect(request(address)))

    /** Frames an IPv4 datagram for `dst` and transmits it (an error is counted). */
    const transmitDatagram = (dst: MacAddress, datagram: Uint8Array): void => {
      const frame = eth.allocate(dst, EtherType.Ipv4, datagram.length)
      frame.set(datagram, ETHERNET_HEADER_LEN)
      if (eth.transmit(frame) !== undefined) c.sendErrors++
    }

    /** Completes a resolution: wakes the waiters, then transmits the queued datagrams in order. */
    const resolved = (ip: Ipv4Address, dst: MacAddress, datagrams: ReadonlyArray<Uint8Array>): void => {
      const d = resolutions.get(ip)
      if (d !== undefined) {
        resolutions.delete(ip)
        Deferred.doneUnsafe(d, Effect.succeed(dst))
      }
      for (let i = 0; i < datagrams.length; i++) transmitDatagram(dst, datagrams[i])
    }

    /** The fiber of one resolution: `retries` requests `retryInterval` apart, then a timeout. */
    const resolver = (ip: Ipv4Address, d: Deferred.Deferred<MacAddress, ArpError>): Effect.Effect<void> =>
      Effect.gen(function* () {
        for (let attempt = 1; attempt <= retries; attempt++) {
          const p = cache.pending(ip)
          if (p !== undefined) p.attempts = attempt
          request(ip)
          const answer = yield* Effect.timeoutOption(Effect.exit(Deferred.await(d)), retryInterval)
          if (Option.isSome(answer)) return
        }
        if (resolutions.get(ip) !== d) return
        resolutions.delete(ip)
        const dropped = cache.failPending(ip)
        c.timeouts++
        c.timeoutDrops += dropped.length
        const error = new ArpError({
          reason: "Timeout",
          message: `no ARP reply for ${Ipv4Address.format(ip)} after ${retries} requests ${retryInterval} ms apart`,
          address: ip,
        })
        Deferred.doneUnsafe(d, Effect.fail(error))
      })

    /** Forks into the layer's scope synchronously (the fiber runs until its first suspension before this returns). */
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()

    /** The shared resolution of `ip`, started now if there is none. Plain function. */
    const resolution = (ip: Ipv4Address): Deferred.Deferred<MacAddress, ArpError> => {
      const existing = resolutions.get(ip)
      if (existing !== undefined) return existing
      const d = Deferred.makeUnsafe<MacAddress, ArpError>()
      resolutions.set(ip, d)
      cache.startPending(ip)
      runFork(resolver(ip, d))
      return d
    }

    const invalid = (ip: Ipv4Address): ArpError | undefined =>
      Ipv4Address.isUnspecified(ip) || Ipv4Address.isBroadcast(ip) || Ipv4Address.isMulticast(ip)
        ? new ArpError({
          reason: "InvalidAddress",
          message: `${Ipv4Address.format(ip)} is not a unicast address and cannot be resolved`,
          address: ip,
        })
        : undefined

    const lookup = (ip: Ipv4Address): MacAddress | undefined => ip === address ? mac : cache.lookup(ip, now())

    const query = (ip: Ipv4Address): Effect.Effect<MacAddress, ArpError> =>
      Effect.suspend(() => {
        const hit = lookup(ip)
        if (hit !== undefined) return Effect.succeed(hit)
        const bad = invalid(ip)
        if (bad !== undefined) return Effect.fail(bad)
        return Deferred.await(resolution(ip))
      })

    const enqueue = (nextHop: Ipv4Address, datagram: Uint8Array): void => {
      const hit = lookup(nextHop)
      if (hit !== undefined) { // resolved meanwhile (or a caller that did not look up first)
        transmitDatagram(hit, datagram)
        return
      }
      if (invalid(nextHop) !== undefined) {
        c.sendErrors++
        return
      }
      if (!cache.enqueue(nextHop, datagram)) {
        c.queueOverflows++
        return
      }
      c.queued++
      if (!resolutions.has(nextHop)) resolution(nextHop)
    }

    /** The fiber of one verification: after `verifyTimeout`, the candidate replaces a still unchanged entry. */
    const verifier = (ip: Ipv4Address, v: Verification): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* Effect.sleep(verifyTimeout)
        if (verifications.get(ip) !== v) return // the old MAC answered meanwhile (already counted)
        verifications.delete(ip)
        const t = now()
        if (cache.peek(ip, t) === v.oldMac && cache.update(ip, v.candidate, t, true) === "changed") c.updatesVerified++
        else c.updatesIgnored++ // the entry changed, expired or was removed meanwhile
      })

    /**
     * A claim of `candidate` for the reachable entry of `ip` (which holds another MAC): starts a verification, i.e.
     * one request unicast to the old MAC, unless one is running (then a claim of yet another MAC is refused).
     */
    const challenge = (ip: Ipv4Address, candidate: MacAddress, t: number): void => {
      const running = verifications.get(ip)
      if (running !== undefined) {
        if (running.candidate !== candidate) c.updatesIgnored++
        return
      }
      const oldMac = cache.peek(ip, t)
      if (oldMac === undefined) return // not reachable after all: nothing to verify
      const v: Verification = { oldMac, candidate }
      verifications.set(ip, v)
      c.updatesProbed++
      sendArp(oldMac, {
        operation: ArpOperation.Request,
        senderHardwareAddr: mac,
        senderProtocolAddr: address,
        targetHardwareAddr: MacAddress.ZERO,
        targetProtocolAddr: ip,
      })
      runFork(verifier(ip, v))
    }

    const learned = (ip: Ipv4Address, hw: MacAddress, t: number): void => {
      const datagrams = cache.learn(ip, hw, t)
      Queue.offerUnsafe(wake, undefined)
      resolved(ip, hw, datagrams)
    }

    const receive = (payload: Uint8Array): Effect.Effect<void> => {
      const packet = ArpPacket.parse(payload)
      const repr = Result.isSuccess(packet) ? ArpRepr.parse(packet.success) : undefined
      if (repr === undefined || Result.isFailure(repr)) {
        c.malformed++
        return Effect.void
      }
      const r = repr.success
      if (r.operation === ArpOperation.Request) c.requestsReceived++
      else c.repliesReceived++
      const sha = r.senderHardwareAddr
      const spa = r.senderProtocolAddr
      if (sha === mac) return Effect.void // our own packet, looped back
      if (!MacAddress.isUnicast(sha)) {
        c.malformed++
        return Effect.void
      }
      if (spa === address) {
        c.conflicts++
        return Effect.logWarning(
          `arp: ${MacAddress.format(sha)} claims our address ${Ipv4Address.format(address)}`,
        )
      }
      const forUs = r.targetProtocolAddr === address
      const t = now()
      const learnable = !Ipv4Address.isUnspecified(spa) && !Ipv4Address.isBroadcast(spa) &&
        !Ipv4Address.isMulticast(spa)
      if (learnable) {
        const isReply = r.operation === ArpOperation.Reply
        const gratuitous = spa === r.targetProtocolAddr
        // the answer to a request of ours (a resolution and an entry never coexist, so this only ever creates)
        const solicited = isReply && forUs && cache.isPending(spa)
        const u = cache.update(spa, sha, t, acceptUnsolicited || solicited)
        if (u === "refused") challenge(spa, sha, t)
        else if (u === "confirmed") {
          const v = verifications.get(spa)
          if (v !== undefined && v.oldMac === sha) { // the old MAC is alive: the claim was a poisoning attempt
            verifications.delete(spa)
            c.updatesIgnored++
          }
        } else if (u === "absent") {
          if (solicited || (forUs && !isReply)) learned(spa, sha, t)
          else if (acceptUnsolicited && (forUs || gratuitous || cache.isPending(spa))) learned(spa, sha, t)
          else if (isReply || gratuitous) c.unsolicitedIgnored++
        }
      }
      if (forUs && r.operation === ArpOperation.Request) {
        sendArp(sha, {
          operation: ArpOperation.Reply,
          senderHardwareAddr: mac,
          senderProtocolAddr: address,
          targetHardwareAddr: sha,
          targetProtocolAddr: spa,
        })
      }
      return Effect.void
    }

    const sweeper: Effect.Effect<void> = Effect.gen(function* () {
      while (true) {
        const next = cache.nextExpiry()
        if (next === undefined) {
          yield* Queue.take(wake)
        } else {
          const wait = next - now()
          if (wait > 0) yield* Effect.sleep(wait)
          cache.expire(now())
        }
      }
    })

    yield* eth.register(EtherType.Arp, receive)
    yield* Effect.forkScoped(sweeper)
    if (config.announce) yield* Effect.ignore(announce)

    return {
      address,
      query,
      lookup,
      enqueue,
      addStatic: (ip, hw) =>
        Effect.sync(() => {
          resolved(ip, hw, cache.addStatic(ip, hw))
        }),
      remove: (ip) =>
        Effect.sync(() => {
          cache.remove(ip)
        }),
      entries: Effect.sync(() => cache.snapshot(now())),
      announce,
      stats: Effect.sync(() => ({ ...c, evictions: cache.evictions - evictionsBase })),
      resetStats: Effect.sync(() => {
        for (const k of Object.keys(c) as Array<keyof typeof c>) c[k] = 0
        evictionsBase = cache.evictions
      }),
    }
  })

const layer = (config: ArpConfigInput): Layer.Layer<Arp, ArpError, Ethernet> => Layer.effect(Arp, make(config))
