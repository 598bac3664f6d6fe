import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, EtherType } from "../../src/wire/Ethernet.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { arbEthernetRepr, arbPayload } from "./_arbitraries.ts"
import { hex, robustness, touchAll } from "./_support.ts"

const emit = (repr: EthernetRepr, payload: Uint8Array): Uint8Array => {
  const buf = new Uint8Array(EthernetRepr.bufferLen(repr) + payload.length)
  EthernetRepr.emit(repr, buf)
  buf.set(payload, ETHERNET_HEADER_LEN)
  return buf
}

describe("EthernetFrame", () => {
  it("rejects frames shorter than the header as Truncated", () => {
    for (let n = 0; n < 14; n++) {
      const r = EthernetFrame.parse(new Uint8Array(n))
      assert.ok(Result.isFailure(r) && r.failure.reason === "Truncated", `length ${n}`)
    }
    assert.ok(Result.isSuccess(EthernetFrame.parse(new Uint8Array(14))))
  })

  it("setters write what getters read (untagged and tagged)", () => {
    const f = new EthernetFrame(new Uint8Array(20))
    f.setDstAddr(MacAddress.BROADCAST)
    f.setSrcAddr(MacAddress.make(0x025000000001))
    f.setEtherType(EtherType.Arp)
    assert.equal(f.dstAddr(), MacAddress.BROADCAST)
    assert.equal(f.srcAddr(), 0x025000000001)
    assert.equal(f.etherType(), 0x0806)
    assert.equal(f.payload().length, 6)
    const t = new EthernetFrame(hex("ffffffffffff 025000000001 8100 0fff 0800 aabb"))
    assert.equal(t.vlanId(), 0xfff)
    assert.equal(t.vlanPriority(), 0)
    t.setEtherType(EtherType.Arp)
    assert.equal(t.etherType(), EtherType.Arp)
    assert.equal(t.buffer[12], 0x81) // the TPID is kept
    assert.deepEqual(Array.from(t.payload()), [0xaa, 0xbb])
  })

  it("round-trips: emit → parse gives the same Repr and payload", () => {
    fc.assert(
      fc.property(arbEthernetRepr, arbPayload(100), (repr, payload) => {
        const frame = Result.getOrThrow(EthernetFrame.parse(emit(repr, payload)))
        assert.deepEqual(Result.getOrThrow(EthernetRepr.parse(frame)), repr)
        assert.deepEqual(frame.payload(), payload)
        assert.equal(frame.vlanId(), undefined)
      }),
      { numRuns: 500 },
    )
  })

  it("never throws on random or mutated bytes", () => {
    const valid = fc.sample(fc.tuple(arbEthernetRepr, arbPayload(60)), 200).map(([r, p]) => emit(r, p))
    valid.push(hex("ffffffffffff 025000000001 8100 a064 0800 4500"))
    const { parsedRandom, parsedMutated } = robustness(0xe7e7, valid, (b) => {
      const r = EthernetFrame.parse(b)
      if (Result.isFailure(r)) return false
      touchAll(r.success)
      const repr = Result.getOrThrow(EthernetRepr.parse(r.success))
      EthernetRepr.emit(repr, new Uint8Array(EthernetRepr.bufferLen(repr)))
      return true
    })
    assert.ok(parsedRandom > 50_000, `random parsed ${parsedRandom}`)
    assert.ok(parsedMutated > 50_000, `mutated parsed ${parsedMutated}`)
  })
})
