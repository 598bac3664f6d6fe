/**
 * A token bucket as a pure, synchronous core, used to rate-limit ICMP error messages. Time comes in as `now`
 * (milliseconds from the shell's `Clock`), so it runs the same under `TestClock`.
 *
 * Implements: RFC 1812 §4.3.2.8 and RFC 1122 §3.2.2 (a host may limit the rate at which it sends ICMP error
 * messages; a token bucket lets short bursts through and bounds the long-run rate).
 *
 * Invariants: `0 <= tokens <= burst`; tokens refill at `ratePerSecond` continuously; time going backwards refills
 * nothing.
 *
 * @module
 */

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Long-run rate in tokens per second (> 0). */
  readonly ratePerSecond: number
  /** Bucket size: the largest burst (>= 1). */
  readonly burst: number
}

/** A token bucket that starts full. */
export class TokenBucket {
  private tokens: number
  private last: number | undefined = undefined
  /** Options this bucket was made with. */
  readonly options: TokenBucketOptions

  /** A full bucket. */
  constructor(options: TokenBucketOptions) {
    this.options = options
    this.tokens = options.burst
  }

  /** Takes one token at `now` if there is one; returns false (and takes nothing) otherwise. */
  take(now: number): boolean {
    this.refill(now)
    if (this.tokens >= 1) {
      this.tokens -= 1
      return true
    }
    return false
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  /** Adds the tokens earned since the last call. */
  private refill(now: number): void {
    if (this.last !== undefined && now > this.last) {
      this.tokens = Math.min(this.options.burst, this.tokens + ((now - this.last) * this.options.ratePerSecond) / 1000)
    }
    if (this.last === undefined || now > this.last) this.last = now
  }
}
