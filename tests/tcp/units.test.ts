/** Unit and property tests of the TCP core's building blocks: SeqNum, Ring, Assembler, Scoreboard, Rtt, Congestion. */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import fc from "fast-check"
import { Assembler, OOO_PIECE_OVERHEAD } from "../../src/tcp/Assembler.ts"
import { type Cubic, makeCongestion, NewReno } from "../../src/tcp/Congestion.ts"
import { TcpMemory } from "../../src/tcp/Memory.ts"
import { Ring, RING_MIN_STORAGE } from "../../src/tcp/Ring.ts"
import { RttEstimator } from "../../src/tcp/Rtt.ts"
import { Scoreboard } from "../../src/tcp/Scoreboard.ts"
import { inWindow, seqAdd, seqGe, seqGt, seqLe, seqLt, seqSub } from "../../src/tcp/SeqNum.ts"
import { windowShiftFor } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"

describe("SeqNum", () => {
  it("compares across the 2^32 wrap", () => {
    assert.ok(seqLt(0xfffffff0, 5))
    assert.ok(seqGt(5, 0xfffffff0))
    assert.ok(seqLe(7, 7) && seqGe(7, 7))
    assert.equal(seqAdd(0xffffffff, 2), 1)
    assert.equal(seqSub(1, 0xffffffff), 2)
    assert.equal(seqSub(0xffffffff, 1), -2)
    assert.ok(inWindow(2, 0xfffffffe, 10))
    assert.ok(!inWindow(8, 0xfffffffe, 10))
    assert.ok(!inWindow(5, 5, 0))
  })
  it("a + d is after a for 0 < d < 2^31 (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0x7fffffff }), (a, d) => {
        const b = seqAdd(a, d)
        assert.ok(seqLt(a, b) && seqGt(b, a))
        assert.equal(seqSub(b, a), d)
      }),
    )
  })
})

describe("Ring", () => {
  it("push, peek (zero-copy unless wrapping), readInto, discard", () => {
    const r = new Ring(8)
    assert.equal(r.push(Uint8Array.of(1, 2, 3, 4, 5, 6)), 6)
    const v = r.peek(1, 3)
    assert.equal(v.buffer, r.buf.buffer, "a view, not a copy")
    assert.deepEqual([...v], [2, 3, 4])
    r.discard(4)
    assert.equal(r.push(Uint8Array.of(7, 8, 9, 10, 11, 12, 13)), 6)
    assert.deepEqual([...r.peek(0, 8)], [5, 6, 7, 8, 9, 10, 11, 12])
    const out = new Uint8Array(5)
    assert.equal(r.readInto(out), 5)
    assert.deepEqual([...out], [5, 6, 7, 8, 9])
    assert.equal(r.length, 3)
  })
  it("matches a model queue (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.integer({ min: 0, max: 20 })), { maxLength: 60 }),
        (ops) => {
          const r = new Ring(32)
          const model: number[] = []
          for (const op of ops) {
            if (typeof op === "number") {
              const out = new Uint8Array(op)
              const n = r.readInto(out)
              assert.deepEqual([...out.subarray(0, n)], model.splice(0, n))
            } else {
              const n = r.push(op)
              assert.equal(n, Math.min(op.length, 32 - model.length))
              model.push(...op.subarray(0, n))
            }
            assert.equal(r.length, model.length)
            if (model.length > 0) assert.deepEqual([...r.peek(0, model.length)], model)
          }
        },
      ),
    )
  })
  it("allocates nothing until written, then grows by doubling only as far as the bytes held need", () => {
    const r = new Ring(256 * 1024)
    assert.equal(r.storage, 0)
    assert.equal(r.free, 256 * 1024, "free space is the capacity, not the storage")
    r.push(new Uint8Array(100))
    assert.equal(r.storage, RING_MIN_STORAGE)
    r.discard(100)
    for (let i = 0; i < 1000; i++) {
      r.push(new Uint8Array(1460))
      r.discard(1460)
    }
    assert.equal(r.storage, RING_MIN_STORAGE, "a reader that keeps up keeps the ring small")
    r.push(new Uint8Array(20_000).fill(7))
    assert.equal(r.storage, 32 * 1024, "20 000 bytes held: the next power of two")
    r.push(new Uint8Array(300 * 1024).fill(1))
    assert.equal(r.storage, 256 * 1024, "never beyond capacity")
    assert.equal(r.length, 256 * 1024)
    assert.deepEqual([...r.peek(19_999, 2)], [7, 1], "growth kept the bytes at their logical positions")
  })
  it("gives its storage back once drained (release), or with every byte (dispose)", () => {
    const r = new Ring(64 * 1024)
    r.push(new Uint8Array(10_000))
    assert.equal(r.release(), 0, "not while it holds bytes")
    assert.equal(r.storage, 16 * 1024)
    r.discard(10_000)
    assert.equal(r.release(), 16 * 1024)
    assert.equal(r.storage, 0)
    assert.equal(r.push(Uint8Array.of(1, 2, 3)), 3, "usable again: storage allocated anew")
    assert.deepEqual([...r.peek(0, 3)], [1, 2, 3])
    assert.equal(r.dispose(), RING_MIN_STORAGE)
    assert.equal(r.length, 0)
  })
  it("charges its storage to a memory budget and never grows past its limit, nor past its direction's share", () => {
    const m = new TcpMemory(64 * 1024, 1, 0)
    assert.equal(m.directionLimit, 60 * 1024)
    const tx = new Ring(256 * 1024, m, true)
    const rx = new Ring(256 * 1024, m)
    assert.equal(tx.push(new Uint8Array(30_000)), 30_000)
    assert.equal(tx.storage, 32 * 1024, "doubling, while the budget allows it")
    assert.equal(tx.room, 60 * 1024 - 30_000, "room: the storage plus what the budget may still give")
    assert.equal(tx.push(new Uint8Array(40_000)), 60 * 1024 - 30_000, "send buffers stop at the direction limit")
    assert.equal(tx.storage, 60 * 1024)
    assert.equal(m.writeAvailable, 0)
    assert.ok(m.limitHits > 0)
    assert.equal(rx.room, 4 * 1024, "the last sixteenth is left for receiving")
    assert.equal(rx.push(new Uint8Array(10_000)), 4 * 1024)
    assert.equal(m.used, m.limit)
    assert.equal(m.peak, m.limit)
    tx.discard(tx.length)
    assert.equal(tx.release(), 60 * 1024)
    assert.equal(m.sendUsed, 0)
    assert.equal(rx.room, 56 * 1024, "receiving may now take its own share")
    assert.equal(rx.push(new Uint8Array(100_000)), 56 * 1024)
    assert.equal(tx.room, 4 * 1024, "and leaves a sixteenth for sending")
    rx.dispose()
    tx.dispose()
    assert.equal(m.used, 0)
  })
  it("keeps its bytes in order and its memory accounted whatever the budget (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60_000 }),
        fc.array(
          fc.oneof(
            fc.record({ push: fc.integer({ min: 1, max: 9000 }) }),
            fc.record({ read: fc.integer({ min: 0, max: 9000 }) }),
            fc.record({ release: fc.constant(true) }),
          ),
          { maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 255 }),
        (limit, ops, seed) => {
          const cap = 40_000
          const m = new TcpMemory(limit, 1, 0)
          const r = new Ring(cap, m)
          let model: number[] = []
          let next = seed
          const bytes = (n: number): Uint8Array => {
            const b = new Uint8Array(n)
            for (let i = 0; i < n; i++) b[i] = next = (next * 31 + 7) & 0xff
            return b
          }
          for (const op of ops) {
            if ("push" in op) {
              const src = bytes(op.push)
              const room = r.room
              const n = r.push(src)
              assert.equal(n, Math.min(src.length, room), "push takes what room said")
              model.push(...src.subarray(0, n))
            } else if ("read" in op) {
              const out = new Uint8Array(op.read)
              const n = r.readInto(out)
              assert.equal(n, Math.min(op.read, model.length))
              assert.deepEqual([...out.subarray(0, n)], model.slice(0, n))
              model = model.slice(n)
            } else r.release()
            assert.equal(r.length, model.length)
            assert.ok(r.length <= r.storage && r.storage <= cap)
            assert.equal(m.used, r.storage, "every byte of storage is charged, and only that")
            assert.ok(m.used <= limit, "never past the limit")
            if (model.length > 0) assert.deepEqual([...r.peek(0, model.length)], model)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("Assembler", () => {
  const at = (start: number, len: number): Uint8Array => {
    const b = new Uint8Array(len)
    for (let i = 0; i < len; i++) b[i] = (start + i) & 0xff
    return b
  }
  it("merges, delivers in order into the ring, and bounds the number of ranges", () => {
    const a = new Assembler(2)
    const ring = new Ring(1000)
    assert.ok(a.add(10, at(10, 10)))
    assert.ok(a.add(30, at(30, 10)))
    assert.ok(!a.add(50, at(50, 10)), "a third hole is refused")
    assert.ok(a.add(20, at(20, 10)), "filling between two ranges merges them")
    assert.equal(a.rangeCount, 1)
    assert.equal(a.bufferedBytes, 30)
    assert.equal(a.advance(5, ring), 5)
    assert.equal(ring.length, 0)
    ring.push(at(0, 10))
    assert.equal(a.advance(10, ring), 40)
    assert.ok(a.isEmpty)
    assert.equal(a.memoryBytes, 0)
    assert.deepEqual([...ring.peek(0, 40)], [...at(0, 40)])
  })
  it("holds what it received, not a window: one byte costs one byte plus the piece overhead", () => {
    const a = new Assembler()
    assert.ok(a.add(200_000, Uint8Array.of(9)))
    assert.equal(a.bufferedBytes, 1)
    assert.equal(a.memoryBytes, 1 + OOO_PIECE_OVERHEAD)
    assert.ok(a.add(199_990, at(199_990, 20)), "overlapping: only the new bytes are stored")
    assert.equal(a.bufferedBytes, 20)
    assert.equal(a.pieceCount, 3)
    assert.equal(a.memoryBytes, 20 + 3 * OOO_PIECE_OVERHEAD)
    a.clear()
    assert.equal(a.memoryBytes, 0)
  })
  it("refuses what passes its byte bound or the stack's budget, and SACKs only what it holds", () => {
    const m = new TcpMemory(100_000, 1, 0.5)
    const a = new Assembler(32, 1000, m)
    assert.ok(a.add(100, at(100, 500)))
    assert.equal(m.outOfOrder, 500 + OOO_PIECE_OVERHEAD)
    assert.ok(!a.add(1000, at(1000, 500)), "500 + 64 more would pass 1000")
    assert.ok(a.add(1000, at(1000, 300)))
    const out: number[] = []
    assert.equal(a.sackBlocks(out, 4), 2)
    assert.deepEqual(out, [1000, 1300, 100, 600], "the refused segment is not reported")
    const b = new Assembler(32, Infinity, m)
    assert.ok(!b.add(5000, at(5000, 50_000)), "past the stack's out-of-order limit (50 000)")
    m.pressure = true
    assert.ok(!b.add(5000, at(5000, 10)), "under memory pressure: refused")
    m.pressure = false
    const ring = new Ring(10_000, m)
    ring.push(at(0, 100))
    assert.equal(a.advance(100, ring), 600)
    assert.equal(m.used, a.memoryBytes + ring.storage, "the budget sees the pieces and the ring")
    a.clear()
    b.clear()
    ring.dispose()
    assert.equal(m.used, 0)
    assert.equal(m.outOfOrder, 0)
  })
  it("SACK blocks: most recently changed first", () => {
    const a = new Assembler()
    a.add(10, at(10, 10))
    a.add(30, at(30, 10))
    a.add(50, at(50, 10))
    a.add(35, at(35, 10))
    const out: number[] = []
    assert.equal(a.sackBlocks(out, 3), 3)
    assert.deepEqual(out, [30, 45, 50, 60, 10, 20])
  })
  it("delivers exactly the contiguous prefix of a random arrival order, byte for byte (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 30 })), { maxLength: 40 }),
        fc.integer({ min: 100, max: 2000 }),
        (segs, maxBytes) => {
          const m = new TcpMemory(1 << 20, 1, 1)
          const a = new Assembler(8, maxBytes, m)
          const ring = new Ring(1000, m)
          const have = new Set<number>()
          let edge = 0
          for (const [s, len] of segs) {
            if (s <= edge) {
              if (s + len > edge) edge = a.advance(edge + ring.push(at(edge, s + len - edge)), ring)
              for (let i = s; i < s + len; i++) have.add(i)
            } else if (a.add(s, at(s, len))) { for (let i = s; i < s + len; i++) have.add(i) }
            let model = 0
            while (have.has(model)) model++
            assert.equal(edge, model)
            assert.equal(ring.length, edge)
            assert.deepEqual([...ring.peek(0, edge)], [...at(0, edge)], "the bytes, in order")
            assert.ok(a.rangeCount <= 8)
            assert.ok(a.memoryBytes <= maxBytes)
            assert.equal(m.used, a.memoryBytes + ring.storage)
            // every SACKed byte is held (received, beyond the edge)
            const out: number[] = []
            const k = a.sackBlocks(out, 4)
            for (let b = 0; b < k; b++) {
              for (let i = out[2 * b]; i < out[2 * b + 1]; i++) assert.ok(have.has(i) && i >= edge)
            }
          }
        },
      ),
    )
  })
})

describe("Scoreboard", () => {
  it("tracks SACKed ranges, holes and pipe inputs across the wrap", () => {
    const una = 0xffffff00
    const sb = new Scoreboard()
    assert.ok(sb.add(seqAdd(una, 100), seqAdd(una, 200), una, seqAdd(una, 500)))
    assert.ok(sb.add(seqAdd(una, 300), seqAdd(una, 500), una, seqAdd(una, 500)))
    assert.ok(!sb.add(seqAdd(una, 600), seqAdd(una, 700), una, seqAdd(una, 500)), "beyond SND.MAX: ignored")
    assert.equal(sb.sacked, 300)
    assert.equal(sb.highSacked(una), seqAdd(una, 500))
    assert.equal(sb.nextHole(una), una)
    assert.equal(sb.holeEnd(una), seqAdd(una, 100))
    assert.equal(sb.nextHole(seqAdd(una, 100)), seqAdd(una, 200))
    assert.equal(sb.nextHole(seqAdd(una, 300)), -1)
    assert.equal(sb.sackedBetween(una, seqAdd(una, 350)), 150)
    sb.prune(seqAdd(una, 350))
    assert.equal(sb.sacked, 150)
  })
})

describe("RttEstimator (RFC 6298)", () => {
  it("first sample, smoothing, clamping and backoff", () => {
    const r = new RttEstimator({ initialRto: 1000, minRto: 200, maxRto: 60000, granularity: 1 })
    assert.equal(r.rto(), 1000)
    r.sample(100)
    assert.equal(r.srtt, 100)
    assert.equal(r.rttvar, 50)
    assert.equal(r.rto(), 300)
    r.sample(200)
    assert.equal(r.srtt, 112.5)
    assert.equal(r.rttvar, 62.5)
    assert.equal(r.rto(), 362.5)
    r.onTimeout()
    assert.equal(r.rto(), 725)
    for (let i = 0; i < 20; i++) r.onTimeout()
    assert.equal(r.rto(), 60000)
    r.sample(1)
    assert.equal(r.backoff, 0)
    const fast = new RttEstimator(makeTcbConfig().rtt)
    fast.sample(1)
    assert.equal(fast.rto(), 200, "minimum RTO")
  })
})

describe("Congestion control", () => {
  it("NewReno: IW 10, slow start, congestion avoidance, recovery, RTO", () => {
    const cc = new NewReno(1000)
    assert.equal(cc.cwnd, 10000)
    cc.onAck(2000, 0, 10)
    assert.equal(cc.cwnd, 12000)
    cc.onEnterRecovery(12000, 0, false)
    assert.equal(cc.ssthresh, 6000)
    assert.equal(cc.cwnd, 9000)
    cc.onDupAck()
    assert.equal(cc.cwnd, 10000)
    cc.onExitRecovery(3000, 0)
    assert.equal(cc.cwnd, 4000)
    // congestion avoidance: + 1 MSS per cwnd of acknowledged bytes
    cc.ssthresh = 4000
    cc.onAck(2000, 0, 10)
    cc.onAck(2000, 0, 10)
    assert.equal(cc.cwnd, 5000)
    cc.onRetransmitTimeout(5000, 0)
    assert.equal(cc.cwnd, 1000)
    assert.equal(cc.ssthresh, 2500)
  })
  it("CUBIC: β = 0.7 reduction and growth back towards W_max", () => {
    const cc = makeCongestion("cubic", 1000) as Cubic
    assert.equal(cc.name, "cubic")
    cc.onAck(90000, 0, 10) // slow start to 12000 (ABC caps at 2 MSS)
    cc.cwnd = 100000
    cc.onEnterRecovery(100000, 0, true)
    assert.equal(cc.ssthresh, 70000)
    cc.onExitRecovery(70000, 0)
    assert.equal(cc.cwnd, 70000)
    let t = 0
    for (let i = 0; i < 2000; i++) {
      t += 10
      cc.onAck(1000, t, 10)
    }
    assert.ok(cc.cwnd > 90000, `grew back towards W_max: ${cc.cwnd}`)
    cc.onRetransmitTimeout(cc.cwnd, t)
    assert.equal(cc.cwnd, 1000)
  })
})

describe("window scale choice", () => {
  it("smallest shift that fits the buffer in 16 bits, at most 14", () => {
    assert.equal(windowShiftFor(65535), 0)
    assert.equal(windowShiftFor(65536), 1)
    assert.equal(windowShiftFor(262144), 3)
    assert.equal(windowShiftFor(2 ** 31), 14)
  })
})
