/**
 * Retransmission timeout estimator (RFC 6298), fed by RTT samples measured either by timing one segment at a time
 * (Karn's algorithm, RFC 6298 §3: never sample a retransmitted segment — the TCB enforces that) or from echoed
 * timestamps (RFC 7323 §4, every ACK that acknowledges new data gives a sample).
 *
 * Virtual-LAN choice: RFC 6298 §2.4 asks for a 1 s minimum RTO; on an in-process switch or a LAN the RTT is
 * micro- to milliseconds, so the default minimum is 200 ms (Linux's choice) and it is configurable. The maximum is
 * 60 s (RFC 6298 §2.5 allows ≥ 60 s). Before the first sample the RTO is `initialRto` (1 s, RFC 6298 §2.1).
 *
 * Invariants: `minRto <= rto() <= maxRto`; `backoff` counts consecutive timeouts and doubles the RTO (§5.5); a new
 * sample or acknowledged progress resets it ({@link RttEstimator.resetBackoff}).
 *
 * @module
 */

/** Tunables of the RTO estimator (milliseconds). */
export interface RttConfig {
  /** RTO before any sample (RFC 6298 §2.1: 1000; the layer's `initialRto`). */
  readonly initialRto: number
  /** Lower bound (RFC 6298: 1000; the layer's `minRto`, 200 by default, for virtual LANs). */
  readonly minRto: number
  /** Upper bound (the layer's `maxRto`, 60000 by default). */
  readonly maxRto: number
  /** Clock granularity G (RFC 6298 §2). */
  readonly granularity: number
}

/** RFC 6298 SRTT/RTTVAR estimator with exponential backoff. */
export class RttEstimator {
  /** Smoothed RTT in ms (0 before the first sample). */
  srtt = 0
  /** RTT variance in ms. */
  rttvar = 0
  /** Number of consecutive backoffs applied. */
  backoff = 0
  /** Number of samples taken. */
  samples = 0
  /** Most recent raw sample (ms). */
  latest = 0
  private base: number
  private readonly config: RttConfig

  /** A fresh estimator (RTO = initialRto). */
  constructor(config: RttConfig) {
    this.config = config
    this.base = config.initialRto
  }

  /** Feed one RTT measurement (ms, ≥ 0); resets the backoff (RFC 6298 §5.7 recomputes RTO from the new estimate). */
  sample(rtt: number): void {
    if (!(rtt >= 0)) return
    this.latest = rtt
    if (this.samples === 0) {
      this.srtt = rtt
      this.rttvar = rtt / 2
    } else {
      // alpha = 1/8, beta = 1/4 (RFC 6298 §2.3)
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt)
      this.srtt = 0.875 * this.srtt + 0.125 * rtt
    }
    this.samples++
    this.base = this.srtt + Math.max(this.config.granularity, 4 * this.rttvar)
    this.backoff = 0
  }

  /** Current RTO in ms, including backoff, clamped to [minRto, maxRto]. */
  rto(): number {
    const { minRto, maxRto } = this.config
    let r = this.base < minRto ? minRto : this.base
    if (this.backoff > 0) r = r * 2 ** Math.min(this.backoff, 30)
    return r > maxRto ? maxRto : r
  }

  /** A retransmission timer expired: double the RTO (RFC 6298 §5.5). */
  onTimeout(): void {
    this.backoff++
  }

  /** Forget the backoff (new data was acknowledged). */
  resetBackoff(): void {
    this.backoff = 0
  }
}
