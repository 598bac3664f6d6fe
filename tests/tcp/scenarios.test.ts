/**
 * The mirage-tcpip scenarios over a plain switch: an iperf-like 8 MiB transfer (checksums on and off, both
 * congestion controllers), MTU 1500 ↔ 9000 and 9000 ↔ 9000, a slow receiver that pauses until the window closes
 * (it must reopen: mirage's "deadlock" test), and 1000 concurrent connections between two stacks each echoing their
 * own data. Every transfer checks length and hash.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { run, withSwitch } from "../support/TestDevice.ts"
import { fnv1a, node, randomBytes, receiveAll, transfer } from "./_service.ts"

const MiB = 1024 * 1024

describe("Tcp scenarios: iperf over a plain link", () => {
  it("8 MiB client → server, byte-exact, no retransmission", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const r = yield* transfer(a, b, randomBytes(8 * MiB, 1))
        assert.equal(r.client.retransmits, 0)
        assert.equal(r.client.bytesWritten, 8 * MiB)
        assert.equal(r.server.bytesRead, 8 * MiB)
      })
    )))

  it("8 MiB with checksums computed and verified, CUBIC, odd write sizes", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { checksum: "all", tcp: { congestion: "cubic" } })
        const b = yield* node("10.0.0.2/24", { checksum: "all" })
        yield* transfer(a, b, randomBytes(8 * MiB, 2), { writeSize: 12_345 })
        assert.equal((yield* b.tcp.stats).badChecksum, 0)
      })
    )))

  it("MTU 1500 client ↔ 9000 server: the MSS is negotiated down, nothing is dropped for size", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { mtu: 1500 })
        const b = yield* node("10.0.0.2/24", { mtu: 9000 })
        const r = yield* transfer(a, b, randomBytes(8 * MiB, 3))
        assert.equal(r.client.mss, 1448)
        assert.equal(r.server.mss, 1448)
        // and the other direction: the 9000 side sends to the 1500 side
        yield* transfer(b, a, randomBytes(2 * MiB, 4), { port: 5002 })
        assert.equal((yield* a.stack.vnetif.stats).rxDrops, 0)
        assert.equal((yield* b.stack.vnetif.stats).rxDrops, 0)
      })
    )))

  it("MTU 9000 ↔ 9000: jumbo segments", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", { mtu: 9000 })
        const b = yield* node("10.0.0.2/24", { mtu: 9000 })
        const r = yield* transfer(a, b, randomBytes(8 * MiB, 5))
        assert.equal(r.client.mss, 8960 - 12)
        assert.equal(r.client.retransmits, 0)
      })
    )))
})

describe("Tcp scenarios: flow control", () => {
  it("a slow receiver that pauses: the window closes, zero-window probes, the window reopens", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24", { tcp: { receiveBufferSize: 16 * 1024 } })
        let pauses = 0
        const r = yield* transfer(a, b, randomBytes(1 * MiB, 6), {
          // stop reading twice for longer than it takes the window to close and the persist timer (≥ 200 ms) to
          // fire on the zero window, and read slowly in between. (Before the window is zero the receiver's SWS
          // avoidance leaves a sub-MSS window, which the persist timeout sends as one segment: that is no probe.)
          pause: (n) => {
            if ((n > 100_000 && pauses === 0) || (n > 600_000 && pauses === 1)) {
              pauses++
              return Effect.sleep("1 second")
            }
            return n % 7 === 0 ? Effect.sleep("1 millis") : Effect.void
          },
        })
        assert.equal(pauses, 2)
        assert.ok(r.client.windowProbes >= 2, `zero-window probes: ${r.client.windowProbes}`)
        assert.equal(r.server.bytesRead, 1 * MiB)
      })
    )))
})

describe("Tcp scenarios: many connections", () => {
  it("1000 concurrent connections between two stacks each echo their own data", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const tcp = { sendBufferSize: 4096, receiveBufferSize: 4096, backlog: 2048, timeWait: 100 }
        const a = yield* node("10.0.0.1/24", { tcp, queueCapacity: 8192 })
        const b = yield* node("10.0.0.2/24", { tcp, queueCapacity: 8192 })
        yield* b.tcp.serve(7, (conn) =>
          Effect.gen(function* () {
            while (true) {
              const d = yield* conn.read
              if (d === undefined) break
              yield* conn.write(d)
            }
          }))
        const N = 1000
        const results = yield* Effect.forEach(
          Array.from({ length: N }, (_, i) => i),
          (i) =>
            Effect.scoped(Effect.gen(function* () {
              const data = randomBytes(1000 + (i % 7) * 311, i + 1)
              const conn = yield* a.tcp.connect(b.address, 7)
              const reader = yield* Effect.forkChild(receiveAll(conn))
              yield* conn.write(data)
              yield* conn.closeWrite
              const got = yield* Fiber.await(reader)
              assert.ok(got._tag === "Success", `connection ${i}: ${String(got)}`)
              assert.equal(got.value.length, data.length, `connection ${i}: length`)
              assert.equal(got.value.hash, fnv1a(data), `connection ${i}: hash`)
              return conn.localPort
            })),
          { concurrency: "unbounded" },
        )
        assert.equal(new Set(results).size, N, "distinct ephemeral ports")
        const sb = yield* b.tcp.stats
        assert.equal(sb.passiveOpens, N)
      })
    )))
})
