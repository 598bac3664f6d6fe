/**
 * Congestion control: a small interface the TCB drives, with NewReno (RFC 5681 + RFC 6582) and CUBIC (RFC 9438).
 *
 * The TCB owns loss *detection* (duplicate-ACK counting, SACK scoreboard, recovery point, retransmission timer) and
 * calls these hooks; the controller owns only `cwnd` and `ssthresh` (bytes). All values are bytes; `mss` is the
 * sender MSS (SMSS) in payload bytes.
 *
 * - Initial window: RFC 6928 allows IW = min(10·MSS, max(2·MSS, 14600)); RFC 5681 §3.1 says ≤ 4 segments. The
 *   default here is 10 segments (configurable via `initialWindow`, in segments) — a virtual LAN has no shared
 *   bottleneck to protect, and Linux uses 10.
 * - Slow start uses appropriate byte counting with L = 2·SMSS (RFC 3465 §2.2; RFC 5681 §3.1 permits counting
 *   acknowledged bytes), so delayed ACKs do not halve the growth rate.
 * - Fast recovery without SACK inflates `cwnd` by one SMSS per duplicate ACK and deflates on partial ACKs
 *   (RFC 6582 §3.2); with SACK the TCB uses RFC 6675 "pipe" and `cwnd` stays at `ssthresh` during recovery.
 *
 * @module
 */

/** Names of the available congestion controllers. */
export type CongestionName = "newreno" | "cubic"

/** The hooks a TCB calls; implementations mutate `cwnd`/`ssthresh`. */
export interface CongestionControl {
  /** Controller name. */
  readonly name: CongestionName
  /** Congestion window in bytes. */
  cwnd: number
  /** Slow-start threshold in bytes. */
  ssthresh: number
  /** New SMSS (after MSS negotiation); resets the initial window if nothing was sent yet. */
  setMss(mss: number): void
  /** New data acknowledged outside recovery (`acked` bytes, `rtt` latest RTT sample in ms or 0). */
  onAck(acked: number, now: number, rtt: number): void
  /** A duplicate ACK arrived during non-SACK fast recovery (inflate). */
  onDupAck(): void
  /** Fast retransmit: entering loss recovery with `flight` bytes outstanding. */
  onEnterRecovery(flight: number, now: number, sack: boolean): void
  /** A partial ACK (acked `acked` bytes, still below the recovery point). */
  onPartialAck(acked: number, sack: boolean): void
  /** The recovery point was acknowledged; `flight` bytes still outstanding. */
  onExitRecovery(flight: number, now: number): void
  /** The retransmission timer expired with `flight` bytes outstanding. */
  onRetransmitTimeout(flight: number, now: number): void
}

/**
 * Initial window in bytes: `segments · mss`. (RFC 6928's byte cap of max(2·MSS, 14600) is not applied, so a jumbo
 * MTU virtual link still starts with 10 segments; pass `segments` ≤ 4 for strict RFC 5681 behaviour.)
 */
export const initialWindow = (mss: number, segments: number): number => Math.max(1, segments) * mss

/** NewReno (RFC 5681 slow start / congestion avoidance, RFC 6582 fast recovery). */
export class NewReno implements CongestionControl {
  /** Controller name. */
  readonly name: CongestionName = "newreno"
  /** Congestion window in bytes. */
  cwnd: number
  /** Slow-start threshold in bytes. */
  ssthresh: number = 0x7fffffff
  /** SMSS in bytes. */
  protected mss: number
  /** Initial window in segments. */
  protected readonly iwSegments: number
  /** Bytes acknowledged towards the next congestion-avoidance increment. */
  protected acc = 0
  private touched = false

  /** A controller for SMSS `mss` and an initial window of `iwSegments` segments. */
  constructor(mss: number, iwSegments: number = 10) {
    this.mss = mss
    this.iwSegments = iwSegments
    this.cwnd = initialWindow(mss, iwSegments)
  }

  /** New SMSS; re-derives the initial window if no ACK was processed yet. */
  setMss(mss: number): void {
    this.mss = mss
    if (!this.touched) this.cwnd = initialWindow(mss, this.iwSegments)
  }

  /** Slow start (ABC, L = 2·SMSS) or congestion avoidance (one SMSS per cwnd of acked bytes). */
  onAck(acked: number, now: number, rtt: number): void {
    this.touched = true
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, 2 * this.mss)
      return
    }
    this.avoid(acked, now, rtt)
  }

  /** Congestion-avoidance growth for `acked` bytes. */
  protected avoid(acked: number, _now: number, _rtt: number): void {
    this.acc += acked
    if (this.acc >= this.cwnd) {
      this.acc -= this.cwnd
      this.cwnd += this.mss
    }
  }

  /** Inflate by one SMSS (RFC 6582 §3.2 step 3). */
  onDupAck(): void {
    this.cwnd += this.mss
  }

  /** ssthresh = max(flight/2, 2·SMSS); cwnd = ssthresh (+3·SMSS without SACK). */
  onEnterRecovery(flight: number, _now: number, sack: boolean): void {
    this.touched = true
    this.ssthresh = Math.max(flight >>> 1, 2 * this.mss)
    this.cwnd = sack ? this.ssthresh : this.ssthresh + 3 * this.mss
    this.acc = 0
  }

  /** Deflate by the acked amount, add back one SMSS (RFC 6582 §3.2 step 5). */
  onPartialAck(acked: number, sack: boolean): void {
    if (sack) return
    this.cwnd = Math.max(this.cwnd - acked + (acked >= this.mss ? this.mss : 0), this.mss)
  }

  /** cwnd = min(ssthresh, max(flight, SMSS) + SMSS) (RFC 6582 §3.2 step 6, option 1). */
  onExitRecovery(flight: number, _now: number): void {
    this.cwnd = Math.min(this.ssthresh, Math.max(flight, this.mss) + this.mss)
    this.acc = 0
  }

  /** ssthresh = max(flight/2, 2·SMSS); cwnd = 1 SMSS (RFC 5681 §3.1 eq. 4, loss window). */
  onRetransmitTimeout(flight: number, _now: number): void {
    this.touched = true
    this.ssthresh = Math.max(flight >>> 1, 2 * this.mss)
    this.cwnd = this.mss
    this.acc = 0
  }
}

/** CUBIC constants (RFC 9438 §4.1 / §4.6). */
const CUBIC_C = 0.4
const CUBIC_BETA = 0.7
const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA)

/**
 * CUBIC (RFC 9438): the window follows W(t) = C·(t−K)³ + W_max in segments after a congestion event, with the
 * Reno-friendly estimate W_est (§4.3) as a floor, fast convergence (§4.7) and β = 0.7. Slow start is the same as
 * NewReno (no HyStart). Recovery without SACK inflates like NewReno.
 */
export class Cubic extends NewReno {
  /** Controller name. */
  override readonly name: CongestionName = "cubic"
  private wMax = 0
  private k = 0
  private epochStart = -1
  private wEst = 0

  /** ssthresh = cwnd·β; remember W_max (with fast convergence). */
  private reduce(now: number): void {
    const cwndSeg = this.cwnd / this.mss
    // fast convergence (§4.7)
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), 2 * this.mss)
    this.epochStart = -1
    this.lastReduction = now
  }

  /** Time (ms) of the last window reduction. */
  lastReduction = 0

  /** ssthresh = β·cwnd; cwnd = ssthresh (+3·SMSS without SACK). */
  override onEnterRecovery(_flight: number, now: number, sack: boolean): void {
    this.reduce(now)
    this.cwnd = sack ? this.ssthresh : this.ssthresh + 3 * this.mss
  }

  /** cwnd = ssthresh, start a new CUBIC epoch. */
  override onExitRecovery(_flight: number, _now: number): void {
    this.cwnd = this.ssthresh
  }

  /** Loss window: ssthresh = β·cwnd, cwnd = 1 SMSS. */
  override onRetransmitTimeout(_flight: number, now: number): void {
    this.reduce(now)
    this.cwnd = this.mss
  }

  /** Congestion-avoidance growth for `acked` bytes. */
  protected override avoid(acked: number, now: number, rtt: number): void {
    const mss = this.mss
    const cwndSeg = this.cwnd / mss
    if (this.epochStart < 0) {
      this.epochStart = now
      if (this.wMax < cwndSeg) this.wMax = cwndSeg
      this.k = Math.cbrt(Math.max(0, (this.wMax - cwndSeg) / CUBIC_C))
      this.wEst = cwndSeg
    }
    const t = (now - this.epochStart + rtt) / 1000
    const target0 = CUBIC_C * (t - this.k) ** 3 + this.wMax
    const target = Math.min(Math.max(target0, cwndSeg), 1.5 * cwndSeg)
    // Reno-friendly region (§4.3)
    this.wEst += (CUBIC_ALPHA * (acked / mss)) / cwndSeg
    let next: number
    if (target0 < this.wEst) next = this.wEst
    else next = cwndSeg + ((target - cwndSeg) / cwndSeg) * (acked / mss)
    this.cwnd = Math.max(this.cwnd, Math.floor(next * mss))
  }
}

/** Build a controller by name. */
export const makeCongestion = (name: CongestionName, mss: number, iwSegments: number = 10): CongestionControl =>
  name === "cubic" ? new Cubic(mss, iwSegments) : new NewReno(mss, iwSegments)
