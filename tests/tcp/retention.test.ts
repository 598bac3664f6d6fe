/**
 * Memory after connection churn (issue 15): a connection that left the table must leave no reference behind in the
 * stack, or a flood of short connections keeps every one of them (TCB, buffers, handle) alive. The structure checked
 * is the timer heap (`TcpStats.timerEntries`): before, a connection reset in FIN-WAIT-2 stayed in it until its 30 s
 * FIN-WAIT-2 deadline, and one whose deadline had moved earlier left a stale entry until the older deadline. Under
 * TestClock no deadline passes unless the test moves the clock, so nothing but the removal itself empties the heap.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { pollUntil, runTest, withSwitch } from "../support/TestDevice.ts"
import { node } from "./_service.ts"

const enc = new TextEncoder()
const N = 50

describe("Tcp: closed connections leave nothing in the timer heap", () => {
  it("connections reset by the peer in FIN-WAIT-2 leave the heap at once, not after finWait2Timeout (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        // B answers and closes first (as an HTTP server with `Connection: close` does): B in FIN-WAIT-2 once A acks
        yield* b.tcp.serve(80, (conn) => Effect.andThen(conn.write(enc.encode("bye")), conn.close))
        const before = yield* b.tcp.stats
        assert.equal(before.timerEntries, 0)
        yield* Effect.forEach(
          Array.from({ length: N }, (_, i) => i),
          () =>
            Effect.scoped(Effect.gen(function* () {
              const conn = yield* a.tcp.connect(b.address, 80)
              while ((yield* conn.read) !== undefined) {
                // read to B's FIN
              }
              yield* conn.abort // RST: B's connection goes from FIN-WAIT-2 to CLOSED
            })),
          { concurrency: "unbounded", discard: true },
        )
        const after = yield* pollUntil(b.tcp.stats, (s) => s.connections === 0, "B's connections closed by the RSTs")
        assert.equal(after.passiveOpens, N)
        assert.equal(after.timerEntries, 0, "no closed connection is left in B's timer heap")
        assert.equal((yield* a.tcp.stats).timerEntries, 0, "nor in A's")
      })
    )))

  it("rounds of connections closed both ways: at most one entry per open connection, none once TIME-WAIT is over", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        // each deadline that moved earlier (delayed ACK, FIN retransmission, TIME-WAIT) used to push a new entry and
        // leave the older one in the heap until its own time, after the connection was gone
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        yield* b.tcp.serve(80, (conn) =>
          Effect.gen(function* () {
            yield* conn.read
            yield* conn.write(enc.encode("reply"))
          }))
        for (let round = 0; round < 3; round++) {
          yield* Effect.forEach(
            Array.from({ length: N }, (_, i) => i),
            () =>
              Effect.scoped(Effect.gen(function* () {
                const conn = yield* a.tcp.connect(b.address, 80)
                yield* conn.write(enc.encode("request"))
                while ((yield* conn.read) !== undefined) {
                  // read to B's FIN
                }
              })),
            { concurrency: "unbounded", discard: true },
          )
          // right after the round: an entry only for a connection still in the table (B's in TIME-WAIT)
          const ra = yield* a.tcp.stats
          const rb = yield* b.tcp.stats
          assert.ok(
            ra.timerEntries <= ra.connections,
            `round ${round}: A ${ra.timerEntries} entries, ${ra.connections} conns`,
          )
          assert.ok(
            rb.timerEntries <= rb.connections,
            `round ${round}: B ${rb.timerEntries} entries, ${rb.connections} conns`,
          )
          // TIME-WAIT (1 s by default) ends for every connection: the tables empty
          for (
            let i = 0;
            i < 40 && ((yield* a.tcp.stats).connections > 0 || (yield* b.tcp.stats).connections > 0);
            i++
          ) {
            yield* TestClock.adjust("100 millis")
          }
          const sa = yield* a.tcp.stats
          const sb = yield* b.tcp.stats
          assert.equal(sa.connections + sb.connections, 0, `round ${round}: tables empty`)
          assert.equal(sa.timerEntries, 0, `round ${round}: A's timer heap empty`)
          assert.equal(sb.timerEntries, 0, `round ${round}: B's timer heap empty`)
        }
      })
    )))
})
