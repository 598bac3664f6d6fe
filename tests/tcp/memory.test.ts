/**
 * TCP buffer memory in the pure core (issue 15): out-of-order storage by need and its bounds, the stack-wide budget
 * ({@link TcpMemory}: pressure, limit, waiting writers) and rings that give their storage back once drained.
 * Segment by segment, with exact assertions on what the TCB sends (SACK blocks included) and what it holds.
 *
 * @module
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { OOO_PIECE_OVERHEAD } from "../../src/tcp/Assembler.ts"
import { type MemoryWaiter, TcpMemory } from "../../src/tcp/Memory.ts"
import { RING_MIN_STORAGE } from "../../src/tcp/Ring.ts"
import { BUFFER_IDLE_MS, Tcb, type TcbConfig, TcbSignal } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"
import { ACK, expectSegments, Harness, IRS, ISS, LOCAL_PORT, mk, pattern, REMOTE_PORT, SYN } from "./support.ts"

const S = ISS + 1
const R = IRS + 1

/** Our config: MSS 100, SACK on, no timestamps or window scaling, ACK at once; a 64 KiB receive window. */
const config = (over: Partial<TcbConfig> = {}): TcbConfig =>
  makeTcbConfig({
    mss: 100,
    sendBufferSize: 64 * 1024,
    recvBufferSize: 60_000,
    timestamps: false,
    windowScaling: false,
    sack: true,
    delayedAckMs: 0,
    noDelay: true,
    ...over,
  })

/** A connection whose send buffer may hold 200 000 bytes at once (cwnd 1000 × 100), to take memory. */
const hog = (m: TcpMemory): Harness => open(config({ sendBufferSize: 256 * 1024, initialWindow: 1000, memory: m }), 0)

/** Active open against a peer that offers SACK and a window of `peerWin`; ESTABLISHED, nothing pending. */
const open = (c: TcbConfig, peerWin: number = 60_000): Harness => {
  const h = new Harness(Tcb.connect({ localPort: LOCAL_PORT, remotePort: REMOTE_PORT, iss: ISS, config: c }, 0))
  expectSegments(h.poll(), [{ seq: ISS, flags: SYN, sackPerm: true }])
  expectSegments(h.send({ seq: IRS, ack: S, flags: SYN | ACK, win: peerWin, mss: 100, sackPerm: true }), [
    { seq: S, ack: R, flags: ACK },
  ])
  assert.equal(h.tcb.state, "ESTABLISHED")
  h.tcb.takeSignals()
  return h
}

describe("out-of-order storage by need", () => {
  it("one out-of-order byte costs that byte plus a small overhead, not a buffer reaching it", () => {
    const h = open(config())
    expectSegments(h.send({ seq: R + 30_000, ack: S, flags: ACK, data: pattern(1) }), [
      { seq: S, ack: R, flags: ACK, sack: [[R + 30_000, R + 30_001]] },
    ])
    assert.equal(h.tcb.recvBuffer.storage, 0, "the receive ring is not grown for a byte out of order")
    assert.equal(h.tcb.assembler.memoryBytes, 1 + OOO_PIECE_OVERHEAD)
    assert.ok(h.tcb.memoryBytes <= 1 + OOO_PIECE_OVERHEAD, `the connection holds ${h.tcb.memoryBytes} bytes`)
    // a few segments scattered over the window: what is held, not how far out it lies
    for (let k = 1; k <= 5; k++) h.send({ seq: R + k * 9000, ack: S, flags: ACK, data: pattern(100) })
    assert.equal(h.tcb.memoryBytes, 501 + 6 * OOO_PIECE_OVERHEAD)
  })

  it("bytes held out of order reach the reader in order, once the hole is filled", () => {
    const h = open(config())
    h.send({ seq: R + 200, ack: S, flags: ACK, data: pattern(100, 200) })
    h.send({ seq: R + 100, ack: S, flags: ACK, data: pattern(150, 100) }) // overlaps the held segment
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) }), [{ seq: S, ack: R + 300, flags: ACK }])
    assert.deepEqual([...(h.tcb.read() ?? [])], [...pattern(300)])
    assert.equal(h.tcb.assembler.memoryBytes, 0, "delivered pieces are forgotten")
  })

  it("the connection bound: past maxOutOfOrderBytes segments are dropped, counted, and not SACKed", () => {
    const per = 100 + OOO_PIECE_OVERHEAD
    const h = open(config({ maxOutOfOrderBytes: 3 * per }))
    expectSegments(h.send({ seq: R + 100, ack: S, flags: ACK, data: pattern(100, 100) }), [
      { seq: S, ack: R, flags: ACK, sack: [[R + 100, R + 200]] },
    ])
    h.send({ seq: R + 300, ack: S, flags: ACK, data: pattern(100, 300) })
    h.send({ seq: R + 500, ack: S, flags: ACK, data: pattern(100, 500) })
    // a fourth piece passes the bound: dropped; the duplicate ACK reports only what is held
    expectSegments(h.send({ seq: R + 700, ack: S, flags: ACK, data: pattern(100, 700) }), [
      { seq: S, ack: R, flags: ACK, sack: [[R + 500, R + 600], [R + 300, R + 400], [R + 100, R + 200]] },
    ])
    assert.equal(h.tcb.stats.outOfOrderDropped, 1)
    assert.equal(h.tcb.stats.outOfOrderIn, 4)
    // extending a held range by bytes it already has costs nothing and is not refused
    h.send({ seq: R + 100, ack: S, flags: ACK, data: pattern(50, 100) })
    assert.equal(h.tcb.stats.outOfOrderDropped, 1)
    // the hole at 0 filled: everything held is delivered, and the ACK stops where the held data stops
    expectSegments(h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) }), [
      { seq: S, ack: R + 200, flags: ACK, sack: [[R + 500, R + 600], [R + 300, R + 400]] },
    ])
    h.send({ seq: R + 200, ack: S, flags: ACK, data: pattern(100, 200) })
    h.send({ seq: R + 400, ack: S, flags: ACK, data: pattern(100, 400) })
    // the dropped segment, sent again, is stored now that the bound has room
    expectSegments(h.send({ seq: R + 600, ack: S, flags: ACK, data: pattern(200, 600) }), [
      { seq: S, ack: R + 800, flags: ACK },
    ])
    assert.deepEqual([...(h.tcb.read() ?? [])], [...pattern(800)])
  })

  it("the stack's out-of-order budget and memory pressure drop out-of-order data first; in-order data still goes", () => {
    const m = new TcpMemory(64 * 1024, 0.75, 0.25) // out of order: 16 KiB for the whole stack
    const a = open(config({ memory: m }))
    const b = open(config({ memory: m }))
    for (let k = 0; k < 32; k++) a.send({ seq: R + 1 + k * 600, ack: S, flags: ACK, data: pattern(500) })
    assert.ok(m.outOfOrder <= m.outOfOrderLimit, `${m.outOfOrder} ≤ ${m.outOfOrderLimit}`)
    assert.ok(a.tcb.stats.outOfOrderDropped > 0)
    const held = m.outOfOrder
    b.send({ seq: R + 1, ack: S, flags: ACK, data: pattern(100) })
    assert.equal(b.tcb.stats.outOfOrderDropped, 1, "the stack-wide bound holds across connections")
    assert.equal(m.outOfOrderDropped, a.tcb.stats.outOfOrderDropped + 1)
    // in-order data is not refused for it
    expectSegments(b.send({ seq: R, ack: S, flags: ACK, data: pattern(1) }), [{ seq: S, ack: R + 1, flags: ACK }])
    // under pressure (usage ≥ 48 KiB) out-of-order data is refused even below the out-of-order bound
    hog(m).tcb.write(new Uint8Array(40_000))
    assert.ok(m.pressure, `pressure at ${m.used} bytes`)
    assert.equal(m.pressureEvents, 1)
    a.tcb.assembler.clear()
    b.send({ seq: R + 500, ack: S, flags: ACK, data: pattern(10) })
    assert.equal(b.tcb.stats.outOfOrderDropped, 2)
    assert.ok(held > 0)
  })
})

describe("the stack's memory limit", () => {
  it("under pressure the window opens no further than the storage held; at the limit in-order data is dropped unacknowledged", () => {
    const m = new TcpMemory(128 * 1024, 0.5, 0.25)
    const h = open(config({ recvBufferSize: 60_000, memory: m }))
    const first = h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) })
    assert.equal(first[0].windowLen, 60_000 - 100, "no pressure: the window is the free buffer")
    // another connection takes the budget to the limit
    hog(m).tcb.write(new Uint8Array(256 * 1024))
    assert.ok(m.pressure)
    assert.equal(m.writeAvailable, 0, "the send buffers took their whole share")
    assert.equal(m.available, m.limit - m.directionLimit - RING_MIN_STORAGE, "a sixteenth is left for receiving")
    // the window does not grow past the storage held (4 KiB), minus what is buffered
    h.tcb.read()
    const upd = h.send({ seq: R + 100, ack: S, flags: ACK, data: pattern(100, 100) })
    assert.equal(upd[0].ackNumber, R + 200)
    assert.equal(h.tcb.recvBuffer.storage, RING_MIN_STORAGE)
    assert.equal(upd[0].windowLen, RING_MIN_STORAGE - 100, "shrunk to what the storage held backs")
    // data that fits the storage it holds is still accepted; what needs more memory is dropped, not acknowledged
    const big = pattern(100, 200)
    let seq = R + 200
    let acked = R + 200
    for (let k = 0; k < 200; k++) {
      const out = h.send({ seq, ack: S, flags: ACK, data: big })
      acked = out[out.length - 1].ackNumber
      if (acked !== seq + 100) break
      seq += 100
    }
    assert.ok(h.tcb.stats.memoryDropped > 0, "dropped at the limit")
    assert.equal(m.memoryDropped, h.tcb.stats.memoryDropped)
    assert.ok(m.used <= m.limit && m.peak <= m.limit, `${m.peak} ≤ ${m.limit}`)
    // every acknowledged byte is readable
    const got = h.tcb.read() ?? new Uint8Array(0)
    assert.equal(got.length, acked - (R + 100))
  })

  it("writes wait at the limit (they take what fits), and resume once memory is released", () => {
    const m = new TcpMemory(96 * 1024, 1, 0.25) // no pressure band: straight to the limit
    const woken: Array<MemoryWaiter> = []
    m.onAvailable = (w) => woken.push(w)
    const a = hog(m)
    const b = hog(m)
    const c = hog(m)
    assert.equal(a.tcb.write(new Uint8Array(60_000)), 60_000)
    assert.equal(a.tcb.sendBuffer.storage, 64 * 1024)
    assert.equal(b.tcb.write(new Uint8Array(64 * 1024)), 26 * 1024, "b gets what is left of the budget, no more")
    assert.equal(m.sendUsed, m.directionLimit, "send buffers hold all they may (90 KiB of 96)")
    // b's buffer is full and may not grow: its writer waits for its ACKs or for memory, whichever comes first
    assert.equal(b.tcb.write(new Uint8Array(1)), 0)
    assert.equal(b.tcb.awaitWritable(26 * 1024), false)
    assert.equal(m.waits, 1)
    // c holds nothing and may allocate nothing: its writer waits for memory
    assert.equal(c.tcb.write(new Uint8Array(1000)), 0, "nothing fits: the writer must wait")
    assert.equal(c.tcb.awaitWritable(1000), false)
    assert.equal(m.waits, 2)
    assert.ok(m.peak <= m.limit)
    // a's data is sent and acknowledged; its drained ring gives its storage back once idle
    a.send({ seq: R, ack: S, flags: ACK, win: 65535 })
    assert.equal(woken.length, 0, "memory still all held")
    a.now = 10
    a.send({ seq: R, ack: S + 60_000, flags: ACK, win: 65535 })
    assert.equal(a.tcb.sendBuffer.length, 0)
    a.at(10 + BUFFER_IDLE_MS)
    assert.equal(a.tcb.sendBuffer.storage, 0, "the drained, idle ring gave its storage back")
    assert.deepEqual(woken, [b.tcb, c.tcb], "the writers waiting for memory are resumed, oldest first")
    assert.equal(c.tcb.awaitWritable(1000), true)
    assert.equal(c.tcb.write(new Uint8Array(1000)), 1000)
  })

  it("writes and windows are unchanged while the budget has room", () => {
    const m = new TcpMemory(64 * 1024 * 1024)
    const h = open(config({ memory: m }))
    assert.equal(h.tcb.write(new Uint8Array(64 * 1024)), 16 * 1024, "the autotuned limit, as without a budget")
    const out = h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) })
    assert.equal(out[0].windowLen, 60_000 - 100)
    assert.equal(m.waits, 0)
    assert.equal(m.used, h.tcb.memoryBytes)
  })
})

describe("rings give their storage back", () => {
  it("a delay after draining if empty then; not while holding bytes; at once under pressure", () => {
    const m = new TcpMemory(300 * 1024, 0.5)
    const h = open(config({ memory: m }))
    h.send({ seq: R, ack: S, flags: ACK, data: pattern(3000) })
    assert.equal(h.tcb.recvBuffer.storage, RING_MIN_STORAGE)
    h.tcb.read()
    h.poll() // the shell polls after every read
    assert.equal(h.tcb.nextDeadline(), BUFFER_IDLE_MS)
    // holding bytes when the delay is up: kept; the next drain looks again a delay later
    h.now = 500
    h.send({ seq: R + 3000, ack: S, flags: ACK, data: pattern(10) })
    h.at(BUFFER_IDLE_MS)
    assert.equal(h.tcb.recvBuffer.storage, RING_MIN_STORAGE, "holds bytes: kept")
    assert.equal(h.tcb.nextDeadline(), undefined)
    h.now = 1500
    h.tcb.read()
    h.poll()
    assert.equal(h.tcb.nextDeadline(), 1500 + BUFFER_IDLE_MS)
    h.at(1500 + BUFFER_IDLE_MS)
    assert.equal(h.tcb.recvBuffer.storage, 0, "empty a delay after draining: freed")
    assert.equal(m.used, 0)
    assert.equal(h.tcb.nextDeadline(), undefined)
    // under pressure: a drained ring is freed by the next poll
    hog(m).tcb.write(new Uint8Array(200_000))
    assert.ok(m.pressure)
    h.send({ seq: R + 3010, ack: S, flags: ACK, data: pattern(100) })
    assert.equal(h.tcb.recvBuffer.storage, RING_MIN_STORAGE)
    h.tcb.read()
    h.poll()
    assert.equal(h.tcb.recvBuffer.storage, 0)
  })

  it("a connection that ends gives back what nobody can read any more", () => {
    const m = new TcpMemory(1024 * 1024)
    const h = open(config({ memory: m }))
    h.tcb.write(new Uint8Array(5000))
    h.send({ seq: R + 500, ack: S, flags: ACK, data: pattern(100) })
    h.send({ seq: R, ack: S, flags: ACK, data: pattern(100) })
    assert.ok(m.used > 0)
    h.tcb.input(mk({ seq: R + 100, flags: ACK | 0x04 /* RST */ }), h.now)
    assert.equal(h.tcb.state, "CLOSED")
    assert.ok((h.tcb.takeSignals() & TcbSignal.Closed) !== 0)
    assert.equal(m.used, 0, "reset: send, receive and out-of-order storage are all freed")
    assert.equal(h.tcb.memoryBytes, 0)
  })
})
