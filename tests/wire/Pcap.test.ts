/**
 * Tests of the capture file codecs (`src/wire/Pcap.ts`): golden bytes of the classic pcap header and records and of
 * the pcapng SHB / IDB / EPB blocks, snap-length truncation, both timestamp resolutions, files written big-endian
 * or with a power-of-two `if_tsresol` (built by hand here), several sections, typed parse errors, and properties:
 * write → parse round-trips for random packet lists, and random or mutated bytes never make a reader throw.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Result from "effect/Result"
import {
  LINKTYPE_ETHERNET,
  parseCapture,
  Pcap,
  PCAP_GLOBAL_HEADER_LEN,
  PCAP_RECORD_HEADER_LEN,
  Pcapng,
  type PcapPacket,
  type PcapResolution,
} from "../../src/wire/Pcap.ts"
import { hex, toHex } from "./_support.ts"

const reason = <A>(r: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

const ok = <A>(r: Result.Result<A, { readonly message: string }>): A => {
  if (Result.isFailure(r)) assert.fail(`parse failed: ${r.failure.message}`)
  return r.success
}

/** 1.500007 s after the epoch (plus 123 ns, dropped at microsecond resolution). */
const TS = 1_500_007_123n

describe("Pcap (classic) writer: golden bytes", () => {
  it("global header: magic, v2.4, zone 0, sigfigs 0, snaplen 65535, linktype 1", () => {
    assert.equal(PCAP_GLOBAL_HEADER_LEN, 24)
    assert.equal(LINKTYPE_ETHERNET, 1)
    assert.equal(toHex(Pcap.header()), "d4c3b2a1" + "0200" + "0400" + "00000000" + "00000000" + "ffff0000" + "01000000")
    assert.equal(
      toHex(Pcap.header({ resolution: "nano", snapLen: 96, linkType: 101 })),
      "4d3cb2a1" + "0200" + "0400" + "00000000" + "00000000" + "60000000" + "65000000",
    )
  })

  it("record: seconds, microseconds (or nanoseconds), captured and original lengths, then the bytes", () => {
    assert.equal(PCAP_RECORD_HEADER_LEN, 16)
    assert.equal(toHex(Pcap.record(hex("aabb"), TS)), "01000000" + "27a10700" + "02000000" + "02000000" + "aabb")
    assert.equal(
      toHex(Pcap.record(hex("aabb"), TS, { resolution: "nano" })),
      "01000000" + "d380cd1d" + "02000000" + "02000000" + "aabb",
    )
  })

  it("snapLen cuts the bytes and keeps the original length", () => {
    const frame = Uint8Array.from({ length: 100 }, (_, i) => i)
    const rec = Pcap.record(frame, 0n, { snapLen: 10 })
    assert.equal(rec.length, 16 + 10)
    assert.equal(toHex(rec.subarray(8, 16)), "0a000000" + "64000000")
    assert.deepEqual(Array.from(rec.subarray(16)), Array.from(frame.subarray(0, 10)))
    const file = ok(Pcap.parse(Pcap.file([{ timestamp: 0n, data: frame }], { snapLen: 10 })))
    assert.equal(file.snapLen, 10)
    assert.equal(file.packets[0].data.length, 10)
    assert.equal(file.packets[0].originalLength, 100)
  })

  it("record copies the frame: later changes to the frame do not reach the record", () => {
    const frame = hex("0102")
    const rec = Pcap.record(frame, 0n)
    frame[0] = 0xff
    assert.equal(rec[16], 0x01)
  })
})

describe("Pcapng writer: golden bytes", () => {
  it("section header block with shb_userappl", () => {
    assert.equal(
      toHex(Pcapng.sectionHeader()),
      "0a0d0d0a" + "2c000000" + "4d3c2b1a" + "0100" + "0000" + "ffffffff" + "ffffffff" +
        "0400" + "0600" + "766e65746966" + "0000" + "00000000" + "2c000000",
    )
    assert.equal(
      toHex(Pcapng.sectionHeader({ application: "" })),
      "0a0d0d0a" + "1c000000" + "4d3c2b1a" + "0100" + "0000" + "ffffffff" + "ffffffff" + "1c000000",
    )
  })

  it("interface description block with if_tsresol (and if_name)", () => {
    assert.equal(
      toHex(Pcapng.interfaceDescription()),
      "01000000" + "20000000" + "0100" + "0000" + "ffff0000" + "0900" + "0100" + "06000000" + "00000000" + "20000000",
    )
    assert.equal(
      toHex(Pcapng.interfaceDescription({ resolution: "nano", interfaceName: "eth0", snapLen: 1514 })),
      "01000000" + "28000000" + "0100" + "0000" + "ea050000" + "0200" + "0400" + "65746830" + "0900" + "0100" +
        "09000000" + "00000000" + "28000000",
    )
  })

  it("enhanced packet block: timestamp in if_tsresol units, padded bytes, optional epb_flags", () => {
    assert.equal(
      toHex(Pcapng.enhancedPacket(hex("aabb"), TS)),
      "06000000" + "24000000" + "00000000" + "00000000" + "67e31600" + "02000000" + "02000000" + "aabb0000" +
        "24000000",
    )
    assert.equal(
      toHex(Pcapng.enhancedPacket(hex("aabbcc"), TS, { resolution: "nano" }, "out", 2)),
      "06000000" + "30000000" + "02000000" + "00000000" + "d34a6859" + "03000000" + "03000000" + "aabbcc00" +
        "0200" + "0400" + "02000000" + "00000000" + "30000000",
    )
    assert.equal(Pcapng.enhancedPacket(hex("aabb"), TS, {}, "in")[36], 1, "inbound flag")
    assert.equal(Pcapng.enhancedPacketLen(2, {}, "in"), 48)
  })
})

// ---- round trips ---------------------------------------------------------------------------------------------------

const arbPacket: fc.Arbitrary<PcapPacket> = fc.record({
  timestamp: fc.bigInt({ min: 0n, max: (1n << 32n) * 1_000_000_000n - 1n }),
  data: fc.uint8Array({ minLength: 0, maxLength: 300 }),
})

const truncate = (ts: bigint, resolution: PcapResolution): bigint => resolution === "nano" ? ts : ts - (ts % 1000n)

describe("round trips (properties)", () => {
  it("Pcap.file → Pcap.parse gives back every packet (timestamps at the file's resolution)", () => {
    fc.assert(
      fc.property(fc.array(arbPacket, { maxLength: 20 }), fc.constantFrom<PcapResolution>("micro", "nano"), (ps, r) => {
        const f = ok(Pcap.parse(Pcap.file(ps, { resolution: r })))
        assert.equal(f.format, "pcap")
        assert.equal(f.resolution, r)
        assert.equal(f.linkType, 1)
        assert.equal(f.packets.length, ps.length)
        ps.forEach((p, i) => {
          assert.equal(f.packets[i].timestamp, truncate(p.timestamp, r))
          assert.equal(toHex(f.packets[i].data), toHex(p.data))
          assert.equal(f.packets[i].originalLength, p.data.length)
        })
      }),
      { seed: 42, numRuns: 200 },
    )
  })

  it("Pcapng.file → Pcapng.parse gives back every packet, its direction and the interface", () => {
    const arb = fc.record({
      timestamp: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
      data: fc.uint8Array({ minLength: 0, maxLength: 300 }),
      direction: fc.constantFrom<"in" | "out" | undefined>("in", "out", undefined),
    })
    fc.assert(
      fc.property(fc.array(arb, { maxLength: 20 }), fc.constantFrom<PcapResolution>("micro", "nano"), (ps, r) => {
        const packets: Array<PcapPacket> = ps.map((p) =>
          p.direction === undefined
            ? { timestamp: p.timestamp, data: p.data }
            : { timestamp: p.timestamp, data: p.data, direction: p.direction }
        )
        const f = ok(Pcapng.parse(Pcapng.file(packets, { resolution: r, interfaceName: "sw" })))
        assert.equal(f.interfaces.length, 1)
        assert.equal(f.interfaces[0].name, "sw")
        assert.equal(f.interfaces[0].ticksPerSecond, r === "nano" ? 1_000_000_000n : 1_000_000n)
        assert.equal(f.packets.length, ps.length)
        ps.forEach((p, i) => {
          assert.equal(f.packets[i].timestamp, truncate(p.timestamp, r))
          assert.equal(toHex(f.packets[i].data), toHex(p.data))
          assert.equal(f.packets[i].direction, p.direction)
          assert.equal(f.packets[i].interfaceId, 0)
        })
        // parseCapture picks the format from the first bytes
        assert.equal(ok(parseCapture(Pcapng.file(packets))).format, "pcapng")
        assert.equal(ok(parseCapture(Pcap.file(packets))).format, "pcap")
      }),
      { seed: 43, numRuns: 200 },
    )
  })

  it("a record built alone equals the same record inside a whole file", () => {
    const p = { timestamp: TS, data: hex("0011223344") }
    const file = Pcap.file([p])
    assert.equal(toHex(file.subarray(24)), toHex(Pcap.record(p.data, p.timestamp)))
    const ng = Pcapng.file([p])
    assert.equal(toHex(ng.subarray(Pcapng.header().length)), toHex(Pcapng.enhancedPacket(p.data, p.timestamp)))
  })
})

// ---- readers: other writers' files ---------------------------------------------------------------------------------

/** A tiny big-endian pcapng writer (a different byte order and layout than ours). */
const beBlock = (type: number, body: Array<number>): Array<number> => {
  const total = 12 + body.length
  const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
  return [...u32(type), ...u32(total), ...body, ...u32(total)]
}
const be32 = (n: number): Array<number> => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
const be16 = (n: number): Array<number> => [(n >>> 8) & 255, n & 255]

describe("readers: other byte orders and layouts", () => {
  it("reads a big-endian classic pcap", () => {
    const le = Pcap.file([{ timestamp: TS, data: hex("aabbcc") }])
    const be = new Uint8Array(le.length)
    const swap = (o: number, n: number) => {
      for (let i = 0; i < n; i++) be[o + i] = le[o + n - 1 - i]
    }
    swap(0, 4)
    swap(4, 2)
    swap(6, 2)
    swap(8, 4)
    swap(12, 4)
    swap(16, 4)
    swap(20, 4)
    for (let k = 0; k < 4; k++) swap(24 + k * 4, 4)
    be.set(le.subarray(40), 40)
    const f = ok(Pcap.parse(be))
    assert.equal(f.littleEndian, false)
    assert.equal(f.packets[0].timestamp, 1_500_007_000n)
    assert.equal(toHex(f.packets[0].data), "aabbcc")
  })

  it("reads a big-endian pcapng with two sections, a 2^-3 s resolution, an unknown block and a short option", () => {
    const shb = beBlock(0x0a0d0d0a, [...be32(0x1a2b3c4d), ...be16(1), ...be16(0), ...be32(-1), ...be32(-1)])
    const idb = (tsresol: number) =>
      beBlock(1, [...be16(1), ...be16(0), ...be32(0), ...be16(9), ...be16(1), tsresol, 0, 0, 0, ...be32(0)])
    const epb = (iface: number, ticks: number, data: Array<number>) =>
      beBlock(6, [
        ...be32(iface),
        ...be32(0),
        ...be32(ticks),
        ...be32(data.length),
        ...be32(data.length + 10),
        ...data,
        ...new Array((4 - (data.length % 4)) % 4).fill(0),
      ])
    const unknown = beBlock(0x0bad, [1, 2, 3, 4])
    const bytes = Uint8Array.from([
      ...shb,
      ...idb(0x83), // 8 ticks per second
      ...epb(0, 12, [1, 2, 3]), // 1.5 s
      ...unknown,
      ...shb,
      ...idb(3), // milliseconds
      ...idb(6),
      ...epb(1, 2500, [9]), // interface 1 of section 2: 2.5 ms
      ...epb(0, 2500, [8]), // interface 0 of section 2: 2.5 s
    ])
    const f = ok(Pcapng.parse(bytes))
    assert.equal(f.littleEndian, false)
    assert.equal(f.interfaces.length, 3)
    assert.deepEqual(f.interfaces.map((i) => i.ticksPerSecond), [8n, 1000n, 1_000_000n])
    assert.deepEqual(
      f.packets.map((p) => [p.interfaceId, p.timestamp, Array.from(p.data), p.originalLength]),
      [
        [0, 1_500_000_000n, [1, 2, 3], 13],
        [2, 2_500_000n, [9], 11],
        [1, 2_500_000_000n, [8], 11],
      ],
    )
  })
})

describe("readers: typed errors, never a throw", () => {
  it("names what is wrong", () => {
    const good = Pcap.file([{ timestamp: TS, data: hex("aabbccdd") }])
    assert.equal(reason(Pcap.parse(good.subarray(0, 10))), "Truncated")
    assert.equal(reason(Pcap.parse(good.subarray(0, 30))), "Truncated")
    assert.equal(reason(Pcap.parse(good.subarray(0, good.length - 1))), "Truncated")
    assert.equal(reason(Pcap.parse(hex("00112233" + "00".repeat(20)))), "Unsupported")
    const bigCap = good.slice()
    new DataView(bigCap.buffer).setUint32(24 + 8, 9, true) // caplen 9 > origlen 4
    assert.equal(reason(Pcap.parse(bigCap)), "Malformed")
    const badUsec = good.slice()
    new DataView(badUsec.buffer).setUint32(24 + 4, 1_000_000, true)
    assert.equal(reason(Pcap.parse(badUsec)), "Malformed")
    assert.equal(reason(Pcap.parse(good)), "success")
    assert.equal(ok(Pcap.parse(Pcap.header())).packets.length, 0, "an empty capture is fine")

    const ng = Pcapng.file([{ timestamp: TS, data: hex("aabbccdd") }])
    assert.equal(reason(Pcapng.parse(ng.subarray(0, 20))), "Truncated")
    assert.equal(reason(Pcapng.parse(ng.subarray(0, ng.length - 2))), "Truncated")
    assert.equal(reason(Pcapng.parse(good)), "Unsupported")
    const badTrailer = ng.slice()
    badTrailer[ng.length - 4] ^= 4
    assert.equal(reason(Pcapng.parse(badTrailer)), "Malformed")
    const noIface = Uint8Array.from([...Pcapng.sectionHeader(), ...Pcapng.enhancedPacket(hex("aa"), 0n)])
    assert.equal(reason(Pcapng.parse(noIface)), "Malformed")
  })

  it("random bytes, and random mutations of valid files, never throw", () => {
    const files = [
      Pcap.file([{ timestamp: TS, data: hex("aabbccdd") }, { timestamp: TS, data: hex("01") }]),
      Pcapng.file([{ timestamp: TS, data: hex("aabbccdd"), direction: "in" }], { interfaceName: "x" }),
    ]
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        parseCapture(b)
        Pcap.parse(b)
        Pcapng.parse(b)
      }),
      { seed: 1, numRuns: 2000 },
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...files),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (file, edits, cut) => {
          const b = file.slice(0, file.length - (cut % 8))
          for (const [at, v] of edits) b[at % b.length] = v
          parseCapture(b)
        },
      ),
      { seed: 2, numRuns: 5000 },
    )
  })
})
