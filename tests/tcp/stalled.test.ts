/**
 * The stack-wide TCP memory limit against stalled downloads (issue 15): many clients ask a server for data and then
 * do not read. Without a limit every connection parks a full send buffer on the server and a full window on the
 * client; with `memoryLimit` both stacks stay within it — writers wait for memory instead of allocating, windows stop
 * growing under pressure — and everything completes byte-exact once the clients read. Also, against the scripted
 * {@link TcpPeer}: one byte out of order costs the connection that byte, not a window's worth of buffer.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Stack } from "../../src/Stack.ts"
import type { TcpConnection } from "../../src/tcp/Tcp.ts"
import { pollUntil, run, runTest, withSwitch } from "../support/TestDevice.ts"
import { TcpPeer } from "../support/TcpPeer.ts"
import { fnv1a, node, randomBytes, receiveAll } from "./_service.ts"

const KiB = 1024

describe("TCP memory limit: stalled downloads", () => {
  it("clients that do not read: both stacks stay within memoryLimit, writers wait, all arrives once they read", {
    timeout: 60_000,
  }, () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const LIMIT = 1024 * KiB
        const N = 64
        const SIZE = 192 * KiB // 12 MiB in all: twelve times what both stacks may hold together
        const server = yield* node("10.0.0.1/24", { tcp: { memoryLimit: LIMIT, backlog: 256 } })
        const client = yield* node("10.0.0.2/24", { tcp: { memoryLimit: LIMIT } })
        const payload = (i: number): Uint8Array => randomBytes(SIZE, i + 1)
        let written = 0
        yield* server.tcp.serve(80, (conn) =>
          Effect.gen(function* () {
            const head = yield* conn.read // the client's index, two bytes in one segment
            assert.ok(head !== undefined && head.length === 2)
            yield* conn.write(payload(head[0] | (head[1] << 8)))
            written++
            yield* conn.close
          }))
        const conns: Array<TcpConnection> = []
        for (let i = 0; i < N; i++) {
          const conn = yield* client.tcp.connect(server.address, 80)
          yield* conn.write(Uint8Array.of(i & 0xff, i >> 8))
          conns.push(conn)
        }
        // nobody reads: the transfer stalls once both stacks hold what their limit lets them
        yield* pollUntil(
          server.tcp.stats,
          (s) => s.memoryPressure && s.memoryWaits > 0,
          "the server's writers waiting for memory",
        )
        yield* Effect.sleep("300 millis")
        const s1 = yield* server.tcp.stats
        const c1 = yield* client.tcp.stats
        assert.ok(s1.memoryPeak <= LIMIT, `server peak ${s1.memoryPeak} ≤ ${LIMIT}`)
        assert.ok(c1.memoryPeak <= LIMIT, `client peak ${c1.memoryPeak} ≤ ${LIMIT}`)
        assert.ok(s1.memoryBytes > LIMIT / 2, `the server holds what it may: ${s1.memoryBytes}`)
        assert.ok(c1.memoryPressureEvents >= 1, "the clients' stack came under pressure: windows stopped growing")
        assert.ok(written < N / 4, `most writers still wait (${written} of ${N} done)`)
        assert.ok(s1.memoryWaits > 0, "writers waited for memory")
        // now the clients read: everything arrives, byte for byte
        const got = yield* Effect.forEach(conns, (conn) => receiveAll(conn), { concurrency: "unbounded" })
        for (let i = 0; i < N; i++) {
          assert.equal(got[i].length, SIZE, `connection ${i}: length`)
          assert.equal(got[i].hash, fnv1a(payload(i)), `connection ${i}: hash`)
        }
        assert.equal(written, N)
        const s2 = yield* server.tcp.stats
        const c2 = yield* client.tcp.stats
        assert.ok(s2.memoryPeak <= LIMIT && c2.memoryPeak <= LIMIT, `peaks ${s2.memoryPeak}, ${c2.memoryPeak}`)
        // closed connections give every byte back
        yield* Effect.forEach(conns, (conn) => conn.close, { concurrency: "unbounded", discard: true })
        yield* pollUntil(
          Effect.all([server.tcp.stats, client.tcp.stats]),
          ([s, c]) => s.memoryBytes === 0 && c.memoryBytes === 0,
          "all buffer memory released",
        )
      })
    )))
})

describe("TCP memory: out-of-order storage by need", () => {
  it("one byte far out in the window costs the connection that byte, not a buffer reaching it", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const stack = yield* Stack.make({ cidr: "10.0.0.1/24" })
        const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
        const listener = yield* stack.tcp.listen(80)
        const accepting = yield* Effect.forkChild(listener.accept)
        const c = yield* peer.connect(80, { windowScale: 7, sackPermitted: true })
        const conn = yield* Fiber.join(accepting)
        yield* Effect.gen(function* () {
          // one byte, 40 000 bytes beyond RCV.NXT (the window is 256 KiB)
          yield* c.send({ flags: "ACK", seq: c.seq(1 + 40_000), payload: Uint8Array.of(42) })
          yield* c.expect({ flags: "ACK", ack: c.seq(1), options: { sackBlocks: [[c.seq(40_001), c.seq(40_002)]] } })
          const s = yield* conn.stats
          assert.ok(s.bufferBytes <= 1 + 64, `the connection holds ${s.bufferBytes} bytes for 1 byte out of order`)
          assert.equal(s.outOfOrderBytes, s.bufferBytes)
          assert.ok((yield* stack.tcp.stats).memoryBytes <= 1 + 64)
          // the hole filled: 40 001 bytes in order
          yield* c.write(new Uint8Array(40_000))
          yield* c.expect({ flags: "ACK", ack: c.seq(40_002) })
          let n = 0
          while (n < 40_001) n += (yield* conn.read)?.length ?? 0
          assert.equal((yield* conn.stats).outOfOrderBytes, 0)
        }).pipe(Effect.ensuring(Effect.ignore(c.reset)))
      })
    )))
})
