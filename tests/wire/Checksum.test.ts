import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import {
  Checksum,
  ChecksumCapabilities,
  combine,
  finish,
  fold,
  isValid,
  pseudoHeaderSum,
  shouldCompute,
  shouldVerify,
  sum,
} from "../../src/wire/Checksum.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { Ipv6Address } from "../../src/wire/Ipv6Address.ts"
import { hex, naiveChecksum, naiveFoldedSum, pseudoHeader } from "./_support.ts"

describe("Checksum.sum", () => {
  it("matches RFC 1071 §3 worked example (00 01 f2 03 f4 f5 f6 f7 → ddf2)", () => {
    const b = hex("0001f203f4f5f6f7")
    assert.equal(fold(sum(b, 0, b.length)), 0xddf2)
    assert.equal(finish(sum(b, 0, b.length)), 0x220d)
  })

  it("verifies a real IPv4 header (checksum b861 from the classic example)", () => {
    const h = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")
    assert.equal(fold(sum(h, 0, 20)), 0xffff)
    assert.ok(isValid(sum(h, 0, 20)))
    h[10] = 0
    h[11] = 0
    assert.equal(finish(sum(h, 0, 20)), 0xb861)
    assert.equal(naiveChecksum(h), 0xb861)
  })

  it("handles empty, one byte and odd lengths", () => {
    const b = hex("ab")
    assert.equal(sum(b, 0, 0), 0)
    assert.equal(fold(sum(b, 0, 1)), 0xab00)
    assert.equal(fold(sum(hex("0102ff"), 0, 3)), 0x0003) // 0x0102 + 0xff00 = 0x10002, end-around carry
    assert.equal(fold(0), 0)
    assert.equal(finish(0), 0xffff)
  })

  it("clamps ranges outside the buffer instead of reading garbage or throwing", () => {
    const b = hex("01020304")
    assert.equal(fold(sum(b, 0, 100)), 0x0406)
    assert.equal(sum(b, 3, 1), 0)
    assert.equal(fold(sum(b, -4, 2)), 0x0102)
  })

  it("equals the naive 16-bit reference on random buffers and ranges (odd/even start and end)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.nat(),
        fc.nat(),
        fc.nat({ max: 10 }),
        (bytes, a, b, shift) => {
          // place the bytes at an arbitrary byteOffset in a larger ArrayBuffer to exercise unaligned views
          const backing = new Uint8Array(bytes.length + shift + 3)
          const buf = backing.subarray(shift, shift + bytes.length)
          buf.set(bytes)
          const n = bytes.length
          const start = n === 0 ? 0 : a % (n + 1)
          const end = start + (n - start === 0 ? 0 : b % (n - start + 1))
          assert.equal(fold(sum(buf, start, end)), naiveFoldedSum(bytes, start, end))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it("is exact on large buffers (flush of the inner accumulators, 2^32 carries)", () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 7).fill(0xff)
    assert.equal(fold(sum(big, 0, big.length)), naiveFoldedSum(big))
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24
    assert.equal(fold(sum(big, 1, big.length)), naiveFoldedSum(big, 1, big.length))
    assert.equal(fold(0xffff_ffff_ffff), naiveFoldedSum([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
    assert.equal(fold(2 ** 53 - 1), fold(fold(2 ** 53 - 1)))
  })

  it("split at an even offset: combining the two accumulators gives the whole sum", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2000 }), fc.nat(), fc.nat({ max: 0xffff }), (b, k, init) => {
        const split = b.length === 0 ? 0 : (k % (b.length + 1)) & ~1
        const whole = sum(b, 0, b.length, init)
        const parts = combine(sum(b, 0, split, init), sum(b, split, b.length))
        assert.equal(fold(parts), fold(whole))
        // chaining through acc is the same as combining
        assert.equal(fold(sum(b, split, b.length, sum(b, 0, split, init))), fold(whole))
      }),
      { numRuns: 1000 },
    )
  })

  it("pseudoHeaderSum equals the sum of the 12 pseudo-header bytes", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 255 }),
        fc.nat({ max: 0xffff }),
        (s, d, p, l) => {
          const expected = naiveFoldedSum(pseudoHeader(s, d, p, l))
          assert.equal(fold(pseudoHeaderSum(Ipv4Address.make(s), Ipv4Address.make(d), p, l)), expected)
        },
      ),
    )
  })

  it("pseudoHeaderSum over IPv6 addresses equals the sum of the 40 RFC 8200 §8.1 pseudo-header bytes", () => {
    const u32 = fc.nat({ max: 0xffffffff })
    const v6 = fc.tuple(u32, u32, u32, u32).map(([a, b, c, d]) => Ipv6Address.fromWords(a, b, c, d))
    fc.assert(
      fc.property(v6, v6, fc.nat({ max: 255 }), fc.nat({ max: 0xfffff }), (s, d, p, l) => {
        const bytes = [
          ...Ipv6Address.toBytes(s),
          ...Ipv6Address.toBytes(d),
          l >>> 24,
          (l >>> 16) & 255,
          (l >>> 8) & 255,
          l & 255,
          0,
          0,
          0,
          p,
        ]
        assert.equal(fold(pseudoHeaderSum(s, d, p, l)), naiveFoldedSum(bytes))
      }),
    )
  })

  it("exposes the same functions on the Checksum object", () => {
    assert.equal(Checksum.sum, sum)
    assert.equal(Checksum.fold, fold)
    assert.equal(Checksum.finish, finish)
    assert.equal(Checksum.pseudoHeaderSum, pseudoHeaderSum)
  })
})

describe("ChecksumCapabilities", () => {
  it("all computes and verifies everything; offload nothing", () => {
    for (const k of ["ipv4", "udp", "tcp", "icmpv4"] as const) {
      assert.ok(shouldCompute(ChecksumCapabilities.all[k]))
      assert.ok(shouldVerify(ChecksumCapabilities.all[k]))
      assert.ok(!shouldCompute(ChecksumCapabilities.offload[k]))
      assert.ok(!shouldVerify(ChecksumCapabilities.offload[k]))
    }
  })

  it("tx and rx modes are one-sided", () => {
    assert.ok(ChecksumCapabilities.shouldCompute("tx") && !ChecksumCapabilities.shouldVerify("tx"))
    assert.ok(!ChecksumCapabilities.shouldCompute("rx") && ChecksumCapabilities.shouldVerify("rx"))
  })
})
