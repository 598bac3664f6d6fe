/**
 * Frames emitted by our codecs, judged by an independent dissector: Wireshark's `tshark`.
 *
 * Random Reprs (fast-check, fixed seed) of every kind, Ethernet + ARP, and Ethernet + IPv4 + ICMPv4 (echo, and
 * destination unreachable / time exceeded quoting a real IPv4 + UDP header) / UDP / TCP (with random options), are
 * emitted with `ChecksumCapabilities.all` into a classic pcap (linktype 1, Ethernet) in a temporary directory, and
 * tshark reads it with IPv4/UDP/TCP checksum verification on. Two checks:
 * - the validation filter of the Linux-interop notes (any bad checksum, malformed frame or expert error)
 *   matches exactly the one frame whose TCP checksum we corrupt on purpose (a negative control, so a tshark that
 *   silently verified nothing would fail the test);
 * - every other frame has every checksum it carries reported Good (status 1), not merely "not bad".
 * UDP and TCP payloads are random bytes, so they are decoded as plain data (`-d …,data`): an application dissector
 * picked by a random port (DNS on 53, …) would rightly call random bytes malformed.
 *
 * Skipped, with the reason, when tshark is not on PATH (`apt-get install tshark`); runs wherever it is.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import { ArpRepr } from "../../src/wire/Arp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetRepr, EtherType } from "../../src/wire/Ethernet.ts"
import { Icmpv4Repr } from "../../src/wire/Icmpv4.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { TcpRepr } from "../../src/wire/Tcp.ts"
import { UdpRepr } from "../../src/wire/Udp.ts"
import { arbArpRepr, arbIcmpv4Repr, arbIpv4Repr, arbMac, arbTcpRepr, arbUdpRepr } from "./_arbitraries.ts"
import { toHex } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const SEED = 0x7e57
const RUNS = 150

const tsharkVersion = ((): string | undefined => {
  try {
    const r = spawnSync("tshark", ["-v"], { encoding: "utf8" })
    return r.status === 0 ? r.stdout.split("\n")[0] : undefined
  } catch {
    return undefined
  }
})()

/** A classic pcap: 24-byte global header (v2.4, snaplen 65535, linktype 1), a 16-byte header per record. */
const pcap = (frames: ReadonlyArray<Uint8Array>): Uint8Array => {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0)
  const out = new Uint8Array(size)
  const v = new DataView(out.buffer)
  v.setUint32(0, 0xa1b2c3d4, true)
  v.setUint16(4, 2, true)
  v.setUint16(6, 4, true)
  v.setUint32(16, 65535, true)
  v.setUint32(20, 1, true)
  let o = 24
  frames.forEach((f, i) => {
    v.setUint32(o, 1_700_000_000 + i, true)
    v.setUint32(o + 4, 0, true)
    v.setUint32(o + 8, f.length, true)
    v.setUint32(o + 12, f.length, true)
    out.set(f, o + 16)
    o += 16 + f.length
  })
  return out
}

/** Ethernet + IPv4 (no fragmentation) + `l4Len` bytes written by `l4`. */
const ipFrame = (
  eth: EthernetRepr,
  ip: Ipv4Repr,
  protocol: number,
  l4Len: number,
  l4: (buf: Uint8Array, ip: Ipv4Repr) => void,
): Uint8Array => {
  const repr: Ipv4Repr = { ...ip, protocol, payloadLen: l4Len, moreFragments: false, fragmentOffset: 0 }
  const out = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + l4Len)
  EthernetRepr.emit({ ...eth, etherType: EtherType.Ipv4 }, out)
  Ipv4Repr.emit(repr, out.subarray(ETHERNET_HEADER_LEN), ALL)
  l4(out.subarray(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN), repr)
  return out
}

const arbEth = fc.record({ srcAddr: arbMac, dstAddr: arbMac, etherType: fc.constant(0) }, { noNullPrototype: true })
/** ICMP errors quote an IPv4 header and the first 8 bytes of a UDP datagram, as a router or host would. */
const arbIcmp = fc.tuple(arbIcmpv4Repr, arbIpv4Repr, arbUdpRepr).map(([m, qip, qudp]): Icmpv4Repr => {
  if (m._tag === "EchoRequest" || m._tag === "EchoReply") return m
  const quoted = new Uint8Array(IPV4_HEADER_LEN + 8)
  const udpLen = UdpRepr.bufferLen(qudp)
  const full = new Uint8Array(udpLen)
  const qipRepr = { ...qip, protocol: IpProtocol.Udp, payloadLen: udpLen, moreFragments: false, fragmentOffset: 0 }
  UdpRepr.emit(qudp, full, pseudoHeaderSum(qipRepr.srcAddr, qipRepr.dstAddr, 17, udpLen), ALL)
  Ipv4Repr.emit(qipRepr, quoted, ALL)
  quoted.set(full.subarray(0, 8), IPV4_HEADER_LEN)
  return { ...m, data: quoted }
})

const frames = (): { readonly frames: Array<Uint8Array>; readonly corrupted: number } => {
  const out: Array<Uint8Array> = []
  const opts = (i: number) => ({ seed: SEED + i, numRuns: RUNS })
  for (const [eth, arp] of fc.sample(fc.tuple(arbEth, arbArpRepr), opts(0))) {
    const f = new Uint8Array(ETHERNET_HEADER_LEN + ArpRepr.bufferLen(arp))
    EthernetRepr.emit({ ...eth, etherType: EtherType.Arp }, f)
    ArpRepr.emit(arp, f.subarray(ETHERNET_HEADER_LEN))
    out.push(f)
  }
  for (const [eth, ip, m] of fc.sample(fc.tuple(arbEth, arbIpv4Repr, arbIcmp), opts(1))) {
    out.push(ipFrame(eth, ip, IpProtocol.Icmp, Icmpv4Repr.bufferLen(m), (b) => Icmpv4Repr.emit(m, b, ALL)))
  }
  for (const [eth, ip, d] of fc.sample(fc.tuple(arbEth, arbIpv4Repr, arbUdpRepr), opts(2))) {
    out.push(
      ipFrame(
        eth,
        ip,
        IpProtocol.Udp,
        UdpRepr.bufferLen(d),
        (b, r) => UdpRepr.emit(d, b, pseudoHeaderSum(r.srcAddr, r.dstAddr, 17, b.length), ALL),
      ),
    )
  }
  for (const [eth, ip, s] of fc.sample(fc.tuple(arbEth, arbIpv4Repr, arbTcpRepr), opts(3))) {
    out.push(
      ipFrame(
        eth,
        ip,
        IpProtocol.Tcp,
        TcpRepr.bufferLen(s),
        (b, r) => TcpRepr.emit(s, b, pseudoHeaderSum(r.srcAddr, r.dstAddr, 6, b.length), ALL),
      ),
    )
  }
  // the negative control: a TCP segment with its checksum off by one
  const [[eth, ip, s]] = fc.sample(fc.tuple(arbEth, arbIpv4Repr, arbTcpRepr), opts(4))
  const bad = ipFrame(eth, ip, IpProtocol.Tcp, TcpRepr.bufferLen(s), (b, r) => {
    TcpRepr.emit(s, b, pseudoHeaderSum(r.srcAddr, r.dstAddr, 6, b.length), ALL)
    b[17] ^= 0x01
  })
  out.push(bad)
  return { frames: out, corrupted: out.length }
}

const CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
const AS_DATA = ["-d", "tcp.port==1-65535,data", "-d", "udp.port==1-65535,data"]
const BAD = "ip.checksum.status==0 || icmp.checksum.status==0 || tcp.checksum.status==0 || " +
  "udp.checksum.status==0 || _ws.malformed || _ws.expert.severity >= error"

const tshark = (file: string, ...args: Array<string>): Array<Array<string>> => {
  const r = spawnSync("tshark", ["-r", file, "-n", ...CHECKS, ...AS_DATA, ...args], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  })
  assert.equal(r.status, 0, `tshark failed: ${r.stderr}`)
  return r.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("\t"))
}

describe("tshark validates the frames our codecs emit", () => {
  it(
    "random ARP / ICMPv4 / UDP / TCP frames: no bad checksum, nothing malformed, every checksum Good",
    tsharkVersion === undefined ? { skip: "needs tshark (apt-get install tshark)" } : {},
    () => {
      const { frames: all, corrupted } = frames()
      const dir = mkdtempSync(join(tmpdir(), "vnetif-tshark-"))
      try {
        const file = join(dir, "emitted.pcap")
        writeFileSync(file, pcap(all))
        const flagged = tshark(file, "-Y", BAD, "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message")
        const report = flagged.map(([n, msg]) => `frame ${n}: ${msg}\n  ${toHex(all[Number(n) - 1])}`).join("\n")
        assert.deepEqual(flagged.map(([n]) => Number(n)), [corrupted], `${tsharkVersion} flagged:\n${report}`)

        const fields = ["ip.proto", "ip.checksum.status", "icmp.checksum.status", "tcp.checksum.status"]
        const rows = tshark(
          file,
          ...["-T", "fields", "-e", "frame.number", "-e", "eth.type"],
          ...[...fields, "udp.checksum.status"].flatMap((f) => ["-e", f]),
        )
        assert.equal(rows.length, all.length)
        const counts = { arp: 0, icmp: 0, tcp: 0, udp: 0 }
        const status = { [IpProtocol.Icmp]: 4, [IpProtocol.Tcp]: 5, [IpProtocol.Udp]: 6 } as const
        const name = { [IpProtocol.Icmp]: "icmp", [IpProtocol.Tcp]: "tcp", [IpProtocol.Udp]: "udp" } as const
        for (const row of rows) {
          const [n, type, proto, ipStatus] = row
          if (Number(n) === corrupted) continue
          if (type === "0x0806") {
            counts.arp++
            continue
          }
          assert.equal(type, "0x0800", `frame ${n}: EtherType`)
          // an ICMP error's quoted IPv4 header adds a second value to the IPv4 fields: all must be Good
          assert.ok(ipStatus.split(",").every((s) => s === "1"), `frame ${n}: IPv4 checksum status ${ipStatus}`)
          const p = Number(proto.split(",")[0]) as 1 | 6 | 17
          const s = row[status[p]]
          assert.equal(s.split(",")[0], "1", `frame ${n}: ${name[p]} checksum status ${s}`)
          counts[name[p]]++
        }
        assert.deepEqual(counts, { arp: RUNS, icmp: RUNS, tcp: RUNS, udp: RUNS })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
