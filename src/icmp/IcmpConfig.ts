/**
 * The configuration of the ICMP layer: one Schema, {@link IcmpConfig}, that owns every default (see
 * `util/Config.ts` for the convention: durations in milliseconds or `Duration` strings, unknown keys refused).
 *
 * @module
 */
import * as Schema from "effect/Schema"
import { int, withDefault } from "../util/Config.ts"

/** The fields of {@link IcmpRateLimit}, with their defaults. */
export type IcmpRateLimitFields = {
  /** Tokens added per second, 0.001..1e9, default 100 (RFC 1812 §4.3.2.8). */
  readonly perSecond: Schema.withDecodingDefaultKey<Schema.Finite>
  /** Most tokens held: the largest burst of error messages, 1..1 000 000, default 50. */
  readonly burst: Schema.withDecodingDefaultKey<Schema.Int>
}

/** Schema of the token bucket limiting the error messages ICMP sends. */
export const IcmpRateLimit: Schema.Struct<IcmpRateLimitFields> = Schema.Struct({
  perSecond: Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0.001, maximum: 1e9 })), withDefault(100)),
  burst: int(1, 1_000_000).pipe(withDefault(50)),
})

/** The fields of {@link IcmpConfig}, with their defaults. */
export type IcmpConfigFields = {
  /** Rate limit of the error messages sent, default 100 per second with bursts of 50. */
  readonly rateLimit: Schema.withDecodingDefaultKey<typeof IcmpRateLimit>
  /** Answer datagrams for a protocol nobody registered with "protocol unreachable", default true. */
  readonly protocolUnreachable: Schema.withDecodingDefaultKey<Schema.Boolean>
}

/** Schema of the ICMP layer's configuration: `Icmp.layer(input)` decodes its input with it. */
export const IcmpConfig: Schema.Struct<IcmpConfigFields> = Schema.Struct({
  rateLimit: IcmpRateLimit.pipe(withDefault({})),
  protocolUnreachable: Schema.Boolean.pipe(withDefault(true)),
})

/** A decoded ICMP configuration: every default filled in. */
export type IcmpConfig = typeof IcmpConfig.Type
/** An ICMP configuration as written: every key optional. */
export type IcmpConfigInput = typeof IcmpConfig.Encoded
