/**
 * The configuration of the ARP layer: one Schema, {@link ArpConfig}, that owns every default (see `util/Config.ts`
 * for the convention). Durations are milliseconds after decoding and may be written as a number of milliseconds or
 * a `Duration` string such as `"60 seconds"`; unknown keys are refused.
 *
 * @module
 */
import * as Schema from "effect/Schema"
import { int, Millis, withDefault } from "../util/Config.ts"
import { Ipv4AddressFromString, Ipv4AddressSchema } from "../wire/Ipv4Address.ts"

/** The fields of {@link ArpConfig}, with their defaults. */
export type ArpConfigFields = {
  /** This host's IPv4 address, the one ARP answers for: "10.0.0.2" or an `Ipv4Address` (required). */
  readonly address: Schema.Union<readonly [typeof Ipv4AddressFromString, typeof Ipv4AddressSchema]>
  /**
   * Lifetime of a learned entry, default 60 000 ms (RFC 1122 §2.3.2.1: "on the order of a minute"; mirage keeps
   * them 1 200 s).
   */
  readonly timeout: Schema.withDecodingDefaultKey<Millis>
  /** Requests sent per resolution before giving up, 1..100, default 5 (mirage). */
  readonly retries: Schema.withDecodingDefaultKey<Schema.Int>
  /** Wait after each request, default 1 500 ms (mirage). */
  readonly retryInterval: Schema.withDecodingDefaultKey<Millis>
  /** Most frames queued per address while it is being resolved, 0..65536, default 64. */
  readonly pendingLimit: Schema.withDecodingDefaultKey<Schema.Int>
  /** Send an ARP announcement (RFC 5227 §3) when the layer starts, default true. */
  readonly announce: Schema.withDecodingDefaultKey<Schema.Boolean>
  /**
   * Trust unsolicited ARP, default false (Linux's `arp_accept=0`). When false, an entry is created only from a reply
   * to a request of ours or from a request addressed to us; unsolicited replies and gratuitous ARP (a host announcing
   * its own address) create nothing, and a packet that would change the MAC of a reachable entry (see
   * `reachableTime`) takes effect only after verification (see `verifyTimeout`); both are counted
   * (`unsolicitedIgnored`; `updatesIgnored` / `updatesVerified`). When true, any packet for us and any gratuitous ARP
   * creates an entry, and any packet from a known address replaces its MAC at once (the behaviour before issue 15;
   * cache poisoning is then one packet away).
   */
  readonly acceptUnsolicited: Schema.withDecodingDefaultKey<Schema.Boolean>
  /**
   * How long after its last confirmation (our request answered, or an ARP packet from the same MAC) an entry stays
   * reachable, default 30 000 ms (Linux's `base_reachable_time`, RFC 4861's REACHABLE_TIME). While reachable, its
   * MAC is changed by an unsolicited packet only after verification (see `verifyTimeout`); after that, until it
   * expires, a packet from its address with another MAC replaces it at once (a host that really moved). Irrelevant
   * when `acceptUnsolicited` is true.
   */
  readonly reachableTime: Schema.withDecodingDefaultKey<Millis>
  /**
   * How long a claim of another MAC for a reachable entry waits for the old MAC to answer, default 1 000 ms (Linux's
   * `retrans_time`). The claim starts a verification: one ARP request is sent, unicast, to the old MAC; if the old
   * MAC answers (or sends any ARP packet for the address) within this time, the entry stays and the claim is counted
   * in `updatesIgnored` (a poisoning attempt against a live host); if not, the entry takes the new MAC (counted in
   * `updatesVerified`: a host that really changed its MAC, e.g. re-created with the same address). Irrelevant when
   * `acceptUnsolicited` is true.
   */
  readonly verifyTimeout: Schema.withDecodingDefaultKey<Millis>
  /**
   * Most dynamic entries held, 1..1 000 000, default 1 024. Learning one more evicts the least recently used dynamic
   * entry (counted in `evictions`); static entries never count and are never evicted, and resolutions in progress
   * are bounded separately (by their timeout and `pendingLimit`).
   */
  readonly maxEntries: Schema.withDecodingDefaultKey<Schema.Int>
}

/** Schema of the ARP layer's configuration: `Arp.layer(input)` decodes its input with it. */
export const ArpConfig: Schema.Struct<ArpConfigFields> = Schema.Struct({
  address: Schema.Union([Ipv4AddressFromString, Ipv4AddressSchema]),
  timeout: Millis.pipe(withDefault(60_000)),
  retries: int(1, 100).pipe(withDefault(5)),
  retryInterval: Millis.pipe(withDefault(1_500)),
  pendingLimit: int(0, 65536).pipe(withDefault(64)),
  announce: Schema.Boolean.pipe(withDefault(true)),
  acceptUnsolicited: Schema.Boolean.pipe(withDefault(false)),
  reachableTime: Millis.pipe(withDefault(30_000)),
  verifyTimeout: Millis.pipe(withDefault(1_000)),
  maxEntries: int(1, 1_000_000).pipe(withDefault(1024)),
})

/** A decoded ARP configuration: every default filled in, durations in milliseconds. */
export type ArpConfig = typeof ArpConfig.Type
/** An ARP configuration as written: only `address` is required. */
export type ArpConfigInput = typeof ArpConfig.Encoded
