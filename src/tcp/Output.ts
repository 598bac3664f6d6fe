/**
 * The send side of the TCP shell: polling a connection's core and pumping what it produced into the network, and
 * the segments that belong to no connection (RSTs).
 *
 * Every poll appends to the connection's transmit queue. One fiber at a time drains a queue, so segments leave in
 * order; draining goes as far as the layers below go synchronously ({@link Network.transmit}: over the Switch, all
 * of the queue, with no Effect per segment) and only the rest, after an asynchronous step (an ARP resolution, an
 * asynchronous device, a failure), costs an Effect. Payloads are views into the TCB's send ring: before anything
 * else changes the ring (an input, a write, an abort) while a queue is being drained, the queued payloads are copied
 * out ({@link Output.detach}), so a view is never overwritten before it is sent.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type { Conn } from "./Connection.ts"
import type { Network, NetworkError, TcpAddress } from "./Network.ts"
import type { TcpRepr } from "./Segment.ts"

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

  /** Polls `x` once, then sends whatever it produced (unless another fiber is draining its queue). */
  flush(x: Conn): Effect.Effect<void> {
    const q = x.txq
    const before = q.length
    x.tcb.poll(this.now(), q)
    this.settle(x)
    if (q.length === before || x.sending) return Effect.void
    x.sending = true
    const rest = this.pump(x)
    // only a queue that could not be sent synchronously costs an Effect (and keeps `sending` until it is done)
    return rest === undefined ? Effect.void : Effect.uninterruptible(Effect.catch(rest, () => this.drainFailed(x)))
  }

  /** Copies `x`'s queued payloads out of its send ring (another fiber is sending them). */
  detach(x: Conn): void {
    const q = x.txq
    for (let i = x.txHead; i < q.length; i++) {
      const s = q[i]
      if (s.payload.length > 0) q[i] = { ...s, payload: s.payload.slice() }
    }
  }

  /** Sends a segment that belongs to no connection (a RST, a listener's reply); a failure is counted. */
  sendRaw(dst: TcpAddress, segment: TcpRepr): Effect.Effect<void> {
    const stats = this.stats
    stats.segmentsOut++
    stats.resetsSent++
    const r = this.network.transmit(dst, segment)
    return r === undefined ? Effect.void : Effect.catch(r, () => {
      stats.txErrors++
      return Effect.void
    })
  }

  /**
   * Sends `x`'s queued segments as far as the layers below go synchronously; `undefined` once the queue is empty,
   * or the Effect that sends the rest after the first asynchronous step.
   */
  private pump(x: Conn): Effect.Effect<void, NetworkError> | undefined {
    const net = this.network
    while (x.txHead < x.txq.length) {
      const s = x.txq[x.txHead++]
      this.stats.segmentsOut++
      const r = net.transmit(x.remoteAddress, s)
      if (r !== undefined) return Effect.flatMap(r, () => this.pump(x) ?? Effect.void)
    }
    x.txq.length = 0
    x.txHead = 0
    x.sending = false
    return undefined
  }

  /** A send failed: the rest of the queue is dropped and counted. */
  private drainFailed(x: Conn): Effect.Effect<void> {
    this.stats.txErrors += x.txq.length - x.txHead + 1
    x.txq.length = 0
    x.txHead = 0
    x.sending = false
    return Effect.void
  }
}
