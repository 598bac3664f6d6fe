/**
 * Self-test of the scripted TCP peer against one stack on a switch: the handshake both ways (with and without
 * options), data both ways checked byte for byte through the stack's Tcp API, the FIN exchange, virtual time
 * (a SYN-ACK retransmission seen at the stack's initial RTO), real time, and the failures: `expect` on a mismatch
 * (skipping and `next`), `expectNone` on an arrival, `expectData` on wrong bytes.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { Stack } from "../../src/Stack.ts"
import type { TcpConfigInput } from "../../src/tcp/Tcp.ts"
import { pattern, run, runTest, withSwitch } from "./TestDevice.ts"
import { rel, TcpPeer } from "./TcpPeer.ts"

const dec = new TextDecoder()

/** One stack (10.0.0.1) and a peer (10.0.0.2) on a fresh switch. */
const setup = (tcp: TcpConfigInput = {}) =>
  Effect.gen(function* () {
    const stack = yield* Stack.make({ cidr: "10.0.0.1/24", tcp })
    const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
    return { stack, peer }
  })

/** Reads exactly `n` bytes from a stack connection. */
const readN = (conn: { readonly read: Effect.Effect<Uint8Array | undefined, unknown> }, n: number) =>
  Effect.gen(function* () {
    const out = new Uint8Array(n)
    let got = 0
    while (got < n) {
      const d = yield* conn.read
      if (d === undefined) break
      out.set(d.subarray(0, n - got), got)
      got += d.length
    }
    assert.equal(got, n, "bytes read")
    return out
  })

describe("TcpPeer: handshakes, data and FIN against a stack", () => {
  it("active open with every option, data both ways byte-exact, FIN both ways (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { stack, peer } = yield* setup()
        assert.equal(peer.virtualTime, true)
        const listener = yield* stack.tcp.listen(80)
        const accepted = yield* Effect.forkChild(listener.accept)
        const c = yield* peer.connect(80, { mss: 1000, windowScale: 2, sackPermitted: true, timestamps: true })
        const conn = yield* Fiber.join(accepted)
        assert.equal(conn.remotePort, c.localPort)
        assert.ok(c.timestampsOk && c.sackOk, "timestamps and SACK negotiated")
        assert.equal(c.windowShift.local, 2)
        assert.ok(c.windowShift.remote > 0, "the stack scales its window")
        assert.equal(c.sndNxt, c.seq(1))
        assert.equal(c.rcvNxt, c.remoteSeq(1))
        assert.equal(yield* conn.state, "ESTABLISHED")
        // RFC 6691: the stack's payload per segment is the MSS the peer offered less the 12 bytes of timestamps
        assert.equal((yield* conn.stats).mss, 1000 - 12)

        // peer → stack: 2500 bytes in MSS-sized segments, read through the Tcp API
        const up = pattern(2500, 7)
        yield* c.write(up)
        assert.deepEqual(yield* readN(conn, up.length), up)
        yield* c.expect({ flags: "ACK", ack: c.sndNxt, payloadLength: 0, options: { timestamps: true } })
        assert.equal(c.sndUna, c.sndNxt)

        // stack → peer: 5000 bytes, received in order and acknowledged by the peer
        const down = pattern(5000, 9)
        yield* conn.write(down)
        const segs = yield* c.expectData(down)
        assert.ok(segs.length >= 2, "more than one segment")
        assert.ok(segs.every((s) => s.payload.length <= 988), "segments respect the peer's MSS")
        assert.equal(c.rcvNxt, c.remoteSeq(1 + down.length))

        // FIN from the peer: ACKed, the stack reads the end of the stream
        yield* c.close()
        assert.equal(yield* conn.read, undefined)
        assert.equal(yield* conn.state, "CLOSE-WAIT")
        // FIN from the stack: the peer ACKs it, the stack's close completes
        const closing = yield* Effect.forkChild(conn.close)
        yield* c.expect({ flags: "FIN|ACK", seq: c.rcvNxt, ack: c.sndNxt })
        yield* c.send({ flags: "ACK" })
        yield* Fiber.join(closing)
        assert.equal(yield* conn.state, "CLOSED")
        yield* c.expectNone({}, "2 seconds")
      })
    )))

  it("passive open: the stack connects to the peer; plain options; a RST from the peer resets it (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const stack = yield* Stack.make({
          cidr: "10.0.0.1/24",
          tcp: { windowScaling: false, timestamps: false, sack: false },
        })
        // the stack's MAC given: no ARP resolution by the peer
        const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack })
        const connecting = yield* Effect.forkChild(stack.tcp.connect(peer.address, 5000))
        const c = yield* peer.accept(5000, { mss: 1200, timestamps: true, windowScale: 3, sackPermitted: true })
        const conn = yield* Fiber.join(connecting)
        assert.equal(c.localPort, 5000)
        assert.equal(c.remotePort, conn.localPort)
        assert.ok(!c.timestampsOk && !c.sackOk, "not offered by the stack, so not negotiated")
        assert.deepEqual(c.windowShift, { remote: 0, local: 0 })
        const synAck = peer.received.find((s) => (s.flags & 0x12) === 0x02)
        assert.ok(synAck !== undefined, "the stack's SYN was received")
        assert.equal(synAck.options.windowScale, undefined)
        assert.equal((yield* conn.stats).mss, 1200)

        yield* conn.write(new TextEncoder().encode("hello peer"))
        yield* c.expectData("hello peer")
        yield* c.send({ flags: "ACK|PSH", payload: "hello stack" })
        assert.equal(dec.decode(yield* conn.read), "hello stack")
        yield* c.expect({ flags: "ACK", seq: rel(11), ack: rel(12) })

        yield* c.reset
        const exit = yield* Effect.exit(conn.read)
        assert.ok(Exit.isFailure(exit), "read fails after the RST")
        assert.match(String(exit.cause), /reset/i)
      })
    )))

  it("virtual time: an unanswered SYN-ACK is retransmitted after the initial RTO (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { stack, peer } = yield* setup({ initialRto: 1000 })
        yield* stack.tcp.listen(80)
        const c = peer.connection(80)
        yield* c.send({ flags: "SYN", options: { mss: 1460 } })
        const first = yield* c.expect({ flags: "SYN|ACK", seq: rel(0), ack: rel(1) })
        yield* c.expectNone({}, "900 millis")
        const again = yield* c.expect({ flags: "SYN|ACK", seq: rel(0), ack: rel(1) }, { timeout: "2 seconds" })
        const gap = again.at - first.at
        assert.ok(gap >= 1000 && gap <= 1010, `retransmitted after ${gap} ms of virtual time`)
        yield* c.send({ flags: "ACK" })
        yield* c.reset
      })
    )))

  it("real time: handshake, data both ways and a RST", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const { stack, peer } = yield* setup()
        assert.equal(peer.virtualTime, false)
        const listener = yield* stack.tcp.listen(80)
        const accepted = yield* Effect.forkChild(listener.accept)
        const c = yield* peer.connect(80, { timestamps: true })
        const conn = yield* Fiber.join(accepted)
        yield* c.send({ flags: "ACK|PSH", payload: "ping" })
        assert.equal(dec.decode(yield* conn.read), "ping")
        yield* conn.write(new TextEncoder().encode("pong"))
        yield* c.expectData("pong")
        yield* c.expectNone({ flagsInclude: "RST" }, "20 millis")
        yield* c.reset
        assert.ok(Exit.isFailure(yield* Effect.exit(conn.read)))
      })
    )))
})

describe("TcpPeer: expectations that do not hold fail with a readable account", () => {
  /** An established connection with 5 bytes "hello" sent by the stack and waiting in the peer's inbox. */
  const established = Effect.gen(function* () {
    const { stack, peer } = yield* setup({ delayedAck: 0 })
    const listener = yield* stack.tcp.listen(80)
    const accepted = yield* Effect.forkChild(listener.accept)
    const c = yield* peer.connect(80)
    const conn = yield* Fiber.join(accepted)
    return { stack, peer, c, conn }
  })

  it("expect: wrong payload → Timeout naming the segment and each mismatching field", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established
        yield* conn.write(new TextEncoder().encode("hello"))
        const e = yield* Effect.flip(c.expect({ flags: "ACK", payload: "help!" }, { timeout: 300 }))
        assert.equal(e._tag, "TcpPeerError")
        assert.equal(e.reason, "Timeout")
        assert.match(e.message, /no segment matching flags=ACK payload="help!" within 300 ms \(virtual time\)/)
        assert.match(e.message, /← \[t=\d+ms\] PSH\|ACK 80→\d+ seq=IRS\+1 ack=ISS\+1 win=\d+ len=5/)
        assert.match(e.message, /✗ flags PSH\|ACK ≠ ACK; payload differs at byte 3/)
        assert.match(e.message, /last segments on the wire:\n {2}→ \[t=0ms\] SYN \d+→80 seq=ISS\+0/)
        yield* c.reset
      })
    )))

  it("expect with next: the first segment does not match → Mismatch at once", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established
        yield* conn.write(new TextEncoder().encode("hello"))
        const e = yield* Effect.flip(c.expect({ seq: rel(2) }, { next: true, timeout: "10 seconds" }))
        assert.equal(e.reason, "Mismatch")
        assert.match(e.message, /the next segment does not match seq=IRS\+2/)
        assert.match(e.message, /✗ seq IRS\+1 ≠ IRS\+2/)
        yield* c.reset
      })
    )))

  it("expectNone fails when a matching segment arrives; expectData fails on wrong bytes", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established
        yield* conn.write(new TextEncoder().encode("hello"))
        const none = yield* Effect.flip(c.expectNone({ payloadLength: 5 }, "1 second"))
        assert.equal(none.reason, "Unexpected")
        assert.match(none.message, /expected no segment matching len=5 for 1000 ms, got ← .* len=5/)
        const data = yield* Effect.flip(c.expectData("hellO"))
        assert.equal(data.reason, "Mismatch")
        assert.match(data.message, /byte 4 is 111, expected 79/)
        yield* c.reset
      })
    )))

  it("an RST where a SYN-ACK is expected fails the handshake with the RST in the account", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer } = yield* setup()
        const e = yield* Effect.flip(peer.connect(81))
        assert.equal(e.reason, "Timeout")
        assert.match(e.message, /no segment matching flags=SYN\|ACK ack=ISS\+1/)
        assert.match(e.message, /RST\|ACK 81→\d+ seq=0 ack=ISS\+1/)
      })
    )))
})

describe("TcpPeer: teardown", () => {
  /** Runs `body` with an established connection (stack as `role`) left open; rejects within 3 s of real time. */
  const withOpenConnection = (role: "server" | "client", body: Effect.Effect<void>) => {
    const test = runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { stack, peer } = yield* setup()
        if (role === "server") {
          const listener = yield* stack.tcp.listen(80)
          const accepted = yield* Effect.forkChild(listener.accept)
          yield* peer.connect(80)
          yield* Fiber.join(accepted)
        } else {
          const connecting = yield* Effect.forkChild(stack.tcp.connect(peer.address, 5000))
          yield* peer.accept(5000)
          yield* Fiber.join(connecting)
        }
        yield* body
      })
    ))
    let timer: ReturnType<typeof setTimeout> | undefined
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the scope did not close within 3 s")), 3000)
    })
    return Promise.race([test, hang]).finally(() => clearTimeout(timer))
  }

  for (const role of ["server", "client"] as const) {
    it(`a connection left open (stack as ${role}) is reset when the scope closes, under TestClock`, () =>
      withOpenConnection(role, Effect.void))

    it(`a test that fails with a connection open (stack as ${role}) fails instead of hanging`, async () => {
      await assert.rejects(withOpenConnection(role, Effect.die(new Error("boom"))), /boom/)
    })
  }
})
