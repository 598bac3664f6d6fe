/**
 * Tests of the IPv4 service: routing through the gateway (its MAC used for off-link destinations), typed errors
 * (NoRoute, MessageTooLong), header checksum verification, destination and source filtering, fragmentation between
 * two stacks, reassembly from a raw port (loss → no delivery and the timeout frees memory under TestClock,
 * overlaps rejected), trailing bytes after the total length, handler fields, local delivery, and source routes
 * (an unfinished LSRR/SSRR dropped and counted, a finished one delivered), and the identification of sent datagrams
 * (RFC 7739 §5.3: datagrams to one host do not move what another sees; deterministic under a seeded Random).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import { Arp } from "../../src/arp/Arp.ts"
import { Ethernet } from "../../src/ethernet/Ethernet.ts"
import { Ipv4 } from "../../src/ipv4/Ipv4.ts"
import { Vnetif } from "../../src/link/Vnetif.ts"
import { Ip, IpError, type IpShape, NoEndpoint } from "../../src/ip/Ip.ts"
import { pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import type { IpAddress } from "../../src/wire/IpAddress.ts"
import { Ipv6Address } from "../../src/wire/Ipv6Address.ts"
import { toEffect } from "../../src/util/Transmit.ts"
import { Stack } from "../../src/Stack.ts"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { EtherType } from "../../src/wire/Ethernet.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { IpProtocol, Ipv4Packet } from "../../src/wire/Ipv4.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import {
  arpFrame,
  assertBytes,
  ethFrame,
  ip,
  ipv4Frame,
  ipv4Packet,
  isArpRequestFor,
  parseEth,
  parseIcmp,
  parseIpv4,
  parseUdp,
  pattern,
  pollUntil,
  rawPort,
  run,
  runTest,
  udpDatagram,
  withSwitch,
  yieldUntil,
} from "../support/TestDevice.ts"

/** TCP's MSS as the contract gives it: path MTU − IP header − TCP header. */
const MSS_OF = (v: IpShape, dst: IpAddress): number => v.mtu(dst) - v.headerLen - 20

const A = ip("10.0.0.1")
const B = ip("10.0.0.2")
const RAW = ip("10.0.0.7")

describe("Ipv4: routing", () => {
  it("sends off-link datagrams to the gateway's MAC (ARP asks for the gateway, not the destination)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", gateway: "10.0.0.7", arp: { announce: false } })
        const far = ip("8.8.8.8")
        yield* s.udp.send(5000, far, 53, pattern(12))
        yield* raw.next(isArpRequestFor(RAW), "ARP request for the gateway")
        assert.equal(raw.count(isArpRequestFor(far)), 0)
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: RAW, targetMac: s.mac, targetIp: B }))
        const f = yield* raw.next((f) => parseUdp(f) !== undefined, "the datagram")
        assert.equal(parseEth(f)!.dst, raw.mac)
        const u = parseUdp(f)!
        assert.equal(u.ip.dstAddr, far)
        assert.equal(u.ip.srcAddr, B)
        assert.equal(u.ip.ttl, 64)
        assertBytes(u.udp.payload, pattern(12), "data")
      })
    )))

  it("transmit returns IpError NoRoute off-link without a gateway; resolve reports ArpTimeout (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        let filled = 0
        const e = s.ipv4.transmit(ip("8.8.8.8"), 253, 4, () => filled++)
        assert.ok(e instanceof IpError)
        assert.equal(e.reason, "NoRoute")
        assert.equal(filled, 0, "fill is not called for a datagram that is not sent")
        assert.equal(s.ipv4.ip.source(ip("8.8.8.8")), undefined)
        assert.equal(s.ipv4.ip.route(ip("8.8.8.8")), undefined)
        const f = yield* Effect.forkChild(Effect.flip(s.ipv4.resolve(ip("10.0.0.99"))))
        yield* TestClock.adjust("8 seconds")
        const e2 = yield* Fiber.join(f)
        assert.equal(e2.reason, "ArpTimeout")
      })
    )))

  it("broadcasts go to ff:ff:ff:ff:ff:ff without ARP", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* s.udp.send(68, ip("255.255.255.255"), 67, pattern(3))
        yield* s.udp.send(68, ip("10.0.0.255"), 67, pattern(3))
        const f1 = yield* raw.next((f) => parseUdp(f) !== undefined, "broadcast 1")
        const f2 = yield* raw.next((f) => parseUdp(f) !== undefined, "broadcast 2")
        assert.equal(parseEth(f1)!.dst, MacAddress.BROADCAST)
        assert.equal(parseEth(f2)!.dst, MacAddress.BROADCAST)
        assert.equal(raw.count((f) => parseEth(f)?.etherType === 0x0806), 0)
      })
    )))
})

describe("Ipv4: receive checks", () => {
  it("drops a bad header checksum (when verifying) and counts it", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all", arp: { announce: false } })
        yield* s.udp.bind(9)
        const good = ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, B, 1, 9, pattern(8)),
        })
        const bad = good.slice()
        bad[14 + 10] ^= 0x01 // flip a bit of the header checksum
        yield* raw.send(bad)
        yield* raw.send(good)
        const st = yield* pollUntil(s.ipv4.stats, (x) => x.rxPackets === 2, "2 packets")
        assert.equal(st.badChecksum, 1)
        assert.equal(st.rxDelivered, 1)
        assert.equal((yield* s.udp.stats).rxDelivered, 1)
      })
    )))

  it("drops datagrams not for us and with a bad source, counting each", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        const udp = (src: number, dst: number) =>
          ipv4Frame(s.mac, raw.mac, {
            src: src as never,
            dst: dst as never,
            protocol: IpProtocol.Udp,
            payload: udpDatagram(src as never, dst as never, 1, 9, pattern(4)),
          })
        yield* raw.send(udp(RAW, ip("10.0.0.3")))
        yield* raw.send(udp(ip("224.0.0.9"), B))
        yield* raw.send(udp(ip("10.0.0.255"), B))
        const st = yield* pollUntil(s.ipv4.stats, (x) => x.rxPackets === 3, "3 packets")
        assert.equal(st.notForUs, 1)
        assert.equal(st.badSource, 2)
        assert.equal(st.rxDelivered, 0)
      })
    )))

  it("ignores trailing bytes after the total length", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all", arp: { announce: false } })
        const sock = yield* s.udp.bind(9)
        const data = pattern(17)
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, B, 1234, 9, data),
          trailer: Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6),
        }))
        const d = yield* sock.take
        assertBytes(d.data, data, "data without the trailer")
        assert.equal(d.srcPort, 1234)
      })
    )))

  it("hands registered handlers the fields, the payload and the raw header", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        const got: Array<{ src: number; ttl: number; id: number; payload: Array<number>; header: number }> = []
        yield* s.ipv4.register(253, (d) =>
          Effect.sync(() => {
            got.push({
              src: d.src,
              ttl: d.ttl,
              id: d.identification,
              payload: [...d.payload],
              header: d.header.length,
            })
          }))
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: 253,
          payload: Uint8Array.of(1, 2, 3),
          ttl: 7,
          identification: 4242,
        }))
        yield* pollUntil(Effect.sync(() => got.length), (n) => n === 1, "delivery")
        assert.deepEqual(got, [{ src: RAW, ttl: 7, id: 4242, payload: [1, 2, 3], header: 20 }])
      })
    )))

  it("delivers datagrams to its own address locally", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24" })
        const sock = yield* s.udp.bind(9)
        yield* s.udp.send(1000, B, 9, pattern(30))
        const d = yield* sock.take
        assertBytes(d.data, pattern(30), "looped back")
        assert.equal((yield* s.ipv4.stats).loopback, 1)
      })
    )))

  it("local delivery goes through the loopback queue, never on the sender's stack; overflow is counted", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        const got: Array<number> = []
        yield* s.ipv4.register(253, (d) =>
          Effect.sync(() => {
            got.push(d.payload[0])
          }))
        assert.equal(s.ipv4.transmit(B, 253, 1, (p) => p.set([7])), undefined)
        assert.deepEqual(got, [], "not delivered while the sender runs")
        yield* pollUntil(Effect.sync(() => got.length), (n) => n === 1, "delivered by the loopback fiber")
        assert.deepEqual(got, [7])
        for (let i = 0; i < 1100; i++) s.ipv4.transmit(ip("127.0.0.1"), 253, 1, (p) => p.set([i & 0xff]))
        const st = yield* s.ipv4.stats
        assert.equal(st.loopback, 1 + 1024)
        assert.equal(st.loopbackDrops, 1100 - 1024)
        yield* pollUntil(Effect.sync(() => got.length), (n) => n === 1 + 1024, "the queued ones, in order")
        assert.deepEqual(got.slice(1, 4), [0, 1, 2])
      })
    )))
})

describe("Ipv4: the Ip view (version-neutral contract)", () => {
  it("Ipv4.layer provides Ip: family, addresses, route, source, mtu, headerLen, pseudo-header sum", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", gateway: "10.0.0.1", mtu: 1400 })
        const hand = Ipv4.layer({ cidr: "10.0.0.3/24" }).pipe(
          Layer.provide(Arp.layer({ address: ip("10.0.0.3"), announce: false })),
          Layer.provideMerge(Ethernet.layer),
          Layer.provide(Vnetif.layer()),
        )
        const ipSvc = yield* Effect.provide(Effect.service(Ip), hand)
        assert.equal(ipSvc.family, 4)
        assert.deepEqual(ipSvc.addresses, [ip("10.0.0.3")])
        const v = s.ipv4.ip
        assert.equal(v.transmit, s.ipv4.transmit, "one transmit, two views")
        assert.equal(v.headerLen, 20)
        assert.equal(v.mtu(A), 1400)
        assert.equal(v.source(A), B)
        assert.deepEqual(v.route(A), { source: B, kind: "Unicast", nextHop: A, mtu: 1400 })
        assert.deepEqual(v.route(ip("8.8.8.8")), { source: B, kind: "Unicast", nextHop: A, mtu: 1400 })
        assert.equal(v.route(ip("10.0.0.255"))?.kind, "Group")
        assert.equal(v.route(ip("224.0.0.9"))?.kind, "Group")
        assert.equal(v.route(B)?.kind, "Local")
        assert.equal(v.route(ip("0.0.0.0")), undefined)
        const v6 = Ipv6Address.parse("2001:db8::1")!
        assert.equal(v.route(v6), undefined)
        assert.equal(v.source(v6), undefined)
        assert.equal(v.transmit(v6, 17, 8, () => {})?.reason, "NoRoute")
        assert.equal(v.pseudoHeaderSum(A, B, 6, 20), pseudoHeaderSum(A, B, 6, 20))
        assert.equal(MSS_OF(v, A), 1400 - 20 - 20)
      })
    )))

  it("a handler's NoEndpoint is answered by the network layer (port unreachable), only for our unicast address", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* s.arp.addStatic(RAW, raw.mac)
        let calls = 0
        yield* s.ipv4.register(253, () => {
          calls++
          return NoEndpoint
        })
        yield* raw.send(
          ipv4Frame(s.mac, raw.mac, { src: RAW, dst: ip("10.0.0.255"), protocol: 253, payload: pattern(8) }),
        )
        yield* raw.send(ipv4Frame(s.mac, raw.mac, { src: RAW, dst: B, protocol: 253, payload: pattern(8) }))
        const f = yield* raw.next((f) => parseIcmp(f)?.icmp._tag === "DstUnreachable", "port unreachable")
        const m = parseIcmp(f)!.icmp
        assert.ok(m._tag === "DstUnreachable" && m.code === 3)
        assert.equal(calls, 2)
        assert.equal(raw.count((f) => parseIcmp(f) !== undefined), 1, "none about the broadcast")
      })
    )))
})

describe("Ipv4: fragmentation and reassembly", () => {
  it("a 4000-byte UDP datagram crosses MTU 1500 in 3 fragments and arrives intact", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        const sock = yield* b.udp.bind(9)
        const data = pattern(4000, 99)
        yield* a.udp.send(7777, B, 9, data)
        const d = yield* sock.take
        assertBytes(d.data, data, "reassembled datagram")
        assert.equal(d.src, A)
        assert.equal((yield* a.ipv4.stats).txFrames, 3)
        assert.equal((yield* b.ipv4.stats).fragmentsReceived, 3)
        assert.equal((yield* b.ipv4.stats).reassemblyBytes, 0)
        // the fragments on the wire (the learning switch floods until it learns, so the raw port may see them)
        const frags = raw.frames.map(parseIpv4).filter((p) => p !== undefined && p.repr.protocol === IpProtocol.Udp)
        for (const p of frags) assert.ok(p!.repr.payloadLen + 20 <= 1500)
      })
    )))

  it("Don't Fragment above the MTU fails with MessageTooLong", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24" })
        assert.equal(s.ipv4.transmit(A, 253, 1481, () => {}, { dontFragment: true })?.reason, "MessageTooLong")
        assert.equal(s.ipv4.transmit(A, 253, 1480, () => {}, { dontFragment: true }), undefined)
        assert.equal(s.ipv4.transmit(A, 253, 65516, () => {})?.reason, "MessageTooLong")
        assert.equal(s.ipv4.transmit(A, 253, 1, () => {}, { ttl: 0 })?.reason, "InvalidArgument")
        const viaEffect = yield* Effect.flip(toEffect(s.ipv4.transmit(A, 253, -1, () => {})))
        assert.equal(viaEffect.reason, "InvalidArgument")
        assert.equal((yield* s.ipv4.stats).txErrors, 4)
      })
    )))

  it("loses one fragment: nothing is delivered, and the timeout frees the buffer (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        const sock = yield* s.udp.bind(9)
        const udp = udpDatagram(RAW, B, 1, 9, pattern(3000))
        const frag = (off: number, len: number, more: boolean) =>
          ipv4Frame(s.mac, raw.mac, {
            src: RAW,
            dst: B,
            protocol: IpProtocol.Udp,
            identification: 77,
            fragmentOffset: off,
            moreFragments: more,
            payload: udp.subarray(off, off + len),
          })
        yield* raw.send(frag(0, 1480, true))
        yield* raw.send(frag(2960, udp.length - 2960, false)) // the middle fragment is lost
        const st = yield* pollUntil(s.ipv4.stats, (x) => x.fragmentsReceived === 2, "2 fragments")
        assert.equal(st.reassemblyBytes, 1480 + udp.length - 2960)
        assert.equal(st.reassemblyDatagrams, 1)
        yield* TestClock.adjust("29999 millis")
        assert.ok((yield* s.ipv4.stats).reassemblyBytes > 0)
        yield* TestClock.adjust("1 millis")
        const after = yield* pollUntil(s.ipv4.stats, (x) => x.reassemblyBytes === 0, "buffer freed")
        assert.equal(after.reassemblyDatagrams, 0)
        assert.equal(after.reassembly.timedOut, 1)
        assert.equal((yield* s.udp.stats).rxDatagrams, 0)
        // the late middle fragment starts a new (incomplete) datagram, it does not resurrect the old one
        yield* raw.send(frag(1480, 1480, true))
        yield* pollUntil(s.ipv4.stats, (x) => x.fragmentsReceived === 3, "3rd fragment")
        assert.equal(yield* sock.dropped, 0)
        assert.equal((yield* s.udp.stats).rxDatagrams, 0)
      })
    )))

  it("rejects overlapping fragments (the whole datagram is dropped)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* s.udp.bind(9)
        const udp = udpDatagram(RAW, B, 1, 9, pattern(2000))
        const frag = (off: number, len: number, more: boolean) =>
          ipv4Frame(s.mac, raw.mac, {
            src: RAW,
            dst: B,
            protocol: IpProtocol.Udp,
            identification: 78,
            fragmentOffset: off,
            moreFragments: more,
            payload: udp.subarray(off, off + len),
          })
        yield* raw.send(frag(0, 1024, true))
        yield* raw.send(frag(1016, udp.length - 1016, false)) // overlaps 8 bytes and would complete it
        const st = yield* pollUntil(s.ipv4.stats, (x) => x.fragmentsReceived === 2, "2 fragments")
        assert.equal(st.reassembly.overlaps, 1)
        assert.equal(st.reassemblyBytes, 0)
        assert.equal((yield* s.udp.stats).rxDatagrams, 0)
      })
    )))

  it("offload capabilities skip checksums end to end (header checksum field 0)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* s.udp.send(1, ip("255.255.255.255"), 9, pattern(4))
        const f = yield* raw.next((f) => parseUdp(f) !== undefined, "datagram")
        assert.equal(f[14 + 10] | f[14 + 11], 0)
        assert.equal(parseUdp(f)!.checksum, 0)
        assert.deepEqual(s.ipv4.checksum, ChecksumCapabilities.offload)
      })
    )))
})

/** `packet` (a 20-byte header + payload) with `options` inserted after the header: IHL, total length, checksum fixed. */
const withIpOptions = (packet: Uint8Array, options: ReadonlyArray<number>): Uint8Array => {
  const optLen = (options.length + 3) & ~3
  const b = new Uint8Array(packet.length + optLen)
  b.set(packet.subarray(0, 20))
  b.set(options, 20)
  b.set(packet.subarray(20), 20 + optLen)
  const p = new Ipv4Packet(b)
  p.setVersionAndHeaderLen(4, 20 + optLen)
  p.setTotalLen(b.length)
  p.fillChecksum()
  return b
}

describe("Ipv4: source routes (RFC 791 §3.1)", () => {
  it("drops an unfinished LSRR/SSRR (counted), counts a malformed one, delivers a finished route", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        const sock = yield* s.udp.bind(9)
        const data = pattern(11)
        const udp = ipv4Packet({ src: RAW, dst: B, protocol: IpProtocol.Udp, payload: udpDatagram(RAW, B, 1, 9, data) })
        const next = [10, 0, 0, 9] // the hop after us
        const send = (options: ReadonlyArray<number>) =>
          raw.send(ethFrame(s.mac, raw.mac, EtherType.Ipv4, withIpOptions(udp, options)))
        yield* send([131, 7, 4, ...next]) // LSRR, pointer at the first address: for 10.0.0.9 through us
        yield* send([1, 137, 7, 4, ...next]) // SSRR after a NOP
        yield* send([131, 7, 3, ...next]) // pointer below 4
        const st = yield* pollUntil(s.ipv4.stats, (x) => x.rxPackets === 3, "3 packets")
        assert.equal(st.sourceRouted, 2, "unfinished source routes counted")
        assert.equal(st.malformed, 1, "the malformed option counted")
        assert.equal(st.rxDelivered, 0)
        yield* send([131, 7, 8, ...next]) // finished: pointer past the end, we are the final destination
        const d = yield* sock.take
        assertBytes(d.data, data, "data of the finished route")
        const after = yield* s.ipv4.stats
        assert.equal(after.rxDelivered, 1)
        assert.equal(after.sourceRouted, 2)
        assert.equal((yield* s.udp.stats).rxDatagrams, 1, "only the finished route reached UDP")
        assert.equal(raw.count((f) => parseIpv4(f) !== undefined), 0, "nothing answered")
      })
    )))
})

describe("Ipv4: identification (RFC 7739 §5.3, issue 15)", () => {
  const X = ip("10.0.0.5")
  const Y = ip("10.0.0.6")

  /** Sends one datagram (protocol 253) to each address of `plan` in order, under TestClock and Random seeded with
   * `seed`; returns the (destination, identification) of each as seen on the wire. */
  const idsOnWire = (seed: string, plan: ReadonlyArray<Ipv4Address>) =>
    runTest(
      withSwitch(() =>
        Effect.gen(function* () {
          const raw = yield* rawPort()
          const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
          yield* s.arp.addStatic(X, raw.mac)
          yield* s.arp.addStatic(Y, raw.mac)
          for (let i = 0; i < plan.length; i++) {
            assert.equal(s.ipv4.transmit(plan[i], 253, 2, (p) => p.set([i >> 8, i & 0xff])), undefined)
          }
          const ours = () => raw.frames.map(parseIpv4).filter((p) => p !== undefined && p.repr.protocol === 253)
          yield* yieldUntil(() => ours().length === plan.length, "every datagram on the wire")
          return ours().map((p) => [p!.repr.dstAddr, p!.repr.identification] as const)
        })
      ).pipe(Random.withSeed(seed)),
    )

  it("datagrams to one host do not advance the identifications another host sees (no idle-scan zombie)", async () => {
    const plan = [Y, ...Array.from({ length: 50 }, () => X), Y]
    const got = await idsOnWire("ids", plan)
    assert.deepEqual(got.map(([d]) => d), plan, "sent in order")
    const y = got.filter(([d]) => d === Y).map(([, id]) => id)
    assert.equal(y[1], (y[0] + 1) & 0xffff, "Y sees successive identifications despite 50 datagrams to X between")
    const x = got.filter(([d]) => d === X).map(([, id]) => id)
    for (let i = 1; i < x.length; i++) assert.equal(x[i], (x[i - 1] + 1) & 0xffff, "X's identifications advance")
  })

  it("is deterministic under a seeded Random, and another seed gives other identifications", async () => {
    const plan = [X, Y, X, Y, X]
    const a = await idsOnWire("seed-1", plan)
    assert.deepEqual(await idsOnWire("seed-1", plan), a)
    assert.notDeepEqual(await idsOnWire("seed-2", plan), a)
  })

  it("fragmented datagrams to one host get distinct identifications and reassemble intact", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24" })
        const got: Array<{ id: number; payload: Uint8Array }> = []
        yield* b.ipv4.register(253, (d) => {
          got.push({ id: d.identification, payload: d.payload.slice() })
          return Effect.void
        })
        for (let i = 0; i < 4; i++) {
          const data = pattern(4000, i)
          yield* toEffect(a.ipv4.transmit(B, 253, data.length, (p) => p.set(data)))
        }
        yield* yieldUntil(() => got.length === 4, "four reassembled datagrams")
        for (let i = 0; i < 4; i++) assertBytes(got[i].payload, pattern(4000, i), `datagram ${i}`)
        assert.equal(new Set(got.map((g) => g.id)).size, 4, "four identifications")
        const st = yield* b.ipv4.stats
        assert.equal(st.fragmentsReceived, 12)
        assert.equal(st.reassemblyDatagrams, 0)
      })
    )))
})
