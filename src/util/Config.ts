/**
 * Building blocks shared by every layer's configuration Schema, so that all of them follow one convention:
 *
 * - One Schema per layer (`ArpConfig`, `Ipv4Config`, `TcpConfig`, …), next to the layer, owning its defaults: every
 *   optional field is declared with {@link withDefault}, so the decoded `Type` has every field filled in and the
 *   `Encoded` side (what a user writes) has every key optional. Defaults are applied in exactly one place, the Schema,
 *   and show up in `deno doc` through the field's JSDoc (write "default …" there).
 * - Durations are **milliseconds** after decoding. On input a duration is either a number of milliseconds or a
 *   `Duration` string such as `"5 seconds"` or `"200 millis"` ({@link Millis}).
 * - Unknown keys are refused ({@link decodeConfig} decodes with `onExcessProperty: "error"`), so a misspelled key is
 *   an error that names it instead of a silently ignored option.
 *
 * @module
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"

/** An integer in `minimum..maximum` (inclusive). */
export const int = (minimum: number, maximum: number): Schema.Int =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum, maximum })))

/** A duration as a user may write it: milliseconds, or a `Duration` string such as `"5 seconds"`. */
export type MillisInput = number | `${number} ${Duration.Unit}`

/**
 * The Schema of a duration string: a number, a space and a `Duration.Unit` (`"5 seconds"`). Its type is that template
 * literal, so a misspelled unit is a type error; at run time it is a string checked by `Duration` itself, whose
 * failure message says what is expected.
 */
export type DurationString = Schema.Codec<`${number} ${Duration.Unit}`>

const durationString: DurationString = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => {
    try {
      const d = Duration.fromInputUnsafe(s as Duration.Input)
      return Duration.isFinite(d) ? true : `expected a finite duration such as "5 seconds", got ${JSON.stringify(s)}`
    } catch {
      return `expected a duration such as "5 seconds" or "200 millis", got ${JSON.stringify(s)}`
    }
  })),
) as unknown as DurationString

/** The Schema type of {@link Millis}: decodes a {@link MillisInput} to a number of milliseconds. */
export type Millis = Schema.decodeTo<Schema.Finite, Schema.Union<readonly [Schema.Finite, DurationString]>>

/**
 * A duration: decodes a number of milliseconds or a `Duration` string (`"30 seconds"`) to milliseconds, and checks
 * it lies in `0..maximum` ms (default one day).
 */
export const millis = (maximum: number = 86_400_000): Millis =>
  Schema.Union([Schema.Finite, durationString]).pipe(
    Schema.decodeTo(
      Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum }))),
      {
        decode: SchemaGetter.transform((v: number | string) =>
          typeof v === "number" ? v : Duration.toMillis(Duration.fromInputUnsafe(v as Duration.Input))
        ),
        encode: SchemaGetter.transform((v: number) => v),
      },
    ),
  )

/** {@link millis} with the default bound (0 ms .. one day). */
export const Millis: Millis = millis()

/**
 * Marks a field optional on input and filled with `value` when the key is absent. `value` is given in the field's
 * encoded form (for a {@link Millis} field: a number of milliseconds).
 */
export const withDefault = <S extends Schema.Top>(
  value: S["Encoded"],
): (self: S) => Schema.withDecodingDefaultKey<S> => Schema.withDecodingDefaultKey(Effect.succeed(value))

const parseOptions = { onExcessProperty: "error", errors: "all" } as const

/**
 * Decodes a layer's configuration synchronously: the decoded value, or a message a person can act on (it names the
 * offending key, e.g. `mtuu`, and says what was expected).
 */
export const decodeConfig = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  input: unknown,
): Result.Result<S["Type"], string> => {
  const r = Schema.decodeUnknownResult(schema as unknown as Schema.Codec<S["Type"], unknown>)(input, parseOptions)
  return Result.isSuccess(r) ? Result.succeed(r.success) : Result.fail(r.failure.message)
}

/**
 * {@link decodeConfig} for a layer's `make`: the decoded value, or the layer's own typed error built by `invalid` from
 * the message `invalid <layer> configuration: …` (which names the offending key).
 */
export const decodeLayerConfig = <S extends Schema.Top & { readonly DecodingServices: never }, E>(
  schema: S,
  input: unknown,
  layer: string,
  invalid: (message: string) => E,
): Effect.Effect<S["Type"], E> => {
  const r = decodeConfig(schema, input)
  return Result.isSuccess(r)
    ? Effect.succeed(r.success)
    : Effect.fail(invalid(`invalid ${layer} configuration: ${r.failure}`))
}
