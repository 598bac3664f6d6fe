/** Unit and property tests of the TCP core's building blocks: SeqNum, Ring, Assembler, Scoreboard, Rtt, Congestion. */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import fc from "fast-check"
import { Assembler } from "../../src/tcp/Assembler.ts"
import { type Cubic, makeCongestion, NewReno } from "../../src/tcp/Congestion.ts"
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
  it("writeAt parks bytes past the end until commit", () => {
    const r = new Ring(6)
    r.push(Uint8Array.of(1))
    r.discard(1)
    assert.equal(r.writeAt(2, Uint8Array.of(3, 4)), 2)
    assert.equal(r.length, 0)
    r.writeAt(0, Uint8Array.of(1, 2))
    r.commit(4)
    assert.deepEqual([...r.peek(0, 4)], [1, 2, 3, 4])
    assert.equal(r.writeAt(1, Uint8Array.of(9, 9, 9)), 1, "clipped to capacity")
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
    r.writeAt(20_000, Uint8Array.of(7))
    assert.equal(r.storage, 32 * 1024, "a parked byte far out grows the storage to cover it")
    r.push(new Uint8Array(20_000))
    r.commit(1)
    r.push(new Uint8Array(300 * 1024).fill(1))
    assert.equal(r.storage, 256 * 1024, "never beyond capacity")
    assert.equal(r.length, 256 * 1024)
    assert.deepEqual([...r.peek(19_999, 3)], [0, 7, 1], "growth kept the parked byte at its logical position")
  })
  it("keeps readable and parked bytes at their logical positions across growth (property)", () => {
    const cap = 40_000
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ push: fc.integer({ min: 1, max: 9000 }) }),
            fc.record({ read: fc.integer({ min: 0, max: 9000 }) }),
            fc.record({ park: fc.integer({ min: 0, max: 30_000 }), n: fc.integer({ min: 1, max: 3000 }) }),
            fc.record({ commit: fc.constant(true) }),
          ),
          { maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 255 }),
        (ops, seed) => {
          const r = new Ring(cap)
          // model: logical byte values from head; undefined = never written
          let model: Array<number | undefined> = []
          let len = 0
          let next = seed
          const bytes = (n: number): Uint8Array => {
            const b = new Uint8Array(n)
            for (let i = 0; i < n; i++) b[i] = next = (next * 31 + 7) & 0xff
            return b
          }
          for (const op of ops) {
            if ("push" in op) {
              const src = bytes(op.push)
              const n = r.push(src)
              assert.equal(n, Math.min(src.length, cap - len))
              for (let i = 0; i < n; i++) model[len + i] = src[i]
              len += n
            } else if ("read" in op) {
              const out = new Uint8Array(op.read)
              const n = r.readInto(out)
              assert.equal(n, Math.min(op.read, len))
              assert.deepEqual([...out.subarray(0, n)], model.slice(0, n))
              model = model.slice(n)
              len -= n
            } else if ("park" in op) {
              const src = bytes(op.n)
              const n = r.writeAt(op.park, src)
              assert.equal(n, Math.max(0, Math.min(src.length, cap - len - op.park)))
              for (let i = 0; i < n; i++) model[len + op.park + i] = src[i]
            } else {
              // commit the contiguous parked run that starts at the readable end
              let k = 0
              while (model[len + k] !== undefined) k++
              r.commit(k)
              len += k
            }
            assert.equal(r.length, len)
            assert.ok(r.storage <= cap)
            if (len > 0) assert.deepEqual([...r.peek(0, len)], model.slice(0, len))
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("Assembler", () => {
  it("merges, advances, and bounds the number of ranges", () => {
    const a = new Assembler(2)
    assert.ok(a.add(10, 20))
    assert.ok(a.add(30, 40))
    assert.ok(!a.add(50, 60), "a third hole is refused")
    assert.ok(a.add(20, 30), "filling between two ranges merges them")
    assert.equal(a.rangeCount, 1)
    assert.equal(a.advance(5), 5)
    assert.equal(a.advance(10), 40)
    assert.ok(a.isEmpty)
  })
  it("SACK blocks: most recently changed first", () => {
    const a = new Assembler()
    a.add(10, 20)
    a.add(30, 40)
    a.add(50, 60)
    a.add(35, 45)
    const out: number[] = []
    assert.equal(a.sackBlocks(out, 3), 3)
    assert.deepEqual(out, [30, 45, 50, 60, 10, 20])
  })
  it("yields exactly the contiguous prefix of a random arrival order (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 30 })), { maxLength: 40 }),
        (segs) => {
          const a = new Assembler(8)
          const have = new Set<number>()
          let edge = 0
          for (const [s, len] of segs) {
            if (s <= edge) {
              edge = a.advance(Math.max(edge, s + len))
              for (let i = s; i < s + len; i++) have.add(i)
            } else if (a.add(s, s + len)) { for (let i = s; i < s + len; i++) have.add(i) }
            let model = 0
            while (have.has(model)) model++
            assert.equal(edge, model)
            assert.ok(a.rangeCount <= 8)
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
