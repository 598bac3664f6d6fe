/**
 * The one error type of the wire codecs: returned (never thrown) by every `parse` of untrusted bytes.
 *
 * `reason` says what class of problem was found so a layer can count it in its stats; `message` says, for a
 * person reading a log, which field was wrong and how.
 *
 * The base class is extracted into a typed constant because JSR's "no slow types" rule rejects a call expression
 * in `extends`.
 *
 * @module
 */
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import * as Data from "effect/Data"
import * as Result from "effect/Result"

/** Why a packet was rejected. */
export type WireErrorReason = "Truncated" | "BadChecksum" | "BadVersion" | "Unsupported" | "Malformed"

/** The fields of a {@link WireError}. */
export interface WireErrorFields {
  /** What class of problem was found. */
  readonly reason: WireErrorReason
  /** Which field was wrong and how, for a person. */
  readonly message: string
}

/** The base class of {@link WireError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const WireErrorBase: TaggedErrorClass<"WireError", WireErrorFields> = Data.TaggedError("WireError")<
  WireErrorFields
>

/** A packet that cannot be parsed: too short, bad checksum, wrong version, unsupported or malformed field. */
export class WireError extends WireErrorBase {}

/** A failed parse result: `Result.fail(new WireError({ reason, message }))`. */
export const wireFail = (reason: WireErrorReason, message: string): Result.Result<never, WireError> =>
  Result.fail(new WireError({ reason, message }))
