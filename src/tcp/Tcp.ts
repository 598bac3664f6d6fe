/**
 * The TCP service of one stack: the Effect shell around the pure core ({@link Tcb}, {@link Listener}). It owns the
 * connection table, the listeners, one timer fiber, and the glue between application fibers and the core.
 *
 * Receive (on the device's reader fiber, plain TypeScript per segment): the segment is parsed with the wire codec
 * (checksum verified when the device's capabilities say so; malformed and bad-checksum segments are dropped and
 * counted), looked up in the connection table by its 4-tuple (a two-level key: `localPort·65536 + remotePort`, then
 * a chain compared on the remote address — no allocation), handed to the TCB with `input`, and the TCB is polled
 * once for that frame, so the ACKs of a frame coalesce in the core's delayed-ACK logic. A segment for no connection
 * goes to the listener of its port (which may create a TCB in SYN-RECEIVED), otherwise it is answered with a RST
 * (RFC 9293 §3.10.7.1; not rate-limited).
 *
 * Send: every segment a poll produces is appended to the connection's transmit queue and serialised straight into
 * a fresh frame with `Ipv4.write(dst, 6, len, fill)` (header and options emitted in place in front of the payload,
 * checksum per the device's capabilities). One fiber at a time drains a connection's queue, so segments leave in
 * order. Payloads are views into the TCB's send ring: before anything else touches that TCB (input or write) while
 * a queue is being drained, the queued payloads are copied out ("detached"), so a view is never overwritten.
 *
 * Timers: one fiber per stack sleeps until the earliest {@link Tcb.nextDeadline} of all connections (woken early
 * when a nearer deadline appears) and polls the TCBs that are due. Deadlines live in a binary min-heap with at most
 * one live entry per connection (a deadline that moves earlier pushes a new entry and makes the old one stale; one
 * that moves later is found when its old entry comes due and is pushed again), so a wake-up costs O(log n) per due
 * connection, not a scan of all of them: 10 000 idle connections do not slow down the timers of a busy one. All time comes from `Clock` (monotonic clamp of
 * `currentTimeMillis`), so the whole service runs under `TestClock`.
 *
 * Randomness: initial sequence numbers follow RFC 6528 — `ISN = M + F(4-tuple, secret)` where M is a 4 µs clock and
 * F a keyed 32-bit mixing hash (Murmur3 finaliser rounds) of the 4-tuple with a 128-bit secret drawn from Effect's
 * `Random` when the layer is built. F is not a cryptographic PRF (the RFC suggests MD5): enough for a virtual LAN
 * and for tests that replay with a seeded `Random`, not a defence against an on-path attacker. Timestamp offsets
 * (RFC 7323 §5.4) and ephemeral ports (49152–65535, RFC 6335) come from `Random`.
 *
 * Application side: fibers never poll. Each connection (and listener) has a list of waiters, each with the
 * condition it waits for (`Effect.callback`; the condition is checked again when the waiter registers, so no
 * wake-up is lost). After every input or poll of a TCB its waiters are re-checked and only those whose condition
 * holds are resumed. `write` copies into the send buffer and suspends while it is full (backpressure); a blocked
 * writer wakes when a quarter of the buffer is free, not on every ACK. `read` suspends until data, the end of the
 * stream (`undefined`) or an error. Closing: `closeWrite` sends FIN and returns; `close` sends FIN, discards further incoming data, and waits
 * (at most `closeTimeout`) until our FIN is acknowledged — then the TCB finishes FIN-WAIT-2 / TIME-WAIT on the
 * stack's timer (an orphaned FIN-WAIT-2 is aborted after `finWait2Timeout`); if the bound passes it aborts (RST).
 * `close` does not wait for the peer's FIN: two programs that close their ends one after the other in one scope
 * would otherwise wait for each other.
 *
 * Lifetimes: `connect` ties the connection to the caller's Scope (success exit → graceful `close`, failure or
 * interruption → `abort`). Connections accepted from a listener are closed when the listener's Scope closes unless
 * closed earlier. Closing the stack (the Tcp layer's Scope) aborts every connection (RST to the peers), fails every
 * waiting application fiber with "Closed", closes the listeners, and interrupts the timer fiber.
 *
 * Implements: RFC 9293 (via the core), RFC 6528 (ISN), RFC 6335 §6 (ephemeral ports), RFC 1122 §4.2.2.13 (closing).
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { IpError } from "../ip/Ip.ts"
import { Ipv4, type Ipv4Datagram } from "../ipv4/Ipv4.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import { pseudoHeaderSum } from "../wire/Checksum.ts"
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { IpProtocol } from "../wire/Ipv4.ts"
import { TcpPacket, TcpRepr } from "../wire/Tcp.ts"
import type { CongestionName } from "./Congestion.ts"
import { Listener, resetFor } from "./Listener.ts"
import { makeTcbConfig, Tcb, type TcbConfig, type TcpState } from "./Tcb.ts"

export type { TcpState } from "./Tcb.ts"

// ------------------------------------------------------------------------------------------------ configuration

const int = (minimum: number, maximum: number): Schema.Int =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum, maximum })))

const millis: Schema.Finite = Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 86_400_000 })))

/** Schema of the keepalive tunables (RFC 1122 §4.2.3.6); durations in milliseconds. */
export const TcpKeepaliveSchema: Schema.Struct<{
  readonly enabled: Schema.optional<Schema.Boolean>
  readonly idle: Schema.optional<Schema.Finite>
  readonly interval: Schema.optional<Schema.Finite>
  readonly probes: Schema.optional<Schema.Int>
}> = Schema.Struct({
  /** Send keepalive probes on idle connections (default false). */
  enabled: Schema.optional(Schema.Boolean),
  /** Idle time before the first probe, ms (default 60 000). */
  idle: Schema.optional(millis),
  /** Time between unanswered probes, ms (default 10 000). */
  interval: Schema.optional(millis),
  /** Unanswered probes before the connection fails with "TimedOut" (default 5). */
  probes: Schema.optional(int(1, 1000)),
})

/** The per-connection tunables (given to the layer as defaults, or to one `connect` / `listen`). */
const socketFields = {
  /** Send buffer, bytes (default 262 144). Below two segments, each segment waits for the peer's delayed ACK. */
  sendBufferSize: Schema.optional(int(1024, 1 << 28)),
  /** Receive buffer, bytes; the advertised window is its free space (default 262 144). */
  receiveBufferSize: Schema.optional(int(1024, 1 << 28)),
  /** Upper bound of the MSS used and advertised (default: none, the MTU decides). */
  mssClamp: Schema.optional(int(64, 65495)),
  /** Disable Nagle's algorithm (default false: Nagle on). */
  noDelay: Schema.optional(Schema.Boolean),
  /** Delayed-ACK timeout, ms, 0..200 (default 40; 0 acknowledges every segment at once). */
  delayedAck: Schema.optional(Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 200 })))),
  /** Keepalive (default off). */
  keepalive: Schema.optional(TcpKeepaliveSchema),
  /** Congestion control: "newreno" (RFC 5681 + 6582, default) or "cubic" (RFC 9438). */
  congestion: Schema.optional(Schema.Literals(["newreno", "cubic"] as const)),
} as const

/** Schema of the TCP layer's configuration. Every field is optional; durations are milliseconds. */
export const TcpConfigSchema: Schema.Struct<{
  readonly sendBufferSize: Schema.optional<Schema.Int>
  readonly receiveBufferSize: Schema.optional<Schema.Int>
  readonly mssClamp: Schema.optional<Schema.Int>
  readonly noDelay: Schema.optional<Schema.Boolean>
  readonly delayedAck: Schema.optional<Schema.Finite>
  readonly keepalive: Schema.optional<typeof TcpKeepaliveSchema>
  readonly congestion: Schema.optional<Schema.Literals<readonly ["newreno", "cubic"]>>
  readonly timeWait: Schema.optional<Schema.Finite>
  readonly connectTimeout: Schema.optional<Schema.Finite>
  readonly maxRetransmits: Schema.optional<Schema.Int>
  readonly maxSynRetransmits: Schema.optional<Schema.Int>
  readonly initialWindow: Schema.optional<Schema.Int>
  readonly minRto: Schema.optional<Schema.Finite>
  readonly initialRto: Schema.optional<Schema.Finite>
  readonly maxRto: Schema.optional<Schema.Finite>
  readonly windowScaling: Schema.optional<Schema.Boolean>
  readonly timestamps: Schema.optional<Schema.Boolean>
  readonly sack: Schema.optional<Schema.Boolean>
  readonly maxOutOfOrderRanges: Schema.optional<Schema.Int>
  readonly challengeAckLimit: Schema.optional<Schema.Int>
  readonly backlog: Schema.optional<Schema.Int>
  readonly closeTimeout: Schema.optional<Schema.Finite>
  readonly finWait2Timeout: Schema.optional<Schema.Finite>
}> = Schema.Struct({
  ...socketFields,
  /** TIME-WAIT duration, ms (default 1 000: a virtual LAN has no old duplicates wandering for minutes). */
  timeWait: Schema.optional(millis),
  /** Connect timeout, ms (default 30 000). */
  connectTimeout: Schema.optional(millis),
  /** Consecutive retransmission timeouts before "TimedOut" (default 12). */
  maxRetransmits: Schema.optional(int(1, 100)),
  /** SYN retransmissions before "TimedOut" (default 5). */
  maxSynRetransmits: Schema.optional(int(0, 100)),
  /** Initial congestion window, segments (default 10, RFC 6928). */
  initialWindow: Schema.optional(int(1, 1000)),
  /** Lower bound of the RTO, ms (default 200). */
  minRto: Schema.optional(millis),
  /** RTO before the first RTT sample, ms (default 1 000). */
  initialRto: Schema.optional(millis),
  /** Upper bound of the RTO, ms (default 60 000). */
  maxRto: Schema.optional(millis),
  /** Window scaling, RFC 7323 §2 (default true). */
  windowScaling: Schema.optional(Schema.Boolean),
  /** Timestamps and PAWS, RFC 7323 §3–5 (default true). */
  timestamps: Schema.optional(Schema.Boolean),
  /** SACK, RFC 2018 / RFC 6675 (default true). */
  sack: Schema.optional(Schema.Boolean),
  /** Out-of-order ranges kept per connection (default 32). */
  maxOutOfOrderRanges: Schema.optional(int(1, 4096)),
  /** Challenge ACKs per second and connection, RFC 5961 §7 (default 100). */
  challengeAckLimit: Schema.optional(int(0, 1_000_000)),
  /** Default listen backlog: half-open + not yet accepted connections (default 128). */
  backlog: Schema.optional(int(1, 65535)),
  /** How long `close` waits for our FIN to be acknowledged before aborting, ms (default 10 000). */
  closeTimeout: Schema.optional(millis),
  /** How long a closed connection may stay in FIN-WAIT-2 waiting for the peer's FIN, ms (default 30 000). */
  finWait2Timeout: Schema.optional(millis),
})

/** A decoded TCP configuration. */
export type TcpConfig = typeof TcpConfigSchema.Type
/** A TCP configuration as written. */
export type TcpConfigInput = typeof TcpConfigSchema.Encoded

/** Schema of the per-connection options of `connect` / `listen` (tunables that override the layer's). */
export const TcpSocketOptionsSchema: Schema.Struct<{
  readonly sendBufferSize: Schema.optional<Schema.Int>
  readonly receiveBufferSize: Schema.optional<Schema.Int>
  readonly mssClamp: Schema.optional<Schema.Int>
  readonly noDelay: Schema.optional<Schema.Boolean>
  readonly delayedAck: Schema.optional<Schema.Finite>
  readonly keepalive: Schema.optional<typeof TcpKeepaliveSchema>
  readonly congestion: Schema.optional<Schema.Literals<readonly ["newreno", "cubic"]>>
}> = Schema.Struct(socketFields)

/** Per-connection tunables. */
export type TcpSocketOptions = typeof TcpSocketOptionsSchema.Type

/** Options of {@link TcpShape.connect}. */
export interface TcpConnectOptions extends TcpSocketOptions {
  /** Local port (default: a random ephemeral port). */
  readonly localPort?: number
  /** Give up the handshake after this long (default: the layer's `connectTimeout`). */
  readonly timeout?: Duration.Input
}

/** Options of {@link TcpShape.listen}. */
export interface TcpListenOptions extends TcpSocketOptions {
  /** Half-open + not yet accepted connections before SYNs are dropped (default: the layer's `backlog`). */
  readonly backlog?: number
}

// ------------------------------------------------------------------------------------------------ public shapes

/** Counters of one connection (a snapshot). */
export interface TcpConnectionStats {
  /** RFC 9293 state. */
  readonly state: TcpState
  /** Bytes the application wrote (accepted into the send buffer). */
  readonly bytesWritten: number
  /** Bytes the application read. */
  readonly bytesRead: number
  /** Payload bytes received in order. */
  readonly bytesIn: number
  /** Payload bytes sent, retransmissions included. */
  readonly bytesOut: number
  /** Segments received. */
  readonly segmentsIn: number
  /** Segments sent. */
  readonly segmentsOut: number
  /** Segments retransmitted. */
  readonly retransmits: number
  /** Retransmission timeouts. */
  readonly timeouts: number
  /** Fast-retransmit episodes. */
  readonly fastRetransmits: number
  /** Zero-window probes sent (persist timer). */
  readonly windowProbes: number
  /** Keepalive probes sent. */
  readonly keepaliveProbes: number
  /** Challenge ACKs sent (RFC 5961). */
  readonly challengeAcks: number
  /** Segments dropped as unacceptable (sequence check, PAWS). */
  readonly droppedIn: number
  /** Smoothed round-trip time, ms (0 before the first sample). */
  readonly srtt: number
  /** Current retransmission timeout, ms. */
  readonly rto: number
  /** Congestion window, bytes. */
  readonly cwnd: number
  /** Payload bytes per full-size segment we send. */
  readonly mss: number
  /** Memory the connection's send and receive buffers hold now (bytes; they are allocated and grown on demand). */
  readonly bufferBytes: number
}

/** One TCP connection. Reads and writes may run on different fibers at the same time. */
export interface TcpConnection {
  /** Our address. */
  readonly localAddress: Ipv4Address
  /** Our port. */
  readonly localPort: number
  /** The peer's address. */
  readonly remoteAddress: Ipv4Address
  /** The peer's port. */
  readonly remotePort: number
  /**
   * The next bytes received (everything buffered, at least one byte), or `undefined` at the end of the stream (the
   * peer closed its side and everything was read). Fails with "Reset", "TimedOut" or "Closed".
   */
  readonly read: Effect.Effect<Uint8Array | undefined, TcpError>
  /** Reads into `buffer` (non-empty); the byte count, or 0 at the end of the stream. No allocation. */
  readonly readInto: (buffer: Uint8Array) => Effect.Effect<number, TcpError>
  /** Queues all of `data` (copied), suspending while the send buffer is full; completes once every byte is queued. */
  readonly write: (data: Uint8Array) => Effect.Effect<void, TcpError>
  /** The received bytes as a Stream (ends at the peer's FIN). */
  readonly stream: Stream.Stream<Uint8Array, TcpError>
  /** A Sink writing every chunk; it does not close the connection (use `closeWrite` after it). */
  readonly sink: Sink.Sink<void, Uint8Array, never, TcpError>
  /** Half-close: FIN after the queued data; reading goes on. */
  readonly closeWrite: Effect.Effect<void>
  /** Graceful close: FIN, then waits (bounded) until it is acknowledged; aborts if the bound passes. */
  readonly close: Effect.Effect<void>
  /** Abort: RST to the peer, the connection is gone at once (RFC 9293 §3.10.5). */
  readonly abort: Effect.Effect<void>
  /** The current RFC 9293 state. */
  readonly state: Effect.Effect<TcpState>
  /** Counters and estimates. */
  readonly stats: Effect.Effect<TcpConnectionStats>
}

/** Counters of a listener (a snapshot). */
export interface TcpListenerStats {
  /** SYNs that created a connection. */
  readonly synsAccepted: number
  /** SYNs dropped because the backlog was full. */
  readonly synsDropped: number
  /** Connections handed to the application. */
  readonly accepted: number
  /** Connections waiting in the accept queue. */
  readonly pending: number
}

/** A listening port; it lives as long as the Scope it was opened in. */
export interface TcpListener {
  /** The local port. */
  readonly localPort: number
  /** The next established connection (suspends); fails with "Closed" once the listener is closed. */
  readonly accept: Effect.Effect<TcpConnection, TcpError>
  /** Every accepted connection, as a Stream that ends when the listener closes. */
  readonly connections: Stream.Stream<TcpConnection, TcpError>
  /** Counters. */
  readonly stats: Effect.Effect<TcpListenerStats>
}

/** A connection handler of `serve`: the connection is closed when it succeeds and aborted when it fails. */
export type TcpHandler<E> = (connection: TcpConnection) => Effect.Effect<unknown, E>

/** Counters of the TCP layer (a snapshot). */
export interface TcpStats {
  /** Segments received from IPv4. */
  readonly segmentsIn: number
  /** Segments sent. */
  readonly segmentsOut: number
  /** Segments dropped for a bad checksum. */
  readonly badChecksum: number
  /** Segments dropped as truncated or malformed (or not sent to our unicast address). */
  readonly malformed: number
  /** Segments for no connection and no listener (answered with RST unless they were RSTs). */
  readonly noConnection: number
  /** RSTs sent for segments to closed ports or refused by a listener. */
  readonly resetsSent: number
  /** Segments that failed to send (device error). */
  readonly txErrors: number
  /** Active opens started. */
  readonly activeOpens: number
  /** Passive opens (SYNs accepted by a listener). */
  readonly passiveOpens: number
  /** Segments retransmitted, by every connection of this stack (open and closed). */
  readonly retransmits: number
  /** Retransmission timeouts, by every connection of this stack (open and closed). */
  readonly retransmitTimeouts: number
  /** Connections in the table now (TIME-WAIT included). */
  readonly connections: number
  /** Listening ports now. */
  readonly listeners: number
  /** Whether the timer fiber is running (false once the layer's Scope is closed). */
  readonly timerRunning: boolean
}

/** The TCP service. */
export interface TcpShape {
  /**
   * Opens a connection to `address:port` (a dotted-quad string or an {@link Ipv4Address}); completes once the
   * handshake completes. The connection lives as long as the current Scope.
   */
  readonly connect: (
    address: Ipv4Address | string,
    port: number,
    options?: TcpConnectOptions,
  ) => Effect.Effect<TcpConnection, TcpError, Scope.Scope>
  /** Listens on `port` (0 = an ephemeral port) for the lifetime of the current Scope. */
  readonly listen: (port: number, options?: TcpListenOptions) => Effect.Effect<TcpListener, TcpError, Scope.Scope>
  /** Listens on `port` and runs `handler` on a fiber of its own for each accepted connection. */
  readonly serve: <E>(
    port: number,
    handler: TcpHandler<E>,
    options?: TcpListenOptions,
  ) => Effect.Effect<TcpListener, TcpError, Scope.Scope>
  /** The decoded configuration. */
  readonly config: TcpConfig
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<TcpStats>
}

/** The service key base of {@link Tcp}: `Context.Service` with its type spelled out (JSR explicit types). */
export const TcpBase: Context.ServiceClass<Tcp, "vnetif/Tcp", TcpShape> = Context.Service<Tcp, TcpShape>()(
  "vnetif/Tcp",
)

/** The TCP layer of one stack. */
export class Tcp extends TcpBase {
  /** Builds the service on the current {@link Ipv4}; fails with "InvalidConfig" for bad tunables. */
  static readonly make: (config?: TcpConfigInput) => Effect.Effect<TcpShape, TcpError, Ipv4 | Scope.Scope> = (
    config,
  ) => make(config ?? {})
  /** A Layer providing {@link Tcp}; needs {@link Ipv4}. */
  static readonly layer: (config?: TcpConfigInput) => Layer.Layer<Tcp, TcpError, Ipv4> = (config) =>
    Layer.effect(Tcp, make(config ?? {}))
}

/** Why a TCP operation failed. */
export type TcpErrorReason =
  | "Refused"
  | "Reset"
  | "TimedOut"
  | "Closed"
  | "AddressInUse"
  | "InvalidArgument"
  | "InvalidConfig"
  | "NoRoute"

/** The fields of {@link TcpError}. */
export interface TcpErrorFields {
  /** Which kind of failure this is. */
  readonly reason: TcpErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link TcpError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const TcpErrorBase: TaggedErrorClass<"TcpError", TcpErrorFields> = Data.TaggedError("TcpError")<TcpErrorFields>

/** The TCP layer's error. */
export class TcpError extends TcpErrorBase {}

/** First ephemeral port (RFC 6335 §6). */
export const TCP_EPHEMERAL_PORT_MIN: number = 49152
/** Last ephemeral port. */
export const TCP_EPHEMERAL_PORT_MAX: number = 65535

// ------------------------------------------------------------------------------------------------ internals

/** A suspended application fiber and the condition it waits for. */
interface Waiter {
  readonly ready: () => boolean
  readonly resume: () => void
}

/** Something application fibers wait on. */
interface Waitable {
  waiters: Array<Waiter>
}

interface ListenerRec extends Waitable {
  readonly core: Listener
  readonly port: number
  open: boolean
  accepted: number
  /** Accepted connections still open (closed with the listener). */
  readonly live: Set<Conn>
}

interface Conn extends Waitable {
  readonly tcb: Tcb
  readonly remoteAddr: Ipv4Address
  readonly localPort: number
  readonly remotePort: number
  readonly key: number
  /** Next connection with the same port pair (table chain). */
  next: Conn | undefined
  inTable: boolean
  /** Deadline of this connection's live entry in the timer heap (Infinity: none). */
  timerAt: number
  /** Segments produced by polls and not yet serialised. */
  txq: Array<TcpRepr>
  txHead: number
  sending: boolean
  /** The segment whose `fill` is about to run. */
  cur: TcpRepr | undefined
  readonly fill: (buf: Uint8Array) => void
  /** The application closed or aborted: reads and writes fail with "Closed". */
  appClosed: boolean
  /** Nobody reads any more: incoming data is discarded. */
  orphan: boolean
  /** When an orphan in FIN-WAIT-2 is aborted (Infinity: no deadline). */
  orphanDeadline: number
  /** The listener that created it, until accepted. */
  listener: ListenerRec | undefined
  /** The listener whose `live` set holds it after accept. */
  owner: ListenerRec | undefined
  bytesWritten: number
  bytesRead: number
  handle: TcpConnection | undefined
  /**
   * The connections of the `connect` scope this one belongs to (its finalizer closes those still in it); left once
   * the application closed or aborted it, or it reached CLOSED.
   */
  scopeSet: Set<Conn> | undefined
}

const decodeConfig = Schema.decodeUnknownResult(TcpConfigSchema)
const decodeSocket = Schema.decodeUnknownResult(TcpSocketOptionsSchema)

const KEEPALIVE_IDLE = 60_000
const KEEPALIVE_INTERVAL = 10_000
const KEEPALIVE_PROBES = 5
const CLOSE_TIMEOUT = 10_000
const FIN_WAIT_2_TIMEOUT = 30_000
const BACKLOG = 128

/** Murmur3 finaliser round over `h ^ v`. */
const mix = (h: number, v: number): number => {
  h ^= v
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const isPort = (p: number): boolean => Number.isInteger(p) && p >= 1 && p <= 65535

const invalid = (message: string): TcpError => new TcpError({ reason: "InvalidArgument", message })

const make = (input: unknown): Effect.Effect<TcpShape, TcpError, Ipv4 | Scope.Scope> =>
  Effect.gen(function* () {
    const decoded = decodeConfig(input, { errors: "all" })
    if (Result.isFailure(decoded)) {
      return yield* new TcpError({
        reason: "InvalidConfig",
        message: `invalid TCP configuration: ${decoded.failure.message}`,
      })
    }
    const config: TcpConfig = decoded.success
    const ipv4 = yield* Ipv4
    const clock = yield* Clock.Clock
    const random = yield* Random.Random
    const address = ipv4.address
    const caps = ipv4.checksum
    const mtu = ipv4.mtu
    const secret = [0, 0, 0, 0].map(() => random.nextIntUnsafe() >>> 0)
    const closeTimeout = config.closeTimeout ?? CLOSE_TIMEOUT
    const finWait2Timeout = config.finWait2Timeout ?? FIN_WAIT_2_TIMEOUT

    const table = new Map<number, Conn>()
    const all = new Set<Conn>()
    const listeners = new Map<number, ListenerRec>()
    let shutdown = false
    let timerRunning = false
    // counters of connections already removed from the table (the open ones are summed at snapshot time)
    let retiredRetransmits = 0
    let retiredTimeouts = 0
    const c = {
      segmentsIn: 0,
      segmentsOut: 0,
      badChecksum: 0,
      malformed: 0,
      noConnection: 0,
      resetsSent: 0,
      txErrors: 0,
      activeOpens: 0,
      passiveOpens: 0,
    }

    // ---- time ---------------------------------------------------------------------------------------------------

    let lastNow = 0
    const now = (): number => {
      const t = clock.currentTimeMillisUnsafe()
      if (t > lastNow) lastNow = t
      return lastNow
    }

    // ---- configuration per connection ---------------------------------------------------------------------------

    const tcbConfigOf = (o: TcpSocketOptions, connectTimeout?: number): TcbConfig => {
      const ka = o.keepalive ?? config.keepalive
      return makeTcbConfig({
        mss: Math.max(64, mtu - 40),
        mssClamp: o.mssClamp ?? config.mssClamp ?? 0,
        sendBufferSize: o.sendBufferSize ?? config.sendBufferSize ?? 256 * 1024,
        recvBufferSize: o.receiveBufferSize ?? config.receiveBufferSize ?? 256 * 1024,
        noDelay: o.noDelay ?? config.noDelay ?? false,
        delayedAckMs: o.delayedAck ?? config.delayedAck ?? 40,
        keepalive: ka?.enabled === true
          ? {
            idleMs: ka.idle ?? KEEPALIVE_IDLE,
            intervalMs: ka.interval ?? KEEPALIVE_INTERVAL,
            probes: ka.probes ?? KEEPALIVE_PROBES,
          }
          : undefined,
        timeWaitMs: config.timeWait ?? 1000,
        maxRetransmits: config.maxRetransmits ?? 12,
        maxSynRetransmits: config.maxSynRetransmits ?? 5,
        connectTimeoutMs: connectTimeout ?? config.connectTimeout ?? 30_000,
        rtt: {
          initialRto: config.initialRto ?? 1000,
          minRto: config.minRto ?? 200,
          maxRto: config.maxRto ?? 60_000,
          granularity: 1,
        },
        congestion: (o.congestion ?? config.congestion ?? "newreno") as CongestionName,
        initialWindow: config.initialWindow ?? 10,
        windowScaling: config.windowScaling ?? true,
        timestamps: config.timestamps ?? true,
        sack: config.sack ?? true,
        maxOutOfOrderRanges: config.maxOutOfOrderRanges ?? 32,
        challengeAckLimit: config.challengeAckLimit ?? 100,
      })
    }
    const defaultTcbConfig = tcbConfigOf({})

    const socketOptions = (o: object | undefined, what: string): Result.Result<TcpSocketOptions, TcpError> => {
      if (o === undefined) return Result.succeed({})
      const picked: Record<string, unknown> = {}
      for (const k of Object.keys(socketFields)) {
        const v = (o as Record<string, unknown>)[k]
        if (v !== undefined) picked[k] = v
      }
      const r = decodeSocket(picked, { errors: "all" })
      return Result.isFailure(r)
        ? Result.fail(invalid(`${what} options: ${r.failure.message}`))
        : Result.succeed(r.success as TcpSocketOptions)
    }

    // ---- randomness ---------------------------------------------------------------------------------------------

    const isn = (remote: number, localPort: number, remotePort: number, t: number): number => {
      let h = mix(secret[0], address)
      h = mix(h ^ secret[1], remote)
      h = mix(h ^ secret[2], ((localPort << 16) | remotePort) >>> 0)
      h = mix(h, secret[3])
      return (h + Math.floor(t * 250)) >>> 0 // M: a 4 µs clock (RFC 6528 §3)
    }
    let nextIss: number | undefined = undefined
    const listenerRandom = (): number => {
      if (nextIss !== undefined) {
        const v = nextIss
        nextIss = undefined
        return v
      }
      return random.nextIntUnsafe() >>> 0
    }

    // ---- connection table ---------------------------------------------------------------------------------------

    const lookup = (remote: number, remotePort: number, localPort: number): Conn | undefined => {
      let x = table.get(localPort * 65536 + remotePort)
      while (x !== undefined && x.remoteAddr !== remote) x = x.next
      return x
    }

    const insert = (x: Conn): void => {
      x.next = table.get(x.key)
      table.set(x.key, x)
      all.add(x)
      x.inTable = true
    }

    const remove = (x: Conn): void => {
      if (!x.inTable) return
      x.inTable = false
      all.delete(x)
      retiredRetransmits += x.tcb.stats.retransmits
      retiredTimeouts += x.tcb.stats.timeouts
      const head = table.get(x.key)
      if (head === x) {
        if (x.next === undefined) table.delete(x.key)
        else table.set(x.key, x.next)
      } else {
        let p = head
        while (p !== undefined && p.next !== x) p = p.next
        if (p !== undefined) p.next = x.next
      }
      x.next = undefined
    }

    const newConn = (tcb: Tcb, remote: Ipv4Address): Conn => {
      const x: Conn = {
        tcb,
        remoteAddr: remote,
        localPort: tcb.localPort,
        remotePort: tcb.remotePort,
        key: tcb.localPort * 65536 + tcb.remotePort,
        next: undefined,
        inTable: false,
        timerAt: Infinity,
        txq: [],
        txHead: 0,
        sending: false,
        cur: undefined,
        fill: (buf) => {
          const s = x.cur
          x.cur = undefined
          if (s !== undefined) TcpRepr.emit(s, buf, pseudoHeaderSum(address, remote, IpProtocol.Tcp, buf.length), caps)
        },
        waiters: [],
        appClosed: false,
        orphan: false,
        orphanDeadline: Infinity,
        listener: undefined,
        owner: undefined,
        bytesWritten: 0,
        bytesRead: 0,
        handle: undefined,
        scopeSet: undefined,
      }
      tcb.tag = x
      return x
    }

    // ---- waking -------------------------------------------------------------------------------------------------

    /** Resumes the waiters of `w` whose condition holds now (the others keep waiting: no useless wake-up). */
    const notify = (w: Waitable): void => {
      const ws = w.waiters
      if (ws.length === 0) return
      // a resumed fiber may run at once and wait again: it must find a list that this loop does not rewrite
      w.waiters = []
      for (let i = 0; i < ws.length; i++) {
        const waiter = ws[i]
        if (waiter.ready()) waiter.resume()
        else w.waiters.push(waiter)
      }
    }

    /** Suspends until `w` is notified, unless `ready()` already holds when the waiter registers. */
    const waitOn = (w: Waitable, ready: () => boolean): Effect.Effect<void> =>
      Effect.callback<void>((resume) => {
        if (ready()) {
          resume(Effect.void)
          return
        }
        // resumed with a yield: effect runs a resumed fiber synchronously, inside whoever notified it (a frame of
        // the Switch's batch); yielding moves the waiter to the scheduler, so it runs once the batch is done and
        // finds all of it (one read per batch instead of one per segment)
        const waiter: Waiter = { ready, resume: () => resume(Effect.yieldNow) }
        w.waiters.push(waiter)
        return Effect.sync(() => {
          const i = w.waiters.indexOf(waiter)
          if (i >= 0) w.waiters.splice(i, 1)
        })
      })

    // ---- timer fiber --------------------------------------------------------------------------------------------

    /** The deadline the timer fiber sleeps until (Infinity: until woken). */
    let timerAt = Infinity
    /** A nearer deadline appeared since the timer fiber last scanned: it must scan again before sleeping. */
    let timerKick = false
    let timerResume: (() => void) | undefined = undefined

    /** Tells the timer fiber that a deadline earlier than the one it sleeps until exists now. */
    const wakeTimer = (): void => {
      timerKick = true
      const r = timerResume
      if (r !== undefined) {
        timerResume = undefined
        r()
      }
    }

    const deadlineOf = (x: Conn): number => {
      const d = x.tcb.nextDeadline()
      const t = d === undefined ? Infinity : d
      return x.orphanDeadline < t ? x.orphanDeadline : t
    }

    // timer heap: parallel arrays, ordered by deadline
    const heapAt: Array<number> = []
    const heapConn: Array<Conn> = []

    const heapPush = (at: number, x: Conn): void => {
      let i = heapAt.length
      heapAt.push(at)
      heapConn.push(x)
      while (i > 0) {
        const parent = (i - 1) >> 1
        if (heapAt[parent] <= at) break
        heapAt[i] = heapAt[parent]
        heapConn[i] = heapConn[parent]
        i = parent
      }
      heapAt[i] = at
      heapConn[i] = x
    }

    /** Removes the top entry (the heap must not be empty). */
    const heapPop = (): void => {
      const lastAt = heapAt.pop() as number
      const lastConn = heapConn.pop() as Conn
      const n = heapAt.length
      if (n === 0) return
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const m = r < n && heapAt[r] < heapAt[l] ? r : l
        if (heapAt[m] >= lastAt) break
        heapAt[i] = heapAt[m]
        heapConn[i] = heapConn[m]
        i = m
      }
      heapAt[i] = lastAt
      heapConn[i] = lastConn
    }

    /** Makes the heap know `x`'s deadline if it moved earlier; wakes the timer fiber if it is the nearest. */
    const schedule = (x: Conn): void => {
      const dl = deadlineOf(x)
      if (dl < x.timerAt) {
        x.timerAt = dl
        heapPush(dl, x)
        if (!timerKick && dl < timerAt) wakeTimer()
      }
    }

    /** Forgets the heap and pushes every connection's deadline again (when the timer fiber (re)starts). */
    const rebuildTimers = (): void => {
      heapAt.length = 0
      heapConn.length = 0
      for (const x of all) {
        x.timerAt = Infinity
        schedule(x)
      }
    }

    // ---- output -------------------------------------------------------------------------------------------------

    /** Copies queued payloads out of the send ring (another fiber is serialising them). */
    const detach = (x: Conn): void => {
      const q = x.txq
      for (let i = x.txHead; i < q.length; i++) {
        const s = q[i]
        if (s.payload.length > 0) q[i] = { ...s, payload: s.payload.slice() }
      }
      const s = x.cur
      if (s !== undefined && s.payload.length > 0) x.cur = { ...s, payload: s.payload.slice() }
    }

    const drainFailed = (x: Conn) => (): Effect.Effect<void> => {
      c.txErrors += x.txq.length - x.txHead + 1
      x.txq.length = 0
      x.txHead = 0
      x.cur = undefined
      x.sending = false
      return Effect.void
    }

    /**
     * Serialises `x`'s queued segments now through the synchronous `Ipv4.transmit` (no Effect per segment); returns
     * `undefined` once the queue is empty, or the failure (the caller then drops the rest: `drainFailed`).
     */
    const pump = (x: Conn): Effect.Effect<void, IpError> | undefined => {
      while (x.txHead < x.txq.length) {
        const s = x.txq[x.txHead++]
        x.cur = s
        c.segmentsOut++
        const len = TcpRepr.bufferLen(s)
        const e = ipv4.transmit(x.remoteAddr, IpProtocol.Tcp, len, x.fill)
        if (e !== undefined) return Effect.fail(e)
      }
      x.txq.length = 0
      x.txHead = 0
      x.sending = false
      return undefined
    }

    /**
     * After anything touched a TCB: handle its events, re-check its waiters (each resumes only if its condition
     * holds: a cheap test, and some changes — FIN acknowledged, buffer space below a writer's low-water mark —
     * report no event), and track its deadline.
     */
    const settle = (x: Conn): void => {
      const ev = x.tcb.takeEvents()
      if (ev.length > 0) {
        for (let i = 0; i < ev.length; i++) {
          const e = ev[i]
          if (e === "Closed") {
            remove(x)
            release(x)
            if (x.owner !== undefined) x.owner.live.delete(x)
          } else if (e === "Connected" && x.listener !== undefined) notify(x.listener)
        }
      }
      if (x.waiters.length > 0) notify(x)
      schedule(x)
    }

    /** Poll `x` once, then serialise whatever it produced (unless another fiber is draining its queue). */
    const flush = (x: Conn): Effect.Effect<void> => {
      const q = x.txq
      const before = q.length
      x.tcb.poll(now(), q)
      settle(x)
      if (q.length === before || x.sending) return Effect.void
      x.sending = true
      const rest = pump(x)
      // only a queue that could not be sent synchronously costs an Effect (and keeps `sending` until it is done)
      return rest === undefined ? Effect.void : Effect.uninterruptible(Effect.catch(rest, drainFailed(x)))
    }

    /** A segment outside any connection (RST to a closed port). */
    const sendRaw = (dst: Ipv4Address, seg: TcpRepr): Effect.Effect<void> => {
      c.segmentsOut++
      c.resetsSent++
      const len = TcpRepr.bufferLen(seg)
      const pseudo = pseudoHeaderSum(address, dst, IpProtocol.Tcp, len)
      const e = ipv4.transmit(dst, IpProtocol.Tcp, len, (buf) => TcpRepr.emit(seg, buf, pseudo, caps))
      if (e !== undefined) c.txErrors++
      return Effect.void
    }

    const discardScratch = new Uint8Array(64 * 1024)
    const discard = (x: Conn): void => {
      while (x.tcb.readInto(discardScratch) > 0) {
        // the application is gone: drop what arrives so the window stays open
      }
    }

    // ---- receive ------------------------------------------------------------------------------------------------

    const receive = (d: Ipv4Datagram): Effect.Effect<void> => {
      c.segmentsIn++
      if (shutdown) return Effect.void
      if (d.dst !== address) {
        c.malformed++
        return Effect.void
      }
      const packet = TcpPacket.parse(d.payload)
      if (Result.isFailure(packet)) {
        c.malformed++
        return Effect.void
      }
      const parsed = TcpRepr.parse(
        packet.success,
        pseudoHeaderSum(d.src, d.dst, IpProtocol.Tcp, d.payload.length),
        caps,
      )
      if (Result.isFailure(parsed)) {
        if (parsed.failure.reason === "BadChecksum") c.badChecksum++
        else c.malformed++
        return Effect.void
      }
      const seg = parsed.success
      const t = now()
      const x = lookup(d.src, seg.srcPort, seg.dstPort)
      if (x !== undefined) {
        if (x.sending) detach(x)
        x.tcb.input(seg, t)
        if (x.orphan) discard(x)
        return flush(x)
      }
      const l = listeners.get(seg.dstPort)
      if (l !== undefined && l.open) {
        nextIss = isn(d.src, seg.dstPort, seg.srcPort, t)
        const r = l.core.input(seg, t)
        nextIss = undefined
        if (r._tag === "Created") {
          c.passiveOpens++
          const nx = newConn(r.tcb, d.src)
          nx.listener = l
          insert(nx)
          return flush(nx)
        }
        if (r._tag === "Reply") return sendRaw(d.src, r.segment)
        return Effect.void
      }
      c.noConnection++
      const rst = resetFor(seg)
      return rst === undefined ? Effect.void : sendRaw(d.src, rst)
    }

    // ---- timers -------------------------------------------------------------------------------------------------

    const due: Array<Conn> = []
    /** Suspends until `wakeTimer` (at once if it was called since the last scan). */
    const timerSignal: Effect.Effect<void> = Effect.callback<void>((resume) => {
      if (timerKick) {
        resume(Effect.void)
        return
      }
      timerResume = () => resume(Effect.void)
      return Effect.sync(() => {
        timerResume = undefined
      })
    })

    const timerLoop: Effect.Effect<void> = Effect.gen(function* () {
      rebuildTimers()
      while (true) {
        timerKick = false
        const t = now()
        due.length = 0
        while (heapAt.length > 0 && heapAt[0] <= t) {
          const at = heapAt[0]
          const x = heapConn[0]
          heapPop()
          if (at !== x.timerAt) continue // stale: the deadline moved earlier and has its own entry
          x.timerAt = Infinity
          if (!x.inTable) continue
          if (deadlineOf(x) <= t) due.push(x)
          else schedule(x) // it moved later: back into the heap under its new deadline
        }
        for (let i = 0; i < due.length; i++) {
          const x = due[i]
          if (x.orphanDeadline <= t) {
            x.orphanDeadline = Infinity
            x.tcb.abort()
          }
          yield* flush(x)
        }
        due.length = 0
        const t2 = now()
        while (heapAt.length > 0 && heapAt[0] !== heapConn[0].timerAt) heapPop() // stale tops
        const next = heapAt.length > 0 ? heapAt[0] : Infinity
        timerAt = next
        if (next <= t2) continue
        yield* next === Infinity ? timerSignal : Effect.raceFirst(timerSignal, Effect.sleep(Math.max(1, next - t2)))
        timerResume = undefined
        timerAt = -Infinity // awake: nobody needs to wake it until the next scan sets a deadline
      }
    })

    /** The timer loop, restarted (and the defect logged) should it ever die of a bug; interruption ends it. */
    const timerSupervised: Effect.Effect<void> = Effect.catchCause(
      timerLoop,
      (cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.andThen(
          Effect.logError("tcp: the timer fiber failed; restarting it", cause),
          Effect.suspend(() => timerSupervised),
        ),
    )

    // ---- connection handles -------------------------------------------------------------------------------------

    const endpoint = (x: Conn): string =>
      `${Ipv4Address.format(address)}:${x.localPort} → ${Ipv4Address.format(x.remoteAddr)}:${x.remotePort}`

    /** The error for a connection that cannot be used any more. */
    const errorOf = (x: Conn): TcpError => {
      const tcb = x.tcb
      switch (tcb.error) {
        case "Refused":
          return new TcpError({ reason: "Refused", message: `connection ${endpoint(x)} refused by the peer (RST)` })
        case "Reset":
          return new TcpError({ reason: "Reset", message: `connection ${endpoint(x)} reset by the peer` })
        case "TimedOut":
          return new TcpError({
            reason: "TimedOut",
            message: tcb.timeoutCause === "connect"
              ? `connect ${endpoint(x)} timed out (no answer to ${
                tcb.config.maxSynRetransmits + 1
              } SYNs within ${tcb.config.connectTimeoutMs} ms)`
              : tcb.timeoutCause === "keepalive"
              ? `connection ${
                endpoint(x)
              } timed out: the peer answered none of ${tcb.config.keepalive?.probes} keepalive probes`
              : `connection ${
                endpoint(x)
              } timed out: data unacknowledged after ${tcb.config.maxRetransmits} retransmissions`,
          })
        default:
          return new TcpError({
            reason: "Closed",
            message: shutdown && !x.appClosed
              ? `connection ${endpoint(x)} closed: the TCP stack was shut down`
              : `connection ${endpoint(x)} is closed`,
          })
      }
    }

    /** Ready for `read`: bytes, end of stream, or an ending. */
    const readReady = (x: Conn) => (): boolean =>
      x.appClosed || x.tcb.readable > 0 || x.tcb.finReceived || x.tcb.state === "CLOSED"

    const readAttempt = (x: Conn): Effect.Effect<Uint8Array | undefined, TcpError> =>
      Effect.suspend(() => {
        if (x.appClosed || x.tcb.error !== undefined) return Effect.fail(errorOf(x))
        const tcb = x.tcb
        if (tcb.readable > 0) {
          const data = tcb.read()
          if (data === null) return Effect.succeed(undefined)
          x.bytesRead += data.length
          return Effect.as(flush(x), data)
        }
        if (tcb.finReceived) return Effect.succeed(undefined)
        if (tcb.state === "CLOSED") return Effect.fail(errorOf(x))
        return Effect.flatMap(waitOn(x, readReady(x)), () => readAttempt(x))
      })

    const readIntoAttempt = (x: Conn, buffer: Uint8Array): Effect.Effect<number, TcpError> =>
      Effect.suspend(() => {
        if (buffer.length === 0) return Effect.fail(invalid("readInto needs a non-empty buffer"))
        if (x.appClosed || x.tcb.error !== undefined) return Effect.fail(errorOf(x))
        const n = x.tcb.readInto(buffer)
        if (n > 0) {
          x.bytesRead += n
          return Effect.as(flush(x), n)
        }
        if (n < 0) return Effect.succeed(0)
        if (x.tcb.state === "CLOSED") return Effect.fail(errorOf(x))
        return Effect.flatMap(waitOn(x, readReady(x)), () => readIntoAttempt(x, buffer))
      })

    /**
     * Ready to write more of a blocked write with `remaining` bytes: a quarter of the send buffer's current allowance
     * is free (or all that is left), so a blocked writer wakes once per quarter buffer instead of once per ACK. The
     * allowance is autotuned ({@link Tcb.sendLimit}), so the threshold is computed each time.
     */
    const writeReady = (x: Conn, remaining: number) => (): boolean =>
      x.appClosed || x.tcb.writable >= Math.max(1, Math.min(remaining, x.tcb.sendLimit >>> 2)) ||
      x.tcb.state === "CLOSED" || x.tcb.error !== undefined

    const writeFrom = (x: Conn, data: Uint8Array, off: number): Effect.Effect<void, TcpError> =>
      Effect.suspend(() => {
        if (x.appClosed || x.tcb.error !== undefined) return Effect.fail(errorOf(x))
        if (x.sending) detach(x)
        const n = x.tcb.write(off === 0 ? data : data.subarray(off))
        if (n < 0) {
          return Effect.fail(
            x.tcb.state === "CLOSED" ? errorOf(x) : new TcpError({
              reason: "Closed",
              message: `connection ${endpoint(x)}: writing after closeWrite/close`,
            }),
          )
        }
        x.bytesWritten += n
        const end = off + n
        const sent = n > 0 ? flush(x) : Effect.void
        if (end >= data.length) return sent
        const more = Effect.flatMap(waitOn(x, writeReady(x, data.length - end)), () => writeFrom(x, data, end))
        return Effect.andThen(sent, more)
      })

    const closeWrite = (x: Conn): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (x.appClosed) return Effect.void
        x.tcb.close()
        return flush(x)
      })

    /** The application is done with `x` (or it is CLOSED): the scope finalizer of `connect` need not close it. */
    const release = (x: Conn): void => {
      const set = x.scopeSet
      if (set !== undefined) {
        set.delete(x)
        x.scopeSet = undefined
      }
    }

    const abort = (x: Conn): Effect.Effect<void> =>
      Effect.suspend(() => {
        x.appClosed = true
        x.orphan = true
        release(x)
        if (x.tcb.state === "CLOSED") return Effect.void
        if (x.sending) detach(x)
        x.tcb.abort()
        return flush(x)
      })

    const finDone = (x: Conn) => (): boolean => {
      const s = x.tcb.state
      return s === "FIN-WAIT-2" || s === "TIME-WAIT" || s === "CLOSED"
    }

    const awaitFin = (x: Conn): Effect.Effect<void> =>
      Effect.suspend(() => (finDone(x)() ? Effect.void : Effect.flatMap(waitOn(x, finDone(x)), () => awaitFin(x))))

    const close = (x: Conn): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (x.appClosed) return Effect.void
        x.appClosed = true
        x.orphan = true
        if (x.tcb.state === "CLOSED") {
          release(x)
          return Effect.void
        }
        discard(x)
        x.tcb.close()
        // bounds the orphan even if this close is interrupted while it waits
        x.orphanDeadline = now() + closeTimeout + finWait2Timeout
        return flush(x).pipe(
          Effect.andThen(Effect.timeoutOption(awaitFin(x), closeTimeout)),
          Effect.flatMap((o) => {
            release(x)
            if (o._tag === "None") return abort(x)
            x.orphanDeadline = x.tcb.state === "FIN-WAIT-2" ? now() + finWait2Timeout : Infinity
            schedule(x)
            return Effect.void
          }),
        )
      })

    /** Counters and gauges of `x` now. */
    const statsOf = (x: Conn): TcpConnectionStats => {
      const s = x.tcb.stats
      return {
        state: x.tcb.state,
        bytesWritten: x.bytesWritten,
        bytesRead: x.bytesRead,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        segmentsIn: s.segmentsIn,
        segmentsOut: s.segmentsOut,
        retransmits: s.retransmits,
        timeouts: s.timeouts,
        fastRetransmits: s.fastRetransmits,
        windowProbes: s.windowProbes,
        keepaliveProbes: s.keepaliveProbes,
        challengeAcks: s.challengeAcks,
        droppedIn: s.droppedIn,
        srtt: x.tcb.srtt,
        rto: x.tcb.rto,
        cwnd: x.tcb.cc.cwnd,
        bufferBytes: x.tcb.sendBuffer.storage + x.tcb.recvBuffer.storage,
        mss: x.tcb.effMss,
      }
    }

    /**
     * The application's handle of a connection: one small object per connection; its Effects, Stream and Sink are
     * built when read (an eagerly built set cost ~1.8 KiB per connection, 18 MiB for 10 000 idle ones).
     */
    class Handle implements TcpConnection {
      constructor(private readonly x: Conn) {}
      get localAddress(): Ipv4Address {
        return address
      }
      get localPort(): number {
        return this.x.localPort
      }
      get remoteAddress(): Ipv4Address {
        return this.x.remoteAddr
      }
      get remotePort(): number {
        return this.x.remotePort
      }
      get read(): Effect.Effect<Uint8Array | undefined, TcpError> {
        return readAttempt(this.x)
      }
      readInto(buffer: Uint8Array): Effect.Effect<number, TcpError> {
        return readIntoAttempt(this.x, buffer)
      }
      write(data: Uint8Array): Effect.Effect<void, TcpError> {
        return writeFrom(this.x, data, 0)
      }
      get stream(): Stream.Stream<Uint8Array, TcpError> {
        const pull: Effect.Effect<readonly [Uint8Array], TcpError | Cause.Done> = Effect.flatMap(
          readAttempt(this.x),
          (d): Effect.Effect<readonly [Uint8Array], TcpError | Cause.Done> =>
            d === undefined ? Cause.done() : Effect.succeed([d] as const),
        )
        return Stream.fromPull(Effect.succeed(pull))
      }
      get sink(): Sink.Sink<void, Uint8Array, never, TcpError> {
        const x = this.x
        return Sink.forEach((chunk: Uint8Array) => writeFrom(x, chunk, 0))
      }
      get closeWrite(): Effect.Effect<void> {
        return closeWrite(this.x)
      }
      get close(): Effect.Effect<void> {
        return close(this.x)
      }
      get abort(): Effect.Effect<void> {
        return abort(this.x)
      }
      get state(): Effect.Effect<TcpState> {
        const x = this.x
        return Effect.sync(() => x.tcb.state)
      }
      get stats(): Effect.Effect<TcpConnectionStats> {
        const x = this.x
        return Effect.sync(() => statsOf(x))
      }
    }

    const handleOf = (x: Conn): TcpConnection => x.handle ?? (x.handle = new Handle(x))

    /** Connections opened in each Scope and still open there: one finalizer per Scope closes them. */
    const scoped = new WeakMap<Scope.Scope, Set<Conn>>()

    /** Ties `x` to `scope`: closing the scope closes `x` (aborts it if the scope failed), unless released before. */
    const joinScope = (x: Conn, scope: Scope.Scope): Effect.Effect<void> =>
      Effect.suspend(() => {
        const set = scoped.get(scope)
        if (set !== undefined) {
          set.add(x)
          x.scopeSet = set
          return Effect.void
        }
        const fresh = new Set<Conn>([x])
        scoped.set(scope, fresh)
        x.scopeSet = fresh
        return Scope.addFinalizerExit(scope, (exit) =>
          Effect.suspend(() => {
            scoped.delete(scope)
            const open = [...fresh].reverse() // like one finalizer each: last opened, first closed
            fresh.clear()
            for (const y of open) y.scopeSet = undefined
            const success = Exit.isSuccess(exit)
            return Effect.forEach(open, (y) => (success ? close(y) : abort(y)), { discard: true })
          }))
      })

    // ---- connect ------------------------------------------------------------------------------------------------

    const closedStack = (): TcpError => new TcpError({ reason: "Closed", message: "the TCP stack was shut down" })

    const parseAddress = (a: Ipv4Address | string): Ipv4Address | undefined =>
      typeof a === "string" ? Ipv4Address.parse(a) : Number.isInteger(a) && a >= 0 && a <= 0xffffffff ? a : undefined

    const pickEphemeral = (remote: Ipv4Address, remotePort: number): Effect.Effect<number, TcpError> =>
      Effect.gen(function* () {
        const free = (p: number) => lookup(remote, remotePort, p) === undefined && !listeners.has(p)
        for (let i = 0; i < 32; i++) {
          const p = yield* Random.nextIntBetween(TCP_EPHEMERAL_PORT_MIN, TCP_EPHEMERAL_PORT_MAX)
          if (free(p)) return p
        }
        const n = TCP_EPHEMERAL_PORT_MAX - TCP_EPHEMERAL_PORT_MIN + 1
        const start = yield* Random.nextIntBetween(0, n - 1)
        for (let i = 0; i < n; i++) {
          const p = TCP_EPHEMERAL_PORT_MIN + ((start + i) % n)
          if (free(p)) return p
        }
        return yield* new TcpError({
          reason: "AddressInUse",
          message: `every ephemeral port to ${Ipv4Address.format(remote)}:${remotePort} is in use`,
        })
      })

    const connectedReady = (x: Conn) => (): boolean => {
      const s = x.tcb.state
      return s !== "SYN-SENT" && s !== "SYN-RECEIVED"
    }

    const awaitConnected = (x: Conn): Effect.Effect<void> =>
      Effect.suspend(() =>
        connectedReady(x)() ? Effect.void : Effect.flatMap(waitOn(x, connectedReady(x)), () => awaitConnected(x))
      )

    const connect = (
      addressIn: Ipv4Address | string,
      port: number,
      options?: TcpConnectOptions,
    ): Effect.Effect<TcpConnection, TcpError, Scope.Scope> =>
      Effect.gen(function* () {
        if (shutdown) return yield* closedStack()
        const remote = parseAddress(addressIn)
        if (remote === undefined) return yield* invalid(`not an IPv4 address: ${String(addressIn)}`)
        if (!isPort(port)) return yield* invalid(`port must be an integer in 1..65535, got ${port}`)
        const hop = ipv4.nextHop(remote)
        if (hop._tag === "NoRoute") return yield* new TcpError({ reason: "NoRoute", message: hop.message })
        if (hop._tag === "Group") {
          return yield* invalid(`cannot connect to a broadcast or multicast address: ${Ipv4Address.format(remote)}`)
        }
        const opts = yield* Effect.fromResult(socketOptions(options, "connect"))
        let timeoutMs: number | undefined = undefined
        if (options?.timeout !== undefined) {
          const d = Duration.fromInput(options.timeout)
          const ms = d._tag === "Some" ? Duration.toMillis(d.value) : NaN
          if (!(ms >= 0) || ms === Infinity) {
            return yield* invalid(`connect timeout must be a finite duration ≥ 0, got ${String(options.timeout)}`)
          }
          timeoutMs = ms
        }
        let localPort: number
        if (options?.localPort !== undefined && options.localPort !== 0) {
          localPort = options.localPort
          if (!isPort(localPort)) return yield* invalid(`local port must be an integer in 1..65535, got ${localPort}`)
          if (lookup(remote, port, localPort) !== undefined || listeners.has(localPort)) {
            return yield* new TcpError({
              reason: "AddressInUse",
              message: `local port ${localPort} is in use (by a listener or a connection to the same peer)`,
            })
          }
        } else {
          localPort = yield* pickEphemeral(remote, port)
        }
        const cfg = timeoutMs === undefined && options === undefined ? defaultTcbConfig : tcbConfigOf(opts, timeoutMs)
        const t = now()
        const tcb = Tcb.connect({
          localPort,
          remotePort: port,
          iss: isn(remote, localPort, port, t),
          tsOffset: random.nextIntUnsafe() >>> 0,
          config: cfg,
        }, t)
        const x = newConn(tcb, remote)
        insert(x)
        c.activeOpens++
        yield* joinScope(x, yield* Scope.Scope)
        yield* flush(x)
        yield* awaitConnected(x)
        if (x.tcb.error !== undefined) return yield* errorOf(x)
        if (x.tcb.state === "CLOSED" && x.appClosed) return yield* errorOf(x)
        return handleOf(x)
      })

    // ---- listen -------------------------------------------------------------------------------------------------

    const acceptReady = (l: ListenerRec) => (): boolean => !l.open || l.core.acceptQueue.length > 0

    const accept = (l: ListenerRec): Effect.Effect<TcpConnection, TcpError> =>
      Effect.suspend(() => {
        if (!l.open) {
          return Effect.fail(
            new TcpError({ reason: "Closed", message: `listener on port ${l.port} is closed` }),
          )
        }
        const tcb = l.core.accept()
        if (tcb !== undefined) {
          const x = tcb.tag as Conn
          x.listener = undefined
          x.owner = l
          if (x.inTable) l.live.add(x)
          l.accepted++
          return Effect.succeed(handleOf(x))
        }
        return Effect.flatMap(waitOn(l, acceptReady(l)), () => accept(l))
      })

    const closeListener = (l: ListenerRec): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!l.open) return Effect.void
        l.open = false
        if (listeners.get(l.port) === l) listeners.delete(l.port)
        const queued = l.core.close()
        notify(l)
        const effects: Array<Effect.Effect<void>> = []
        for (const tcb of queued) {
          const x = tcb.tag as Conn
          x.listener = undefined
          effects.push(abort(x))
        }
        for (const x of l.live) effects.push(close(x))
        l.live.clear()
        return Effect.all(effects, { concurrency: "unbounded", discard: true })
      })

    const listen = (port: number, options?: TcpListenOptions): Effect.Effect<TcpListener, TcpError, Scope.Scope> =>
      Effect.gen(function* () {
        if (shutdown) return yield* closedStack()
        if (port !== 0 && !isPort(port)) return yield* invalid(`port must be an integer in 0..65535, got ${port}`)
        const opts = yield* Effect.fromResult(socketOptions(options, "listen"))
        const backlog = options?.backlog ?? config.backlog ?? BACKLOG
        if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
          return yield* invalid(`backlog must be an integer in 1..65535, got ${backlog}`)
        }
        let p = port
        if (p === 0) {
          for (let i = 0; i < 64 && (p === 0 || listeners.has(p)); i++) {
            p = yield* Random.nextIntBetween(TCP_EPHEMERAL_PORT_MIN, TCP_EPHEMERAL_PORT_MAX)
          }
        }
        if (listeners.has(p)) {
          return yield* new TcpError({ reason: "AddressInUse", message: `TCP port ${p} is already listening` })
        }
        const core = new Listener(p, listenerRandom, {
          backlog,
          tcb: options === undefined ? defaultTcbConfig : tcbConfigOf(opts),
        })
        const l: ListenerRec = { core, port: p, open: true, accepted: 0, live: new Set(), waiters: [] }
        listeners.set(p, l)
        yield* Effect.addFinalizer(() => closeListener(l))
        const acceptL = accept(l)
        const pull: Effect.Effect<readonly [TcpConnection], TcpError | Cause.Done> = Effect.catch(
          Effect.map(acceptL, (conn) => [conn] as const),
          (
            e,
          ): Effect.Effect<
            never,
            TcpError | Cause.Done
          > => (l.open || e.reason !== "Closed" ? Effect.fail(e) : Cause.done()),
        )
        return {
          localPort: p,
          accept: acceptL,
          connections: Stream.fromPull(Effect.succeed(pull)),
          stats: Effect.sync(() => ({
            synsAccepted: core.stats.synsAccepted,
            synsDropped: core.stats.synsDropped,
            accepted: l.accepted,
            pending: core.acceptQueue.length,
          })),
        }
      })

    const serve = <E>(
      port: number,
      handler: TcpHandler<E>,
      options?: TcpListenOptions,
    ): Effect.Effect<TcpListener, TcpError, Scope.Scope> =>
      Effect.gen(function* () {
        const l = yield* listen(port, options)
        const fibers = yield* FiberSet.make<unknown, never>()
        const one = (conn: TcpConnection): Effect.Effect<void> =>
          Effect.suspend(() => handler(conn)).pipe(
            Effect.onExit((exit) => (Exit.isSuccess(exit) ? conn.close : conn.abort)),
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.void
                : Effect.logDebug(`tcp: handler on port ${l.localPort} failed`, cause)
            ),
          )
        const loop = Effect.forever(Effect.flatMap(l.accept, (conn) => FiberSet.run(fibers, one(conn))))
        yield* Effect.forkScoped(Effect.ignore(loop))
        return l
      })

    // ---- lifetime -----------------------------------------------------------------------------------------------

    yield* ipv4.register(IpProtocol.Tcp, receive)
    yield* Effect.forkScoped(
      Effect.ensuring(
        Effect.suspend(() => {
          timerRunning = true
          return timerSupervised
        }),
        Effect.sync(() => {
          timerRunning = false
        }),
      ),
    )
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        shutdown = true
        const effects: Array<Effect.Effect<void>> = []
        for (const l of listeners.values()) {
          l.open = false
          for (const tcb of l.core.close()) (tcb.tag as Conn).listener = undefined
          l.live.clear()
          notify(l)
        }
        listeners.clear()
        for (const x of [...all]) {
          if (x.tcb.state !== "CLOSED") {
            if (x.sending) detach(x)
            x.tcb.abort()
          }
          effects.push(flush(x))
          remove(x)
          notify(x)
        }
        return Effect.all(effects, { discard: true })
      })
    )

    return {
      connect,
      listen,
      serve,
      config,
      stats: Effect.sync(() => {
        let retransmits = retiredRetransmits
        let retransmitTimeouts = retiredTimeouts
        for (const x of all) {
          retransmits += x.tcb.stats.retransmits
          retransmitTimeouts += x.tcb.stats.timeouts
        }
        return {
          ...c,
          retransmits,
          retransmitTimeouts,
          connections: all.size,
          listeners: listeners.size,
          timerRunning,
        }
      }),
    }
  })
