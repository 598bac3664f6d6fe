/**
 * The scripted TCP peer's shared state: the port listener (ARP answers, the inbox of TCP segments, RSTs once the
 * test's scope closes), ARP resolution, sending, the transcript, and the consuming (`take`) and non-consuming
 * (`none`) waits that `expect` and `expectNone` are built on.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type { BackendShape, PortInfo } from "../../../src/link/Backend.ts"
import { ARP_PACKET_LEN, ArpPacket, ArpRepr } from "../../../src/wire/Arp.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, EtherType } from "../../../src/wire/Ethernet.ts"
import { Ipv4Address } from "../../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../../src/wire/MacAddress.ts"
import { TcpFlags, type TcpRepr } from "../../../src/wire/Tcp.ts"
import { ABSOLUTE, EMPTY, type Frame, ms, segLen, seqAdd } from "./Basics.ts"
import type { Conn } from "./Connection.ts"
import { describeMatch, describeWith, mismatches } from "./Match.ts"
import { type ExpectOptions, type Segment, type SegmentMatch, TcpPeerError } from "./Types.ts"
import type { Waiter } from "./Waiter.ts"
import { decodeTcpPacket, encodeTcpFrame, transmit } from "./Wire.ts"

const { RST, ACK } = TcpFlags

interface InboxEntry {
  readonly seg: Segment
  consumed: boolean
}

interface TranscriptEntry {
  readonly dir: "in" | "out"
  readonly seg: Segment
}

const TRANSCRIPT_LEN = 64

export class Peer {
  readonly inbox: Array<InboxEntry> = []
  readonly received: Array<Segment> = []
  readonly log: Array<TranscriptEntry> = []
  readonly conns = new Map<string, Conn>()
  readonly arp = new Map<Ipv4Address, MacAddress>()
  nextPort = 40000
  nextIss = 0x1234_5678
  ipId = 1
  port!: PortInfo
  /** The test's scope is closing: every segment from the stack is answered with a RST. */
  closing = false
  private armed: Scope.Closeable | undefined
  private armToken: object | undefined

  constructor(
    readonly backend: BackendShape,
    readonly address: Ipv4Address,
    readonly remoteAddress: Ipv4Address,
    readonly waiter: Waiter,
    readonly timeoutMs: number,
    readonly quietMs: number,
    readonly ttl: number,
    readonly scope: Scope.Scope,
  ) {}

  get mac(): MacAddress {
    return this.port.mac
  }

  /** The listener: ARP and TCP for our address; returns an ARP reply to send. */
  onFrame(frame: Uint8Array): Uint8Array | undefined {
    const e = EthernetFrame.parse(frame)
    if (Result.isFailure(e)) return undefined
    const eth = e.success
    const dst = eth.dstAddr()
    if (dst !== this.port.mac && dst !== MacAddress.BROADCAST) return undefined
    if (eth.etherType() === EtherType.Arp) return this.onArp(eth.payload())
    if (eth.etherType() !== EtherType.Ipv4) return undefined
    const d = decodeTcpPacket(eth.payload())
    if (d === undefined || d.ip.dstAddr !== this.address) return undefined
    const seg: Segment = {
      ...d.tcp,
      options: { ...d.tcp.options, sackBlocks: d.tcp.options.sackBlocks.map((b) => ({ ...b })) },
      payload: d.tcp.payload.slice(),
      srcAddr: d.ip.srcAddr,
      dstAddr: d.ip.dstAddr,
      ttl: d.ip.ttl,
      checksumOk: d.checksumOk,
      at: this.waiter.now(),
    }
    this.inbox.push({ seg, consumed: false })
    this.received.push(seg)
    this.record("in", seg)
    this.waiter.notify()
    return this.closing && !(seg.flags & RST) ? this.resetFor(seg, eth.srcAddr()) : undefined
  }

  /** The RST answering `seg` (RFC 9293 §3.10.7.1), sent while the test's scope closes. */
  private resetFor(seg: Segment, mac: MacAddress): Uint8Array {
    const hasAck = (seg.flags & ACK) !== 0
    const repr: TcpRepr = {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seqNumber: hasAck ? seg.ackNumber : 0,
      ackNumber: hasAck ? 0 : seqAdd(seg.seqNumber, segLen(seg)),
      flags: hasAck ? RST : RST | ACK,
      windowLen: 0,
      urgentPointer: 0,
      options: { sackPermitted: false, sackBlocks: [] },
      payload: EMPTY,
    }
    const ip = { srcAddr: this.address, dstAddr: seg.srcAddr, ttl: this.ttl, identification: this.ipId++ & 0xffff }
    this.record("out", {
      ...repr,
      srcAddr: this.address,
      dstAddr: seg.srcAddr,
      ttl: this.ttl,
      checksumOk: true,
      at: seg.at,
    })
    return encodeTcpFrame(mac, this.port.mac, ip, repr)
  }

  /**
   * Moves the finalizer that turns on `closing` to the end of the test's scope (a child scope, re-forked each time; the
   * previous one is closed with its finalizer disarmed): it then runs before the finalizers of the stack connections
   * opened so far, so their graceful close gets a RST instead of waiting for an ACK that never comes.
   */
  arm(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      const previous = this.armed
      const token = {}
      this.armToken = token
      if (previous !== undefined) yield* Scope.close(previous, Exit.void)
      const child = yield* Scope.fork(this.scope)
      yield* Scope.addFinalizer(
        child,
        Effect.sync(() => {
          if (this.armToken === token) this.closing = true
        }),
      )
      this.armed = child
    })
  }

  private onArp(payload: Uint8Array): Uint8Array | undefined {
    const p = ArpPacket.parse(payload)
    if (Result.isFailure(p)) return undefined
    const r = ArpRepr.parse(p.success)
    if (Result.isFailure(r)) return undefined
    const a = r.success
    if (a.senderProtocolAddr !== 0) this.arp.set(a.senderProtocolAddr, a.senderHardwareAddr)
    this.waiter.notify()
    if (a.operation !== 1 || a.targetProtocolAddr !== this.address) return undefined
    return this.arpFrame(2, a.senderHardwareAddr, a.senderProtocolAddr, a.senderHardwareAddr)
  }

  arpFrame(op: 1 | 2, ethDst: MacAddress, targetIp: Ipv4Address, targetMac: MacAddress): Uint8Array {
    const f = new Uint8Array(ETHERNET_HEADER_LEN + ARP_PACKET_LEN)
    EthernetRepr.emit({ dstAddr: ethDst, srcAddr: this.port.mac, etherType: EtherType.Arp }, f)
    ArpRepr.emit({
      operation: op,
      senderHardwareAddr: this.port.mac,
      senderProtocolAddr: this.address,
      targetHardwareAddr: targetMac,
      targetProtocolAddr: targetIp,
    }, f.subarray(ETHERNET_HEADER_LEN))
    return f
  }

  record(dir: "in" | "out", seg: Segment): void {
    this.log.push({ dir, seg })
    if (this.log.length > TRANSCRIPT_LEN) this.log.shift()
  }

  key(localPort: number, remotePort: number): string {
    return `${localPort}:${remotePort}`
  }

  frameOf(seg: TcpRepr, dir: "in" | "out"): Frame {
    const c = dir === "in" ? this.conns.get(this.key(seg.dstPort, seg.srcPort)) : this.conns.get(
      this.key(seg.srcPort, seg.dstPort),
    )
    return c === undefined ? ABSOLUTE : c.frame(dir)
  }

  transcript(n: number = 16): string {
    const lines = this.log.slice(-n).map(({ dir, seg }) =>
      `  ${dir === "in" ? "←" : "→"} [t=${seg.at}ms] ${describeWith(seg, this.frameOf(seg, dir))}`
    )
    return lines.length === 0 ? "  (nothing sent or received)" : lines.join("\n")
  }

  resolve(): Effect.Effect<MacAddress, TcpPeerError> {
    return Effect.gen({ self: this }, function* () {
      for (let attempt = 0; attempt < 3; attempt++) {
        const known = this.arp.get(this.remoteAddress)
        if (known !== undefined) return known
        yield* transmit(
          this.backend,
          this.port,
          this.arpFrame(1, MacAddress.BROADCAST, this.remoteAddress, MacAddress.ZERO),
        )
        const mac = yield* this.waiter.waitFor(() => this.arp.get(this.remoteAddress), 1000)
        if (mac !== undefined) return mac
      }
      return yield* new TcpPeerError({
        reason: "Arp",
        message: `TcpPeer: no ARP reply from ${Ipv4Address.format(this.remoteAddress)} after 3 requests`,
      })
    })
  }

  sendSegment(repr: TcpRepr): Effect.Effect<Segment, TcpPeerError> {
    return Effect.gen({ self: this }, function* () {
      const mac = yield* this.resolve()
      const frame = encodeTcpFrame(mac, this.port.mac, {
        srcAddr: this.address,
        dstAddr: this.remoteAddress,
        ttl: this.ttl,
        identification: this.ipId++ & 0xffff,
      }, repr)
      const seg: Segment = {
        ...repr,
        srcAddr: this.address,
        dstAddr: this.remoteAddress,
        ttl: this.ttl,
        checksumOk: true,
        at: this.waiter.now(),
      }
      this.record("out", seg)
      yield* this.arm()
      yield* transmit(this.backend, this.port, frame)
      return seg
    })
  }

  prune(): void {
    let i = 0
    while (i < this.inbox.length && this.inbox[i].consumed) i++
    if (i > 0) this.inbox.splice(0, i)
  }

  /**
   * Consumes inbox segments for which `belongs` holds, in order, until `match` accepts one (returns it). Each
   * consumed segment goes through `observe` first. Failure describes `want` and every skipped segment.
   */
  take(
    belongs: (s: Segment) => boolean,
    observe: (s: Segment) => void,
    match: SegmentMatch,
    options: ExpectOptions | undefined,
    frame: (s: Segment | undefined) => Frame,
    where: string,
  ): Effect.Effect<Segment, TcpPeerError> {
    return Effect.gen({ self: this }, function* () {
      const timeoutMs = options?.timeout === undefined ? this.timeoutMs : ms(options.timeout)
      const next = options?.next === true
      const skipped: Array<{ readonly seg: Segment; readonly why: Array<string>; readonly frame: Frame }> = []
      yield* this.arm()
      const found = yield* this.waiter.waitFor((): Segment | "stop" | undefined => {
        for (const e of this.inbox) {
          if (e.consumed || !belongs(e.seg)) continue
          e.consumed = true
          observe(e.seg)
          const f = frame(e.seg)
          const why = mismatches(e.seg, match, f)
          if (why.length === 0) {
            this.prune()
            return e.seg
          }
          skipped.push({ seg: e.seg, why, frame: f })
          if (next) {
            this.prune()
            return "stop"
          }
        }
        this.prune()
        return undefined
      }, timeoutMs)
      if (found !== undefined && found !== "stop") return found
      const f = frame(undefined)
      const head = found === "stop"
        ? `TcpPeer ${where}: the next segment does not match ${describeMatch(match, f)}`
        : `TcpPeer ${where}: no segment matching ${describeMatch(match, f)} within ${timeoutMs} ms (${
          this.waiter.testClock === undefined ? "real" : "virtual"
        } time)`
      const got = skipped.length === 0
        ? "  nothing else arrived"
        : `  received instead:\n${
          skipped.map((x) => `    ← [t=${x.seg.at}ms] ${describeWith(x.seg, x.frame)}\n        ✗ ${x.why.join("; ")}`)
            .join("\n")
        }`
      return yield* new TcpPeerError({
        reason: found === "stop" ? "Mismatch" : "Timeout",
        message: `${head}\n${got}\n  last segments on the wire:\n${this.transcript()}`,
      })
    })
  }

  /** Fails if a matching unconsumed segment shows up within `durationMs`. */
  none(
    belongs: (s: Segment) => boolean,
    match: SegmentMatch,
    durationMs: number,
    frame: (s: Segment | undefined) => Frame,
    where: string,
  ): Effect.Effect<void, TcpPeerError> {
    return Effect.gen({ self: this }, function* () {
      yield* this.arm()
      const hit = yield* this.waiter.waitFor(
        () =>
          this.inbox.find((e) => !e.consumed && belongs(e.seg) && mismatches(e.seg, match, frame(e.seg)).length === 0)
            ?.seg,
        durationMs,
      )
      if (hit === undefined) return
      return yield* new TcpPeerError({
        reason: "Unexpected",
        message: `TcpPeer ${where}: expected no segment matching ${describeMatch(match, frame(undefined))} for ` +
          `${durationMs} ms, got ← [t=${hit.at}ms] ${
            describeWith(hit, frame(hit))
          }\n  last segments on the wire:\n${this.transcript()}`,
      })
    })
  }
}
