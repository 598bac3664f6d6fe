/**
 * The scripted TCP peer's public types: segment matches, send specs, options, the peer and connection interfaces, and
 * its one error, {@link TcpPeerError}.
 *
 * @module
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Ipv4Address } from "../../../src/wire/Ipv4Address.ts"
import type { MacAddress } from "../../../src/wire/MacAddress.ts"
import type { TcpRepr, TcpTimestamps } from "../../../src/wire/Tcp.ts"

/** Control bits: a mask of `TcpFlags`, or names joined by `|`, `,`, `+` or spaces ("SYN|ACK"; "" is none). */
export type Flags = number | string

/** A sequence number relative to the initial sequence number of its stream (see the module docs of `TcpPeer.ts`). */
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
  /** The next segment of this connection that matches (see the module docs of `TcpPeer.ts`). */
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
