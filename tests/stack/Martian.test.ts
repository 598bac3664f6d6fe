/**
 * Hostile traffic at the stack level (issue 15), injected from a raw switch port under TestClock: one spoofed TCP SYN
 * from our own address and port to itself (the "land" attack) and one spoofed UDP datagram to an echo service from a
 * martian source (own address, 127/8, broadcasts, multicast, class E, 0/8) get no answer at all — no frame on the
 * wire, nothing delivered, nothing looped back — and each is counted in `ipv4.badSource` and in the counter of its reason (`badSourceOwn`, …). A normal datagram is still
 * echoed, 0.0.0.0 → 255.255.255.255 (a host learning its address) is still delivered, and a datagram the stack sends
 * to its own address still arrives through the loopback queue.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { Stack } from "../../src/Stack.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import { TcpFlags, TcpRepr } from "../../src/wire/Tcp.ts"
import {
  arpFrame,
  assertBytes,
  ip,
  ipv4Frame,
  isArpRequestFor,
  macrotask,
  parseUdp,
  pattern,
  pollUntil,
  rawPort,
  runTest,
  udpDatagram,
  withSwitch,
} from "../support/TestDevice.ts"

const B = ip("10.0.0.2")
const RAW = ip("10.0.0.7")
const CONFIG = { cidr: "10.0.0.2/24", gateway: "10.0.0.7", arp: { announce: false } } as const

/** A TCP SYN (with checksum) from `src:srcPort` to `dst:dstPort`. */
const syn = (src: Ipv4Address, srcPort: number, dst: Ipv4Address, dstPort: number): Uint8Array => {
  const repr: TcpRepr = {
    srcPort,
    dstPort,
    seqNumber: 1000,
    ackNumber: 0,
    flags: TcpFlags.SYN,
    windowLen: 65535,
    urgentPointer: 0,
    options: { mss: 1460, sackPermitted: false, sackBlocks: [] },
    payload: new Uint8Array(0),
  }
  const b = new Uint8Array(TcpRepr.bufferLen(repr))
  TcpRepr.emit(repr, b, pseudoHeaderSum(src, dst, IpProtocol.Tcp, b.length), ChecksumCapabilities.all)
  return b
}

/** The per-reason martian counters of `Ipv4Stats`; they add up to `badSource`. */
const REASONS = [
  "badSourceOwn",
  "badSourceLoopback",
  "badSourceThisNetwork",
  "badSourceMulticast",
  "badSourceReserved",
  "badSourceBroadcast",
] as const
type ReasonCounter = typeof REASONS[number]

/** Lets virtual time pass (20 s) with real macrotasks in between, so any loop or timer would have run. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) {
    yield* TestClock.adjust("1 second")
    yield* macrotask
  }
})

describe("Stack: martian sources (RFC 1122 §3.2.1.3)", () => {
  it("a spoofed SYN 10.0.0.2:80 → 10.0.0.2:80 (land) gets no reply, nothing loops, the drop is counted", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make(CONFIG)
        yield* s.tcp.listen(80)
        yield* raw.send(
          ipv4Frame(s.mac, raw.mac, { src: B, dst: B, protocol: IpProtocol.Tcp, payload: syn(B, 80, B, 80) }),
        )
        yield* pollUntil(s.ipv4.stats, (x) => x.rxPackets === 1, "the SYN received")
        yield* settle
        const st = yield* s.ipv4.stats
        assert.equal(st.badSource, 1, "counted as a martian source")
        assert.equal(st.badSourceOwn, 1, "counted as our own address")
        assert.equal(st.rxDelivered, 0, "not delivered to TCP")
        assert.equal(st.loopback, 0, "nothing sent to ourselves")
        assert.equal(st.txDatagrams, 0, "nothing sent at all")
        const tcp = yield* s.tcp.stats
        assert.equal(tcp.segmentsIn, 0)
        assert.equal(tcp.segmentsOut, 0)
        assert.equal(raw.frames.length, 0, "no frame leaves the stack")
      })
    )))

  it("spoofed UDP to the echo port from martian sources gets no reply and each is counted; normal traffic works", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make(CONFIG)
        yield* s.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
        const martians: ReadonlyArray<readonly [string, string, ReasonCounter]> = [
          ["10.0.0.2", "10.0.0.2", "badSourceOwn"], // our own address, port 7 → port 7
          ["10.0.0.2", "10.0.0.255", "badSourceOwn"], // our own address, to our broadcast
          ["127.0.0.1", "10.0.0.2", "badSourceLoopback"],
          ["127.255.255.254", "10.0.0.255", "badSourceLoopback"],
          ["255.255.255.255", "10.0.0.2", "badSourceReserved"], // the limited broadcast
          ["10.0.0.255", "10.0.0.2", "badSourceBroadcast"], // our subnet's directed broadcast
          ["224.0.0.1", "10.0.0.2", "badSourceMulticast"],
          ["239.255.255.255", "10.0.0.2", "badSourceMulticast"],
          ["240.0.0.1", "10.0.0.2", "badSourceReserved"],
          ["0.0.0.1", "10.0.0.2", "badSourceThisNetwork"],
          ["0.0.0.1", "255.255.255.255", "badSourceThisNetwork"], // only 0.0.0.0 may send to the limited broadcast
          ["0.0.0.0", "10.0.0.2", "badSourceThisNetwork"], // 0.0.0.0 only to the limited broadcast
        ]
        const expected: Record<ReasonCounter, number> = Object.fromEntries(
          REASONS.map((k) => [k, 0]),
        ) as Record<ReasonCounter, number>
        for (let i = 0; i < martians.length; i++) {
          const [from, to, reason] = martians[i]
          const src = ip(from)
          const dst = ip(to)
          const payload = udpDatagram(src, dst, 7, 7, pattern(8))
          yield* raw.send(ipv4Frame(s.mac, raw.mac, { src, dst, protocol: IpProtocol.Udp, payload }))
          const st = yield* pollUntil(s.ipv4.stats, (x) => x.rxPackets === i + 1, `datagram from ${from}`)
          assert.equal(st.badSource, i + 1, `${from} → ${to} counted as a martian source`)
          expected[reason]++
          for (const k of REASONS) assert.equal(st[k], expected[k], `${from} → ${to}: ${k}`)
        }
        for (const k of REASONS) assert.ok(expected[k] > 0, `${k} exercised`)
        yield* settle
        const st = yield* s.ipv4.stats
        assert.equal(st.rxDelivered, 0, "none delivered")
        assert.equal(st.loopback, 0, "nothing echoed to ourselves")
        assert.equal(st.txDatagrams, 0, "nothing sent")
        assert.equal((yield* s.udp.stats).rxDatagrams, 0)
        assert.equal(raw.frames.length, 0, "no frame leaves the stack (not even an ARP request)")

        // a normal datagram is still echoed
        const data = pattern(13, 5)
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: RAW,
          dst: B,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(RAW, B, 4000, 7, data),
        }))
        yield* raw.next(isArpRequestFor(RAW), "ARP request for the sender")
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: RAW, targetMac: s.mac, targetIp: B }))
        const echo = parseUdp(yield* raw.next((f) => parseUdp(f) !== undefined, "the echo"))!
        assert.equal(echo.ip.srcAddr, B)
        assert.equal(echo.ip.dstAddr, RAW)
        assert.equal(echo.udp.dstPort, 4000)
        assertBytes(echo.udp.payload, data, "echoed data")
        const after = yield* s.ipv4.stats
        assert.equal(after.badSource, martians.length)
        assert.equal(REASONS.reduce((n, k) => n + after[k], 0), after.badSource, "the reasons add up to the total")
      })
    )))

  it("0.0.0.0 → 255.255.255.255 (a host without an address yet) is still delivered", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make(CONFIG)
        const sock = yield* s.udp.bind(67)
        const src = ip("0.0.0.0")
        const dst = ip("255.255.255.255")
        const data = pattern(20)
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src,
          dst,
          protocol: IpProtocol.Udp,
          payload: udpDatagram(src, dst, 68, 67, data),
        }))
        const d = yield* sock.take
        assertBytes(d.data, data, "data")
        assert.equal((yield* s.ipv4.stats).badSource, 0)
      })
    )))

  it("a datagram the stack sends to its own address still arrives (loopback is not the wire)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make(CONFIG)
        const sock = yield* s.udp.bind(9)
        yield* s.udp.send(9, B, 9, pattern(6))
        const d = yield* sock.take
        assert.equal(d.src, B)
        assertBytes(d.data, pattern(6), "data")
        const st = yield* s.ipv4.stats
        assert.equal(st.badSource, 0)
        assert.equal(st.loopback, 1)
        assert.equal(raw.frames.length, 0)
      })
    )))
})
