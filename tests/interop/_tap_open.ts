/**
 * Opens a TAP device and reports how it went, for `tap.test.ts` to run as an unprivileged user:
 * `<runtime> tests/interop/_tap_open.ts NAME` prints `RESULT {"ok": true}` or
 * `RESULT {"ok": false, "reason", "errno", "message"}` and exits 0.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { Tap } from "../../src/link/uplink/Tap.ts"

const name = process.argv[2] ?? "vnperm0"
const result = await Effect.runPromise(
  Effect.scoped(Tap.open({ name })).pipe(
    Effect.map(() => ({ ok: true })),
    Effect.catch((e) => Effect.succeed({ ok: false, reason: e.reason, errno: e.errno, message: e.message })),
  ),
)
console.log(`RESULT ${JSON.stringify(result)}`)
