/**
 * A scripted TCP peer for service-level tests — the idea of gVisor's packetimpact "testbench": the test plays one
 * end of a connection segment by segment and checks the other end's answers with partial matches.
 *
 * The peer is a raw port on the `Backend` in context (a Switch) with its own MAC and IPv4 address, beside one stack
 * under test built with `Stack.make`:
 * - it answers ARP requests for its address and resolves the stack's MAC with ARP (unless it is given);
 * - it builds Ethernet + IPv4 + TCP frames with the wire codecs, every checksum computed;
 * - it parses every TCP segment sent to its address (payload copied) into an inbox, and answers nothing by itself:
 *   the test decides every segment the peer sends.
 *
 * Connections ({@link TcpPeer.connect} active open, {@link TcpPeer.accept} passive open, {@link TcpPeer.connection}
 * unsynchronized for a handshake scripted by hand) keep the peer's side of the state: ISS and IRS, SND.NXT, SND.UNA,
 * RCV.NXT, the stack's window, and MSS / window scale / SACK-permitted / timestamps as negotiated.
 * - `send(spec)` fills every field the test leaves out from that state (seq = SND.NXT, ack = RCV.NXT, our window,
 *   timestamps when negotiated). A segment whose `seq` the test overrides (a blind or injected segment) does not
 *   move SND.NXT, nor does a RST.
 * - `expect(match)` consumes this connection's segments in arrival order until one matches the partial description
 *   (unset fields match anything) and updates RCV.NXT, SND.UNA, the window and TS.Recent from every segment it
 *   consumes. When nothing matches in time it fails with a {@link TcpPeerError} listing each segment that arrived
 *   and why it did not match, then the last segments on the wire. `{ next: true }` demands that the very next
 *   segment matches. `expectNone(match, duration)` fails if a matching segment is (or becomes) unconsumed in the
 *   inbox within `duration`; it consumes nothing.
 *
 * Sequence numbers: plain numbers are absolute; `rel(n)` is relative to the initial sequence number of the stream
 * the field belongs to — in a segment from the stack, seq (and SACK blocks: ack) are relative to the stack's ISS
 * (our IRS) and ack to ours (ISS); in a segment the peer sends, the other way round. Diffs print them the same way
 * (`seq=IRS+5 ack=ISS+1`).
 *
 * Time: with `TestClock` in context the peer waits in virtual time — it lets the other fibers run (a bounded number
 * of scheduler yields until nothing new arrives), then advances the clock by `step` (default 10 ms), and again, up
 * to the timeout; so a segment is seen at most one step after the stack sent it, and `expectNone(m, "5 seconds")`
 * costs milliseconds. Wait on one fiber at a time in virtual time (two waiters would both advance the clock). With
 * the live clock it waits for real, woken by each arrival (no polling). Default timeouts: 1 s virtual, 5 s real.
 *
 * Teardown: once the test's scope starts closing, the peer answers every segment from the stack with a RST (RFC 9293
 * §3.10.7.1), so the stack's graceful close of a connection still open ends at once instead of waiting for an ACK
 * that a scripted peer never sends (under TestClock that wait would never end, and a failing test would hang instead
 * of failing). The finalizer that switches this on is moved to the end of the scope by every `send` and `expect`, so
 * it runs before the finalizers of the stack connections opened until then.
 *
 * Every use of the link backend and of the IPv4/TCP codecs sits in the ADAPTATION SECTION below.
 *
 * @module
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type { TestClock } from "effect/testing"
import { Backend, type BackendShape, type PortInfo } from "../../src/link/Backend.ts"
import { ARP_PACKET_LEN, ArpPacket, ArpRepr } from "../../src/wire/Arp.ts"
import { ChecksumCapabilities } from "../../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, EtherType } from "../../src/wire/Ethernet.ts"
import { IpProtocol, Ipv4Packet, Ipv4Repr } from "../../src/wire/Ipv4.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { TcpFlags, TcpPacket, TcpRepr, type TcpTimestamps } from "../../src/wire/Tcp.ts"

// ====================================================================================================================
// ADAPTATION SECTION — the only code in this file that calls the link backend (`register`, `setListener`, `write`,
// `unregister`) or the IPv4/TCP codecs (`Ipv4Packet`, `Ipv4Repr`, `TcpPacket`, `TcpRepr`). When those contracts
// change (e.g. a synchronous `transmit(port, frame)`, `TcpRepr.emit(repr, buf, pseudoSum, caps)`), adapt
// `openPort`, `transmit`, `encodeTcpFrame` and `decodeTcpPacket`, and nothing else.
// ====================================================================================================================

/**
 * Registers a port on `backend` whose listener hands each frame to `onFrame` and sends the frame it returns (an ARP
 * reply); the port is unregistered when the scope closes.
 */
const openPort = (
  backend: BackendShape,
  mtu: number,
  onFrame: (frame: Uint8Array, port: PortInfo) => Uint8Array | undefined,
): Effect.Effect<PortInfo, never, Scope.Scope> =>
  Effect.gen(function* () {
    const port = yield* Effect.acquireRelease(
      Effect.orDie(backend.register({ mtu })),
      (p) => Effect.ignore(backend.unregister(p.id)),
    )
    yield* Effect.orDie(backend.setListener(port.id, (frame) =>
      Effect.suspend(() => {
        const reply = onFrame(frame, port)
        return reply === undefined ? Effect.void : transmit(backend, port, reply)
      })))
    return port
  })

/** Sends `frame` from `port`; the backend owns it from now on. A refused frame is a defect of the test. */
const transmit = (backend: BackendShape, port: PortInfo, frame: Uint8Array): Effect.Effect<void> =>
  Effect.orDie(backend.write(port.id, frame))

/** What the peer needs of the IPv4 header of a frame it sends. */
interface IpHeader {
  readonly srcAddr: Ipv4Address
  readonly dstAddr: Ipv4Address
  readonly ttl: number
  readonly identification: number
}

/** A fresh Ethernet + IPv4 + TCP frame carrying `seg`, with the IPv4 and TCP checksums computed. */
const encodeTcpFrame = (dstMac: MacAddress, srcMac: MacAddress, ip: IpHeader, seg: TcpRepr): Uint8Array => {
  const tcpLen = TcpRepr.bufferLen(seg)
  const ipRepr: Ipv4Repr = {
    srcAddr: ip.srcAddr,
    dstAddr: ip.dstAddr,
    protocol: IpProtocol.Tcp,
    payloadLen: tcpLen,
    ttl: ip.ttl,
    identification: ip.identification,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
  }
  const ipLen = Ipv4Repr.bufferLen(ipRepr)
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ipLen + tcpLen)
  EthernetRepr.emit({ dstAddr: dstMac, srcAddr: srcMac, etherType: EtherType.Ipv4 }, frame)
  Ipv4Repr.emit(ipRepr, frame.subarray(ETHERNET_HEADER_LEN), ChecksumCapabilities.all)
  TcpRepr.emit(seg, frame.subarray(ETHERNET_HEADER_LEN + ipLen), ip.srcAddr, ip.dstAddr, ChecksumCapabilities.all)
  return frame
}

/** A TCP segment decoded from an IPv4 packet (payload still a view into the frame). */
interface DecodedTcp {
  readonly ip: { readonly srcAddr: Ipv4Address; readonly dstAddr: Ipv4Address; readonly ttl: number }
  readonly tcp: TcpRepr
  /** The TCP checksum verifies (false when the sender offloads it and sends 0). */
  readonly checksumOk: boolean
}

/** Decodes an IPv4 packet carrying an unfragmented TCP segment; undefined for anything else or malformed bytes. */
const decodeTcpPacket = (packet: Uint8Array): DecodedTcp | undefined => {
  const p = Ipv4Packet.parse(packet)
  if (Result.isFailure(p)) return undefined
  const ip = Ipv4Repr.parse(p.success, ChecksumCapabilities.offload)
  if (Result.isFailure(ip)) return undefined
  const r = ip.success
  if (r.protocol !== IpProtocol.Tcp || r.moreFragments || r.fragmentOffset !== 0) return undefined
  const t = TcpPacket.parse(p.success.payload())
  if (Result.isFailure(t)) return undefined
  const tcp = TcpRepr.parse(t.success, r.srcAddr, r.dstAddr, ChecksumCapabilities.offload)
  if (Result.isFailure(tcp)) return undefined
  return {
    ip: { srcAddr: r.srcAddr, dstAddr: r.dstAddr, ttl: r.ttl },
    tcp: tcp.success,
    checksumOk: t.success.verifyChecksum(r.srcAddr, r.dstAddr),
  }
}

// ====================================================================================================================
// END OF ADAPTATION SECTION
// ====================================================================================================================

const { FIN, SYN, RST, PSH, ACK } = TcpFlags

// ------------------------------------------------------------------------------------------------- public types

/** Control bits: a mask of `TcpFlags`, or names joined by `|`, `,`, `+` or spaces ("SYN|ACK"; "" is none). */
export type Flags = number | string

/** A sequence number relative to the initial sequence number of its stream (see the module docs). */
export interface Rel {
  /** Discriminant. */
  readonly _tag: "Rel"
  /** Offset from the ISN (0 is the SYN, 1 the first byte of data). */
  readonly offset: number
}

/** `n` relative to the ISN of the stream the field belongs to. */
export const rel = (offset: number): Rel => ({ _tag: "Rel", offset })

/** An absolute sequence number or a relative one. */
export type SeqSpec = number | Rel

/** A partial description of TCP options; an unset field matches anything. */
export interface OptionsMatch {
  /** This MSS; `true` any MSS option, `false` none. */
  readonly mss?: number | boolean
  /** This window scale shift; `true` any, `false` none. */
  readonly windowScale?: number | boolean
  /** SACK-permitted present or absent. */
  readonly sackPermitted?: boolean
  /** Timestamps present (`true`), absent (`false`), or present with these values. */
  readonly timestamps?: boolean | { readonly tsVal?: number; readonly tsEcr?: number }
  /** Exactly these SACK blocks, in order (`[]`: none). */
  readonly sackBlocks?: ReadonlyArray<readonly [SeqSpec, SeqSpec]>
}

/** A partial description of a segment; every unset field matches anything. */
export interface SegmentMatch {
  /** Exactly these control bits. */
  readonly flags?: Flags
  /** At least these control bits. */
  readonly flagsInclude?: Flags
  /** None of these control bits. */
  readonly flagsExclude?: Flags
  /** Source port (the stack's). */
  readonly srcPort?: number
  /** Destination port (the peer's). */
  readonly dstPort?: number
  /** Sequence number. */
  readonly seq?: SeqSpec
  /** Acknowledgment number (checked whatever the ACK bit). */
  readonly ack?: SeqSpec
  /** Window field as sent (not scaled). */
  readonly window?: number
  /** Exactly these payload bytes (a string is UTF-8). */
  readonly payload?: Uint8Array | string
  /** Payload length. */
  readonly payloadLength?: number
  /** Options. */
  readonly options?: OptionsMatch
}

/** A TCP segment the peer received (payload copied) or sent. */
export interface Segment extends TcpRepr {
  /** IPv4 source. */
  readonly srcAddr: Ipv4Address
  /** IPv4 destination. */
  readonly dstAddr: Ipv4Address
  /** IPv4 TTL. */
  readonly ttl: number
  /** The TCP checksum verifies (false from a stack that offloads checksums: it sends 0). */
  readonly checksumOk: boolean
  /** Clock time (ms) it was received or sent. */
  readonly at: number
}

/** Options the peer puts on a segment it sends; merged over the defaults (timestamps when negotiated). */
export interface SendOptions {
  /** MSS option. */
  readonly mss?: number
  /** Window scale option. */
  readonly windowScale?: number
  /** SACK-permitted option. */
  readonly sackPermitted?: boolean
  /** SACK blocks (relative values are relative to the IRS: they acknowledge the stack's data). */
  readonly sackBlocks?: ReadonlyArray<readonly [SeqSpec, SeqSpec]>
  /** Timestamps, or `false` to leave them out although negotiated. */
  readonly timestamps?: TcpTimestamps | false
}

/** A segment to send; every unset field comes from the connection's state. */
export interface SendSpec {
  /** Control bits (default ACK). */
  readonly flags?: Flags
  /** Data (a string is UTF-8). */
  readonly payload?: Uint8Array | string
  /** Sequence number (default SND.NXT). Given → SND.NXT does not move: a blind or injected segment. */
  readonly seq?: SeqSpec
  /** Acknowledgment number (default RCV.NXT when ACK is set, else 0). */
  readonly ack?: SeqSpec
  /** Window field as sent (default: our receive window, scaled down when window scaling is on). */
  readonly window?: number
  /** Options, over the defaults. */
  readonly options?: SendOptions
  /** Urgent pointer (default 0). */
  readonly urgentPointer?: number
}

/** Options of `expect`. */
export interface ExpectOptions {
  /** How long to wait (default: the peer's `timeout`). */
  readonly timeout?: Duration.Input
  /** The very next segment must match (default: segments that do not match are consumed and skipped). */
  readonly next?: boolean
}

/** Options of the handshakes (`connect`, `accept`) and of `connection`. */
export interface HandshakeOptions {
  /** The peer's port (`connect`/`connection`; default: 40000, 40001, … per peer). */
  readonly localPort?: number
  /** The peer's initial sequence number (default: a fixed value per connection). */
  readonly iss?: number
  /** MSS offered, or `false` for no MSS option (default 1460). */
  readonly mss?: number | false
  /** Window scale shift offered (default: none). */
  readonly windowScale?: number
  /** Offer SACK-permitted (default false). */
  readonly sackPermitted?: boolean
  /** Offer timestamps (default false). */
  readonly timestamps?: boolean
  /** Our receive window in bytes, advertised on every segment (default 65535). */
  readonly window?: number
  /** Timeout of each step of the handshake (default: the peer's `timeout`). */
  readonly timeout?: Duration.Input
}

/** Options of {@link TcpPeer.make}. */
export interface TcpPeerOptions {
  /** The peer's IPv4 address. */
  readonly address: Ipv4Address | string
  /** The stack under test: its address, and its MAC if known (else resolved with ARP). */
  readonly remote: Ipv4Address | string | { readonly address: Ipv4Address; readonly mac?: MacAddress }
  /** MTU of the peer's port (default 1500). */
  readonly mtu?: number
  /** Default timeout of `expect` (default 1 s in virtual time, 5 s in real time). */
  readonly timeout?: Duration.Input
  /** Default duration of `expectNone` (default 200 ms). */
  readonly quiet?: Duration.Input
  /** Virtual time only: how far the clock moves per step while waiting (default 10 ms). */
  readonly step?: Duration.Input
  /** Virtual time only: consecutive scheduler yields without an arrival before the clock moves (default 16). */
  readonly settleYields?: number
  /** TTL of sent packets (default 64). */
  readonly ttl?: number
}

/** Why the peer failed. */
export type TcpPeerErrorReason = "Timeout" | "Unexpected" | "Mismatch" | "Arp"

/** The peer's one error: an expectation that did not hold, with a readable account of what arrived instead. */
export class TcpPeerError extends Data.TaggedError("TcpPeerError")<{
  readonly reason: TcpPeerErrorReason
  readonly message: string
}> {}

/** The peer's side of one connection. */
export interface TcpPeerConnection {
  /** The peer's port. */
  readonly localPort: number
  /** The stack's port. */
  readonly remotePort: number
  /** The peer's initial sequence number. */
  readonly iss: number
  /** The stack's initial sequence number (undefined before its SYN was seen). */
  readonly irs: number | undefined
  /** Next sequence number the peer sends. */
  readonly sndNxt: number
  /** Oldest sequence number of the peer not yet acknowledged by the stack. */
  readonly sndUna: number
  /** Next sequence number expected from the stack. */
  readonly rcvNxt: number
  /** The stack's last advertised window, bytes (scaled). */
  readonly remoteWindow: number
  /** The stack's MSS (536 when its SYN had none). */
  readonly remoteMss: number
  /** Window scale shifts in use: of the stack's window, of ours (0 unless both sides offered it). */
  readonly windowShift: { readonly remote: number; readonly local: number }
  /** SACK negotiated. */
  readonly sackOk: boolean
  /** Timestamps negotiated. */
  readonly timestampsOk: boolean
  /** `n` relative to our ISN, absolute. */
  readonly seq: (n: number) => number
  /** `n` relative to the stack's ISN, absolute (fails before its SYN). */
  readonly remoteSeq: (n: number) => number
  /** Sends one segment (see {@link SendSpec}); returns it. */
  readonly send: (spec?: SendSpec) => Effect.Effect<Segment, TcpPeerError>
  /** Sends `data` as segments of at most the stack's MSS (PSH on the last), without waiting for ACKs. */
  readonly write: (data: Uint8Array | string, options?: { readonly segmentSize?: number }) => Effect.Effect<
    void,
    TcpPeerError
  >
  /** The next segment of this connection that matches (see the module docs). */
  readonly expect: (match?: SegmentMatch, options?: ExpectOptions) => Effect.Effect<Segment, TcpPeerError>
  /** Fails if a segment of this connection that matches is in the inbox within `duration`; consumes nothing. */
  readonly expectNone: (match?: SegmentMatch, duration?: Duration.Input) => Effect.Effect<void, TcpPeerError>
  /**
   * Receives the stack's data in order until `expected.length` bytes (skipping pure ACKs), checks them byte for
   * byte, and acknowledges (unless `ack: false`). Returns the data segments.
   */
  readonly expectData: (
    expected: Uint8Array | string,
    options?: { readonly timeout?: Duration.Input; readonly ack?: boolean },
  ) => Effect.Effect<ReadonlyArray<Segment>, TcpPeerError>
  /** Sends FIN|ACK and waits for the ACK of the FIN; returns that segment. */
  readonly close: (options?: { readonly timeout?: Duration.Input }) => Effect.Effect<Segment, TcpPeerError>
  /** Sends a RST at SND.NXT. */
  readonly reset: Effect.Effect<Segment, TcpPeerError>
  /** One line describing a segment in this connection's relative numbers. */
  readonly describe: (segment: TcpRepr, direction: "in" | "out") => string
}

/** The peer. */
export interface TcpPeer {
  /** Its IPv4 address. */
  readonly address: Ipv4Address
  /** Its MAC (that of its backend port). */
  readonly mac: MacAddress
  /** The stack's address. */
  readonly remoteAddress: Ipv4Address
  /** True under TestClock. */
  readonly virtualTime: boolean
  /** Active open against a listening stack: SYN, expect SYN-ACK, ACK. */
  readonly connect: (port: number, options?: HandshakeOptions) => Effect.Effect<TcpPeerConnection, TcpPeerError>
  /** Passive open: waits for the stack's SYN to `port`, answers SYN-ACK (options it offered only), expects ACK. */
  readonly accept: (port: number, options?: HandshakeOptions) => Effect.Effect<TcpPeerConnection, TcpPeerError>
  /** An unsynchronized connection to the stack's `remotePort`, for a handshake scripted by hand. */
  readonly connection: (remotePort: number, options?: HandshakeOptions) => TcpPeerConnection
  /** The next segment of any connection that matches (relative numbers cannot be used here). */
  readonly expect: (match?: SegmentMatch, options?: ExpectOptions) => Effect.Effect<Segment, TcpPeerError>
  /** Fails if a matching segment of any connection is in the inbox within `duration`. */
  readonly expectNone: (match?: SegmentMatch, duration?: Duration.Input) => Effect.Effect<void, TcpPeerError>
  /** Sends a raw segment from the peer's address (no state kept). */
  readonly sendSegment: (segment: TcpRepr) => Effect.Effect<void, TcpPeerError>
  /** Lets `duration` pass: advances the TestClock (virtual time, letting the stack run) or sleeps. */
  readonly wait: (duration: Duration.Input) => Effect.Effect<void>
  /** The stack's MAC, resolved with ARP the first time. */
  readonly resolve: Effect.Effect<MacAddress, TcpPeerError>
  /** Every TCP segment received so far, in order. */
  readonly received: ReadonlyArray<Segment>
  /** The last `n` segments sent and received, one line each (oldest first). */
  readonly transcript: (n?: number) => string
}

// ------------------------------------------------------------------------------------------------- helpers

const enc = new TextEncoder()
const EMPTY = new Uint8Array(0)
const toBytes = (d: Uint8Array | string | undefined): Uint8Array =>
  d === undefined ? EMPTY : typeof d === "string" ? enc.encode(d) : d

const seqAdd = (a: number, n: number): number => (a + n) >>> 0
const seqSub = (a: number, b: number): number => (a - b) | 0
const seqLe = (a: number, b: number): boolean => seqSub(a, b) <= 0
const seqGt = (a: number, b: number): boolean => seqSub(a, b) > 0

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [TcpFlags.SYN, "SYN"],
  [TcpFlags.FIN, "FIN"],
  [TcpFlags.RST, "RST"],
  [TcpFlags.PSH, "PSH"],
  [TcpFlags.ACK, "ACK"],
  [TcpFlags.URG, "URG"],
  [TcpFlags.ECE, "ECE"],
  [TcpFlags.CWR, "CWR"],
]

/** The mask of a {@link Flags} value; an unknown name is a defect of the test. */
export const flagsOf = (f: Flags): number => {
  if (typeof f === "number") return f
  let m = 0
  for (const name of f.split(/[|,+\s]+/)) {
    if (name === "") continue
    const hit = FLAG_NAMES.find(([, n]) => n === name.toUpperCase())
    if (hit === undefined) throw new Error(`TcpPeer: unknown TCP flag "${name}" in "${f}"`)
    m |= hit[0]
  }
  return m
}

/** "SYN|ACK"-style names of a flags byte. */
export const flagNames = (f: number): string =>
  FLAG_NAMES.filter(([b]) => (f & b) !== 0).map(([, n]) => n).join("|") ||
  "none"

const segLen = (s: TcpRepr): number => s.payload.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0)

const ms = (d: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(d))

/** How a sequence number is named: relative to an ISN (`IRS+5`) or absolute. */
interface SeqLabel {
  readonly isn: number | undefined
  readonly name: string
}

const fmtSeq = (abs: number, l: SeqLabel): string => {
  if (l.isn === undefined) return String(abs >>> 0)
  const d = seqSub(abs, l.isn)
  return d >= 0 ? `${l.name}+${d}` : `${l.name}${d}`
}

/** How to print and resolve the numbers of a segment in one direction. */
interface Frame {
  /** Labels the segment's seq (and the ISN `rel` refers to). */
  readonly seq: SeqLabel
  /** Labels the segment's ack and SACK blocks. */
  readonly ack: SeqLabel
}

const ABSOLUTE: Frame = { seq: { isn: undefined, name: "" }, ack: { isn: undefined, name: "" } }

const resolveSeq = (s: SeqSpec, l: SeqLabel): number | undefined =>
  typeof s === "number" ? s >>> 0 : l.isn === undefined ? undefined : seqAdd(l.isn, s.offset)

const fmtSpec = (s: SeqSpec, l: SeqLabel): string => {
  const abs = resolveSeq(s, l)
  return abs === undefined ? `rel(${(s as Rel).offset}) (no ISN known)` : fmtSeq(abs, l)
}

const fmtOptions = (o: TcpRepr["options"], f: Frame): string => {
  const parts: Array<string> = []
  if (o.mss !== undefined) parts.push(`mss=${o.mss}`)
  if (o.windowScale !== undefined) parts.push(`ws=${o.windowScale}`)
  if (o.sackPermitted) parts.push("sackOK")
  if (o.timestamps !== undefined) parts.push(`ts=${o.timestamps.tsVal}/${o.timestamps.tsEcr}`)
  if (o.sackBlocks.length > 0) {
    parts.push(`sack=${o.sackBlocks.map((b) => `${fmtSeq(b.left, f.ack)}-${fmtSeq(b.right, f.ack)}`).join(",")}`)
  }
  return parts.length === 0 ? "" : ` <${parts.join(" ")}>`
}

const describeWith = (s: TcpRepr, f: Frame): string =>
  `${flagNames(s.flags)} ${s.srcPort}→${s.dstPort} seq=${fmtSeq(s.seqNumber, f.seq)}` +
  (s.flags & ACK || s.ackNumber !== 0 ? ` ack=${fmtSeq(s.ackNumber, f.ack)}` : "") +
  ` win=${s.windowLen} len=${s.payload.length}${fmtOptions(s.options, f)}`

const describeMatch = (m: SegmentMatch, f: Frame): string => {
  const parts: Array<string> = []
  if (m.flags !== undefined) parts.push(`flags=${flagNames(flagsOf(m.flags))}`)
  if (m.flagsInclude !== undefined) parts.push(`flags⊇${flagNames(flagsOf(m.flagsInclude))}`)
  if (m.flagsExclude !== undefined) parts.push(`flags∌${flagNames(flagsOf(m.flagsExclude))}`)
  if (m.srcPort !== undefined) parts.push(`srcPort=${m.srcPort}`)
  if (m.dstPort !== undefined) parts.push(`dstPort=${m.dstPort}`)
  if (m.seq !== undefined) parts.push(`seq=${fmtSpec(m.seq, f.seq)}`)
  if (m.ack !== undefined) parts.push(`ack=${fmtSpec(m.ack, f.ack)}`)
  if (m.window !== undefined) parts.push(`win=${m.window}`)
  if (m.payload !== undefined) parts.push(`payload=${JSON.stringify(preview(toBytes(m.payload)))}`)
  if (m.payloadLength !== undefined) parts.push(`len=${m.payloadLength}`)
  if (m.options !== undefined) parts.push(`options=${JSON.stringify(m.options)}`)
  return parts.length === 0 ? "any segment" : parts.join(" ")
}

const preview = (b: Uint8Array): string => {
  const s = new TextDecoder("utf-8", { fatal: false }).decode(b.subarray(0, 32))
  return b.length > 32 ? `${s}… (${b.length} bytes)` : s
}

const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Why `s` does not match `m` (empty: it matches). */
const mismatches = (s: TcpRepr, m: SegmentMatch, f: Frame): Array<string> => {
  const out: Array<string> = []
  if (m.flags !== undefined && s.flags !== flagsOf(m.flags)) {
    out.push(`flags ${flagNames(s.flags)} ≠ ${flagNames(flagsOf(m.flags))}`)
  }
  if (m.flagsInclude !== undefined) {
    const want = flagsOf(m.flagsInclude)
    if ((s.flags & want) !== want) out.push(`flags ${flagNames(s.flags)} lack ${flagNames(want & ~s.flags)}`)
  }
  if (m.flagsExclude !== undefined) {
    const bad = s.flags & flagsOf(m.flagsExclude)
    if (bad !== 0) out.push(`flags ${flagNames(s.flags)} have ${flagNames(bad)}`)
  }
  if (m.srcPort !== undefined && s.srcPort !== m.srcPort) out.push(`srcPort ${s.srcPort} ≠ ${m.srcPort}`)
  if (m.dstPort !== undefined && s.dstPort !== m.dstPort) out.push(`dstPort ${s.dstPort} ≠ ${m.dstPort}`)
  if (m.seq !== undefined) {
    const want = resolveSeq(m.seq, f.seq)
    if (want !== s.seqNumber) out.push(`seq ${fmtSeq(s.seqNumber, f.seq)} ≠ ${fmtSpec(m.seq, f.seq)}`)
  }
  if (m.ack !== undefined) {
    const want = resolveSeq(m.ack, f.ack)
    if (want !== s.ackNumber) out.push(`ack ${fmtSeq(s.ackNumber, f.ack)} ≠ ${fmtSpec(m.ack, f.ack)}`)
  }
  if (m.window !== undefined && s.windowLen !== m.window) out.push(`win ${s.windowLen} ≠ ${m.window}`)
  if (m.payloadLength !== undefined && s.payload.length !== m.payloadLength) {
    out.push(`len ${s.payload.length} ≠ ${m.payloadLength}`)
  }
  if (m.payload !== undefined) {
    const want = toBytes(m.payload)
    const i = firstDifference(s.payload, want)
    if (i >= 0) {
      out.push(
        `payload differs at byte ${i} (got ${s.payload.length} bytes ${JSON.stringify(preview(s.payload))}, ` +
          `want ${want.length} bytes ${JSON.stringify(preview(want))})`,
      )
    }
  }
  const o = m.options
  if (o !== undefined) {
    const so = s.options
    const presence = (name: string, want: number | boolean | undefined, got: number | undefined) => {
      if (want === undefined) return
      if (typeof want === "boolean") {
        if (want !== (got !== undefined)) {
          out.push(`${name} ${got === undefined ? "absent" : got} ≠ ${want ? "present" : "absent"}`)
        }
      } else if (got !== want) out.push(`${name} ${got ?? "absent"} ≠ ${want}`)
    }
    presence("mss", o.mss, so.mss)
    presence("windowScale", o.windowScale, so.windowScale)
    if (o.sackPermitted !== undefined && o.sackPermitted !== so.sackPermitted) {
      out.push(`sackPermitted ${so.sackPermitted} ≠ ${o.sackPermitted}`)
    }
    if (o.timestamps !== undefined) {
      const ts = so.timestamps
      if (typeof o.timestamps === "boolean") {
        if (o.timestamps !== (ts !== undefined)) out.push(`timestamps ${ts === undefined ? "absent" : "present"}`)
      } else if (ts === undefined) out.push("timestamps absent")
      else {
        if (o.timestamps.tsVal !== undefined && ts.tsVal !== o.timestamps.tsVal) {
          out.push(`tsVal ${ts.tsVal} ≠ ${o.timestamps.tsVal}`)
        }
        if (o.timestamps.tsEcr !== undefined && ts.tsEcr !== o.timestamps.tsEcr) {
          out.push(`tsEcr ${ts.tsEcr} ≠ ${o.timestamps.tsEcr}`)
        }
      }
    }
    if (o.sackBlocks !== undefined) {
      const got = so.sackBlocks.map((b) => `${fmtSeq(b.left, f.ack)}-${fmtSeq(b.right, f.ack)}`).join(",")
      const want = o.sackBlocks.map(([l, r]) => `${fmtSpec(l, f.ack)}-${fmtSpec(r, f.ack)}`).join(",")
      if (got !== want) out.push(`sack [${got}] ≠ [${want}]`)
    }
  }
  return out
}

// ------------------------------------------------------------------------------------------------- waiting

/** Waiting for arrivals in virtual time (TestClock) or real time. */
class Waiter {
  arrivals = 0
  private signal: Deferred.Deferred<void> | undefined

  constructor(
    readonly clock: Clock.Clock,
    readonly testClock: TestClock.TestClock | undefined,
    readonly stepMs: number,
    readonly settleYields: number,
  ) {}

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** Called for each frame the peer keeps. */
  notify(): void {
    this.arrivals++
    const d = this.signal
    if (d !== undefined) {
      this.signal = undefined
      Deferred.doneUnsafe(d, Exit.void)
    }
  }

  /** Runs `poll` until it returns a value or `timeoutMs` of clock time have passed (then undefined). */
  waitFor<A>(poll: () => A | undefined, timeoutMs: number): Effect.Effect<A | undefined> {
    return this.testClock === undefined ? this.waitReal(poll, timeoutMs) : this.waitVirtual(poll, timeoutMs)
  }

  private waitReal<A>(poll: () => A | undefined, timeoutMs: number): Effect.Effect<A | undefined> {
    return Effect.gen({ self: this }, function* () {
      const deadline = this.now() + timeoutMs
      while (true) {
        const a = poll()
        if (a !== undefined) return a
        const left = deadline - this.now()
        if (left <= 0) return undefined
        this.signal ??= Deferred.makeUnsafe<void>()
        yield* Effect.timeoutOption(Deferred.await(this.signal), left)
      }
    })
  }

  private waitVirtual<A>(poll: () => A | undefined, timeoutMs: number): Effect.Effect<A | undefined> {
    const testClock = this.testClock!
    return Effect.gen({ self: this }, function* () {
      const deadline = this.now() + timeoutMs
      while (true) {
        const a = poll()
        if (a !== undefined) return a
        // let the stack's fibers run at this instant until nothing new arrives for a while
        const seen = this.arrivals
        for (let idle = 0; idle < this.settleYields && this.arrivals === seen; idle++) yield* Effect.yieldNow
        if (this.arrivals !== seen) continue
        const left = deadline - this.now()
        if (left <= 0) return undefined
        yield* testClock.adjust(Math.min(this.stepMs, left))
      }
    })
  }
}

// ------------------------------------------------------------------------------------------------- the peer

interface InboxEntry {
  readonly seg: Segment
  consumed: boolean
}

interface TranscriptEntry {
  readonly dir: "in" | "out"
  readonly seg: Segment
}

const TRANSCRIPT_LEN = 64

class Peer {
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

class Conn implements TcpPeerConnection {
  irs: number | undefined = undefined
  sndNxt: number
  sndUna: number
  rcvNxt = 0
  remoteWindow = 0
  remoteMss = 536
  sackOk = false
  timestampsOk = false
  windowShift: { remote: number; local: number } = { remote: 0, local: 0 }
  tsRecent = 0
  private ourSyn: TcpRepr["options"] | undefined
  private theirSyn: TcpRepr["options"] | undefined

  constructor(
    readonly peer: Peer,
    readonly localPort: number,
    readonly remotePort: number,
    readonly iss: number,
    readonly window: number,
  ) {
    this.sndNxt = iss
    this.sndUna = iss
  }

  frame(dir: "in" | "out"): Frame {
    const ours: SeqLabel = { isn: this.iss, name: "ISS" }
    const theirs: SeqLabel = { isn: this.irs, name: "IRS" }
    return dir === "in" ? { seq: theirs, ack: ours } : { seq: ours, ack: theirs }
  }

  readonly seq = (n: number): number => seqAdd(this.iss, n)

  readonly remoteSeq = (n: number): number => {
    if (this.irs === undefined) throw new Error("TcpPeer: remoteSeq before the stack's SYN was seen")
    return seqAdd(this.irs, n)
  }

  readonly describe = (segment: TcpRepr, direction: "in" | "out"): string =>
    describeWith(segment, this.frame(direction))

  private belongs = (s: Segment): boolean =>
    s.srcPort === this.remotePort && s.dstPort === this.localPort && s.srcAddr === this.peer.remoteAddress

  private negotiate(): void {
    const ours = this.ourSyn
    const theirs = this.theirSyn
    if (ours === undefined || theirs === undefined) return
    const ws = ours.windowScale !== undefined && theirs.windowScale !== undefined
    this.windowShift = { remote: ws ? theirs.windowScale! : 0, local: ws ? ours.windowScale! : 0 }
    this.sackOk = ours.sackPermitted && theirs.sackPermitted
    this.timestampsOk = ours.timestamps !== undefined && theirs.timestamps !== undefined
  }

  /** Updates the state from a segment of the stack that is being consumed. */
  readonly observe = (s: Segment): void => {
    if (s.flags & RST) return
    if (s.flags & SYN) {
      this.irs = s.seqNumber
      this.rcvNxt = seqAdd(s.seqNumber, 1)
      this.theirSyn = s.options
      this.remoteMss = s.options.mss ?? 536
      this.negotiate()
    } else if (this.irs !== undefined) {
      const end = seqAdd(s.seqNumber, segLen(s))
      if (seqLe(s.seqNumber, this.rcvNxt) && seqGt(end, this.rcvNxt)) this.rcvNxt = end
    }
    if (s.flags & ACK) {
      if (seqGt(s.ackNumber, this.sndUna) && seqLe(s.ackNumber, this.sndNxt)) this.sndUna = s.ackNumber
      this.remoteWindow = s.flags & SYN ? s.windowLen : s.windowLen << this.windowShift.remote
    }
    const ts = s.options.timestamps
    if (ts !== undefined) this.tsRecent = ts.tsVal
  }

  readonly send = (spec: SendSpec = {}): Effect.Effect<Segment, TcpPeerError> =>
    Effect.suspend(() => {
      const flags = flagsOf(spec.flags ?? ACK)
      const payload = toBytes(spec.payload)
      const out = this.frame("out")
      const resolve = (s: SeqSpec, l: SeqLabel, what: string): number => {
        const v = resolveSeq(s, l)
        if (v === undefined) throw new Error(`TcpPeer send: ${what} rel(${(s as Rel).offset}) before the stack's SYN`)
        return v
      }
      const seq = spec.seq === undefined ? this.sndNxt : resolve(spec.seq, out.seq, "seq")
      const ack = spec.ack !== undefined ? resolve(spec.ack, out.ack, "ack") : flags & ACK ? this.rcvNxt : 0
      const window = spec.window ??
        Math.min(0xffff, flags & SYN ? this.window : this.window >>> this.windowShift.local)
      const o = spec.options ?? {}
      const tsDefault: TcpTimestamps | undefined = this.timestampsOk && !(flags & SYN)
        ? { tsVal: this.tsNow(), tsEcr: this.tsRecent }
        : undefined
      const timestamps = o.timestamps === false ? undefined : o.timestamps ?? tsDefault
      const options: TcpRepr["options"] = {
        ...(o.mss === undefined ? {} : { mss: o.mss }),
        ...(o.windowScale === undefined ? {} : { windowScale: o.windowScale }),
        sackPermitted: o.sackPermitted ?? false,
        sackBlocks: (o.sackBlocks ?? []).map(([l, r]) => ({
          left: resolve(l, out.ack, "SACK left edge"),
          right: resolve(r, out.ack, "SACK right edge"),
        })),
        ...(timestamps === undefined ? {} : { timestamps }),
      }
      const repr: TcpRepr = {
        srcPort: this.localPort,
        dstPort: this.remotePort,
        seqNumber: seq,
        ackNumber: ack,
        flags,
        windowLen: window,
        urgentPointer: spec.urgentPointer ?? 0,
        options,
        payload,
      }
      if (flags & SYN) {
        this.ourSyn = options
        this.negotiate()
      }
      if (spec.seq === undefined && !(flags & RST)) this.sndNxt = seqAdd(seq, segLen(repr))
      return this.peer.sendSegment(repr)
    })

  private tsNow(): number {
    return (Math.floor(this.peer.waiter.now()) + 1) >>> 0
  }

  readonly write = (
    data: Uint8Array | string,
    options?: { readonly segmentSize?: number },
  ): Effect.Effect<void, TcpPeerError> => {
    return Effect.gen({ self: this }, function* () {
      const bytes = toBytes(data)
      // RFC 6691: the MSS counts no options, so the timestamps come out of it
      const mss = this.remoteMss - (this.timestampsOk ? 12 : 0)
      const size = Math.max(1, Math.min(options?.segmentSize ?? Infinity, mss))
      for (let off = 0; off < bytes.length; off += size) {
        const end = Math.min(bytes.length, off + size)
        yield* this.send({ flags: end === bytes.length ? ACK | PSH : ACK, payload: bytes.subarray(off, end) })
      }
    })
  }

  readonly expect = (match: SegmentMatch = {}, options?: ExpectOptions): Effect.Effect<Segment, TcpPeerError> =>
    this.peer.take(
      this.belongs,
      this.observe,
      match,
      options,
      () => this.frame("in"),
      `${this.localPort}↔${this.remotePort} expect`,
    )

  readonly expectNone = (match: SegmentMatch = {}, duration?: Duration.Input): Effect.Effect<void, TcpPeerError> =>
    this.peer.none(
      this.belongs,
      match,
      duration === undefined ? this.peer.quietMs : ms(duration),
      () => this.frame("in"),
      `${this.localPort}↔${this.remotePort} expectNone`,
    )

  readonly expectData = (
    expected: Uint8Array | string,
    options?: { readonly timeout?: Duration.Input; readonly ack?: boolean },
  ): Effect.Effect<ReadonlyArray<Segment>, TcpPeerError> => {
    return Effect.gen({ self: this }, function* () {
      const want = toBytes(expected)
      const got = new Uint8Array(want.length)
      const segs: Array<Segment> = []
      let n = 0
      while (n < want.length) {
        const before = this.rcvNxt
        const s = yield* this.expect(
          { flagsExclude: RST },
          options?.timeout === undefined ? {} : { timeout: options.timeout },
        )
        if (s.payload.length === 0) continue
        const skip = seqSub(before, s.seqNumber)
        if (skip < 0) {
          return yield* new TcpPeerError({
            reason: "Mismatch",
            message: `TcpPeer expectData: data starts at ${this.describe(s, "in")}, after a gap (RCV.NXT was ${
              fmtSeq(before, this.frame("in").seq)
            })\n  last segments on the wire:\n${this.peer.transcript()}`,
          })
        }
        const fresh = s.payload.subarray(Math.min(skip, s.payload.length), s.payload.length)
        const take = fresh.subarray(0, want.length - n)
        got.set(take, n)
        n += take.length
        if (fresh.length > 0) segs.push(s)
        if (fresh.length > take.length) {
          return yield* new TcpPeerError({
            reason: "Mismatch",
            message: `TcpPeer expectData: ${fresh.length - take.length} bytes more than the ${want.length} expected`,
          })
        }
        if (options?.ack !== false && fresh.length > 0) yield* this.send({ flags: ACK })
      }
      const i = firstDifference(got, want)
      if (i >= 0) {
        return yield* new TcpPeerError({
          reason: "Mismatch",
          message: `TcpPeer expectData: byte ${i} is ${got[i]}, expected ${want[i]} (got ${
            JSON.stringify(preview(got))
          }, want ${JSON.stringify(preview(want))})`,
        })
      }
      return segs
    })
  }

  readonly close = (options?: { readonly timeout?: Duration.Input }): Effect.Effect<Segment, TcpPeerError> => {
    return Effect.gen({ self: this }, function* () {
      yield* this.send({ flags: FIN | ACK })
      return yield* this.expect(
        { flagsInclude: ACK, flagsExclude: RST, ack: this.sndNxt },
        options?.timeout === undefined ? {} : { timeout: options.timeout },
      )
    })
  }

  get reset(): Effect.Effect<Segment, TcpPeerError> {
    return this.send({ flags: RST, ack: 0 })
  }
}

// ------------------------------------------------------------------------------------------------- make

const parseAddr = (a: Ipv4Address | string, what: string): Ipv4Address => {
  if (typeof a !== "string") return a
  const p = Ipv4Address.parse(a)
  if (p === undefined) throw new Error(`TcpPeer: bad ${what} address "${a}"`)
  return p
}

const makePeer = (options: TcpPeerOptions): Effect.Effect<TcpPeer, never, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const clock = yield* Clock.clockWith(Effect.succeed)
    const testClock = "adjust" in clock ? clock as TestClock.TestClock : undefined
    const waiter = new Waiter(
      clock,
      testClock,
      options.step === undefined ? 10 : ms(options.step),
      options.settleYields ?? 16,
    )
    const remote = options.remote
    const remoteAddress = typeof remote === "object" ? remote.address : parseAddr(remote, "remote")
    const peer = new Peer(
      backend,
      parseAddr(options.address, "peer"),
      remoteAddress,
      waiter,
      options.timeout === undefined ? (testClock === undefined ? 5000 : 1000) : ms(options.timeout),
      options.quiet === undefined ? 200 : ms(options.quiet),
      options.ttl ?? 64,
      yield* Effect.scope,
    )
    if (typeof remote === "object" && remote.mac !== undefined) peer.arp.set(remoteAddress, remote.mac)
    peer.port = yield* openPort(backend, options.mtu ?? 1500, (f) => peer.onFrame(f))

    const connection = (remotePort: number, o: HandshakeOptions = {}): Conn => {
      const localPort = o.localPort ?? peer.nextPort++
      const iss = (o.iss ?? (peer.nextIss += 0x0100_0000)) >>> 0
      const c = new Conn(peer, localPort, remotePort, iss, o.window ?? 65535)
      peer.conns.set(peer.key(localPort, remotePort), c)
      return c
    }
    const synOptions = (o: HandshakeOptions, tsEcr: number, offered?: TcpRepr["options"]): SendOptions => {
      const canWs = offered === undefined || offered.windowScale !== undefined
      const canSack = offered === undefined || offered.sackPermitted
      const canTs = offered === undefined || offered.timestamps !== undefined
      return {
        ...(o.mss === false ? {} : { mss: o.mss ?? 1460 }),
        ...(o.windowScale !== undefined && canWs ? { windowScale: o.windowScale } : {}),
        sackPermitted: o.sackPermitted === true && canSack,
        timestamps: o.timestamps === true && canTs ? { tsVal: Math.floor(waiter.now()) + 1, tsEcr } : false,
      }
    }
    const timeoutOf = (o: HandshakeOptions): ExpectOptions => (o.timeout === undefined ? {} : { timeout: o.timeout })

    const connect = (port: number, o: HandshakeOptions = {}): Effect.Effect<TcpPeerConnection, TcpPeerError> =>
      Effect.gen(function* () {
        const c = connection(port, o)
        yield* c.send({ flags: SYN, options: synOptions(o, 0) })
        yield* c.expect({ flags: SYN | ACK, ack: rel(1) }, timeoutOf(o))
        yield* c.send({ flags: ACK })
        return c
      })

    const accept = (port: number, o: HandshakeOptions = {}): Effect.Effect<TcpPeerConnection, TcpPeerError> =>
      Effect.gen(function* () {
        const syn = yield* peer.take(
          (s) => s.dstPort === port && s.srcAddr === remoteAddress,
          () => {},
          { flags: SYN },
          timeoutOf(o),
          () => ABSOLUTE,
          `accept on ${port}`,
        )
        const c = connection(syn.srcPort, { ...o, localPort: port })
        c.observe(syn)
        yield* c.send({ flags: SYN | ACK, options: synOptions(o, syn.options.timestamps?.tsVal ?? 0, syn.options) })
        yield* c.expect({ flagsInclude: ACK, flagsExclude: SYN | RST, ack: rel(1) }, timeoutOf(o))
        return c
      })

    const anyFrame = (s: Segment | undefined): Frame => (s === undefined ? ABSOLUTE : peer.frameOf(s, "in"))
    const observeAny = (s: Segment): void => {
      peer.conns.get(peer.key(s.dstPort, s.srcPort))?.observe(s)
    }

    return {
      address: peer.address,
      get mac() {
        return peer.mac
      },
      remoteAddress,
      virtualTime: testClock !== undefined,
      connect,
      accept,
      connection,
      expect: (match = {}, o) => peer.take(() => true, observeAny, match, o, anyFrame, "expect"),
      expectNone: (match = {}, duration) =>
        peer.none(() => true, match, duration === undefined ? peer.quietMs : ms(duration), anyFrame, "expectNone"),
      sendSegment: (s) => Effect.asVoid(peer.sendSegment(s)),
      wait: (d) => Effect.asVoid(waiter.waitFor(() => undefined, ms(d))),
      resolve: peer.resolve(),
      received: peer.received,
      transcript: (n) => peer.transcript(n),
    }
  })

/** The scripted TCP peer (see the module docs). */
export const TcpPeer: {
  /** A peer on a new port of the Backend in context; the port is removed when the scope closes. */
  readonly make: (options: TcpPeerOptions) => Effect.Effect<TcpPeer, never, Backend | Scope.Scope>
} = { make: makePeer }
