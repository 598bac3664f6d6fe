/**
 * The constructor type of a `Data.TaggedError` class, spelled out.
 *
 * JSR's "no slow types" rule rejects `class X extends Data.TaggedError("X")<F> {}` because the type of a call
 * expression in `extends` must be inferred. Each error therefore extends an exported constant whose type is this
 * alias, which is exactly what `Data.TaggedError(tag)<F>` returns.
 *
 * @module
 */
import type * as Cause from "effect/Cause"

/** A class whose instances are yieldable tagged errors with tag `Tag` and readonly fields `F`. */
export type TaggedErrorClass<Tag extends string, F> = new (
  args: F,
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<F>
