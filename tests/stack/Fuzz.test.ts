/**
 * Robustness of the whole receive path: thousands of random and mutated frames per layer (Ethernet, ARP, IPv4 with
 * fragments, ICMP, UDP) are injected into a full stack on a fake device, with checksum verification on and off.
 * Nothing may die (the Ethernet layer counts handler defects: must stay 0), the malformed ones must be counted, and
 * afterwards the stack must still answer ARP and ping. Deterministic: fast-check samples with fixed seeds, and the
 * stack runs under TestClock.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import * as Effect from "effect/Effect"
import { Backend } from "../../src/link/Backend.ts"
import { Switch } from "../../src/link/Switch.ts"
import { Stack, type StackHandle } from "../../src/Stack.ts"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { EtherType } from "../../src/wire/Ethernet.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import type { MacAddress } from "../../src/wire/MacAddress.ts"
import {
  arpFrame,
  echoRequest,
  ethFrame,
  type FakeDevice,
  fakeDevice,
  ip,
  ipv4Frame,
  parseArp,
  parseIcmp,
  pattern,
  runTest,
  udpDatagram,
} from "../support/TestDevice.ts"

const US = ip("10.0.0.2")
const PEER = ip("10.0.0.7")
const PEER_MAC = 0x025000000007 as MacAddress
const RUNS = 2000

/** Valid frames of every kind, the seeds of the mutations. */
const seeds = (mac: MacAddress): Array<Uint8Array> => [
  arpFrame({ op: 1, senderMac: PEER_MAC, senderIp: PEER, targetIp: US }),
  arpFrame({ op: 2, senderMac: PEER_MAC, senderIp: PEER, targetMac: mac, targetIp: US }),
  ipv4Frame(mac, PEER_MAC, {
    src: PEER,
    dst: US,
    protocol: IpProtocol.Udp,
    payload: udpDatagram(PEER, US, 1000, 9, pattern(40)),
  }),
  ipv4Frame(mac, PEER_MAC, {
    src: PEER,
    dst: US,
    protocol: IpProtocol.Udp,
    payload: udpDatagram(PEER, US, 1000, 4444, pattern(40)),
  }),
  ipv4Frame(mac, PEER_MAC, { src: PEER, dst: US, protocol: IpProtocol.Icmp, payload: echoRequest(1, 2, pattern(32)) }),
  ipv4Frame(mac, PEER_MAC, {
    src: PEER,
    dst: US,
    protocol: IpProtocol.Udp,
    identification: 5,
    moreFragments: true,
    payload: pattern(64),
  }),
  ipv4Frame(mac, PEER_MAC, {
    src: PEER,
    dst: US,
    protocol: IpProtocol.Udp,
    identification: 5,
    fragmentOffset: 64,
    payload: pattern(30),
  }),
]

/** A mutation: flip some bytes, truncate, or extend. */
const mutation = fc.record({
  seed: fc.nat(),
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  extra: fc.uint8Array({ maxLength: 16, size: "max" }),
})

const mutate = (base: Uint8Array, m: typeof mutation extends fc.Arbitrary<infer T> ? T : never): Uint8Array => {
  const f = base.slice()
  for (const [pos, v] of m.flips) f[14 + (pos % Math.max(1, f.length - 14))] = v // keep the Ethernet header
  let out = m.cut === undefined ? f : f.subarray(0, m.cut % (f.length + 1))
  if (m.extra.length > 0) {
    const x = new Uint8Array(out.length + m.extra.length)
    x.set(out)
    x.set(m.extra, out.length)
    out = x
  }
  return out
}

/** Builds a stack on a fake device with the given checksum capabilities. */
const stackOn = (caps: ChecksumCapabilities) =>
  Effect.gen(function* () {
    const fake = fakeDevice({ checksum: caps })
    // the fake device replaces the switch port; Stack.make still asks for a Backend, so give it an idle switch
    const sw = yield* Switch.make()
    const s = yield* Effect.provideService(
      Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } }, { vnetif: fake.layer }),
      Backend,
      sw,
    )
    yield* s.udp.bind(9)
    return { fake, s }
  })

/** After the fuzzing: no defect, and the stack still answers ARP and ping. */
const stillWorks = (fake: FakeDevice, s: StackHandle): Effect.Effect<void> =>
  Effect.gen(function* () {
    assert.equal((yield* s.ethernet.stats).handlerDefects, 0, "no handler died")
    fake.sent.clear()
    yield* fake.inject(arpFrame({ op: 1, senderMac: PEER_MAC, senderIp: PEER, targetIp: US }))
    yield* fake.sent.next((f) => parseArp(f)?.operation === 2, "ARP reply after fuzzing")
    yield* fake.inject(
      ipv4Frame(s.mac, PEER_MAC, {
        src: PEER,
        dst: US,
        protocol: IpProtocol.Icmp,
        payload: echoRequest(9, 9, pattern(8)),
      }),
    )
    yield* fake.sent.next((f) => parseIcmp(f)?.icmp._tag === "EchoReply", "echo reply after fuzzing")
  })

for (
  const [name, caps] of [["checksums verified", ChecksumCapabilities.all], [
    "checksums offloaded",
    ChecksumCapabilities.offload,
  ]] as const
) {
  describe(`Fuzz through the whole stack (${name})`, () => {
    it(`random bytes as frames (${RUNS}) are dropped and counted, never crash`, () =>
      runTest(Effect.gen(function* () {
        const { fake, s } = yield* stackOn(caps)
        const frames = fc.sample(fc.uint8Array({ maxLength: 120, size: "max" }), { numRuns: RUNS, seed: 1 })
        for (const f of frames) yield* fake.inject(f)
        const st = yield* s.ethernet.stats
        assert.equal(st.rxFrames, RUNS)
        assert.ok(st.malformed + st.notForUs + st.unknownEtherType + st.rxDelivered === RUNS)
        assert.ok(st.malformed > 0 && st.notForUs > 0, JSON.stringify(st))
        yield* stillWorks(fake, s)
      })))

    it(`random payloads addressed to us, per EtherType (${RUNS} each for ARP and IPv4)`, () =>
      runTest(Effect.gen(function* () {
        const { fake, s } = yield* stackOn(caps)
        const payloads = fc.sample(fc.uint8Array({ maxLength: 80, size: "max" }), { numRuns: RUNS, seed: 2 })
        for (const p of payloads) yield* fake.inject(ethFrame(s.mac, PEER_MAC, EtherType.Arp, p))
        for (const p of payloads) yield* fake.inject(ethFrame(s.mac, PEER_MAC, EtherType.Ipv4, p))
        const arp = yield* s.arp.stats
        const ipv4 = yield* s.ipv4.stats
        assert.ok(arp.malformed > RUNS * 0.9, `ARP malformed ${arp.malformed}`)
        assert.equal(ipv4.rxPackets, RUNS)
        assert.ok(ipv4.malformed > RUNS * 0.9, `IPv4 malformed ${ipv4.malformed}`)
        yield* stillWorks(fake, s)
      })))

    it(`random payloads in valid IPv4 packets, per protocol (${RUNS} each for ICMP, UDP, unknown)`, () =>
      runTest(Effect.gen(function* () {
        const { fake, s } = yield* stackOn(caps)
        const payloads = fc.sample(fc.uint8Array({ maxLength: 80, size: "max" }), { numRuns: RUNS, seed: 3 })
        for (const protocol of [IpProtocol.Icmp, IpProtocol.Udp, 99]) {
          for (const p of payloads) {
            yield* fake.inject(ipv4Frame(s.mac, PEER_MAC, { src: PEER, dst: US, protocol, payload: p }))
          }
        }
        const ipv4 = yield* s.ipv4.stats
        assert.equal(ipv4.rxDelivered, 2 * RUNS)
        assert.equal(ipv4.unknownProtocol, RUNS)
        const icmp = yield* s.icmp.stats
        const udp = yield* s.udp.stats
        assert.ok(icmp.malformed + icmp.badChecksum > RUNS * 0.5, `ICMP dropped ${icmp.malformed + icmp.badChecksum}`)
        assert.ok(udp.malformed + udp.badChecksum > RUNS * 0.5, `UDP dropped ${udp.malformed + udp.badChecksum}`)
        yield* stillWorks(fake, s)
      })))

    it(`mutated and truncated valid frames of every kind (${RUNS} per seed frame)`, () =>
      runTest(Effect.gen(function* () {
        const { fake, s } = yield* stackOn(caps)
        const ms = fc.sample(mutation, { numRuns: RUNS, seed: 4 })
        for (const base of seeds(s.mac)) {
          for (const m of ms) yield* fake.inject(mutate(base, m))
        }
        const ipv4 = yield* s.ipv4.stats
        assert.ok(ipv4.reassemblyBytes <= 4 * 1024 * 1024)
        const eth = yield* s.ethernet.stats
        assert.equal(eth.rxFrames, RUNS * seeds(s.mac).length)
        yield* stillWorks(fake, s)
      })))
  })
}
