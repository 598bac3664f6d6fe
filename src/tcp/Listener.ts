/**
 * Passive open (RFC 9293 §3.10.7.2, the LISTEN state) with SYN cookies (RFC 4987 §3.6), and the reply to segments
 * that match no connection (§3.10.7.1, the CLOSED state).
 *
 * A {@link Listener} belongs to one local port and holds two queues, bounded apart as in Linux:
 * - the half-open queue (`synQueue`, SYN-RECEIVED TCBs) holds at most `synBacklog`. For each acceptable SYN while
 *   it has room, the listener creates a {@link Tcb} in SYN-RECEIVED (the shell registers it under the segment's
 *   4-tuple and routes later segments to it);
 * - the accept queue (`acceptQueue`, established TCBs the application has not accepted yet) holds at most
 *   `backlog`. While it is full every SYN is dropped and counted (`synsDropped`, `listenOverflows`): the peer
 *   retransmits, and a cookie would only create a connection with nowhere to go.
 *
 * When the half-open queue is full (`synCookies: "auto"`) or for every SYN (`"always"`), the SYN is answered with a
 * SYN cookie instead (`SynCookie.ts`): a SYN-ACK whose ISN encodes the connection, and no state at all
 * (`synCookiesSent`). An ACK for no connection, while cookies were sent within their lifetime (always, in "always"
 * mode), is checked as a cookie ACK: if `SEG.ACK − 1` is a valid cookie for its 4-tuple and `SEG.SEQ − 1`, a TCB is
 * rebuilt from it ({@link Tcb.fromCookie}) and given the ACK — so data (and a FIN) on it is accepted as on any
 * third segment — and it lands in the accept queue established (`synCookiesOk`); if not, it is answered as an ACK to
 * a closed port, with a RST (`synCookiesFailed`). A valid cookie ACK that meets a full accept queue is dropped
 * (`listenOverflows`; the peer retransmits it). With `"never"`, a SYN that finds the half-open queue full is dropped
 * and counted (`synsDropped`), as a Linux without SYN cookies does. A TCB that closes before it is accepted is
 * dropped from the queues.
 *
 * LISTEN processing: RST → ignored; ACK → a cookie ACK (above), else `<SEQ=SEG.ACK><CTL=RST>`; SYN with FIN →
 * dropped and counted (`synFinDropped`: never legitimate, RFC 9293 leaves it undefined and Linux discards it); SYN →
 * new TCB or cookie SYN-ACK; anything else → dropped.
 *
 * @module
 */
import type { IpAddress } from "../wire/IpAddress.ts"
import { EMPTY, NO_OPTIONS, segmentLength, TcpFlags, type TcpOptions, type TcpRepr } from "./Segment.ts"
import { seqAdd } from "./SeqNum.ts"
import {
  cookieTsVal,
  mssIndexFor,
  SYN_COOKIE_LIFETIME_MS,
  SYN_COOKIE_MSS,
  type SynCookieMode,
  type SynCookies,
  tsEcrSack,
  tsEcrWindowScale,
} from "./SynCookie.ts"
import { Tcb, type TcbConfig, type TcbParent, windowShiftFor } from "./Tcb.ts"

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

/** What a listener needs for SYN cookies. */
export interface ListenerCookies {
  /** When to answer with a cookie: "auto" (half-open queue full), "always", "never". */
  readonly mode: SynCookieMode
  /** The stack's cookie jar (its key). */
  readonly jar: SynCookies
  /** Our address (part of the cookie's 4-tuple). */
  readonly localAddress: IpAddress
}

/** Listener tunables. */
export interface ListenerConfig {
  /** Maximum established connections waiting to be accepted (the accept queue). */
  readonly backlog: number
  /** Maximum half-open (SYN-RECEIVED) connections; default `backlog`. */
  readonly synBacklog?: number
  /** SYN cookies; default none (a full half-open queue drops SYNs). */
  readonly cookies?: ListenerCookies
  /** Configuration given to each accepted TCB. */
  readonly tcb: TcbConfig
}

/** Counters of a listener. */
export interface ListenerStats {
  /** SYNs that created a half-open TCB. */
  synsAccepted: number
  /** SYNs dropped: accept queue full, or half-open queue full without cookies. */
  synsDropped: number
  /** RSTs produced for non-SYN segments (bare ACKs and failed cookie ACKs). */
  resetsSent: number
  /** SYNs with FIN set, dropped without a reply. */
  synFinDropped: number
  /** SYN-ACKs sent with a SYN cookie (no state kept). */
  synCookiesSent: number
  /** ACKs whose cookie checked: connections created from a cookie. */
  synCookiesOk: number
  /** ACKs checked as cookie ACKs whose cookie did not check (answered with a RST). */
  synCookiesFailed: number
  /** SYNs and valid cookie ACKs dropped because the accept queue was full (Linux's ListenOverflows). */
  listenOverflows: number
}

/** Result of {@link Listener.input}: the new TCB, a segment to send (RST or cookie SYN-ACK), or nothing. */
export type ListenerResult =
  | { readonly _tag: "Created"; readonly tcb: Tcb }
  | { readonly _tag: "Reply"; readonly segment: TcpRepr }
  | { readonly _tag: "Dropped" }

const DROPPED: ListenerResult = { _tag: "Dropped" }
const NO_BLOCKS: TcpOptions["sackBlocks"] = Object.freeze([])

/** The window of a SYN-ACK (never scaled, RFC 7323 §2.2): the receive buffer, up to 65535. */
const synAckWindow = (c: TcbConfig): number => Math.min(0xffff, c.recvBufferSize)

/** The MSS we advertise (after the clamp), as {@link Tcb} does. */
const ourMss = (c: TcbConfig): number => (c.mssClamp > 0 ? Math.min(c.mss, c.mssClamp) : c.mss)

/** A passive-open endpoint on one local port. */
export class Listener implements TcbParent {
  /** Local port. */
  readonly localPort: number
  /** Tunables. */
  readonly config: ListenerConfig
  /** Counters. */
  readonly stats: ListenerStats = {
    synsAccepted: 0,
    synsDropped: 0,
    resetsSent: 0,
    synFinDropped: 0,
    synCookiesSent: 0,
    synCookiesOk: 0,
    synCookiesFailed: 0,
    listenOverflows: 0,
  }
  /** Half-open connections (SYN-RECEIVED). */
  readonly synQueue: Set<Tcb> = new Set()
  /** Established connections not yet accepted (FIFO). */
  readonly acceptQueue: Tcb[] = []
  /** Whether the listener is closed (no new SYNs). */
  closed = false
  /** Maximum half-open connections. */
  readonly synBacklog: number
  private readonly random: () => number
  /** When the last cookie was sent (-Infinity: never). */
  private lastCookieAt = -Infinity

  /** A listener on `localPort`; `random` returns uniformly random unsigned 32-bit integers (ISN, TS offset). */
  constructor(localPort: number, random: () => number, config: ListenerConfig) {
    this.localPort = localPort
    this.random = random
    this.config = config
    this.synBacklog = config.synBacklog ?? config.backlog
  }

  /**
   * Process a segment for this port that matched no connection, from `remote` (needed for SYN cookies; without it
   * the listener neither sends nor checks cookies); may create a TCB (`Created`).
   */
  input(seg: TcpRepr, now: number, remote?: IpAddress): ListenerResult {
    const f = seg.flags
    if (f & TcpFlags.RST) return DROPPED
    const cookies = remote === undefined ? undefined : this.config.cookies
    if (f & TcpFlags.ACK) {
      if (!(f & TcpFlags.SYN) && !this.closed && cookies !== undefined && this.checksCookies(cookies.mode, now)) {
        const r = this.cookieAck(seg, now, cookies, remote!)
        if (r !== undefined) return r
        this.stats.synCookiesFailed++
      }
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
    if (this.acceptQueue.length >= this.config.backlog) {
      this.stats.synsDropped++
      this.stats.listenOverflows++
      return DROPPED
    }
    const full = this.synQueue.size >= this.synBacklog
    if (cookies !== undefined && (cookies.mode === "always" || (cookies.mode === "auto" && full))) {
      return { _tag: "Reply", segment: this.cookieSynAck(seg, now, cookies, remote!) }
    }
    if (full) {
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

  /** Whether an ACK for no connection may carry a cookie: always in "always" mode, else within a cookie's lifetime. */
  private checksCookies(mode: SynCookieMode, now: number): boolean {
    return mode === "always" || (mode === "auto" && now - this.lastCookieAt < SYN_COOKIE_LIFETIME_MS)
  }

  /**
   * The stateless SYN-ACK answering `syn`: its ISN is a cookie carrying the peer's MSS (rounded down to the table);
   * with timestamps, our TSval carries the peer's window scale and SACK-permitted, and we offer both as usual;
   * without timestamps we offer neither (nothing could carry them back).
   */
  private cookieSynAck(syn: TcpRepr, now: number, cookies: ListenerCookies, remote: IpAddress): TcpRepr {
    const c = this.config.tcb
    const o = syn.options
    const mssIndex = mssIndexFor(o.mss !== undefined && o.mss > 0 ? o.mss : 536)
    const iss = cookies.jar.encode(
      cookies.localAddress,
      remote,
      this.localPort,
      syn.srcPort,
      syn.seqNumber,
      mssIndex,
      now,
    )
    const ts = c.timestamps ? o.timestamps : undefined
    const ws = ts !== undefined && c.windowScaling && o.windowScale !== undefined
    const sack = ts !== undefined && c.sack && o.sackPermitted
    const options: TcpOptions = {
      mss: ourMss(c),
      windowScale: ws ? windowShiftFor(c.recvBufferSize) : undefined,
      sackPermitted: sack,
      sackBlocks: NO_BLOCKS,
      timestamps: ts === undefined ? undefined : {
        tsVal: cookieTsVal((Math.floor(now) + cookies.jar.tsOffset) >>> 0, ws ? o.windowScale : undefined, sack),
        tsEcr: ts.tsVal >>> 0,
      },
    }
    this.stats.synCookiesSent++
    this.lastCookieAt = now
    return {
      srcPort: this.localPort,
      dstPort: syn.srcPort,
      seqNumber: iss,
      ackNumber: seqAdd(syn.seqNumber, 1),
      flags: TcpFlags.SYN | TcpFlags.ACK,
      windowLen: synAckWindow(c),
      urgentPointer: 0,
      options,
      payload: EMPTY,
    }
  }

  /**
   * A cookie ACK: the connection rebuilt from the cookie, established by the ACK itself (its data accepted), or
   * `Dropped` when the accept queue is full; undefined when the cookie does not check.
   */
  private cookieAck(
    ack: TcpRepr,
    now: number,
    cookies: ListenerCookies,
    remote: IpAddress,
  ): ListenerResult | undefined {
    const iss = (ack.ackNumber - 1) >>> 0
    const irs = (ack.seqNumber - 1) >>> 0
    const jar = cookies.jar
    const mssIndex = jar.check(cookies.localAddress, remote, this.localPort, ack.srcPort, irs, iss, now)
    if (mssIndex < 0) return undefined
    if (this.acceptQueue.length >= this.config.backlog) {
      this.stats.listenOverflows++
      return DROPPED
    }
    const c = this.config.tcb
    const ts = c.timestamps ? ack.options.timestamps : undefined
    const syn: TcpRepr = {
      srcPort: ack.srcPort,
      dstPort: ack.dstPort,
      seqNumber: irs,
      ackNumber: 0,
      flags: TcpFlags.SYN,
      windowLen: ack.windowLen,
      urgentPointer: 0,
      options: {
        mss: SYN_COOKIE_MSS[mssIndex],
        windowScale: ts === undefined ? undefined : tsEcrWindowScale(ts.tsEcr),
        sackPermitted: ts !== undefined && tsEcrSack(ts.tsEcr),
        sackBlocks: NO_BLOCKS,
        timestamps: ts === undefined ? undefined : { tsVal: ts.tsVal, tsEcr: 0 },
      },
      payload: EMPTY,
    }
    const tcb = Tcb.fromCookie(
      syn,
      { localPort: this.localPort, remotePort: ack.srcPort, iss, tsOffset: jar.tsOffset, config: c },
      synAckWindow(c),
      now,
    )
    tcb.parent = this
    this.synQueue.add(tcb)
    tcb.input(ack, now) // → ESTABLISHED (onEstablished moves it to the accept queue), data and FIN accepted
    this.stats.synCookiesOk++
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
