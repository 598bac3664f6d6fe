import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import { ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr } from "../../src/wire/Arp.ts"
import { arbArpRepr } from "./_arbitraries.ts"
import { hex, robustness, touchAll } from "./_support.ts"

const emit = (repr: ArpRepr): Uint8Array => {
  const buf = new Uint8Array(ArpRepr.bufferLen(repr))
  ArpRepr.emit(repr, buf)
  return buf
}
const REQUEST = "0001 0800 06 04 0001 525400123456 0a00020f 000000000000 0a000202"
const failure = <A>(r: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

describe("ArpPacket / ArpRepr", () => {
  it("is 28 bytes for Ethernet/IPv4", () => {
    assert.equal(ARP_PACKET_LEN, 28)
    assert.equal(ArpOperation.Request, 1)
    assert.equal(ArpOperation.Reply, 2)
  })

  it("rejects truncated packets", () => {
    assert.equal(failure(ArpPacket.parse(new Uint8Array(7))), "Truncated")
    assert.equal(failure(ArpPacket.parse(hex(REQUEST).subarray(0, 27))), "Truncated")
    // hlen/plen announce longer addresses than the bytes present
    assert.equal(failure(ArpPacket.parse(hex("0001 0800 10 10 0001" + "00".repeat(40)))), "Truncated")
  })

  it("rejects anything but Ethernet/IPv4 request/reply as Unsupported", () => {
    const cases = [
      "0006 0800 06 04 0001", // IEEE 802 hardware
      "0001 86dd 06 04 0001", // IPv6 protocol type
      "0001 0800 08 04 0001", // hlen 8
      "0001 0800 06 10 0001", // plen 16
      "0001 0800 06 04 0003", // RARP request
      "0001 0800 06 04 0000",
    ]
    for (const c of cases) {
      const pkt = Result.getOrThrow(ArpPacket.parse(hex(c + "00".repeat(64))))
      assert.equal(failure(ArpRepr.parse(pkt)), "Unsupported", c)
    }
  })

  it("setters write what getters read", () => {
    const p = new ArpPacket(new Uint8Array(28))
    p.setHardwareType(1)
    p.setProtocolType(0x0800)
    p.setHardwareLen(6)
    p.setProtocolLen(4)
    p.setOperation(2)
    const r = Result.getOrThrow(ArpRepr.parse(p))
    assert.equal(r.operation, 2)
    assert.equal(p.hardwareType(), 1)
    assert.equal(p.protocolType(), 0x0800)
  })

  it("round-trips: emit → parse gives the same Repr", () => {
    fc.assert(
      fc.property(arbArpRepr, (repr) => {
        const pkt = Result.getOrThrow(ArpPacket.parse(emit(repr)))
        assert.deepEqual(Result.getOrThrow(ArpRepr.parse(pkt)), repr)
      }),
      { numRuns: 500 },
    )
  })

  it("never throws on random or mutated bytes", () => {
    const valid = fc.sample(arbArpRepr, 200).map(emit)
    const { parsedMutated } = robustness(0xa4a4, valid, (b) => {
      const r = ArpPacket.parse(b)
      if (Result.isFailure(r)) return false
      touchAll(r.success)
      const repr = ArpRepr.parse(r.success)
      if (Result.isFailure(repr)) return false
      ArpRepr.emit(repr.success, new Uint8Array(ArpRepr.bufferLen(repr.success)))
      return true
    })
    assert.ok(parsedMutated > 20_000, `mutated parsed ${parsedMutated}`)
  })
})
