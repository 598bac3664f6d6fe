/**
 * A workaround the iperf example applies on Deno, imported before anything loads `effect`.
 *
 * effect 4.1.0 creates a `node:async_hooks` `AsyncResource` each time a fiber suspends (to carry async context
 * across the suspension) and calls `emitDestroy` when it resumes. On Deno 2.9 that costs ~1.7 µs per suspend and
 * the resources are never freed: a program that suspends fibers millions of times (a 1 GiB transfer does) grows by
 * ~1 KiB per suspend — hundreds of MiB — and slows down with the garbage collector (measured: a plain two-fiber
 * Queue ping-pong grows from 70 MiB to 3.3 GiB over 3 M round trips; with the workaround it stays at 160 MiB and
 * runs 4× faster). Bun is not affected.
 *
 * effect looks the module up once, when it is first evaluated, through `process.getBuiltinModule`. This module hides
 * `node:async_hooks` from that lookup; {@link restoreAsyncHooks} puts the original function back once `effect` has
 * been loaded. The only loss: async context (`AsyncLocalStorage`) is not carried across fiber suspensions, which
 * the example does not use. Pass `--keep-async-hooks` to measure without the workaround.
 *
 * @module
 */

type GetBuiltinModule = (name: string) => unknown

const proc = (globalThis as {
  readonly process?: { getBuiltinModule?: GetBuiltinModule; readonly argv?: ReadonlyArray<string> }
}).process
const isDeno = (globalThis as { readonly Deno?: unknown }).Deno !== undefined
const original: GetBuiltinModule | undefined = proc?.getBuiltinModule

/** Whether the workaround is active (Deno, and `--keep-async-hooks` not given). */
export const asyncHooksHidden: boolean = isDeno && proc !== undefined && original !== undefined &&
  !(proc.argv ?? []).includes("--keep-async-hooks")

if (asyncHooksHidden && proc !== undefined && original !== undefined) {
  proc.getBuiltinModule = (name: string): unknown =>
    name === "node:async_hooks" || name === "async_hooks" ? undefined : original.call(proc, name)
}

/** Puts the original `process.getBuiltinModule` back (call it after `effect` has been imported). */
export const restoreAsyncHooks = (): void => {
  if (proc !== undefined && original !== undefined) proc.getBuiltinModule = original
}
