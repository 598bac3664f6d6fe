import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { Ipv6Address } from "../../src/wire/Ipv6Address.ts"
import {
  TCP_HEADER_LEN,
  TCP_MAX_WINDOW_SCALE,
  TcpFlags,
  TcpOptionKind,
  TcpOptions,
  TcpPacket,
  TcpRepr,
} from "../../src/wire/Tcp.ts"
import { arbIp, arbTcpRepr } from "./_arbitraries.ts"
import { hex, naiveChecksum, pseudoHeader, robustness, toHex, touchAll, zeroField } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const OFF = ChecksumCapabilities.offload
const SRC = Ipv4Address.parse("10.0.0.1")!
const DST = Ipv4Address.parse("10.0.0.2")!

const reason = <A>(r: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

/** A segment (SYN-ACK unless `flags` says otherwise) with the given option bytes (padded with EOL to 32 bits) and
 * payload, checksum filled. */
const segment = (options: string, payload = "", flags: number = TcpFlags.SYN | TcpFlags.ACK): TcpPacket => {
  const opts = hex(options)
  const optLen = (opts.length + 3) & ~3
  const buf = new Uint8Array(20 + optLen + hex(payload).length)
  const p = new TcpPacket(buf)
  p.setSrcPort(1234)
  p.setDstPort(80)
  p.setSeqNumber(0xfffffff0)
  p.setAckNumber(0x80000000)
  p.setHeaderLen(20 + optLen)
  p.setFlags(flags)
  p.setWindowLen(29200)
  buf.set(opts, 20)
  buf.set(hex(payload), 20 + optLen)
  p.fillChecksum(pseudoHeaderSum(SRC, DST, 6, buf.length))
  return p
}
/** The pseudo-header sum the codec takes for a whole segment of `len` bytes over IPv4. */
const ph = (len: number, src: Ipv4Address = SRC, dst: Ipv4Address = DST): number => pseudoHeaderSum(src, dst, 6, len)
/** `TcpRepr.parse` with the pseudo-header sum of `src` → `dst` over the received segment. */
const parse = (p: TcpPacket, src: Ipv4Address, dst: Ipv4Address, caps: ChecksumCapabilities) =>
  TcpRepr.parse(p, ph(p.buffer.length, src, dst), caps)
const parseOpts = (options: string) => parse(segment(options), SRC, DST, ALL)
const opts = (options: string): TcpOptions => Result.getOrThrow(parseOpts(options)).options

const emit = (repr: TcpRepr, src = SRC, dst = DST, caps = ALL): Uint8Array => {
  const buf = new Uint8Array(TcpRepr.bufferLen(repr))
  TcpRepr.emit(repr, buf, ph(buf.length, src, dst), caps)
  return buf
}
const base: TcpRepr = {
  srcPort: 1234,
  dstPort: 80,
  seqNumber: 1,
  ackNumber: 0,
  flags: TcpFlags.SYN,
  windowLen: 1024,
  urgentPointer: 0,
  options: TcpOptions.empty,
  payload: new Uint8Array(0),
}
const emittedOptions = (o: TcpOptions): string => {
  const b = emit({ ...base, options: o })
  return toHex(b.subarray(20, new TcpPacket(b).headerLen()))
}

describe("TcpPacket", () => {
  it("constants", () => {
    assert.equal(TCP_HEADER_LEN, 20)
    assert.deepEqual(
      [TcpFlags.FIN, TcpFlags.SYN, TcpFlags.RST, TcpFlags.PSH, TcpFlags.ACK, TcpFlags.URG, TcpFlags.ECE, TcpFlags.CWR],
      [1, 2, 4, 8, 16, 32, 64, 128],
    )
    assert.equal(TcpOptionKind.Timestamps, 8)
  })

  it("checks lengths and data offset", () => {
    assert.equal(reason(TcpPacket.parse(new Uint8Array(19))), "Truncated")
    const b = segment("").buffer
    b[12] = 0x40
    assert.equal(reason(TcpPacket.parse(b)), "Malformed")
    b[12] = 0x60
    assert.equal(reason(TcpPacket.parse(b)), "Truncated")
    b[12] = 0x50
    assert.equal(reason(TcpPacket.parse(b)), "success")
  })

  it("reads flags, 32-bit numbers unsigned, payload after the options", () => {
    const p = segment("020405b4", "68656c6c6f")
    assert.equal(p.seqNumber(), 0xfffffff0)
    assert.equal(p.ackNumber(), 0x80000000)
    assert.ok(p.syn() && p.ack() && !p.fin() && !p.rst() && !p.psh() && !p.urg() && !p.ece() && !p.cwr())
    assert.equal(p.headerLen(), 24)
    assert.equal(new TextDecoder().decode(p.payload()), "hello")
    assert.equal(toHex(p.options()), "020405b4")
    assert.ok(p.verifyChecksum(ph(p.buffer.length)))
    assert.equal(p.checksum(), naiveChecksum(pseudoHeader(SRC, DST, 6, 29), zeroField(p.buffer, 16)))
    p.setUrgentPointer(5)
    assert.equal(p.urgentPointer(), 5)
    assert.ok(!p.verifyChecksum(ph(p.buffer.length)))
  })
})

describe("TcpOptions.parse", () => {
  it("no options / only NOPs / EOL → no options", () => {
    assert.deepEqual(opts(""), TcpOptions.empty)
    assert.deepEqual(opts("01010101"), TcpOptions.empty)
    assert.deepEqual(opts("00020405"), TcpOptions.empty) // bytes after EOL are padding
  })

  it("reads MSS, window scale, SACK-permitted, timestamps", () => {
    assert.deepEqual(opts("020405b4 01030308 0402 080a 00000001 ffffffff"), {
      mss: 1460,
      windowScale: 8,
      sackPermitted: true,
      sackBlocks: [],
      timestamps: { tsVal: 1, tsEcr: 0xffffffff },
    })
  })

  it("caps the window scale shift at 14 (RFC 7323 §2.3)", () => {
    assert.equal(opts("030300").windowScale, 0)
    assert.equal(opts("03030e").windowScale, 14)
    assert.equal(opts("03030f").windowScale, TCP_MAX_WINDOW_SCALE)
    assert.equal(opts("0303ff").windowScale, 14)
  })

  it("reads 1 to 4 SACK blocks", () => {
    for (let n = 1; n <= 4; n++) {
      const blocks = Array.from({ length: n }, (_, k) => ({ left: 0xfffffff0 + k, right: 100 * (k + 1) }))
      const body = blocks.map((b) => b.left.toString(16).padStart(8, "0") + b.right.toString(16).padStart(8, "0")).join(
        "",
      )
      const len = (2 + 8 * n).toString(16).padStart(2, "0")
      assert.deepEqual(opts("0101 05" + len + body).sackBlocks, blocks)
    }
  })

  it("skips unknown options by their length", () => {
    // MPTCP (30) with 4 bytes, then an experimental option (254) with 6, then MSS
    assert.deepEqual(opts("1e04abcd fe06 01020304 020405dc"), { ...TcpOptions.empty, mss: 1500 })
  })

  it("rejects bad option lengths as Malformed outside a SYN", () => {
    for (
      const bad of [
        "0200", // length 0
        "0201", // length 1
        "020a05b4", // runs past the header
        "01010102", // kind 2 in the last byte, no length byte... (NOP NOP NOP then kind 2)
        "020305", // MSS length 3
        "03040700", // window scale length 4
        "0403", // SACK-permitted length 3
        "0808 000000000000", // timestamps length 8
        "0502", // SACK with no block
        "050b" + "00".repeat(9), // SACK length 11
      ]
    ) {
      assert.equal(reason(parse(segment(bad, "", TcpFlags.ACK), SRC, DST, ALL)), "Malformed", bad)
    }
  })

  it("in a SYN, a bad option ends parsing: the options before it are kept, the segment is still parsed", () => {
    const syn = (options: string, flags: number = TcpFlags.SYN) =>
      Result.getOrThrow(parse(segment(options, "", flags), SRC, DST, ALL)).options
    const MSS_WS = "020405b4 01 030307"
    for (
      const [bad, what] of [
        ["0200", "length 0"],
        ["0201", "length 1"],
        ["0403", "SACK-permitted length 3"],
        ["0808 000000000000", "timestamps length 8"],
        ["03040e00", "window scale length 4"],
        ["050b" + "00".repeat(9), "SACK length 11"],
      ]
    ) {
      // whatever follows the bad option (here SACK-permitted and timestamps) is ignored
      for (const flags of [TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK]) {
        const o = syn(MSS_WS + " " + bad + " 0402 080a 00000001 00000000", flags)
        assert.deepEqual(o, { ...TcpOptions.empty, mss: 1460, windowScale: 7 }, what)
      }
    }
    // truncated at the end of the header: a length running past it, no length byte
    assert.deepEqual(syn(MSS_WS + " 080a 0000"), { ...TcpOptions.empty, mss: 1460, windowScale: 7 })
    assert.deepEqual(syn(MSS_WS + " 010101 fe"), { ...TcpOptions.empty, mss: 1460, windowScale: 7 })
    // a malformed option first: no options at all, and nothing is invented
    assert.deepEqual(syn("0203 05b4 030307"), TcpOptions.empty)
    // a bad MSS length ends parsing before the MSS is read; a window scale above 14 is read as 14 (RFC 7323 §2.3)
    assert.deepEqual(syn("03030f 020305 0402"), { ...TcpOptions.empty, windowScale: 14 })
    // the same option block outside a SYN is still Malformed
    assert.equal(reason(parse(segment(MSS_WS + " 0403", "", TcpFlags.ACK), SRC, DST, ALL)), "Malformed")
    // TcpOptions.parse itself: strict by default, lenient on request
    const b = hex("020405b4 0403")
    assert.equal(reason(TcpOptions.parse(b, 0, b.length)), "Malformed")
    assert.deepEqual(Result.getOrThrow(TcpOptions.parse(b, 0, b.length, true)), { ...TcpOptions.empty, mss: 1460 })
  })
})

describe("TcpOptions emit", () => {
  it("uses Linux's layout and pads to 32 bits", () => {
    assert.equal(emittedOptions(TcpOptions.empty), "")
    assert.equal(emittedOptions({ ...TcpOptions.empty, mss: 536 }), "02040218")
    assert.equal(emittedOptions({ ...TcpOptions.empty, sackPermitted: true }), "01010402")
    assert.equal(emittedOptions({ ...TcpOptions.empty, windowScale: 0 }), "01030300")
    assert.equal(
      emittedOptions({ ...TcpOptions.empty, timestamps: { tsVal: 1, tsEcr: 2 } }),
      "0101080a0000000100000002",
    )
    assert.equal(
      emittedOptions({
        mss: 1460,
        sackPermitted: true,
        windowScale: 7,
        timestamps: { tsVal: 1, tsEcr: 0 },
        sackBlocks: [],
      }),
      "020405b40402080a000000010000000001030307",
    )
    assert.equal(
      emittedOptions({ ...TcpOptions.empty, sackBlocks: [{ left: 1, right: 2 }] }),
      "0101050a0000000100000002",
    )
    // explicit undefined is the same as absent
    assert.equal(
      emittedOptions({ mss: undefined, windowScale: undefined, timestamps: undefined, ...TcpOptions.empty }),
      "",
    )
    assert.equal(TcpOptions.bufferLen({ ...TcpOptions.empty, mss: 1 }), 4)
  })

  it("drops the SACK blocks that do not fit in 40 bytes, keeping the first", () => {
    const blocks = [1, 2, 3, 4].map((k) => ({ left: k, right: k + 100 }))
    const full = {
      mss: 1460,
      windowScale: 7,
      sackPermitted: true,
      timestamps: { tsVal: 5, tsEcr: 6 },
      sackBlocks: blocks,
    }
    assert.equal(TcpOptions.bufferLen(full), 40)
    const seg = { ...base, options: full }
    assert.equal(TcpRepr.headerLen(seg), 60)
    const back = Result.getOrThrow(parse(new TcpPacket(emit(seg)), SRC, DST, ALL))
    assert.deepEqual(back.options.sackBlocks, blocks.slice(0, 2))
    const withTs = { ...TcpOptions.empty, timestamps: { tsVal: 5, tsEcr: 6 }, sackBlocks: blocks }
    assert.equal(
      Result.getOrThrow(parse(new TcpPacket(emit({ ...base, options: withTs })), SRC, DST, ALL)).options
        .sackBlocks.length,
      3,
    )
    const noTs = { ...TcpOptions.empty, sackBlocks: blocks }
    assert.equal(
      Result.getOrThrow(parse(new TcpPacket(emit({ ...base, options: noTs })), SRC, DST, ALL)).options
        .sackBlocks.length,
      4,
    )
  })
})

describe("TcpRepr", () => {
  it("rejects port 0 as Malformed", () => {
    const p = segment("")
    p.setDstPort(0)
    assert.equal(reason(parse(p, SRC, DST, OFF)), "Malformed")
    p.setDstPort(80)
    p.setSrcPort(0)
    assert.equal(reason(parse(p, SRC, DST, OFF)), "Malformed")
  })

  it("verifies and computes the checksum per caps", () => {
    const b = emit({ ...base, payload: hex("010203") })
    const p = new TcpPacket(b)
    assert.equal(p.checksum(), naiveChecksum(pseudoHeader(SRC, DST, 6, b.length), zeroField(b, 16)))
    assert.equal(reason(parse(p, SRC, DST, ALL)), "success")
    assert.equal(reason(parse(p, DST, SRC, ALL)), "success") // the pseudo-header sum is symmetric
    assert.equal(reason(parse(p, SRC, Ipv4Address.parse("10.0.0.3")!, ALL)), "BadChecksum")
    b[b.length - 1] ^= 1
    assert.equal(reason(parse(p, SRC, DST, ALL)), "BadChecksum")
    assert.equal(reason(parse(p, SRC, DST, { ...ALL, tcp: "tx" })), "success")
    assert.equal(new TcpPacket(emit(base, SRC, DST, OFF)).checksum(), 0)
  })

  it("checksums over an IPv6 pseudo-header given as a sum (the codec knows no address type)", () => {
    const s6 = Ipv6Address.parse("fd00::1")!
    const d6 = Ipv6Address.parse("fd00::2")!
    const repr = { ...base, payload: hex("0102030405") }
    const b = new Uint8Array(TcpRepr.bufferLen(repr))
    TcpRepr.emit(repr, b, pseudoHeaderSum(s6, d6, 6, b.length), ALL)
    const pseudo = [...Ipv6Address.toBytes(s6), ...Ipv6Address.toBytes(d6), 0, 0, 0, b.length, 0, 0, 0, 6]
    assert.equal(new TcpPacket(b).checksum(), naiveChecksum(pseudo, zeroField(b, 16)))
    assert.equal(reason(TcpRepr.parse(new TcpPacket(b), pseudoHeaderSum(s6, d6, 6, b.length), ALL)), "success")
    assert.equal(reason(TcpRepr.parse(new TcpPacket(b), pseudoHeaderSum(s6, s6, 6, b.length), ALL)), "BadChecksum")
  })

  it("does not copy a payload that is already in place; copies a shifted overlapping one", () => {
    const repr0 = { ...base, options: { ...TcpOptions.empty, mss: 1460 } }
    const buf = new Uint8Array(24 + 3)
    buf.set([7, 8, 9], 24)
    TcpRepr.emit({ ...repr0, payload: buf.subarray(24) }, buf, ph(27), ALL)
    const back = Result.getOrThrow(parse(new TcpPacket(buf), SRC, DST, ALL))
    assert.deepEqual(Array.from(back.payload), [7, 8, 9])
    const buf2 = new Uint8Array(24 + 3)
    buf2.set([4, 5, 6], 10)
    TcpRepr.emit({ ...repr0, payload: buf2.subarray(10, 13) }, buf2, ph(27), ALL)
    assert.deepEqual(Array.from(buf2.subarray(24)), [4, 5, 6])
  })

  for (const [name, caps] of [["all", ALL], ["offload", OFF]] as const) {
    it(`round-trips: emit → parse gives the same Repr (caps ${name})`, () => {
      fc.assert(
        fc.property(arbTcpRepr, arbIp, arbIp, (repr, src, dst) => {
          const b = emit(repr, src, dst, caps)
          assert.equal(b.length, TcpRepr.headerLen(repr) + repr.payload.length)
          assert.equal(TcpRepr.headerLen(repr) % 4, 0)
          const p = Result.getOrThrow(TcpPacket.parse(b))
          assert.deepEqual(Result.getOrThrow(parse(p, src, dst, caps)), repr)
          if (caps === ALL) {
            assert.equal(p.checksum(), naiveChecksum(pseudoHeader(src, dst, 6, b.length), zeroField(b, 16)))
          }
        }),
        { numRuns: 500 },
      )
    })
  }

  it("never throws on random or mutated bytes", () => {
    const valid = fc.sample(arbTcpRepr.map((r) => ({ ...r, payload: r.payload.subarray(0, 40) })), 200).map((r) =>
      emit(r)
    )
    valid.push(segment("020405b4 0402 080a 00000001 00000000 01 030307").buffer)
    let withOptions = 0
    const { parsedMutated } = robustness(0x7c9, valid, (b, rnd) => {
      const r = TcpPacket.parse(b)
      if (Result.isFailure(r)) return false
      touchAll(r.success, ph(r.success.buffer.length))
      const repr = parse(r.success, SRC, DST, rnd() < 0.5 ? ALL : OFF)
      if (Result.isFailure(repr)) return false
      if (repr.success.options !== TcpOptions.empty) withOptions++
      const out = new Uint8Array(TcpRepr.bufferLen(repr.success))
      TcpRepr.emit(repr.success, out, ph(out.length), ALL)
      // re-parsing our own emission gives the same segment (up to SACK blocks that no longer fit)
      const again = Result.getOrThrow(parse(new TcpPacket(out), SRC, DST, ALL))
      assert.deepEqual({ ...again, options: { ...again.options, sackBlocks: [] }, payload: [...again.payload] }, {
        ...repr.success,
        options: { ...repr.success.options, sackBlocks: [] },
        payload: [...repr.success.payload],
      })
      return true
    })
    assert.ok(parsedMutated > 10_000, `mutated parsed ${parsedMutated}`)
    assert.ok(withOptions > 1_000, `parsed with options ${withOptions}`)
  })
})
