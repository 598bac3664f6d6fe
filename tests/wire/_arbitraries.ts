/**
 * fast-check arbitraries for every wire Repr, shared by the round-trip and robustness tests.
 *
 * @module
 */
import fc from "fast-check"
import type { ArpRepr } from "../../src/wire/Arp.ts"
import type { EthernetRepr } from "../../src/wire/Ethernet.ts"
import type { Icmpv4Repr } from "../../src/wire/Icmpv4.ts"
import type { Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { type Ipv4Address, Ipv4Address as Ip } from "../../src/wire/Ipv4Address.ts"
import { type MacAddress, MacAddress as Mac } from "../../src/wire/MacAddress.ts"
import { TcpOptions, type TcpOptions as TcpOptionsT, type TcpRepr } from "../../src/wire/Tcp.ts"
import type { UdpRepr } from "../../src/wire/Udp.ts"

const NP = { noNullPrototype: true } as const

/** Any 48-bit MAC address. */
export const arbMac: fc.Arbitrary<MacAddress> = fc.integer({ min: 0, max: 0xffff_ffff_ffff }).map(Mac.make)
/** Any IPv4 address. */
export const arbIp: fc.Arbitrary<Ipv4Address> = fc.integer({ min: 0, max: 0xffff_ffff }).map(Ip.make)
/** Unsigned 16-bit. */
export const u16: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff })
/** Unsigned 32-bit. */
export const u32: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff_ffff })
/** Some payload bytes. */
export const arbPayload = (max = 200): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 0, maxLength: max })

/** Ethernet header. */
export const arbEthernetRepr: fc.Arbitrary<EthernetRepr> = fc.record({
  srcAddr: arbMac,
  dstAddr: arbMac,
  // 0x8100 would make the emitted (untagged) frame read as tagged: not a valid untagged EtherType
  etherType: u16.filter((t) => t !== 0x8100),
}, NP)

/** ARP request/reply. */
export const arbArpRepr: fc.Arbitrary<ArpRepr> = fc.record({
  operation: fc.constantFrom(1 as const, 2 as const),
  senderHardwareAddr: arbMac,
  senderProtocolAddr: arbIp,
  targetHardwareAddr: arbMac,
  targetProtocolAddr: arbIp,
}, NP)

/** IPv4 header. */
export const arbIpv4Repr: fc.Arbitrary<Ipv4Repr> = fc.record({
  srcAddr: arbIp,
  dstAddr: arbIp,
  protocol: fc.integer({ min: 0, max: 255 }),
  payloadLen: fc.integer({ min: 0, max: 0xffff - 20 }),
  ttl: fc.integer({ min: 0, max: 255 }),
  identification: u16,
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((n) => n * 8),
}, NP)

/** ICMPv4 message. */
export const arbIcmpv4Repr: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
  fc.record({ _tag: fc.constant("EchoRequest" as const), ident: u16, seqNo: u16, data: arbPayload() }, NP),
  fc.record({ _tag: fc.constant("EchoReply" as const), ident: u16, seqNo: u16, data: arbPayload() }, NP),
  fc.record(
    { _tag: fc.constant("DstUnreachable" as const), code: fc.integer({ min: 0, max: 15 }), data: arbPayload() },
    NP,
  ),
  fc.record(
    { _tag: fc.constant("TimeExceeded" as const), code: fc.integer({ min: 0, max: 1 }), data: arbPayload() },
    NP,
  ),
)

/** UDP datagram. */
export const arbUdpRepr: fc.Arbitrary<UdpRepr> = fc.record({
  srcPort: u16,
  dstPort: fc.integer({ min: 1, max: 0xffff }),
  payload: arbPayload(),
}, NP)

/** TCP options as `parse` returns them (absent keys rather than `undefined`), that fit in 40 bytes. */
export const arbTcpOptions: fc.Arbitrary<TcpOptionsT> = fc.record(
  {
    mss: u16,
    windowScale: fc.integer({ min: 0, max: 14 }),
    sackPermitted: fc.boolean(),
    sackBlocks: fc.array(fc.record({ left: u32, right: u32 }, NP), { maxLength: 4 }),
    timestamps: fc.record({ tsVal: u32, tsEcr: u32 }, NP),
  },
  { requiredKeys: ["sackPermitted", "sackBlocks"], noNullPrototype: true },
).filter((o) => {
  const fixed = (o.mss !== undefined ? 4 : 0) + (o.timestamps !== undefined ? 12 : o.sackPermitted ? 4 : 0) +
    (o.windowScale !== undefined ? 4 : 0)
  return fixed + (o.sackBlocks.length > 0 ? 4 + 8 * o.sackBlocks.length : 0) <= 40
})

/** TCP segment. */
export const arbTcpRepr: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: fc.integer({ min: 1, max: 0xffff }),
  dstPort: fc.integer({ min: 1, max: 0xffff }),
  seqNumber: u32,
  ackNumber: u32,
  flags: fc.integer({ min: 0, max: 255 }),
  windowLen: u16,
  urgentPointer: u16,
  options: fc.oneof(fc.constant(TcpOptions.empty), arbTcpOptions),
  payload: arbPayload(),
}, NP)
