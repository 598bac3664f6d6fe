/**
 * Tests of the pure reassembly core: in-order and out-of-order completion, exact duplicates, overlaps (whole
 * datagram dropped), misaligned and oversize fragments, the timeout freeing memory, and the memory/datagram bounds;
 * plus a property test that any fragmentation delivered in any order reassembles to the original bytes.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { type Fragment, Reassembler } from "../../src/ipv4/Reassembly.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { assertBytes, pattern } from "../support/TestDevice.ts"

const HEADER = new Uint8Array(20).fill(0x45)

const frag = (data: Uint8Array, offset: number, len: number, more: boolean, id = 7): Fragment => ({
  src: 0x0a000001 as Ipv4Address,
  dst: 0x0a000002 as Ipv4Address,
  protocol: 17,
  identification: id,
  offset,
  moreFragments: more,
  payload: data.subarray(offset, offset + len),
  header: HEADER,
  ttl: 64,
})

describe("Reassembler", () => {
  it("completes a datagram from fragments in any order and frees its bytes", () => {
    const data = pattern(3000)
    const r = new Reassembler()
    assert.equal(r.insert(frag(data, 1480, 1480, true), 0)._tag, "Pending")
    assert.equal(r.insert(frag(data, 2960, 40, false), 0)._tag, "Pending")
    assert.equal(r.bytes, 1520)
    const done = r.insert(frag(data, 0, 1480, true), 0)
    assert.equal(done._tag, "Complete")
    if (done._tag === "Complete") {
      assertBytes(done.payload, data, "payload")
      assertBytes(done.header, HEADER, "header")
    }
    assert.equal(r.bytes, 0)
    assert.equal(r.size, 0)
    assert.equal(r.stats().reassembled, 1)
  })

  it("ignores an exact duplicate, drops the whole datagram on an overlap", () => {
    const data = pattern(2000)
    const r = new Reassembler()
    r.insert(frag(data, 0, 800, true), 0)
    assert.equal(r.insert(frag(data, 0, 800, true), 0)._tag, "Duplicate")
    const o = r.insert(frag(data, 792, 800, true), 0) // overlaps bytes 792..800
    assert.deepEqual(o, { _tag: "Dropped", reason: "Overlap" })
    assert.equal(r.size, 0)
    assert.equal(r.bytes, 0)
    // the rest of it no longer completes anything
    assert.equal(r.insert(frag(data, 1600, 400, false), 0)._tag, "Pending")
    assert.equal(r.stats().overlaps, 1)
  })

  it("rejects misaligned and oversize fragments and inconsistent last fragments", () => {
    const r = new Reassembler()
    const data = pattern(70000)
    assert.deepEqual(r.insert(frag(data, 0, 100, true), 0), { _tag: "Dropped", reason: "Misaligned" })
    assert.deepEqual(r.insert(frag(data, 65528, 16, false), 0), { _tag: "Dropped", reason: "TooLarge" })
    r.insert(frag(data, 0, 800, true, 9), 0)
    r.insert(frag(data, 1600, 80, false, 9), 0)
    assert.deepEqual(r.insert(frag(data, 1680, 80, true, 9), 0), { _tag: "Dropped", reason: "Inconsistent" })
    assert.equal(r.bytes, 0)
  })

  it("discards incomplete datagrams when their timer runs out", () => {
    const data = pattern(3000)
    const r = new Reassembler({ timeout: 30_000 })
    r.insert(frag(data, 0, 1480, true, 1), 1000)
    r.insert(frag(data, 0, 1480, true, 2), 5000)
    assert.equal(r.nextDeadline(), 31_000)
    assert.equal(r.expire(30_999), 0)
    assert.equal(r.expire(31_000), 1)
    assert.equal(r.bytes, 1480)
    assert.equal(r.nextDeadline(), 35_000)
    assert.equal(r.expire(40_000), 1)
    assert.equal(r.bytes, 0)
    assert.equal(r.nextDeadline(), undefined)
    assert.equal(r.stats().timedOut, 2)
  })

  it("bounds memory and datagram count by evicting the oldest datagrams", () => {
    const data = pattern(4000)
    const r = new Reassembler({ maxBytes: 3000, maxDatagrams: 2 })
    r.insert(frag(data, 0, 1480, true, 1), 0)
    r.insert(frag(data, 0, 1480, true, 2), 1)
    assert.equal(r.bytes, 2960)
    r.insert(frag(data, 0, 1480, true, 3), 2) // needs room: datagram 1 is evicted
    assert.equal(r.size, 2)
    assert.equal(r.bytes, 2960)
    assert.equal(r.stats().evicted, 1)
    assert.deepEqual(r.insert(frag(data, 0, 4000, false, 4), 3), { _tag: "Dropped", reason: "NoRoom" })
  })

  it("property: any 8-aligned fragmentation, shuffled, reassembles to the original", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6000 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer(),
        (len, unit, seed) => {
          const data = pattern(len, seed)
          const step = unit * 8
          const frags: Array<Fragment> = []
          for (let off = 0; off < len; off += step) {
            frags.push(frag(data, off, Math.min(step, len - off), off + step < len))
          }
          if (frags.length < 2) return true
          // deterministic shuffle
          let x = seed >>> 0
          for (let i = frags.length - 1; i > 0; i--) {
            x = (x * 1664525 + 1013904223) >>> 0
            const j = x % (i + 1)
            ;[frags[i], frags[j]] = [frags[j], frags[i]]
          }
          const r = new Reassembler()
          let out: Uint8Array | undefined
          for (const f of frags) {
            const res = r.insert(f, 0)
            if (res._tag === "Complete") out = res.payload
          }
          assert.ok(out !== undefined)
          assertBytes(out, data, "reassembled")
          assert.equal(r.bytes, 0)
          return true
        },
      ),
      { numRuns: 300 },
    )
  })
})
