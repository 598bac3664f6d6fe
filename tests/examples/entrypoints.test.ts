/**
 * Every program of `examples/` and `bench/` that evaluates `effect` makes `src/util/NoAsyncContext.ts` its first
 * import (issue 15). On Deno, effect 4.1 creates a `node:async_hooks` `AsyncResource` at every fiber suspension and
 * Deno keeps each one reachable from the next, so a long-running fiber (a TAP reader, a switch port, the TCP timer)
 * holds about 0.5 KiB per suspension for as long as it runs: `examples/tap.ts` without the workaround grew from 79 MB
 * to 1.78 GB under a ping flood. The workaround only acts when it is evaluated before `effect`, which is what this
 * checks, statically: the first import declaration of each entry point, and whether its static import graph (type-only
 * imports left out) reaches `effect` at all (`bench/checksum.ts` does not, and needs nothing).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT: string = fileURLToPath(new URL("../../", import.meta.url))
const WORKAROUND: string = resolve(ROOT, "src/util/NoAsyncContext.ts")

/** The specifiers of the import and re-export declarations of `source` that are evaluated (not `import type`). */
const evaluatedSpecifiers = (source: string): Array<string> => {
  const out: Array<string> = []
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[^"';]*?\sfrom\s+)?"([^"]+)"/gm
  for (let m = re.exec(source); m !== null; m = re.exec(source)) if (m[1] === undefined) out.push(m[2])
  return out
}

/** The specifier of the first import declaration of `source`. */
const firstImport = (source: string): string | undefined => {
  const m = /^import\s+(?:[^"';]*?\sfrom\s+)?"([^"]+)"/m.exec(source)
  return m === null ? undefined : m[1]
}

/** Whether evaluating `file` evaluates `effect` (follows relative imports). */
const reachesEffect = (file: string, seen: Set<string> = new Set()): boolean => {
  if (seen.has(file)) return false
  seen.add(file)
  for (const spec of evaluatedSpecifiers(readFileSync(file, "utf8"))) {
    if (spec === "effect" || spec.startsWith("effect/")) return true
    if (spec.startsWith(".")) {
      const target = resolve(dirname(file), spec)
      if (existsSync(target) && reachesEffect(target, seen)) return true
    }
  }
  return false
}

/** The runnable programs: `examples/*.ts` (not the `_` helpers) and `bench/*.ts`. */
const entryPoints = (): Array<string> =>
  ["examples", "bench"].flatMap((dir) =>
    readdirSync(join(ROOT, dir))
      .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
      .map((f) => join(ROOT, dir, f))
  )

describe("entry points and the Deno async-hooks workaround", () => {
  it("every example and benchmark that evaluates effect imports src/util/NoAsyncContext.ts first", () => {
    const files = entryPoints()
    assert.ok(files.some((f) => f.endsWith(join("examples", "tap.ts"))), "examples/tap.ts is among them")
    const missing: Array<string> = []
    let checked = 0
    for (const file of files) {
      if (!reachesEffect(file)) continue
      checked++
      const first = firstImport(readFileSync(file, "utf8"))
      if (first === undefined || resolve(dirname(file), first) !== WORKAROUND) {
        missing.push(`${file.slice(ROOT.length)} (first import: ${first})`)
      }
    }
    assert.ok(checked >= 8, `found ${checked} entry points that evaluate effect`)
    assert.deepEqual(missing, [], "entry points without the workaround as their first import")
  })

  it("the import scan sees through multi-line imports and leaves type-only imports out", () => {
    const src =
      `import type { A } from "./a.ts"\nimport {\n  b,\n  type C,\n} from "effect/Effect"\nimport "./side.ts"\n` +
      `export { d } from "./d.ts"\n`
    assert.deepEqual(evaluatedSpecifiers(src), ["effect/Effect", "./side.ts", "./d.ts"])
    assert.equal(firstImport(src), "./a.ts")
  })
})
