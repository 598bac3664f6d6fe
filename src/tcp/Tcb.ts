/**
 * The TCP connection state machine (transmission control block) as a pure, synchronous core: no I/O, no clock, no
 * randomness. The caller passes `now` (milliseconds, any monotonic origin) to every time-dependent call, draws the
 * ISN and the timestamp offset itself (RFC 6528: the shell uses Effect's `Random`), and moves segments in and out:
 *
 * ```
 * tcb.input(seg, now)      // process one received segment (RFC 9293 §3.10.7)
 * tcb.poll(now, out)       // fire due timers, append the segments to send now to `out`
 * tcb.nextDeadline()       // when to call poll again (ms) or undefined: every timer of the connection
 * tcb.takeSignals()        // what changed for the application since the last call (TcbSignal bits)
 * tcb.write(bytes) / tcb.read(max) / tcb.close() / tcb.orphan(now) / tcb.abort()
 * ```
 *
 * Input never emits directly: it records what must be sent (ACK now, challenge ACK, RST, retransmission) and the
 * next `poll` produces it, so a batch of received segments costs one poll and coalesces ACKs.
 *
 * Wake-ups: the core raises {@link TcbSignal} bits — Readable (in-order data or the peer's FIN), Writable (send
 * buffer space reached the low-water mark armed by {@link Tcb.awaitWritable}), Established (the handshake is over),
 * FinAcked (our FIN was acknowledged) and Closed (CLOSED reached; {@link Tcb.error} says why if abnormally). The
 * shell drains them after each input/poll and resumes exactly the application fibers they concern; nothing else
 * makes a waiting fiber ready, so the shell never re-checks conditions.
 *
 * Timers: retransmission, persist, delayed ACK, keepalive, connect, TIME-WAIT and the orphan timeouts of a
 * connection the application closed (FIN not acknowledged within `closeTimeoutMs`, FIN-WAIT-2 longer than
 * `finWait2TimeoutMs`: abort) all live here; {@link Tcb.nextDeadline} covers every one.
 *
 * Implemented (RFC 9293 unless noted): every state; active, passive and simultaneous open; simultaneous close;
 * half-close; RST generation and processing with RFC 5961 §3 (exact-match RST, otherwise challenge ACK), §4 (SYN in a
 * synchronized state → challenge ACK whatever its sequence number or timestamp: checked before PAWS and the sequence
 * check, as Linux does) and §5 (ACK acceptability) with a per-connection challenge-ACK rate limit (§7); MSS negotiation (§3.7.1, RFC 6691: MSS excludes options); window scaling, timestamps and PAWS (RFC 7323);
 * SACK (RFC 2018 receive side from the {@link Assembler}, RFC 6675 loss recovery on the send side); retransmission
 * timer with backoff (RFC 6298) and a give-up count; SYN retries; zero-window probing (§3.8.6.1); receiver and
 * sender silly-window avoidance (§3.8.6.2); Nagle (RFC 1122 §4.2.3.4, `noDelay`); delayed ACKs (RFC 1122
 * §4.2.3.2, RFC 5681 §4.2: at least every second full-size segment, immediately for out-of-order data);
 * keepalive (RFC 1122 §4.2.3.6); NewReno / CUBIC congestion control ({@link CongestionControl}).
 *
 * Choices, written down:
 * - TIME-WAIT lasts `timeWaitMs` (default 1 s, not 2·MSL = 4 min): on a virtual LAN there are no old duplicates
 *   wandering for minutes, and ISNs are random per RFC 6528.
 * - Data carried on a SYN is not delivered (the peer retransmits it); urgent data is not supported (URG ignored).
 * - Segments without timestamps on a timestamp connection are accepted (RFC 7323 §3.2 says SHOULD drop; Linux
 *   accepts) — PAWS applies to segments that carry the option.
 * - A passive SYN-RECEIVED connection reset by the peer is closed (the listener forgets it) instead of returning
 *   to LISTEN; the listener object keeps listening.
 * - Persist probes send one byte beyond the window (§3.8.6.1) without advancing SND.NXT, and only when the usable
 *   window is zero; when the persist timer fires on a small open window (held back by sender SWS avoidance), it
 *   sends that window's worth as one segment (§3.8.6.2.1's override timeout) and nothing past it.
 * - A segment with SYN and FIN both set is dropped in every state, without a reply, and counted
 *   (`stats.synFinDropped`): RFC 9293 leaves it undefined, Linux drops it; no challenge ACK, which would only help
 *   a real peer that lost its state (it sends a plain SYN) and would spend the §7 budget.
 *
 * Zero copy: payloads of emitted segments are views into the send ring (see {@link Ring.peek}); they stay valid
 * until the next `write` call, so the shell serialises segments before writing more application data.
 *
 * Memory (see `Memory.ts`): the rings and the out-of-order storage take memory by need and charge it to the stack's
 * budget (`config.memory`). Under memory pressure out-of-order data is dropped first, the send-buffer autotuning
 * stops growing, and the advertised window shrinks to what the receive ring's storage backs; at the limit writes
 * wait for memory and in-order data that needs more is dropped (never acknowledged, so never lost). A drained ring
 * gives its storage back if it is still empty {@link BUFFER_IDLE_MS} later (at once under pressure), and a connection
 * that ends gives back what nobody can read any more.
 *
 * @module
 */
import { Assembler } from "./Assembler.ts"
import type { TcpErrorReason } from "./TcpError.ts"
import { type CongestionControl, type CongestionName, makeCongestion } from "./Congestion.ts"
import { type MemoryWaiter, RING_MIN_STORAGE, type TcpMemory } from "./Memory.ts"
import { Ring } from "./Ring.ts"
import { type RttConfig, RttEstimator } from "./Rtt.ts"
import { Scoreboard } from "./Scoreboard.ts"
import { EMPTY, TcpFlags, type TcpOptions, type TcpRepr, type TcpSackBlock } from "./Segment.ts"
import { inWindow, seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqSub } from "./SeqNum.ts"

/**
 * Shared empty placeholders of a TCB's assembler and scoreboard until it needs its own (an idle or in-order connection
 * never does: ~0.5 KiB saved per connection). Only methods that change nothing on an empty instance (`isEmpty`,
 * `advance`, `prune`, `clear`, queries) are called on them; `add` goes through `ranges()` / `sacks()`.
 */
const NO_RANGES = new Assembler(1)
const NO_SACKS = new Scoreboard()
/** SACK blocks of the segment being built (consumed at once, so one array serves every TCB). */
const SACK_SCRATCH: number[] = []

/** Smallest send-buffer allowance of the autotuning ({@link Tcb.sendLimit}), bytes. */
export const SEND_BUFFER_MIN = 16 * 1024

/**
 * How long after draining a send or receive ring is looked at again (ms): if it is empty then, it gives its storage
 * back. Long enough that a busy connection frees and regrows its buffer at most once per delay, short enough that one
 * idle after a burst does not hold it (under memory pressure a drained ring gives its storage back at once).
 */
export const BUFFER_IDLE_MS = 1000

const FIN = TcpFlags.FIN
const SYN = TcpFlags.SYN
const RST = TcpFlags.RST
const PSH = TcpFlags.PSH
const ACK = TcpFlags.ACK

/** RFC 9293 connection states (LISTEN is the {@link Listener}'s; a TCB is never in it). */
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT"

/**
 * What changed for the application, as bits of the number {@link Tcb.takeSignals} returns (each raised at most once
 * per drain).
 */
export const TcbSignal: {
  /** In-order bytes arrived, or the peer's FIN (end of stream) was reached. */
  readonly Readable: 1
  /** Free send-buffer space reached the low-water mark armed by {@link Tcb.awaitWritable}. */
  readonly Writable: 2
  /** The handshake completed (ESTABLISHED). */
  readonly Established: 4
  /** Our FIN was acknowledged (FIN-WAIT-2, TIME-WAIT or CLOSED after LAST-ACK). */
  readonly FinAcked: 8
  /** The connection reached CLOSED ({@link Tcb.error} is set if it ended abnormally). */
  readonly Closed: 16
} = { Readable: 1, Writable: 2, Established: 4, FinAcked: 8, Closed: 16 }

/** What timed out (with {@link TcpErrorReason} "TimedOut"). */
export type TcpTimeoutCause = "connect" | "retransmit" | "keepalive"

/** Keepalive tunables (RFC 1122 §4.2.3.6). */
export interface KeepaliveConfig {
  /** Idle time before the first probe (ms). */
  readonly idleMs: number
  /** Time between unanswered probes (ms). */
  readonly intervalMs: number
  /** Unanswered probes before the connection times out. */
  readonly probes: number
}

/** Per-connection tunables. */
export interface TcbConfig {
  /** MSS we advertise (MTU − 40 for IPv4 without options). */
  readonly mss: number
  /** Upper bound for the MSS we use to send, whatever the peer says (MSS clamp); 0 = none. */
  readonly mssClamp: number
  /**
   * Send buffer capacity (bytes): an upper bound. The part the application may fill is tuned to the connection's
   * need (see {@link Tcb.sendLimit}), so 1000 slow flows do not each park a full buffer.
   */
  readonly sendBufferSize: number
  /** Receive buffer capacity (bytes); the receive window is its free space. */
  readonly recvBufferSize: number
  /** Disable Nagle's algorithm. */
  readonly noDelay: boolean
  /** Delayed-ACK timeout (ms, ≤ 200; 0 acknowledges every segment at once). */
  readonly delayedAckMs: number
  /** Keepalive, or undefined for none. */
  readonly keepalive: KeepaliveConfig | undefined
  /** TIME-WAIT duration (ms). */
  readonly timeWaitMs: number
  /** Consecutive retransmission timeouts tolerated before giving up (→ TimedOut "retransmit"). */
  readonly maxRetransmits: number
  /** SYN / SYN-ACK retransmissions before giving up (→ TimedOut "connect"). */
  readonly maxSynRetransmits: number
  /** Overall connect timeout (ms) from the first SYN. */
  readonly connectTimeoutMs: number
  /** RTO estimator tunables. */
  readonly rtt: RttConfig
  /** Congestion controller. */
  readonly congestion: CongestionName
  /** Initial congestion window in segments. */
  readonly initialWindow: number
  /** Offer/accept window scaling (RFC 7323 §2). */
  readonly windowScaling: boolean
  /** Offer/accept timestamps (RFC 7323 §3). */
  readonly timestamps: boolean
  /** Offer/accept SACK (RFC 2018). */
  readonly sack: boolean
  /** Maximum out-of-order ranges held by the assembler. */
  readonly maxOutOfOrderRanges: number
  /** Maximum out-of-order bytes held (payload plus a per-segment overhead, see `OOO_PIECE_OVERHEAD`). */
  readonly maxOutOfOrderBytes: number
  /** The stack's buffer-memory budget shared by its connections (see `Memory.ts`); undefined: unlimited. */
  readonly memory?: TcpMemory | undefined
  /** Challenge ACKs allowed per second (RFC 5961 §7). */
  readonly challengeAckLimit: number
  /** After {@link Tcb.orphan}: how long our FIN may stay unacknowledged before the connection is aborted (ms). */
  readonly closeTimeoutMs: number
  /** After {@link Tcb.orphan}: how long the connection may stay in FIN-WAIT-2 before it is aborted (ms). */
  readonly finWait2TimeoutMs: number
}

/** Counters of one connection. */
export interface TcbStats {
  /** Segments received (all, before validation). */
  segmentsIn: number
  /** Segments emitted. */
  segmentsOut: number
  /** Payload bytes accepted in order. */
  bytesIn: number
  /** Payload bytes emitted (including retransmissions). */
  bytesOut: number
  /** Segments retransmitted (RTO, fast retransmit, SACK recovery). */
  retransmits: number
  /** Retransmission timeouts. */
  timeouts: number
  /** Fast-retransmit episodes. */
  fastRetransmits: number
  /** Duplicate ACKs received. */
  dupAcksIn: number
  /** Out-of-order segments received. */
  outOfOrderIn: number
  /** Out-of-order segments not stored: a bound of the connection or the stack, or memory pressure (not SACKed). */
  outOfOrderDropped: number
  /** In-order segments (or their tails) dropped because the stack's memory limit was reached (not acknowledged). */
  memoryDropped: number
  /** Segments dropped as unacceptable (sequence check). */
  droppedIn: number
  /** Segments dropped by PAWS. */
  pawsDrops: number
  /** Challenge ACKs sent. */
  challengeAcks: number
  /** Challenge ACKs suppressed by the rate limit. */
  challengeAcksSuppressed: number
  /** Segments with SYN and FIN both set, dropped in any state without a reply. */
  synFinDropped: number
  /** Zero-window probes sent. */
  windowProbes: number
  /** Keepalive probes sent. */
  keepaliveProbes: number
}

/** Something told when a passively opened TCB gets established or dies (the {@link Listener}). */
export interface TcbParent {
  /** The handshake completed. */
  onEstablished(tcb: Tcb): void
  /** The TCB closed (before or after establishment). */
  onClosed(tcb: Tcb): void
}

/** Identity and randomness of a new connection. */
export interface TcbInit {
  /** Our port. */
  readonly localPort: number
  /** Peer port. */
  readonly remotePort: number
  /** Initial send sequence number (RFC 6528; drawn by the caller). */
  readonly iss: number
  /** Random offset added to our timestamp clock (RFC 7323 §5.4); default 0. */
  readonly tsOffset?: number
  /** Tunables (derived from the layer's configuration: `tcbConfigOf` in `TcpConfig.ts`). */
  readonly config: TcbConfig
}

const HOLD = -1
const TS_OPTION_LEN = 12 // 10 + 2 NOPs
/** Window scale shift needed to advertise `bytes` (0 … 14, RFC 7323 §2.3). */
export const windowShiftFor = (bytes: number): number => {
  let s = 0
  while (s < 14 && bytes >>> s > 0xffff) s++
  return s
}

/** One TCP connection. */
export class Tcb implements MemoryWaiter {
  /** Current state. */
  state: TcpState = "CLOSED"
  /** Our port. */
  readonly localPort: number
  /** Peer port. */
  readonly remotePort: number
  /** Tunables. */
  readonly config: TcbConfig
  /** Counters. */
  readonly stats: TcbStats = {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    timeouts: 0,
    fastRetransmits: 0,
    dupAcksIn: 0,
    outOfOrderIn: 0,
    outOfOrderDropped: 0,
    memoryDropped: 0,
    droppedIn: 0,
    pawsDrops: 0,
    challengeAcks: 0,
    challengeAcksSuppressed: 0,
    synFinDropped: 0,
    windowProbes: 0,
    keepaliveProbes: 0,
  }
  /** Set when the connection ended abnormally: "Refused", "Reset" or "TimedOut" (the core sets no other reason). */
  error: TcpErrorReason | undefined = undefined
  /** Set with error "TimedOut". */
  timeoutCause: TcpTimeoutCause | undefined = undefined
  /** Listener that created this TCB (passive open), if any. */
  parent: TcbParent | undefined = undefined
  /** Free slot for the shell (e.g. its connection record or 4-tuple key). */
  tag: unknown = undefined

  // --- send sequence space (RFC 9293 §3.3.1)
  /** Initial send sequence number. */
  readonly iss: number
  /** Oldest unacknowledged sequence number. */
  sndUna: number
  /** Next sequence number to send (reset to SND.UNA on RTO: go-back-N). */
  sndNxt: number
  /** Highest sequence number sent + 1. */
  sndMax: number
  /** Peer's receive window (bytes, scaled). */
  sndWnd = 0
  /** Largest window the peer ever offered (RFC 5961 MAX.SND.WND, sender SWS). */
  maxSndWnd = 0
  private sndWl1 = 0
  private sndWl2 = 0
  /** Shift applied to the peer's window field. */
  sndShift = 0

  // --- receive sequence space
  /** Initial receive sequence number (valid after the SYN). */
  irs = 0
  /** Next sequence number expected. */
  rcvNxt = 0
  /** Shift applied to the window we advertise. */
  rcvShift = 0
  /** Right edge of every window advertised so far (the acceptance edge: never retreats). */
  private rcvAdvRight = 0
  /** Right edge of the window advertised last: below {@link rcvAdvRight} only after a shrink under memory pressure. */
  private rcvWndRight = 0
  private rcvStream = 0
  private rcvFinStream = HOLD
  /** True once the peer's FIN was received in order. */
  finReceived = false

  // --- negotiated options
  /** MSS the peer advertised (536 when absent). */
  peerMss = 536
  /** Payload bytes per full-size segment we send (SMSS after options). */
  effMss: number
  /** Timestamps negotiated. */
  tsOk = false
  /** SACK negotiated. */
  sackOk = false
  private wsOk = false
  private readonly tsOffset: number
  private tsRecent = 0
  private lastAckSent = 0

  // --- buffers
  /** Unacknowledged + unsent bytes; byte 0 has sequence number {@link bufStartSeq}. */
  readonly sendBuffer: Ring
  /** In-order bytes not yet read (+ parked out-of-order bytes beyond its length). */
  readonly recvBuffer: Ring
  /** Out-of-order metadata; a shared empty one until the first out-of-order segment. */
  assembler: Assembler = NO_RANGES
  /** SACK scoreboard (send side); a shared empty one until the peer first SACKs. */
  scoreboard: Scoreboard = NO_SACKS
  private bufStartSeq: number
  private finQueued = false
  private closeRequested = false
  /** Bytes a blocked writer still has to write (0: no writer waits); see {@link awaitWritable}. */
  private writeWant = 0
  /** The stack's memory budget (undefined: unlimited). */
  private readonly memory: TcpMemory | undefined
  /** MemoryWaiter: listed in the budget's wait list (a writer waits for memory). */
  memoryWaiting = false
  /** A ring drained since the last poll: the next poll arms {@link idleDeadline}. */
  private drained = false
  private idleDeadline = HOLD

  // --- timers and estimators
  /** RTO estimator. */
  readonly rtt: RttEstimator
  /** Congestion controller. */
  readonly cc: CongestionControl
  private rtxDeadline = HOLD
  private persistDeadline = HOLD
  private persistBackoff = 0
  private forceProbe = false
  private delayedAckDeadline = HOLD
  private timeWaitDeadline = HOLD
  private connectDeadline = HOLD
  /** The application is gone ({@link orphan}): discard its connection if it does not end in time. */
  private orphaned = false
  private orphanDeadline = HOLD
  private lastRecv = 0
  private keepaliveSent = 0
  private rtoCount = 0
  private synRetries = 0
  private synSentAt = 0
  private rttTiming = false
  private rttSeq = 0
  private rttTime = 0

  // --- loss recovery
  private dupAcks = 0
  private inRecovery = false
  private recover: number
  private rexmitNext = 0
  private pendingRetransmit = false

  // --- output requests
  private ackNow = false
  private synNeeded = false
  private unackedBytes = 0
  private pendingRst = false
  private readonly ctl: TcpRepr[] = []
  private challengeStart = -1e15
  private challengeCount = 0

  // --- wake-ups
  private signals = 0

  /** The assembler, allocated on the first out-of-order segment (an in-order connection never needs one). */
  private ranges(): Assembler {
    const a = this.assembler
    return a !== NO_RANGES
      ? a
      : (this.assembler = new Assembler(this.config.maxOutOfOrderRanges, this.config.maxOutOfOrderBytes, this.memory))
  }

  /** The SACK scoreboard, allocated on the peer's first SACK block. */
  private sacks(): Scoreboard {
    const b = this.scoreboard
    return b !== NO_SACKS ? b : (this.scoreboard = new Scoreboard())
  }

  /** A TCB in CLOSED; use {@link Tcb.connect} or {@link Tcb.accept}. */
  constructor(init: TcbInit) {
    const config = init.config
    this.config = config
    this.localPort = init.localPort
    this.remotePort = init.remotePort
    this.iss = init.iss >>> 0
    this.sndUna = this.iss
    this.sndNxt = this.iss
    this.sndMax = this.iss
    this.recover = this.iss
    this.bufStartSeq = seqAdd(this.iss, 1)
    this.tsOffset = (init.tsOffset ?? 0) >>> 0
    this.memory = config.memory
    this.sendBuffer = new Ring(config.sendBufferSize, config.memory, true)
    this.recvBuffer = new Ring(config.recvBufferSize, config.memory)
    this.rtt = new RttEstimator(config.rtt)
    const mss = this.ourMss()
    this.effMss = mss
    this.cc = makeCongestion(config.congestion, mss, config.initialWindow)
    this.rcvShift = config.windowScaling ? windowShiftFor(config.recvBufferSize) : 0
  }

  /** Active open: a TCB in SYN-SENT whose first `poll` emits the SYN. */
  static connect(init: TcbInit, now: number): Tcb {
    const tcb = new Tcb(init)
    tcb.state = "SYN-SENT"
    tcb.synNeeded = true
    tcb.connectDeadline = now + tcb.config.connectTimeoutMs
    tcb.lastRecv = now
    return tcb
  }

  /** Passive open from a received SYN (the caller checked it is a SYN without ACK/RST): SYN-RECEIVED. */
  static accept(syn: TcpRepr, init: TcbInit, now: number): Tcb {
    const tcb = new Tcb(init)
    tcb.state = "SYN-RECEIVED"
    tcb.negotiate(syn, true)
    tcb.irs = syn.seqNumber >>> 0
    tcb.rcvNxt = seqAdd(tcb.irs, 1)
    tcb.rcvAdvRight = tcb.rcvNxt
    tcb.rcvWndRight = tcb.rcvNxt
    tcb.lastAckSent = tcb.rcvNxt
    tcb.sndWnd = syn.windowLen
    tcb.maxSndWnd = tcb.sndWnd
    tcb.sndWl1 = tcb.irs
    tcb.synNeeded = true
    tcb.connectDeadline = now + tcb.config.connectTimeoutMs
    tcb.lastRecv = now
    return tcb
  }

  /**
   * Passive open from a SYN cookie (`SynCookie.ts`): `syn` is the peer's SYN as the cookie restores it, and our
   * SYN-ACK (ISS `init.iss`, window `window`) was sent by a listener that kept no state. The TCB is in SYN-RECEIVED
   * with that SYN-ACK counted as sent; the caller then hands it the cookie ACK with {@link input}, which establishes it
   * like any other. The SYN-ACK's send time is unknown, so without timestamps the handshake gives no RTT sample
   * (as after a retransmitted SYN-ACK, Karn).
   */
  static fromCookie(syn: TcpRepr, init: TcbInit, window: number, now: number): Tcb {
    const tcb = Tcb.accept(syn, init, now)
    tcb.synNeeded = false
    tcb.sndNxt = seqAdd(tcb.iss, 1)
    tcb.sndMax = tcb.sndNxt
    tcb.rcvAdvRight = seqAdd(tcb.rcvNxt, window)
    tcb.synRetries = 1
    return tcb
  }

  // ------------------------------------------------------------------------------------------------ application API

  /** Queue bytes for sending; returns how many were accepted (0 = buffer full, -1 = sending is over). */
  write(data: Uint8Array): number {
    const s = this.state
    if (
      this.finQueued || this.closeRequested ||
      !(s === "ESTABLISHED" || s === "CLOSE-WAIT" || s === "SYN-SENT" || s === "SYN-RECEIVED")
    ) return -1
    const room = this.writable
    const n = room <= 0 ? 0 : this.sendBuffer.push(room < data.length ? data.subarray(0, room) : data)
    return n
  }

  /** Bytes that {@link write} would accept now. */
  get writable(): number {
    const room = this.sendCap() - this.sendBuffer.length
    return room > 0 ? room : 0
  }

  /**
   * How many bytes the send buffer may hold now (send-buffer autotuning, like Linux's `tcp_sndbuf_expand`): twice
   * the congestion window — enough to keep a window in flight and the next one queued — at least
   * {@link SEND_BUFFER_MIN}, at most `sendBufferSize`. A fast connection grows to the configured size within a few
   * round trips; one that shares a link with a thousand others holds a few segments' worth. Under memory pressure
   * it stops growing: at most the storage the ring holds already (or the minimum).
   */
  get sendLimit(): number {
    const auto = Math.min(this.config.sendBufferSize, Math.max(SEND_BUFFER_MIN, 2 * this.cc.cwnd))
    const m = this.memory
    if (m === undefined || !m.pressure) return auto
    const held = this.sendBuffer.storage
    return Math.min(auto, held > SEND_BUFFER_MIN ? held : SEND_BUFFER_MIN)
  }

  /** What the send buffer may hold now: {@link sendLimit}, within what the memory budget lets the ring allocate. */
  private sendCap(): number {
    const lim = this.sendLimit
    const m = this.memory
    if (m === undefined) return lim
    const c = this.sendBuffer.storage + m.writeAvailable
    return c < lim ? c : lim
  }

  /** In-order bytes ready for {@link read}. */
  get readable(): number {
    return this.recvBuffer.length
  }

  /** Read up to `max` bytes (a copy). Empty array: nothing yet; `null`: end of stream (peer's FIN, all read). */
  read(max: number = Infinity): Uint8Array | null {
    const n = Math.min(max, this.recvBuffer.length)
    if (n === 0) return this.finReceived ? null : EMPTY
    const out = new Uint8Array(n)
    this.recvBuffer.readInto(out)
    this.afterRead()
    return out
  }

  /** Read into `dst`; returns the byte count, or -1 at end of stream. */
  readInto(dst: Uint8Array): number {
    if (this.recvBuffer.length === 0) return this.finReceived ? -1 : 0
    const n = this.recvBuffer.readInto(dst)
    this.afterRead()
    return n
  }

  /** Bytes of buffer memory the connection holds now: send and receive rings, out-of-order storage. */
  get memoryBytes(): number {
    return this.sendBuffer.storage + this.recvBuffer.storage + this.assembler.memoryBytes
  }

  /**
   * Gives back every buffer (send, receive, out-of-order; their memory returns to the stack's budget): for a
   * connection that reached CLOSED and that nobody reads any more. Bytes not read are lost.
   */
  releaseBuffers(): void {
    this.sendBuffer.dispose()
    this.recvBuffer.dispose()
    this.assembler.clear()
    if (this.memory !== undefined) this.memory.forget(this)
  }

  /** Graceful close: FIN after all queued data (RFC 9293 §3.10.4). */
  close(): void {
    switch (this.state) {
      case "SYN-SENT":
        this.enterClosed(undefined)
        return
      case "SYN-RECEIVED":
        this.closeRequested = true
        return
      case "ESTABLISHED":
        this.finQueued = true
        this.state = "FIN-WAIT-1"
        return
      case "CLOSE-WAIT":
        this.finQueued = true
        this.state = "LAST-ACK"
        return
      default:
        return
    }
  }

  /** Abort: send RST (when synchronized) and go to CLOSED (RFC 9293 §3.10.5). */
  abort(): void {
    const s = this.state
    if (s === "CLOSED") return
    if (s !== "SYN-SENT" && s !== "TIME-WAIT") this.pendingRst = true
    this.enterClosed(undefined)
    this.releaseBuffers() // nobody reads an aborted connection
  }

  /**
   * Whether a writer with `want` more bytes to write may go on now: the free space reached the low-water mark
   * `max(1, min(want, sendLimit / 4))` — a blocked writer wakes once per quarter buffer, not on every ACK. If not,
   * arms {@link TcbSignal.Writable} for the moment it does (the smallest `want` of several writers wins).
   */
  awaitWritable(want: number): boolean {
    if (this.lowWater(want)) return true
    if (this.writeWant === 0 || want < this.writeWant) this.writeWant = want
    // memory is what holds the writer back: the budget resumes it once memory is released
    const m = this.memory
    if (m !== undefined && this.sendBuffer.storage + m.writeAvailable < this.sendLimit) m.waitFor(this)
    return false
  }

  /**
   * Whether the free send-buffer space reached the low-water mark of a writer with `want` bytes to go: a quarter of
   * what the buffer may hold now (so a writer held to a small buffer by the memory budget still wakes).
   */
  private lowWater(want: number): boolean {
    return this.writable >= Math.max(1, Math.min(want, this.sendCap() >>> 2))
  }

  /** The {@link TcbSignal} bits raised since the last call (0: nothing changed). */
  takeSignals(): number {
    const s = this.signals
    this.signals = 0
    return s
  }

  /**
   * The application closed the connection and will not use it again (RFC 1122 §4.2.2.13): {@link close} (FIN after
   * the queued data), and bound what is left — abort (RST) if our FIN is not acknowledged within `closeTimeoutMs`,
   * or if the peer does not send its FIN within `finWait2TimeoutMs` of FIN-WAIT-2.
   */
  orphan(now: number): void {
    this.close()
    this.orphaned = true
    const s = this.state
    if (s === "FIN-WAIT-2") this.orphanDeadline = now + this.config.finWait2TimeoutMs
    else if (s !== "TIME-WAIT" && s !== "CLOSED") this.orphanDeadline = now + this.config.closeTimeoutMs
  }

  /** Earliest time `poll` has timer work to do, or undefined. */
  nextDeadline(): number | undefined {
    let d = Infinity
    if (this.rtxDeadline !== HOLD && this.rtxDeadline < d) d = this.rtxDeadline
    if (this.persistDeadline !== HOLD && this.persistDeadline < d) d = this.persistDeadline
    if (this.delayedAckDeadline !== HOLD && this.delayedAckDeadline < d) d = this.delayedAckDeadline
    if (this.timeWaitDeadline !== HOLD && this.timeWaitDeadline < d) d = this.timeWaitDeadline
    if (this.connectDeadline !== HOLD && this.connectDeadline < d) d = this.connectDeadline
    if (this.orphanDeadline !== HOLD && this.orphanDeadline < d) d = this.orphanDeadline
    if (this.idleDeadline !== HOLD && this.idleDeadline < d) d = this.idleDeadline
    const ka = this.keepaliveDeadline()
    if (ka < d) d = ka
    return d === Infinity ? undefined : d
  }

  /** Whether input asked for an immediate segment (ACK, RST, SYN, retransmission) that `poll` has not produced yet. */
  get wantsPoll(): boolean {
    return this.ackNow || this.synNeeded || this.pendingRst || this.pendingRetransmit || this.ctl.length > 0
  }

  /** Smoothed RTT (ms). */
  get srtt(): number {
    return this.rtt.srtt
  }

  /** Current retransmission timeout (ms). */
  get rto(): number {
    return this.rtt.rto()
  }

  // ------------------------------------------------------------------------------------------------------ input

  /** Process one received segment addressed to this connection (RFC 9293 §3.10.7). */
  input(seg: TcpRepr, now: number): void {
    this.stats.segmentsIn++
    const s = this.state
    if (s === "CLOSED") return
    // SYN+FIN is never legitimate; RFC 9293 leaves it undefined, Linux drops it. Dropped silently rather than
    // answered with a challenge ACK: no real peer that lost its state sends one, so there is nobody to help, and
    // an answer would spend the challenge-ACK budget (RFC 5961 §7) that real SYNs and RSTs need.
    if ((seg.flags & (SYN | FIN)) === (SYN | FIN)) {
      this.stats.synFinDropped++
      return
    }
    if (s === "SYN-SENT") this.inputSynSent(seg, now)
    else this.inputSynchronized(seg, now)
  }

  /** SYN-SENT processing (RFC 9293 §3.10.7.3). */
  private inputSynSent(seg: TcpRepr, now: number): void {
    const f = seg.flags
    const ack = seg.ackNumber >>> 0
    if (f & ACK) {
      if (seqLe(ack, this.iss) || seqGt(ack, this.sndMax)) {
        if (!(f & RST)) this.queueCtl(ack, 0, RST)
        this.stats.droppedIn++
        return
      }
    }
    if (f & RST) {
      if (f & ACK) this.fail("Refused", undefined)
      return
    }
    if (!(f & SYN)) return
    this.negotiate(seg, false)
    this.irs = seg.seqNumber >>> 0
    this.rcvNxt = seqAdd(this.irs, 1)
    this.rcvAdvRight = seqAdd(this.rcvNxt, Math.min(0xffff, this.rcvSpace())) // our SYN's window
    this.rcvWndRight = this.rcvAdvRight
    this.lastAckSent = this.rcvNxt
    this.lastRecv = now
    if (f & ACK) {
      this.sndUna = ack
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack
      this.sndWnd = seg.windowLen // never scaled in a SYN (RFC 7323 §2.2)
      this.maxSndWnd = this.sndWnd
      this.sndWl1 = this.irs
      this.sndWl2 = ack
      this.synSampled(seg, now)
      this.establish()
      this.ackNow = true
    } else {
      // simultaneous open (RFC 9293 §3.10.7.3): SYN-RECEIVED, resend our SYN with an ACK
      this.state = "SYN-RECEIVED"
      this.sndWnd = seg.windowLen
      this.maxSndWnd = this.sndWnd
      this.sndWl1 = this.irs
      this.sndNxt = this.iss
      this.synNeeded = true
      this.rtxDeadline = HOLD
    }
  }

  /** SYN-RECEIVED and synchronized states (RFC 9293 §3.10.7.4, RFC 5961, RFC 7323 PAWS). */
  private inputSynchronized(seg: TcpRepr, now: number): void {
    const f = seg.flags
    const seq = seg.seqNumber >>> 0
    const plen = seg.payload.length
    const segLen = plen + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0)
    const state = this.state

    // a retransmitted SYN while we are in SYN-RECEIVED: our SYN-ACK was lost
    if (state === "SYN-RECEIVED" && (f & SYN) && !(f & (ACK | RST)) && seq === this.irs) {
      this.synNeeded = true
      return
    }

    // SYN (without RST) → challenge ACK whatever its sequence number and timestamp (RFC 5961 §4.2 "irrespective
    // of the sequence number"), before PAWS and the sequence check so that it goes through the rate limit of §7
    // (Linux: tcp_validate_incoming sends such SYNs to syn_challenge from both checks). A SYN with RST goes on to
    // the RST rules below.
    if ((f & SYN) && !(f & RST)) {
      if (!inWindow(seq, this.rcvNxt, Math.max(1, seqSub(this.rcvAdvRight, this.rcvNxt)))) this.stats.droppedIn++
      this.challengeAck(now)
      return
    }

    // PAWS (RFC 7323 §5.3)
    const ts = seg.options.timestamps
    if (this.tsOk && ts !== undefined && !(f & RST) && seqLt(ts.tsVal >>> 0, this.tsRecent)) {
      this.stats.pawsDrops++
      this.stats.droppedIn++
      this.ackNow = true
      return
    }

    // first: sequence number check
    const wnd = Math.max(0, seqSub(this.rcvAdvRight, this.rcvNxt))
    let ok: boolean
    if (segLen === 0) ok = wnd === 0 ? seq === this.rcvNxt : inWindow(seq, this.rcvNxt, wnd) || seq === this.rcvNxt
    else if (wnd === 0) ok = seq === this.rcvNxt // only the ACK/RST part can be used (§3.10.7.4)
    else ok = inWindow(seq, this.rcvNxt, wnd) || inWindow(seqAdd(seq, segLen - 1), this.rcvNxt, wnd)
    if (!ok) {
      this.stats.droppedIn++
      if (!(f & RST)) {
        this.ackNow = true
        if (state === "TIME-WAIT" && (f & FIN)) this.timeWaitDeadline = now + this.config.timeWaitMs
      }
      return
    }
    this.lastRecv = now
    this.keepaliveSent = 0

    // second: RST (RFC 5961 §3.2)
    if (f & RST) {
      if (seq === this.rcvNxt) {
        if (state === "SYN-RECEIVED") this.fail(this.parent ? "Reset" : "Refused", undefined)
        else if (state === "CLOSING" || state === "LAST-ACK" || state === "TIME-WAIT") this.enterClosed(undefined)
        else this.fail("Reset", undefined)
      } else this.challengeAck(now)
      return
    }

    // fourth: SYN in a synchronized state (RFC 5961 §4): handled above, before PAWS and the sequence check; a SYN
    // that gets here carries RST, and RST processing returned

    // fifth: ACK
    if (!(f & ACK)) return
    const ack = seg.ackNumber >>> 0
    if (state === "SYN-RECEIVED") {
      if (seqGt(ack, this.sndUna) && seqLe(ack, this.sndMax)) {
        this.sndUna = seqAdd(this.iss, 1)
        if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna
        this.sndWnd = seg.windowLen << this.sndShift
        this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd)
        this.sndWl1 = seq
        this.sndWl2 = ack
        this.synSampled(seg, now)
        this.rtxDeadline = HOLD
        this.establish()
        if (this.closeRequested) {
          this.closeRequested = false
          this.finQueued = true
          this.state = "FIN-WAIT-1"
        }
      } else {
        this.queueCtl(ack, 0, RST)
        return
      }
    }
    // RFC 5961 §5.2: acceptable iff SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT
    if (seqGt(ack, this.sndMax)) {
      this.challengeAck(now)
      return
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.challengeAck(now)
      return
    }
    if (this.tsOk && ts !== undefined && seqLe(seq, this.lastAckSent)) this.tsRecent = ts.tsVal >>> 0
    this.processAck(seg, ack, seq, now)
    if (this.state === "CLOSED") return

    // seventh: segment text
    const st = this.state
    if (st === "ESTABLISHED" || st === "FIN-WAIT-1" || st === "FIN-WAIT-2") {
      if (plen > 0 || (f & FIN)) this.processData(seg, seq, plen, (f & FIN) !== 0, now)
    }
  }

  /** Fifth step: ACK field, RTT, congestion control, duplicate ACKs, SACK scoreboard, window update. */
  private processAck(seg: TcpRepr, ack: number, seq: number, now: number): void {
    const acked = seqSub(ack, this.sndUna)
    const wnd = seg.windowLen << this.sndShift
    const blocks = seg.options.sackBlocks
    let sackAdded = false
    if (this.sackOk && blocks.length > 0) {
      for (let i = 0; i < blocks.length; i++) {
        if (this.sacks().add(blocks[i].left >>> 0, blocks[i].right >>> 0, ack, this.sndMax)) sackAdded = true
      }
    }
    if (acked > 0) {
      const bufLen = this.sendBuffer.length
      const dataAcked = Math.min(acked, bufLen)
      const finAcked = this.finQueued && acked > bufLen
      this.sendBuffer.discard(dataAcked)
      if (dataAcked === bufLen && bufLen > 0) this.drained = true
      this.bufStartSeq = seqAdd(this.bufStartSeq, dataAcked)
      this.sndUna = ack
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack
      this.scoreboard.prune(ack)
      // RTT: timestamps (RFC 7323 §4) or one timed segment (Karn)
      const ts = seg.options.timestamps
      if (this.tsOk && ts !== undefined && ts.tsEcr !== 0) {
        const r = (this.tsNow(now) - ts.tsEcr) >>> 0
        if (r < 0x7fffffff) this.rtt.sample(r)
      } else if (this.rttTiming && seqGe(ack, this.rttSeq)) {
        this.rtt.sample(now - this.rttTime)
        this.rttTiming = false
      }
      this.rtt.resetBackoff()
      this.rtoCount = 0
      this.persistBackoff = 0
      const flight = seqSub(this.sndMax, ack)
      if (this.inRecovery) {
        if (seqGe(ack, this.recover)) {
          this.inRecovery = false
          this.cc.onExitRecovery(flight, now)
        } else {
          this.cc.onPartialAck(dataAcked, this.sackOk)
          if (!this.sackOk) this.pendingRetransmit = true
          if (seqLt(this.rexmitNext, ack)) this.rexmitNext = ack
        }
      } else this.cc.onAck(dataAcked, now, this.rtt.latest)
      this.dupAcks = 0
      this.rtxDeadline = ack === this.sndMax && !this.pendingRetransmit ? HOLD : now + this.rtt.rto()
      if (finAcked) this.onFinAcked(now)
    } else if (
      acked === 0 && seg.payload.length === 0 && !(seg.flags & (SYN | FIN)) && this.sndMax !== this.sndUna &&
      ((wnd === this.sndWnd && wnd > 0) || sackAdded)
    ) {
      // duplicate ACK: same window (RFC 5681 §2), or — with SACK — new SACK information whatever the window
      // (RFC 6675 §2): a receiver whose application reads in batches advertises a different window in many ACKs,
      // and requiring an unchanged window would leave SACK-detected losses to the retransmission timer
      this.dupAcks++
      this.stats.dupAcksIn++
      if (!this.inRecovery) {
        const lost = this.sackOk && sackAdded &&
          (this.scoreboard.sacked > 2 * this.effMss || this.scoreboard.rangeCount >= 3)
        if ((this.dupAcks >= 3 || lost) && seqGt(ack, this.recover)) this.enterRecovery(now)
      } else if (!this.sackOk) this.cc.onDupAck()
    }
    // window update (RFC 9293 §3.10.7.4, SND.WL1/WL2 rule)
    if (seqLt(this.sndWl1, seq) || (this.sndWl1 === seq && seqLe(this.sndWl2, ack))) {
      this.sndWnd = wnd
      this.sndWl1 = seq
      this.sndWl2 = ack
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd
      if (wnd > 0) {
        this.persistDeadline = HOLD
        this.persistBackoff = 0
      }
    }
  }

  /** Fast retransmit: enter loss recovery (RFC 6582 / RFC 6675). */
  private enterRecovery(now: number): void {
    const flight = seqSub(this.sndMax, this.sndUna)
    this.inRecovery = true
    this.recover = this.sndMax
    this.cc.onEnterRecovery(flight, now, this.sackOk)
    this.stats.fastRetransmits++
    this.rexmitNext = this.sndUna
    this.pendingRetransmit = true
    this.rttTiming = false
  }

  /** Our FIN was acknowledged: advance the closing states. */
  private onFinAcked(now: number): void {
    this.signals |= TcbSignal.FinAcked
    switch (this.state) {
      case "FIN-WAIT-1":
        this.state = "FIN-WAIT-2"
        if (this.orphaned) this.orphanDeadline = now + this.config.finWait2TimeoutMs
        break
      case "CLOSING":
        this.enterTimeWait(now)
        break
      case "LAST-ACK":
        this.enterClosed(undefined)
        break
      default:
        break
    }
  }

  /**
   * Seventh/eighth steps: store text (in order into the ring, out of order into the assembler), schedule the ACK,
   * handle an in-order FIN. What a bound or the memory limit does not let us store is dropped and counted, and was
   * neither acknowledged nor SACKed: the peer sends it again.
   */
  private processData(seg: TcpRepr, seq: number, plen: number, fin: boolean, now: number): void {
    let off = seqSub(seq, this.rcvNxt)
    let data = seg.payload
    if (off < 0) {
      if (-off >= plen) {
        data = EMPTY
        // a duplicate: the FIN (if any) sits at seq + plen
        if (fin && seqSub(seqAdd(seq, plen), this.rcvNxt) < 0) fin = false
      } else data = data.subarray(-off)
      off = 0
    }
    const room = Math.max(0, this.recvBuffer.free - off)
    let truncated = false
    if (data.length > room) {
      data = data.subarray(0, room)
      truncated = true
    }
    const base = this.rcvStream
    const len = data.length
    if (len > 0) {
      if (off === 0) {
        const stored = this.recvBuffer.push(data)
        if (stored < len) {
          // the stack's memory limit: the rest is not acknowledged, the peer retransmits it
          truncated = true
          this.stats.memoryDropped++
          if (this.memory !== undefined) this.memory.memoryDropped++
        }
        if (stored > 0) {
          const end = base + stored
          const edge = this.assembler.advance(end, this.recvBuffer)
          const total = edge - base
          this.rcvStream = edge
          this.rcvNxt = seqAdd(this.rcvNxt, total)
          this.stats.bytesIn += total
          this.signals |= TcbSignal.Readable
          if (edge > end) this.ackNow = true // filled a hole (RFC 5681 §4.2)
          else this.scheduleAck(stored, now)
        } else this.ackNow = true
      } else {
        if (!this.ranges().add(base + off, data)) {
          truncated = true
          this.stats.outOfOrderDropped++
          if (this.memory !== undefined) this.memory.outOfOrderDropped++
        }
        this.stats.outOfOrderIn++
        this.ackNow = true // out of order: immediate (duplicate) ACK with SACK blocks
      }
    } else if (plen > 0) this.ackNow = true // duplicate data
    if (truncated) this.ackNow = true
    else if (fin) this.rcvFinStream = base + off + len
    if (this.rcvFinStream !== HOLD && this.rcvStream === this.rcvFinStream) this.processFin(now)
  }

  /** Delayed-ACK policy for `len` new in-order bytes. */
  private scheduleAck(len: number, now: number): void {
    this.unackedBytes += len
    if (this.config.delayedAckMs <= 0 || this.unackedBytes >= 2 * this.effMss) this.ackNow = true
    else if (this.delayedAckDeadline === HOLD) this.delayedAckDeadline = now + this.config.delayedAckMs
  }

  /** The peer's FIN is next in sequence: consume it. */
  private processFin(now: number): void {
    this.rcvFinStream = HOLD
    this.rcvNxt = seqAdd(this.rcvNxt, 1)
    this.finReceived = true
    this.ackNow = true
    this.signals |= TcbSignal.Readable
    switch (this.state) {
      case "ESTABLISHED":
        this.state = "CLOSE-WAIT"
        break
      case "FIN-WAIT-1":
        // our FIN not yet acknowledged: simultaneous close
        this.state = "CLOSING"
        break
      case "FIN-WAIT-2":
        this.enterTimeWait(now)
        break
      default:
        break
    }
  }

  /** Apply the options of the peer's SYN (MSS, window scale, SACK, timestamps). */
  private negotiate(syn: TcpRepr, passive: boolean): void {
    const o = syn.options
    const c = this.config
    this.peerMss = o.mss !== undefined && o.mss > 0 ? o.mss : 536
    this.wsOk = c.windowScaling && o.windowScale !== undefined
    if (this.wsOk) this.sndShift = Math.min(14, o.windowScale ?? 0)
    else {
      this.sndShift = 0
      this.rcvShift = 0
    }
    this.sackOk = c.sack && o.sackPermitted
    this.tsOk = c.timestamps && o.timestamps !== undefined
    if (this.tsOk) this.tsRecent = (o.timestamps?.tsVal ?? 0) >>> 0
    let mss = Math.min(this.peerMss, this.ourMss())
    if (mss < 64) mss = 64
    this.effMss = mss - (this.tsOk ? TS_OPTION_LEN : 0)
    this.cc.setMss(this.effMss)
    void passive
  }

  /** RTT sample from the handshake (timestamps or Karn-safe timing). */
  private synSampled(seg: TcpRepr, now: number): void {
    const ts = seg.options.timestamps
    if (this.tsOk && ts !== undefined && ts.tsEcr !== 0) {
      const r = (this.tsNow(now) - ts.tsEcr) >>> 0
      if (r < 0x7fffffff) this.rtt.sample(r)
    } else if (this.synRetries === 0) this.rtt.sample(now - this.synSentAt)
  }

  /** Enter ESTABLISHED and tell the application / listener. */
  private establish(): void {
    this.state = "ESTABLISHED"
    this.connectDeadline = HOLD
    this.rtxDeadline = HOLD
    this.synRetries = 0
    this.rtoCount = 0
    this.signals |= TcbSignal.Established
    if (this.parent !== undefined) this.parent.onEstablished(this)
  }

  // ------------------------------------------------------------------------------------------------------ output

  /** Fire due timers and append every segment to send now to `out` (returned); raises {@link TcbSignal.Writable}. */
  poll(now: number, out: TcpRepr[] = []): TcpRepr[] {
    this.runTimers(now)
    if (this.drained) this.onDrained(now)
    const start = out.length
    if (this.ctl.length > 0) {
      for (let i = 0; i < this.ctl.length; i++) out.push(this.ctl[i])
      this.ctl.length = 0
    }
    switch (this.state) {
      case "CLOSED":
        if (this.pendingRst) {
          this.pendingRst = false
          out.push(this.segment(this.sndNxt, RST | ACK, EMPTY, now))
        }
        this.ackNow = false
        break
      case "SYN-SENT":
        if (this.synNeeded) this.sendSyn(now, out, false)
        break
      case "SYN-RECEIVED":
        if (this.synNeeded) this.sendSyn(now, out, true)
        else if (this.ackNow) this.sendAck(now, out)
        break
      case "TIME-WAIT":
        if (this.ackNow) this.sendAck(now, out)
        break
      default:
        this.sendData(now, out)
        if (this.ackNow) this.sendAck(now, out)
        break
    }
    this.stats.segmentsOut += out.length - start
    // checked after every poll (the shell polls after every input and every application call), so a blocked writer
    // wakes as soon as acknowledged data or a larger congestion window frees enough room
    if (this.writeWant > 0 && this.lowWater(this.writeWant)) {
      this.writeWant = 0
      this.signals |= TcbSignal.Writable
    }
    return out
  }

  /** Emit our SYN (or SYN-ACK) with its options. */
  private sendSyn(now: number, out: TcpRepr[], withAck: boolean): void {
    this.synNeeded = false
    this.ackNow = false
    const c = this.config
    const wsShift = this.rcvShift
    const offerWs = withAck ? this.wsOk : c.windowScaling
    const offerTs = withAck ? this.tsOk : c.timestamps
    const offerSack = withAck ? this.sackOk : c.sack
    const options: {
      mss: number
      windowScale?: number
      sackPermitted: boolean
      sackBlocks: ReadonlyArray<TcpSackBlock>
      timestamps?: { tsVal: number; tsEcr: number }
    } = { mss: this.ourMss(), sackPermitted: offerSack, sackBlocks: [] }
    if (offerWs) options.windowScale = wsShift
    if (offerTs) options.timestamps = { tsVal: this.tsNow(now), tsEcr: withAck ? this.tsRecent : 0 }
    const win = Math.min(0xffff, this.rcvSpace())
    const seg: TcpRepr = {
      srcPort: this.localPort,
      dstPort: this.remotePort,
      seqNumber: this.iss,
      ackNumber: withAck ? this.rcvNxt : 0,
      flags: withAck ? SYN | ACK : SYN,
      windowLen: win,
      urgentPointer: 0,
      options,
      payload: EMPTY,
    }
    if (withAck) {
      this.rcvAdvRight = seqAdd(this.rcvNxt, win)
      this.rcvWndRight = this.rcvAdvRight
      this.lastAckSent = this.rcvNxt
    }
    out.push(seg)
    this.sndNxt = seqAdd(this.iss, 1)
    this.sndMax = this.sndNxt
    this.synSentAt = now
    this.rtxDeadline = now + this.rtt.rto()
  }

  /** Emit a bare ACK. */
  private sendAck(now: number, out: TcpRepr[]): void {
    out.push(this.segment(this.sndNxt, ACK, EMPTY, now))
  }

  /** Whether unsent data or an unsent FIN is queued in a sending state. */
  private hasSendable(): boolean {
    const s = this.state
    if (s !== "ESTABLISHED" && s !== "CLOSE-WAIT" && s !== "FIN-WAIT-1" && s !== "LAST-ACK" && s !== "CLOSING") {
      return false
    }
    return seqLt(this.sndNxt, this.dataEnd()) || (this.finQueued && seqLe(this.sndNxt, this.dataEnd()))
  }

  /** Sequence number after the last queued byte. */
  private dataEnd(): number {
    return seqAdd(this.bufStartSeq, this.sendBuffer.length)
  }

  /** Segment assembly: retransmissions first, then new data under cwnd/rwnd/Nagle/SWS, then FIN. */
  private sendData(now: number, out: TcpRepr[]): void {
    const s = this.state
    if (s === "FIN-WAIT-2") return
    const mss = this.effMss
    const dataEnd = this.dataEnd()
    const finSeq = dataEnd
    // 1. single retransmission at SND.UNA (fast retransmit, NewReno partial ACK)
    if (this.pendingRetransmit) {
      this.pendingRetransmit = false
      const una = this.sndUna
      const avail = Math.max(0, seqSub(dataEnd, una))
      const len = Math.min(mss, avail, Math.max(0, seqSub(this.sndMax, una)))
      const fin = this.finQueued && len === avail && seqGt(this.sndMax, finSeq)
      if (len > 0 || fin) {
        this.emitData(una, len, fin, now, out, true)
        if (seqLt(this.rexmitNext, seqAdd(una, len))) this.rexmitNext = seqAdd(una, len)
      }
      if (this.rtxDeadline === HOLD) this.rtxDeadline = now + this.rtt.rto()
    }
    // 2. SACK-based loss recovery (RFC 6675 §5): retransmit holes while pipe < cwnd
    if (this.inRecovery && this.sackOk) {
      for (;;) {
        const pipe = this.pipe()
        if (pipe + mss > this.cc.cwnd) break
        const from = seqMax(this.rexmitNext, this.sndUna)
        const hole = this.scoreboard.nextHole(from)
        if (hole === -1) break
        const len = Math.min(mss, seqSub(this.scoreboard.holeEnd(hole), hole), seqSub(dataEnd, hole))
        if (len <= 0) break
        this.emitData(hole, len, false, now, out, true)
        this.rexmitNext = seqAdd(hole, len)
      }
    }
    // 3. new data (or go-back-N after an RTO) from SND.NXT
    // the persist timer fired: one segment may go whatever SWS avoidance and Nagle say (§3.8.6.2.1's override
    // timeout), or, when the usable window is zero, a one-byte probe (§3.8.6.1) — never both, and never a probe past
    // a window that is still open
    let force = this.forceProbe
    this.forceProbe = false
    for (;;) {
      let seq = this.sndNxt
      if (seqLt(seq, this.sndMax) && this.scoreboard.rangeCount > 0) {
        seq = this.scoreboard.skipSacked(seq)
        this.sndNxt = seq
      }
      const avail = Math.max(0, seqSub(dataEnd, seq))
      const finPending = this.finQueued && seqLe(seq, finSeq)
      if (avail === 0 && !finPending) break
      const winRight = seqAdd(this.sndUna, this.sndWnd)
      const wndRoom = seqSub(winRight, seq)
      const cwndRoom = this.inRecovery && this.sackOk
        ? this.cc.cwnd - this.pipe()
        : this.cc.cwnd - seqSub(seq, this.sndUna)
      let len = Math.min(avail, mss, wndRoom, cwndRoom)
      if (len < 0) len = 0
      const isRetrans = seqLt(seq, this.sndMax)
      if (force && len === 0 && avail > 0) {
        if (wndRoom <= 0) {
          // zero-window probe: one byte beyond the window (§3.8.6.1); SND.NXT is not advanced
          this.stats.windowProbes++
          const probeEnd = seqAdd(seq, 1)
          this.emitData(seq, 1, false, now, out, isRetrans)
          if (seqGt(probeEnd, this.sndMax)) this.sndMax = probeEnd
        }
        break
      }
      const fin = finPending && len === avail
      if (len === 0 && !fin) break
      if (len < mss && !fin && !isRetrans && !force) {
        if (len < avail) {
          // window-limited (sender SWS avoidance, §3.8.6.2.1)
          if (len < this.maxSndWnd >>> 1) break
        } else if (!this.config.noDelay && this.sndNxt !== this.sndUna) break // Nagle
      }
      this.emitData(seq, len, fin, now, out, isRetrans)
      force = false
      const next = seqAdd(seq, len + (fin ? 1 : 0))
      this.sndNxt = next
      if (seqGt(next, this.sndMax)) this.sndMax = next
      if (!isRetrans && !this.tsOk && !this.rttTiming && len > 0) {
        this.rttTiming = true
        this.rttSeq = next
        this.rttTime = now
      }
      if (fin) break
    }
    // timers
    if (this.sndNxt !== this.sndUna || (this.sndMax !== this.sndUna && this.sndWnd > 0)) {
      if (this.rtxDeadline === HOLD) this.rtxDeadline = now + this.rtt.rto()
      this.persistDeadline = HOLD
    } else if (this.hasSendable()) {
      // nothing in flight but something to send: window closed (or too small) → persist timer
      this.rtxDeadline = HOLD
      if (this.persistDeadline === HOLD) {
        const base = Math.max(this.rtt.rto(), this.config.rtt.minRto)
        this.persistDeadline = now + Math.min(base * 2 ** Math.min(this.persistBackoff, 16), this.config.rtt.maxRto)
      }
    }
  }

  /** RFC 6675 pipe estimate: bytes beyond the highest SACK plus retransmitted hole bytes. */
  private pipe(): number {
    const una = this.sndUna
    const high = this.scoreboard.highSacked(una)
    let p = Math.max(0, seqSub(this.sndMax, high))
    const rx = seqLt(this.rexmitNext, high) ? this.rexmitNext : high
    if (seqGt(rx, una)) p += seqSub(rx, una) - this.scoreboard.sackedBetween(una, rx)
    return p
  }

  /** Emit one data/FIN segment from the send ring. */
  private emitData(seq: number, len: number, fin: boolean, now: number, out: TcpRepr[], retrans: boolean): void {
    const payload = len > 0 ? this.sendBuffer.peek(seqSub(seq, this.bufStartSeq), len) : EMPTY
    let flags = ACK
    if (fin) flags |= FIN
    if (len > 0 && seqAdd(seq, len) === this.dataEnd()) flags |= PSH
    out.push(this.segment(seq, flags, payload, now))
    this.stats.bytesOut += len
    if (retrans) {
      this.stats.retransmits++
      if (this.rttTiming && seqLt(seq, this.rttSeq)) this.rttTiming = false // Karn
    }
  }

  /** Build a segment in a synchronized state, computing window and options; clears pending-ACK state. */
  private segment(seq: number, flags: number, payload: Uint8Array, now: number): TcpRepr {
    const wndField = this.windowField()
    let options: TcpOptions
    const sackN = this.sackOk && !this.assembler.isEmpty && !(flags & RST)
      ? this.assembler.sackBlocks(SACK_SCRATCH, this.tsOk ? 3 : 4)
      : 0
    if (!this.tsOk && sackN === 0) options = NO_OPTS
    else {
      const blocks: TcpSackBlock[] = []
      for (let i = 0; i < sackN; i++) {
        blocks.push({
          left: seqAdd(this.rcvNxt, SACK_SCRATCH[2 * i] - this.rcvStream),
          right: seqAdd(this.rcvNxt, SACK_SCRATCH[2 * i + 1] - this.rcvStream),
        })
      }
      options = this.tsOk
        ? { sackPermitted: false, sackBlocks: blocks, timestamps: { tsVal: this.tsNow(now), tsEcr: this.tsRecent } }
        : { sackPermitted: false, sackBlocks: blocks }
    }
    if (flags & ACK) {
      this.ackNow = false
      this.unackedBytes = 0
      this.delayedAckDeadline = HOLD
      this.lastAckSent = this.rcvNxt
    }
    return {
      srcPort: this.localPort,
      dstPort: this.remotePort,
      seqNumber: seq,
      ackNumber: flags & ACK ? this.rcvNxt : 0,
      flags,
      windowLen: wndField,
      urgentPointer: 0,
      options,
      payload,
    }
  }

  /**
   * Window field to advertise, with receiver SWS avoidance (§3.8.6.2.2). It never shrinks the right edge, except
   * under memory pressure: then the window is what the storage held backs (Linux's `tcp_shrink_window`), so the
   * peer stops sending what would be dropped at the limit; bytes in flight up to the edge advertised before are
   * still accepted while memory allows.
   */
  private windowField(): number {
    const shift = this.rcvShift
    const free = Math.min(this.rcvSpace(), 0xffff << shift)
    const cur = Math.max(0, seqSub(this.rcvWndRight, this.rcvNxt))
    const grow = free - cur
    const threshold = Math.min(this.recvBuffer.capacity >>> 1, this.effMss)
    let wnd = grow >= threshold ? free : cur
    let shrunk = false
    if (wnd > free && this.memory !== undefined && this.memory.pressure) {
      wnd = free
      shrunk = true
    }
    let field = wnd >>> shift
    if (field > 0xffff) field = 0xffff
    const right = seqAdd(this.rcvNxt, field << shift)
    if (seqGt(right, this.rcvAdvRight)) this.rcvAdvRight = right
    if (shrunk || seqGt(right, this.rcvWndRight)) this.rcvWndRight = right
    return field
  }

  /** After the application read: request a window update if worthwhile; a drained ring may give its storage back. */
  private afterRead(): void {
    const s = this.state
    if (this.recvBuffer.length === 0 && this.recvBuffer.storage > 0) {
      if (s === "CLOSED") this.recvBuffer.dispose() // nothing more can arrive
      else this.drained = true
    }
    // window update when the window at least doubles and grows by ≥ min(buffer/2, MSS) (§3.8.6.2.2)
    if (s !== "ESTABLISHED" && s !== "FIN-WAIT-1" && s !== "FIN-WAIT-2") return
    const cur = Math.max(0, seqSub(this.rcvWndRight, this.rcvNxt))
    const free = Math.min(this.rcvSpace(), 0xffff << this.rcvShift)
    const threshold = Math.min(this.recvBuffer.capacity >>> 1, this.effMss)
    if (free - cur >= threshold && free >= 2 * cur) this.ackNow = true
  }

  /**
   * Bytes beyond RCV.NXT the receive buffer may take now: its free space, or under memory pressure only the storage
   * the ring holds already (at least {@link RING_MIN_STORAGE} while the budget allows), so windows stop growing.
   */
  private rcvSpace(): number {
    const r = this.recvBuffer
    const free = r.free
    const m = this.memory
    if (m === undefined || !m.pressure) return free
    const held = r.storage
    const floor = Math.min(RING_MIN_STORAGE, held + m.available)
    const room = (held > floor ? held : floor) - r.length
    return room < free ? (room > 0 ? room : 0) : free
  }

  // ------------------------------------------------------------------------------------------------------ memory

  /** A ring drained: give its storage back now under memory pressure, else if still empty a delay later. */
  private onDrained(now: number): void {
    this.drained = false
    const m = this.memory
    if (m !== undefined && m.pressure) {
      this.sendBuffer.release()
      this.recvBuffer.release()
      return
    }
    if (this.idleDeadline === HOLD) this.idleDeadline = now + BUFFER_IDLE_MS
  }

  /**
   * The idle delay since a drain passed: free each ring that is empty now. One in use holds bytes most of the time
   * and is left alone (its next drain looks again); one that empties as fast as it fills (a reader that keeps up)
   * is at most freed and regrown once per delay, a few KiB.
   */
  private releaseIdle(): void {
    this.sendBuffer.release()
    this.recvBuffer.release()
  }

  // ------------------------------------------------------------------------------------------------------ timers

  /** Fire every timer due at `now`. */
  private runTimers(now: number): void {
    if (this.orphanDeadline !== HOLD && now >= this.orphanDeadline) {
      this.abort()
      return
    }
    if (this.timeWaitDeadline !== HOLD && now >= this.timeWaitDeadline) {
      this.timeWaitDeadline = HOLD
      this.enterClosed(undefined)
      return
    }
    if (this.connectDeadline !== HOLD && now >= this.connectDeadline) {
      this.fail("TimedOut", "connect")
      return
    }
    if (this.rtxDeadline !== HOLD && now >= this.rtxDeadline) {
      this.rtxDeadline = HOLD
      this.onRetransmitTimeout(now)
      if (this.state === "CLOSED") return
    }
    if (this.persistDeadline !== HOLD && now >= this.persistDeadline) {
      this.persistDeadline = HOLD
      this.persistBackoff++
      this.forceProbe = true
    }
    if (this.delayedAckDeadline !== HOLD && now >= this.delayedAckDeadline) {
      this.delayedAckDeadline = HOLD
      this.ackNow = true
    }
    if (this.idleDeadline !== HOLD && now >= this.idleDeadline) {
      this.idleDeadline = HOLD
      this.releaseIdle()
    }
    const ka = this.keepaliveDeadline()
    if (now >= ka) {
      const k = this.config.keepalive
      if (k !== undefined && this.keepaliveSent >= k.probes) {
        this.fail("TimedOut", "keepalive")
        return
      }
      this.keepaliveSent++
      this.stats.keepaliveProbes++
      // <SEQ=SND.UNA-1><ACK=RCV.NXT>, no data: elicits an ACK (RFC 1122 §4.2.3.6)
      this.ctl.push(this.segment(seqAdd(this.sndUna, -1), ACK, EMPTY, now))
    }
  }

  /** When the next keepalive action is due (Infinity when none). */
  private keepaliveDeadline(): number {
    const k = this.config.keepalive
    if (k === undefined) return Infinity
    const s = this.state
    if (s !== "ESTABLISHED" && s !== "CLOSE-WAIT") return Infinity
    if (this.sndMax !== this.sndUna || this.hasSendable()) return Infinity
    return this.lastRecv + k.idleMs + this.keepaliveSent * k.intervalMs
  }

  /** RTO expiry: back off, collapse cwnd, go back to SND.UNA, or give up. */
  private onRetransmitTimeout(now: number): void {
    const s = this.state
    if (s === "SYN-SENT" || s === "SYN-RECEIVED") {
      this.synRetries++
      if (this.synRetries > this.config.maxSynRetransmits) {
        this.fail("TimedOut", "connect")
        return
      }
      this.rtt.onTimeout()
      this.stats.retransmits++
      this.stats.timeouts++
      this.synNeeded = true
      return
    }
    if (this.sndMax === this.sndUna && !this.hasSendable()) return
    this.rtoCount++
    if (this.rtoCount > this.config.maxRetransmits) {
      this.fail("TimedOut", "retransmit")
      return
    }
    this.stats.timeouts++
    this.rtt.onTimeout()
    this.cc.onRetransmitTimeout(seqSub(this.sndMax, this.sndUna), now)
    this.recover = this.sndMax
    this.inRecovery = false
    this.dupAcks = 0
    this.pendingRetransmit = false
    this.scoreboard.clear()
    this.sndNxt = this.sndUna
    this.rttTiming = false
    if (this.sndWnd === 0) this.forceProbe = true
  }

  // ------------------------------------------------------------------------------------------------------ helpers

  /** The MSS we advertise (after the clamp). */
  private ourMss(): number {
    const c = this.config
    return c.mssClamp > 0 ? Math.min(c.mss, c.mssClamp) : c.mss
  }

  /** Our timestamp clock at `now`. */
  private tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0
  }

  /** Request a challenge ACK, subject to the per-second limit (RFC 5961 §7). */
  private challengeAck(now: number): void {
    if (now - this.challengeStart >= 1000) {
      this.challengeStart = now
      this.challengeCount = 0
    }
    if (this.challengeCount < this.config.challengeAckLimit) {
      this.challengeCount++
      this.stats.challengeAcks++
      this.ackNow = true
    } else this.stats.challengeAcksSuppressed++
  }

  /** Queue a control segment that is not in our sequence flow (e.g. RST answering a bad ACK). */
  private queueCtl(seq: number, ack: number, flags: number): void {
    this.ctl.push({
      srcPort: this.localPort,
      dstPort: this.remotePort,
      seqNumber: seq >>> 0,
      ackNumber: ack >>> 0,
      flags,
      windowLen: 0,
      urgentPointer: 0,
      options: NO_OPTS,
      payload: EMPTY,
    })
  }

  /** Enter TIME-WAIT and start its timer. */
  private enterTimeWait(now: number): void {
    this.state = "TIME-WAIT"
    this.rtxDeadline = HOLD
    this.persistDeadline = HOLD
    this.delayedAckDeadline = HOLD
    this.orphanDeadline = HOLD
    this.timeWaitDeadline = now + this.config.timeWaitMs
  }

  /** Enter CLOSED, stop timers, report `reason` and Closed. */
  private enterClosed(reason: TcpErrorReason | undefined): void {
    if (this.state === "CLOSED" && this.signals & TcbSignal.Closed) return
    this.state = "CLOSED"
    this.rtxDeadline = HOLD
    this.persistDeadline = HOLD
    this.delayedAckDeadline = HOLD
    this.timeWaitDeadline = HOLD
    this.connectDeadline = HOLD
    this.synNeeded = false
    this.pendingRetransmit = false
    this.orphanDeadline = HOLD
    this.idleDeadline = HOLD
    if (reason !== undefined) this.error = reason
    // buffers nobody needs any more go back to the stack's budget; received bytes stay readable after a normal end
    this.sendBuffer.dispose()
    this.assembler.clear()
    if (reason !== undefined || this.recvBuffer.length === 0) this.recvBuffer.dispose()
    if (this.memory !== undefined) this.memory.forget(this)
    this.signals |= TcbSignal.Closed
    if (this.parent !== undefined) this.parent.onClosed(this)
  }

  /** Abnormal end with `reason` (and timeout cause). */
  private fail(reason: TcpErrorReason, cause: TcpTimeoutCause | undefined): void {
    if (cause !== undefined) this.timeoutCause = cause
    // a passive half-open connection that fails is forgotten quietly by its listener; the app never saw it
    this.enterClosed(reason)
  }
}

const NO_OPTS: TcpOptions = { sackPermitted: false, sackBlocks: [] }
