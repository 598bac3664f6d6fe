/**
 * The send side of the TCP shell: polling a connection's core and pumping what it produced into the network, and
 * the segments that belong to no connection (RSTs).
 *
 * Every poll appends to the connection's transmit queue, and the queue is drained at once, synchronously, through
 * {@link Network.transmit} (the one send path: no Effect per segment; a layer below that needs asynchrony queues
 * inside itself). A failed send drops the rest of the queue and counts it (the core retransmits what matters).
 * Payloads are views into the TCB's send ring; they are only read during that synchronous drain (`Ip.transmit`
 * copies each into its frame, or into the datagram ARP holds), so nothing can change the ring under them and no
 * copy is needed. The `sending` flag only guards against a re-entrant flush of the same connection from below.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type { Conn } from "./Connection.ts"
import type { Network, TcpAddress } from "./Network.ts"
import { TcpFlags, type TcpRepr } from "./Segment.ts"

/** Counters of the send side. */
export interface OutputStats {
  /** Segments handed to the network. */
  segmentsOut: number
  /** RSTs sent for segments to closed ports or refused by a listener. */
  resetsSent: number
  /** Segments that failed to send. */
  txErrors: number
}

/** Polls connections and sends what they produce (see the module docs). */
export class Output {
  /** Counters. */
  readonly stats: OutputStats = { segmentsOut: 0, resetsSent: 0, txErrors: 0 }

  /**
   * An output over `network`; `now` is the stack's clock and `settle(x)` runs after every poll of `x` (it drains
   * the core's signals and tracks its deadline).
   */
  constructor(
    private readonly network: Network,
    private readonly now: () => number,
    private readonly settle: (x: Conn) => void,
  ) {}

  /** Polls `x` once, then sends whatever it produced (unless this connection's queue is being drained already). */
  flush(x: Conn): Effect.Effect<void> {
    const q = x.txq
    const before = q.length
    x.tcb.poll(this.now(), q)
    this.settle(x)
    if (q.length === before || x.sending) return Effect.void
    x.sending = true
    this.pump(x)
    return Effect.void
  }

  /** Sends a segment that belongs to no connection (a RST, a listener's cookie SYN-ACK); a failure is counted. */
  sendRaw(dst: TcpAddress, segment: TcpRepr): Effect.Effect<void> {
    const stats = this.stats
    stats.segmentsOut++
    if (segment.flags & TcpFlags.RST) stats.resetsSent++
    if (this.network.transmit(dst, segment) !== undefined) stats.txErrors++
    return Effect.void
  }

  /** Sends `x`'s queued segments; on the first failure the rest of the queue is dropped and counted. */
  private pump(x: Conn): void {
    const net = this.network
    const q = x.txq
    while (x.txHead < q.length) {
      const s = q[x.txHead++]
      this.stats.segmentsOut++
      if (net.transmit(x.remoteAddress, s) !== undefined) {
        this.stats.txErrors += q.length - x.txHead + 1
        break
      }
    }
    q.length = 0
    x.txHead = 0
    x.sending = false
  }
}
