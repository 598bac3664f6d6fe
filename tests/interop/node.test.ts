/**
 * On Node: `Tap` fails with the typed "Unsupported" error (no FFI) and `Vxlan` works (node:dgram). The check script
 * `_node_check.ts` is bundled for Node with `bun build --target=node` (Node 20 cannot run TypeScript) and run with
 * `node`; it joins two of our switches by VXLAN over 127.0.0.1. Needs `node` and the `bun` of node_modules, no root.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { announceSkip, has, removeTempDir, ROOT, run, tempDir } from "./_netns.ts"

const BUN = join(ROOT, "node_modules", ".bin", "bun")
const SKIP = !has("node") ? "needs node on the PATH" : !existsSync(BUN) ? "needs node_modules/.bin/bun (npm ci)" : false
announceSkip("node.test.ts", SKIP)

describe("Node: TAP is unsupported with a typed error, VXLAN works", () => {
  it("Tap.open fails with Unsupported; two switches over VXLAN ping and echo UDP", {
    skip: SKIP,
    timeout: 120_000,
  }, async () => {
    const dir = tempDir()
    try {
      const bundle = join(dir, "node-check.mjs")
      const build = await run(BUN, [
        "build",
        "--target=node",
        join(ROOT, "tests", "interop", "_node_check.ts"),
        "--outfile",
        bundle,
      ], { timeoutMs: 60_000 })
      assert.equal(build.code, 0, build.stderr)
      const r = await run("node", [bundle], { timeoutMs: 30_000 })
      assert.equal(r.code, 0, r.stderr)
      const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "))
      assert.ok(line !== undefined, r.stdout + r.stderr)
      const result = JSON.parse(line.slice(7)) as { tapReason: string; tapMessage: string; echoed: boolean }
      assert.equal(result.tapReason, "Unsupported")
      assert.match(result.tapMessage, /Bun, or Deno with --allow-ffi/)
      assert.equal(result.echoed, true)
    } finally {
      removeTempDir(dir)
    }
  })
})
