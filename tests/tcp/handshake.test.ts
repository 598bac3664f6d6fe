/**
 * Packet-level tests of connection setup and teardown: CLOSED (no connection), LISTEN, SYN-SENT, SYN-RECEIVED,
 * FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT. One describe per RFC 9293 state.
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { Listener, resetFor } from "../../src/tcp/Listener.ts"
import { Tcb } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { TcpPacket, TcpRepr } from "../../src/wire/Tcp.ts"
import {
  accepted,
  ACK,
  established,
  expectSegments,
  FIN,
  Harness,
  IRS,
  ISS,
  LOCAL_PORT,
  mk,
  plainConfig,
  PSH,
  REMOTE_PORT,
  RST,
  SYN,
} from "./support.ts"

const S = ISS + 1
const R = IRS + 1

describe("CLOSED (no connection)", () => {
  it("answers a segment with ACK by <SEQ=SEG.ACK><CTL=RST>", () => {
    const rst = resetFor(mk({ seq: 77, ack: 1234, flags: ACK, data: "xyz" }))!
    expectSegments([rst], [{ seq: 1234, flags: RST }])
  })
  it("answers a SYN by <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", () => {
    expectSegments([resetFor(mk({ seq: 77, flags: SYN }))!], [{ seq: 0, ack: 78, flags: RST | ACK }])
    expectSegments([resetFor(mk({ seq: 0xffffffff, flags: FIN, data: "ab" }))!], [{ seq: 0, ack: 2, flags: RST | ACK }])
  })
  it("never answers a RST", () => {
    assert.equal(resetFor(mk({ seq: 1, ack: 2, flags: RST | ACK })), undefined)
  })
  it("an aborted connection sends one RST, then ignores everything", () => {
    const h = established()
    h.tcb.abort()
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: RST | ACK }])
    assert.equal(h.tcb.state, "CLOSED")
    assert.deepEqual(h.signals(), ["Closed"])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: "late" }), [])
    assert.equal(h.tcb.write(new Uint8Array(1)), -1)
  })
})

describe("LISTEN", () => {
  it("a SYN creates a TCB that answers SYN-ACK echoing only the offered options", () => {
    const l = new Listener(LOCAL_PORT, () => ISS, { backlog: 128, tcb: makeTcbConfig({ recvBufferSize: 262144 }) })
    const r = l.input(mk({ seq: IRS, flags: SYN, mss: 1460, ws: 7, sackPerm: true, ts: [900, 0] }), 0)
    assert.equal(r._tag, "Created")
    const tcb = (r as { tcb: Tcb }).tcb
    assert.equal(tcb.state, "SYN-RECEIVED")
    expectSegments(tcb.poll(0), [
      { seq: ISS, ack: R, flags: SYN | ACK, mss: 1460, ws: 3, sackPerm: true, ts: [ISS, 900] },
    ])
    const plain = l.input(mk({ seq: IRS, flags: SYN }), 0) as { tcb: Tcb }
    const synAck = plain.tcb.poll(0)[0]
    assert.equal(synAck.options.windowScale, undefined)
    assert.equal(synAck.options.sackPermitted, false)
    assert.equal(synAck.options.timestamps, undefined)
    assert.equal(plain.tcb.effMss, 536, "peer without MSS option: 536")
  })
  it("drops a SYN with FIN set without a reply or a TCB, and counts it (Linux drops it too)", () => {
    const l = new Listener(LOCAL_PORT, () => ISS, { backlog: 128, tcb: makeTcbConfig() })
    assert.equal(l.input(mk({ seq: IRS, flags: SYN | FIN }), 0)._tag, "Dropped")
    assert.equal(l.input(mk({ seq: IRS, flags: SYN | FIN | PSH, data: "GET /" }), 0)._tag, "Dropped")
    assert.equal(l.stats.synFinDropped, 2)
    assert.equal(l.stats.synsAccepted, 0)
    assert.equal(l.synQueue.size, 0)
    // a plain SYN afterwards is served as usual
    assert.equal(l.input(mk({ seq: IRS, flags: SYN }), 0)._tag, "Created")
  })
  it("a SYN with a malformed option is answered; only the options before the bad one are used", () => {
    // raw bytes from the wire: REMOTE_PORT → LOCAL_PORT, SYN, options then a bad one (SACK-permitted of length 3)
    // and options after it that must be ignored (SACK-permitted, timestamps)
    const parse = (options: ReadonlyArray<number>): TcpRepr => {
      const len = 20 + ((options.length + 3) & ~3)
      const p = new TcpPacket(new Uint8Array(len))
      p.setSrcPort(REMOTE_PORT)
      p.setDstPort(LOCAL_PORT)
      p.setSeqNumber(IRS)
      p.setHeaderLen(len)
      p.setFlags(SYN)
      p.setWindowLen(65535)
      p.buffer.set(options, 20)
      const r = TcpRepr.parse(p, 0, ChecksumCapabilities.offload)
      assert.ok(r._tag === "Success", "the SYN is parsed")
      return r.success
    }
    const l = new Listener(LOCAL_PORT, () => ISS, { backlog: 128, tcb: makeTcbConfig({ recvBufferSize: 262144 }) })
    const bad = [4, 3, 0]
    const tsAfter = [4, 2, 8, 10, 0, 0, 3, 132, 0, 0, 0, 0]
    const r = l.input(parse([2, 4, 0x05, 0xb4, 1, 3, 3, 7, ...bad, ...tsAfter]), 0)
    assert.equal(r._tag, "Created")
    const tcb = (r as { tcb: Tcb }).tcb
    expectSegments(tcb.poll(0), [{ seq: ISS, ack: R, flags: SYN | ACK, mss: 1460, ws: 3, sackPerm: false }])
    assert.equal(tcb.poll(0).length, 0)
    assert.equal(tcb.effMss, 1460)
    assert.equal(tcb.sndShift, 7)
    assert.equal(tcb.sackOk, false)
    assert.equal(tcb.tsOk, false)
    // garbage before the bad option is still clamped: MSS 0 → the default 536, window scale 200 → 14 (RFC 7323 §2.3)
    const g = l.input(parse([2, 4, 0, 0, 3, 3, 200, ...bad]), 0) as { tcb: Tcb }
    expectSegments(g.tcb.poll(0), [{ seq: ISS, ack: R, flags: SYN | ACK, ws: 3 }])
    assert.equal(g.tcb.effMss, 536)
    assert.equal(g.tcb.sndShift, 14)
    assert.equal(l.stats.synsAccepted, 2)
  })
  it("answers an ACK with a RST and ignores a RST", () => {
    const l = new Listener(LOCAL_PORT, () => ISS, { backlog: 128, tcb: makeTcbConfig() })
    const r = l.input(mk({ seq: 5, ack: 99, flags: ACK }), 0)
    assert.equal(r._tag, "Reply")
    expectSegments([(r as { segment: ReturnType<typeof mk> }).segment], [{ seq: 99, flags: RST }])
    assert.equal(l.input(mk({ seq: 5, ack: 99, flags: RST }), 0)._tag, "Dropped")
    assert.equal(l.input(mk({ seq: 5, flags: 0, data: "x" }), 0)._tag, "Dropped")
  })
  it("without cookies, drops SYNs beyond the half-open limit; the accept queue has its own limit", () => {
    const l = new Listener(LOCAL_PORT, () => ISS, { backlog: 2, synBacklog: 2, tcb: plainConfig() })
    const a = l.input(mk({ seq: IRS, flags: SYN }), 0) as { tcb: Tcb }
    assert.equal(l.input(mk({ seq: IRS + 100, flags: SYN }), 0)._tag, "Created")
    assert.equal(l.input(mk({ seq: IRS + 200, flags: SYN }), 0)._tag, "Dropped")
    assert.equal(l.stats.synsDropped, 1)
    // the first handshake completes: it moves to the accept queue and frees a half-open slot
    a.tcb.poll(0)
    a.tcb.input(mk({ seq: R, ack: S, flags: ACK }), 1)
    assert.equal(a.tcb.state, "ESTABLISHED")
    assert.equal(l.acceptQueue.length, 1)
    assert.equal(l.synQueue.size, 1)
    const b = l.input(mk({ seq: IRS + 300, flags: SYN }), 1) as { tcb: Tcb }
    assert.equal(b.tcb.state, "SYN-RECEIVED")
    b.tcb.poll(1)
    b.tcb.input(mk({ seq: IRS + 301, ack: S, flags: ACK }), 2)
    assert.equal(l.acceptQueue.length, 2)
    // the accept queue is full: every SYN is dropped (counted as an overflow) until the application accepts
    assert.equal(l.input(mk({ seq: IRS + 400, flags: SYN }), 2)._tag, "Dropped")
    assert.equal(l.stats.synsDropped, 2)
    assert.equal(l.stats.listenOverflows, 1)
    assert.equal(l.accept(), a.tcb)
    assert.equal(l.input(mk({ seq: IRS + 500, flags: SYN }), 3)._tag, "Created")
    assert.equal(l.stats.synsAccepted, 4)
  })
})

describe("SYN-SENT", () => {
  const connect = (config = plainConfig()) =>
    new Harness(Tcb.connect({ localPort: LOCAL_PORT, remotePort: REMOTE_PORT, iss: ISS, tsOffset: 7, config }, 0))

  it("sends a SYN with MSS, window scale, SACK-permitted and timestamps", () => {
    const h = connect(makeTcbConfig({ mss: 1460, recvBufferSize: 262144 }))
    expectSegments(h.poll(), [{ seq: ISS, flags: SYN, mss: 1460, ws: 3, sackPerm: true, ts: [7, 0], win: 65535 }])
    assert.equal(h.tcb.state, "SYN-SENT")
    expectSegments(h.poll(), [])
  })
  it("SYN-ACK → ESTABLISHED, ACK, Connected; peer MSS caps ours", () => {
    const h = connect()
    h.poll()
    expectSegments(h.send({ seq: IRS, ack: S, flags: SYN | ACK, mss: 88 }), [{ seq: S, ack: R, flags: ACK }])
    assert.equal(h.tcb.state, "ESTABLISHED")
    assert.equal(h.tcb.effMss, 88)
    assert.deepEqual(h.signals(), ["Established"])
  })
  it("an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>", () => {
    const h = connect()
    h.poll()
    expectSegments(h.send({ seq: IRS, ack: ISS + 10, flags: SYN | ACK }), [{ seq: ISS + 10, flags: RST }])
    expectSegments(h.send({ seq: IRS, ack: ISS, flags: ACK }), [{ seq: ISS, flags: RST }])
    assert.equal(h.tcb.state, "SYN-SENT")
  })
  it("RST with an acceptable ACK → Refused; RST without ACK is ignored", () => {
    const h = connect()
    h.poll()
    expectSegments(h.send({ seq: 0, flags: RST }), [])
    assert.equal(h.tcb.state, "SYN-SENT")
    expectSegments(h.send({ seq: 0, ack: S, flags: RST | ACK }), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.deepEqual(h.signals(), ["Closed"])
    assert.equal(h.tcb.error, "Refused")
    assert.equal(h.tcb.error, "Refused")
  })
  it("retransmits the SYN with exponential backoff and gives up (TimedOut connect)", () => {
    const h = connect(plainConfig({ maxSynRetransmits: 2 }))
    expectSegments(h.poll(), [{ seq: ISS, flags: SYN }])
    assert.equal(h.tcb.nextDeadline(), 1000)
    expectSegments(h.at(999), [])
    expectSegments(h.at(1000), [{ seq: ISS, flags: SYN }])
    expectSegments(h.at(2999), [])
    expectSegments(h.at(3000), [{ seq: ISS, flags: SYN }])
    expectSegments(h.at(6999), [])
    expectSegments(h.at(7000), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(h.tcb.timeoutCause, "connect")
    assert.deepEqual(h.signals(), ["Closed"])
    assert.equal(h.tcb.error, "TimedOut")
  })
  it("the connect timeout bounds the whole attempt", () => {
    const h = connect(plainConfig({ connectTimeoutMs: 2500 }))
    h.poll()
    expectSegments(h.at(1000), [{ seq: ISS, flags: SYN }])
    expectSegments(h.at(2500), [])
    assert.equal(h.tcb.error, "TimedOut")
  })
  it("simultaneous open: SYN → SYN-RECEIVED, SYN-ACK, then the peer's ACK establishes", () => {
    const h = connect()
    h.poll()
    expectSegments(h.send({ seq: IRS, flags: SYN, mss: 100 }), [{ seq: ISS, ack: R, flags: SYN | ACK }])
    assert.equal(h.tcb.state, "SYN-RECEIVED")
    // the peer's own SYN-ACK repeats its SYN (old sequence number): acknowledged and dropped (§3.10.7.4)
    expectSegments(h.send({ seq: IRS, ack: S, flags: SYN | ACK }), [{ seq: S, ack: R, flags: ACK }])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK }), [])
    assert.equal(h.tcb.state, "ESTABLISHED")
    assert.deepEqual(h.signals(), ["Established"])
  })
})

describe("SYN-RECEIVED", () => {
  const synReceived = (config = plainConfig()) => {
    const l = new Listener(LOCAL_PORT, () => ISS, { backlog: 128, tcb: config })
    const tcb = (l.input(mk({ seq: IRS, flags: SYN, mss: 100 }), 0) as { tcb: Tcb }).tcb
    const h = new Harness(tcb)
    expectSegments(h.poll(), [{ seq: ISS, ack: R, flags: SYN | ACK, win: 1000 }])
    return { h, l }
  }
  it("a retransmitted SYN gets the SYN-ACK again", () => {
    const { h } = synReceived()
    expectSegments(h.send({ seq: IRS, flags: SYN }), [{ seq: ISS, ack: R, flags: SYN | ACK }])
  })
  it("retransmits the SYN-ACK on timeout and gives up; the listener forgets it", () => {
    const { h, l } = synReceived(plainConfig({ maxSynRetransmits: 1 }))
    expectSegments(h.at(1000), [{ seq: ISS, ack: R, flags: SYN | ACK }])
    expectSegments(h.at(3000), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(l.synQueue.size, 0)
  })
  it("an unacceptable ACK gets a RST", () => {
    const { h } = synReceived()
    expectSegments(h.send({ seq: R, ack: ISS + 50, flags: ACK }), [{ seq: ISS + 50, flags: RST }])
    assert.equal(h.tcb.state, "SYN-RECEIVED")
  })
  it("the ACK may carry data: ESTABLISHED, data readable and acknowledged", () => {
    const { h, l } = synReceived()
    expectSegments(h.send({ seq: R, ack: S, flags: ACK | PSH, data: "hello" }), [{ seq: S, ack: R + 5, flags: ACK }])
    assert.equal(h.tcb.state, "ESTABLISHED")
    assert.deepEqual(h.signals(), ["Readable", "Established"])
    assert.equal(new TextDecoder().decode(h.tcb.read()!), "hello")
    assert.equal(l.accept(), h.tcb)
  })
  it("an exact RST closes it and the listener forgets it", () => {
    const { h, l } = synReceived()
    expectSegments(h.send({ seq: R, flags: RST }), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(l.synQueue.size, 0)
  })
  it("close() before the handshake completes sends FIN once established", () => {
    const { h } = synReceived()
    h.tcb.close()
    expectSegments(h.poll(), [])
    expectSegments(h.send({ seq: R, ack: S, flags: ACK }), [{ seq: S, ack: R, flags: FIN | ACK }])
    assert.equal(h.tcb.state, "FIN-WAIT-1")
  })
})

describe("FIN-WAIT-1", () => {
  it("close() sends queued data then FIN in one segment", () => {
    const h = established()
    h.write("abc")
    h.tcb.close()
    assert.equal(h.tcb.state, "FIN-WAIT-1")
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK | PSH | FIN, data: "abc" }])
    assert.equal(h.tcb.write(new Uint8Array(1)), -1)
  })
  it("ACK of the FIN → FIN-WAIT-2", () => {
    const h = established()
    h.tcb.close()
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK | FIN }])
    expectSegments(h.send({ seq: R, ack: S + 1, flags: ACK }), [])
    assert.equal(h.tcb.state, "FIN-WAIT-2")
  })
  it("FIN+ACK of our FIN → TIME-WAIT", () => {
    const h = established()
    h.tcb.close()
    h.poll()
    expectSegments(h.send({ seq: R, ack: S + 1, flags: ACK | FIN }), [{ seq: S + 1, ack: R + 1, flags: ACK }])
    assert.equal(h.tcb.state, "TIME-WAIT")
    assert.deepEqual(h.signals(), ["Readable", "FinAcked"])
    assert.equal(h.tcb.finReceived, true)
  })
  it("retransmits the FIN on timeout", () => {
    const h = established()
    h.tcb.close()
    h.poll()
    expectSegments(h.at(200), [{ seq: S, ack: R, flags: ACK | FIN }])
  })
})

describe("FIN-WAIT-2", () => {
  const finWait2 = () => {
    const h = established()
    h.tcb.close()
    h.poll()
    h.send({ seq: R, ack: S + 1, flags: ACK })
    assert.equal(h.tcb.state, "FIN-WAIT-2")
    return h
  }
  it("half-close: still receives data", () => {
    const h = finWait2()
    expectSegments(h.send({ seq: R, ack: S + 1, flags: ACK, data: "more" }), [{ seq: S + 1, ack: R + 4, flags: ACK }])
    assert.equal(new TextDecoder().decode(h.tcb.read()!), "more")
  })
  it("FIN → TIME-WAIT; read reports end of stream", () => {
    const h = finWait2()
    expectSegments(h.send({ seq: R, ack: S + 1, flags: ACK | FIN, data: "z" }), [
      { seq: S + 1, ack: R + 2, flags: ACK },
    ])
    assert.equal(h.tcb.state, "TIME-WAIT")
    assert.deepEqual([...h.tcb.read()!], [0x7a])
    assert.equal(h.tcb.read(), null)
  })
})

describe("orphan (the application closed and is gone)", () => {
  const orphanConfig = () => plainConfig({ closeTimeoutMs: 3000, finWait2TimeoutMs: 5000 })
  it("our FIN never acknowledged: abort (RST) after closeTimeout", () => {
    const h = established(orphanConfig())
    h.now = 100
    h.tcb.orphan(100)
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK | FIN }])
    assert.equal(h.tcb.state, "FIN-WAIT-1")
    assert.equal(h.tcb.nextDeadline(), 300, "the FIN's retransmission comes first")
    for (let t = 300; t < 3100; t += 100) h.at(t) // FIN retransmissions, no answer
    assert.equal(h.tcb.state, "FIN-WAIT-1")
    expectSegments(h.at(3100), [{ seq: S + 1, ack: R, flags: RST | ACK }])
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(h.tcb.error, undefined, "an abort of our own is not an error")
    assert.deepEqual(h.signals(), ["Closed"])
  })
  it("FIN-WAIT-2 without the peer's FIN: abort after finWait2Timeout, counted from the ACK of our FIN", () => {
    const h = established(orphanConfig())
    h.tcb.orphan(0)
    h.poll()
    h.now = 1000
    h.send({ seq: R, ack: S + 1, flags: ACK })
    assert.equal(h.tcb.state, "FIN-WAIT-2")
    assert.deepEqual(h.signals(), ["FinAcked"])
    assert.equal(h.tcb.nextDeadline(), 6000)
    expectSegments(h.at(5999), [])
    expectSegments(h.at(6000), [{ seq: S + 1, ack: R, flags: RST | ACK }])
    assert.equal(h.tcb.state, "CLOSED")
  })
  it("orphaned in FIN-WAIT-2 already (after closeWrite): finWait2Timeout from then", () => {
    const h = established(orphanConfig())
    h.tcb.close()
    h.poll()
    h.send({ seq: R, ack: S + 1, flags: ACK })
    assert.equal(h.tcb.nextDeadline(), undefined, "a half-closed connection may stay in FIN-WAIT-2")
    h.now = 200
    h.tcb.orphan(200)
    assert.equal(h.tcb.nextDeadline(), 5200)
    expectSegments(h.at(5200), [{ seq: S + 1, ack: R, flags: RST | ACK }])
  })
  it("the peer's FIN in time: TIME-WAIT's own timer ends it, no RST", () => {
    const h = established(orphanConfig())
    h.tcb.orphan(0)
    h.poll()
    h.send({ seq: R, ack: S + 1, flags: ACK })
    h.now = 2000
    h.send({ seq: R, ack: S + 1, flags: ACK | FIN })
    assert.equal(h.tcb.state, "TIME-WAIT")
    assert.equal(h.tcb.nextDeadline(), 3000, "TIME-WAIT (1 s), not the orphan deadline")
    expectSegments(h.at(3000), [])
    assert.equal(h.tcb.state, "CLOSED")
  })
  it("orphaning a connection in SYN-SENT closes it at once", () => {
    const h = new Harness(
      Tcb.connect({ localPort: LOCAL_PORT, remotePort: REMOTE_PORT, iss: ISS, config: orphanConfig() }, 0),
    )
    h.poll()
    h.tcb.orphan(0)
    assert.equal(h.tcb.state, "CLOSED")
    assert.equal(h.tcb.nextDeadline(), undefined)
    expectSegments(h.poll(), [])
  })
})

describe("CLOSE-WAIT", () => {
  it("FIN → CLOSE-WAIT; we can still send (half-close); close() → LAST-ACK", () => {
    const h = established(plainConfig({ noDelay: true }))
    expectSegments(h.send({ seq: R, ack: S, flags: ACK | FIN }), [{ seq: S, ack: R + 1, flags: ACK }])
    assert.equal(h.tcb.state, "CLOSE-WAIT")
    assert.deepEqual(h.signals(), ["Readable"])
    assert.equal(h.tcb.finReceived, true)
    assert.equal(h.tcb.read(), null)
    h.write("bye")
    expectSegments(h.poll(), [{ seq: S, ack: R + 1, flags: ACK | PSH, data: "bye" }])
    h.tcb.close()
    assert.equal(h.tcb.state, "LAST-ACK")
    expectSegments(h.poll(), [{ seq: S + 3, ack: R + 1, flags: ACK | FIN }])
  })
  it("a retransmitted FIN is acknowledged again", () => {
    const h = established()
    h.send({ seq: R, ack: S, flags: ACK | FIN })
    expectSegments(h.send({ seq: R, ack: S, flags: ACK | FIN }), [{ seq: S, ack: R + 1, flags: ACK }])
    assert.equal(h.tcb.state, "CLOSE-WAIT")
  })
})

describe("CLOSING", () => {
  it("simultaneous close: FIN-WAIT-1 → CLOSING → TIME-WAIT → CLOSED", () => {
    const h = established()
    h.tcb.close()
    expectSegments(h.poll(), [{ seq: S, ack: R, flags: ACK | FIN }])
    // the peer's FIN crosses ours: it does not acknowledge our FIN
    expectSegments(h.send({ seq: R, ack: S, flags: ACK | FIN }), [{ seq: S + 1, ack: R + 1, flags: ACK }])
    assert.equal(h.tcb.state, "CLOSING")
    expectSegments(h.send({ seq: R + 1, ack: S + 1, flags: ACK }), [])
    assert.equal(h.tcb.state, "TIME-WAIT")
    h.now = 10
    expectSegments(h.at(1009), [])
    expectSegments(h.at(1010), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.deepEqual(h.signals(), ["Readable", "FinAcked", "Closed"])
    assert.equal(h.tcb.error, undefined)
  })
  it("retransmits its FIN while waiting", () => {
    const h = established()
    h.tcb.close()
    h.poll()
    h.send({ seq: R, ack: S, flags: ACK | FIN })
    expectSegments(h.at(200), [{ seq: S, ack: R + 1, flags: ACK | FIN }])
  })
})

describe("LAST-ACK", () => {
  const lastAck = () => {
    const h = established()
    h.send({ seq: R, ack: S, flags: ACK | FIN })
    h.tcb.close()
    expectSegments(h.poll(), [{ seq: S, ack: R + 1, flags: ACK | FIN }])
    assert.equal(h.tcb.state, "LAST-ACK")
    h.signals()
    return h
  }
  it("ACK of our FIN → CLOSED", () => {
    const h = lastAck()
    expectSegments(h.send({ seq: R + 1, ack: S + 1, flags: ACK }), [])
    assert.equal(h.tcb.state, "CLOSED")
    assert.deepEqual(h.signals(), ["FinAcked", "Closed"])
    assert.equal(h.tcb.nextDeadline(), undefined)
  })
  it("retransmits the FIN with backoff", () => {
    const h = lastAck()
    expectSegments(h.at(200), [{ seq: S, ack: R + 1, flags: ACK | FIN }])
    expectSegments(h.at(599), [])
    expectSegments(h.at(600), [{ seq: S, ack: R + 1, flags: ACK | FIN }])
  })
})

describe("TIME-WAIT", () => {
  const timeWait = (timeWaitMs = 1000) => {
    const h = established(plainConfig({ timeWaitMs }))
    h.tcb.close()
    h.poll()
    h.send({ seq: R, ack: S + 1, flags: ACK })
    h.now = 10
    h.send({ seq: R, ack: S + 1, flags: ACK | FIN })
    assert.equal(h.tcb.state, "TIME-WAIT")
    return h
  }
  it("expires after timeWaitMs", () => {
    const h = timeWait()
    assert.equal(h.tcb.nextDeadline(), 1010)
    expectSegments(h.at(1009), [])
    assert.equal(h.tcb.state, "TIME-WAIT")
    expectSegments(h.at(1010), [])
    assert.equal(h.tcb.state, "CLOSED")
  })
  it("a retransmitted FIN is acknowledged and restarts the timer", () => {
    const h = timeWait(500)
    h.now = 300
    expectSegments(h.send({ seq: R, ack: S + 1, flags: ACK | FIN }), [{ seq: S + 1, ack: R + 1, flags: ACK }])
    expectSegments(h.at(510), [])
    assert.equal(h.tcb.state, "TIME-WAIT")
    expectSegments(h.at(800), [])
    assert.equal(h.tcb.state, "CLOSED")
  })
  it("a SYN gets a challenge ACK", () => {
    const h = timeWait()
    expectSegments(h.send({ seq: R + 1, flags: SYN }), [{ seq: S + 1, ack: R + 1, flags: ACK }])
  })
})

describe("passive open end to end", () => {
  it("accepted() helper reaches ESTABLISHED via the accept queue", () => {
    const { h, listener } = accepted()
    assert.equal(listener.accept(), h.tcb)
    assert.equal(listener.accept(), undefined)
    assert.equal(h.tcb.parent, undefined)
  })
})
