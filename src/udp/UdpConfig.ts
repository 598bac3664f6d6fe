/**
 * The configuration of the UDP layer: one Schema, {@link UdpConfig}, that owns every default (see `util/Config.ts`
 * for the convention: durations in milliseconds or `Duration` strings, unknown keys refused).
 *
 * @module
 */
import * as Schema from "effect/Schema"
import { int, withDefault } from "../util/Config.ts"

/** The fields of {@link UdpConfig}, with their defaults. */
export type UdpConfigFields = {
  /** Capacity of each socket's receive queue, in datagrams, 1..1 048 576, default 1024. */
  readonly queueSize: Schema.withDecodingDefaultKey<Schema.Int>
}

/** Schema of the UDP layer's configuration: `Udp.layer(input)` decodes its input with it. */
export const UdpConfig: Schema.Struct<UdpConfigFields> = Schema.Struct({
  queueSize: int(1, 1 << 20).pipe(withDefault(1024)),
})

/** A decoded UDP configuration: every default filled in. */
export type UdpConfig = typeof UdpConfig.Type
/** A UDP configuration as written: every key optional. */
export type UdpConfigInput = typeof UdpConfig.Encoded
