/**
 * Passive open (RFC 9293 §3.10.7.2, the LISTEN state) and the reply to segments that match no connection
 * (§3.10.7.1, the CLOSED state).
 *
 * A {@link Listener} belongs to one local port. For each acceptable SYN it creates a {@link Tcb} in SYN-RECEIVED
 * (the shell registers it under the segment's 4-tuple and routes later segments to it). Half-open TCBs count
 * against `backlog`, and so do established TCBs waiting in the accept queue: a SYN that arrives when
 * `synQueue + acceptQueue >= backlog` is dropped and counted (the peer retransmits it), like a full Linux queue
 * without SYN cookies. A TCB that closes before it is accepted is dropped from the queues.
 *
 * LISTEN processing: RST → ignored; ACK → `<SEQ=SEG.ACK><CTL=RST>`; SYN with FIN → dropped and counted
 * (`synFinDropped`: never legitimate, RFC 9293 leaves it undefined and Linux discards it); SYN → new TCB; anything
 * else → dropped.
 *
 * @module
 */
import { EMPTY, NO_OPTIONS, segmentLength, TcpFlags, type TcpRepr } from "./Segment.ts"
import { seqAdd } from "./SeqNum.ts"
import { Tcb, type TcbConfig, type TcbParent } from "./Tcb.ts"

/**
 * The RST answering `seg` when no connection matches it (RFC 9293 §3.10.7.1), or undefined when `seg` is itself a
 * RST. With ACK: `<SEQ=SEG.ACK><CTL=RST>`; without: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
 */
export const resetFor = (seg: TcpRepr): TcpRepr | undefined => {
  if (seg.flags & TcpFlags.RST) return undefined
  const withAck = (seg.flags & TcpFlags.ACK) !== 0
  return {
    srcPort: seg.dstPort,
    dstPort: seg.srcPort,
    seqNumber: withAck ? seg.ackNumber >>> 0 : 0,
    ackNumber: withAck ? 0 : seqAdd(seg.seqNumber, segmentLength(seg)),
    flags: withAck ? TcpFlags.RST : TcpFlags.RST | TcpFlags.ACK,
    windowLen: 0,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: EMPTY,
  }
}

/** Listener tunables. */
export interface ListenerConfig {
  /** Maximum half-open + not-yet-accepted connections. */
  readonly backlog: number
  /** Configuration given to each accepted TCB. */
  readonly tcb: TcbConfig
}

/** Counters of a listener. */
export interface ListenerStats {
  /** SYNs that created a TCB. */
  synsAccepted: number
  /** SYNs dropped because the backlog was full. */
  synsDropped: number
  /** RSTs produced for non-SYN segments (bare ACKs). */
  resetsSent: number
  /** SYNs with FIN set, dropped without a reply. */
  synFinDropped: number
}

/** Result of {@link Listener.input}: the new TCB, a RST to send, or nothing. */
export type ListenerResult =
  | { readonly _tag: "Created"; readonly tcb: Tcb }
  | { readonly _tag: "Reply"; readonly segment: TcpRepr }
  | { readonly _tag: "Dropped" }

const DROPPED: ListenerResult = { _tag: "Dropped" }

/** A passive-open endpoint on one local port. */
export class Listener implements TcbParent {
  /** Local port. */
  readonly localPort: number
  /** Tunables. */
  readonly config: ListenerConfig
  /** Counters. */
  readonly stats: ListenerStats = { synsAccepted: 0, synsDropped: 0, resetsSent: 0, synFinDropped: 0 }
  /** Half-open connections (SYN-RECEIVED). */
  readonly synQueue: Set<Tcb> = new Set()
  /** Established connections not yet accepted (FIFO). */
  readonly acceptQueue: Tcb[] = []
  /** Whether the listener is closed (no new SYNs). */
  closed = false
  private readonly random: () => number

  /** A listener on `localPort`; `random` returns uniformly random unsigned 32-bit integers (ISN, TS offset). */
  constructor(localPort: number, random: () => number, config: ListenerConfig) {
    this.localPort = localPort
    this.random = random
    this.config = config
  }

  /** Process a segment for this port that matched no connection; may create a TCB (`Created`). */
  input(seg: TcpRepr, now: number): ListenerResult {
    const f = seg.flags
    if (f & TcpFlags.RST) return DROPPED
    if (f & TcpFlags.ACK) {
      const rst = resetFor(seg)
      if (rst === undefined) return DROPPED
      this.stats.resetsSent++
      return { _tag: "Reply", segment: rst }
    }
    if (!(f & TcpFlags.SYN) || this.closed) return DROPPED
    if (f & TcpFlags.FIN) {
      this.stats.synFinDropped++
      return DROPPED
    }
    if (this.synQueue.size + this.acceptQueue.length >= this.config.backlog) {
      this.stats.synsDropped++
      return DROPPED
    }
    const tcb = Tcb.accept(
      seg,
      {
        localPort: this.localPort,
        remotePort: seg.srcPort,
        iss: this.random() >>> 0,
        tsOffset: this.random() >>> 0,
        config: this.config.tcb,
      },
      now,
    )
    tcb.parent = this
    this.synQueue.add(tcb)
    this.stats.synsAccepted++
    return { _tag: "Created", tcb }
  }

  /** Next established connection, or undefined. */
  accept(): Tcb | undefined {
    const tcb = this.acceptQueue.shift()
    if (tcb !== undefined) tcb.parent = undefined
    return tcb
  }

  /** Stop accepting SYNs; returns the TCBs still queued (the shell aborts them). */
  close(): Tcb[] {
    this.closed = true
    const all = [...this.synQueue, ...this.acceptQueue]
    this.synQueue.clear()
    this.acceptQueue.length = 0
    for (const t of all) t.parent = undefined
    return all
  }

  /** TcbParent: the handshake of `tcb` completed. */
  onEstablished(tcb: Tcb): void {
    if (this.synQueue.delete(tcb)) this.acceptQueue.push(tcb)
  }

  /** TcbParent: `tcb` closed before being accepted. */
  onClosed(tcb: Tcb): void {
    if (!this.synQueue.delete(tcb)) {
      const i = this.acceptQueue.indexOf(tcb)
      if (i >= 0) this.acceptQueue.splice(i, 1)
    }
  }
}
