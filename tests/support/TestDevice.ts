/**
 * Test fixtures for the protocol services (ethernet, arp, ipv4, icmp, udp, stack):
 *
 * - {@link rawPort}: a raw port on the switch (a `Vnetif` with a recording listener). The test injects frames with
 *   `send` and waits for what the stacks emit with `next(match)` — by Deferred, never by sleeping, with a real-time
 *   safety net so a broken test fails instead of hanging (it also works under `TestClock`).
 * - {@link fakeDevice}: a `VnetifShape` that is not on any switch: `inject(frame)` runs the stack's receive
 *   path synchronously on the test fiber (for fuzzing the whole stack frame by frame), `sent` records every frame
 *   the stack transmits.
 * - Frame builders and parsers written with the wire codecs (`EthernetRepr`, `ArpRepr`, `Ipv4Repr`, `UdpRepr`,
 *   `Icmpv4Repr`), and runners (`run` live clock, `runTest` TestClock).
 *
 * @module
 */
import assert from "node:assert/strict"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Backend, type FrameListener } from "../../src/link/Backend.ts"
import { Switch, type SwitchShape } from "../../src/link/Switch.ts"
import { Vnetif, type VnetifShape, type VnetifStats } from "../../src/link/Vnetif.ts"
import { effectful } from "../../src/util/Transmit.ts"
import { ARP_PACKET_LEN, ArpPacket, ArpRepr } from "../../src/wire/Arp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, EtherType } from "../../src/wire/Ethernet.ts"
import { Icmpv4Packet, Icmpv4Repr } from "../../src/wire/Icmpv4.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { UDP_HEADER_LEN, UdpPacket, UdpRepr } from "../../src/wire/Udp.ts"

/** Runs a scoped test program with the live clock. */
export const run = <A, E>(e: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(e))

/** Runs a scoped test program under TestClock. */
export const runTest = <A, E>(e: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(e).pipe(Effect.provide(TestClock.layer())))

/** Runs `e` with a fresh learning Switch as the Backend; the switch is handed to `e` too. */
export const withSwitch = <A, E>(
  e: (sw: SwitchShape) => Effect.Effect<A, E, Backend | Scope.Scope>,
): Effect.Effect<A, E, Scope.Scope> =>
  Effect.gen(function* () {
    const sw = yield* Switch.make()
    return yield* Effect.provideService(e(sw), Backend, sw)
  })

/** Parses an IPv4 address literal (throws on a typo in the test). */
export const ip = (s: string): Ipv4Address => {
  const a = Ipv4Address.parse(s)
  if (a === undefined) throw new Error(`bad address in test: ${s}`)
  return a
}

/** A safety net in real time: fails `d` after `ms` unless it completed. */
const withDeadline = <A>(d: Deferred.Deferred<A>, what: string, ms: number): Effect.Effect<A> =>
  Effect.suspend(() => {
    const timer = setTimeout(
      () => Deferred.doneUnsafe(d, Exit.die(new Error(`test device: ${what} did not happen within ${ms} ms`))),
      ms,
    )
    return Deferred.await(d).pipe(Effect.ensuring(Effect.sync(() => clearTimeout(timer))))
  })

/** A frame recorder with waiting. */
export interface Recorder {
  /** Every frame seen, in order (copies). */
  readonly frames: Array<Uint8Array>
  /** Waits until a frame after the cursor matches `match`; returns it and moves the cursor past it. */
  readonly next: (match: (f: Uint8Array) => boolean, what: string, ms?: number) => Effect.Effect<Uint8Array>
  /** Frames recorded so far that match. */
  readonly count: (match: (f: Uint8Array) => boolean) => number
  /** Forgets every recorded frame. */
  readonly clear: () => void
  /** Records a frame (used by the listener). */
  readonly record: (f: Uint8Array) => void
}

/** A new {@link Recorder}. */
export const recorder = (): Recorder => {
  const frames: Array<Uint8Array> = []
  let cursor = 0
  let waiter: { readonly match: (f: Uint8Array) => boolean; readonly d: Deferred.Deferred<Uint8Array> } | undefined
  const scan = (): Uint8Array | undefined => {
    if (waiter === undefined) return undefined
    for (let i = cursor; i < frames.length; i++) {
      if (waiter.match(frames[i])) {
        cursor = i + 1
        return frames[i]
      }
    }
    return undefined
  }
  const record = (f: Uint8Array): void => {
    frames.push(f.slice())
    const w = waiter
    if (w !== undefined) {
      const hit = scan()
      if (hit !== undefined) {
        waiter = undefined
        Deferred.doneUnsafe(w.d, Exit.succeed(hit))
      }
    }
  }
  const next = (match: (f: Uint8Array) => boolean, what: string, ms = 5000): Effect.Effect<Uint8Array> =>
    Effect.suspend(() => {
      const d = Deferred.makeUnsafe<Uint8Array>()
      waiter = { match, d }
      const hit = scan()
      if (hit !== undefined) {
        waiter = undefined
        return Effect.succeed(hit)
      }
      return withDeadline(d, what, ms)
    })
  return {
    frames,
    next,
    count: (match) => frames.filter(match).length,
    clear: () => {
      frames.length = 0
      cursor = 0
    },
    record,
  }
}

/** A raw port on the switch: inject frames, read what the stacks send. */
export interface RawPort extends Recorder {
  /** The port's MAC. */
  readonly mac: MacAddress
  /** The underlying device. */
  readonly device: VnetifShape
  /** Sends a frame (a fresh buffer each time: ownership passes to the switch). */
  readonly send: (frame: Uint8Array) => Effect.Effect<void>
}

/** Registers a raw port on the switch in context; it records every frame it receives. */
export const rawPort = (options?: { readonly mtu?: number }): Effect.Effect<RawPort, never, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const device = yield* Effect.orDie(Vnetif.make(options?.mtu === undefined ? {} : { mtu: options.mtu }))
    const rec = recorder()
    const send = effectful(device.transmit)
    const listener: FrameListener = (f) => Effect.sync(() => rec.record(f))
    yield* Effect.forkScoped(device.listen(listener))
    yield* device.ready
    return { ...rec, mac: device.mac, device, send: (f) => Effect.orDie(send(f)) }
  })

/** A device that is on no switch: the test drives the stack's receive path directly. */
export interface FakeDevice {
  /** The device value (provide it as `Vnetif`). */
  readonly device: VnetifShape
  /** A Layer providing it as `Vnetif`. */
  readonly layer: Layer.Layer<Vnetif>
  /** Frames the stack transmitted, in order. */
  readonly sent: Recorder
  /** Runs the stack's receive path on `frame`, on the calling fiber. */
  readonly inject: (frame: Uint8Array) => Effect.Effect<void>
}

/** A new {@link FakeDevice} with the given MAC, MTU and checksum capabilities. */
export const fakeDevice = (options?: {
  readonly mac?: MacAddress
  readonly mtu?: number
  readonly checksum?: ChecksumCapabilities
}): FakeDevice => {
  const sent = recorder()
  let handler: FrameListener | undefined
  const ready = Deferred.makeUnsafe<void>()
  const zero: VnetifStats = {
    rxBytes: 0,
    rxPackets: 0,
    txBytes: 0,
    txPackets: 0,
    rxDrops: 0,
    rxFlowDrops: 0,
    txErrors: 0,
  }
  const device: VnetifShape = {
    id: 0,
    mac: options?.mac ?? (0x025000000063 as MacAddress),
    mtu: options?.mtu ?? 1500,
    checksum: options?.checksum ?? ChecksumCapabilities.all,
    transmit: (f) => {
      sent.record(f)
      return undefined
    },
    listen: (h) =>
      Effect.suspend(() => {
        handler = h
        Deferred.doneUnsafe(ready, Exit.void)
        return Effect.never
      }),
    disconnect: Effect.void,
    stats: Effect.succeed(zero),
    resetStats: Effect.void,
    monitor: () => Effect.void,
    ready: Deferred.await(ready),
  }
  return {
    device,
    layer: Layer.succeed(Vnetif, device),
    sent,
    inject: (f) => Effect.suspend(() => (handler === undefined ? Effect.die("no handler yet") : handler(f))),
  }
}

// ---------------------------------------------------------------------------------------------- frame builders

/** An Ethernet frame around `payload`. */
export const ethFrame = (dst: MacAddress, src: MacAddress, etherType: number, payload: Uint8Array): Uint8Array => {
  const f = new Uint8Array(ETHERNET_HEADER_LEN + payload.length)
  EthernetRepr.emit({ dstAddr: dst, srcAddr: src, etherType }, f)
  f.set(payload, ETHERNET_HEADER_LEN)
  return f
}

/** An ARP frame. `ethDst` defaults to broadcast for requests and to `targetMac` for replies. */
export const arpFrame = (o: {
  readonly op: 1 | 2
  readonly senderMac: MacAddress
  readonly senderIp: Ipv4Address
  readonly targetMac?: MacAddress
  readonly targetIp: Ipv4Address
  readonly ethDst?: MacAddress
}): Uint8Array => {
  const p = new Uint8Array(ARP_PACKET_LEN)
  const targetMac = o.targetMac ?? MacAddress.ZERO
  ArpRepr.emit({
    operation: o.op,
    senderHardwareAddr: o.senderMac,
    senderProtocolAddr: o.senderIp,
    targetHardwareAddr: targetMac,
    targetProtocolAddr: o.targetIp,
  }, p)
  return ethFrame(o.ethDst ?? (o.op === 1 ? MacAddress.BROADCAST : targetMac), o.senderMac, EtherType.Arp, p)
}

/** Options of {@link ipv4Packet}. */
export interface Ipv4PacketOptions {
  readonly src: Ipv4Address
  readonly dst: Ipv4Address
  readonly protocol: number
  readonly payload: Uint8Array
  readonly ttl?: number
  readonly identification?: number
  readonly moreFragments?: boolean
  readonly fragmentOffset?: number
  readonly dontFragment?: boolean
  /** Extra bytes appended after the total length (link padding). */
  readonly trailer?: Uint8Array
  /** Checksum capabilities to emit with (default: all, so the header checksum is right). */
  readonly caps?: ChecksumCapabilities
}

/** An IPv4 packet (header + payload [+ trailer]). */
export const ipv4Packet = (o: Ipv4PacketOptions): Uint8Array => {
  const trailer = o.trailer ?? new Uint8Array(0)
  const b = new Uint8Array(IPV4_HEADER_LEN + o.payload.length + trailer.length)
  Ipv4Repr.emit(
    {
      srcAddr: o.src,
      dstAddr: o.dst,
      protocol: o.protocol,
      payloadLen: o.payload.length,
      ttl: o.ttl ?? 64,
      identification: o.identification ?? 1,
      dontFragment: o.dontFragment ?? false,
      moreFragments: o.moreFragments ?? false,
      fragmentOffset: o.fragmentOffset ?? 0,
    },
    b,
    o.caps ?? ChecksumCapabilities.all,
  )
  b.set(o.payload, IPV4_HEADER_LEN)
  b.set(trailer, IPV4_HEADER_LEN + o.payload.length)
  return b
}

/** An Ethernet frame carrying an IPv4 packet. */
export const ipv4Frame = (dstMac: MacAddress, srcMac: MacAddress, o: Ipv4PacketOptions): Uint8Array =>
  ethFrame(dstMac, srcMac, EtherType.Ipv4, ipv4Packet(o))

/** A UDP datagram (header + data) with a checksum (or with `checksum` forced to a value). */
export const udpDatagram = (
  src: Ipv4Address,
  dst: Ipv4Address,
  srcPort: number,
  dstPort: number,
  data: Uint8Array,
  checksum?: number,
): Uint8Array => {
  const b = new Uint8Array(UDP_HEADER_LEN + data.length)
  UdpRepr.emit(
    { srcPort, dstPort, payload: data },
    b,
    pseudoHeaderSum(src, dst, 17, b.length),
    ChecksumCapabilities.all,
  )
  if (checksum !== undefined) new UdpPacket(b).setChecksum(checksum)
  return b
}

/** An ICMP echo request (with checksum). */
export const echoRequest = (ident: number, seqNo: number, data: Uint8Array): Uint8Array => {
  const repr: Icmpv4Repr = { _tag: "EchoRequest", ident, seqNo, data }
  const b = new Uint8Array(Icmpv4Repr.bufferLen(repr))
  Icmpv4Repr.emit(repr, b, ChecksumCapabilities.all)
  return b
}

// ---------------------------------------------------------------------------------------------- frame parsers

/** The Ethernet header and payload of a frame, or undefined. */
export const parseEth = (
  f: Uint8Array,
):
  | { readonly dst: MacAddress; readonly src: MacAddress; readonly etherType: number; readonly payload: Uint8Array }
  | undefined => {
  const r = EthernetFrame.parse(f)
  if (Result.isFailure(r)) return undefined
  const v = r.success
  return { dst: v.dstAddr(), src: v.srcAddr(), etherType: v.etherType(), payload: v.payload() }
}

/** The ARP packet of a frame, or undefined. */
export const parseArp = (f: Uint8Array): ArpRepr | undefined => {
  const e = parseEth(f)
  if (e === undefined || e.etherType !== EtherType.Arp) return undefined
  const p = ArpPacket.parse(e.payload)
  if (Result.isFailure(p)) return undefined
  const r = ArpRepr.parse(p.success)
  return Result.isSuccess(r) ? r.success : undefined
}

/** The IPv4 header fields and payload of a frame, or undefined. */
export const parseIpv4 = (
  f: Uint8Array,
): { readonly repr: Ipv4Repr; readonly payload: Uint8Array; readonly header: Uint8Array } | undefined => {
  const e = parseEth(f)
  if (e === undefined || e.etherType !== EtherType.Ipv4) return undefined
  const p = Ipv4Packet.parse(e.payload)
  if (Result.isFailure(p)) return undefined
  const r = Ipv4Repr.parse(p.success, ChecksumCapabilities.offload)
  if (Result.isFailure(r)) return undefined
  return { repr: r.success, payload: p.success.payload(), header: e.payload.subarray(0, p.success.headerLen()) }
}

/** The UDP datagram of a frame, or undefined. */
export const parseUdp = (
  f: Uint8Array,
): { readonly ip: Ipv4Repr; readonly udp: UdpRepr; readonly checksum: number } | undefined => {
  const p = parseIpv4(f)
  if (p === undefined || p.repr.protocol !== IpProtocol.Udp || p.repr.moreFragments || p.repr.fragmentOffset > 0) {
    return undefined
  }
  const u = UdpPacket.parse(p.payload)
  if (Result.isFailure(u)) return undefined
  const ph = pseudoHeaderSum(p.repr.srcAddr, p.repr.dstAddr, 17, u.success.length())
  const r = UdpRepr.parse(u.success, ph, ChecksumCapabilities.all)
  return Result.isSuccess(r) ? { ip: p.repr, udp: r.success, checksum: u.success.checksum() } : undefined
}

/** The ICMP message of a frame (checksum not verified: see `checksumOk`), or undefined. */
export const parseIcmp = (
  f: Uint8Array,
): { readonly ip: Ipv4Repr; readonly icmp: Icmpv4Repr; readonly checksumOk: boolean } | undefined => {
  const p = parseIpv4(f)
  if (p === undefined || p.repr.protocol !== IpProtocol.Icmp) return undefined
  const m = Icmpv4Packet.parse(p.payload)
  if (Result.isFailure(m)) return undefined
  const r = Icmpv4Repr.parse(m.success, ChecksumCapabilities.offload)
  return Result.isSuccess(r) ? { ip: p.repr, icmp: r.success, checksumOk: m.success.verifyChecksum() } : undefined
}

/** True for an ARP request for `target`. */
export const isArpRequestFor = (target: Ipv4Address) => (f: Uint8Array): boolean => {
  const a = parseArp(f)
  return a !== undefined && a.operation === 1 && a.targetProtocolAddr === target
}

/** Deterministic test data of `n` bytes. */
export const pattern = (n: number, seed = 1): Uint8Array => {
  const b = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** Asserts two byte arrays are equal, with a short message instead of a giant diff. */
export const assertBytes = (actual: Uint8Array, expected: Uint8Array, what: string): void => {
  assert.equal(actual.length, expected.length, `${what}: length`)
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`)
  }
}

/** Yields to the scheduler until `cond` holds (no real sleeping); fails after `max` yields. */
export const yieldUntil = (cond: () => boolean, what: string, max = 10_000): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < max; i++) {
      if (cond()) return
      yield* Effect.yieldNow
    }
    assert.fail(`condition not reached after ${max} yields: ${what}`)
  })

/** Polls an effect (yielding between tries) until `cond` holds on its value; fails after `max` tries. */
export const pollUntil = <A>(
  e: Effect.Effect<A>,
  cond: (a: A) => boolean,
  what: string,
  maxMillis = 10_000,
): Effect.Effect<A> =>
  Effect.gen(function* () {
    const deadline = performance.now() + maxMillis
    for (let i = 0;; i++) {
      const a = yield* e
      if (cond(a)) return a
      if (performance.now() > deadline) break
      // mostly fiber yields; every 64th try a real macrotask, so I/O and timers of a loaded machine get their turn
      if ((i & 63) === 63) yield* macrotask
      else yield* Effect.yieldNow
    }
    return assert.fail(`condition not reached within ${maxMillis} ms of real time: ${what}`)
  })

/** Yields to the host event loop once (a real `setTimeout(0)`, independent of any TestClock). */
export const macrotask: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const t = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(t))
})
