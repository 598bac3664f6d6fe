/**
 * The TCP layer's configuration: one Schema ({@link TcpConfig}) owning every default, per the conventions of
 * `src/util/Config.ts` — each field's default is written once, in the Schema, and named in its JSDoc; durations are
 * milliseconds after decoding and accept a number of ms or a `Duration` string such as `"5 seconds"` on input;
 * unknown keys are refused.
 *
 * The per-connection tunables of `connect` / `listen` ({@link TcpSocketOptions}) are the same fields without
 * defaults: a field left out takes the layer's value. {@link tcbConfigOf} derives the core's {@link TcbConfig} from
 * a decoded layer configuration and the socket options, so the core's tunables have no defaults of their own.
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { decodeConfig, int, Millis, millis, withDefault } from "../util/Config.ts"
import type { TcbConfig } from "./Tcb.ts"

const bufferSize: Schema.Int = int(1024, 1 << 28)
const fraction: Schema.Finite = Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1 })))
const mssClamp: Schema.Int = int(64, 65495)
const delayedAck: Millis = millis(200)
const congestion: Schema.Literals<readonly ["newreno", "cubic"]> = Schema.Literals(["newreno", "cubic"] as const)
const synCookies: Schema.Literals<readonly ["auto", "always", "never"]> = Schema.Literals(
  ["auto", "always", "never"] as const,
)

/** Schema of the keepalive tunables (RFC 1122 §4.2.3.6). */
export const TcpKeepaliveConfig: Schema.Struct<{
  readonly enabled: Schema.withDecodingDefaultKey<Schema.Boolean>
  readonly idle: Schema.withDecodingDefaultKey<Millis>
  readonly interval: Schema.withDecodingDefaultKey<Millis>
  readonly probes: Schema.withDecodingDefaultKey<Schema.Int>
}> = Schema.Struct({
  /** Send keepalive probes on idle connections; default false. */
  enabled: Schema.Boolean.pipe(withDefault(false)),
  /** Idle time before the first probe; default 60 000 ms. */
  idle: Millis.pipe(withDefault(60_000)),
  /** Time between unanswered probes; default 10 000 ms. */
  interval: Millis.pipe(withDefault(10_000)),
  /** Unanswered probes before the connection fails with "TimedOut"; default 5. */
  probes: int(1, 1000).pipe(withDefault(5)),
})

/** Decoded keepalive tunables (every field filled in). */
export type TcpKeepaliveConfig = typeof TcpKeepaliveConfig.Type

/** Schema of the TCP layer's configuration. Every key is optional on input; decoding fills in the defaults. */
export const TcpConfig: Schema.Struct<{
  readonly sendBufferSize: Schema.withDecodingDefaultKey<Schema.Int>
  readonly receiveBufferSize: Schema.withDecodingDefaultKey<Schema.Int>
  readonly mssClamp: Schema.optional<Schema.Int>
  readonly noDelay: Schema.withDecodingDefaultKey<Schema.Boolean>
  readonly delayedAck: Schema.withDecodingDefaultKey<Millis>
  readonly keepalive: Schema.withDecodingDefaultKey<typeof TcpKeepaliveConfig>
  readonly congestion: Schema.withDecodingDefaultKey<Schema.Literals<readonly ["newreno", "cubic"]>>
  readonly timeWait: Schema.withDecodingDefaultKey<Millis>
  readonly connectTimeout: Schema.withDecodingDefaultKey<Millis>
  readonly maxRetransmits: Schema.withDecodingDefaultKey<Schema.Int>
  readonly maxSynRetransmits: Schema.withDecodingDefaultKey<Schema.Int>
  readonly initialWindow: Schema.withDecodingDefaultKey<Schema.Int>
  readonly minRto: Schema.withDecodingDefaultKey<Millis>
  readonly initialRto: Schema.withDecodingDefaultKey<Millis>
  readonly maxRto: Schema.withDecodingDefaultKey<Millis>
  readonly windowScaling: Schema.withDecodingDefaultKey<Schema.Boolean>
  readonly timestamps: Schema.withDecodingDefaultKey<Schema.Boolean>
  readonly sack: Schema.withDecodingDefaultKey<Schema.Boolean>
  readonly maxOutOfOrderRanges: Schema.withDecodingDefaultKey<Schema.Int>
  readonly maxOutOfOrderBytes: Schema.optional<Schema.Int>
  readonly memoryLimit: Schema.withDecodingDefaultKey<Schema.Int>
  readonly memoryPressure: Schema.withDecodingDefaultKey<Schema.Finite>
  readonly outOfOrderMemory: Schema.withDecodingDefaultKey<Schema.Finite>
  readonly challengeAckLimit: Schema.withDecodingDefaultKey<Schema.Int>
  readonly backlog: Schema.withDecodingDefaultKey<Schema.Int>
  readonly synBacklog: Schema.optional<Schema.Int>
  readonly synCookies: Schema.withDecodingDefaultKey<Schema.Literals<readonly ["auto", "always", "never"]>>
  readonly closeTimeout: Schema.withDecodingDefaultKey<Millis>
  readonly finWait2Timeout: Schema.withDecodingDefaultKey<Millis>
}> = Schema.Struct({
  /** Send buffer, bytes; default 262 144. Below two segments, each segment waits for the peer's delayed ACK. */
  sendBufferSize: bufferSize.pipe(withDefault(256 * 1024)),
  /** Receive buffer, bytes; the advertised window is its free space; default 262 144. */
  receiveBufferSize: bufferSize.pipe(withDefault(256 * 1024)),
  /** Upper bound of the MSS used and advertised, 64..65495; default none (the MTU decides). */
  mssClamp: Schema.optional(mssClamp),
  /** Disable Nagle's algorithm; default false (Nagle on). */
  noDelay: Schema.Boolean.pipe(withDefault(false)),
  /** Delayed-ACK timeout, 0..200 ms (0 acknowledges every segment at once); default 40 ms. */
  delayedAck: delayedAck.pipe(withDefault(40)),
  /** Keepalive; default off (see {@link TcpKeepaliveConfig} for the defaults of its fields). */
  keepalive: TcpKeepaliveConfig.pipe(withDefault({})),
  /** Congestion control: "newreno" (RFC 5681 + 6582) or "cubic" (RFC 9438); default "newreno". */
  congestion: congestion.pipe(withDefault("newreno")),
  /** TIME-WAIT duration; default 1 000 ms (a virtual LAN has no old duplicates wandering for minutes). */
  timeWait: Millis.pipe(withDefault(1_000)),
  /** Connect timeout: how long the handshake may take; default 30 000 ms. */
  connectTimeout: Millis.pipe(withDefault(30_000)),
  /** Consecutive retransmission timeouts before "TimedOut"; default 12. */
  maxRetransmits: int(1, 100).pipe(withDefault(12)),
  /** SYN retransmissions before "TimedOut"; default 5. */
  maxSynRetransmits: int(0, 100).pipe(withDefault(5)),
  /** Initial congestion window, segments; default 10 (RFC 6928). */
  initialWindow: int(1, 1000).pipe(withDefault(10)),
  /** Lower bound of the RTO; default 200 ms (RFC 6298 says 1 s; a virtual LAN's RTT is far below). */
  minRto: Millis.pipe(withDefault(200)),
  /** RTO before the first RTT sample; default 1 000 ms (RFC 6298 §2.1). */
  initialRto: Millis.pipe(withDefault(1_000)),
  /** Upper bound of the RTO; default 60 000 ms. */
  maxRto: Millis.pipe(withDefault(60_000)),
  /** Window scaling, RFC 7323 §2; default true. */
  windowScaling: Schema.Boolean.pipe(withDefault(true)),
  /** Timestamps and PAWS, RFC 7323 §3–5; default true. */
  timestamps: Schema.Boolean.pipe(withDefault(true)),
  /** SACK, RFC 2018 / RFC 6675; default true. */
  sack: Schema.Boolean.pipe(withDefault(true)),
  /** Out-of-order ranges kept per connection; default 32. */
  maxOutOfOrderRanges: int(1, 4096).pipe(withDefault(32)),
  /**
   * Out-of-order bytes held per connection, payload plus 64 bytes per stored segment; beyond it out-of-order segments
   * are dropped (counted, not SACKed). Default: the connection's receive buffer plus an eighth (a window of segments
   * of 512 bytes and more fits).
   */
  maxOutOfOrderBytes: Schema.optional(int(1024, 2 ** 30)),
  /**
   * Stack-wide limit of TCP buffer memory, bytes: send rings, receive rings and out-of-order storage of every
   * connection (Linux's `tcp_mem` hard limit). At the limit writes wait for memory and in-order data that would need
   * more is dropped (the peer retransmits it); see `memoryPressure`. Default 268 435 456 (256 MiB: 1000 busy
   * connections between two stacks stay below the pressure threshold).
   */
  memoryLimit: int(64 * 1024, 2 ** 40).pipe(withDefault(256 * 1024 * 1024)),
  /**
   * Fraction of `memoryLimit` from which the stack is under memory pressure: out-of-order data is dropped, receive
   * windows and send buffers stop growing, drained buffers are freed at once; it ends below 7/8 of it. Default 0.75.
   */
  memoryPressure: fraction.pipe(withDefault(0.75)),
  /** Fraction of `memoryLimit` that out-of-order data of all connections may hold together; default 0.25. */
  outOfOrderMemory: fraction.pipe(withDefault(0.25)),
  /** Challenge ACKs per second and connection, RFC 5961 §7; default 100. */
  challengeAckLimit: int(0, 1_000_000).pipe(withDefault(100)),
  /** Listen backlog: established connections waiting to be accepted, per listener; default 128. */
  backlog: int(1, 65535).pipe(withDefault(128)),
  /** Half-open (SYN-RECEIVED) connections per listener, 1..65535; default: the listener's `backlog`. */
  synBacklog: Schema.optional(int(1, 65535)),
  /**
   * SYN cookies (RFC 4987 §3.6): "auto" answers a SYN with a cookie, keeping no state, when the listener's half-open
   * queue is full; "always" for every SYN; "never" drops SYNs then. Default "auto". A cookie connection has no window
   * scaling and no SACK unless the peer uses timestamps, and its MSS is rounded down to a table (see `SynCookie.ts`).
   */
  synCookies: synCookies.pipe(withDefault("auto")),
  /** How long `close` waits for our FIN to be acknowledged before it aborts (RST); default 10 000 ms. */
  closeTimeout: Millis.pipe(withDefault(10_000)),
  /** How long a closed connection may stay in FIN-WAIT-2 waiting for the peer's FIN; default 30 000 ms. */
  finWait2Timeout: Millis.pipe(withDefault(30_000)),
})

/** A decoded TCP configuration: every default filled in, durations in milliseconds. */
export type TcpConfig = typeof TcpConfig.Type
/** A TCP configuration as a user writes it: every key optional, durations in ms or as `Duration` strings. */
export type TcpConfigInput = typeof TcpConfig.Encoded

/** Schema of the per-connection options of `connect` / `listen`: each field left out takes the layer's value. */
export const TcpSocketOptions: Schema.Struct<{
  readonly sendBufferSize: Schema.optional<Schema.Int>
  readonly receiveBufferSize: Schema.optional<Schema.Int>
  readonly mssClamp: Schema.optional<Schema.Int>
  readonly noDelay: Schema.optional<Schema.Boolean>
  readonly delayedAck: Schema.optional<Millis>
  readonly keepalive: Schema.optional<typeof TcpKeepaliveConfig>
  readonly congestion: Schema.optional<Schema.Literals<readonly ["newreno", "cubic"]>>
}> = Schema.Struct({
  /** Send buffer, bytes; default: the layer's `sendBufferSize`. */
  sendBufferSize: Schema.optional(bufferSize),
  /** Receive buffer, bytes; default: the layer's `receiveBufferSize`. */
  receiveBufferSize: Schema.optional(bufferSize),
  /** MSS clamp, 64..65495; default: the layer's `mssClamp`. */
  mssClamp: Schema.optional(mssClamp),
  /** Disable Nagle's algorithm; default: the layer's `noDelay`. */
  noDelay: Schema.optional(Schema.Boolean),
  /** Delayed-ACK timeout, 0..200 ms; default: the layer's `delayedAck`. */
  delayedAck: Schema.optional(delayedAck),
  /** Keepalive, replacing the layer's as a whole (its own fields default as in {@link TcpKeepaliveConfig}). */
  keepalive: Schema.optional(TcpKeepaliveConfig),
  /** Congestion control; default: the layer's `congestion`. */
  congestion: Schema.optional(congestion),
})

/** Decoded per-connection options (a field left out takes the layer's value). */
export type TcpSocketOptions = typeof TcpSocketOptions.Type
/** Per-connection options as a user writes them. */
export type TcpSocketOptionsInput = typeof TcpSocketOptions.Encoded

/** Options of `Tcp.connect`. */
export interface TcpConnectOptions extends TcpSocketOptionsInput {
  /** Local port (default: a random ephemeral port). */
  readonly localPort?: number
  /** Give up the handshake after this long (default: the layer's `connectTimeout`). */
  readonly timeout?: Duration.Input
}

/** Options of `Tcp.listen`. */
export interface TcpListenOptions extends TcpSocketOptionsInput {
  /** Established connections waiting to be accepted before SYNs are dropped (default: the layer's `backlog`). */
  readonly backlog?: number
  /** Half-open connections before SYN cookies (default: the layer's `synBacklog`, else this listener's `backlog`). */
  readonly synBacklog?: number
  /** SYN cookies: "auto", "always" or "never" (default: the layer's `synCookies`). */
  readonly synCookies?: "auto" | "always" | "never"
}

const socketKeys = Object.keys(TcpSocketOptions.fields)

/**
 * Decodes the socket options among `options` (the other keys of `connect` / `listen` options are not socket
 * options and are skipped): the decoded options, or a message naming the offending key.
 */
export const decodeSocketOptions = (options: object | undefined): Result.Result<TcpSocketOptions, string> => {
  if (options === undefined) return Result.succeed({})
  const picked: Record<string, unknown> = {}
  for (const k of socketKeys) {
    const v = (options as Record<string, unknown>)[k]
    if (v !== undefined) picked[k] = v
  }
  return decodeConfig(TcpSocketOptions, picked)
}

/**
 * The core's tunables of one connection: the socket options `o` over the layer's `config`, our MSS `mss` (from the
 * network: MTU minus the IP and TCP headers) and, when given, a connect timeout overriding the layer's.
 */
export const tcbConfigOf = (
  config: TcpConfig,
  mss: number,
  o: TcpSocketOptions = {},
  connectTimeoutMs?: number,
): TcbConfig => {
  const ka = o.keepalive ?? config.keepalive
  const recvBufferSize = o.receiveBufferSize ?? config.receiveBufferSize
  return {
    mss,
    mssClamp: o.mssClamp ?? config.mssClamp ?? 0,
    sendBufferSize: o.sendBufferSize ?? config.sendBufferSize,
    recvBufferSize,
    noDelay: o.noDelay ?? config.noDelay,
    delayedAckMs: o.delayedAck ?? config.delayedAck,
    keepalive: ka.enabled ? { idleMs: ka.idle, intervalMs: ka.interval, probes: ka.probes } : undefined,
    timeWaitMs: config.timeWait,
    maxRetransmits: config.maxRetransmits,
    maxSynRetransmits: config.maxSynRetransmits,
    connectTimeoutMs: connectTimeoutMs ?? config.connectTimeout,
    rtt: { initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto, granularity: 1 },
    congestion: o.congestion ?? config.congestion,
    initialWindow: config.initialWindow,
    windowScaling: config.windowScaling,
    timestamps: config.timestamps,
    sack: config.sack,
    maxOutOfOrderRanges: config.maxOutOfOrderRanges,
    maxOutOfOrderBytes: config.maxOutOfOrderBytes ?? recvBufferSize + (recvBufferSize >>> 3),
    challengeAckLimit: config.challengeAckLimit,
    closeTimeoutMs: config.closeTimeout,
    finWait2TimeoutMs: config.finWait2Timeout,
  }
}

/** The layer's configuration with nothing set: every default of {@link TcpConfig}. */
export const defaultTcpConfig: TcpConfig = Schema.decodeUnknownSync(TcpConfig)({})

/**
 * A core configuration with the layer's defaults on an MTU-1500 IPv4 link (MSS 1460), overridden by `partial`: for
 * driving a {@link Tcb} or {@link Listener} directly (tests, simulations of the core alone).
 */
export const makeTcbConfig = (partial: Partial<TcbConfig> = {}): TcbConfig => ({
  ...tcbConfigOf(defaultTcpConfig, 1460),
  ...partial,
})
