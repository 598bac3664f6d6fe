/**
 * RFC 5961 ("Improving TCP's Robustness to Blind In-Window Attacks") against one stack, played by the scripted
 * {@link TcpPeer} under TestClock. The peer is the stack's real other end, so it knows RCV.NXT, SND.NXT, the window
 * and MAX.SND.WND exactly and aims the "blind" segments at the edges of what the RFC accepts:
 *
 * - §3.2 RST: exactly RCV.NXT → reset (whatever the ACK field); inside the window but not exact → challenge ACK
 *   `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`, connection kept (first and last byte of the window, in ESTABLISHED with
 *   the stack as server and as client, and in SYN-RECEIVED); outside the window → dropped silently. In SYN-SENT,
 *   which §3.2 leaves to RFC 9293 §3.10.7.3, only a RST whose ACK acknowledges the SYN refuses the connection.
 * - §4 SYN in a synchronized state (ESTABLISHED, CLOSE-WAIT), in the window, exactly at RCV.NXT or outside it →
 *   a challenge ACK, never a reset. SYN+FIN (never legitimate) → dropped without a reply and counted, by a listener
 *   and by a connection, as Linux does.
 * - §5 data whose ACK is outside SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT → challenge ACK and the data dropped; at
 *   both edges of the range → accepted; no ACK bit → dropped.
 * - §7 challenge ACKs are throttled: `challengeAckLimit` per second and connection (the stack's choice: per
 *   connection rather than the system-wide counter §7 sketches, whose shared state was the side channel of
 *   CVE-2016-5696), the budget comes back after a second, SYNs outside the window spend it too, and one
 *   connection's exhausted budget does not silence another.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { Stack, type StackHandle } from "../../src/Stack.ts"
import type { TcpConfigInput, TcpConnection } from "../../src/tcp/Tcp.ts"
import { TcpFlags } from "../../src/wire/Tcp.ts"
import { runTest, withSwitch } from "../support/TestDevice.ts"
import { rel, type SegmentMatch, TcpPeer, type TcpPeerConnection } from "../support/TcpPeer.ts"

const { RST, ACK } = TcpFlags
const enc = new TextEncoder()
const dec = new TextDecoder()

/** Which end opens the connection: the peer connects to the stack (server) or the stack to the peer (client). */
type Role = "server" | "client"

interface Established {
  readonly stack: StackHandle
  readonly peer: TcpPeer
  /** The peer's end. */
  readonly c: TcpPeerConnection
  /** The stack's end. */
  readonly conn: TcpConnection
}

/**
 * A stack (10.0.0.1) and the peer (10.0.0.2) with one established connection that has carried "abc" peer → stack
 * and "xyz" stack → peer, everything acknowledged, so that no segment is pending on either side.
 */
const established = (tcp: TcpConfigInput = {}, role: Role = "server") =>
  Effect.gen(function* () {
    const stack = yield* Stack.make({ cidr: "10.0.0.1/24", tcp })
    const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
    let c: TcpPeerConnection
    let conn: TcpConnection
    if (role === "server") {
      const listener = yield* stack.tcp.listen(80)
      const accepting = yield* Effect.forkChild(listener.accept)
      c = yield* peer.connect(80)
      conn = yield* Fiber.join(accepting)
    } else {
      const connecting = yield* Effect.forkChild(stack.tcp.connect(peer.address, 5000))
      c = yield* peer.accept(5000)
      conn = yield* Fiber.join(connecting)
    }
    yield* c.send({ flags: "ACK|PSH", payload: "abc" })
    yield* c.expect({ flags: "ACK", ack: c.sndNxt })
    assert.equal(dec.decode(yield* conn.read), "abc")
    yield* conn.write(enc.encode("xyz"))
    yield* c.expectData("xyz")
    yield* c.expectNone({}, "1 second")
    return { stack, peer, c, conn } satisfies Established
  })

/** The challenge ACK (§3.2, §4.2, §5.2): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, no data — as the peer sees it. */
const challenge = (c: TcpPeerConnection): SegmentMatch => ({
  flags: "ACK",
  seq: c.rcvNxt,
  ack: c.sndNxt,
  payloadLength: 0,
})

/** The stack's challenge-ACK counter. */
const challenges = (conn: TcpConnection) => Effect.map(conn.stats, (s) => s.challengeAcks)

/** Data from the peer at SND.NXT is delivered byte for byte and acknowledged: the connection still works. */
const stillWorks = (e: Established, text: string) =>
  Effect.gen(function* () {
    yield* e.c.send({ flags: "ACK|PSH", payload: text })
    // the ACK first: if the data is not accepted, this fails with what the stack sent instead (a read would hang)
    yield* e.c.expect({ flags: "ACK", ack: e.c.sndNxt })
    assert.equal(dec.decode(yield* e.conn.read), text, "only the peer's real data is delivered")
    assert.equal(yield* e.conn.state, "ESTABLISHED")
  })

/** The stack's connection is reset: `read` fails with "Reset". */
const assertReset = (conn: TcpConnection) =>
  Effect.gen(function* () {
    assert.equal(yield* conn.state, "CLOSED")
    const exit = yield* Effect.exit(conn.read)
    assert.ok(Exit.isFailure(exit), "read fails")
    assert.match(String(exit.cause), /reset by the peer/)
  })

describe("RFC 5961 §3: blind RST", () => {
  for (const role of ["server", "client"] as const) {
    it(`in the window but not at RCV.NXT → challenge ACK, connection kept (stack as ${role})`, () =>
      runTest(withSwitch(() =>
        Effect.gen(function* () {
          const e = yield* established({}, role)
          const { c, conn } = e
          yield* c.send({ flags: "RST", seq: (c.sndNxt + 1000) >>> 0, ack: 0 })
          yield* c.expect(challenge(c), { next: true })
          assert.equal(yield* challenges(conn), 1)
          yield* stillWorks(e, "after the RST")
          yield* c.reset
        })
      )))
  }

  it("first and last sequence number of the window → challenge ACK each; one past the window → dropped", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c, conn } = e
        // the stack's receive window as it last advertised it (not scaled: the peer offered no window scale)
        const wnd = c.remoteWindow
        assert.ok(wnd > 1000, `window ${wnd}`)
        yield* c.send({ flags: "RST", seq: (c.sndNxt + 1) >>> 0 })
        yield* c.expect(challenge(c), { next: true })
        yield* c.send({ flags: "RST", seq: (c.sndNxt + wnd - 1) >>> 0 })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 2)
        const dropped = (yield* conn.stats).droppedIn
        yield* c.send({ flags: "RST", seq: (c.sndNxt + wnd) >>> 0 })
        yield* c.expectNone({}, "1 second")
        assert.equal((yield* conn.stats).droppedIn, dropped + 1)
        assert.equal(yield* challenges(conn), 2)
        yield* stillWorks(e, "still here")
        yield* c.reset
      })
    )))

  it("outside the window (before RCV.NXT, far ahead) → dropped silently", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c, conn } = e
        const dropped = (yield* conn.stats).droppedIn
        yield* c.send({ flags: "RST", seq: (c.sndNxt - 1) >>> 0 })
        yield* c.send({ flags: "RST", seq: (c.sndNxt + 50_000_000) >>> 0 })
        yield* c.send({ flags: "RST|ACK", seq: (c.sndNxt + 0x80000000) >>> 0, ack: c.rcvNxt })
        yield* c.expectNone({}, "2 seconds")
        assert.equal((yield* conn.stats).droppedIn, dropped + 3)
        assert.equal(yield* challenges(conn), 0)
        yield* stillWorks(e, "untouched")
        yield* c.reset
      })
    )))

  it("exactly at RCV.NXT → the connection is reset, nothing is sent back", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established()
        yield* c.send({ flags: "RST", seq: c.sndNxt, ack: 0 })
        yield* c.expectNone({}, "1 second")
        yield* assertReset(conn)
      })
    )))

  it("exactly at RCV.NXT with an ACK field that acknowledges nothing sent → still a reset (only SEQ is checked)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established()
        yield* c.send({ flags: "RST|ACK", seq: c.sndNxt, ack: (c.rcvNxt + 123_456) >>> 0 })
        yield* c.expectNone({}, "1 second")
        yield* assertReset(conn)
      })
    )))

  it("in SYN-RECEIVED: not exact → challenge ACK and the handshake can finish; exact → the half-open connection is gone", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const stack = yield* Stack.make({ cidr: "10.0.0.1/24" })
        const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
        const listener = yield* stack.tcp.listen(80)

        const a = peer.connection(80)
        yield* a.send({ flags: "SYN", options: { mss: 1460 } })
        yield* a.expect({ flags: "SYN|ACK", ack: rel(1) })
        yield* a.send({ flags: "RST", seq: rel(1 + 10) })
        yield* a.expect({ flags: "ACK", seq: rel(1), ack: rel(1) }, { next: true })
        yield* a.send({ flags: "ACK" })
        const conn = yield* listener.accept
        assert.equal(conn.remotePort, a.localPort)
        assert.equal((yield* conn.stats).challengeAcks, 1)

        const b = peer.connection(80)
        yield* b.send({ flags: "SYN", options: { mss: 1460 } })
        yield* b.expect({ flags: "SYN|ACK", ack: rel(1) })
        yield* b.send({ flags: "RST", seq: rel(1) })
        yield* b.expectNone({}, "1 second")
        // the third segment of the handshake now finds no connection: RST (RFC 9293 §3.10.7.1)
        yield* b.send({ flags: "ACK" })
        yield* b.expect({ flags: "RST", seq: rel(1) }, { next: true })
        assert.equal((yield* listener.stats).pending, 0)
        yield* conn.abort
      })
    )))

  it("in SYN-SENT only a RST that acknowledges the SYN counts (RFC 5961 §3.2 leaves SYN-SENT to RFC 9293 §3.10.7.3)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const stack = yield* Stack.make({ cidr: "10.0.0.1/24" })
        const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
        const connecting = yield* Effect.forkChild(Effect.exit(stack.tcp.connect(peer.address, 5000)))
        const syn = yield* peer.expect({ flags: "SYN", dstPort: 5000 })
        const iss = syn.seqNumber
        const rst = (flags: number, ack: number) =>
          peer.sendSegment({
            srcPort: 5000,
            dstPort: syn.srcPort,
            seqNumber: 0,
            ackNumber: ack >>> 0,
            flags,
            windowLen: 0,
            urgentPointer: 0,
            options: { sackPermitted: false, sackBlocks: [] },
            payload: new Uint8Array(0),
          })
        yield* rst(RST, 0) // no ACK: ignored
        yield* rst(RST | ACK, iss) // SEG.ACK =< ISS: unacceptable, ignored
        yield* rst(RST | ACK, iss + 2) // SEG.ACK > SND.NXT: unacceptable, ignored
        yield* peer.expectNone({ srcPort: syn.srcPort, flagsExclude: "SYN" }, "500 millis")
        assert.equal(connecting.pollUnsafe(), undefined, "still connecting")
        yield* rst(RST | ACK, iss + 1)
        const exit = yield* Fiber.join(connecting)
        assert.ok(Exit.isFailure(exit))
        assert.match(String(exit.cause), /refused/)
      })
    )))
})

describe("RFC 5961 §4: blind SYN in a synchronized state", () => {
  it("in the window, exactly at RCV.NXT, and outside the window → an ACK each time, never a reset (ESTABLISHED)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c, conn } = e
        yield* c.send({ flags: "SYN", seq: (c.sndNxt + 10) >>> 0, ack: 0, options: { mss: 1460 } })
        yield* c.expect(challenge(c), { next: true })
        yield* c.send({ flags: "SYN", seq: c.sndNxt, ack: 0 })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 2)
        // outside the window: a challenge ACK too, RFC 5961 §4.2 "irrespective of the sequence number"
        yield* c.send({ flags: "SYN", seq: (c.sndNxt + 50_000_000) >>> 0, ack: 0 })
        yield* c.expect(challenge(c), { next: true })
        yield* c.send({ flags: "SYN|ACK", seq: (c.sndNxt + 20) >>> 0, ack: c.rcvNxt })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 4)
        yield* stillWorks(e, "no reset")
        yield* c.reset
      })
    )))

  it("SYN+FIN is dropped without a reply and counted, by a listener and by a connection (as Linux does)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c, conn, peer, stack } = e
        const listener = yield* stack.tcp.listen(81)
        const d = peer.connection(81)
        yield* d.send({ flags: "SYN|FIN", seq: 1000, ack: 0 })
        yield* d.send({ flags: "SYN|FIN|PSH", seq: 1000, ack: 0, payload: enc.encode("GET / HTTP/1.0") })
        yield* peer.expectNone({}, "500 millis")
        const ls = yield* listener.stats
        assert.equal(ls.synFinDropped, 2)
        assert.equal(ls.synsAccepted, 0)
        yield* c.send({ flags: "SYN|FIN", seq: (c.sndNxt + 10) >>> 0, ack: 0 })
        yield* c.send({ flags: "SYN|FIN|ACK", seq: c.sndNxt, ack: c.rcvNxt })
        yield* c.expectNone({}, "500 millis")
        const cs = yield* conn.stats
        assert.equal(cs.synFinDropped, 2)
        assert.equal(cs.challengeAcks, 0)
        yield* stillWorks(e, "untouched")
        yield* c.reset
      })
    )))

  it("in CLOSE-WAIT (after the peer's FIN) → challenge ACK that acknowledges the FIN, state kept", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established()
        yield* c.close()
        assert.equal(yield* conn.read, undefined)
        assert.equal(yield* conn.state, "CLOSE-WAIT")
        yield* c.send({ flags: "SYN", seq: (c.sndNxt + 5) >>> 0, ack: 0 })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* conn.state, "CLOSE-WAIT")
        assert.equal(yield* challenges(conn), 1)
        // the stack can still send and close
        yield* conn.write(enc.encode("bye"))
        yield* c.expectData("bye")
        const closing = yield* Effect.forkChild(conn.close)
        yield* c.expect({ flags: "FIN|ACK", seq: c.rcvNxt })
        yield* c.send({ flags: "ACK" })
        yield* Fiber.join(closing)
        assert.equal(yield* conn.state, "CLOSED")
      })
    )))
})

describe("RFC 5961 §5: blind data injection (ACK acceptability)", () => {
  it("ACK beyond SND.NXT → challenge ACK, the data is dropped", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c, conn } = e
        yield* c.send({ flags: "ACK|PSH", seq: c.sndNxt, ack: (c.rcvNxt + 1) >>> 0, payload: "EVIL" })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 1)
        yield* stillWorks(e, "good")
        yield* c.reset
      })
    )))

  it("ACK one below SND.UNA − MAX.SND.WND → challenge ACK, the data is dropped", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c, conn } = e
        // the stack's SND.UNA is our RCV.NXT (everything acknowledged); MAX.SND.WND is the largest window we offered
        const maxSndWnd = 65535
        yield* c.send({ flags: "ACK|PSH", seq: c.sndNxt, ack: (c.rcvNxt - maxSndWnd - 1) >>> 0, payload: "EVIL" })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 1)
        yield* stillWorks(e, "good")
        // far behind (the old test's case: a quarter of the sequence space)
        yield* c.send({ flags: "ACK|PSH", seq: c.sndNxt, ack: (c.rcvNxt - 0x40000000) >>> 0, payload: "EVIL" })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 2)
        yield* stillWorks(e, "better")
        yield* c.reset
      })
    )))

  it("ACK exactly SND.UNA − MAX.SND.WND, or exactly SND.NXT → acceptable: the data is delivered", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c, conn } = yield* established()
        // seq left to the peer (SND.NXT, which moves): this is the peer's real data, only its ACK field is old
        yield* c.send({ flags: "ACK|PSH", ack: (c.rcvNxt - 65535) >>> 0, payload: "old-ack" })
        yield* c.expect({ flags: "ACK", ack: c.sndNxt })
        assert.equal(dec.decode(yield* conn.read), "old-ack")
        yield* c.send({ flags: "ACK|PSH", ack: c.rcvNxt, payload: "new-ack" })
        yield* c.expect({ flags: "ACK", ack: c.sndNxt })
        assert.equal(dec.decode(yield* conn.read), "new-ack")
        assert.equal(yield* challenges(conn), 0)
        yield* c.reset
      })
    )))

  it("data without the ACK bit → dropped silently (RFC 9293 §3.10.7.4, fifth check)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established()
        const { c } = e
        yield* c.send({ flags: "PSH", seq: c.sndNxt, payload: "EVIL" })
        yield* c.expectNone({}, "1 second")
        yield* stillWorks(e, "good")
        yield* c.reset
      })
    )))
})

describe("RFC 5961 §7: challenge ACK throttling", () => {
  it("at most challengeAckLimit per second and connection; the budget comes back after a second", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established({ challengeAckLimit: 3 })
        const { c, conn, peer } = e
        for (let i = 0; i < 10; i++) yield* c.send({ flags: "SYN", seq: (c.sndNxt + 100 + i) >>> 0, ack: 0 })
        for (let i = 0; i < 3; i++) yield* c.expect(challenge(c), { next: true })
        yield* c.expectNone({}, "500 millis")
        assert.equal(yield* challenges(conn), 3)
        assert.equal(yield* conn.state, "ESTABLISHED")
        yield* peer.wait("1 second")
        yield* c.send({ flags: "RST", seq: (c.sndNxt + 1) >>> 0 })
        yield* c.expect(challenge(c), { next: true })
        assert.equal(yield* challenges(conn), 4)
        yield* stillWorks(e, "still")
        yield* c.reset
      })
    )))

  // RFC 5961 §4.2 asks for a challenge ACK for a SYN "irrespective of the sequence number", and §7 throttles
  // challenge ACKs: a SYN outside the window goes through the same limit (before, it failed the sequence check and
  // drew an unthrottled ACK each: 10 SYNs, 10 ACKs).
  it("SYNs outside the window count against the limit too (§4.2 + §7)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { c } = yield* established({ challengeAckLimit: 3 })
        for (let i = 0; i < 10; i++) yield* c.send({ flags: "SYN", seq: (c.sndNxt + 50_000_000 + i) >>> 0, ack: 0 })
        for (let i = 0; i < 3; i++) yield* c.expect(challenge(c), { next: true })
        yield* c.expectNone({}, "500 millis")
        yield* c.reset
      })
    )))

  it("one connection's exhausted budget does not silence another", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* established({ challengeAckLimit: 2 })
        const { c, peer, stack } = e
        for (let i = 0; i < 4; i++) yield* c.send({ flags: "RST", seq: (c.sndNxt + 1 + i) >>> 0 })
        for (let i = 0; i < 2; i++) yield* c.expect(challenge(c), { next: true })
        yield* c.expectNone({}, "200 millis")
        const accepting = yield* Effect.forkChild(Effect.flatMap(stack.tcp.listen(81), (l) => l.accept))
        const d = yield* peer.connect(81)
        const other = yield* Fiber.join(accepting)
        yield* d.send({ flags: "RST", seq: (d.sndNxt + 1) >>> 0 })
        yield* d.expect(challenge(d), { next: true })
        assert.equal(yield* challenges(other), 1)
        yield* c.reset
        yield* d.reset
      })
    )))
})
