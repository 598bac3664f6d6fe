/**
 * The persist timer against the scripted {@link TcpPeer}, under TestClock (RFC 9293 §3.8.6.1 zero-window probing,
 * §3.8.6.2.1 sender SWS avoidance):
 *
 * - a peer whose window is small but open (100 bytes, after a SYN offering 65 535) gets the 100 bytes when the
 *   persist timer overrides SWS avoidance, and nothing past its window: no one-byte "probe" right behind them
 *   (issue 15: the stack used to send one, a byte past an open window);
 * - a peer whose window is zero gets a one-byte probe, backed off, until it opens the window.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Stack } from "../../src/Stack.ts"
import { runTest, withSwitch } from "../support/TestDevice.ts"
import type { TcpConnection } from "../../src/tcp/Tcp.ts"
import { TcpPeer, type TcpPeerConnection } from "../support/TcpPeer.ts"

const pattern = (n: number): Uint8Array => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff
  return b
}

/**
 * A stack (10.0.0.1) serving port 80 and the peer (10.0.0.2) connected to it (the peer's SYN offers 65 535, so
 * MAX.SND.WND is large); runs `body`, then resets the connection from the peer whatever happened, so that a failed
 * expectation ends the test instead of leaving the stack's graceful close waiting in virtual time.
 */
const withConnection = <A, E>(body: (c: TcpPeerConnection, conn: TcpConnection) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const stack = yield* Stack.make({ cidr: "10.0.0.1/24" })
    const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
    const listener = yield* stack.tcp.listen(80)
    const accepting = yield* Effect.forkChild(listener.accept)
    const c = yield* peer.connect(80)
    const conn = yield* Fiber.join(accepting)
    return yield* body(c, conn).pipe(Effect.ensuring(Effect.ignore(c.reset)))
  })

describe("persist timer (RFC 9293 §3.8.6)", () => {
  it("a small open window: the persist timeout sends the window's worth, and no byte past it", () =>
    runTest(withSwitch(() =>
      withConnection((c, conn) =>
        Effect.gen(function* () {
          const data = pattern(1000)
          // the peer shrinks its window to 100 bytes, then the application writes
          yield* c.send({ flags: "ACK", window: 100 })
          yield* Effect.forkChild(conn.write(data))
          let sent = 0
          for (let round = 0; round < 3; round++) {
            // 100 < MAX.SND.WND / 2: sender SWS avoidance holds it until the persist timer overrides it
            const seg = yield* c.expect({ flags: "ACK", payloadLength: 100 }, { timeout: "2 seconds" })
            assert.deepEqual([...seg.payload], [...data.subarray(sent, sent + 100)])
            sent += 100
            // nothing past the window that the 100 bytes filled: no probe byte behind them (the bug sent it at once;
            // the wait stays below the RTO, so no retransmission muddles the inbox)
            yield* c.expectNone({ payloadLength: 1 }, "150 millis")
            yield* c.send({ flags: "ACK", window: 100 })
          }
          const s = yield* conn.stats
          assert.equal(s.windowProbes, 0, "no zero-window probe: the window was never zero")
        })
      )
    )))

  it("a zero window: one-byte probes, backed off, until the window opens", () =>
    runTest(withSwitch(() =>
      withConnection((c, conn) =>
        Effect.gen(function* () {
          const data = pattern(300)
          yield* c.send({ flags: "ACK", window: 0 })
          yield* Effect.forkChild(conn.write(data))
          const p1 = yield* c.expect({ flags: "ACK", payloadLength: 1 }, { timeout: "2 seconds" })
          assert.equal(p1.payload[0], data[0])
          // the probe byte is not accepted: the window stays zero
          yield* c.send({ flags: "ACK", window: 0, ack: p1.seqNumber })
          const p2 = yield* c.expect({ flags: "ACK", payloadLength: 1 }, { timeout: "5 seconds" })
          assert.equal(p2.seqNumber, p1.seqNumber, "the same byte again: SND.NXT did not advance")
          const gap2 = p2.at - p1.at
          yield* c.send({ flags: "ACK", window: 0, ack: p1.seqNumber })
          const p3 = yield* c.expect({ flags: "ACK", payloadLength: 1 }, { timeout: "5 seconds" })
          assert.ok(p3.at - p2.at >= 2 * gap2 - 20, `backed off: ${gap2} ms, then ${p3.at - p2.at} ms`)
          assert.equal((yield* conn.stats).windowProbes, 3)
          // the window opens: everything goes, from the probe's byte on
          yield* c.send({ flags: "ACK", window: 65535, ack: p1.seqNumber })
          yield* c.expect({ seq: p1.seqNumber, payload: data }, { timeout: "2 seconds" })
        })
      )
    )))
})
