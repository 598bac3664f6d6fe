/**
 * SYN cookies against one stack, played by the scripted {@link TcpPeer} under TestClock (issue 15: "SYN floods must
 * not lock out real clients"). The peer first fills the listener's half-open queue with SYNs it never completes, as
 * an attacker would; then a real handshake from the same peer gets a cookie SYN-ACK, completes, is accepted and
 * carries data both ways byte-exact — without timestamps (no window scaling, no SACK, MSS rounded to the cookie
 * table) and with them (window scale and SACK-permitted restored from the ACK's TSecr, and used). A cookie ACK
 * carrying data has it delivered; a forged or altered one is answered with a RST and counted; with
 * `synCookies: "never"` the old behaviour (SYN dropped) is kept; a full accept queue drops SYNs (counted).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Stack } from "../../src/Stack.ts"
import type { TcpConfigInput, TcpListener, TcpListenOptions } from "../../src/tcp/Tcp.ts"
import { pattern, runTest, withSwitch } from "../support/TestDevice.ts"
import { rel, TcpPeer, type TcpPeerConnection } from "../support/TcpPeer.ts"

const dec = new TextDecoder()
const HALF_OPEN = 4

/** A stack (10.0.0.1) listening on port 80 and the peer (10.0.0.2). */
const setup = (tcp: TcpConfigInput = {}, listen: TcpListenOptions = { backlog: 8, synBacklog: HALF_OPEN }) =>
  Effect.gen(function* () {
    const stack = yield* Stack.make({ cidr: "10.0.0.1/24", tcp })
    const peer = yield* TcpPeer.make({ address: "10.0.0.2", remote: stack.address })
    const listener = yield* stack.tcp.listen(80, listen)
    return { stack, peer, listener }
  })

/** `n` half-open connections: a SYN each, answered by a SYN-ACK the peer never acknowledges. */
const fill = (peer: TcpPeer, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) {
      const a = peer.connection(80, { localPort: 1000 + i })
      yield* a.send({ flags: "SYN", options: { mss: 1460 } })
      yield* a.expect({ flags: "SYN|ACK", ack: rel(1) })
    }
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

const stats = (l: TcpListener) => l.stats

describe("SYN cookies: a full half-open queue does not lock out a real client", () => {
  it("a cookie SYN-ACK (no WS/SACK without timestamps, MSS from the table), accepted, data both ways byte-exact", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer, listener } = yield* setup()
        yield* fill(peer, HALF_OPEN)
        let s = yield* stats(listener)
        assert.equal(s.halfOpen, HALF_OPEN)
        assert.equal(s.synCookiesSent, 0)

        const accepting = yield* Effect.forkChild(listener.accept)
        const c = peer.connection(80)
        yield* c.send({ flags: "SYN", options: { mss: 1000, windowScale: 7, sackPermitted: true } })
        const synAck = yield* c.expect({ flags: "SYN|ACK", ack: rel(1) })
        // no state kept, and nothing to carry window scaling or SACK back without timestamps
        assert.equal(synAck.options.windowScale, undefined)
        assert.equal(synAck.options.sackPermitted, false)
        assert.equal(synAck.options.timestamps, undefined)
        s = yield* stats(listener)
        assert.equal(s.synCookiesSent, 1)
        assert.equal(s.halfOpen, HALF_OPEN, "the cookie SYN-ACK added no half-open connection")
        yield* c.send({ flags: "ACK" })
        const conn = yield* Fiber.join(accepting)
        assert.equal(conn.remotePort, c.localPort)
        assert.equal(yield* conn.state, "ESTABLISHED")
        assert.equal((yield* conn.stats).mss, 536, "MSS 1000 rounded down to the cookie table's 536")
        s = yield* stats(listener)
        assert.equal(s.synCookiesOk, 1)
        assert.equal(s.accepted, 1)

        const up = pattern(20_000, 3)
        yield* c.write(up)
        assert.deepEqual(yield* readN(conn, up.length), up)
        yield* c.expect({ flags: "ACK", ack: c.sndNxt })
        const down = pattern(30_000, 5)
        const writer = yield* Effect.forkChild(conn.write(down))
        const segs = yield* c.expectData(down)
        yield* Fiber.join(writer)
        assert.ok(segs.every((x) => x.payload.length <= 536), "segments respect the rounded MSS")
        yield* c.close()
        assert.equal(yield* conn.read, undefined, "the peer's FIN ends the stream")
      })
    )))

  it("with timestamps, window scale and SACK come back through TSecr and are used", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer, listener } = yield* setup({ receiveBufferSize: 1 << 20 })
        yield* fill(peer, HALF_OPEN)
        const accepting = yield* Effect.forkChild(listener.accept)
        // the peer's window: two full segments, 2896 bytes, advertised as 181 << 4
        const c = yield* peer.connect(80, {
          mss: 1460,
          windowScale: 4,
          sackPermitted: true,
          timestamps: true,
          window: 2896,
        })
        const conn = yield* Fiber.join(accepting)
        assert.equal((yield* stats(listener)).synCookiesOk, 1)
        assert.ok(c.timestampsOk && c.sackOk, "the cookie SYN-ACK offered timestamps and SACK")
        assert.equal(c.windowShift.remote, 5, "the stack scales its own window (1 MiB buffer)")
        assert.equal((yield* conn.stats).mss, 1460 - 12)

        // window scale: the stack fills exactly the peer's 2896-byte window (not 181 bytes, not more)
        const down = pattern(12_800, 11)
        const writer = yield* Effect.forkChild(conn.write(down))
        yield* c.expectData(down.subarray(0, 2896), { ack: false })
        yield* c.expectNone({ seq: c.remoteSeq(1 + 2896) }, "150 millis")
        yield* c.send({ flags: "ACK" })
        yield* c.expectData(down.subarray(2896))
        yield* Fiber.join(writer)
        // every segment of the stack carries timestamps
        assert.ok(peer.received.filter((x) => x.dstPort === c.localPort).every((x) => x.options.timestamps))

        // SACK: out-of-order data is acknowledged with a SACK block
        const hole = c.sndNxt
        yield* c.send({ flags: "ACK|PSH", seq: (hole + 10) >>> 0, payload: "later" })
        yield* c.expect({
          flags: "ACK",
          ack: hole,
          options: { sackBlocks: [[(hole + 10) >>> 0, (hole + 15) >>> 0]], timestamps: true },
        })
        yield* c.send({ flags: "ACK|PSH", payload: "0123456789" })
        yield* c.expect({ flags: "ACK", ack: (hole + 15) >>> 0 })
        assert.equal(dec.decode(yield* readN(conn, 15)), "0123456789later")
      })
    )))

  it("data on the cookie ACK is delivered", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer, listener } = yield* setup()
        yield* fill(peer, HALF_OPEN)
        const accepting = yield* Effect.forkChild(listener.accept)
        const c = peer.connection(80)
        yield* c.send({ flags: "SYN", options: { mss: 1460 } })
        yield* c.expect({ flags: "SYN|ACK", ack: rel(1) })
        const request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        yield* c.send({ flags: "ACK|PSH", payload: request })
        const conn = yield* Fiber.join(accepting)
        assert.equal(dec.decode(yield* readN(conn, request.length)), request)
        yield* c.expect({ flags: "ACK", ack: c.sndNxt })
        yield* conn.write(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n"))
        yield* c.expectData("HTTP/1.1 204 No Content\r\n\r\n")
        assert.equal((yield* stats(listener)).synCookiesOk, 1)
      })
    )))

  it("a forged or altered cookie ACK is answered with a RST and counted; the real one still works", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { stack, peer, listener } = yield* setup()
        yield* fill(peer, HALF_OPEN)
        const c = peer.connection(80)
        yield* c.send({ flags: "SYN", options: { mss: 1460 } })
        yield* c.expect({ flags: "SYN|ACK", ack: rel(1) })
        const resetsBefore = (yield* stack.tcp.stats).resetsSent
        // the cookie + 1
        yield* c.send({ flags: "ACK", ack: rel(2) })
        yield* c.expect({ flags: "RST", seq: rel(2) })
        // another peer ISN
        yield* c.send({ flags: "ACK", seq: c.seq(2) })
        yield* c.expect({ flags: "RST", seq: rel(1) })
        // a blind guess from another port
        const d = peer.connection(80)
        yield* d.send({ flags: "ACK", seq: 77, ack: 12345 })
        yield* d.expect({ flags: "RST", seq: 12345 })
        const s = yield* stats(listener)
        assert.equal(s.synCookiesFailed, 3)
        assert.equal(s.synCookiesOk, 0)
        assert.equal((yield* stack.tcp.stats).resetsSent, resetsBefore + 3)
        assert.equal((yield* stack.tcp.stats).connections, HALF_OPEN, "no connection from the bad ACKs")
        // the right ACK afterwards
        const accepting = yield* Effect.forkChild(listener.accept)
        yield* c.send({ flags: "ACK|PSH", payload: "ok" })
        const conn = yield* Fiber.join(accepting)
        assert.equal(dec.decode(yield* readN(conn, 2)), "ok")
        assert.equal((yield* stats(listener)).synCookiesOk, 1)
      })
    )))

  it('synCookies "never": a SYN that finds the half-open queue full is dropped and counted', () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer, listener } = yield* setup({ synCookies: "never" })
        yield* fill(peer, HALF_OPEN)
        const c = peer.connection(80)
        yield* c.send({ flags: "SYN", options: { mss: 1460 } })
        yield* c.expectNone({}, "500 millis")
        const s = yield* stats(listener)
        assert.equal(s.synsDropped, 1)
        assert.equal(s.synCookiesSent, 0)
      })
    )))

  it('synCookies "always": no half-open state at all', () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer, listener } = yield* setup({}, { synCookies: "always" })
        const accepting = yield* Effect.forkChild(listener.accept)
        const c = peer.connection(80)
        yield* c.send({ flags: "SYN", options: { mss: 1460 } })
        yield* c.expect({ flags: "SYN|ACK", ack: rel(1) })
        assert.equal((yield* stats(listener)).halfOpen, 0)
        yield* c.send({ flags: "ACK" })
        const conn = yield* Fiber.join(accepting)
        assert.equal(yield* conn.state, "ESTABLISHED")
        const s = yield* stats(listener)
        assert.equal(s.synCookiesSent, 1)
        assert.equal(s.synCookiesOk, 1)
        assert.equal(s.synsAccepted, 0)
      })
    )))

  it("a full accept queue drops SYNs (counted as overflows) until the application accepts", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const { peer, listener } = yield* setup({}, { backlog: 1, synBacklog: HALF_OPEN })
        const a: TcpPeerConnection = yield* peer.connect(80)
        yield* peer.wait("10 millis")
        assert.equal((yield* stats(listener)).pending, 1)
        const b = peer.connection(80)
        yield* b.send({ flags: "SYN", options: { mss: 1460 } })
        yield* b.expectNone({}, "500 millis")
        let s = yield* stats(listener)
        assert.equal(s.synsDropped, 1)
        assert.equal(s.listenOverflows, 1)
        assert.equal(s.synCookiesSent, 0)
        const conn = yield* listener.accept
        assert.equal(conn.remotePort, a.localPort)
        // the peer retransmits its SYN: served now
        yield* b.send({ flags: "SYN", seq: b.seq(0), options: { mss: 1460 } })
        yield* b.expect({ flags: "SYN|ACK", ack: rel(1) })
        s = yield* stats(listener)
        assert.equal(s.synsAccepted, 2)
      })
    )))

  it("the knobs: synCookies defaults to auto, synBacklog to the backlog; bad values are refused", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const stack = yield* Stack.make({ cidr: "10.0.0.1/24" })
        assert.equal(stack.tcp.config.synCookies, "auto")
        assert.equal(stack.tcp.config.synBacklog, undefined)
        const bad = Stack.make({ cidr: "10.0.0.5/24", tcp: { synCookies: "sometimes" as "auto" } })
        const e = yield* Effect.flip(bad)
        assert.match(e.message, /synCookies/)
        const reason = (o: TcpListenOptions) =>
          Effect.map(Effect.flip(Effect.scoped(stack.tcp.listen(80, o))), (x) => x.reason)
        assert.equal(yield* reason({ synBacklog: 0 }), "InvalidArgument")
        assert.equal(yield* reason({ synBacklog: 1.5 }), "InvalidArgument")
        assert.equal(yield* reason({ synCookies: "maybe" as "auto" }), "InvalidArgument")
      })
    )))
})
