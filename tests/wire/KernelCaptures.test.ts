/**
 * Golden tests from real Linux captures: every frame of `fixtures/kernel-captures.ts` (produced by the kernel in two
 * network namespaces and captured with tcpdump, see `fixtures/capture-kernel.sh`) goes through the whole codec
 * chain, Ethernet → ARP / IPv4 → ICMPv4 / UDP / TCP, with checksum verification on (`ChecksumCapabilities.all`);
 * the fields that the capture script fixes are asserted (addresses, MACs, ports, ping identifiers, payloads, MSS
 * 1460 on a 1500-byte veth, window scale, SACK-permitted, timestamps, fragment offsets, the ICMP quoted datagram,
 * VLAN 7), and so are the relations between frames (sequence/acknowledgment numbers, echoed timestamps). The
 * random parts of a capture (ISNs, timestamps, IP identification) are never asserted as values, so a regenerated
 * fixture passes unchanged.
 *
 * Every Repr is re-emitted and compared byte for byte with the captured frame. Where a Repr cannot carry a field
 * the comparison is made against the captured frame with that field normalised, and the test says so:
 * - `EthernetRepr` has no 802.1Q tag: the VLAN frames are compared without their 4-byte tag;
 * - `Ipv4Repr` has no TOS byte (it emits DSCP 0, ECN 0) and no options (it emits IHL 5): the frames with a TOS
 *   (ping -Q 0xb8, and the kernel's ICMP errors, sent with TOS 0xc0) or with the record-route option are compared
 *   with a header rebuilt without them (and its checksum recomputed by the naive reference checksum); the TOS case
 *   is also checked the other way round, by patching DSCP/ECN into the emitted header (`setDscp`, `fillChecksum`).
 * Only the frames listed in `NORMALISED` may need that; for every other frame the emitted bytes are the captured
 * bytes.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Result from "effect/Result"
import { ARP_PACKET_LEN, ArpPacket, ArpRepr } from "../../src/wire/Arp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, EtherType } from "../../src/wire/Ethernet.ts"
import { Icmpv4Packet, Icmpv4Repr } from "../../src/wire/Icmpv4.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { TCP_HEADER_LEN, TcpFlags, TcpPacket, TcpRepr } from "../../src/wire/Tcp.ts"
import { UdpPacket, UdpRepr } from "../../src/wire/Udp.ts"
import * as K from "./fixtures/kernel-captures.ts"
import { hex, naiveChecksum, pseudoHeader, toHex, u16, zeroField } from "./_support.ts"

const ALL = ChecksumCapabilities.all
const OFF = ChecksumCapabilities.offload
const S = K.CAPTURE_SETUP
const ip = (s: string): Ipv4Address => {
  const a = Ipv4Address.parse(s)
  assert.ok(a !== undefined, `bad address ${s}`)
  return a
}
const mac = (s: string): MacAddress => {
  const m = MacAddress.parse(s)
  assert.ok(m !== undefined, `bad MAC ${s}`)
  return m
}
const IP_A = ip(S.ipA)
const IP_B = ip(S.ipB)
const VLAN_IP_A = ip(S.vlanIpA)
const VLAN_IP_B = ip(S.vlanIpB)
const MAC_A = mac(S.macA)
const MAC_B = mac(S.macB)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

const ok = <A, E>(r: Result.Result<A, E>, what = ""): A => {
  if (Result.isFailure(r)) assert.fail(`${what}: expected success, got ${String(r.failure)}`)
  return r.success
}
const err = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected failure")
  return r.failure
}

/** Frames whose captured bytes carry something a Repr cannot (see the module doc), with the reason. */
const NORMALISED: Readonly<Record<string, string>> = {
  DSCP_PING_REQUEST: "TOS 0xb8",
  DSCP_PING_REPLY: "TOS 0xb8",
  RR_PING_REQUEST: "IPv4 record-route option",
  RR_PING_REPLY: "IPv4 record-route option",
  UDP_PORT_UNREACHABLE: "TOS 0xc0 (the kernel's ICMP errors)",
  VLAN_ARP_REQUEST: "802.1Q tag",
  VLAN_ARP_REPLY: "802.1Q tag",
  VLAN_PING_REQUEST: "802.1Q tag",
  VLAN_PING_REPLY: "802.1Q tag",
}

// ---------------------------------------------------------------------------------------------------------------
// The whole chain: decode a frame into Reprs, encode the Reprs back into a frame

type L4 =
  | { readonly _tag: "Icmp"; readonly repr: Icmpv4Repr }
  | { readonly _tag: "Udp"; readonly repr: UdpRepr }
  | { readonly _tag: "Tcp"; readonly repr: TcpRepr; readonly packet: TcpPacket }
  | { readonly _tag: "Fragment"; readonly bytes: Uint8Array }

interface ArpDecoded {
  readonly _tag: "Arp"
  readonly eth: EthernetFrame
  readonly ethRepr: EthernetRepr
  readonly arp: ArpRepr
}
interface Ipv4Decoded {
  readonly _tag: "Ipv4"
  readonly eth: EthernetFrame
  readonly ethRepr: EthernetRepr
  readonly packet: Ipv4Packet
  readonly ip: Ipv4Repr
  readonly l4: L4
}
type Decoded = ArpDecoded | Ipv4Decoded

const isFragment = (r: Ipv4Repr): boolean => r.moreFragments || r.fragmentOffset > 0

/** Parses a frame all the way down, verifying every checksum. Fragments keep their payload as bytes. */
const decode = (frame: Uint8Array): Decoded => {
  const eth = ok(EthernetFrame.parse(frame), "Ethernet")
  const ethRepr = ok(EthernetRepr.parse(eth), "EthernetRepr")
  if (ethRepr.etherType === EtherType.Arp) {
    const arpPacket = ok(ArpPacket.parse(eth.payload()), "ARP")
    assert.equal(eth.payload().length, ARP_PACKET_LEN) // veth does not pad to 60 bytes
    return { _tag: "Arp", eth, ethRepr, arp: ok(ArpRepr.parse(arpPacket), "ArpRepr") }
  }
  assert.equal(ethRepr.etherType, EtherType.Ipv4)
  const packet = ok(Ipv4Packet.parse(eth.payload()), "IPv4")
  assert.equal(packet.totalLen(), eth.payload().length) // no link padding on veth
  assert.equal(naiveChecksum(zeroField(packet.buffer.subarray(0, packet.headerLen()), 10)), packet.checksum())
  const ipRepr = ok(Ipv4Repr.parse(packet, ALL), "Ipv4Repr")
  const payload = packet.payload()
  let l4: L4
  if (isFragment(ipRepr)) {
    l4 = { _tag: "Fragment", bytes: payload }
  } else if (ipRepr.protocol === IpProtocol.Icmp) {
    l4 = { _tag: "Icmp", repr: ok(Icmpv4Repr.parse(ok(Icmpv4Packet.parse(payload), "ICMP"), ALL), "Icmpv4Repr") }
  } else if (ipRepr.protocol === IpProtocol.Udp) {
    const udp = ok(UdpPacket.parse(payload), "UDP")
    l4 = {
      _tag: "Udp",
      repr: ok(UdpRepr.parse(udp, pseudoHeaderSum(ipRepr.srcAddr, ipRepr.dstAddr, 17, udp.length()), ALL), "UdpRepr"),
    }
  } else {
    assert.equal(ipRepr.protocol, IpProtocol.Tcp)
    const tcp = ok(TcpPacket.parse(payload), "TCP")
    l4 = {
      _tag: "Tcp",
      packet: tcp,
      repr: ok(
        TcpRepr.parse(tcp, pseudoHeaderSum(ipRepr.srcAddr, ipRepr.dstAddr, 6, tcp.buffer.length), ALL),
        "TcpRepr",
      ),
    }
  }
  return { _tag: "Ipv4", eth, ethRepr, packet, ip: ipRepr, l4 }
}

const l4Len = (l4: L4): number => {
  switch (l4._tag) {
    case "Icmp":
      return Icmpv4Repr.bufferLen(l4.repr)
    case "Udp":
      return UdpRepr.bufferLen(l4.repr)
    case "Tcp":
      return TcpRepr.bufferLen(l4.repr)
    case "Fragment":
      return l4.bytes.length
  }
}

/** Emits the Reprs of a decoded frame into a fresh buffer (untagged Ethernet, IPv4 without options). */
const encode = (d: Decoded): Uint8Array => {
  if (d._tag === "Arp") {
    const out = new Uint8Array(ETHERNET_HEADER_LEN + ArpRepr.bufferLen(d.arp))
    EthernetRepr.emit(d.ethRepr, out)
    ArpRepr.emit(d.arp, out.subarray(ETHERNET_HEADER_LEN))
    return out
  }
  const n = l4Len(d.l4)
  assert.equal(n, d.ip.payloadLen)
  const out = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + n)
  EthernetRepr.emit(d.ethRepr, out)
  Ipv4Repr.emit(d.ip, out.subarray(ETHERNET_HEADER_LEN), ALL)
  const l4 = out.subarray(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN)
  const { srcAddr, dstAddr } = d.ip
  switch (d.l4._tag) {
    case "Icmp":
      Icmpv4Repr.emit(d.l4.repr, l4, ALL)
      break
    case "Udp":
      UdpRepr.emit(d.l4.repr, l4, pseudoHeaderSum(srcAddr, dstAddr, 17, l4.length), ALL)
      break
    case "Tcp":
      TcpRepr.emit(d.l4.repr, l4, pseudoHeaderSum(srcAddr, dstAddr, 6, l4.length), ALL)
      break
    case "Fragment":
      l4.set(d.l4.bytes)
      break
  }
  return out
}

/**
 * The captured frame as the Reprs can reproduce it: without an 802.1Q tag, and with an IPv4 header rebuilt without
 * options and TOS (IHL 5, total length reduced by the option bytes, checksum recomputed with the naive reference).
 */
const normalise = (frame: Uint8Array): Uint8Array => {
  const eth = ok(EthernetFrame.parse(frame))
  const body = eth.payload()
  const etherType = eth.etherType()
  if (etherType !== EtherType.Ipv4) {
    const out = new Uint8Array(ETHERNET_HEADER_LEN + body.length)
    out.set(frame.subarray(0, 12))
    out[12] = etherType >>> 8
    out[13] = etherType & 0xff
    out.set(body, ETHERNET_HEADER_LEN)
    return out
  }
  const headerLen = (body[0] & 0x0f) * 4
  const total = u16(body, 2)
  const out = new Uint8Array(ETHERNET_HEADER_LEN + total - (headerLen - IPV4_HEADER_LEN))
  out.set(frame.subarray(0, 12))
  out[12] = 0x08
  out[13] = 0x00
  const header = out.subarray(ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + IPV4_HEADER_LEN)
  header.set(body.subarray(0, IPV4_HEADER_LEN))
  header[0] = 0x45
  header[1] = 0 // TOS
  const newTotal = total - (headerLen - IPV4_HEADER_LEN)
  header[2] = newTotal >>> 8
  header[3] = newTotal & 0xff
  header[10] = 0
  header[11] = 0
  const c = naiveChecksum(header)
  header[10] = c >>> 8
  header[11] = c & 0xff
  out.set(body.subarray(headerLen, total), ETHERNET_HEADER_LEN + IPV4_HEADER_LEN)
  return out
}

const frame = (h: string): Uint8Array => hex(h)
const ipv4 = (h: string): Ipv4Decoded => {
  const d = decode(frame(h))
  assert.equal(d._tag, "Ipv4")
  return d as Ipv4Decoded
}
const arpOf = (h: string): ArpDecoded => {
  const d = decode(frame(h))
  assert.equal(d._tag, "Arp")
  return d as ArpDecoded
}
const icmpOf = (h: string): { readonly d: Ipv4Decoded; readonly msg: Icmpv4Repr } => {
  const d = ipv4(h)
  assert.equal(d.l4._tag, "Icmp")
  return { d, msg: (d.l4 as { readonly repr: Icmpv4Repr }).repr }
}
const tcpOf = (h: string): { readonly d: Ipv4Decoded; readonly seg: TcpRepr; readonly packet: TcpPacket } => {
  const d = ipv4(h)
  assert.equal(d.l4._tag, "Tcp")
  const l4 = d.l4 as { readonly repr: TcpRepr; readonly packet: TcpPacket }
  return { d, seg: l4.repr, packet: l4.packet }
}
const echoOf = (msg: Icmpv4Repr): { readonly ident: number; readonly seqNo: number; readonly data: Uint8Array } => {
  assert.ok(msg._tag === "EchoRequest" || msg._tag === "EchoReply", `not an echo: ${msg._tag}`)
  return msg
}
/** iputils ping data: a 16-byte struct timeval, then byte i = i & 0xff. */
const assertPingData = (data: Uint8Array, size: number) => {
  assert.equal(data.length, size)
  for (let i = 16; i < size; i++) if (data[i] !== (i & 0xff)) assert.fail(`ping data byte ${i} is ${data[i]}`)
}
const assertEthernet = (d: Decoded, src: MacAddress, dst: MacAddress) => {
  assert.equal(d.ethRepr.srcAddr, src)
  assert.equal(d.ethRepr.dstAddr, dst)
}
const assertIpv4 = (
  d: Ipv4Decoded,
  expected: Partial<Ipv4Repr> & Pick<Ipv4Repr, "srcAddr" | "dstAddr" | "protocol">,
) => {
  assert.equal(d.ip.ttl, 64) // Linux default_ttl
  for (const [k, v] of Object.entries(expected)) assert.equal(d.ip[k as keyof Ipv4Repr], v, `IPv4 ${k}`)
}

// ---------------------------------------------------------------------------------------------------------------

describe("kernel captures: the fixture", () => {
  it("holds every frame the capture script names, in capture order, with no strays", () => {
    const names = K.KERNEL_CAPTURE.map((f) => f.name)
    assert.equal(names.filter((n) => n.startsWith("OTHER_")).length, 0, `unexpected frames: ${names.join(" ")}`)
    for (const n of Object.keys(NORMALISED)) assert.ok(names.includes(n), `missing ${n}`)
    assert.equal(new Set(names).size, names.length)
    assert.equal(S.vlanId, 7)
    assert.match(S.kernel, /^\d+\.\d+/)
  })
})

describe("kernel captures: every frame through the whole chain, checksums verified, re-emitted", () => {
  for (const { name, hex: h } of K.KERNEL_CAPTURE) {
    it(name, () => {
      const captured = frame(h)
      const out = encode(decode(captured))
      const expected = normalise(captured)
      if (name in NORMALISED) {
        assert.notEqual(toHex(expected), toHex(captured), `${name} should differ in: ${NORMALISED[name]}`)
      } else {
        assert.equal(toHex(expected), toHex(captured), `${name} is not expected to need normalising`)
      }
      assert.equal(toHex(out), toHex(expected))
    })
  }
})

describe("kernel captures: ARP", () => {
  it("who-has from a: broadcast, sender a, target hardware address zero, target b; reply from b", () => {
    const req = arpOf(K.ARP_REQUEST)
    assertEthernet(req, MAC_A, MacAddress.BROADCAST)
    assert.equal(req.eth.isVlanTagged(), false)
    assert.deepEqual(req.arp, {
      operation: 1,
      senderHardwareAddr: MAC_A,
      senderProtocolAddr: IP_A,
      targetHardwareAddr: MacAddress.ZERO,
      targetProtocolAddr: IP_B,
    })
    const rep = arpOf(K.ARP_REPLY)
    assertEthernet(rep, MAC_B, MAC_A)
    assert.deepEqual(rep.arp, {
      operation: 2,
      senderHardwareAddr: MAC_B,
      senderProtocolAddr: IP_B,
      targetHardwareAddr: MAC_A,
      targetProtocolAddr: IP_A,
    })
  })
})

describe("kernel captures: ICMP echo", () => {
  it("ping -s 56: request a → b with DF, reply b → a without DF, same ident/seq/data", () => {
    const { d: rq, msg: mq } = icmpOf(K.PING_REQUEST)
    assertEthernet(rq, MAC_A, MAC_B)
    assertIpv4(rq, {
      srcAddr: IP_A,
      dstAddr: IP_B,
      protocol: IpProtocol.Icmp,
      payloadLen: 64,
      dontFragment: true, // IP_PMTUDISC_WANT: DF on what fits
      moreFragments: false,
      fragmentOffset: 0,
    })
    assert.equal(mq._tag, "EchoRequest")
    const q = echoOf(mq)
    assert.equal(q.ident, S.pingIdent)
    assert.equal(q.seqNo, 1)
    assertPingData(q.data, 56)
    const { d: rp, msg: mp } = icmpOf(K.PING_REPLY)
    assertEthernet(rp, MAC_B, MAC_A)
    assertIpv4(rp, { srcAddr: IP_B, dstAddr: IP_A, protocol: IpProtocol.Icmp, payloadLen: 64, dontFragment: false })
    assert.equal(mp._tag, "EchoReply")
    const p = echoOf(mp)
    assert.deepEqual([p.ident, p.seqNo, toHex(p.data)], [q.ident, q.seqNo, toHex(q.data)])
  })

  it("ping -Q 0xb8: DSCP 46 (EF) on request and reply; the Repr drops it, patching it back gives the capture", () => {
    for (const h of [K.DSCP_PING_REQUEST, K.DSCP_PING_REPLY]) {
      const { d, msg } = icmpOf(h)
      assert.equal(d.packet.dscp(), 46)
      assert.equal(d.packet.ecn(), 0)
      assert.equal(echoOf(msg).ident, S.dscpPingIdent)
      const out = encode(d)
      const header = new Ipv4Packet(out.subarray(ETHERNET_HEADER_LEN))
      assert.equal(header.dscp(), 0) // Ipv4Repr writes DSCP 0, ECN 0
      header.setDscp(46)
      header.fillChecksum()
      assert.equal(toHex(out), h)
    }
  })
})

describe("kernel captures: IPv4 fragments (ping -s 3000 over MTU 1500)", () => {
  const check = (names: ReadonlyArray<string>, tag: "EchoRequest" | "EchoReply", src: Ipv4Address) => {
    const frags = names.map((n) => {
      const f = K.KERNEL_CAPTURE.find((x) => x.name === n)
      assert.ok(f, `missing ${n}`)
      return ipv4(f.hex)
    })
    assert.equal(frags.length, 3)
    // offsets 0, 1480, 2960: 1480 = 1500 − 20 is a multiple of 8; MF on all but the last; one identification
    assert.deepEqual(frags.map((f) => f.ip.fragmentOffset), [0, 1480, 2960])
    assert.deepEqual(frags.map((f) => f.ip.moreFragments), [true, true, false])
    assert.deepEqual(frags.map((f) => f.ip.payloadLen), [1480, 1480, 8 + S.fragPingSize - 2960])
    assert.deepEqual(frags.map((f) => f.eth.buffer.length), [1514, 1514, 14 + 20 + 8 + S.fragPingSize - 2960])
    for (const f of frags) {
      assertIpv4(f, { srcAddr: src, dstAddr: src === IP_A ? IP_B : IP_A, protocol: IpProtocol.Icmp })
      assert.equal(f.ip.dontFragment, false)
      assert.equal(f.ip.identification, frags[0].ip.identification)
      assert.equal(f.l4._tag, "Fragment")
    }
    // the first fragment starts with the ICMP header, but its checksum covers the whole message
    const first = ok(Icmpv4Packet.parse(frags[0].packet.payload()))
    assert.equal(err(Icmpv4Repr.parse(first, ALL)).reason, "BadChecksum")
    assert.equal(ok(Icmpv4Repr.parse(first, OFF))._tag, tag)
    // reassembled, the message verifies and re-emits byte for byte
    const whole = new Uint8Array(8 + S.fragPingSize)
    for (const f of frags) whole.set(f.packet.payload(), f.ip.fragmentOffset)
    const msg = ok(Icmpv4Repr.parse(ok(Icmpv4Packet.parse(whole)), ALL))
    assert.equal(msg._tag, tag)
    const echo = echoOf(msg)
    assert.equal(echo.ident, S.fragPingIdent)
    assert.equal(echo.seqNo, 1)
    assertPingData(echo.data, S.fragPingSize)
    const out = new Uint8Array(Icmpv4Repr.bufferLen(msg))
    Icmpv4Repr.emit(msg, out, ALL)
    assert.equal(toHex(out), toHex(whole))
    return echo.data
  }
  it("request: three fragments from a, reassembled into an echo request of 3000 data bytes", () => {
    check(["FRAG_REQUEST_1", "FRAG_REQUEST_2", "FRAG_REQUEST_3"], "EchoRequest", IP_A)
  })
  it("reply: three fragments from b, reassembled into the echo reply with the same data", () => {
    const q = check(["FRAG_REQUEST_1", "FRAG_REQUEST_2", "FRAG_REQUEST_3"], "EchoRequest", IP_A)
    const p = check(["FRAG_REPLY_1", "FRAG_REPLY_2", "FRAG_REPLY_3"], "EchoReply", IP_B)
    assert.equal(toHex(p), toHex(q))
  })
})

describe("kernel captures: IPv4 record route (ping -R)", () => {
  /** Record-route option at `at` in the option bytes: [type 7, length 39, pointer, 9 address slots]. */
  const recorded = (options: Uint8Array, at: number): Array<string> => {
    assert.equal(options[at], 7)
    assert.equal(options[at + 1], 39)
    const pointer = options[at + 2]
    assert.ok(pointer >= 4 && pointer <= 40 && (pointer - 4) % 4 === 0, `pointer ${pointer}`)
    const out: Array<string> = []
    for (let p = 4; p < pointer; p += 4) out.push(Ipv4Address.format(Ipv4Address.read(options, at + p - 1)))
    return out
  }
  it("request: IHL 15, NOP + record route with a's address already recorded; the echo request parses", () => {
    const { d, msg } = icmpOf(K.RR_PING_REQUEST)
    assert.equal(d.packet.headerLen(), 60)
    assert.equal(d.ip.payloadLen, 64) // total length − 60: the options are not payload
    const options = d.packet.options()
    assert.equal(options.length, 40)
    assert.equal(options[0], 1) // NOP, then the 39-byte option
    assert.deepEqual(recorded(options, 1), [S.ipA])
    assert.equal(echoOf(msg).ident, S.rrPingIdent)
    assertPingData(echoOf(msg).data, 56)
    // Ipv4Repr has no options: emitted with IHL 5, and total length 84
    const out = encode(d)
    assert.equal(out[ETHERNET_HEADER_LEN], 0x45)
    assert.equal(u16(out, ETHERNET_HEADER_LEN + 2), 84)
  })
  it("reply: the option echoed and extended by b (a, b, b), then EOL; the echo reply parses", () => {
    const { d, msg } = icmpOf(K.RR_PING_REPLY)
    assert.equal(d.packet.headerLen(), 60)
    const options = d.packet.options()
    assert.deepEqual(recorded(options, 0), [S.ipA, S.ipB, S.ipB])
    assert.equal(options[39], 0) // EOL pads to 40
    assert.equal(msg._tag, "EchoReply")
    assert.equal(echoOf(msg).ident, S.rrPingIdent)
  })
})

describe("kernel captures: UDP and the ICMP port unreachable", () => {
  it("datagram a:40003 → b:9 with an odd-length payload and a verified checksum", () => {
    const d = ipv4(K.UDP_DATAGRAM)
    assertEthernet(d, MAC_A, MAC_B)
    assertIpv4(d, { srcAddr: IP_A, dstAddr: IP_B, protocol: IpProtocol.Udp, dontFragment: true })
    assert.equal(d.l4._tag, "Udp")
    const udp = (d.l4 as { readonly repr: UdpRepr }).repr
    assert.deepEqual({ ...udp, payload: text(udp.payload) }, {
      srcPort: S.udpSrcPort,
      dstPort: S.udpDstPort,
      payload: S.udpPayload,
    })
    assert.equal(udp.payload.length % 2, 1)
    const raw = ok(UdpPacket.parse(d.packet.payload()))
    assert.equal(raw.length(), 8 + S.udpPayload.length)
    assert.notEqual(raw.checksum(), 0)
    const len = raw.length()
    assert.equal(naiveChecksum(pseudoHeader(IP_A, IP_B, 17, len), zeroField(raw.buffer, 6)), raw.checksum())
  })

  it("b answers type 3 code 3 with TOS 0xc0, quoting the whole datagram, which parses down to UDP", () => {
    const { d, msg } = icmpOf(K.UDP_PORT_UNREACHABLE)
    assertEthernet(d, MAC_B, MAC_A)
    assertIpv4(d, { srcAddr: IP_B, dstAddr: IP_A, protocol: IpProtocol.Icmp })
    assert.equal(d.packet.dscp(), 48) // CS6: IPTOS_PREC_INTERNETCONTROL, not carried by Ipv4Repr
    assert.equal(msg._tag, "DstUnreachable")
    if (msg._tag !== "DstUnreachable") return
    assert.equal(msg.code, 3)
    assert.equal(toHex(ok(Icmpv4Packet.parse(d.packet.payload())).buffer.subarray(4, 8)), "00000000") // unused
    // the quoted datagram is the UDP_DATAGRAM's IPv4 packet, byte for byte
    const sent = ipv4(K.UDP_DATAGRAM).packet.buffer
    assert.equal(toHex(msg.data), toHex(sent))
    const quoted = ok(Ipv4Packet.parse(msg.data))
    const quotedIp = ok(Ipv4Repr.parse(quoted, ALL))
    assert.deepEqual([quotedIp.srcAddr, quotedIp.dstAddr, quotedIp.protocol], [IP_A, IP_B, IpProtocol.Udp])
    const qudp = ok(UdpPacket.parse(quoted.payload()))
    const quotedUdp = ok(
      UdpRepr.parse(qudp, pseudoHeaderSum(quotedIp.srcAddr, quotedIp.dstAddr, 17, qudp.length()), ALL),
    )
    assert.deepEqual([quotedUdp.srcPort, quotedUdp.dstPort, text(quotedUdp.payload)], [
      S.udpSrcPort,
      S.udpDstPort,
      S.udpPayload,
    ])
    // patch the TOS back into the emitted header: then it is the captured frame
    const out = encode(d)
    const header = new Ipv4Packet(out.subarray(ETHERNET_HEADER_LEN))
    header.setDscp(48)
    header.fillChecksum()
    assert.equal(toHex(out), K.UDP_PORT_UNREACHABLE)
  })
})

/** Ethernet → IPv4 → TCP without assertions (for filtering the capture); `seg` undefined for anything else. */
function tcpSegmentOf(h: string): { readonly seg?: TcpRepr } {
  const eth = EthernetFrame.parse(frame(h))
  if (Result.isFailure(eth) || eth.success.etherType() !== EtherType.Ipv4) return {}
  const p = Ipv4Packet.parse(eth.success.payload())
  if (Result.isFailure(p) || p.success.protocol() !== IpProtocol.Tcp) return {}
  const t = TcpPacket.parse(p.success.payload())
  if (Result.isFailure(t)) return {}
  const ph = pseudoHeaderSum(p.success.srcAddr(), p.success.dstAddr(), 6, t.success.buffer.length)
  const seg = TcpRepr.parse(t.success, ph, ALL)
  return Result.isSuccess(seg) ? { seg: seg.success } : {}
}

describe("kernel captures: a TCP connection (HTTP/1.0 request, 2000-byte response, FIN both ways)", () => {
  // parsed in each test (a describe body that threw would hide which frame failed)
  const handshake = () => {
    const syn = tcpOf(K.TCP_SYN)
    const synAck = tcpOf(K.TCP_SYN_ACK)
    return { syn, synAck, isnA: syn.seg.seqNumber, isnB: synAck.seg.seqNumber }
  }
  const reqLen = S.tcpRequest.length
  const plus = (a: number, n: number) => (a + n) >>> 0
  /** Linux (tcp_select_initial_window): wscale = ilog2(max(tcp_rmem[2], rmem_max)) − 15, clamped to 0..14. */
  const expectedWscale = (() => {
    const space = Math.max(Number(S.tcpRmem.split(" ")[2]), S.rmemMax)
    return Math.min(14, Math.max(0, Math.floor(Math.log2(space)) - 15))
  })()

  it("SYN: a:40001 → b:8080, MSS 1460 (MTU 1500 − 40), SACK-permitted, timestamps (TSecr 0), window scale", () => {
    const { syn } = handshake()
    const { d, seg, packet } = syn
    assertEthernet(d, MAC_A, MAC_B)
    assertIpv4(d, { srcAddr: IP_A, dstAddr: IP_B, protocol: IpProtocol.Tcp, dontFragment: true })
    assert.equal(seg.srcPort, S.tcpClientPort)
    assert.equal(seg.dstPort, S.tcpServerPort)
    assert.equal(seg.flags, TcpFlags.SYN)
    assert.equal(seg.ackNumber, 0)
    assert.equal(seg.urgentPointer, 0)
    assert.equal(packet.headerLen(), 40)
    // the Linux layout: MSS, SACK-permitted + timestamps, NOP + window scale
    assert.equal(toHex(packet.options().subarray(0, 8)), "020405b40402080a")
    assert.equal(toHex(packet.options().subarray(16)), "010303" + expectedWscale.toString(16).padStart(2, "0"))
    assert.equal(seg.options.mss, 1460)
    assert.equal(seg.options.sackPermitted, true)
    // 7 in the committed capture: the script sets the kernel's default tcp_rmem (6 MiB) and rmem_max is 4 MiB
    assert.equal(seg.options.windowScale, expectedWscale)
    assert.ok(seg.options.timestamps)
    assert.equal(seg.options.timestamps.tsEcr, 0)
    assert.deepEqual(seg.options.sackBlocks, [])
    assert.equal(seg.payload.length, 0)
  })

  it("SYN-ACK: acknowledges ISN + 1, echoes the SYN's TSval, same options", () => {
    const { syn, synAck, isnA } = handshake()
    const { d, seg, packet } = synAck
    assertEthernet(d, MAC_B, MAC_A)
    assertIpv4(d, { srcAddr: IP_B, dstAddr: IP_A, protocol: IpProtocol.Tcp, dontFragment: true })
    assert.deepEqual([seg.srcPort, seg.dstPort], [S.tcpServerPort, S.tcpClientPort])
    assert.equal(seg.flags, TcpFlags.SYN | TcpFlags.ACK)
    assert.equal(seg.ackNumber, plus(isnA, 1))
    assert.equal(packet.headerLen(), 40)
    assert.equal(seg.options.mss, 1460)
    assert.equal(seg.options.sackPermitted, true)
    assert.equal(seg.options.windowScale, expectedWscale)
    assert.equal(seg.options.timestamps?.tsEcr, syn.seg.options.timestamps?.tsVal)
  })

  it("handshake ACK, request (PSH), full-MSS and last response segments, FINs and the last ACK", () => {
    const { synAck, isnA, isnB } = handshake()
    const ack = tcpOf(K.TCP_HANDSHAKE_ACK)
    assert.equal(ack.seg.flags, TcpFlags.ACK)
    assert.deepEqual([ack.seg.seqNumber, ack.seg.ackNumber], [plus(isnA, 1), plus(isnB, 1)])
    assert.equal(ack.packet.headerLen(), 32) // NOP NOP timestamps only
    assert.equal(toHex(ack.packet.options().subarray(0, 4)), "0101080a")
    assert.deepEqual([ack.seg.options.mss, ack.seg.options.windowScale, ack.seg.options.sackPermitted], [
      undefined,
      undefined,
      false,
    ])
    assert.equal(ack.seg.options.timestamps?.tsEcr, synAck.seg.options.timestamps?.tsVal)

    const req = tcpOf(K.TCP_REQUEST)
    assert.equal(req.seg.flags, TcpFlags.PSH | TcpFlags.ACK)
    assert.equal(req.seg.seqNumber, plus(isnA, 1))
    assert.equal(text(req.seg.payload), S.tcpRequest)

    const full = tcpOf(K.TCP_RESPONSE_FULL)
    assert.equal(full.d.eth.buffer.length, 1514) // a full 1500-byte IPv4 packet
    assert.equal(full.seg.payload.length, 1448) // MSS 1460 − 12 bytes of timestamps
    assert.equal(full.seg.flags, TcpFlags.ACK)
    assert.deepEqual([full.seg.seqNumber, full.seg.ackNumber], [plus(isnB, 1), plus(isnA, 1 + reqLen)])
    const last = tcpOf(K.TCP_RESPONSE_LAST)
    assert.equal(last.seg.flags, TcpFlags.PSH | TcpFlags.ACK)
    assert.equal(last.seg.seqNumber, plus(isnB, 1 + 1448))
    const response = new Uint8Array([...full.seg.payload, ...last.seg.payload])
    assert.equal(response.length, S.tcpResponseLen)
    const head = text(response.subarray(0, 80))
    assert.ok(head.startsWith("HTTP/1.0 200 OK\r\n"), head)
    const bodyAt = text(response).indexOf("\r\n\r\n") + 4
    assert.match(text(response), new RegExp(`Content-Length: ${response.length - bodyAt}\r\n`))
    for (let i = bodyAt; i < response.length; i++) assert.equal(response[i], 0x41 + ((i - bodyAt) % 26))

    const serverFin = tcpOf(K.TCP_SERVER_FIN)
    assert.equal(serverFin.seg.flags, TcpFlags.FIN | TcpFlags.ACK)
    assert.equal(serverFin.seg.seqNumber, plus(isnB, 1 + S.tcpResponseLen))
    const clientFin = tcpOf(K.TCP_CLIENT_FIN)
    assert.equal(clientFin.seg.flags, TcpFlags.FIN | TcpFlags.ACK)
    assert.deepEqual([clientFin.seg.seqNumber, clientFin.seg.ackNumber], [
      plus(isnA, 1 + reqLen),
      plus(isnB, 1 + S.tcpResponseLen + 1),
    ])
    const lastAck = tcpOf(K.TCP_LAST_ACK)
    assert.equal(lastAck.seg.flags, TcpFlags.ACK)
    assert.deepEqual([lastAck.seg.seqNumber, lastAck.seg.ackNumber], [
      plus(isnB, 1 + S.tcpResponseLen + 1),
      plus(isnA, 1 + reqLen + 1),
    ])
  })

  it("every segment of the connection: in-order sequence numbers, ACKs never ahead, timestamps echoed", () => {
    const { isnA, isnB } = handshake()
    const conv = K.KERNEL_CAPTURE.map((f) => ({ name: f.name, ...tcpSegmentOf(f.hex) }))
      .filter((f) => f.seg !== undefined && [f.seg.srcPort, f.seg.dstPort].includes(S.tcpClientPort))
    assert.ok(conv.length >= 10, `only ${conv.length} segments`)
    const next = { a: isnA, b: isnB }
    const tsSeen = { a: new Set<number>(), b: new Set<number>() }
    for (const { name, seg } of conv) {
      if (seg === undefined) continue
      const from = seg.srcPort === S.tcpClientPort ? "a" : "b"
      const to = from === "a" ? "b" : "a"
      assert.equal(seg.seqNumber, next[from], `${name}: seq`)
      if (seg.flags & TcpFlags.ACK) {
        assert.ok(((next[to] - seg.ackNumber) >>> 0) < 0x8000_0000, `${name}: ack ahead of what ${to} sent`)
      }
      const ts = seg.options.timestamps
      assert.ok(ts, `${name}: every segment carries timestamps`)
      if (seg.flags & TcpFlags.ACK) assert.ok(tsSeen[to].has(ts.tsEcr), `${name}: TSecr is one of ${to}'s TSvals`)
      tsSeen[from].add(ts.tsVal)
      next[from] = plus(next[from], seg.payload.length + (seg.flags & TcpFlags.SYN ? 1 : 0) + (seg.flags & 1))
    }
    assert.equal(next.a, plus(isnA, 1 + reqLen + 1))
    assert.equal(next.b, plus(isnB, 1 + S.tcpResponseLen + 1))
  })

  it("a SYN to the closed port 9 is answered by RST|ACK: seq 0, ack ISN + 1, window 0, no options", () => {
    const s = tcpOf(K.TCP_SYN_CLOSED_PORT)
    assert.deepEqual([s.seg.srcPort, s.seg.dstPort, s.seg.flags], [S.rstClientPort, S.rstDstPort, TcpFlags.SYN])
    assert.equal(s.seg.options.mss, 1460)
    const r = tcpOf(K.TCP_RST)
    assertEthernet(r.d, MAC_B, MAC_A)
    assertIpv4(r.d, { srcAddr: IP_B, dstAddr: IP_A, protocol: IpProtocol.Tcp, payloadLen: TCP_HEADER_LEN })
    assert.deepEqual([r.seg.srcPort, r.seg.dstPort], [S.rstDstPort, S.rstClientPort])
    assert.equal(r.seg.flags, TcpFlags.RST | TcpFlags.ACK)
    assert.deepEqual([r.seg.seqNumber, r.seg.ackNumber, r.seg.windowLen], [0, plus(s.seg.seqNumber, 1), 0])
    assert.equal(r.packet.headerLen(), TCP_HEADER_LEN)
    assert.deepEqual(r.seg.options, { sackPermitted: false, sackBlocks: [] })
  })

  it("a flipped payload bit in a real segment is BadChecksum with verification on", () => {
    const bad = frame(K.TCP_RESPONSE_FULL)
    bad[bad.length - 1] ^= 0x01
    const p = ok(Ipv4Packet.parse(ok(EthernetFrame.parse(bad)).payload()))
    const seg = ok(TcpPacket.parse(p.payload()))
    const ph = pseudoHeaderSum(p.srcAddr(), p.dstAddr(), 6, seg.buffer.length)
    assert.equal(err(TcpRepr.parse(seg, ph, ALL)).reason, "BadChecksum")
    ok(TcpRepr.parse(seg, ph, OFF))
  })
})

describe("kernel captures: 802.1Q VLAN 7", () => {
  it("ARP who-has and reply are tagged (VID 7, PCP 0); the payload after the tag parses", () => {
    const req = arpOf(K.VLAN_ARP_REQUEST)
    assert.equal(req.eth.isVlanTagged(), true)
    assert.equal(req.eth.vlanId(), S.vlanId)
    assert.equal(req.eth.vlanPriority(), 0)
    assert.equal(req.eth.headerLen(), 18)
    assert.equal(req.eth.etherType(), EtherType.Arp)
    assertEthernet(req, MAC_A, MacAddress.BROADCAST)
    assert.deepEqual(req.arp, {
      operation: 1,
      senderHardwareAddr: MAC_A,
      senderProtocolAddr: VLAN_IP_A,
      targetHardwareAddr: MacAddress.ZERO,
      targetProtocolAddr: VLAN_IP_B,
    })
    const rep = arpOf(K.VLAN_ARP_REPLY)
    assert.equal(rep.eth.vlanId(), S.vlanId)
    assert.deepEqual([rep.arp.operation, rep.arp.senderProtocolAddr, rep.arp.targetHardwareAddr], [
      2,
      VLAN_IP_B,
      MAC_A,
    ])
  })

  it("echo request and reply are tagged; emitted untagged they are the captured frames without the tag", () => {
    for (
      const [h, tag, src, dst] of [
        [K.VLAN_PING_REQUEST, "EchoRequest", VLAN_IP_A, VLAN_IP_B],
        [K.VLAN_PING_REPLY, "EchoReply", VLAN_IP_B, VLAN_IP_A],
      ] as const
    ) {
      const { d, msg } = icmpOf(h)
      assert.equal(d.eth.vlanId(), S.vlanId)
      assert.equal(d.eth.etherType(), EtherType.Ipv4)
      assertIpv4(d, { srcAddr: src, dstAddr: dst, protocol: IpProtocol.Icmp })
      assert.equal(msg._tag, tag)
      assert.equal(echoOf(msg).ident, S.vlanPingIdent)
      const captured = frame(h)
      const untagged = new Uint8Array([...captured.subarray(0, 12), ...captured.subarray(16)])
      assert.equal(toHex(encode(d)), toHex(untagged))
    }
  })
})
