/**
 * The configuration of the IPv4 layer: one Schema, {@link Ipv4Config}, that owns every default (see
 * `util/Config.ts` for the convention). Durations are milliseconds after decoding and may be written as a number of
 * milliseconds or a `Duration` string such as `"30 seconds"`; unknown keys are refused.
 *
 * The interface's address (`cidr`) and `gateway` belong to this Schema: they are what the IPv4 layer routes with and
 * checks (`routeFromConfig` in `Ipv4.ts`), and a layer built by hand needs nothing else. `StackConfig` lifts these
 * two fields to its top level (`Stack.make({ cidr })`) and keeps the rest under its `ipv4` key.
 *
 * @module
 */
import * as Schema from "effect/Schema"
import { int, Millis, withDefault } from "../util/Config.ts"
import { Ipv4AddressFromString, Ipv4AddressSchema, Ipv4Cidr } from "../wire/Ipv4Address.ts"
import { defaultReassemblyOptions } from "./Reassembly.ts"

/** The decoded form of a CIDR, accepted as input too: `{ address, prefixLength }`. */
export type Ipv4CidrValue = Schema.Struct<
  { readonly address: typeof Ipv4AddressSchema; readonly prefixLength: Schema.Int }
>

/** A CIDR as written ("10.0.0.2/24") or already decoded (`{ address, prefixLength }`). */
export const Ipv4CidrInput: Schema.Union<readonly [typeof Ipv4Cidr, Ipv4CidrValue]> = Schema.Union([
  Ipv4Cidr,
  Schema.Struct({ address: Ipv4AddressSchema, prefixLength: int(0, 32) }),
])

/** An IPv4 address as written ("10.0.0.1") or already decoded (an `Ipv4Address`). */
export const Ipv4AddressInput: Schema.Union<readonly [typeof Ipv4AddressFromString, typeof Ipv4AddressSchema]> = Schema
  .Union([Ipv4AddressFromString, Ipv4AddressSchema])

/** The fields of {@link Ipv4Config}, with their defaults. */
export type Ipv4ConfigFields = {
  /** Address and prefix length of the interface, e.g. "10.0.0.2/24" (required). */
  readonly cidr: typeof Ipv4CidrInput
  /** Default gateway, on the subnet, e.g. "10.0.0.1" (default: none, only the subnet is reachable). */
  readonly gateway: Schema.optional<typeof Ipv4AddressInput>
  /** Time to live of sent datagrams when `write` does not say, 1..255, default 64. */
  readonly defaultTtl: Schema.withDecodingDefaultKey<Schema.Int>
  /** How long an incomplete datagram is kept for reassembly, default 30 000 ms (RFC 1122 §3.3.2). */
  readonly reassemblyTimeout: Schema.withDecodingDefaultKey<Millis>
  /** Most fragment bytes held for reassembly, default 4 MiB (4 194 304). */
  readonly reassemblyMaxBytes: Schema.withDecodingDefaultKey<Schema.Int>
  /** Most datagrams reassembled at once, 1..65536, default 256. */
  readonly reassemblyMaxDatagrams: Schema.withDecodingDefaultKey<Schema.Int>
}

/** Schema of the IPv4 layer's configuration: `Ipv4.layer(input)` decodes its input with it. */
export const Ipv4Config: Schema.Struct<Ipv4ConfigFields> = Schema.Struct({
  cidr: Ipv4CidrInput,
  gateway: Schema.optional(Ipv4AddressInput),
  defaultTtl: int(1, 255).pipe(withDefault(64)),
  // the reassembler's defaults (pure core, also used alone in tests) are the only copy of these values
  reassemblyTimeout: Millis.pipe(withDefault(defaultReassemblyOptions.timeout)),
  reassemblyMaxBytes: int(0, 1 << 30).pipe(withDefault(defaultReassemblyOptions.maxBytes)),
  reassemblyMaxDatagrams: int(1, 65536).pipe(withDefault(defaultReassemblyOptions.maxDatagrams)),
})

/** A decoded IPv4 configuration: every default filled in, durations in milliseconds. */
export type Ipv4Config = typeof Ipv4Config.Type
/** An IPv4 configuration as written: only `cidr` is required. */
export type Ipv4ConfigInput = typeof Ipv4Config.Encoded
