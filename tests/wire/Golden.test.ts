/**
 * Golden frames: realistic Linux traffic transcribed as hex (ARP who-has, ping with its 56-byte payload, the
 * reply, a DNS query, a TCP SYN with MSS/SACK-permitted/timestamps/NOP/window scale 7 and its SYN-ACK, an
 * 802.1Q-tagged frame, IPv4 with options, ICMP port unreachable). Every checksum in them is re-derived here with
 * the naive byte-loop reference (`naiveChecksum`), every field is asserted, and each Repr is re-emitted and
 * compared byte for byte with the original.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Result from "effect/Result"
import { ArpPacket, ArpRepr } from "../../src/wire/Arp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, EtherType } from "../../src/wire/Ethernet.ts"
import { Icmpv4Packet, Icmpv4Repr } from "../../src/wire/Icmpv4.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { TcpFlags, TcpPacket, TcpRepr } from "../../src/wire/Tcp.ts"
import { UdpPacket, UdpRepr } from "../../src/wire/Udp.ts"
import { hex, naiveChecksum, pseudoHeader, toHex, u16, zeroField } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const OFF = ChecksumCapabilities.offload
const ip = (s: string) => Ipv4Address.parse(s)!
const mac = (s: string) => MacAddress.parse(s)!

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) assert.fail(`expected success, got ${String(r.failure)}`)
  return r.success
}
const err = <A, E extends { readonly reason: string }>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected failure")
  return r.failure
}

/** Ethernet → IPv4 views and Reprs of a frame. */
const ipv4Of = (frame: Uint8Array) => {
  const eth = ok(EthernetFrame.parse(frame))
  assert.equal(eth.etherType(), EtherType.Ipv4)
  const pkt = ok(Ipv4Packet.parse(eth.payload()))
  return { eth, ethRepr: ok(EthernetRepr.parse(eth)), pkt, repr: ok(Ipv4Repr.parse(pkt, ALL)) }
}

/** Independently checks an IPv4 header checksum: recompute it over the header with the field zeroed. */
const assertIpv4Checksum = (pkt: Ipv4Packet, expected: number) => {
  assert.equal(pkt.checksum(), expected)
  const header = pkt.buffer.subarray(0, pkt.headerLen())
  assert.equal(naiveChecksum(zeroField(header, 10)), expected)
  assert.ok(pkt.verifyChecksum())
}

/** Builds Ethernet + IPv4 header + `l4Len` bytes written by `l4`, for comparison with a golden frame. */
const emitFrame = (
  ethRepr: EthernetRepr,
  ipRepr: Ipv4Repr,
  l4Len: number,
  l4: (buf: Uint8Array) => void,
): Uint8Array => {
  const out = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + l4Len)
  EthernetRepr.emit(ethRepr, out)
  Ipv4Repr.emit(ipRepr, out.subarray(ETHERNET_HEADER_LEN), ALL)
  l4(out.subarray(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN))
  return out
}

// arp -n; ping 10.0.2.2 → "ARP, Request who-has 10.0.2.2 tell 10.0.2.15, length 46" (padded to 60 by the NIC)
const ARP_WHO_HAS = hex(
  "ffffffffffff 525400123456 0806" +
    "0001 0800 06 04 0001 525400123456 0a00020f 000000000000 0a000202" +
    "000000000000000000000000000000000000",
)

// ping -c1 8.8.8.8 (iputils): 56 data bytes = struct timeval (16 bytes, little-endian) + 0x10..0x37
const PING_DATA =
  "00f1536500000000 40e2010000000000 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
const PING = hex(
  "52550a000202 525400123456 0800" +
    "4500 0054 a1b2 4000 40 01 7cd8 0a00020f 08080808" +
    "08 00 86c9 1c2a 0001" + PING_DATA,
)
const PONG = hex(
  "525400123456 52550a000202 0800" +
    "4500 0054 0000 0000 75 01 298b 08080808 0a00020f" +
    "00 00 8ec9 1c2a 0001" + PING_DATA,
)

// dig +noedns example.com @8.8.8.8 — odd-length UDP payload (29 bytes)
const DNS_QUERY = hex(
  "52550a000202 525400123456 0800" +
    "4500 0039 3c4d 4000 40 11 e248 0a00020f 08080808" +
    "d431 0035 0025 2d7d" +
    "1234 0100 0001 0000 0000 0000 076578616d706c6503636f6d00 0001 0001",
)

// curl http://93.184.216.34/ — Linux SYN: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7
const TCP_SYN = hex(
  "52550a000202 525400123456 0800" +
    "4500 003c 7e10 4000 40 06 7ac2 0a00020f 5db8d822" +
    "b26e 0050 5c3e9a71 00000000 a0 02 faf0 bb4e 0000" +
    "020405b4 0402 080a 8a3b1c2d 00000000 01 030307",
)
const TCP_SYN_ACK = hex(
  "525400123456 52550a000202 0800" +
    "4500 003c 0000 4000 36 06 02d3 5db8d822 0a00020f" +
    "0050 b26e d00dfeed 5c3e9a72 a0 12 fe88 7ffd 0000" +
    "020405b4 0402 080a 12345678 8a3b1c2d 01 030307",
)

// 802.1Q VLAN 100, PCP 5: syslog over UDP, frame padded to 64 bytes
const VLAN_UDP = hex(
  "001b213a4f01 001b213a4f02 8100 a064 0800" +
    "4500 0023 0102 4000 40 11 f06b c0a8640a c0a86401" +
    "9c40 0202 000f 3658 3c31333e68690a" +
    "0000000000000000000000",
)

// IGMPv2 membership report for 224.0.0.251 with the IP Router Alert option (RFC 2113), TOS 0xc0
const IGMP_ROUTER_ALERT = hex(
  "01005e0000fb 525400123456 0800" +
    "46c0 0020 0000 4000 01 02 f70d 0a00020f e00000fb 94040000" +
    "1600 0904 e00000fb" +
    "0000000000000000000000000000",
)

// ping -R 10.0.2.2: IHL 15 with an (empty) Record Route option and EOL
const PING_RECORD_ROUTE = hex(
  "52550a000202 525400123456 0800" +
    "4f00 007c 4455 4000 40 01 c8f4 0a00020f 0a000202" +
    "072704 000000000000000000000000000000000000000000000000000000000000000000000000 00" +
    "08 00 86c6 1c2b 0003" + PING_DATA,
)

// ICMP port unreachable from 8.8.8.8 quoting the whole DNS query datagram
const PORT_UNREACHABLE = hex(
  "525400123456 52550a000202 0800" +
    "4500 0055 9999 0000 40 01 c4f0 08080808 0a00020f" +
    "03 03 1952 00000000" +
    "4500 0039 3c4d 4000 40 11 e248 0a00020f 08080808 d431 0035 0025 2d7d" +
    "1234 0100 0001 0000 0000 0000 076578616d706c6503636f6d00 0001 0001",
)

describe("golden: ARP who-has", () => {
  it("parses every field, ignores the padding, re-emits the same bytes", () => {
    const eth = ok(EthernetFrame.parse(ARP_WHO_HAS))
    assert.equal(eth.dstAddr(), MacAddress.BROADCAST)
    assert.equal(eth.srcAddr(), mac("52:54:00:12:34:56"))
    assert.equal(eth.etherType(), EtherType.Arp)
    assert.equal(eth.vlanId(), undefined)
    assert.equal(eth.headerLen(), 14)
    assert.equal(eth.payload().length, 46)
    const pkt = ok(ArpPacket.parse(eth.payload()))
    const repr = ok(ArpRepr.parse(pkt))
    assert.deepEqual(repr, {
      operation: 1,
      senderHardwareAddr: mac("52:54:00:12:34:56"),
      senderProtocolAddr: ip("10.0.2.15"),
      targetHardwareAddr: MacAddress.ZERO,
      targetProtocolAddr: ip("10.0.2.2"),
    })
    const out = new Uint8Array(14 + ArpRepr.bufferLen(repr))
    EthernetRepr.emit(ok(EthernetRepr.parse(eth)), out)
    ArpRepr.emit(repr, out.subarray(14))
    assert.equal(toHex(out), toHex(ARP_WHO_HAS.subarray(0, 42)))
  })
})

describe("golden: ICMP echo (Linux ping)", () => {
  it("request: every field, both checksums, data is a view, re-emit is byte-equal", () => {
    const { ethRepr, pkt, repr } = ipv4Of(PING)
    assert.equal(pkt.version(), 4)
    assert.equal(pkt.headerLen(), 20)
    assert.equal(pkt.dscp(), 0)
    assert.equal(pkt.ecn(), 0)
    assert.equal(pkt.totalLen(), 84)
    assertIpv4Checksum(pkt, 0x7cd8)
    assert.deepEqual(repr, {
      srcAddr: ip("10.0.2.15"),
      dstAddr: ip("8.8.8.8"),
      protocol: IpProtocol.Icmp,
      payloadLen: 64,
      ttl: 64,
      identification: 0xa1b2,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
    })
    const icmp = ok(Icmpv4Packet.parse(pkt.payload()))
    assert.equal(icmp.checksum(), 0x86c9)
    assert.equal(naiveChecksum(zeroField(icmp.buffer, 2)), 0x86c9)
    const msg = ok(Icmpv4Repr.parse(icmp, ALL))
    assert.equal(msg._tag, "EchoRequest")
    if (msg._tag !== "EchoRequest") return
    assert.equal(msg.ident, 0x1c2a)
    assert.equal(msg.seqNo, 1)
    assert.equal(msg.data.length, 56)
    assert.equal(msg.data.buffer, PING.buffer) // a view, not a copy
    assert.equal(msg.data.byteOffset, PING.byteOffset + 14 + 20 + 8)
    assert.deepEqual(Array.from(msg.data.subarray(16)), Array.from({ length: 40 }, (_, i) => 0x10 + i))
    const out = emitFrame(ethRepr, repr, Icmpv4Repr.bufferLen(msg), (b) => Icmpv4Repr.emit(msg, b, ALL))
    assert.equal(toHex(out), toHex(PING))
  })

  it("reply: echoes ident, sequence and data; re-emit is byte-equal", () => {
    const { ethRepr, pkt, repr } = ipv4Of(PONG)
    assertIpv4Checksum(pkt, 0x298b)
    assert.equal(repr.ttl, 117)
    assert.equal(repr.dontFragment, false)
    const msg = ok(Icmpv4Repr.parse(ok(Icmpv4Packet.parse(pkt.payload())), ALL))
    assert.equal(naiveChecksum(zeroField(pkt.payload(), 2)), 0x8ec9)
    assert.equal(msg._tag, "EchoReply")
    if (msg._tag !== "EchoReply") return
    assert.equal(msg.ident, 0x1c2a)
    assert.equal(msg.seqNo, 1)
    const out = emitFrame(ethRepr, repr, Icmpv4Repr.bufferLen(msg), (b) => Icmpv4Repr.emit(msg, b, ALL))
    assert.equal(toHex(out), toHex(PONG))
  })
})

describe("golden: UDP DNS query", () => {
  it("parses ports, length and an odd-length payload; checksum over the pseudo-header", () => {
    const { ethRepr, pkt, repr } = ipv4Of(DNS_QUERY)
    assertIpv4Checksum(pkt, 0xe248)
    assert.equal(repr.protocol, IpProtocol.Udp)
    assert.equal(repr.payloadLen, 37)
    const udp = ok(UdpPacket.parse(pkt.payload()))
    assert.equal(udp.srcPort(), 54321)
    assert.equal(udp.dstPort(), 53)
    assert.equal(udp.length(), 37)
    assert.equal(udp.checksum(), 0x2d7d)
    assert.equal(naiveChecksum(pseudoHeader(repr.srcAddr, repr.dstAddr, 17, 37), zeroField(udp.buffer, 6)), 0x2d7d)
    const dgram = ok(UdpRepr.parse(udp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, udp.length()), ALL))
    assert.equal(dgram.payload.length, 29)
    assert.equal(u16(dgram.payload, 0), 0x1234) // DNS id
    assert.equal(new TextDecoder().decode(dgram.payload.subarray(13, 20)), "example")
    const out = emitFrame(
      ethRepr,
      repr,
      UdpRepr.bufferLen(dgram),
      (b) => UdpRepr.emit(dgram, b, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, b.length), ALL),
    )
    assert.equal(toHex(out), toHex(DNS_QUERY))
  })

  it("a wrong checksum is BadChecksum when verifying, accepted when offloaded", () => {
    const bad = DNS_QUERY.slice()
    bad[bad.length - 1] ^= 1
    const { pkt, repr } = ipv4Of(bad)
    const udp = ok(UdpPacket.parse(pkt.payload()))
    assert.equal(
      err(UdpRepr.parse(udp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, udp.length()), ALL)).reason,
      "BadChecksum",
    )
    ok(UdpRepr.parse(udp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, udp.length()), OFF))
    ok(UdpRepr.parse(udp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, udp.length()), { ...ALL, udp: "tx" }))
  })
})

describe("golden: TCP handshake from Linux", () => {
  it("SYN: header, every option in Linux order, checksum, byte-equal re-emit", () => {
    const { ethRepr, pkt, repr } = ipv4Of(TCP_SYN)
    assertIpv4Checksum(pkt, 0x7ac2)
    assert.equal(repr.protocol, IpProtocol.Tcp)
    const tcp = ok(TcpPacket.parse(pkt.payload()))
    assert.equal(tcp.headerLen(), 40)
    assert.equal(tcp.syn(), true)
    assert.equal(tcp.ack(), false)
    assert.equal(tcp.flags(), TcpFlags.SYN)
    assert.equal(tcp.checksum(), 0xbb4e)
    assert.equal(naiveChecksum(pseudoHeader(repr.srcAddr, repr.dstAddr, 6, 40), zeroField(tcp.buffer, 16)), 0xbb4e)
    assert.equal(tcp.options().length, 20)
    const seg = ok(TcpRepr.parse(tcp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 6, tcp.buffer.length), ALL))
    assert.deepEqual({ ...seg, payload: Array.from(seg.payload) }, {
      srcPort: 45678,
      dstPort: 80,
      seqNumber: 0x5c3e9a71,
      ackNumber: 0,
      flags: TcpFlags.SYN,
      windowLen: 64240,
      urgentPointer: 0,
      options: {
        mss: 1460,
        windowScale: 7,
        sackPermitted: true,
        sackBlocks: [],
        timestamps: { tsVal: 0x8a3b1c2d, tsEcr: 0 },
      },
      payload: [],
    })
    assert.equal(TcpRepr.headerLen(seg), 40)
    const out = emitFrame(
      ethRepr,
      repr,
      TcpRepr.bufferLen(seg),
      (b) => TcpRepr.emit(seg, b, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 6, b.length), ALL),
    )
    assert.equal(toHex(out), toHex(TCP_SYN))
  })

  it("SYN-ACK: acknowledges seq+1, echoes TSval, byte-equal re-emit", () => {
    const { ethRepr, pkt, repr } = ipv4Of(TCP_SYN_ACK)
    assertIpv4Checksum(pkt, 0x02d3)
    assert.equal(repr.ttl, 54)
    assert.equal(repr.identification, 0)
    const tcp = ok(TcpPacket.parse(pkt.payload()))
    assert.equal(naiveChecksum(pseudoHeader(repr.srcAddr, repr.dstAddr, 6, 40), zeroField(tcp.buffer, 16)), 0x7ffd)
    const seg = ok(TcpRepr.parse(tcp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 6, tcp.buffer.length), ALL))
    assert.equal(seg.seqNumber, 0xd00dfeed)
    assert.equal(seg.ackNumber, 0x5c3e9a72)
    assert.equal(seg.flags, TcpFlags.SYN | TcpFlags.ACK)
    assert.equal(seg.windowLen, 65160)
    assert.deepEqual(seg.options.timestamps, { tsVal: 0x12345678, tsEcr: 0x8a3b1c2d })
    assert.equal(seg.options.mss, 1460)
    assert.equal(seg.options.windowScale, 7)
    assert.equal(seg.options.sackPermitted, true)
    const out = emitFrame(
      ethRepr,
      repr,
      TcpRepr.bufferLen(seg),
      (b) => TcpRepr.emit(seg, b, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 6, b.length), ALL),
    )
    assert.equal(toHex(out), toHex(TCP_SYN_ACK))
  })

  it("a corrupted SYN is BadChecksum when verifying, parsed when offloaded", () => {
    const bad = TCP_SYN.slice()
    bad[14 + 20 + 4] ^= 0x80 // sequence number
    const { pkt, repr } = ipv4Of(bad)
    const tcp = ok(TcpPacket.parse(pkt.payload()))
    assert.equal(
      err(TcpRepr.parse(tcp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 6, tcp.buffer.length), ALL)).reason,
      "BadChecksum",
    )
    assert.equal(
      ok(TcpRepr.parse(tcp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 6, tcp.buffer.length), OFF)).seqNumber,
      0xdc3e9a71,
    )
  })
})

describe("golden: 802.1Q-tagged frame", () => {
  it("skips the tag: inner EtherType, VID, priority, payload after the tag; emits untagged", () => {
    const eth = ok(EthernetFrame.parse(VLAN_UDP))
    assert.equal(eth.isVlanTagged(), true)
    assert.equal(eth.vlanId(), 100)
    assert.equal(eth.vlanPriority(), 5)
    assert.equal(eth.etherType(), EtherType.Ipv4)
    assert.equal(eth.headerLen(), 18)
    assert.equal(eth.dstAddr(), mac("00:1b:21:3a:4f:01"))
    assert.equal(eth.srcAddr(), mac("00:1b:21:3a:4f:02"))
    const pkt = ok(Ipv4Packet.parse(eth.payload()))
    assertIpv4Checksum(pkt, 0xf06b)
    assert.equal(pkt.payload().length, 15) // the 11 bytes of frame padding are trimmed
    const repr = ok(Ipv4Repr.parse(pkt, ALL))
    const udp = ok(UdpPacket.parse(pkt.payload()))
    assert.equal(naiveChecksum(pseudoHeader(repr.srcAddr, repr.dstAddr, 17, 15), zeroField(udp.buffer, 6)), 0x3658)
    const dgram = ok(UdpRepr.parse(udp, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, udp.length()), ALL))
    assert.deepEqual({ ...dgram, payload: new TextDecoder().decode(dgram.payload) }, {
      srcPort: 40000,
      dstPort: 514,
      payload: "<13>hi\n",
    })
    const ethRepr = ok(EthernetRepr.parse(eth))
    assert.deepEqual(ethRepr, {
      srcAddr: mac("00:1b:21:3a:4f:02"),
      dstAddr: mac("00:1b:21:3a:4f:01"),
      etherType: EtherType.Ipv4,
    })
    const out = emitFrame(
      ethRepr,
      repr,
      UdpRepr.bufferLen(dgram),
      (b) => UdpRepr.emit(dgram, b, pseudoHeaderSum(repr.srcAddr, repr.dstAddr, 17, b.length), ALL),
    )
    // untagged on emit: the same bytes without the 4-byte tag and without padding
    const untagged = new Uint8Array(14 + 35)
    untagged.set(VLAN_UDP.subarray(0, 12))
    untagged.set(VLAN_UDP.subarray(16, 18 + 35), 12)
    assert.equal(toHex(out), toHex(untagged))
  })

  it("a tagged frame cut inside the tag is Truncated", () => {
    assert.equal(err(EthernetFrame.parse(VLAN_UDP.subarray(0, 17))).reason, "Truncated")
    ok(EthernetFrame.parse(VLAN_UDP.subarray(0, 18)))
  })
})

describe("golden: IPv4 with options", () => {
  it("IGMP with Router Alert: IHL 6, options skipped, payload trimmed to total length", () => {
    const { pkt, repr } = ipv4Of(IGMP_ROUTER_ALERT)
    assert.equal(pkt.headerLen(), 24)
    assert.equal(pkt.dscp(), 48)
    assert.equal(pkt.ecn(), 0)
    assert.equal(toHex(pkt.options()), "94040000")
    assertIpv4Checksum(pkt, 0xf70d)
    assert.deepEqual(repr, {
      srcAddr: ip("10.0.2.15"),
      dstAddr: ip("224.0.0.251"),
      protocol: 2,
      payloadLen: 8,
      ttl: 1,
      identification: 0,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
    })
    assert.equal(toHex(pkt.payload()), "16000904e00000fb")
    assert.equal(naiveChecksum(zeroField(pkt.payload(), 2)), 0x0904)
    // re-emitted without options: same Repr, and a header that verifies
    const out = new Uint8Array(20 + repr.payloadLen)
    Ipv4Repr.emit(repr, out, ALL)
    out.set(pkt.payload(), 20)
    const again = ok(Ipv4Packet.parse(out))
    assert.deepEqual(ok(Ipv4Repr.parse(again, ALL)), repr)
    assert.equal(toHex(again.payload()), toHex(pkt.payload()))
  })

  it("ping -R: IHL 15 (40 option bytes), the ICMP message after them parses", () => {
    const { pkt, repr } = ipv4Of(PING_RECORD_ROUTE)
    assert.equal(pkt.headerLen(), 60)
    assert.equal(pkt.options().length, 40)
    assert.equal(toHex(pkt.options().subarray(0, 3)), "072704")
    assertIpv4Checksum(pkt, 0xc8f4)
    assert.equal(repr.payloadLen, 64)
    const icmp = ok(Icmpv4Packet.parse(pkt.payload()))
    assert.equal(naiveChecksum(zeroField(icmp.buffer, 2)), 0x86c6)
    const msg = ok(Icmpv4Repr.parse(icmp, ALL))
    assert.equal(msg._tag, "EchoRequest")
    if (msg._tag === "EchoRequest") assert.equal(msg.seqNo, 3)
  })

  it("a corrupted option byte is BadChecksum when verifying", () => {
    const bad = PING_RECORD_ROUTE.slice()
    bad[14 + 20 + 10] = 1
    const pkt = ok(Ipv4Packet.parse(ok(EthernetFrame.parse(bad)).payload()))
    assert.equal(err(Ipv4Repr.parse(pkt, ALL)).reason, "BadChecksum")
    ok(Ipv4Repr.parse(pkt, OFF))
  })
})

describe("golden: ICMP port unreachable", () => {
  it("carries the code and the quoted datagram, which parses down to UDP port 53", () => {
    const { ethRepr, pkt, repr } = ipv4Of(PORT_UNREACHABLE)
    assertIpv4Checksum(pkt, 0xc4f0)
    const icmp = ok(Icmpv4Packet.parse(pkt.payload()))
    assert.equal(naiveChecksum(zeroField(icmp.buffer, 2)), 0x1952)
    const msg = ok(Icmpv4Repr.parse(icmp, ALL))
    assert.equal(msg._tag, "DstUnreachable")
    if (msg._tag !== "DstUnreachable") return
    assert.equal(msg.code, 3)
    assert.equal(toHex(msg.data), toHex(DNS_QUERY.subarray(14)))
    const quoted = ok(Ipv4Packet.parse(msg.data))
    const quotedRepr = ok(Ipv4Repr.parse(quoted, ALL))
    assert.equal(quotedRepr.dstAddr, ip("8.8.8.8"))
    const udp = ok(UdpPacket.parse(quoted.payload()))
    assert.equal(udp.dstPort(), 53)
    const out = emitFrame(ethRepr, repr, Icmpv4Repr.bufferLen(msg), (b) => Icmpv4Repr.emit(msg, b, ALL))
    assert.equal(toHex(out), toHex(PORT_UNREACHABLE))
  })
})
