import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { arbIpv4Repr } from "./_arbitraries.ts"
import { hex, naiveChecksum, robustness, toHex, touchAll, zeroField } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const OFF = ChecksumCapabilities.offload
const HEADER = "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7"

const reason = <A>(r: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

const emit = (repr: Ipv4Repr, caps = ALL, fill = 0xab): Uint8Array => {
  const buf = new Uint8Array(Ipv4Repr.bufferLen(repr) + repr.payloadLen).fill(fill)
  Ipv4Repr.emit(repr, buf, caps)
  return buf
}

describe("Ipv4Packet.parse", () => {
  it("checks version, IHL, total length", () => {
    assert.equal(reason(Ipv4Packet.parse(new Uint8Array(19))), "Truncated")
    const h = hex(HEADER + "00".repeat(95))
    assert.equal(reason(Ipv4Packet.parse(h)), "success")
    const v6 = h.slice()
    v6[0] = 0x65
    assert.equal(reason(Ipv4Packet.parse(v6)), "BadVersion")
    const ihl4 = h.slice()
    ihl4[0] = 0x44
    assert.equal(reason(Ipv4Packet.parse(ihl4)), "Malformed")
    const ihl15 = hex("4f00 0014" + "00".repeat(40))
    assert.equal(reason(Ipv4Packet.parse(ihl15)), "Truncated") // header of 60 > 44 bytes
    const short = hex("4600 0014" + "00".repeat(40)) // total 20 < header 24
    assert.equal(reason(Ipv4Packet.parse(short)), "Malformed")
    assert.equal(reason(Ipv4Packet.parse(h.subarray(0, 0x72))), "Truncated") // total 0x73 > 0x72 bytes
  })

  it("trims bytes after total length from the payload", () => {
    const h = hex(HEADER + "11".repeat(95) + "ffffffff")
    const p = Result.getOrThrow(Ipv4Packet.parse(h))
    assert.equal(p.payload().length, 0x73 - 20)
    assert.ok(p.payload().every((b) => b === 0x11))
  })

  it("reads flags and fragment offset in bytes; setters write what getters read", () => {
    const p = new Ipv4Packet(new Uint8Array(20))
    p.setVersionAndHeaderLen(4, 20)
    p.setTotalLen(20)
    p.setMoreFragments(true)
    p.setFragmentOffset(1480)
    assert.equal(p.moreFragments(), true)
    assert.equal(p.dontFragment(), false)
    assert.equal(p.fragmentOffset(), 1480)
    assert.equal(p.buffer[6], 0x20)
    assert.equal(p.buffer[7], 185) // 1480 / 8
    p.setDontFragment(true)
    p.setMoreFragments(false)
    assert.equal(p.fragmentOffset(), 1480)
    assert.equal(p.dontFragment(), true)
    p.setDscp(46)
    p.setEcn(2)
    assert.equal(p.dscp(), 46)
    assert.equal(p.ecn(), 2)
    p.setTtl(3)
    p.setProtocol(IpProtocol.Udp)
    p.setIdentification(0xbeef)
    p.setSrcAddr(Ipv4Address.parse("1.2.3.4")!)
    p.setDstAddr(Ipv4Address.parse("5.6.7.8")!)
    p.fillChecksum()
    assert.ok(p.verifyChecksum())
    assert.equal(p.checksum(), naiveChecksum(zeroField(p.buffer, 10)))
    assert.equal(Ipv4Address.format(p.srcAddr()), "1.2.3.4")
    assert.equal(p.identification(), 0xbeef)
    assert.equal(p.payload().length, 0)
  })
})

describe("Ipv4Packet.sourceRoute", () => {
  /** A 20-byte header plus `options` (padded with EOL to a multiple of 4), total length = header length. */
  const withOptions = (options: ReadonlyArray<number>): Ipv4Packet => {
    const optLen = (options.length + 3) & ~3
    const b = new Uint8Array(IPV4_HEADER_LEN + optLen)
    b[0] = 0x40 | ((IPV4_HEADER_LEN + optLen) >>> 2)
    b[3] = b.length
    b.set(options, IPV4_HEADER_LEN)
    return new Ipv4Packet(b)
  }
  const hop = [10, 0, 0, 9]
  it("finds LSRR/SSRR and tells a finished route (pointer past the end) from an unfinished one", () => {
    const plain: Ipv4Repr = {
      srcAddr: Ipv4Address.make(0x0a000001),
      dstAddr: Ipv4Address.make(0x0a000002),
      protocol: IpProtocol.Udp,
      payloadLen: 0,
      ttl: 64,
      identification: 1,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
    }
    assert.equal(new Ipv4Packet(emit(plain)).sourceRoute(), "None")
    assert.equal(withOptions([1, 1, 1, 0]).sourceRoute(), "None") // NOPs, EOL
    assert.equal(withOptions([7, 7, 4, ...hop]).sourceRoute(), "None") // record route is not a source route
    assert.equal(withOptions([131, 7, 4, ...hop]).sourceRoute(), "Unfinished")
    assert.equal(withOptions([137, 7, 4, ...hop]).sourceRoute(), "Unfinished")
    assert.equal(withOptions([1, 131, 11, 8, ...hop, ...hop]).sourceRoute(), "Unfinished") // one hop left
    assert.equal(withOptions([131, 7, 8, ...hop]).sourceRoute(), "Finished")
    assert.equal(withOptions([1, 137, 7, 8, ...hop]).sourceRoute(), "Finished")
    assert.equal(withOptions([131, 3, 4]).sourceRoute(), "Finished") // an empty route
    assert.equal(withOptions([0, 131, 7, 4, ...hop]).sourceRoute(), "None") // after End of Option List
  })
  it("reports malformed option lists and source routes", () => {
    assert.equal(withOptions([131, 7, 3, ...hop]).sourceRoute(), "Malformed") // pointer below 4
    assert.equal(withOptions([131, 8, 6, ...hop, 0]).sourceRoute(), "Malformed") // pointer into a partial address
    assert.equal(withOptions([131, 2]).sourceRoute(), "Malformed") // too short for a pointer
    assert.equal(withOptions([131, 9, 4, ...hop]).sourceRoute(), "Malformed") // past the header
    assert.equal(withOptions([68, 1]).sourceRoute(), "Malformed") // length below 2
    assert.equal(withOptions([1, 1, 1, 68]).sourceRoute(), "Malformed") // no length byte
    assert.equal(withOptions([131, 7, 8, ...hop, 137, 7, 4, ...hop]).sourceRoute(), "Malformed") // two routes
  })
})

describe("Ipv4Repr", () => {
  it("verifies the header checksum only when caps say so", () => {
    const bad = hex(HEADER + "00".repeat(95))
    bad[11] ^= 1
    const p = Result.getOrThrow(Ipv4Packet.parse(bad))
    assert.equal(reason(Ipv4Repr.parse(p, ALL)), "BadChecksum")
    assert.equal(reason(Ipv4Repr.parse(p, { ...ALL, ipv4: "rx" })), "BadChecksum")
    assert.equal(reason(Ipv4Repr.parse(p, { ...ALL, ipv4: "tx" })), "success")
    assert.equal(reason(Ipv4Repr.parse(p, OFF)), "success")
  })

  it("computes the checksum on emit only when caps say so", () => {
    const repr: Ipv4Repr = {
      srcAddr: Ipv4Address.parse("192.168.0.1")!,
      dstAddr: Ipv4Address.parse("192.168.0.199")!,
      protocol: IpProtocol.Udp,
      payloadLen: 0x73 - 20,
      ttl: 64,
      identification: 0,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
    }
    assert.equal(Ipv4Repr.bufferLen(repr), IPV4_HEADER_LEN)
    const withSum = emit(repr, ALL)
    assert.equal(toHex(withSum.subarray(0, 20)), HEADER.replaceAll(" ", ""))
    const without = emit(repr, OFF)
    assert.equal(new Ipv4Packet(without).checksum(), 0)
    assert.deepEqual(withSum.subarray(12, 20), without.subarray(12, 20))
  })

  for (const [name, caps] of [["all", ALL], ["offload", OFF]] as const) {
    it(`round-trips: emit → parse gives the same Repr (caps ${name})`, () => {
      fc.assert(
        fc.property(arbIpv4Repr, (repr) => {
          const buf = emit(repr, caps)
          const p = Result.getOrThrow(Ipv4Packet.parse(buf))
          assert.deepEqual(Result.getOrThrow(Ipv4Repr.parse(p, caps)), repr)
          assert.equal(p.payload().length, repr.payloadLen)
          if (caps === ALL) assert.equal(p.checksum(), naiveChecksum(zeroField(buf.subarray(0, 20), 10)))
        }),
        { numRuns: 300 },
      )
    })
  }

  it("never throws on random or mutated bytes", () => {
    const small = arbIpv4Repr.map((r) => ({ ...r, payloadLen: r.payloadLen % 60 }))
    const valid = fc.sample(small, 200).map((r) => emit(r))
    valid.push(hex("4f00 0040" + "00".repeat(60)), hex("4600 0020 0000 4000 0102 0000 0a00020f e00000fb 94040000"))
    const { parsedMutated } = robustness(0x1b4, valid, (b, rnd) => {
      const r = Ipv4Packet.parse(b)
      if (Result.isFailure(r)) return false
      touchAll(r.success)
      const repr = Ipv4Repr.parse(r.success, rnd() < 0.5 ? ALL : OFF)
      if (Result.isFailure(repr)) return false
      Ipv4Repr.emit(repr.success, new Uint8Array(Ipv4Repr.bufferLen(repr.success)), ALL)
      return true
    })
    assert.ok(parsedMutated > 10_000, `mutated parsed ${parsedMutated}`)
  })
})
