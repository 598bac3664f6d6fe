/**
 * The UDP service: sockets bound to local ports, datagram send and receive, and "port unreachable" for closed
 * ports.
 *
 * Sockets: `bind(port)` reserves a local port for the lifetime of the current Scope (closing the scope unbinds it
 * and ends its receive stream); `bind(0)` picks an ephemeral port at random (Effect's `Random`, so a seeded test
 * replays exactly) in 49152–65535 (RFC 6335 §6), retrying on collision. A port already bound fails with `UdpError`
 * "AddressInUse". Each socket has a bounded receive queue (default 1024 datagrams): a full queue drops the new
 * datagram and counts it (like a kernel socket buffer). `listen(port, handler)` runs a handler per datagram on a
 * fiber of its own, so a slow handler never stalls the stack's reader.
 *
 * Receive (on the device's reader fiber, plain TypeScript per datagram): length checks, then the checksum through
 * the wire codec when the device's capabilities say verify — a received checksum of 0 means "not computed" and is
 * accepted, a wrong one is dropped and counted (RFC 768, RFC 1122 §4.1.3.4). The datagram data is copied once,
 * into a buffer the receiver owns. For a port nobody bound the handler returns `NoEndpoint`: the network layer
 * answers it ("port unreachable" over IPv4, RFC 1122 §4.1.3.1, rate-limited by ICMP); UDP knows no ICMP.
 *
 * Written against the version-neutral `Ip` contract only (`ip/Ip.ts`; nothing from `ipv4/`): endpoints are
 * `IpAddress`es. Send: one synchronous `Ip.transmit` with an in-place fill (header + data + checksum over the
 * pseudo-header of the source `Ip.source(dst)`; a computed 0 is sent as 0xffff); the network layer fragments
 * datagrams above the MTU and refuses those above its maximum ("MessageTooLong": 65507 data bytes over IPv4).
 *
 * Implements: RFC 768, RFC 1122 §4.1 (UDP requirements), RFC 6335 §6 (ephemeral port range).
 *
 * @module
 */
import type * as Cause from "effect/Cause"
import type * as Scope from "effect/Scope"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { Ip, type IpDatagram, type IpError, NoEndpoint } from "../ip/Ip.ts"
import { IpAddress } from "../wire/IpAddress.ts"
import { IpProtocol } from "../wire/IpProtocol.ts"
import { UDP_HEADER_LEN, UdpPacket, UdpRepr } from "../wire/Udp.ts"
import { decodeLayerConfig } from "../util/Config.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import { UdpConfig, type UdpConfigInput } from "./UdpConfig.ts"

export { UdpConfig, type UdpConfigFields, type UdpConfigInput } from "./UdpConfig.ts"

/** A received datagram. `data` is a copy the receiver owns. */
export interface UdpDatagram {
  /** Source address. */
  readonly src: IpAddress
  /** Source port (0 if the sender gave none). */
  readonly srcPort: number
  /** Destination address (ours, or a broadcast). */
  readonly dst: IpAddress
  /** Destination port (the socket's). */
  readonly dstPort: number
  /** The data. */
  readonly data: Uint8Array
}

/** A bound UDP socket; it lives as long as the Scope it was bound in. */
export interface UdpSocket {
  /** The local port. */
  readonly localPort: number
  /** Sends `data` from this socket's port to `dst:dstPort`. The bytes are copied into the frame. */
  readonly send: (dst: IpAddress, dstPort: number, data: Uint8Array) => Effect.Effect<void, UdpError>
  /** The received datagrams; the stream ends when the socket is closed. */
  readonly receive: Stream.Stream<UdpDatagram>
  /** Waits for the next datagram; fails with "Closed" once the socket is closed. */
  readonly take: Effect.Effect<UdpDatagram, UdpError>
  /** Datagrams dropped because this socket's queue was full. */
  readonly dropped: Effect.Effect<number>
}

/** A datagram handler of `listen`. */
export type UdpHandler = (datagram: UdpDatagram, socket: UdpSocket) => Effect.Effect<void>

/** Counters of the UDP layer (a snapshot). */
export interface UdpStats {
  /** Datagrams received from the network layer. */
  readonly rxDatagrams: number
  /** Datagrams queued to a socket. */
  readonly rxDelivered: number
  /** Datagrams sent. */
  readonly txDatagrams: number
  /** Datagrams that failed to send. */
  readonly txErrors: number
  /** Datagrams dropped for a bad checksum. */
  readonly badChecksum: number
  /** Datagrams dropped as truncated or malformed. */
  readonly malformed: number
  /** Datagrams for a port nobody bound (answered with ICMP port unreachable when unicast). */
  readonly noPort: number
  /** Datagrams dropped because the socket's queue was full. */
  readonly queueOverflows: number
}

/** The UDP service. */
export interface UdpShape {
  /** Binds `port` (0 = an ephemeral port) for the lifetime of the current Scope. */
  readonly bind: (port: number) => Effect.Effect<UdpSocket, UdpError, Scope.Scope>
  /** Binds `port` and runs `handler` for each datagram on a fiber of the current Scope. */
  readonly listen: (port: number, handler: UdpHandler) => Effect.Effect<UdpSocket, UdpError, Scope.Scope>
  /** Sends one datagram from `srcPort` (which need not be bound) to `dst:dstPort`. */
  readonly send: (
    srcPort: number,
    dst: IpAddress,
    dstPort: number,
    data: Uint8Array,
  ) => Effect.Effect<void, UdpError>
  /** The ports currently bound, ascending. */
  readonly boundPorts: Effect.Effect<ReadonlyArray<number>>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<UdpStats>
  /** Sets the counters back to zero. */
  readonly resetStats: Effect.Effect<void>
}

/** The service key base of {@link Udp}: `Context.Service` with its type spelled out (JSR explicit types). */
export const UdpBase: Context.ServiceClass<Udp, "vnetif/Udp", UdpShape> = Context.Service<Udp, UdpShape>()(
  "vnetif/Udp",
)

/** The UDP layer of one stack. */
export class Udp extends UdpBase {
  /** Builds the service on the current {@link Ip}; a bad `config` fails with "InvalidConfig". */
  static readonly make: (config?: UdpConfigInput) => Effect.Effect<UdpShape, UdpError, Ip | Scope.Scope> = (
    config,
  ) => make(config ?? {})
  /** A Layer providing {@link Udp}; needs {@link Ip}. */
  static readonly layer: (config?: UdpConfigInput) => Layer.Layer<Udp, UdpError, Ip> = (config) => layer(config ?? {})
}

/** Why a UDP operation failed. */
export type UdpErrorReason =
  | "AddressInUse"
  | "InvalidPort"
  | "MessageTooLong"
  | "NoRoute"
  | "Closed"
  | "SendFailed"
  | "InvalidConfig"

/** The fields of {@link UdpError}. */
export interface UdpErrorFields {
  /** Which kind of failure this is. */
  readonly reason: UdpErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link UdpError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const UdpErrorBase: TaggedErrorClass<"UdpError", UdpErrorFields> = Data.TaggedError("UdpError")<UdpErrorFields>

/** The UDP layer's error. */
export class UdpError extends UdpErrorBase {}

/** First ephemeral port (RFC 6335 §6). */
export const EPHEMERAL_PORT_MIN = 49152
/** Last ephemeral port. */
export const EPHEMERAL_PORT_MAX = 65535
/** Largest UDP data over IPv4: 65535 − 20 (IPv4 header) − 8 (UDP header). */
export const UDP_MAX_DATA = 65535 - 20 - UDP_HEADER_LEN
/** Largest data the UDP length field can describe (65535 − 8); the network layer may allow less (`UDP_MAX_DATA`). */
const UDP_LENGTH_MAX_DATA = 65535 - UDP_HEADER_LEN

interface Binding {
  readonly queue: Queue.Queue<UdpDatagram, Cause.Done>
  dropped: number
}

const isPort = (p: number): boolean => Number.isInteger(p) && p >= 1 && p <= 65535

const fromIpError = (e: IpError): UdpError =>
  new UdpError({
    reason: e.reason === "NoRoute" ? "NoRoute" : e.reason === "MessageTooLong" ? "MessageTooLong" : "SendFailed",
    message: e.message,
  })

const make = (input: UdpConfigInput): Effect.Effect<UdpShape, UdpError, Ip | Scope.Scope> =>
  Effect.gen(function* () {
    const config: UdpConfig = yield* decodeLayerConfig(
      UdpConfig,
      input,
      "UDP",
      (message) => new UdpError({ reason: "InvalidConfig", message }),
    )
    const ip = yield* Ip
    const caps = ip.checksum
    const queueSize = config.queueSize
    const bindings = new Map<number, Binding>()
    const c = {
      rxDatagrams: 0,
      rxDelivered: 0,
      txDatagrams: 0,
      txErrors: 0,
      badChecksum: 0,
      malformed: 0,
      noPort: 0,
      queueOverflows: 0,
    }

    const receive = (d: IpDatagram): Effect.Effect<void> | NoEndpoint => {
      c.rxDatagrams++
      const packet = UdpPacket.parse(d.payload)
      const parsed = Result.isSuccess(packet)
        ? UdpRepr.parse(packet.success, ip.pseudoHeaderSum(d.src, d.dst, IpProtocol.Udp, packet.success.length()), caps)
        : undefined
      if (parsed === undefined || Result.isFailure(parsed)) {
        if (parsed !== undefined && parsed.failure.reason === "BadChecksum") c.badChecksum++
        else c.malformed++
        return Effect.void
      }
      const r = parsed.success
      const b = bindings.get(r.dstPort)
      if (b === undefined) {
        c.noPort++
        return NoEndpoint
      }
      const datagram: UdpDatagram = {
        src: d.src,
        srcPort: r.srcPort,
        dst: d.dst,
        dstPort: r.dstPort,
        data: r.payload.slice(),
      }
      if (Queue.offerUnsafe(b.queue, datagram)) {
        c.rxDelivered++
      } else {
        c.queueOverflows++
        b.dropped++
      }
      return Effect.void
    }

    const send = (
      srcPort: number,
      dst: IpAddress,
      dstPort: number,
      data: Uint8Array,
    ): Effect.Effect<void, UdpError> =>
      Effect.suspend(() => {
        if (!isPort(dstPort) || !(Number.isInteger(srcPort) && srcPort >= 0 && srcPort <= 65535)) {
          c.txErrors++
          return Effect.fail(
            new UdpError({
              reason: "InvalidPort",
              message: `ports must be integers (source 0..65535, destination 1..65535), got ${srcPort} → ${dstPort}`,
            }),
          )
        }
        if (data.length > UDP_LENGTH_MAX_DATA) {
          c.txErrors++
          return Effect.fail(
            new UdpError({
              reason: "MessageTooLong",
              message: `UDP data of ${data.length} bytes exceeds the maximum of ${UDP_LENGTH_MAX_DATA}`,
            }),
          )
        }
        const src = ip.source(dst)
        if (src === undefined) {
          c.txErrors++
          return Effect.fail(new UdpError({ reason: "NoRoute", message: `no route to ${IpAddress.format(dst)}` }))
        }
        const repr: UdpRepr = { srcPort, dstPort, payload: data }
        const len = UDP_HEADER_LEN + data.length
        const pseudo = ip.pseudoHeaderSum(src, dst, IpProtocol.Udp, len)
        const e = ip.transmit(dst, IpProtocol.Udp, len, (buf) => UdpRepr.emit(repr, buf, pseudo, caps), { src })
        if (e === undefined) {
          c.txDatagrams++
          return Effect.void
        }
        c.txErrors++
        return Effect.fail(fromIpError(e))
      })

    const pickEphemeral = Effect.gen(function* () {
      for (let i = 0; i < 16; i++) {
        const p = yield* Random.nextIntBetween(EPHEMERAL_PORT_MIN, EPHEMERAL_PORT_MAX)
        if (!bindings.has(p)) return p
      }
      const start = yield* Random.nextIntBetween(EPHEMERAL_PORT_MIN, EPHEMERAL_PORT_MAX)
      const n = EPHEMERAL_PORT_MAX - EPHEMERAL_PORT_MIN + 1
      for (let i = 0; i < n; i++) {
        const p = EPHEMERAL_PORT_MIN + ((start - EPHEMERAL_PORT_MIN + i) % n)
        if (!bindings.has(p)) return p
      }
      return yield* new UdpError({
        reason: "AddressInUse",
        message: `all ${n} ephemeral ports (${EPHEMERAL_PORT_MIN}-${EPHEMERAL_PORT_MAX}) are in use`,
      })
    })

    const bind = (port: number): Effect.Effect<UdpSocket, UdpError, Scope.Scope> =>
      Effect.gen(function* () {
        if (port !== 0 && !isPort(port)) {
          return yield* new UdpError({ reason: "InvalidPort", message: `port must be 0..65535, got ${port}` })
        }
        const queue = yield* Queue.dropping<UdpDatagram, Cause.Done>(queueSize)
        const binding: Binding = { queue, dropped: 0 }
        const localPort = yield* Effect.acquireRelease(
          Effect.gen(function* () {
            const p = port === 0 ? yield* pickEphemeral : port
            if (bindings.has(p)) {
              return yield* new UdpError({ reason: "AddressInUse", message: `UDP port ${p} is already bound` })
            }
            bindings.set(p, binding)
            return p
          }),
          (p) =>
            Effect.sync(() => {
              if (bindings.get(p) === binding) bindings.delete(p)
              Queue.endUnsafe(queue)
            }),
        )
        const socket: UdpSocket = {
          localPort,
          send: (dst, dstPort, data) => send(localPort, dst, dstPort, data),
          receive: Stream.fromQueue(queue),
          take: Effect.catch(
            Queue.take(queue),
            () => Effect.fail(new UdpError({ reason: "Closed", message: `UDP socket on port ${localPort} is closed` })),
          ),
          dropped: Effect.sync(() => binding.dropped),
        }
        return socket
      })

    const listen = (port: number, handler: UdpHandler): Effect.Effect<UdpSocket, UdpError, Scope.Scope> =>
      Effect.gen(function* () {
        const socket = yield* bind(port)
        const b = bindings.get(socket.localPort)!
        const loop = Effect.gen(function* () {
          while (true) {
            const batch = yield* Queue.takeAll(b.queue)
            for (const d of batch) yield* handler(d, socket)
          }
        })
        yield* Effect.forkScoped(Effect.catch(loop, () => Effect.void))
        return socket
      })

    yield* ip.register(IpProtocol.Udp, receive)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const b of bindings.values()) Queue.endUnsafe(b.queue)
        bindings.clear()
      })
    )

    return {
      bind,
      listen,
      send,
      boundPorts: Effect.sync(() => [...bindings.keys()].sort((a, b) => a - b)),
      stats: Effect.sync(() => ({ ...c })),
      resetStats: Effect.sync(() => {
        for (const k of Object.keys(c) as Array<keyof typeof c>) c[k] = 0
      }),
    }
  })

const layer = (config: UdpConfigInput): Layer.Layer<Udp, UdpError, Ip> => Layer.effect(Udp, make(config))
