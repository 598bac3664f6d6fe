/**
 * StackMetrics: a snapshot of every layer's counters after a simulated transfer, published as Effect metrics
 * (increments only between publishes), and printable.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import { Simulation } from "../../src/Simulation.ts"
import { StackMetricKeys, StackMetrics } from "../../src/StackMetrics.ts"

describe("StackMetrics", () => {
  it("snapshot, publish (deltas) and format after a transfer", async () => {
    const r = await Effect.runPromise(Simulation.run({ stacks: 2, seed: 5 }, ([a, b]) =>
      Effect.gen(function* () {
        const publish = StackMetrics.publisher(a, "client-sm-test")
        const listener = yield* b.tcp.listen(7)
        const server = yield* Effect.forkChild(Effect.gen(function* () {
          const c = yield* listener.accept
          while ((yield* c.read) !== undefined) { /* drain */ }
          yield* c.close
        }))
        const conn = yield* a.tcp.connect(b.address, 7)
        yield* conn.write(new Uint8Array(100_000))
        yield* conn.closeWrite
        yield* Fiber.join(server)
        yield* conn.close
        const s = yield* publish
        yield* publish // no change: no double counting
        const segs = Metric.withAttributes(StackMetricKeys.events, {
          stack: "client-sm-test",
          layer: "tcp",
          counter: "segmentsOut",
        })
        const published = (yield* Metric.value(segs)).count
        return { s, published, text: StackMetrics.format(s) }
      })))
    const { s, published, text } = r.value
    assert.equal(s.address, "10.0.0.1")
    assert.equal(s.layers.tcp.activeOpens, 1)
    assert.ok(s.layers.tcp.segmentsOut > 60)
    assert.equal(published, s.layers.tcp.segmentsOut)
    assert.match(text, /tcp +.*activeOpens 1/)
  })
})
