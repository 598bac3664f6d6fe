/**
 * The first half of `NoAsyncContext.ts` (read that module's documentation): evaluated before `effect`, it hides
 * `node:async_hooks` from `process.getBuiltinModule` on Deno, unless the user opted out. `NoAsyncContext.ts`
 * imports this module, then `effect`, then calls {@link restoreAsyncHooks}: ECMAScript modules evaluate the
 * dependencies of a module one after another in the order of its `import` declarations, before the module's own
 * body, so `effect` is evaluated between the two.
 *
 * Not an entry point of the package; import `NoAsyncContext.ts` instead.
 *
 * @module
 */

type GetBuiltinModule = (id: string) => unknown

interface ProcessLike {
  getBuiltinModule?: GetBuiltinModule
  readonly argv?: ReadonlyArray<string>
}

interface DenoLike {
  readonly env?: { readonly get: (key: string) => string | undefined }
  readonly permissions?: {
    readonly querySync?: (descriptor: { readonly name: "env"; readonly variable: string }) => {
      readonly state: string
    }
  }
}

/** The environment variable that turns the workaround off: set to anything but `""` or `"0"`. */
export const KEEP_ASYNC_HOOKS_ENV: string = "VNETIF_KEEP_ASYNC_HOOKS"

/** The command-line argument that turns the workaround off. */
export const KEEP_ASYNC_HOOKS_FLAG: string = "--keep-async-hooks"

const proc: ProcessLike | undefined = (globalThis as { readonly process?: ProcessLike }).process
const deno: DenoLike | undefined = (globalThis as { readonly Deno?: DenoLike }).Deno
const original: GetBuiltinModule | undefined = proc?.getBuiltinModule

/** `VNETIF_KEEP_ASYNC_HOOKS`, read only when env access to it is already granted (never prompts, never throws). */
const envOptOut = (): boolean => {
  try {
    if (deno?.permissions?.querySync?.({ name: "env", variable: KEEP_ASYNC_HOOKS_ENV }).state !== "granted") {
      return false
    }
    const value = deno.env?.get(KEEP_ASYNC_HOOKS_ENV)
    return value !== undefined && value !== "" && value !== "0"
  } catch {
    return false
  }
}

let hiddenLookups = 0

const hidden: GetBuiltinModule = (id: string): unknown => {
  if (id === "node:async_hooks" || id === "async_hooks") {
    hiddenLookups++
    return undefined
  }
  return original?.call(proc, id)
}

/** Whether `node:async_hooks` is hidden now: on Deno, with `process.getBuiltinModule`, and no opt-out given. */
export const hiding: boolean = deno !== undefined && proc !== undefined && typeof original === "function" &&
  !(proc.argv ?? []).includes(KEEP_ASYNC_HOOKS_FLAG) && !envOptOut()

if (hiding && proc !== undefined) proc.getBuiltinModule = hidden

/**
 * Puts the original `process.getBuiltinModule` back (unless someone replaced it since) and returns how many times
 * `node:async_hooks` was looked up while hidden: more than zero means a copy of `effect` was evaluated in between
 * and runs without async context.
 */
export const restoreAsyncHooks = (): number => {
  if (proc !== undefined && original !== undefined && proc.getBuiltinModule === hidden) {
    proc.getBuiltinModule = original
  }
  return hiddenLookups
}
