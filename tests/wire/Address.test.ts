import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { Ipv4Address, Ipv4AddressFromString, Ipv4Cidr } from "../../src/wire/Ipv4Address.ts"
import { MacAddress, MacAddressFromString } from "../../src/wire/MacAddress.ts"

const ipString = fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }))
  .map((p) => p.join("."))
const macString = fc.array(fc.nat({ max: 255 }), { minLength: 6, maxLength: 6 })
  .map((p) => p.map((x) => x.toString(16).padStart(2, "0")).join(":"))

describe("Ipv4Address", () => {
  it("parses and formats known addresses", () => {
    assert.equal(Ipv4Address.parse("10.0.0.1"), 0x0a000001)
    assert.equal(Ipv4Address.parse("255.255.255.255"), 0xffffffff)
    assert.equal(Ipv4Address.parse("0.0.0.0"), 0)
    assert.equal(Ipv4Address.format(Ipv4Address.make(0xc0a80001)), "192.168.0.1")
    assert.equal(Ipv4Address.format(Ipv4Address.BROADCAST), "255.255.255.255")
    assert.equal(Ipv4Address.format(Ipv4Address.ANY), "0.0.0.0")
    assert.equal(Ipv4Address.make(-1), 0xffffffff)
  })

  it("rejects malformed text", () => {
    for (
      const s of [
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.",
        ".1.2.3",
        "01.2.3.4",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1..2.3",
        "a.b.c.d",
        "1.2.3.-4",
        "1.2.3.1000",
        "",
        "1.2.3.4/24",
        "+1.2.3.4",
      ]
    ) {
      assert.equal(Ipv4Address.parse(s), undefined, s)
    }
  })

  it("format ∘ parse is the identity on dotted quads, parse ∘ format on numbers", () => {
    fc.assert(fc.property(ipString, (s) => assert.equal(Ipv4Address.format(Ipv4Address.parse(s)!), s)))
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (n) => {
        const a = Ipv4Address.make(n)
        assert.equal(Ipv4Address.parse(Ipv4Address.format(a)), n)
      }),
    )
  })

  it("reads and writes network byte order", () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 8 }), (n, off) => {
        const buf = new Uint8Array(12)
        Ipv4Address.write(buf, off, Ipv4Address.make(n))
        assert.equal(buf[off], n >>> 24)
        assert.equal(buf[off + 3], n & 255)
        assert.equal(Ipv4Address.read(buf, off), n)
      }),
    )
  })

  it("predicates and prefix helpers", () => {
    const p = (s: string) => Ipv4Address.parse(s)!
    assert.ok(Ipv4Address.isMulticast(p("224.0.0.1")))
    assert.ok(Ipv4Address.isMulticast(p("239.255.255.255")))
    assert.ok(!Ipv4Address.isMulticast(p("240.0.0.1")))
    assert.ok(!Ipv4Address.isMulticast(p("223.255.255.255")))
    assert.ok(Ipv4Address.isBroadcast(p("255.255.255.255")))
    assert.ok(!Ipv4Address.isBroadcast(p("10.0.0.255")))
    assert.ok(Ipv4Address.isUnspecified(Ipv4Address.ANY))
    assert.ok(Ipv4Address.isLoopback(p("127.1.2.3")))
    assert.equal(Ipv4Address.prefixMask(0), 0)
    assert.equal(Ipv4Address.prefixMask(8), 0xff000000)
    assert.equal(Ipv4Address.prefixMask(24), 0xffffff00)
    assert.equal(Ipv4Address.prefixMask(32), 0xffffffff)
    assert.equal(Ipv4Address.network(p("10.0.0.2"), 24), p("10.0.0.0"))
    assert.equal(Ipv4Address.directedBroadcast(p("10.0.0.2"), 24), p("10.0.0.255"))
    assert.ok(Ipv4Address.sameSubnet(p("10.0.0.2"), p("10.0.0.200"), 24))
    assert.ok(!Ipv4Address.sameSubnet(p("10.0.0.2"), p("10.0.1.2"), 24))
    assert.ok(Ipv4Address.isBroadcastIn(p("10.0.0.255"), p("10.0.0.2"), 24))
    assert.ok(Ipv4Address.isBroadcastIn(p("255.255.255.255"), p("10.0.0.2"), 24))
    assert.ok(!Ipv4Address.isBroadcastIn(p("10.0.0.254"), p("10.0.0.2"), 24))
    assert.ok(!Ipv4Address.isBroadcastIn(p("10.0.1.255"), p("10.0.0.2"), 24))
  })

  it("Schema Ipv4AddressFromString decodes, encodes, and rejects with a readable message", () => {
    const ok = Schema.decodeUnknownResult(Ipv4AddressFromString)("10.0.0.1")
    assert.ok(Result.isSuccess(ok))
    assert.equal(ok.success, 0x0a000001)
    const bad = Schema.decodeUnknownResult(Ipv4AddressFromString)("256.1.1.1")
    assert.ok(Result.isFailure(bad))
    assert.match(bad.failure.message, /IPv4 address/)
    assert.ok(Result.isFailure(Schema.decodeUnknownResult(Ipv4AddressFromString)(42)))
    const enc = Schema.encodeUnknownResult(Ipv4AddressFromString)(0xc0a80001)
    assert.ok(Result.isSuccess(enc))
    assert.equal(enc.success, "192.168.0.1")
    assert.ok(Result.isFailure(Schema.encodeUnknownResult(Ipv4AddressFromString)(2 ** 32)))
  })

  it("Schema Ipv4Cidr decodes address/prefix and rejects bad prefixes", () => {
    const ok = Schema.decodeUnknownResult(Ipv4Cidr)("10.0.0.2/24")
    assert.ok(Result.isSuccess(ok))
    assert.deepEqual(ok.success, { address: 0x0a000002, prefixLength: 24 })
    const zero = Schema.decodeUnknownResult(Ipv4Cidr)("0.0.0.0/0")
    assert.ok(Result.isSuccess(zero))
    assert.deepEqual(zero.success, { address: 0, prefixLength: 0 })
    for (
      const s of ["10.0.0.2/33", "10.0.0.2/-1", "10.0.0.2/", "10.0.0.2", "10.0.0.2/024", "10.0.0.2/2.5", "1.2.3/8"]
    ) {
      const r = Schema.decodeUnknownResult(Ipv4Cidr)(s)
      assert.ok(Result.isFailure(r), s)
      assert.match(r.failure.message, /prefix length/)
    }
    const enc = Schema.encodeUnknownResult(Ipv4Cidr)({ address: 0x0a000002, prefixLength: 24 })
    assert.ok(Result.isSuccess(enc))
    assert.equal(enc.success, "10.0.0.2/24")
  })
})

describe("MacAddress", () => {
  it("parses and formats known addresses", () => {
    assert.equal(MacAddress.parse("02:50:00:00:00:01"), 0x025000000001)
    assert.equal(MacAddress.parse("FF-FF-FF-FF-FF-FF"), MacAddress.BROADCAST)
    assert.equal(MacAddress.parse("aa:BB:cc:DD:ee:FF"), 0xaabbccddeeff)
    assert.equal(MacAddress.format(MacAddress.make(0x025000000001)), "02:50:00:00:00:01")
    assert.equal(MacAddress.format(MacAddress.BROADCAST), "ff:ff:ff:ff:ff:ff")
    assert.equal(MacAddress.format(MacAddress.ZERO), "00:00:00:00:00:00")
  })

  it("rejects malformed text", () => {
    for (
      const s of [
        "01:02:03:04:05",
        "01:02:03:04:05:06:07",
        "1:2:3:4:5:6",
        "01:02:03:04:05:0g",
        "01:02-03:04:05:06",
        "01.02.03.04.05.06",
        "0102:0304:0506",
        "",
        " 01:02:03:04:05:06",
      ]
    ) {
      assert.equal(MacAddress.parse(s), undefined, s)
    }
  })

  it("round-trips text, numbers and bytes", () => {
    fc.assert(fc.property(macString, (s) => assert.equal(MacAddress.format(MacAddress.parse(s)!), s)))
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff_ffff }), fc.nat({ max: 4 }), (n, off) => {
        const a = MacAddress.make(n)
        assert.equal(MacAddress.parse(MacAddress.format(a)), n)
        const buf = new Uint8Array(10)
        MacAddress.write(buf, off, a)
        assert.equal(buf[off], Math.floor(n / 2 ** 40))
        assert.equal(buf[off + 5], n % 256)
        assert.equal(MacAddress.read(buf, off), n)
      }),
    )
  })

  it("predicates: broadcast, multicast (I/G bit), locally administered (U/L bit)", () => {
    const p = (s: string) => MacAddress.parse(s)!
    assert.ok(MacAddress.isBroadcast(MacAddress.BROADCAST))
    assert.ok(MacAddress.isMulticast(MacAddress.BROADCAST))
    assert.ok(MacAddress.isMulticast(p("01:00:5e:00:00:01")))
    assert.ok(MacAddress.isMulticast(p("33:33:00:00:00:01")))
    assert.ok(!MacAddress.isMulticast(p("02:50:00:00:00:01")))
    assert.ok(MacAddress.isUnicast(p("02:50:00:00:00:01")))
    assert.ok(MacAddress.isLocallyAdministered(p("02:50:00:00:00:01")))
    assert.ok(!MacAddress.isLocallyAdministered(p("00:1b:21:3a:4f:01")))
    assert.ok(!MacAddress.isBroadcast(p("ff:ff:ff:ff:ff:fe")))
    assert.ok(MacAddress.isValid(0xffff_ffff_ffff) && !MacAddress.isValid(2 ** 48) && !MacAddress.isValid(1.5))
  })

  it("Schema MacAddressFromString decodes, encodes, and rejects", () => {
    const ok = Schema.decodeUnknownResult(MacAddressFromString)("02:50:00:00:00:01")
    assert.ok(Result.isSuccess(ok))
    assert.equal(ok.success, 0x025000000001)
    const bad = Schema.decodeUnknownResult(MacAddressFromString)("01:02:03:04:05")
    assert.ok(Result.isFailure(bad))
    assert.match(bad.failure.message, /MAC address/)
    const enc = Schema.encodeUnknownResult(MacAddressFromString)(0x025000000001)
    assert.ok(Result.isSuccess(enc))
    assert.equal(enc.success, "02:50:00:00:00:01")
    assert.ok(Result.isFailure(Schema.encodeUnknownResult(MacAddressFromString)(2 ** 48)))
  })
})
