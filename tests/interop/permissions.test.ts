/**
 * TAP permission errors, as a user meets them: an unprivileged process gets `TapError` "PermissionDenied" with what
 * to do (EACCES on /dev/net/tun, or EPERM from TUNSETIFF where the device node is world-writable), and Deno without
 * `--allow-ffi` gets "PermissionDenied" naming the flag. As root the unprivileged case runs in a child whose
 * CAP_NET_ADMIN `setpriv` removed; as any other user it runs in-process. Nothing is created: every attempt fails first.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { existsSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { Tap, TapError } from "../../src/link/uplink/Tap.ts"
import { announceSkip, has, ROOT, run, RUNTIME, runtimeCommand } from "./_netns.ts"

const isRoot = typeof process.getuid === "function" && process.getuid() === 0
const DENO = join(ROOT, "node_modules", ".bin", "deno")
const SCRIPT = join(ROOT, "tests", "interop", "_tap_open.ts")

const SKIP_USER = !existsSync("/dev/net/tun")
  ? "needs /dev/net/tun"
  : RUNTIME === "node"
  ? "needs FFI: run under Bun or Deno"
  : isRoot && !has("setpriv")
  ? "as root, needs setpriv (util-linux) to drop CAP_NET_ADMIN"
  : false
const SKIP_DENO = existsSync(DENO) ? false : "needs node_modules/.bin/deno (npm ci)"
announceSkip("permissions.test.ts", SKIP_USER)

interface Outcome {
  readonly ok: boolean
  readonly reason?: string
  readonly errno?: number
  readonly message?: string
}

const parse = (stdout: string): Outcome => {
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "))
  assert.ok(line !== undefined, stdout)
  return JSON.parse(line.slice(7)) as Outcome
}

describe("TAP permission errors", () => {
  it("an unprivileged user gets PermissionDenied with what to do", { skip: SKIP_USER, timeout: 60_000 }, async () => {
    let outcome: Outcome
    if (isRoot) {
      // root without CAP_NET_ADMIN (dropped from the bounding set, so the child's permitted and effective sets lack
      // it): TUNSETIFF must refuse. Staying uid 0 keeps the checkout readable wherever it was cloned (a clone under
      // a 0700 temp directory is unreadable for an unprivileged user such as nobody).
      const r = await run("setpriv", ["--bounding-set=-net_admin", ...runtimeCommand(SCRIPT, ["vnperm0"])], {
        timeoutMs: 60_000,
      })
      outcome = parse(r.stdout + r.stderr)
    } else {
      const e = await Effect.runPromise(Effect.flip(Effect.scoped(Tap.open({ name: "vnperm0" }))))
      assert.ok(e instanceof TapError)
      outcome = {
        ok: false,
        reason: e.reason,
        ...(e.errno === undefined ? {} : { errno: e.errno }),
        message: e.message,
      }
    }
    assert.equal(outcome.ok, false)
    assert.equal(outcome.reason, "PermissionDenied")
    assert.ok(outcome.errno === 13 || outcome.errno === 1, `errno ${outcome.errno}`)
    assert.match(outcome.message ?? "", /root|CAP_NET_ADMIN/)
  })

  it(
    "Deno without --allow-ffi gets PermissionDenied naming the flag",
    { skip: SKIP_DENO, timeout: 60_000 },
    async () => {
      const r = await run(DENO, [
        "run",
        "--allow-read",
        "--allow-env",
        "--config",
        join(ROOT, "deno.json"),
        SCRIPT,
        "vnperm1",
      ], { timeoutMs: 60_000 })
      const outcome = parse(r.stdout + r.stderr)
      assert.equal(outcome.reason, "PermissionDenied")
      assert.match(outcome.message ?? "", /--allow-ffi/)
    },
  )
})
