/**
 * The ICMPv4 service: answers echo requests, pings, sends rate-limited error messages on behalf of the other
 * layers, and reports the error messages it receives.
 *
 * Echo: a request addressed to this host is answered with the same identifier, sequence number and data (RFC 792),
 * whatever its code (RFC 792 says 0; like Linux, this host answers any code and copies it into the reply);
 * requests to a broadcast or multicast address are ignored and counted (RFC 1122 §3.2.2.6 allows it; Linux does the
 * same by default). `ping(dst)` sends one request and measures the round trip with `Clock` (nanosecond clock, so a
 * sub-millisecond RTT is not rounded to 0; under `TestClock` it is the virtual time). The timeout (default 10 s)
 * covers address resolution too; a failed ARP resolution, a "no route", or a Destination Unreachable quoting our
 * request fail the ping with `IcmpError` "Unreachable"; no reply in time fails it with "Timeout".
 *
 * Errors sent: `sendDestinationUnreachable(code, original)` quotes the original IPv4 header and the first 8 bytes of
 * its payload (RFC 792), and is never sent about an ICMP error, a datagram to a broadcast/multicast address, or from
 * an invalid source (RFC 1122 §3.2.2). Error messages pass through a token bucket (default 100 per second, bursts
 * of 50; RFC 1812 §4.3.2.8) driven by `Clock`; suppressed ones are counted. The IPv4 layer decides WHEN a datagram
 * went unwanted — a transport said "no endpoint" (UDP: closed port → "port unreachable", RFC 1122 §4.1.3.1) or no
 * transport is registered for its protocol — and calls the handler this layer registers with
 * `Ipv4.registerUnreachable`; "protocol unreachable" (RFC 1122 §3.2.2.1) is sent when `protocolUnreachable` is on
 * (default). Every message goes out through `Ipv4.transmit`, synchronously.
 *
 * Errors received: Destination Unreachable and Time Exceeded are counted, matched against pending pings, and handed
 * to the handler registered for the quoted datagram's protocol (`onError`), if any.
 *
 * Implements: RFC 792 (echo, destination unreachable, time exceeded), RFC 1122 §3.2.2 (when not to send errors,
 * echo server), RFC 1812 §4.3.2.8 (rate limiting).
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import type { IpError } from "../ip/Ip.ts"
import { Ipv4, type Ipv4Datagram, type Ipv4Error } from "../ipv4/Ipv4.ts"
import { isGroupDestination } from "../ipv4/Routing.ts"
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { IpProtocol, Ipv4Packet } from "../wire/Ipv4.ts"
import { Icmpv4DstUnreachableCode, Icmpv4Packet, Icmpv4Repr } from "../wire/Icmpv4.ts"
import { TokenBucket } from "./TokenBucket.ts"
import { decodeLayerConfig } from "../util/Config.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import { IcmpConfig, type IcmpConfigInput } from "./IcmpConfig.ts"
import { toEffect } from "../util/Transmit.ts"

export {
  IcmpConfig,
  type IcmpConfigFields,
  type IcmpConfigInput,
  IcmpRateLimit,
  type IcmpRateLimitFields,
} from "./IcmpConfig.ts"

/** Options of one `ping`. */
export interface PingOptions {
  /** How long to wait for the reply, address resolution included (default 10 seconds). */
  readonly timeout?: Duration.Input
  /** Bytes of echo data (default 56, like ping(8)). */
  readonly size?: number
  /** Echo identifier (default: one random identifier per ICMP service). */
  readonly ident?: number
  /** Time to live of the request (default: the IPv4 default). */
  readonly ttl?: number
}

/** A received ICMP error message, as given to `onError` handlers. */
export interface IcmpErrorMessage {
  /** `"DstUnreachable"` (type 3) or `"TimeExceeded"` (type 11). */
  readonly type: "DstUnreachable" | "TimeExceeded"
  /** The code. */
  readonly code: number
  /** Who sent the error. */
  readonly from: Ipv4Address
  /** Source of the quoted (original) datagram. */
  readonly originalSrc: Ipv4Address
  /** Destination of the quoted datagram. */
  readonly originalDst: Ipv4Address
  /** Protocol of the quoted datagram. */
  readonly originalProtocol: number
  /** The quoted payload bytes (at least the first 8: ports, or echo identifier/sequence), a copy. */
  readonly originalData: Uint8Array
}

/** A handler of received ICMP error messages. */
export type IcmpErrorHandler = (message: IcmpErrorMessage) => Effect.Effect<void>

/** Counters of the ICMP layer (a snapshot). */
export interface IcmpStats {
  /** Echo requests received (and addressed to us). */
  readonly echoRequestsReceived: number
  /** Echo replies sent. */
  readonly echoRepliesSent: number
  /** Echo requests sent by `ping`. */
  readonly echoRequestsSent: number
  /** Echo replies received that matched a pending ping. */
  readonly echoRepliesReceived: number
  /** Echo replies that matched no pending ping (late, duplicate or foreign) or whose data differed. */
  readonly unmatchedReplies: number
  /** Echo requests to a broadcast/multicast address, ignored. */
  readonly broadcastEchoIgnored: number
  /** Error messages sent. */
  readonly errorsSent: number
  /** Error messages suppressed by the rate limit. */
  readonly errorsRateLimited: number
  /** Error messages not sent because the rules forbid it (about an ICMP error, a broadcast, a bad source). */
  readonly errorsNotAllowed: number
  /** Destination Unreachable messages received. */
  readonly dstUnreachableReceived: number
  /** Time Exceeded messages received. */
  readonly timeExceededReceived: number
  /** Messages dropped for a bad checksum. */
  readonly badChecksum: number
  /** Messages dropped as truncated or of an unsupported type/code. */
  readonly malformed: number
}

/** The ICMP service. */
export interface IcmpShape {
  /** Pings `dst` once; succeeds with the round-trip time in milliseconds. */
  readonly ping: (dst: Ipv4Address, options?: PingOptions) => Effect.Effect<number, IcmpError>
  /** Sends a Destination Unreachable about `original` (rate-limited; silently not sent when the rules forbid it). */
  readonly sendDestinationUnreachable: (code: number, original: Ipv4Datagram) => Effect.Effect<void>
  /** Sends a Time Exceeded about `original` (same rules as `sendDestinationUnreachable`). */
  readonly sendTimeExceeded: (code: number, original: Ipv4Datagram) => Effect.Effect<void>
  /** Registers the handler of received errors about datagrams of `protocol`, for the current Scope. */
  readonly onError: (protocol: number, handler: IcmpErrorHandler) => Effect.Effect<void, never, Scope.Scope>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<IcmpStats>
  /** Sets the counters back to zero. */
  readonly resetStats: Effect.Effect<void>
}

/** The service key base of {@link Icmp}: `Context.Service` with its type spelled out (JSR explicit types). */
export const IcmpBase: Context.ServiceClass<Icmp, "vnetif/Icmp", IcmpShape> = Context.Service<Icmp, IcmpShape>()(
  "vnetif/Icmp",
)

/** The ICMP layer of one stack. */
export class Icmp extends IcmpBase {
  /** Builds the service on the current {@link Ipv4}; an invalid `config` fails with `IcmpError` "InvalidConfig". */
  static readonly make: (config?: IcmpConfigInput) => Effect.Effect<IcmpShape, IcmpError, Ipv4 | Scope.Scope> = (
    config,
  ) => make(config ?? {})
  /** A Layer providing {@link Icmp}; needs {@link Ipv4}. */
  static readonly layer: (config?: IcmpConfigInput) => Layer.Layer<Icmp, IcmpError, Ipv4> = (config) =>
    layer(config ?? {})
}

/** Why an ICMP operation failed. */
export type IcmpErrorReason = "Timeout" | "Unreachable" | "InvalidArgument" | "SendFailed" | "InvalidConfig"

/** The fields of {@link IcmpError}. */
export interface IcmpErrorFields {
  /** Which kind of failure this is. */
  readonly reason: IcmpErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link IcmpError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const IcmpErrorBase: TaggedErrorClass<"IcmpError", IcmpErrorFields> = Data.TaggedError("IcmpError")<
  IcmpErrorFields
>

/** The ICMP layer's error. */
export class IcmpError extends IcmpErrorBase {}

/** Default ping timeout in milliseconds. */
export const PING_DEFAULT_TIMEOUT_MS = 10_000
/** Default ping data size in bytes. */
export const PING_DEFAULT_SIZE = 56

const ICMPV4_HEADER_LEN = 8
/** Most bytes of echo data `ping` sends: the largest IPv4 payload minus the ICMP header. */
const MAX_PING_SIZE = 65535 - 20 - ICMPV4_HEADER_LEN

interface PendingPing {
  readonly deferred: Deferred.Deferred<bigint, IcmpError>
  readonly data: Uint8Array
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const make = (input: IcmpConfigInput): Effect.Effect<IcmpShape, IcmpError, Ipv4 | Scope.Scope> =>
  Effect.gen(function* () {
    const config: IcmpConfig = yield* decodeLayerConfig(
      IcmpConfig,
      input,
      "ICMP",
      (message) => new IcmpError({ reason: "InvalidConfig", message }),
    )
    const ipv4 = yield* Ipv4
    const clock = yield* Clock.Clock
    const caps = ipv4.checksum
    const route = ipv4.route
    const bucket = new TokenBucket({
      ratePerSecond: config.rateLimit.perSecond,
      burst: config.rateLimit.burst,
    })
    const defaultIdent = yield* Random.nextIntBetween(0, 0xffff)
    let seq = 0
    const pending = new Map<number, PendingPing>()
    const errorHandlers = new Map<number, IcmpErrorHandler>()
    const c = {
      echoRequestsReceived: 0,
      echoRepliesSent: 0,
      echoRequestsSent: 0,
      echoRepliesReceived: 0,
      unmatchedReplies: 0,
      broadcastEchoIgnored: 0,
      errorsSent: 0,
      errorsRateLimited: 0,
      errorsNotAllowed: 0,
      dstUnreachableReceived: 0,
      timeExceededReceived: 0,
      badChecksum: 0,
      malformed: 0,
    }

    /** Sends one ICMP message: the synchronous path. */
    const send = (dst: Ipv4Address, repr: Icmpv4Repr, ttl?: number): IpError | undefined =>
      ipv4.transmit(
        dst,
        IpProtocol.Icmp,
        Icmpv4Repr.bufferLen(repr),
        (buf) => Icmpv4Repr.emit(repr, buf, caps),
        ttl === undefined ? undefined : { ttl },
      )

    /** Handles a received error message: match a pending ping, count, dispatch to `onError`. */
    const receivedError = (
      type: "DstUnreachable" | "TimeExceeded",
      code: number,
      from: Ipv4Address,
      quoted: Uint8Array,
    ): Effect.Effect<void> => {
      if (type === "DstUnreachable") c.dstUnreachableReceived++
      else c.timeExceededReceived++
      if (quoted.length < 20) return Effect.void
      const ip = new Ipv4Packet(quoted) // unchecked: the quote is truncated by design
      const hl = ip.headerLen()
      if (ip.version() !== 4 || hl < 20 || hl > quoted.length) return Effect.void
      const inner = quoted.subarray(hl)
      const protocol = ip.protocol()
      if (protocol === IpProtocol.Icmp && inner.length >= ICMPV4_HEADER_LEN && inner[0] === 8) {
        const echo = new Icmpv4Packet(inner)
        const key = (echo.echoIdent() << 16 | echo.echoSeqNo()) >>> 0
        const p = pending.get(key)
        if (p !== undefined) {
          pending.delete(key)
          Deferred.doneUnsafe(
            p.deferred,
            Effect.fail(
              new IcmpError({
                reason: "Unreachable",
                message: `${Ipv4Address.format(ip.dstAddr())}: ${
                  type === "DstUnreachable" ? "destination unreachable" : "time exceeded"
                } (code ${code}) from ${Ipv4Address.format(from)}`,
              }),
            ),
          )
        }
      }
      const h = errorHandlers.get(protocol)
      if (h === undefined) return Effect.void
      return h({
        type,
        code,
        from,
        originalSrc: ip.srcAddr(),
        originalDst: ip.dstAddr(),
        originalProtocol: protocol,
        originalData: inner.slice(),
      })
    }

    const receive = (d: Ipv4Datagram): Effect.Effect<void> => {
      const packet = Icmpv4Packet.parse(d.payload)
      const parsed = Result.isSuccess(packet) ? Icmpv4Repr.parse(packet.success, caps) : undefined
      if (parsed === undefined || Result.isFailure(parsed)) {
        if (parsed !== undefined && parsed.failure.reason === "BadChecksum") c.badChecksum++
        else c.malformed++
        return Effect.void
      }
      const m = parsed.success
      switch (m._tag) {
        case "EchoRequest": {
          if (d.dst !== route.address) {
            c.broadcastEchoIgnored++
            return Effect.void
          }
          c.echoRequestsReceived++
          c.echoRepliesSent++
          // any code is answered, and copied into the reply, as Linux does (RFC 792 says 0; be liberal)
          send(d.src, { _tag: "EchoReply", code: m.code ?? 0, ident: m.ident, seqNo: m.seqNo, data: m.data })
          return Effect.void
        }
        case "EchoReply": {
          const key = (m.ident << 16 | m.seqNo) >>> 0
          const p = pending.get(key)
          if (p === undefined || !sameBytes(p.data, m.data)) {
            c.unmatchedReplies++
            return Effect.void
          }
          pending.delete(key)
          c.echoRepliesReceived++
          Deferred.doneUnsafe(p.deferred, Effect.succeed(clock.currentTimeNanosUnsafe()))
          return Effect.void
        }
        case "DstUnreachable":
        case "TimeExceeded":
          return receivedError(m._tag, m.code, d.src, m.data)
      }
    }

    /** RFC 1122 §3.2.2: may an error be sent about `original`? */
    const errorAllowed = (original: Ipv4Datagram): boolean => {
      if (isGroupDestination(route, original.dst)) return false
      const src = original.src
      if (
        Ipv4Address.isUnspecified(src) || Ipv4Address.isBroadcast(src) || Ipv4Address.isMulticast(src) ||
        src === route.broadcast || (src >>> 28) === 0xf
      ) return false
      if (original.protocol === IpProtocol.Icmp) {
        const t = original.payload.length > 0 ? original.payload[0] : -1
        // only echo request/reply (and other informational types) may be answered with an error
        if (t !== 0 && t !== 8 && t !== 13 && t !== 14 && t !== 15 && t !== 16 && t !== 17 && t !== 18) return false
      }
      return true
    }

    /** Sends an error about `original` now, unless the rules or the rate limit forbid it (then it is counted). */
    const sendError = (tag: "DstUnreachable" | "TimeExceeded", code: number, original: Ipv4Datagram): void => {
      if (!errorAllowed(original)) {
        c.errorsNotAllowed++
        return
      }
      if (!bucket.take(clock.currentTimeMillisUnsafe())) {
        c.errorsRateLimited++
        return
      }
      const quoteLen = original.header.length + Math.min(8, original.payload.length)
      const data = new Uint8Array(quoteLen)
      data.set(original.header, 0)
      data.set(original.payload.subarray(0, quoteLen - original.header.length), original.header.length)
      c.errorsSent++
      send(original.src, { _tag: tag, code, data })
    }

    const ping = (dst: Ipv4Address, options?: PingOptions): Effect.Effect<number, IcmpError> =>
      Effect.suspend(() => {
        const size = options?.size ?? PING_DEFAULT_SIZE
        if (!Number.isInteger(size) || size < 0 || size > MAX_PING_SIZE) {
          return Effect.fail(
            new IcmpError({ reason: "InvalidArgument", message: `ping size must be 0..${MAX_PING_SIZE}, got ${size}` }),
          )
        }
        const ident = options?.ident ?? defaultIdent
        if (!Number.isInteger(ident) || ident < 0 || ident > 0xffff) {
          return Effect.fail(
            new IcmpError({ reason: "InvalidArgument", message: `ping ident must be 0..65535, got ${ident}` }),
          )
        }
        const timeout = options?.timeout ?? PING_DEFAULT_TIMEOUT_MS
        let seqNo = seq
        seq = (seq + 1) & 0xffff
        let key = (ident << 16 | seqNo) >>> 0
        for (let tries = 0; pending.has(key) && tries < 0x10000; tries++) {
          seqNo = seq
          seq = (seq + 1) & 0xffff
          key = (ident << 16 | seqNo) >>> 0
        }
        const data = new Uint8Array(size)
        for (let i = 0; i < size; i++) data[i] = (seqNo + i) & 0xff
        const deferred = Deferred.makeUnsafe<bigint, IcmpError>()
        const unreachable = (e: Ipv4Error | IpError): IcmpError =>
          new IcmpError({
            reason: e.reason === "ArpTimeout" || e.reason === "NoRoute" ? "Unreachable" : "SendFailed",
            message: `ping ${Ipv4Address.format(dst)}: ${e.message}`,
          })
        const run = Effect.gen(function* () {
          yield* Effect.mapError(ipv4.resolve(dst), unreachable)
          const start = clock.currentTimeNanosUnsafe()
          pending.set(key, { deferred, data })
          c.echoRequestsSent++
          yield* Effect.mapError(
            toEffect(send(dst, { _tag: "EchoRequest", ident, seqNo, data }, options?.ttl)),
            unreachable,
          )
          const end = yield* Deferred.await(deferred)
          return Number(end - start) / 1e6
        })
        return run.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(
                new IcmpError({
                  reason: "Timeout",
                  message: `no echo reply from ${Ipv4Address.format(dst)} within ${
                    Duration.format(Duration.fromInputUnsafe(timeout))
                  }`,
                }),
              ),
          }),
          Effect.ensuring(Effect.sync(() => {
            if (pending.get(key)?.deferred === deferred) pending.delete(key)
          })),
        )
      })

    const protocolUnreachable = config.protocolUnreachable ?? true
    /** The IPv4 layer's "nobody wants this datagram" hook (it only calls it for datagrams to our unicast address). */
    const onUnreachable = (code: number, d: Ipv4Datagram): void => {
      if (code === Icmpv4DstUnreachableCode.ProtocolUnreachable && !protocolUnreachable) return
      sendError("DstUnreachable", code, d)
    }

    yield* ipv4.register(IpProtocol.Icmp, receive)
    yield* ipv4.registerUnreachable(onUnreachable)

    return {
      ping,
      sendDestinationUnreachable: (code, original) => Effect.sync(() => sendError("DstUnreachable", code, original)),
      sendTimeExceeded: (code, original) => Effect.sync(() => sendError("TimeExceeded", code, original)),
      onError: (protocol, handler) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            errorHandlers.set(protocol, handler)
          }),
          () =>
            Effect.sync(() => {
              if (errorHandlers.get(protocol) === handler) errorHandlers.delete(protocol)
            }),
        ),
      stats: Effect.sync(() => ({ ...c })),
      resetStats: Effect.sync(() => {
        for (const k of Object.keys(c) as Array<keyof typeof c>) c[k] = 0
      }),
    }
  })

const layer = (config: IcmpConfigInput): Layer.Layer<Icmp, IcmpError, Ipv4> => Layer.effect(Icmp, make(config))
