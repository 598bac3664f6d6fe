import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import { ChecksumCapabilities, finish, pseudoHeaderSum, sum } from "../../src/wire/Checksum.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { Ipv6Address } from "../../src/wire/Ipv6Address.ts"
import { UDP_HEADER_LEN, UdpPacket, UdpRepr } from "../../src/wire/Udp.ts"
import { arbIp, arbUdpRepr } from "./_arbitraries.ts"
import { hex, naiveChecksum, pseudoHeader, robustness, touchAll, zeroField } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const OFF = ChecksumCapabilities.offload
const SRC = Ipv4Address.parse("10.0.0.1")!
const DST = Ipv4Address.parse("10.0.0.2")!

const reason = <A>(r: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

/** The pseudo-header sum the codec takes: UDP over IPv4 between `src` and `dst`, `len` bytes of UDP. */
const ph = (len: number, src: Ipv4Address = SRC, dst: Ipv4Address = DST): number => pseudoHeaderSum(src, dst, 17, len)
/** The pseudo-header sum of a received datagram (its UDP length field). */
const phOf = (p: UdpPacket, src: Ipv4Address = SRC, dst: Ipv4Address = DST): number => ph(p.length(), src, dst)

const emit = (repr: UdpRepr, src = SRC, dst = DST, caps = ALL): Uint8Array => {
  const buf = new Uint8Array(UdpRepr.bufferLen(repr))
  UdpRepr.emit(repr, buf, ph(buf.length, src, dst), caps)
  return buf
}

describe("UdpPacket.parse", () => {
  it("checks the length field", () => {
    assert.equal(UDP_HEADER_LEN, 8)
    assert.equal(reason(UdpPacket.parse(new Uint8Array(7))), "Truncated")
    assert.equal(reason(UdpPacket.parse(hex("0001 0002 0007 0000"))), "Malformed")
    assert.equal(reason(UdpPacket.parse(hex("0001 0002 000a 0000 ff"))), "Truncated")
    assert.equal(reason(UdpPacket.parse(hex("0001 0002 0008 0000"))), "success")
  })

  it("trims bytes after the length field", () => {
    const p = Result.getOrThrow(UdpPacket.parse(hex("0001 0002 000a 0000 aabb ccdd")))
    assert.deepEqual(Array.from(p.payload()), [0xaa, 0xbb])
  })

  it("setters write what getters read", () => {
    const p = new UdpPacket(new Uint8Array(10))
    p.setSrcPort(68)
    p.setDstPort(67)
    p.setLength(10)
    p.fillChecksum(phOf(p))
    assert.equal(p.srcPort(), 68)
    assert.equal(p.dstPort(), 67)
    assert.equal(p.length(), 10)
    assert.ok(p.verifyChecksum(phOf(p)))
    assert.equal(p.checksum(), naiveChecksum(pseudoHeader(SRC, DST, 17, 10), zeroField(p.buffer, 6)))
  })
})

describe("UdpRepr", () => {
  it("rejects destination port 0", () => {
    const b = emit({ srcPort: 1, dstPort: 1, payload: new Uint8Array(0) })
    new UdpPacket(b).setDstPort(0)
    assert.equal(reason(UdpRepr.parse(new UdpPacket(b), phOf(new UdpPacket(b)), OFF)), "Malformed")
  })

  it("verifies a nonzero checksum per caps, accepts a zero checksum (not computed)", () => {
    const b = emit({ srcPort: 1000, dstPort: 53, payload: hex("0102030405") })
    const p = new UdpPacket(b)
    assert.equal(reason(UdpRepr.parse(p, phOf(p), ALL)), "success")
    assert.equal(reason(UdpRepr.parse(p, phOf(p, SRC, Ipv4Address.parse("10.0.0.3")!), ALL)), "BadChecksum") // pseudo-header
    b[9] ^= 0xff
    assert.equal(reason(UdpRepr.parse(p, phOf(p), ALL)), "BadChecksum")
    assert.equal(reason(UdpRepr.parse(p, phOf(p), OFF)), "success")
    p.setChecksum(0)
    assert.equal(reason(UdpRepr.parse(p, phOf(p), ALL)), "success")
  })

  it("sends a computed checksum of 0 as 0xffff", () => {
    // find a 2-byte payload whose checksum computes to 0 (one's-complement sum 0xffff)
    const base = emit({ srcPort: 1234, dstPort: 5678, payload: new Uint8Array(2) }, SRC, DST, OFF)
    const partial = sum(base, 0, base.length, pseudoHeaderSum(SRC, DST, 17, base.length))
    let found: Uint8Array | undefined
    for (let w = 0; w <= 0xffff && found === undefined; w++) {
      const payload = new Uint8Array([w >>> 8, w & 0xff])
      if (finish(partial + w) === 0) found = payload
    }
    assert.ok(found)
    const b = emit({ srcPort: 1234, dstPort: 5678, payload: found })
    assert.equal(new UdpPacket(b).checksum(), 0xffff)
    assert.equal(naiveChecksum(pseudoHeader(SRC, DST, 17, b.length), zeroField(b, 6)), 0) // computed 0 …
    assert.equal(reason(UdpRepr.parse(new UdpPacket(b), phOf(new UdpPacket(b)), ALL)), "success") // … and 0xffff verifies
  })

  it("checksums over an IPv6 pseudo-header given as a sum (the codec knows no address type)", () => {
    const s6 = Ipv6Address.parse("2001:db8::1")!
    const d6 = Ipv6Address.parse("2001:db8::2")!
    const repr: UdpRepr = { srcPort: 546, dstPort: 547, payload: hex("0102030405060708") }
    const b = new Uint8Array(UdpRepr.bufferLen(repr))
    UdpRepr.emit(repr, b, pseudoHeaderSum(s6, d6, 17, b.length), ALL)
    const pseudo = [...Ipv6Address.toBytes(s6), ...Ipv6Address.toBytes(d6), 0, 0, 0, b.length, 0, 0, 0, 17]
    const c = naiveChecksum(pseudo, zeroField(b, 6))
    assert.equal(new UdpPacket(b).checksum(), c === 0 ? 0xffff : c)
    const p = new UdpPacket(b)
    assert.equal(reason(UdpRepr.parse(p, pseudoHeaderSum(s6, d6, 17, p.length()), ALL)), "success")
    assert.equal(reason(UdpRepr.parse(p, pseudoHeaderSum(d6, s6, 17, p.length()), ALL)), "success", "symmetric")
    assert.equal(
      reason(UdpRepr.parse(p, pseudoHeaderSum(s6, Ipv6Address.LOOPBACK, 17, p.length()), ALL)),
      "BadChecksum",
    )
  })

  it("writes a zero checksum when caps offload it", () => {
    const b = emit({ srcPort: 1, dstPort: 2, payload: hex("ff") }, SRC, DST, OFF)
    assert.equal(new UdpPacket(b).checksum(), 0)
  })

  it("does not copy a payload that is already in place; copies a shifted overlapping one", () => {
    const buf = new Uint8Array(8 + 4)
    buf.set([1, 2, 3, 4], 8)
    UdpRepr.emit({ srcPort: 9, dstPort: 10, payload: buf.subarray(8) }, buf, ph(12), ALL)
    const back = Result.getOrThrow(UdpRepr.parse(new UdpPacket(buf), ph(12), ALL))
    assert.deepEqual(Array.from(back.payload), [1, 2, 3, 4])
    assert.equal(back.payload.byteOffset, 8)
    const buf2 = new Uint8Array(16)
    buf2.set([5, 6, 7, 8], 4)
    UdpRepr.emit({ srcPort: 9, dstPort: 10, payload: buf2.subarray(4, 8) }, buf2, ph(12), ALL)
    assert.deepEqual(Array.from(buf2.subarray(8, 12)), [5, 6, 7, 8])
  })

  for (const [name, caps] of [["all", ALL], ["offload", OFF]] as const) {
    it(`round-trips: emit → parse gives the same Repr (caps ${name})`, () => {
      fc.assert(
        fc.property(arbUdpRepr, arbIp, arbIp, (repr, src, dst) => {
          const b = emit(repr, src, dst, caps)
          const p = Result.getOrThrow(UdpPacket.parse(b))
          assert.deepEqual(Result.getOrThrow(UdpRepr.parse(p, phOf(p, src, dst), caps)), repr)
          if (caps === ALL) {
            const c = naiveChecksum(pseudoHeader(src, dst, 17, b.length), zeroField(b, 6))
            assert.equal(p.checksum(), c === 0 ? 0xffff : c)
          }
        }),
        { numRuns: 500 },
      )
    })
  }

  it("never throws on random or mutated bytes", () => {
    const valid = fc.sample(arbUdpRepr.map((r) => ({ ...r, payload: r.payload.subarray(0, 60) })), 200).map((r) =>
      emit(r)
    )
    const { parsedMutated } = robustness(0x0d9, valid, (b, rnd) => {
      const r = UdpPacket.parse(b)
      if (Result.isFailure(r)) return false
      touchAll(r.success, phOf(r.success))
      const repr = UdpRepr.parse(r.success, phOf(r.success), rnd() < 0.5 ? ALL : OFF)
      if (Result.isFailure(repr)) return false
      const n = UdpRepr.bufferLen(repr.success)
      UdpRepr.emit(repr.success, new Uint8Array(n), ph(n), ALL)
      return true
    })
    assert.ok(parsedMutated > 10_000, `mutated parsed ${parsedMutated}`)
  })
})
