import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import {
  ICMPV4_HEADER_LEN,
  Icmpv4DstUnreachableCode,
  Icmpv4Packet,
  Icmpv4Repr,
  Icmpv4TimeExceededCode,
  Icmpv4Type,
} from "../../src/wire/Icmpv4.ts"
import { arbIcmpv4Repr } from "./_arbitraries.ts"
import { hex, naiveChecksum, robustness, touchAll, zeroField } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const OFF = ChecksumCapabilities.offload

const reason = <A>(r: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

const emit = (repr: Icmpv4Repr, caps = ALL): Uint8Array => {
  const buf = new Uint8Array(Icmpv4Repr.bufferLen(repr))
  Icmpv4Repr.emit(repr, buf, caps)
  return buf
}
/** A message with a correct checksum from raw header bytes + data. */
const raw = (s: string): Icmpv4Packet => {
  const p = new Icmpv4Packet(hex(s))
  p.fillChecksum()
  return p
}

describe("Icmpv4Packet / Icmpv4Repr", () => {
  it("constants", () => {
    assert.equal(ICMPV4_HEADER_LEN, 8)
    assert.equal(Icmpv4Type.EchoRequest, 8)
    assert.equal(Icmpv4Type.TimeExceeded, 11)
    assert.equal(Icmpv4DstUnreachableCode.PortUnreachable, 3)
    assert.equal(Icmpv4TimeExceededCode.TtlExpired, 0)
  })

  it("rejects short messages, unknown types and codes", () => {
    assert.equal(reason(Icmpv4Packet.parse(new Uint8Array(7))), "Truncated")
    assert.equal(reason(Icmpv4Repr.parse(raw("0d00 0000 0000 0000"), ALL)), "Unsupported") // timestamp request
    assert.equal(reason(Icmpv4Repr.parse(raw("0310 0000 0000 0000"), ALL)), "Unsupported") // unreachable code 16
    assert.equal(reason(Icmpv4Repr.parse(raw("0b02 0000 0000 0000"), ALL)), "Unsupported") // time exceeded code 2
    assert.equal(reason(Icmpv4Repr.parse(raw("0b01 0000 0000 0000"), ALL)), "success")
  })

  it("verifies the checksum over the whole message (odd length too) per caps", () => {
    const p = raw("0800 0000 1234 0001 616263")
    assert.equal(p.checksum(), naiveChecksum(zeroField(p.buffer, 2)))
    assert.equal(reason(Icmpv4Repr.parse(p, ALL)), "success")
    p.buffer[10] ^= 0x40
    assert.equal(reason(Icmpv4Repr.parse(p, ALL)), "BadChecksum")
    assert.equal(reason(Icmpv4Repr.parse(p, OFF)), "success")
    assert.equal(reason(Icmpv4Repr.parse(p, { ...ALL, icmpv4: "tx" })), "success")
  })

  it("accepts an echo with a nonzero code (kept in `code`, absent for 0) and emits the code it is given", () => {
    const r = Result.getOrThrow(Icmpv4Repr.parse(raw("0801 0000 0001 0002"), ALL))
    assert.deepEqual(r, { _tag: "EchoRequest", code: 1, ident: 1, seqNo: 2, data: new Uint8Array(0) })
    const reply = Result.getOrThrow(Icmpv4Repr.parse(raw("00ff 0000 0003 0004"), ALL))
    assert.ok(reply._tag === "EchoReply" && reply.code === 255)
    assert.equal("code" in Result.getOrThrow(Icmpv4Repr.parse(raw("0800 0000 0001 0002"), ALL)), false)
    const b = emit({ _tag: "EchoReply", code: 9, ident: 1, seqNo: 2, data: hex("61") }, ALL)
    assert.deepEqual(Array.from(b.subarray(0, 2)), [0, 9])
    assert.equal(new Icmpv4Packet(b).checksum(), naiveChecksum(zeroField(b, 2)))
    assert.equal(emit({ _tag: "EchoRequest", ident: 1, seqNo: 2, data: hex("61") }, ALL)[1], 0, "absent: code 0")
  })

  it("emits the checksum only when caps say so; error messages zero the unused word", () => {
    const m: Icmpv4Repr = { _tag: "TimeExceeded", code: 0, data: hex("4500001c") }
    const a = emit(m, ALL)
    assert.equal(new Icmpv4Packet(a).checksum(), naiveChecksum(zeroField(a, 2)))
    const b = emit(m, OFF)
    assert.equal(new Icmpv4Packet(b).checksum(), 0)
    assert.deepEqual(Array.from(b.subarray(4, 8)), [0, 0, 0, 0])
    assert.equal(b[0], 11)
  })

  it("reads the next-hop MTU of fragmentation needed", () => {
    const p = raw("0304 0000 0000 05dc 4500")
    assert.equal(p.nextHopMtu(), 1500)
    p.setNextHopMtu(1400)
    assert.equal(p.nextHopMtu(), 1400)
    const r = Result.getOrThrow(Icmpv4Repr.parse(new Icmpv4Packet(p.buffer), OFF))
    assert.deepEqual(r._tag === "DstUnreachable" && r.code, Icmpv4DstUnreachableCode.FragRequired)
  })

  it("does not copy data that is already in place", () => {
    const buf = new Uint8Array(8 + 5)
    buf.set([1, 2, 3, 4, 5], 8)
    const repr: Icmpv4Repr = { _tag: "EchoReply", ident: 7, seqNo: 9, data: buf.subarray(8) }
    Icmpv4Repr.emit(repr, buf, ALL)
    const back = Result.getOrThrow(Icmpv4Repr.parse(new Icmpv4Packet(buf), ALL))
    assert.deepEqual(back, { _tag: "EchoReply", ident: 7, seqNo: 9, data: buf.subarray(8) })
    // overlapping but shifted data is still copied correctly
    const buf2 = new Uint8Array(20)
    buf2.set([9, 8, 7], 0)
    Icmpv4Repr.emit({ _tag: "EchoRequest", ident: 1, seqNo: 2, data: buf2.subarray(0, 3) }, buf2, ALL)
    assert.deepEqual(Array.from(buf2.subarray(8, 11)), [9, 8, 7])
  })

  for (const [name, caps] of [["all", ALL], ["offload", OFF]] as const) {
    it(`round-trips: emit → parse gives the same Repr (caps ${name})`, () => {
      fc.assert(
        fc.property(arbIcmpv4Repr, (repr) => {
          const p = Result.getOrThrow(Icmpv4Packet.parse(emit(repr, caps)))
          assert.deepEqual(Result.getOrThrow(Icmpv4Repr.parse(p, caps)), repr)
        }),
        { numRuns: 500 },
      )
    })
  }

  it("never throws on random or mutated bytes", () => {
    const valid = fc.sample(arbIcmpv4Repr.map((r) => ({ ...r, data: r.data.subarray(0, 60) })), 200).map((r) => emit(r))
    const { parsedMutated } = robustness(0x1c4, valid, (b, rnd) => {
      const r = Icmpv4Packet.parse(b)
      if (Result.isFailure(r)) return false
      touchAll(r.success)
      const repr = Icmpv4Repr.parse(r.success, rnd() < 0.5 ? ALL : OFF)
      if (Result.isFailure(repr)) return false
      Icmpv4Repr.emit(repr.success, new Uint8Array(Icmpv4Repr.bufferLen(repr.success)), ALL)
      return true
    })
    assert.ok(parsedMutated > 10_000, `mutated parsed ${parsedMutated}`)
  })
})
