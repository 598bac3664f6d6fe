/**
 * Tests of `Ipv6Address` and `IpAddress`: the RFC 4291 §2.2 text forms and the RFC 5952 canonical output (the
 * RFCs' own examples), rejection of malformed text, interning (one instance per value, whatever the text or buffer
 * it came from), random round trips, random strings that never throw, predicates, prefixes, the Schemas, and the
 * family-neutral helpers.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Schema from "effect/Schema"
import { IpAddress, IpAddressFromString } from "../../src/wire/IpAddress.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { Ipv6Address, Ipv6AddressFromString, ipv6InternTableSize } from "../../src/wire/Ipv6Address.ts"

const p = (s: string): Ipv6Address => {
  const a = Ipv6Address.parse(s)
  assert.ok(a !== undefined, `parses ${s}`)
  return a
}
const canon = (s: string): string => Ipv6Address.format(p(s))

const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const arbV6 = fc.tuple(u32, u32, u32, u32).map(([a, b, c, d]) => Ipv6Address.fromWords(a, b, c, d))
/** Addresses with runs of zero groups (the interesting case for `::`). */
const arbSparseV6 = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
}).map((g) => Ipv6Address.fromWords((g[0] << 16) | g[1], (g[2] << 16) | g[3], (g[4] << 16) | g[5], (g[6] << 16) | g[7]))

describe("Ipv6Address: text", () => {
  it("RFC 4291 §2.2 examples parse and print canonically", () => {
    assert.equal(canon("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789"), "abcd:ef01:2345:6789:abcd:ef01:2345:6789")
    assert.equal(canon("2001:DB8:0:0:8:800:200C:417A"), "2001:db8::8:800:200c:417a")
    assert.equal(canon("FF01:0:0:0:0:0:0:101"), "ff01::101")
    assert.equal(canon("0:0:0:0:0:0:0:1"), "::1")
    assert.equal(canon("0:0:0:0:0:0:0:0"), "::")
    assert.equal(canon("2001:DB8::8:800:200C:417A"), "2001:db8::8:800:200c:417a")
    assert.equal(canon("FF01::101"), "ff01::101")
    assert.equal(canon("0:0:0:0:0:0:13.1.68.3"), "::d01:4403")
    assert.equal(canon("::13.1.68.3"), "::d01:4403")
    assert.equal(canon("0:0:0:0:0:FFFF:129.144.52.38"), "::ffff:129.144.52.38")
    assert.equal(canon("::FFFF:129.144.52.38"), "::ffff:129.144.52.38")
    assert.equal(canon("1:2:3:4:5:6:1.2.3.4"), "1:2:3:4:5:6:102:304")
  })

  it("RFC 5952: every variant of 2001:db8::1:0:0:1 (§2) has one canonical form", () => {
    for (
      const s of [
        "2001:db8:0:0:1:0:0:1",
        "2001:0db8:0:0:1:0:0:1",
        "2001:db8::1:0:0:1",
        "2001:db8::0:1:0:0:1",
        "2001:0db8::1:0:0:1",
        "2001:db8:0:0:1::1",
        "2001:db8:0000:0:1::1",
        "2001:DB8:0:0:1::1",
      ]
    ) assert.equal(canon(s), "2001:db8::1:0:0:1", s)
    assert.ok(new Set(["2001:db8:0:0:1:0:0:1", "2001:DB8:0:0:1::1"].map(p)).size === 1, "one instance")
  })

  it("RFC 5952 §4: leading zeros, '::' usage, lower case", () => {
    assert.equal(canon("2001:0db8::0001"), "2001:db8::1") // §4.1
    assert.equal(canon("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1") // §4.2.1 shorten as much as possible
    assert.equal(canon("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1") // §4.2.2 not for one 16-bit 0
    assert.equal(canon("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1") // §4.2.3 the longest run
    assert.equal(canon("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1") // §4.2.3 the first of equal runs
    assert.equal(canon("2001:DB8::ABCD"), "2001:db8::abcd") // §4.3
    assert.equal(canon("1:0:0:0:0:0:0:0"), "1::")
    assert.equal(canon("0:0:0:0:0:0:0:8"), "::8")
    assert.equal(canon("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0")
    assert.equal(canon("::2:3:4:5:6:7:8"), "0:2:3:4:5:6:7:8")
  })

  it("rejects malformed text", () => {
    for (
      const s of [
        "",
        ":",
        ":::",
        "1:::2",
        "1::2::3",
        "12345::",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "1::2:3:4:5:6:7:8",
        "1:",
        ":1",
        "1:2:3:4:5:6:7:8:",
        ":1:2:3:4:5:6:7:8",
        "g::",
        "::ffff:1.2.3",
        "::ffff:1.2.3.256",
        "::ffff:01.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4",
        "::1.2.3.4:5",
        "fe80::1%eth0",
        " ::1",
        "::1 ",
        "[::1]",
        "::-1",
        "::+1",
        "10.0.0.1",
      ]
    ) assert.equal(Ipv6Address.parse(s), undefined, JSON.stringify(s))
  })

  it("random strings never throw", () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => void Ipv6Address.parse(s)), { numRuns: 2000 })
    const alphabet = fc.constantFrom(..."0123456789abcdefABCDEF:.:::".split(""))
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 48 }).map((a) => a.join("")), (s) => {
        const a = Ipv6Address.parse(s)
        if (a !== undefined) assert.equal(Ipv6Address.parse(Ipv6Address.format(a)), a, `${s} round-trips`)
      }),
      { numRuns: 5000 },
    )
    assert.equal(Ipv6Address.parse(undefined as unknown as string), undefined)
  })

  it("format ∘ parse is canonical and parse ∘ format is the identity (same instance)", () => {
    fc.assert(
      fc.property(fc.oneof(arbV6, arbSparseV6), (a) => {
        const text = Ipv6Address.format(a)
        assert.equal(Ipv6Address.parse(text), a)
        assert.equal(text, text.toLowerCase())
        assert.ok(!/(^|:)0[0-9a-f]/.test(text), `no leading zeros in ${text}`)
        assert.ok(text.split("::").length <= 2)
      }),
      { numRuns: 2000 },
    )
  })

  it("any RFC 4291 rendering of an address (padding, case, compression of any zero run) parses back to it", () => {
    const render = fc.tuple(arbSparseV6, fc.boolean(), fc.boolean(), fc.nat({ max: 7 })).map(
      ([a, pad, upper, pick]) => {
        const g = [
          a.w0 >>> 16,
          a.w0 & 0xffff,
          a.w1 >>> 16,
          a.w1 & 0xffff,
          a.w2 >>> 16,
          a.w2 & 0xffff,
          a.w3 >>> 16,
          a.w3 & 0xffff,
        ]
        let parts = g.map((x) => pad ? x.toString(16).padStart(4, "0") : x.toString(16))
        if (upper) parts = parts.map((x) => x.toUpperCase())
        // compress the zero run starting at the `pick`-th zero group, if any
        const zeros = g.map((x, i) => x === 0 ? i : -1).filter((i) => i >= 0)
        let text = parts.join(":")
        if (zeros.length > 0) {
          const start = zeros[pick % zeros.length]
          let end = start
          while (end < 8 && g[end] === 0) end++
          text = `${parts.slice(0, start).join(":")}::${parts.slice(end).join(":")}`
        }
        return { a, text }
      },
    )
    fc.assert(fc.property(render, ({ a, text }) => assert.equal(Ipv6Address.parse(text), a, text)), {
      numRuns: 2000,
    })
  })
})

describe("Ipv6Address: interning and bytes", () => {
  it("one instance per value: parse, read and fromWords agree; Map keys work", () => {
    const a = p("2001:db8::42")
    const bytes = Ipv6Address.toBytes(a)
    assert.deepEqual([...bytes], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42])
    const buf = new Uint8Array(20)
    buf.set(bytes, 3)
    assert.equal(Ipv6Address.read(buf, 3), a)
    assert.equal(Ipv6Address.fromBytes(bytes), a)
    assert.equal(Ipv6Address.fromWords(0x20010db8, 0, 0, 0x42), a)
    assert.equal(Ipv6Address.fromWords(0x20010db8 - 2 ** 32, 0, 0, 0x42), a, "words are taken modulo 2^32")
    const m = new Map<Ipv6Address, string>([[a, "x"]])
    assert.equal(m.get(p("2001:0DB8:0:0:0:0:0:0042")), "x")
    assert.ok(Object.isFrozen(a))
    assert.equal(String(a), "2001:db8::42")
  })

  it("reads and writes network byte order at any offset", () => {
    fc.assert(
      fc.property(arbV6, fc.nat({ max: 8 }), (a, off) => {
        const buf = new Uint8Array(24)
        Ipv6Address.write(buf, off, a)
        assert.equal(buf[off], a.w0 >>> 24)
        assert.equal(buf[off + 15], a.w3 & 0xff)
        assert.equal(Ipv6Address.read(buf, off), a)
      }),
    )
  })

  it("sum is the sum of the eight 16-bit groups", () => {
    fc.assert(fc.property(arbV6, (a) => {
      const b = Ipv6Address.toBytes(a)
      let s = 0
      for (let i = 0; i < 16; i += 2) s += (b[i] << 8) | b[i + 1]
      assert.equal(a.sum, s)
    }))
  })

  it("dead addresses leave the intern table after a garbage collection", {
    skip: typeof (globalThis as { Bun?: unknown }).Bun === "undefined" &&
        typeof (globalThis as { gc?: unknown }).gc !== "function"
      ? "needs a way to force a GC (Bun.gc or --expose-gc)"
      : false,
  }, async () => {
    const gc = (): void => {
      const g = globalThis as { Bun?: { gc: (sync: boolean) => void }; gc?: () => void }
      if (g.Bun !== undefined) g.Bun.gc(true)
      else g.gc!()
    }
    const before = ipv6InternTableSize()
    ;(() => {
      for (let i = 0; i < 5000; i++) Ipv6Address.fromWords(0x3fff0000, 0x1234, i, 0x77)
    })()
    assert.ok(ipv6InternTableSize() >= before + 4900, "the table grew")
    for (let i = 0; i < 20 && ipv6InternTableSize() > before + 2500; i++) {
      gc()
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.ok(ipv6InternTableSize() <= before + 2500, `swept: ${ipv6InternTableSize() - before} left`)
    // the constants are held by the class, so they survive and keep their identity
    assert.equal(p("::1"), Ipv6Address.LOOPBACK)
  })
})

describe("Ipv6Address: predicates and prefixes", () => {
  it("classifies addresses", () => {
    assert.ok(Ipv6Address.isUnspecified(Ipv6Address.ANY))
    assert.ok(Ipv6Address.isLoopback(p("::1")))
    assert.ok(!Ipv6Address.isLoopback(p("::2")))
    assert.ok(Ipv6Address.isMulticast(p("ff02::1")))
    assert.ok(!Ipv6Address.isMulticast(p("fe80::1")))
    assert.equal(Ipv6Address.multicastScope(p("ff02::1")), 2)
    assert.equal(Ipv6Address.multicastScope(p("ff0e::1")), 14)
    assert.equal(Ipv6Address.multicastScope(p("2001:db8::1")), -1)
    assert.ok(Ipv6Address.isLinkLocal(p("fe80::1")))
    assert.ok(Ipv6Address.isLinkLocal(p("febf:ffff::1")))
    assert.ok(!Ipv6Address.isLinkLocal(p("fec0::1")))
    assert.ok(Ipv6Address.isUniqueLocal(p("fd12:3456::1")))
    assert.ok(Ipv6Address.isUniqueLocal(p("fc00::1")))
    assert.ok(!Ipv6Address.isUniqueLocal(p("fe00::1")))
    assert.equal(Ipv6Address.ALL_NODES, p("ff02::1"))
    assert.equal(Ipv6Address.ALL_ROUTERS, p("ff02::2"))
  })

  it("IPv4-mapped addresses and solicited-node multicast", () => {
    const v4 = Ipv4Address.parse("192.0.2.1")!
    const mapped = Ipv6Address.fromIpv4(v4)
    assert.equal(mapped, p("::ffff:192.0.2.1"))
    assert.ok(Ipv6Address.isIpv4Mapped(mapped))
    assert.equal(Ipv6Address.toIpv4(mapped), v4)
    assert.equal(Ipv6Address.toIpv4(p("::192.0.2.1")), undefined)
    assert.equal(Ipv6Address.solicitedNode(p("2001:db8::4:5678:9abc")), p("ff02::1:ff78:9abc"))
  })

  it("network and sameSubnet", () => {
    const a = p("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff")
    assert.equal(Ipv6Address.network(a, 64), p("2001:db8:aaaa:bbbb::"))
    assert.equal(Ipv6Address.network(a, 48), p("2001:db8:aaaa::"))
    assert.equal(Ipv6Address.network(a, 52), p("2001:db8:aaaa:b000::"))
    assert.equal(Ipv6Address.network(a, 0), Ipv6Address.ANY)
    assert.equal(Ipv6Address.network(a, 128), a)
    assert.equal(Ipv6Address.network(a, 999), a)
    assert.ok(Ipv6Address.sameSubnet(a, p("2001:db8:aaaa:bbbb::1"), 64))
    assert.ok(!Ipv6Address.sameSubnet(a, p("2001:db8:aaaa:bbbc::1"), 64))
    assert.ok(Ipv6Address.sameSubnet(a, p("2001:db8:aaaa:bbbc::1"), 61))
    assert.ok(!Ipv6Address.sameSubnet(a, p("2001:db8:aaaa:bbbc::1"), 62))
    assert.ok(Ipv6Address.sameSubnet(a, p("::"), 0))
  })
})

describe("Ipv6Address / IpAddress: Schemas", () => {
  it("Ipv6AddressFromString decodes any form to the interned address and encodes canonically", () => {
    const decode = Schema.decodeUnknownSync(Ipv6AddressFromString)
    assert.equal(decode("2001:DB8:0::1"), p("2001:db8::1"))
    assert.equal(Schema.encodeSync(Ipv6AddressFromString)(p("2001:0db8::0001")), "2001:db8::1")
    assert.throws(() => decode("2001:db8:::1"), /expected an IPv6 address/)
    assert.throws(() => decode(42))
  })

  it("IpAddressFromString takes either family", () => {
    const decode = Schema.decodeUnknownSync(IpAddressFromString)
    assert.equal(decode("10.0.0.1"), 0x0a000001)
    assert.equal(decode("fe80::1"), p("fe80::1"))
    assert.equal(Schema.encodeSync(IpAddressFromString)(p("fe80:0::1")), "fe80::1")
    assert.equal(Schema.encodeSync(IpAddressFromString)(Ipv4Address.make(0x0a000001)), "10.0.0.1")
    assert.throws(() => decode("10.0.0.256"), /expected an IPv4 address/)
  })
})

describe("IpAddress", () => {
  it("family, parse, format and endpoints for both versions", () => {
    const v4 = IpAddress.parse("10.0.0.1")!
    const v6 = IpAddress.parse("2001:db8::1")!
    assert.equal(IpAddress.family(v4), 4)
    assert.equal(IpAddress.family(v6), 6)
    assert.ok(IpAddress.isIpv4(v4) && !IpAddress.isIpv6(v4))
    assert.ok(IpAddress.isIpv6(v6) && !IpAddress.isIpv4(v6))
    assert.equal(IpAddress.family(IpAddress.parse("::ffff:10.0.0.1")!), 6, "the family is what was written")
    assert.equal(IpAddress.format(v4), "10.0.0.1")
    assert.equal(IpAddress.format(v6), "2001:db8::1")
    assert.equal(IpAddress.formatEndpoint(v4, 80), "10.0.0.1:80")
    assert.equal(IpAddress.formatEndpoint(v6, 443), "[2001:db8::1]:443")
    assert.ok(IpAddress.isUnspecified(IpAddress.parse("0.0.0.0")!))
    assert.ok(IpAddress.isUnspecified(IpAddress.parse("::")!))
    assert.ok(IpAddress.isMulticast(IpAddress.parse("224.0.0.1")!))
    assert.ok(IpAddress.isMulticast(IpAddress.parse("ff02::1")!))
    assert.ok(!IpAddress.isMulticast(v6))
    for (const s of ["", "10.0.0", "::g", "10.0.0.1:80", "[::1]"]) assert.equal(IpAddress.parse(s), undefined, s)
    fc.assert(fc.property(fc.string({ maxLength: 50 }), (s) => void IpAddress.parse(s)))
  })

  it("v4 numbers and v6 objects can share one Map without collisions", () => {
    const m = new Map<IpAddress, number>()
    m.set(Ipv4Address.make(1), 4)
    m.set(p("::1"), 6)
    assert.equal(m.get(Ipv4Address.make(1)), 4)
    assert.equal(m.get(p("0::1")), 6)
    assert.equal(m.size, 2)
  })
})
