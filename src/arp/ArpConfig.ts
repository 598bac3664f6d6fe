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
}

/** Schema of the ARP layer's configuration: `Arp.layer(input)` decodes its input with it. */
export const ArpConfig: Schema.Struct<ArpConfigFields> = Schema.Struct({
  address: Schema.Union([Ipv4AddressFromString, Ipv4AddressSchema]),
  timeout: Millis.pipe(withDefault(60_000)),
  retries: int(1, 100).pipe(withDefault(5)),
  retryInterval: Millis.pipe(withDefault(1_500)),
  pendingLimit: int(0, 65536).pipe(withDefault(64)),
  announce: Schema.Boolean.pipe(withDefault(true)),
})

/** A decoded ARP configuration: every default filled in, durations in milliseconds. */
export type ArpConfig = typeof ArpConfig.Type
/** An ARP configuration as written: only `address` is required. */
export type ArpConfigInput = typeof ArpConfig.Encoded
