/**
 * `src/util/NoAsyncContext.ts` (the `./no-async-context` entry point): each case runs a small program in a child
 * process of the same runtime (the module acts once per process, when `effect` is evaluated), which runs a
 * two-fiber `Queue` ping-pong and reports
 *
 * - `resources`: the `AsyncResource`s effect created for its fibers (`node:async_hooks` init callbacks of type
 *   `effect/Fiber`; Deno reports them, Bun's `createHook` reports nothing);
 * - `carried`: how many times fiber "a", started inside `AsyncLocalStorage.run("a")`, still saw store "a" after
 *   being woken by fiber "b", started inside `run("b")`: the async context effect carries across a suspension.
 *
 * On Deno the module must stop both; on Bun it must change nothing.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const ROUND_TRIPS = 1000
const moduleUrl: string = new URL("../../src/util/NoAsyncContext.ts", import.meta.url).href
const repoRoot: string = fileURLToPath(new URL("../../", import.meta.url))
const deno = (globalThis as { readonly Deno?: { readonly execPath: () => string } }).Deno
const isDeno = deno !== undefined

/** The program after the imports; `asyncContextDisabled` is in scope. */
const BODY = `
import { AsyncLocalStorage, createHook } from "node:async_hooks"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
let resources = 0
createHook({ init(_id, type) { if (type === "effect/Fiber") resources++ } }).enable()
const als = new AsyncLocalStorage()
const ping = Effect.runSync(Queue.unbounded())
const pong = Effect.runSync(Queue.unbounded())
let carried = 0
const a = als.run("a", () => Effect.runPromise(Effect.gen(function* () {
  for (let i = 0; i < ${ROUND_TRIPS}; i++) {
    yield* Queue.offer(ping, i)
    yield* Queue.take(pong)
    if (als.getStore() === "a") carried++
  }
})))
const b = als.run("b", () => Effect.runPromise(Effect.gen(function* () {
  for (let i = 0; i < ${ROUND_TRIPS}; i++) yield* Queue.offer(pong, yield* Queue.take(ping))
})))
await Promise.all([a, b])
console.log(JSON.stringify({ asyncContextDisabled, resources, carried }))
`

/** The module imported first, the way it is meant to be used. */
const FIRST = `import { asyncContextDisabled } from ${JSON.stringify(moduleUrl)}\n${BODY}`
/** The module imported only after `effect` has been evaluated: too late to act. */
const LATE = `import "effect"\nconst { asyncContextDisabled } = await import(${JSON.stringify(moduleUrl)})\n${BODY}`

interface Report {
  readonly asyncContextDisabled: boolean
  readonly resources: number
  readonly carried: number
}

const run = (
  code: string,
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Record<string, string> } = {},
): Promise<Report> => {
  const command = deno !== undefined ? deno.execPath() : process.execPath
  const args = [...(isDeno ? ["eval", "--quiet", code] : ["-e", code]), ...(options.args ?? [])]
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...options.env }
  if (options.env?.VNETIF_KEEP_ASYNC_HOOKS === undefined) delete env.VNETIF_KEEP_ASYNC_HOOKS
  return new Promise((resolve, reject) =>
    execFile(command, args, { cwd: repoRoot, env, timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`child failed: ${error.message}\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Report)
    })
  )
}

/** Effect runs with async context: it carries the store across every suspension. */
const assertAsyncContext = (r: Report): void => {
  assert.equal(r.asyncContextDisabled, false)
  assert.equal(r.carried, ROUND_TRIPS)
  // Deno reports every AsyncResource (2 per round trip); Bun's createHook reports none
  if (isDeno) assert.ok(r.resources >= ROUND_TRIPS, `${r.resources} AsyncResources`)
}

/** Starts a child now; a failure is reported by the test that awaits it, not as an unhandled rejection. */
const started = (report: Promise<Report>): Promise<Report> => {
  report.catch(() => undefined)
  return report
}

describe("NoAsyncContext", () => {
  // the children run concurrently: together they take about as long as one
  const first = started(run(FIRST))
  const envOptOut = started(run(FIRST, { env: { VNETIF_KEEP_ASYNC_HOOKS: "1" } }))
  const argvOptOut = started(run(FIRST, { args: ["--keep-async-hooks"] }))
  const late = started(run(LATE))

  it(isDeno ? "imported first on Deno: effect creates no AsyncResource" : "on Bun: changes nothing", async () => {
    const r = await first
    if (isDeno) {
      assert.deepEqual(r, { asyncContextDisabled: true, resources: 0, carried: 0 })
    } else {
      assertAsyncContext(r)
    }
  })

  it("VNETIF_KEEP_ASYNC_HOOKS=1 keeps async context", async () => assertAsyncContext(await envOptOut))

  it("--keep-async-hooks keeps async context", async () => assertAsyncContext(await argvOptOut))

  it("imported after effect: does nothing and says so", async () => assertAsyncContext(await late))
})
