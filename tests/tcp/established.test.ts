/**
 * Packet-level tests of the ESTABLISHED state: data transfer, acknowledgment policy, RFC 5961 defences, loss
 * recovery, flow control and timers. Helpers feed one segment and assert exactly which segments come back.
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { BUFFER_IDLE_MS, SEND_BUFFER_MIN, Tcb } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"
import {
  ACK,
  established,
  expectSegments,
  FIN,
  Harness,
  IRS,
  ISS,
  LOCAL_PORT,
  pattern,
  plainConfig,
  PSH,
  REMOTE_PORT,
  RST,
  SYN,
} from "./support.ts"

const S = ISS + 1
const R = IRS + 1
const text = (b: Uint8Array | null): string => (b === null ? "<eof>" : new TextDecoder().decode(b))

describe("ESTABLISHED: receiving", () => {
  it("in-order data is acknowledged and readable; the window shrinks by what is buffered", () => {
    const h = established()
    expectSegments(h.send({ seq: R, ack: S, flags: ACK | PSH, data: "hello" }), [
      { seq: S, ack: R + 5, flags: ACK, win: 995 },
    ])
    assert.deepEqual(h.signals(), ["Readable"])
    assert.equal(text(h.tcb.read()), "hello")
    assert.equal(h.tcb.stats.bytesIn, 5)
  })
  it("out-of-order and SACK state is allocated on first need; the shared empty placeholders stay empty", () => {
    const a = established(plainConfig({ sack: true }))
    const b = established(plainConfig({ sack: true }))
    assert.equal(a.tcb.assembler, b.tcb.assembler, "idle connections share one empty assembler")
    assert.equal(a.tcb.scoreboard, b.tcb.scoreboard)
    a.send({ seq: R + 10, ack: S, flags: ACK, data: "later" })
    assert.notEqual(a.tcb.assembler, b.tcb.assembler)
    assert.equal(a.tcb.assembler.rangeCount, 1)
    assert.ok(b.tcb.assembler.isEmpty, "the placeholder was not written")
    a.send({ seq: R, ack: S, flags: ACK, data: "0123456789" })
    assert.equal(text(a.tcb.read()), "0123456789later")
    assert.ok(b.tcb.assembler.isEmpty && b.tcb.scoreboard.rangeCount === 0)
  })
  it("out-of-order data gets an immediate duplicate ACK; filling the hole acknowledges everything", () => {
    const h = established(plainConfig({ delayedAckMs: 40 }))
    expectSegments(h.send({ seq: R + 3, ack: S, flags: ACK, data: "def" }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.readable, 0)
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: "abc" }), [{ seq: S, ack: R + 6, flags: ACK }])
    assert.equal(text(h.tcb.read()), "abcdef")
  })
  it("duplicate and overlapping segments are delivered once", () => {
    const h = established()
    h.send({ seq: R, ack: S, flags: ACK, data: "abcdef" })
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: "abc" }), [{ seq: S, ack: R + 6, flags: ACK }])
    expectSegments(h.send({ seq: R + 3, ack: S, flags: ACK, data: "defghi" }), [{ seq: S, ack: R + 9, flags: ACK }])
    assert.equal(text(h.tcb.read()), "abcdefghi")
    assert.equal(h.tcb.stats.bytesIn, 9)
  })
  it("data beyond the window is trimmed to it", () => {
    const h = established(plainConfig({ recvBufferSize: 10 }))
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: "0123456789abc" }), [
      { seq: S, ack: R + 10, flags: ACK, win: 0 },
    ])
    // zero window: only seq == RCV.NXT is acceptable, its data is dropped, the ACK repeats the zero window
    expectSegments(h.send({ seq: R + 10, ack: S, flags: ACK, data: "abc" }), [
      { seq: S, ack: R + 10, flags: ACK, win: 0 },
    ])
    assert.equal(text(h.tcb.read()), "0123456789")
  })
  it("reading a full buffer sends a window update", () => {
    const h = established(plainConfig({ recvBufferSize: 400 }))
    for (let i = 0; i < 4; i++) h.send({ seq: R + 100 * i, ack: S, flags: ACK, data: pattern(100) })
    expectSegments(h.poll(), [])
    assert.equal(h.tcb.read(50)!.length, 50)
    expectSegments(h.poll(), [], "50 bytes free < MSS: no update (receiver SWS avoidance)")
    h.tcb.read()
    expectSegments(h.poll(), [{ seq: S, ack: R + 400, flags: ACK, win: 400 }])
  })
  it("FIN → CLOSE-WAIT and end of stream after the data", () => {
    const h = established()
    expectSegments(h.send({ seq: R, ack: S, flags: ACK | FIN, data: "xy" }), [{ seq: S, ack: R + 3, flags: ACK }])
    assert.equal(h.tcb.state, "CLOSE-WAIT")
    assert.equal(text(h.tcb.read()), "xy")
    assert.equal(h.tcb.read(), null)
  })
  it("an out-of-order FIN waits for the data before it", () => {
    const h = established()
    expectSegments(h.send({ seq: R + 2, ack: S, flags: ACK | FIN, data: "cd" }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.state, "ESTABLISHED")
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: "ab" }), [{ seq: S, ack: R + 5, flags: ACK }])
    assert.equal(h.tcb.state, "CLOSE-WAIT")
    assert.equal(text(h.tcb.read()), "abcd")
  })
})

describe("ESTABLISHED: delayed ACK", () => {
  it("a single segment is acknowledged after delayedAckMs", () => {
    const h = established(plainConfig({ delayedAckMs: 40 }))
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: pattern(50) }), [])
    assert.equal(h.tcb.nextDeadline(), 40)
    expectSegments(h.at(39), [])
    expectSegments(h.at(40), [{ seq: S, ack: R + 50, flags: ACK }])
    expectSegments(h.at(100), [])
  })
  it("every second full-size segment is acknowledged at once", () => {
    const h = established(plainConfig({ delayedAckMs: 40 }))
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) }), [])
    expectSegments(h.send({ seq: R + 100, ack: S, flags: ACK, data: pattern(100) }), [
      { seq: S, ack: R + 200, flags: ACK },
    ])
    expectSegments(h.send({ seq: R + 200, ack: S, flags: ACK, data: pattern(100) }), [])
  })
  it("outgoing data carries the pending ACK", () => {
    const h = established(plainConfig({ delayedAckMs: 40 }))
    h.send({ seq: R, ack: S, flags: ACK, data: "ping" })
    h.write("pong")
    expectSegments(h.poll(), [{ seq: S, ack: R + 4, flags: ACK | PSH, data: "pong" }])
    expectSegments(h.at(40), [])
  })
})

describe("ESTABLISHED: sending", () => {
  it("segments by MSS; Nagle holds a small tail until the ACK", () => {
    const h = established()
    h.write(pattern(250))
    expectSegments(h.poll(), [
      { seq: S, ack: R, flags: ACK, data: pattern(100) },
      { seq: S + 100, ack: R, flags: ACK, data: pattern(100, 100) },
    ])
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [])
    expectSegments(h.send({ seq: R, ack: S + 200, flags: ACK }), [
      { seq: S + 200, ack: R, flags: ACK | PSH, data: pattern(50, 200) },
    ])
  })
  it("noDelay sends the small tail at once", () => {
    const h = established(plainConfig({ noDelay: true }))
    h.write(pattern(250))
    expectSegments(h.poll(), [
      { seq: S, ack: R, flags: ACK, data: pattern(100) },
      { seq: S + 100, ack: R, flags: ACK, data: pattern(100, 100) },
      { seq: S + 200, ack: R, flags: ACK | PSH, data: pattern(50, 200) },
    ])
  })
  it("send-buffer autotuning: the application may fill 2 x cwnd, at least 16 KiB, at most sendBufferSize", () => {
    const h = established(plainConfig({ sendBufferSize: 1 << 20 }), 60_000)
    const cwnd0 = h.tcb.cc.cwnd
    assert.equal(h.tcb.sendLimit, Math.max(SEND_BUFFER_MIN, 2 * cwnd0))
    assert.equal(h.tcb.write(pattern(1 << 20)), h.tcb.sendLimit, "a large write is cut at the allowance")
    assert.equal(h.tcb.write(pattern(1)), 0)
    // acknowledgments grow cwnd (slow start) and with it the allowance
    let out = h.poll()
    for (let round = 0; round < 10 && out.length > 0; round++) {
      const next: typeof out = []
      for (const seg of out) {
        next.push(...h.send({ seq: R, ack: (seg.seqNumber + seg.payload.length) >>> 0, flags: ACK, win: 60_000 }))
      }
      out = next
    }
    assert.ok(h.tcb.cc.cwnd > cwnd0)
    assert.equal(h.tcb.sendLimit, Math.min(1 << 20, Math.max(SEND_BUFFER_MIN, 2 * h.tcb.cc.cwnd)))
    assert.ok(h.tcb.sendLimit > SEND_BUFFER_MIN)
    assert.ok(h.tcb.writable > 0 && h.tcb.writable <= h.tcb.sendLimit - h.tcb.sendBuffer.length)
    // never beyond the configured size
    const small = established(plainConfig({ sendBufferSize: 300 }))
    assert.equal(small.tcb.sendLimit, 300)
  })
  it("write applies backpressure and signals Writable once a quarter of the buffer is free", () => {
    const h = established(plainConfig({ sendBufferSize: 300 }))
    assert.equal(h.tcb.write(pattern(500)), 300)
    assert.equal(h.tcb.write(pattern(1)), 0)
    assert.equal(h.tcb.awaitWritable(200), false, "full: the writer must wait")
    h.poll()
    // 50 bytes free: below the low-water mark (a quarter of 300 = 75)
    h.send({ seq: R, ack: S + 50, flags: ACK })
    assert.deepEqual(h.signals(), [])
    h.send({ seq: R, ack: S + 100, flags: ACK })
    assert.deepEqual(h.signals(), ["Writable"])
    assert.equal(h.tcb.writable, 100)
    // signalled once: a later ACK says nothing unless a writer waits again
    h.send({ seq: R, ack: S + 200, flags: ACK })
    assert.deepEqual(h.signals(), [])
    assert.equal(h.tcb.awaitWritable(150), true, "room for the rest: no need to wait")
    assert.equal(h.tcb.awaitWritable(1000), true, "at least a quarter of the buffer is free")
  })
  it("respects the peer's window; the sender does not send silly small segments", () => {
    const h = established(plainConfig(), 250)
    h.write(pattern(400))
    expectSegments(h.poll(), [
      { seq: S, ack: R, flags: ACK, data: pattern(100) },
      { seq: S + 100, ack: R, flags: ACK, data: pattern(100, 100) },
    ])
    // 50 bytes of window left < max window / 2: wait
    expectSegments(h.send({ seq: R, ack: S + 200, flags: ACK, win: 250 }), [
      { seq: S + 200, ack: R, flags: ACK, data: pattern(100, 200) },
      { seq: S + 300, ack: R, flags: ACK | PSH, data: pattern(100, 300) },
    ])
  })
})

describe("ESTABLISHED: RFC 5961 defences", () => {
  it("in-window RST that is not exact → challenge ACK; exact RST → Reset", () => {
    const h = established()
    expectSegments(h.send({ seq: R + 10, flags: RST }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.state, "ESTABLISHED")
    assert.equal(h.tcb.stats.challengeAcks, 1)
    expectSegments(h.send({ seq: R + 5000, flags: RST }), [], "out of window: ignored")
    expectSegments(h.send({ seq: R, flags: RST }), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.deepEqual(h.signals(), ["Closed"])
    assert.equal(h.tcb.error, "Reset")
    assert.equal(h.tcb.error, "Reset")
  })
  it("SYN in a synchronized state → challenge ACK, connection intact", () => {
    const h = established()
    expectSegments(h.send({ seq: R + 100, flags: SYN }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.state, "ESTABLISHED")
    assert.equal(h.tcb.stats.challengeAcks, 1)
  })
  it("SYNs outside the window get challenge ACKs too, through the rate limit (RFC 5961 §4.2 + §7)", () => {
    const h = established(plainConfig({ challengeAckLimit: 3 }))
    const sent: number[] = []
    for (let i = 0; i < 10; i++) sent.push(h.send({ seq: R + 50_000_000 + i, flags: SYN }).length)
    assert.deepEqual(sent, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    assert.equal(h.tcb.stats.challengeAcks, 3)
    assert.equal(h.tcb.stats.challengeAcksSuppressed, 7)
    // one before RCV.NXT and one with a stale timestamp (PAWS) go the same way: the budget is spent
    expectSegments(h.send({ seq: R - 1, flags: SYN }), [])
    h.now = 1000
    expectSegments(h.send({ seq: R - 100_000, flags: SYN }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.state, "ESTABLISHED")
  })
  it("SYN+FIN is dropped without a reply and counted, whatever its sequence number", () => {
    const h = established(plainConfig({ challengeAckLimit: 1 }))
    for (const seq of [R, R + 10, R + 50_000_000]) {
      expectSegments(h.send({ seq, flags: SYN | FIN }), [])
      expectSegments(h.send({ seq, ack: S, flags: SYN | FIN | ACK, data: "x" }), [])
    }
    assert.equal(h.tcb.stats.synFinDropped, 6)
    assert.equal(h.tcb.stats.challengeAcks, 0)
    assert.equal(h.tcb.state, "ESTABLISHED")
    assert.equal(h.tcb.readable, 0)
    // the challenge-ACK budget is still there for a real SYN
    expectSegments(h.send({ seq: R + 10, flags: SYN }), [{ seq: S, ack: R, flags: ACK }])
  })
  it("ACK of unsent data or too old an ACK → challenge ACK, data dropped", () => {
    const h = established()
    expectSegments(h.send({ seq: R, ack: S + 500, flags: ACK, data: "zz" }), [{ seq: S, ack: R, flags: ACK }])
    expectSegments(h.send({ seq: R, ack: S - 5000, flags: ACK, data: "zz" }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.readable, 0)
    assert.equal(h.tcb.stats.challengeAcks, 2)
  })
  it("challenge ACKs are rate limited per second", () => {
    const h = established(plainConfig({ challengeAckLimit: 2 }))
    expectSegments(h.send({ seq: R + 1, flags: RST }), [{ seq: S, ack: R, flags: ACK }])
    expectSegments(h.send({ seq: R + 2, flags: RST }), [{ seq: S, ack: R, flags: ACK }])
    expectSegments(h.send({ seq: R + 3, flags: RST }), [])
    assert.equal(h.tcb.stats.challengeAcksSuppressed, 1)
    h.now = 1000
    expectSegments(h.send({ seq: R + 4, flags: RST }), [{ seq: S, ack: R, flags: ACK }])
  })
})

describe("ESTABLISHED: retransmission", () => {
  it("RTO retransmits with doubling and gives up (TimedOut retransmit)", () => {
    const h = established(plainConfig({ maxRetransmits: 2 }))
    h.write("data")
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK | PSH, data: "data" }])
    assert.equal(h.tcb.rto, 200)
    expectSegments(h.at(199), [])
    expectSegments(h.at(200), [{ seq: S, ack: R, flags: ACK | PSH, data: "data" }])
    expectSegments(h.at(599), [])
    expectSegments(h.at(600), [{ seq: S, ack: R, flags: ACK | PSH, data: "data" }])
    expectSegments(h.at(1400), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(h.tcb.timeoutCause, "retransmit")
    assert.deepEqual(h.signals(), ["Closed"])
    assert.equal(h.tcb.error, "TimedOut")
    assert.equal(h.tcb.stats.retransmits, 2)
  })
  it("an ACK after a timeout resets the backoff and sends the rest (cwnd = 1 MSS, slow start)", () => {
    const h = established(plainConfig({ noDelay: true }))
    h.write(pattern(300))
    assert.equal(h.poll().length, 3)
    expectSegments(h.at(200), [{ seq: S, ack: R, flags: ACK, data: pattern(100) }])
    assert.equal(h.tcb.cc.cwnd, 100)
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [
      { seq: S + 100, ack: R, flags: ACK, data: pattern(100, 100) },
      { seq: S + 200, ack: R, flags: ACK | PSH, data: pattern(100, 200) },
    ])
  })
  it("fast retransmit on the third duplicate ACK; NewReno inflation, partial ACK, exit", () => {
    const h = established(plainConfig({ noDelay: true }))
    h.write(pattern(500))
    assert.equal(h.poll().length, 5)
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [])
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [])
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [])
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [
      { seq: S + 100, ack: R, flags: ACK, data: pattern(100, 100) },
    ])
    assert.equal(h.tcb.stats.fastRetransmits, 1)
    assert.equal(h.tcb.cc.ssthresh, 200)
    assert.equal(h.tcb.cc.cwnd, 500)
    // a fourth duplicate inflates cwnd: one new segment may go
    h.write(pattern(100, 500))
    expectSegments(h.send({ seq: R, ack: S + 100, flags: ACK }), [
      { seq: S + 500, ack: R, flags: ACK | PSH, data: pattern(100, 500) },
    ])
    // partial ACK (below recover = S+500): retransmit the next unacknowledged segment
    expectSegments(h.send({ seq: R, ack: S + 300, flags: ACK }), [
      { seq: S + 300, ack: R, flags: ACK, data: pattern(100, 300) },
    ])
    // full ACK of the recovery point: leave recovery, cwnd deflated to ≤ ssthresh
    expectSegments(h.send({ seq: R, ack: S + 500, flags: ACK }), [])
    assert.equal(h.tcb.cc.cwnd, 200)
    assert.equal(h.tcb.stats.retransmits, 2)
  })
})

describe("ESTABLISHED: zero window and persist", () => {
  it("probes a zero window with backoff until it reopens", () => {
    const h = established()
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 0 }), [])
    h.write("abc")
    expectSegments(h.poll(), [])
    assert.equal(h.tcb.nextDeadline(), 200)
    expectSegments(h.at(200), [{ seq: S, ack: R, flags: ACK, data: "a" }])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 0 }), [])
    expectSegments(h.at(599), [])
    expectSegments(h.at(600), [{ seq: S, ack: R, flags: ACK, data: "a" }])
    assert.equal(h.tcb.stats.windowProbes, 2)
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 1000 }), [
      { seq: S, ack: R, flags: ACK | PSH, data: "abc" },
    ])
    expectSegments(h.send({ seq: R, ack: S + 3, flags: ACK, win: 1000 }), [])
    // the drained send ring keeps its storage for BUFFER_IDLE_MS, then gives it back; then no timer is left
    assert.equal(h.tcb.nextDeadline(), 600 + BUFFER_IDLE_MS)
    expectSegments(h.at(600 + BUFFER_IDLE_MS), [])
    assert.equal(h.tcb.sendBuffer.storage, 0)
    assert.equal(h.tcb.nextDeadline(), undefined)
  })
  it("a small open window: the persist timeout sends what fits, and no probe byte past it", () => {
    const h = established() // MSS 100, MAX.SND.WND = 1000
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 40 }), [])
    h.write(pattern(300))
    expectSegments(h.poll(), [], "40 < MSS and < MAX.SND.WND / 2: sender SWS avoidance waits")
    assert.equal(h.tcb.nextDeadline(), 200)
    expectSegments(h.at(200), [{ seq: S, ack: R, flags: ACK, data: pattern(40) }], "the override, alone")
    assert.equal(h.tcb.stats.windowProbes, 0)
    assert.equal(h.tcb.sndMax, S + 40, "nothing sent past the window")
  })
  it("a probe the peer accepts advances SND.UNA", () => {
    const h = established()
    h.send({ seq: R, ack: S, flags: ACK, win: 0 })
    h.write("abc")
    h.poll()
    expectSegments(h.at(200), [{ seq: S, ack: R, flags: ACK, data: "a" }])
    expectSegments(h.send({ seq: R, ack: S + 1, flags: ACK, win: 2 }), [
      { seq: S + 1, ack: R, flags: ACK | PSH, data: "bc" },
    ])
  })
})

describe("ESTABLISHED: keepalive", () => {
  const ka = { idleMs: 1000, intervalMs: 100, probes: 3 }
  it("probes after idle, then times out", () => {
    const h = established(plainConfig({ keepalive: ka }))
    expectSegments(h.at(999), [])
    expectSegments(h.at(1000), [{ seq: S - 1, ack: R, flags: ACK }])
    expectSegments(h.at(1100), [{ seq: S - 1, ack: R, flags: ACK }])
    expectSegments(h.at(1200), [{ seq: S - 1, ack: R, flags: ACK }])
    expectSegments(h.at(1300), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(h.tcb.timeoutCause, "keepalive")
    assert.deepEqual(h.signals(), ["Closed"])
    assert.equal(h.tcb.error, "TimedOut")
  })
  it("an answer resets the idle timer", () => {
    const h = established(plainConfig({ keepalive: ka }))
    expectSegments(h.at(1000), [{ seq: S - 1, ack: R, flags: ACK }])
    h.now = 1050
    expectSegments(h.send({ seq: R, ack: S, flags: ACK }), [])
    expectSegments(h.at(1150), [])
    assert.equal(h.tcb.nextDeadline(), 2050)
    expectSegments(h.at(2050), [{ seq: S - 1, ack: R, flags: ACK }])
  })
})

describe("ESTABLISHED: options (RFC 7323, RFC 2018)", () => {
  const openWith = (peer: { ws?: number; sackPerm?: boolean; ts?: readonly [number, number] }, over = {}) => {
    const config = makeTcbConfig({ mss: 100, recvBufferSize: 262144, delayedAckMs: 0, noDelay: true, ...over })
    const h = new Harness(
      Tcb.connect({ localPort: LOCAL_PORT, remotePort: REMOTE_PORT, iss: ISS, tsOffset: 7, config }, 0),
    )
    h.poll()
    h.tcb.input(mkSynAck(peer), 0)
    return h
  }
  const mkSynAck = (peer: { ws?: number; sackPerm?: boolean; ts?: readonly [number, number] }) => {
    const options: {
      mss: number
      windowScale?: number
      sackPermitted: boolean
      sackBlocks: never[]
      timestamps?: { tsVal: number; tsEcr: number }
    } = { mss: 100, sackPermitted: peer.sackPerm ?? false, sackBlocks: [] }
    if (peer.ws !== undefined) options.windowScale = peer.ws
    if (peer.ts !== undefined) options.timestamps = { tsVal: peer.ts[0], tsEcr: peer.ts[1] }
    return {
      srcPort: REMOTE_PORT,
      dstPort: LOCAL_PORT,
      seqNumber: IRS,
      ackNumber: S,
      flags: SYN | ACK,
      windowLen: 1000,
      urgentPointer: 0,
      options,
      payload: new Uint8Array(0),
    }
  }

  it("window scaling: the peer's window is shifted by its scale, ours by our scale", () => {
    const h = openWith({ ws: 2 }, { timestamps: false, sack: false })
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK, win: 32768 }])
    assert.equal(h.tcb.sndWnd, 1000, "the SYN-ACK window is never scaled")
    h.send({ seq: R, ack: S, flags: ACK, win: 100 })
    assert.equal(h.tcb.sndWnd, 400)
    h.write(pattern(1000))
    assert.deepEqual(h.poll().map((s) => s.payload.length), [100, 100, 100, 100])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 100, data: pattern(800) }), [
      { seq: S + 400, ack: R + 800, flags: ACK, win: (262144 - 800) >> 3 },
    ])
  })
  it("no window scaling unless both sides offer it", () => {
    const h = openWith({}, { timestamps: false, sack: false })
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK, win: 65535 }])
    assert.equal(h.tcb.rcvShift, 0)
    assert.equal(h.tcb.sndShift, 0)
  })
  it("timestamps: echoed, used for RTT; PAWS drops an old timestamp", () => {
    const h = openWith({ ts: [500, 7] }, { sack: false, windowScaling: false })
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK, ts: [7, 500] }])
    assert.equal(h.tcb.effMss, 88, "MSS minus the 12-byte timestamps option")
    h.now = 30
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: "abc", ts: [501, 7] }), [
      { seq: S, ack: R + 3, flags: ACK, ts: [37, 501] },
    ])
    expectSegments(h.send({ seq: R + 3, ack: S, flags: ACK, data: "def", ts: [400, 7] }), [
      { seq: S, ack: R + 3, flags: ACK, ts: [37, 501] },
    ])
    assert.equal(h.tcb.stats.pawsDrops, 1)
    assert.equal(text(h.tcb.read()), "abc")
    // RTT from the echoed timestamp: data sent at 30 (tsVal 37), acknowledged at 80
    h.write("x")
    h.poll()
    h.now = 80
    h.send({ seq: R + 3, ack: S + 1, flags: ACK, ts: [502, 37] })
    assert.equal(h.tcb.rtt.latest, 50)
  })
  it("a SYN with an old timestamp is a challenge ACK through the rate limit, not a PAWS duplicate ACK", () => {
    const h = openWith({ ts: [500, 7] }, { sack: false, windowScaling: false, challengeAckLimit: 1 })
    h.poll()
    expectSegments(h.send({ seq: R + 10, flags: SYN, ts: [400, 0] }), [{ seq: S, ack: R, flags: ACK }])
    expectSegments(h.send({ seq: R + 11, flags: SYN, ts: [400, 0] }), [], "the budget of 1 is spent")
    assert.equal(h.tcb.stats.challengeAcks, 1)
    assert.equal(h.tcb.stats.challengeAcksSuppressed, 1)
    assert.equal(h.tcb.stats.pawsDrops, 0)
  })
  it("SACK receive side: blocks in ACKs, most recent first", () => {
    const h = openWith({ sackPerm: true }, { timestamps: false, windowScaling: false })
    h.poll()
    expectSegments(h.send({ seq: R + 100, ack: S, flags: ACK, data: pattern(100) }), [
      { seq: S, ack: R, flags: ACK, sack: [[R + 100, R + 200]] },
    ])
    expectSegments(h.send({ seq: R + 300, ack: S, flags: ACK, data: pattern(100) }), [
      { seq: S, ack: R, flags: ACK, sack: [[R + 300, R + 400], [R + 100, R + 200]] },
    ])
    expectSegments(h.send({ seq: R + 200, ack: S, flags: ACK, data: pattern(50) }), [
      { seq: S, ack: R, flags: ACK, sack: [[R + 100, R + 250], [R + 300, R + 400]] },
    ])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) }), [
      { seq: S, ack: R + 250, flags: ACK, sack: [[R + 300, R + 400]] },
    ])
  })
  it("SACK send side (RFC 6675): several holes retransmitted in one recovery step", () => {
    const h = openWith({ sackPerm: true }, { timestamps: false, windowScaling: false })
    h.poll()
    h.write(pattern(500))
    assert.equal(h.poll().length, 5)
    // segments 0 and 2 lost
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, sack: [[S + 100, S + 200]] }), [])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, sack: [[S + 300, S + 400], [S + 100, S + 200]] }), [])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, sack: [[S + 300, S + 500], [S + 100, S + 200]] }), [
      { seq: S, ack: R, flags: ACK, data: pattern(100) },
      { seq: S + 200, ack: R, flags: ACK, data: pattern(100, 200) },
    ])
    expectSegments(h.send({ seq: R, ack: S + 500, flags: ACK }), [])
    assert.equal(h.tcb.nextDeadline(), h.now + BUFFER_IDLE_MS, "only the idle release of the drained send ring")
  })
  it("SACK: duplicate ACKs that carry new SACK blocks count even when the advertised window changes (RFC 6675 §2)", () => {
    const h = openWith({ sackPerm: true }, { timestamps: false, windowScaling: false })
    h.poll()
    h.write(pattern(500))
    assert.equal(h.poll().length, 5)
    // segment 0 lost; the peer's window shrinks in each ACK (its application has not read yet)
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 900, sack: [[S + 100, S + 200]] }), [])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 800, sack: [[S + 100, S + 300]] }), [])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, win: 700, sack: [[S + 100, S + 400]] }), [
      { seq: S, ack: R, flags: ACK, data: pattern(100) },
    ])
    assert.equal(h.tcb.stats.fastRetransmits, 1)
  })
})

describe("ESTABLISHED: sequence wraparound", () => {
  it("transfers both ways across 2^32", () => {
    const iss = 0xffffff80
    const irs = 0xffffffc0
    const config = plainConfig({ noDelay: true })
    const h = new Harness(Tcb.connect({ localPort: LOCAL_PORT, remotePort: REMOTE_PORT, iss, config }, 0))
    h.poll()
    const s = (iss + 1) >>> 0
    const r = (irs + 1) >>> 0
    expectSegments(h.send({ seq: irs, ack: s, flags: SYN | ACK, mss: 100 }), [{ seq: s, ack: r, flags: ACK }])
    h.write(pattern(300))
    expectSegments(h.poll(), [
      { seq: s, ack: r, flags: ACK, data: pattern(100) },
      { seq: s + 100, ack: r, flags: ACK, data: pattern(100, 100) },
      { seq: s + 200, ack: r, flags: ACK | PSH, data: pattern(100, 200) },
    ])
    expectSegments(h.send({ seq: r, ack: s + 300, flags: ACK, data: pattern(100) }), [
      { seq: s + 300, ack: r + 100, flags: ACK },
    ])
    expectSegments(h.send({ seq: r + 100, ack: s + 300, flags: ACK, data: pattern(100, 100) }), [
      { seq: s + 300, ack: r + 200, flags: ACK },
    ])
    assert.deepEqual(h.tcb.read(), pattern(200))
    assert.equal(h.tcb.sndUna, (s + 300) >>> 0)
    assert.ok(h.tcb.sndUna < 0x1000, "wrapped")
  })
})
