/**
 * Tests of the ICMP service: ping between two stacks (RTT from Clock), typed ping failures (Timeout under
 * TestClock, Unreachable after ARP fails or on a Destination Unreachable), the echo server (identifier, sequence
 * and data copied; any code answered and copied, as Linux does; broadcast echo ignored), port unreachable for a closed UDP port (quoting the original header
 * and 8 bytes) and its token-bucket rate limit, protocol unreachable, and the token bucket itself.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { IcmpError } from "../../src/icmp/Icmp.ts"
import { TokenBucket } from "../../src/icmp/TokenBucket.ts"
import { Stack } from "../../src/Stack.ts"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { Icmpv4Packet, Icmpv4Repr } from "../../src/wire/Icmpv4.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import {
  assertBytes,
  echoRequest,
  ip,
  ipv4Frame,
  ipv4Packet,
  parseIcmp,
  parseIpv4,
  pattern,
  pollUntil,
  rawPort,
  run,
  runTest,
  udpDatagram,
  withSwitch,
} from "../support/TestDevice.ts"

const A = ip("10.0.0.1")
const B = ip("10.0.0.2")
const RAW = ip("10.0.0.7")

const isIcmp = (tag: string) => (f: Uint8Array): boolean => parseIcmp(f)?.icmp._tag === tag

describe("Icmp: ping", () => {
  it("pings between two stacks and returns the RTT (live clock)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" })
        for (let i = 0; i < 3; i++) {
          const rtt = yield* a.icmp.ping(B, { timeout: "5 seconds", size: 100 })
          assert.ok(Number.isFinite(rtt) && rtt >= 0 && rtt < 5000, `rtt ${rtt}`)
        }
        assert.equal((yield* a.icmp.stats).echoRepliesReceived, 3)
        assert.equal((yield* b.icmp.stats).echoRepliesSent, 3)
      })
    )))

  it("measures the RTT with the Clock: 0 ms of virtual time under TestClock", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24" })
        yield* Stack.make({ cidr: "10.0.0.2/24" })
        assert.equal(yield* a.icmp.ping(B), 0)
      })
    )))

  it("times out with a typed IcmpError when the host resolves but does not answer (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", arp: { announce: false } })
        yield* a.arp.addStatic(RAW, raw.mac)
        const f = yield* Effect.forkChild(Effect.flip(a.icmp.ping(RAW, { timeout: "1 second" })))
        yield* raw.next(isIcmp("EchoRequest"), "echo request")
        yield* TestClock.adjust("999 millis")
        assert.equal(f.pollUnsafe(), undefined)
        yield* TestClock.adjust("1 millis")
        const e = yield* Fiber.join(f)
        assert.ok(e instanceof IcmpError)
        assert.equal(e.reason, "Timeout")
      })
    )))

  it("fails with Unreachable when ARP cannot resolve the host (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", arp: { announce: false } })
        const f = yield* Effect.forkChild(Effect.flip(a.icmp.ping(ip("10.0.0.99"))))
        yield* TestClock.adjust("7500 millis")
        const e = yield* Fiber.join(f)
        assert.equal(e.reason, "Unreachable")
        assert.match(e.message, /10\.0\.0\.99/)
      })
    )))

  it("fails with Unreachable when a Destination Unreachable quoting the request comes back", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", arp: { announce: false } })
        yield* a.arp.addStatic(RAW, raw.mac)
        const f = yield* Effect.forkChild(Effect.flip(a.icmp.ping(RAW, { timeout: "5 seconds" })))
        const req = yield* raw.next(isIcmp("EchoRequest"), "echo request")
        const quote = req.subarray(14, 14 + 28) // IP header + 8 bytes of the echo request
        const repr: Icmpv4Repr = { _tag: "DstUnreachable", code: 1, data: quote }
        const msg = new Uint8Array(Icmpv4Repr.bufferLen(repr))
        Icmpv4Repr.emit(repr, msg, ChecksumCapabilities.all)
        yield* raw.send(ipv4Frame(a.mac, raw.mac, { src: RAW, dst: A, protocol: IpProtocol.Icmp, payload: msg }))
        const e = yield* Fiber.join(f)
        assert.equal(e.reason, "Unreachable")
        assert.equal((yield* a.icmp.stats).dstUnreachableReceived, 1)
      })
    )))
})

describe("Icmp: echo server", () => {
  it("answers an echo request with the same identifier, sequence number and data", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all", arp: { announce: false } })
        yield* s.arp.addStatic(RAW, raw.mac)
        const data = pattern(300, 5)
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Icmp,
          payload: echoRequest(0x1234, 0x0007, data),
        }))
        const f = yield* raw.next(isIcmp("EchoReply"), "echo reply")
        const r = parseIcmp(f)!
        assert.equal(r.ip.srcAddr, B)
        assert.equal(r.ip.dstAddr, RAW)
        assert.ok(r.icmp._tag === "EchoReply")
        assert.equal(r.icmp.ident, 0x1234)
        assert.equal(r.icmp.seqNo, 7)
        assertBytes(r.icmp.data, data, "echo data")
        assert.ok(r.checksumOk, "ICMP checksum computed (capabilities: all)")
      })
    )))

  it("answers an echo request with a nonzero code, copying the code into the reply (as Linux does)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all", arp: { announce: false } })
        yield* s.arp.addStatic(RAW, raw.mac)
        const codes = [7, 255, 0]
        for (let i = 0; i < codes.length; i++) {
          const payload = echoRequest(0x4242, i, pattern(20, i))
          payload[1] = codes[i] // RFC 792 says 0; nmap's OS probes send other codes
          new Icmpv4Packet(payload).fillChecksum()
          yield* raw.send(ipv4Frame(s.mac, raw.mac, { src: RAW, dst: B, protocol: IpProtocol.Icmp, payload }))
          const f = yield* raw.next(
            (f) => parseIpv4(f)?.repr.protocol === IpProtocol.Icmp && parseIpv4(f)!.payload[0] === 0,
            `the reply to code ${codes[i]}`,
          )
          const reply = parseIpv4(f)!.payload
          assert.equal(reply[1], codes[i], "the request's code, copied")
          const r = parseIcmp(f)!
          assert.ok(r.checksumOk)
          assert.ok(r.icmp._tag === "EchoReply")
          assert.equal(r.icmp.ident, 0x4242)
          assert.equal(r.icmp.seqNo, i)
          assertBytes(r.icmp.data, pattern(20, i), "echo data")
        }
        const st = yield* s.icmp.stats
        assert.equal(st.echoRepliesSent, 3)
        assert.equal(st.malformed, 0)
      })
    )))

  it("ignores echo requests sent to a broadcast address", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: ip("10.0.0.255"),
          protocol: IpProtocol.Icmp,
          payload: echoRequest(1, 1, pattern(8)),
        }))
        yield* pollUntil(s.icmp.stats, (x) => x.broadcastEchoIgnored === 1, "ignored")
        assert.equal((yield* s.icmp.stats).echoRepliesSent, 0)
      })
    )))
})

describe("Icmp: errors sent", () => {
  it("answers a datagram to a closed UDP port with port unreachable quoting header + 8 bytes", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all", arp: { announce: false } })
        yield* s.arp.addStatic(RAW, raw.mac)
        const pkt = ipv4Packet({
          src: RAW,
          dst: B,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, B, 3333, 4444, pattern(50)),
        })
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, B, 3333, 4444, pattern(50)),
        }))
        const f = yield* raw.next(isIcmp("DstUnreachable"), "port unreachable")
        const r = parseIcmp(f)!
        assert.ok(r.icmp._tag === "DstUnreachable")
        assert.equal(r.icmp.code, 3)
        assert.equal(r.ip.dstAddr, RAW)
        assertBytes(r.icmp.data, pkt.subarray(0, 28), "quoted header + 8 bytes")
        assert.equal((yield* s.udp.stats).noPort, 1)
      })
    )))

  it("rate-limits errors with a token bucket driven by the Clock (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({
          cidr: "10.0.0.2/24",
          arp: { announce: false },
          icmp: { rateLimit: { perSecond: 2, burst: 3 } },
        })
        yield* s.arp.addStatic(RAW, raw.mac)
        const probe = () =>
          raw.send(ipv4Frame(s.mac, raw.mac, {
            src: RAW,
            dst: B,
            protocol: IpProtocol.Udp,
            payload: udpDatagram(RAW, B, 1, 4444, pattern(4)),
          }))
        for (let i = 0; i < 10; i++) yield* probe()
        yield* pollUntil(s.udp.stats, (x) => x.noPort === 10, "10 datagrams")
        yield* pollUntil(Effect.sync(() => raw.count(isIcmp("DstUnreachable"))), (n) => n === 3, "burst of 3")
        assert.equal((yield* s.icmp.stats).errorsRateLimited, 7)
        yield* TestClock.adjust("1 second") // 2 more tokens
        for (let i = 0; i < 5; i++) yield* probe()
        yield* pollUntil(s.udp.stats, (x) => x.noPort === 15, "15 datagrams")
        yield* pollUntil(Effect.sync(() => raw.count(isIcmp("DstUnreachable"))), (n) => n === 5, "2 more")
        const st = yield* s.icmp.stats
        assert.equal(st.errorsSent, 5)
        assert.equal(st.errorsRateLimited, 10)
      })
    )))

  it("sends no error about a broadcast datagram, and protocol unreachable for an unknown protocol", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* s.arp.addStatic(RAW, raw.mac)
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: ip("255.255.255.255"),
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, ip("255.255.255.255"), 1, 4444, pattern(4)),
        }))
        yield* raw.send(ipv4Frame(s.mac, raw.mac, { src: RAW, dst: B, protocol: 200, payload: pattern(16) }))
        const f = yield* raw.next(isIcmp("DstUnreachable"), "protocol unreachable")
        const r = parseIcmp(f)!
        assert.ok(r.icmp._tag === "DstUnreachable")
        assert.equal(r.icmp.code, 2)
        assert.equal(raw.count(isIcmp("DstUnreachable")), 1)
        assert.equal((yield* s.udp.stats).noPort, 1)
      })
    )))

  it("with protocolUnreachable off, unknown protocols get nothing but closed UDP ports still get port unreachable", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({
          cidr: "10.0.0.2/24",
          arp: { announce: false },
          icmp: { protocolUnreachable: false },
        })
        yield* s.arp.addStatic(RAW, raw.mac)
        yield* raw.send(ipv4Frame(s.mac, raw.mac, { src: RAW, dst: B, protocol: 200, payload: pattern(16) }))
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, B, 1, 4444, pattern(4)),
        }))
        const f = yield* raw.next(isIcmp("DstUnreachable"), "port unreachable")
        const m = parseIcmp(f)!.icmp
        assert.ok(m._tag === "DstUnreachable" && m.code === 3)
        assert.equal((yield* s.ipv4.stats).unknownProtocol, 1)
        assert.equal(raw.count(isIcmp("DstUnreachable")), 1)
      })
    )))

  it("never answers an ICMP error with an error", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        const repr: Icmpv4Repr = { _tag: "DstUnreachable", code: 3, data: pattern(28) }
        const msg = new Uint8Array(Icmpv4Repr.bufferLen(repr))
        Icmpv4Repr.emit(repr, msg, ChecksumCapabilities.all)
        const original = {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Icmp,
          ttl: 64,
          identification: 1,
          payload: msg,
          header: ipv4Packet({ src: RAW, dst: B, protocol: 1, payload: msg }).subarray(0, 20),
        }
        yield* s.icmp.sendDestinationUnreachable(3, original)
        const st = yield* s.icmp.stats
        assert.equal(st.errorsNotAllowed, 1)
        assert.equal(st.errorsSent, 0)
      })
    )))
})

describe("TokenBucket", () => {
  it("lets a burst through, then refills at the rate", () => {
    const b = new TokenBucket({ ratePerSecond: 10, burst: 2 })
    assert.equal(b.take(0), true)
    assert.equal(b.take(0), true)
    assert.equal(b.take(0), false)
    assert.equal(b.take(99), false)
    assert.equal(b.take(100), true)
    assert.equal(b.available(10_000), 2)
    assert.equal(b.take(5), true, "time going backwards refills nothing but keeps tokens")
  })
})
