/**
 * Opt-in workaround for a memory leak of effect 4.1 on Deno: import it first in a Deno program.
 *
 * ```ts
 * // main.ts: the FIRST import of the program's entry module
 * import "jsr:@vnetif/vnetif/no-async-context"
 * import { Effect } from "effect"
 * ```
 *
 * **The problem.** effect 4.1 creates a `node:async_hooks` `AsyncResource` each time a fiber suspends (and each
 * time one is forked), to carry the async context across the suspension, and calls `emitDestroy` when the fiber
 * resumes. Deno 2.9 never frees those resources (about 0.5 KiB each): a program that suspends fibers millions of times
 * (a 1 GiB vnetif transfer does) grows by hundreds of MiB and slows down with its garbage collector. Measured: a
 * two-fiber `Queue` ping-pong of 2 M round trips (4 M suspensions) grows from 70 MiB to 2.2 GiB RSS and takes 27 s;
 * with this module it stays at 160 MiB and takes 9 s. Bun is not affected.
 *
 * **What this module does.** effect looks `node:async_hooks` up once, when its copy of the package is evaluated,
 * through `process.getBuiltinModule`, and creates no `AsyncResource` at all when the lookup gives nothing. On Deno,
 * this module hides `node:async_hooks` from that function, imports `effect` (ECMAScript modules evaluate the
 * imports of a module in order, before its body, so `effect` is evaluated while the module is hidden), then puts
 * the original function back. On Bun and Node it does nothing.
 *
 * **What it costs.** Async context — `AsyncLocalStorage` and anything built on `node:async_hooks` — is not carried
 * across fiber suspensions any more: a fiber that suspends (waits on a `Queue`, a `Deferred`, a sleep, a promise, …)
 * resumes in the async context of whatever woke it, and a forked fiber is not given the async context of the code
 * that forked it. So `AsyncLocalStorage.getStore()` inside an effect may return another store, or
 * `undefined`, after the first suspension. Effect's own context (services, `Context.Reference`s, spans of
 * effect's tracer) lives in the fiber and is not affected.
 *
 * **When it works.**
 * - Only if this module is evaluated before any other module evaluates `effect`: make it the first `import` of the
 *   program's entry module (imports are evaluated depth-first in the order written, so nothing imported before it
 *   may import `effect`, directly or not), and do not load it with a dynamic `import()` after `effect`. Once
 *   `effect` has been evaluated, it has its `AsyncResource` and this module cannot take it back.
 * - Only for the same copy of `effect`: the one this package resolves (`npm:effect@^4.1.0`, deduplicated with the
 *   program's own `effect` when both resolve to the same npm version). A program that ends up with a second copy
 *   of `effect` (another resolved version) keeps the leak in that copy.
 *
 * {@link asyncContextDisabled} tells whether it took effect: check it (or log it) if memory still grows.
 *
 * **Opting out** without removing the import: pass `--keep-async-hooks` on the command line (found anywhere in
 * `process.argv`), or set the environment variable `VNETIF_KEEP_ASYNC_HOOKS` to anything but `""` or `"0"` — read
 * only when env access to it is already granted (`--allow-env` or `--allow-env=VNETIF_KEEP_ASYNC_HOOKS`; this
 * module never prompts for a permission).
 *
 * @module
 */
// first: hides node:async_hooks (on Deno, unless opted out) while the next import evaluates `effect`
import { restoreAsyncHooks } from "./_hideAsyncHooks.ts"
// a binding used below, not a bare `import "effect"`: effect's package.json marks its modules free of side effects,
// and a bundler may drop a bare import of it (and evaluate effect later, where the program first uses it)
import * as Effect from "effect/Effect"

/**
 * Whether the workaround is active: `true` on Deno when `effect` was evaluated with `node:async_hooks` hidden (so
 * this copy of effect creates no `AsyncResource` and carries no async context across fiber suspensions); `false`
 * on Bun and Node, when opted out (`--keep-async-hooks`, `VNETIF_KEEP_ASYNC_HOOKS`), and when `effect` had already
 * been evaluated before this module (the import was not first: the workaround did nothing).
 */
export const asyncContextDisabled: boolean = restoreAsyncHooks() > 0 && Effect !== undefined
