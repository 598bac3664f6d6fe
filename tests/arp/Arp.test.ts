/**
 * Tests of the ARP service against a raw switch port: replies, learning (merge rule), resolution through a port
 * that answers, the exact retry schedule and timeout under TestClock, shared resolutions, expiry, static entries,
 * the announcement on start, and the queue of datagrams waiting for a resolution (the request sent before `enqueue`
 * returns, framed with the learned MAC after the reply — never a zero MAC —, bounded, dropped on timeout), and the
 * policy against poisoning (issue 15: no entries from unsolicited ARP; a claim of another MAC for a reachable entry
 * verified with a unicast probe to the old MAC, accepted only if it stays silent; the LRU bound).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import { TestClock } from "effect/testing"
import { Arp, type ArpConfigInput, ArpError } from "../../src/arp/Arp.ts"
import { Ethernet } from "../../src/ethernet/Ethernet.ts"
import { Vnetif } from "../../src/link/Vnetif.ts"
import { Stack } from "../../src/Stack.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import {
  arpFrame,
  assertBytes,
  ip,
  isArpRequestFor,
  parseArp,
  parseEth,
  parseUdp,
  pattern,
  pollUntil,
  rawPort,
  run,
  runTest,
  withSwitch,
  yieldUntil,
} from "../support/TestDevice.ts"

const quietLogs = Logger.layer([])
const US = ip("10.0.0.2")
const PEER = ip("10.0.0.7")
const NOBODY = ip("10.0.0.9")

/** Vnetif + Ethernet + Arp on the switch in context. */
const arpOnSwitch = (config: Omit<ArpConfigInput, "address"> = {}) =>
  Effect.gen(function* () {
    const device = yield* Effect.orDie(Vnetif.make())
    const eth = yield* Effect.provideService(Ethernet.make, Vnetif, device)
    const arp = yield* Effect.provideService(Arp.make({ address: US, ...config }), Ethernet, eth)
    return { device, eth, arp }
  })

describe("Arp: answering and learning", () => {
  it("announces its address on start (gratuitous ARP: sender = target = our address, broadcast)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch()
        const f = yield* raw.next(isArpRequestFor(US), "announcement")
        const a = parseArp(f)!
        assert.equal(a.senderProtocolAddr, US)
        assert.equal(a.senderHardwareAddr, eth.mac)
        assert.equal(a.targetHardwareAddr, MacAddress.ZERO)
        assert.equal((yield* arp.stats).requestsSent, 1)
      })
    )))

  it("replies to a request for its address (unicast to the requester) and learns the requester", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false })
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: PEER, targetIp: US }))
        const f = yield* raw.next((f) => parseArp(f)?.operation === 2, "ARP reply")
        const r = parseArp(f)!
        assert.equal(r.senderHardwareAddr, eth.mac)
        assert.equal(r.senderProtocolAddr, US)
        assert.equal(r.targetHardwareAddr, raw.mac)
        assert.equal(r.targetProtocolAddr, PEER)
        assert.equal(f[0] & 1, 0, "the reply is unicast")
        assert.deepEqual((yield* arp.entries).map((e) => [e.ip, e.mac, e.kind]), [[PEER, raw.mac, "dynamic"]])
        const s = yield* arp.stats
        assert.equal(s.requestsReceived, 1)
        assert.equal(s.repliesSent, 1)
      })
    )))

  it("does not create entries from requests for other hosts, but refreshes existing ones (merge rule, trusting)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false, acceptUnsolicited: true })
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: PEER, targetIp: NOBODY }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 1, "request received")
        assert.deepEqual(yield* arp.entries, [])
        assert.equal(raw.count((f) => parseArp(f)?.operation === 2), 0, "no reply for another host")
        // now an entry exists (static is not refreshable, so learn via a request for us) …
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: PEER, targetIp: US }))
        yield* raw.next((f) => parseArp(f)?.operation === 2, "reply")
        // … and, with acceptUnsolicited: true, a gratuitous ARP from PEER with a new MAC updates it at once
        const newMac = 0x02aa00000001 as MacAddress
        yield* raw.send(arpFrame({ op: 1, senderMac: newMac, senderIp: PEER, targetIp: PEER }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 3, "gratuitous ARP received")
        assert.deepEqual((yield* arp.entries).map((e) => e.mac), [newMac])
      })
    )))

  it("counts a packet that claims our address as a conflict and never learns it", () =>
    run(
      withSwitch(() =>
        Effect.gen(function* () {
          const raw = yield* rawPort()
          const { arp } = yield* arpOnSwitch({ announce: false })
          yield* raw.send(
            arpFrame({ op: 2, senderMac: raw.mac, senderIp: US, targetIp: US, ethDst: MacAddress.BROADCAST }),
          )
          yield* pollUntil(arp.stats, (s) => s.conflicts === 1, "conflict counted")
          assert.deepEqual(yield* arp.entries, [])
        })
      ).pipe(Effect.provide(quietLogs)),
    ))
})

describe("Arp: resolution", () => {
  it("query resolves through a port that answers, then hits the cache without a new request", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false })
        const q = yield* Effect.forkChild(arp.query(PEER))
        const req = yield* raw.next(isArpRequestFor(PEER), "request")
        const r = parseArp(req)!
        yield* raw.send(arpFrame({
          op: 2,
          senderMac: raw.mac,
          senderIp: PEER,
          targetMac: r.senderHardwareAddr,
          targetIp: US,
        }))
        assert.equal(yield* Fiber.join(q), raw.mac)
        assert.equal(yield* arp.query(PEER), raw.mac)
        assert.equal(raw.count(isArpRequestFor(PEER)), 1)
        assert.equal(arp.lookup(PEER), raw.mac)
      })
    )))

  it("times out after exactly 5 requests 1.5 s apart (TestClock), with a typed ArpError", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false })
        const q = yield* Effect.forkChild(arp.query(NOBODY))
        yield* raw.next(isArpRequestFor(NOBODY), "request 1")
        for (let i = 2; i <= 5; i++) {
          yield* TestClock.adjust("1500 millis")
          yield* raw.next(isArpRequestFor(NOBODY), `request ${i}`)
          assert.equal(raw.count(isArpRequestFor(NOBODY)), i)
        }
        yield* TestClock.adjust("1499 millis")
        yield* Effect.yieldNow
        assert.equal(q.pollUnsafe(), undefined, "still waiting at 7.499 s")
        yield* TestClock.adjust("1 millis")
        const exit = yield* Fiber.await(q)
        assert.ok(Exit.isFailure(exit))
        const err = exit.cause.reasons[0]
        assert.ok(err._tag === "Fail" && err.error instanceof ArpError)
        assert.equal(err.error.reason, "Timeout")
        assert.equal(yield* Clock.currentTimeMillis, 7500)
        assert.equal(raw.count(isArpRequestFor(NOBODY)), 5, "exactly 5 requests on the wire")
        assert.equal((yield* arp.stats).timeouts, 1)
      })
    )))

  it("concurrent queries for one address share one resolution", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false })
        const qs = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(arp.query(PEER)))
        yield* raw.next(isArpRequestFor(PEER), "request")
        yield* TestClock.adjust("1 second")
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: PEER, targetMac: eth.mac, targetIp: US }))
        for (const q of qs) assert.equal(yield* Fiber.join(q), raw.mac)
        assert.equal(raw.count(isArpRequestFor(PEER)), 1)
      })
    )))

  it("rejects non-unicast addresses with InvalidAddress", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const { arp } = yield* arpOnSwitch({ announce: false })
        const e = yield* Effect.flip(arp.query(ip("255.255.255.255")))
        assert.equal(e.reason, "InvalidAddress")
        assert.equal(yield* arp.query(US), arp.lookup(US), "our own address resolves to our MAC")
      })
    )))
})

describe("Arp: expiry and static entries", () => {
  it("a learned entry expires after the timeout (TestClock); the next query asks again", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false, timeout: "60 seconds" })
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: PEER, targetIp: US }))
        yield* raw.next((f) => parseArp(f)?.operation === 2, "reply")
        assert.equal((yield* arp.entries).length, 1)
        yield* TestClock.adjust("59999 millis")
        assert.equal(arp.lookup(PEER), raw.mac)
        yield* TestClock.adjust("1 millis")
        assert.deepEqual(yield* arp.entries, [])
        assert.equal(arp.lookup(PEER), undefined)
        yield* Effect.forkChild(arp.query(PEER))
        yield* raw.next(isArpRequestFor(PEER), "a new request after expiry")
      })
    )))

  it("static entries answer at once, never expire and are not overwritten; remove deletes them", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false })
        const fixed = 0x02bb00000001 as MacAddress
        yield* arp.addStatic(PEER, fixed)
        assert.equal(yield* arp.query(PEER), fixed)
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: PEER, targetIp: US }))
        yield* raw.next((f) => parseArp(f)?.operation === 2, "reply")
        yield* TestClock.adjust("2 hours")
        assert.deepEqual((yield* arp.entries).map((e) => [e.mac, e.kind]), [[fixed, "static"]])
        assert.equal(raw.count(isArpRequestFor(PEER)), 0)
        yield* arp.remove(PEER)
        assert.deepEqual(yield* arp.entries, [])
      })
    )))
})

describe("Arp: frames waiting for a resolution", () => {
  it("queues outbound datagrams during resolution and sends them, in order, after the reply", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        for (let i = 0; i < 3; i++) yield* s.udp.send(4000, PEER, 9, pattern(10 + i, i))
        yield* raw.next(isArpRequestFor(PEER), "request")
        assert.equal(raw.count((f) => parseUdp(f) !== undefined), 0, "nothing sent before the reply")
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: PEER, targetMac: s.mac, targetIp: US }))
        for (let i = 0; i < 3; i++) {
          const f = yield* raw.next((f) => parseUdp(f) !== undefined, `datagram ${i}`)
          const u = parseUdp(f)!
          assert.equal(u.udp.payload.length, 10 + i)
          assert.equal(parseEth(f)!.dst, raw.mac, "sent to the resolved MAC")
        }
        const st = yield* s.arp.stats
        assert.equal(st.queued, 3)
        assert.equal(st.queueOverflows, 0)
        assert.equal(raw.count((f) => parseEth(f)?.src === s.mac && parseEth(f)?.dst === 0), 0, "never a zero MAC")
      })
    )))

  it("enqueue sends the request before it returns; the reply frames the datagram as given, with the learned MAC", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false })
        const datagram = pattern(40, 3)
        arp.enqueue(PEER, datagram)
        assert.equal((yield* arp.stats).requestsSent, 1, "the resolution started synchronously")
        arp.enqueue(PEER, pattern(41, 4))
        assert.equal((yield* arp.stats).requestsSent, 1, "one resolution per address")
        yield* raw.next(isArpRequestFor(PEER), "request")
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: PEER, targetMac: eth.mac, targetIp: US }))
        const f = yield* raw.next((f) => parseEth(f)?.etherType === 0x0800, "the queued datagram")
        const e = parseEth(f)!
        assert.equal(e.dst, raw.mac)
        assert.equal(e.src, eth.mac)
        assertBytes(e.payload, datagram, "the datagram, unchanged")
        yield* raw.next((f) => parseEth(f)?.etherType === 0x0800 && parseEth(f)!.payload.length === 41, "second")
        // a hit (a caller that did not look up first) is sent at once
        arp.enqueue(PEER, pattern(5))
        yield* raw.next((f) => parseEth(f)?.etherType === 0x0800 && parseEth(f)!.payload.length === 5, "third")
        assert.equal((yield* arp.stats).queued, 2)
      })
    )))

  it("bounds the queue per address: overflow is dropped and counted", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false, pendingLimit: 2 } })
        for (let i = 0; i < 5; i++) yield* s.udp.send(4000, PEER, 9, pattern(20, i))
        yield* raw.next(isArpRequestFor(PEER), "request")
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: PEER, targetMac: s.mac, targetIp: US }))
        yield* raw.next((f) => parseUdp(f) !== undefined, "datagram 1")
        yield* raw.next((f) => parseUdp(f) !== undefined, "datagram 2")
        assert.equal(raw.count((f) => parseUdp(f) !== undefined), 2)
        const st = yield* s.arp.stats
        assert.equal(st.queued, 2)
        assert.equal(st.queueOverflows, 3)
      })
    )))

  it("drops the queue when the resolution times out (TestClock)", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } })
        yield* s.udp.send(4000, NOBODY, 9, pattern(5))
        yield* s.udp.send(4000, NOBODY, 9, pattern(6))
        yield* raw.next(isArpRequestFor(NOBODY), "request")
        yield* TestClock.adjust("7500 millis")
        yield* yieldUntil(() => raw.count(isArpRequestFor(NOBODY)) === 5, "5 requests")
        const st = yield* pollUntil(s.arp.stats, (x) => x.timeouts === 1, "timeout")
        assert.equal(st.timeouts, 1)
        assert.equal(st.timeoutDrops, 2)
      })
    )))
})

const GATEWAY = ip("10.0.0.1")
const ATTACKER = 0x02dead000001 as MacAddress

/** Resolves `target` through `raw`: a query, the request on the wire, and the reply from `raw`. */
const resolveThrough = (
  arp: Effect.Success<ReturnType<typeof arpOnSwitch>>["arp"],
  raw: Effect.Success<ReturnType<typeof rawPort>>,
  usMac: MacAddress,
  target: Ipv4Address,
) =>
  Effect.gen(function* () {
    const q = yield* Effect.forkChild(arp.query(target))
    yield* raw.next(isArpRequestFor(target), "request")
    yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: target, targetMac: usMac, targetIp: US }))
    return yield* Fiber.join(q)
  })

/** True for an ARP request for `target` sent unicast to `dst` (a verification probe). */
const isProbe = (f: Uint8Array, dst: MacAddress, target: Ipv4Address): boolean =>
  parseEth(f)?.dst === dst && parseArp(f)?.operation === 1 && parseArp(f)?.targetProtocolAddr === target

describe("Arp: hostile traffic (issue 15)", () => {
  it("an unsolicited reply creates no entry, nor does a gratuitous announcement; both are counted", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false })
        yield* raw.send(arpFrame({ op: 2, senderMac: ATTACKER, senderIp: GATEWAY, targetMac: eth.mac, targetIp: US }))
        yield* raw.send(arpFrame({ op: 1, senderMac: ATTACKER, senderIp: PEER, targetIp: PEER }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 1 && s.repliesReceived === 1, "both received")
        assert.deepEqual(yield* arp.entries, [])
        assert.equal(arp.lookup(GATEWAY), undefined)
        assert.equal((yield* arp.stats).unsolicitedIgnored, 2)
      })
    )))

  it("a poisoning attempt against a live host is rejected: a unicast probe to the old MAC, whose answer keeps it", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false })
        assert.equal(yield* resolveThrough(arp, raw, eth.mac, GATEWAY), raw.mac)
        // three claims of the gateway's address by another MAC: gratuitous request, unsolicited reply, request for us
        yield* raw.send(arpFrame({ op: 1, senderMac: ATTACKER, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* raw.send(arpFrame({ op: 2, senderMac: ATTACKER, senderIp: GATEWAY, targetMac: eth.mac, targetIp: US }))
        yield* raw.send(arpFrame({ op: 1, senderMac: ATTACKER, senderIp: GATEWAY, targetIp: US }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 2 && s.repliesReceived === 2, "all received")
        // the verification: ONE request for the gateway, unicast to the MAC the entry holds
        const probe = yield* raw.next((f) => isProbe(f, raw.mac, GATEWAY), "the unicast probe to the old MAC")
        const p = parseArp(probe)!
        assert.equal(p.senderHardwareAddr, eth.mac)
        assert.equal(p.senderProtocolAddr, US)
        assert.equal(p.targetHardwareAddr, MacAddress.ZERO)
        assert.equal(raw.count((f) => isProbe(f, raw.mac, GATEWAY)), 1, "one probe for the three claims")
        assert.equal(arp.lookup(GATEWAY), raw.mac, "unchanged while verifying")
        // the real gateway is alive: it answers
        yield* raw.send(arpFrame({ op: 2, senderMac: raw.mac, senderIp: GATEWAY, targetMac: eth.mac, targetIp: US }))
        yield* pollUntil(arp.stats, (s) => s.updatesIgnored === 1, "the claim refused")
        yield* TestClock.adjust("10 seconds")
        assert.equal(arp.lookup(GATEWAY), raw.mac, "the gateway's entry is unchanged")
        const s = yield* arp.stats
        assert.equal(s.updatesProbed, 1)
        assert.equal(s.updatesIgnored, 1)
        assert.equal(s.updatesVerified, 0)
        assert.equal(s.unsolicitedIgnored, 0)
        // the same MAC still confirms it, and starts nothing
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 3, "confirmation received")
        assert.equal(arp.lookup(GATEWAY), raw.mac)
        assert.equal((yield* arp.stats).updatesProbed, 1)
      })
    )))

  it("a host that really changed its MAC (old one silent) is accepted after verifyTimeout, not before", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false, verifyTimeout: "250 millis" })
        assert.equal(yield* resolveThrough(arp, raw, eth.mac, GATEWAY), raw.mac)
        yield* TestClock.adjust("5 seconds") // still reachable (30 s)
        const moved = 0x02aa00000003 as MacAddress
        yield* raw.send(arpFrame({ op: 1, senderMac: moved, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* raw.next((f) => isProbe(f, raw.mac, GATEWAY), "the unicast probe to the old MAC")
        // another MAC claiming the address during the verification is refused at once
        yield* raw.send(arpFrame({ op: 1, senderMac: ATTACKER, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* pollUntil(arp.stats, (s) => s.updatesIgnored === 1, "the second claimant refused")
        yield* TestClock.adjust("249 millis")
        assert.equal(arp.lookup(GATEWAY), raw.mac, "not before verifyTimeout")
        yield* TestClock.adjust("1 millis")
        yield* yieldUntil(() => arp.lookup(GATEWAY) === moved, "the new MAC accepted")
        const s = yield* arp.stats
        assert.equal(s.updatesProbed, 1)
        assert.equal(s.updatesVerified, 1)
        assert.equal(s.updatesIgnored, 1)
        // the new MAC is now the one that is verified: the old one claiming the address back is probed in turn
        yield* raw.send(arpFrame({ op: 1, senderMac: raw.mac, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* raw.next((f) => isProbe(f, moved, GATEWAY), "a probe to the new MAC")
      })
    )))

  it("the default verifyTimeout is 1 s", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false })
        assert.equal(yield* resolveThrough(arp, raw, eth.mac, GATEWAY), raw.mac)
        const moved = 0x02aa00000004 as MacAddress
        yield* raw.send(arpFrame({ op: 2, senderMac: moved, senderIp: GATEWAY, targetMac: eth.mac, targetIp: US }))
        yield* raw.next((f) => isProbe(f, raw.mac, GATEWAY), "the unicast probe to the old MAC")
        yield* TestClock.adjust("999 millis")
        assert.equal(arp.lookup(GATEWAY), raw.mac)
        yield* TestClock.adjust("1 millis")
        yield* yieldUntil(() => arp.lookup(GATEWAY) === moved, "accepted after 1 s")
      })
    )))

  it("acceptUnsolicited: true: the same gratuitous request replaces the entry, an unsolicited reply creates one", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false, acceptUnsolicited: true })
        assert.equal(yield* resolveThrough(arp, raw, eth.mac, GATEWAY), raw.mac)
        yield* raw.send(arpFrame({ op: 1, senderMac: ATTACKER, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* raw.send(arpFrame({ op: 2, senderMac: ATTACKER, senderIp: PEER, targetMac: eth.mac, targetIp: US }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 1 && s.repliesReceived === 2, "received")
        assert.equal(arp.lookup(GATEWAY), ATTACKER)
        assert.equal(arp.lookup(PEER), ATTACKER)
        const s = yield* arp.stats
        assert.equal(s.updatesIgnored + s.unsolicitedIgnored, 0)
      })
    )))

  it("an entry no longer reachable (reachableTime passed) may change; the answer to our own request is accepted", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp, eth } = yield* arpOnSwitch({ announce: false, reachableTime: "10 seconds" })
        assert.equal(yield* resolveThrough(arp, raw, eth.mac, GATEWAY), raw.mac)
        yield* TestClock.adjust("9999 millis")
        yield* raw.send(arpFrame({ op: 1, senderMac: ATTACKER, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* pollUntil(arp.stats, (s) => s.updatesProbed === 1, "verified while reachable")
        assert.equal(arp.lookup(GATEWAY), raw.mac)
        yield* TestClock.adjust("1 millis")
        const moved = 0x02aa00000002 as MacAddress
        yield* raw.send(arpFrame({ op: 1, senderMac: moved, senderIp: GATEWAY, targetIp: GATEWAY }))
        yield* yieldUntil(() => arp.lookup(GATEWAY) === moved, "a host that moved is accepted at once once stale")
        // the verification of ATTACKER's claim ends without effect: the entry changed meanwhile
        yield* TestClock.adjust("1 second")
        yield* pollUntil(arp.stats, (s) => s.updatesIgnored === 1, "the stale verification refused")
        assert.equal(arp.lookup(GATEWAY), moved)
        // after expiry, a new resolution: its answer creates the entry again
        yield* TestClock.adjust("60 seconds")
        assert.equal(arp.lookup(GATEWAY), undefined)
        assert.equal(yield* resolveThrough(arp, raw, eth.mac, GATEWAY), raw.mac)
        const s = yield* arp.stats
        assert.equal(s.updatesIgnored, 1)
        assert.equal(s.updatesVerified, 0)
      })
    )))

  it("1000 spoofed senders: the cache stays at maxEntries, evictions are counted, a static entry stays", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false, maxEntries: 16 })
        const fixed = 0x02bb00000001 as MacAddress
        yield* arp.addStatic(GATEWAY, fixed)
        for (let i = 0; i < 1000; i++) {
          const sender = (ip("10.1.0.0") + i) as Ipv4Address
          const smac = (0x020000010000 + i) as MacAddress
          yield* raw.send(arpFrame({ op: 1, senderMac: smac, senderIp: sender, targetIp: US }))
          if (i === 500) assert.equal(arp.lookup(GATEWAY), fixed) // a use: the static entry is never a victim anyway
        }
        const s = yield* pollUntil(arp.stats, (s) => s.requestsReceived === 1000, "all received")
        const entries = yield* arp.entries
        assert.equal(entries.filter((e) => e.kind === "dynamic").length, 16)
        assert.equal(s.evictions, 1000 - 16)
        assert.equal(arp.lookup(GATEWAY), fixed)
        assert.deepEqual(entries.find((e) => e.ip === GATEWAY)?.kind, "static")
        // the survivors are the most recent senders
        assert.equal(arp.lookup((ip("10.1.0.0") + 999) as Ipv4Address), (0x020000010000 + 999) as MacAddress)
        assert.equal(arp.lookup((ip("10.1.0.0") + 983) as Ipv4Address), undefined)
      })
    )))

  it("evicts the least recently used entry: a looked-up entry survives newer ones", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const { arp } = yield* arpOnSwitch({ announce: false, maxEntries: 2 })
        const a = ip("10.0.0.11"), b = ip("10.0.0.12"), c = ip("10.0.0.13")
        for (const [i, x] of [a, b].entries()) {
          yield* raw.send(arpFrame({ op: 1, senderMac: (0x020000000100 + i) as MacAddress, senderIp: x, targetIp: US }))
        }
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 2, "two learned")
        assert.ok(arp.lookup(a) !== undefined) // a is now more recently used than b
        yield* raw.send(arpFrame({ op: 1, senderMac: 0x020000000200 as MacAddress, senderIp: c, targetIp: US }))
        yield* pollUntil(arp.stats, (s) => s.requestsReceived === 3, "third learned")
        assert.deepEqual((yield* arp.entries).map((e) => e.ip), [a, c])
        assert.equal((yield* arp.stats).evictions, 1)
      })
    )))

  it("rejects an invalid maxEntries with InvalidConfig naming the key", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(arpOnSwitch({ maxEntries: 0 }))
        assert.ok(e instanceof ArpError)
        assert.equal(e.reason, "InvalidConfig")
        assert.match(e.message, /maxEntries/)
      })
    )))
})
