/**
 * The IPv4 service of one interface: sends datagrams (fragmenting them to the MTU), routes them on-link or through
 * the gateway, receives and reassembles datagrams, and demultiplexes them by protocol to the handlers that upper
 * layers (ICMP, UDP, TCP) register.
 *
 * Outbound (`write`): the caller gives the payload length and a `fill` callback. A datagram that fits the MTU is
 * built in ONE frame buffer (Ethernet header, IPv4 header, then `fill` writes the payload in place). A larger one
 * is filled once into a scratch buffer and copied into fragments of `floor((mtu − 20) / 8) × 8` payload bytes,
 * unless `dontFragment` is set (→ `Ipv4Error` "MessageTooLong"). Every datagram gets the next value of a per-stack
 * identification counter (starting at a random value). Unicast next hops go through `Arp.output` (a cache miss
 * queues the frame and returns; see `arp/Arp.ts`); broadcast and multicast map directly to a group MAC; datagrams
 * to this host's own address or 127/8 are delivered locally without touching the wire.
 *
 * Inbound (on the device's reader fiber, plain TypeScript per packet): version/length checks and the header
 * checksum (when the device's capabilities say verify) — failures are dropped and counted, never errors; trailing
 * bytes after the total length are ignored; datagrams not addressed to us (own address, limited or directed
 * broadcast, 224.0.0.1) and datagrams with an invalid source (broadcast, multicast, class E) are dropped and
 * counted; fragments go to the reassembler (`Reassembly.ts`), whose timer runs on a fiber that sleeps until the
 * oldest datagram's deadline. The TTL of received datagrams is not checked (RFC 1122 §3.2.1.7: a host must not
 * discard a datagram just because its TTL is below 2); a TTL of 0 is refused on send.
 *
 * Handlers get an {@link Ipv4Datagram} whose `payload` and `header` are read-only and valid only during the call
 * (a subarray of the received frame, or the reassembled buffer); copy what you keep.
 *
 * Implements: RFC 791 §3.1–§3.2 (header, fragmentation, reassembly), RFC 1122 §3.2.1 (a host silently discards bad
 * versions, bad checksums, datagrams not for it; §3.2.1.3 invalid source addresses; §3.2.1.7 TTL; §3.3.1 routing
 * to a gateway; §3.3.2 reassembly), RFC 894 (IPv4 over Ethernet), RFC 6864 (identification per datagram).
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import { Arp, type ArpError } from "../arp/Arp.ts"
import { Ethernet, type EthernetError } from "../ethernet/Ethernet.ts"
import type { ChecksumCapabilities } from "../wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EtherType } from "../wire/Ethernet.ts"
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../wire/Ipv4.ts"
import type { MacAddress } from "../wire/MacAddress.ts"
import { Reassembler, type ReassemblyStats } from "./Reassembly.ts"
import {
  acceptsDestination,
  isBadSource,
  makeRoute,
  type NextHop,
  nextHop,
  type Route,
  validateRoute,
} from "./Routing.ts"
import { decodeConfig } from "../util/Config.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import { Ipv4Config, type Ipv4ConfigInput } from "./Ipv4Config.ts"

export {
  Ipv4AddressInput,
  Ipv4CidrInput,
  type Ipv4CidrValue,
  Ipv4Config,
  type Ipv4ConfigFields,
  type Ipv4ConfigInput,
} from "./Ipv4Config.ts"

/** A received datagram, as handed to an upper-layer handler. `payload` and `header` are read-only and short-lived. */
export interface Ipv4Datagram {
  /** Source address. */
  readonly src: Ipv4Address
  /** Destination address (ours, a broadcast, or 224.0.0.1). */
  readonly dst: Ipv4Address
  /** Protocol number. */
  readonly protocol: number
  /** Time to live as received. */
  readonly ttl: number
  /** Identification field. */
  readonly identification: number
  /** The payload (whole datagram after reassembly), trimmed to the total length. */
  readonly payload: Uint8Array
  /** The raw IPv4 header as received (with options; of the first fragment after reassembly), for ICMP quoting. */
  readonly header: Uint8Array
}

/** Options of one `write`. */
export interface Ipv4WriteOptions {
  /** Time to live, 1..255 (default: the configured `defaultTtl`, 64). */
  readonly ttl?: number
  /** Set the DF flag: a datagram larger than the MTU then fails with "MessageTooLong" instead of fragmenting. */
  readonly dontFragment?: boolean
  /** Source address (default: this interface's address). */
  readonly src?: Ipv4Address
}

/** An upper-layer receive handler. */
export type Ipv4Handler = (datagram: Ipv4Datagram) => Effect.Effect<void>

/** Counters of the IPv4 layer (a snapshot). */
export interface Ipv4Stats {
  /** Packets received from Ethernet. */
  readonly rxPackets: number
  /** Datagrams handed to a protocol handler. */
  readonly rxDelivered: number
  /** Datagrams sent (each counts once, however many fragments). */
  readonly txDatagrams: number
  /** Frames sent (fragments count one each). */
  readonly txFrames: number
  /** Datagrams that failed to send. */
  readonly txErrors: number
  /** Packets dropped for a bad header checksum. */
  readonly badChecksum: number
  /** Packets dropped as truncated, wrong version or malformed. */
  readonly malformed: number
  /** Packets dropped because they are not addressed to this host. */
  readonly notForUs: number
  /** Packets dropped for an invalid source address. */
  readonly badSource: number
  /** Datagrams dropped because no handler is registered for their protocol. */
  readonly unknownProtocol: number
  /** Fragments received. */
  readonly fragmentsReceived: number
  /** Datagrams delivered locally (to this host's own address). */
  readonly loopback: number
  /** Bytes currently held by the reassembly buffer. */
  readonly reassemblyBytes: number
  /** Datagrams currently being reassembled. */
  readonly reassemblyDatagrams: number
  /** Counters of the reassembler. */
  readonly reassembly: ReassemblyStats
}

/** The IPv4 service. */
export interface Ipv4Shape {
  /** This interface's address. */
  readonly address: Ipv4Address
  /** Prefix length of the connected subnet. */
  readonly prefixLength: number
  /** The default gateway, if configured. */
  readonly gateway: Ipv4Address | undefined
  /** The full routing information. */
  readonly route: Route
  /** Largest IPv4 datagram sent in one frame (the device MTU). */
  readonly mtu: number
  /** The device's checksum capabilities (for the upper layers). */
  readonly checksum: ChecksumCapabilities
  /**
   * Sends a datagram of `payloadLen` bytes to `dst`; `fill` writes the payload in place (called once each time the
   * effect runs, synchronously, before anything is sent). Fragments above the MTU unless `dontFragment`.
   */
  readonly write: (
    dst: Ipv4Address,
    protocol: number,
    payloadLen: number,
    fill: (payload: Uint8Array) => void,
    options?: Ipv4WriteOptions,
  ) => Effect.Effect<void, Ipv4Error>
  /**
   * Optional synchronous form of {@link write} for the per-segment hot path (TCP uses it): does now what running
   * `write(...)` would do and returns `undefined` when the datagram is sent, or an Effect the caller must run to finish
   * (a failure, local delivery, an ARP resolution or the device's asynchronous write).
   */
  readonly writeUnsafe?:
    | ((
      dst: Ipv4Address,
      protocol: number,
      payloadLen: number,
      fill: (payload: Uint8Array) => void,
      options?: Ipv4WriteOptions,
    ) => Effect.Effect<void, Ipv4Error> | undefined)
    | undefined
  /** Registers the handler of a protocol for the lifetime of the current Scope (replacing an earlier one). */
  readonly register: (protocol: number, handler: Ipv4Handler) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Registers the handler of datagrams for which no protocol handler exists (ICMP uses it to answer "protocol
   * unreachable"), for the lifetime of the current Scope.
   */
  readonly registerDefault: (handler: Ipv4Handler) => Effect.Effect<void, never, Scope.Scope>
  /** The next hop of a datagram to `dst`. Plain function. */
  readonly nextHop: (dst: Ipv4Address) => NextHop
  /** Resolves the link-layer address a datagram to `dst` would go to ("NoRoute", "ArpTimeout"). */
  readonly resolve: (dst: Ipv4Address) => Effect.Effect<MacAddress, Ipv4Error>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<Ipv4Stats>
  /** Sets the counters back to zero (the reassembly buffer is kept). */
  readonly resetStats: Effect.Effect<void>
}

/** The service key base of {@link Ipv4}: `Context.Service` with its type spelled out (JSR explicit types). */
export const Ipv4Base: Context.ServiceClass<Ipv4, "vnetif/Ipv4", Ipv4Shape> = Context.Service<Ipv4, Ipv4Shape>()(
  "vnetif/Ipv4",
)

/** The IPv4 layer of one stack. */
export class Ipv4 extends Ipv4Base {
  /** Builds the service on the current {@link Ethernet} and {@link Arp}; a bad `config` fails with "InvalidConfig". */
  static readonly make: (
    config: Ipv4ConfigInput,
  ) => Effect.Effect<Ipv4Shape, Ipv4Error, Ethernet | Arp | Scope.Scope> = (config) => make(config)
  /** A Layer providing {@link Ipv4}; needs {@link Ethernet} and {@link Arp}. */
  static readonly layer: (config: Ipv4ConfigInput) => Layer.Layer<Ipv4, Ipv4Error, Ethernet | Arp> = (config) =>
    layer(config)
}

/** Why an IPv4 operation failed. */
export type Ipv4ErrorReason =
  | "NoRoute"
  | "MessageTooLong"
  | "ArpTimeout"
  | "InvalidArgument"
  | "InvalidConfig"
  | "Device"

/** The fields of {@link Ipv4Error}. */
export interface Ipv4ErrorFields {
  /** Which kind of failure this is. */
  readonly reason: Ipv4ErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link Ipv4Error}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const Ipv4ErrorBase: TaggedErrorClass<"Ipv4Error", Ipv4ErrorFields> = Data.TaggedError("Ipv4Error")<
  Ipv4ErrorFields
>

/** The IPv4 layer's error. */
export class Ipv4Error extends Ipv4ErrorBase {}

/** Largest payload of one IPv4 datagram. */
export const IPV4_MAX_PAYLOAD = 65535 - IPV4_HEADER_LEN

const invalidConfig = (message: string): Ipv4Error => new Ipv4Error({ reason: "InvalidConfig", message })

/** The {@link Route} of a decoded {@link Ipv4Config}, or "InvalidConfig" (unusable address, gateway off the subnet). */
export const routeFromConfig = (config: Pick<Ipv4Config, "cidr" | "gateway">): Result.Result<Route, Ipv4Error> => {
  const route = makeRoute(config.cidr.address, config.cidr.prefixLength, config.gateway)
  const problem = validateRoute(route)
  return problem === undefined ? Result.succeed(route) : Result.fail(invalidConfig(problem))
}

const fromEthernetError = (e: EthernetError): Ipv4Error => new Ipv4Error({ reason: "Device", message: e.message })

const make = (input: Ipv4ConfigInput): Effect.Effect<Ipv4Shape, Ipv4Error, Ethernet | Arp | Scope.Scope> =>
  Effect.gen(function* () {
    const decoded = decodeConfig(Ipv4Config, input)
    if (Result.isFailure(decoded)) return yield* invalidConfig(`invalid IPv4 configuration: ${decoded.failure}`)
    const config: Ipv4Config = decoded.success
    const route = yield* Effect.fromResult(routeFromConfig(config))
    const defaultTtl = config.defaultTtl
    const eth = yield* Ethernet
    const arp = yield* Arp
    const clock = yield* Clock.Clock
    const caps = eth.checksum
    const mtu = eth.mtu
    const address = route.address
    const reassembler = new Reassembler({
      timeout: config.reassemblyTimeout,
      maxBytes: config.reassemblyMaxBytes,
      maxDatagrams: config.reassemblyMaxDatagrams,
    })
    const wake = yield* Queue.sliding<void>(1)
    const handlers = new Map<number, Ipv4Handler>()
    let fallback: Ipv4Handler | undefined = undefined
    let identification = yield* Random.nextIntBetween(0, 0xffff)
    const c = {
      rxPackets: 0,
      rxDelivered: 0,
      txDatagrams: 0,
      txFrames: 0,
      txErrors: 0,
      badChecksum: 0,
      malformed: 0,
      notForUs: 0,
      badSource: 0,
      unknownProtocol: 0,
      fragmentsReceived: 0,
      loopback: 0,
    }
    const maxFragmentPayload = ((mtu - IPV4_HEADER_LEN) >>> 3) << 3

    const deliver = (d: Ipv4Datagram): Effect.Effect<void> => {
      const h = handlers.get(d.protocol)
      if (h !== undefined) {
        c.rxDelivered++
        return h(d)
      }
      c.unknownProtocol++
      return fallback === undefined ? Effect.void : fallback(d)
    }

    const receive = (payload: Uint8Array): Effect.Effect<void> => {
      c.rxPackets++
      const parsed = Ipv4Packet.parse(payload)
      if (Result.isFailure(parsed)) {
        c.malformed++
        return Effect.void
      }
      const packet = parsed.success
      const repr = Ipv4Repr.parse(packet, caps)
      if (Result.isFailure(repr)) {
        if (repr.failure.reason === "BadChecksum") c.badChecksum++
        else c.malformed++
        return Effect.void
      }
      const r = repr.success
      if (!acceptsDestination(route, r.dstAddr)) {
        c.notForUs++
        return Effect.void
      }
      if (isBadSource(route, r.srcAddr)) {
        c.badSource++
        return Effect.void
      }
      const header = payload.subarray(0, packet.headerLen())
      if (r.moreFragments || r.fragmentOffset > 0) {
        c.fragmentsReceived++
        const wasEmpty = reassembler.size === 0
        const res = reassembler.insert({
          src: r.srcAddr,
          dst: r.dstAddr,
          protocol: r.protocol,
          identification: r.identification,
          offset: r.fragmentOffset,
          moreFragments: r.moreFragments,
          payload: packet.payload(),
          header,
          ttl: r.ttl,
        }, clock.currentTimeMillisUnsafe())
        if (wasEmpty && reassembler.size > 0) Queue.offerUnsafe(wake, undefined)
        if (res._tag !== "Complete") return Effect.void
        return deliver({
          src: r.srcAddr,
          dst: r.dstAddr,
          protocol: r.protocol,
          ttl: res.ttl,
          identification: r.identification,
          payload: res.payload,
          header: res.header,
        })
      }
      return deliver({
        src: r.srcAddr,
        dst: r.dstAddr,
        protocol: r.protocol,
        ttl: r.ttl,
        identification: r.identification,
        payload: packet.payload(),
        header,
      })
    }

    const reassemblyTimer: Effect.Effect<void> = Effect.gen(function* () {
      while (true) {
        const next = reassembler.nextDeadline()
        if (next === undefined) {
          yield* Queue.take(wake)
        } else {
          const wait = next - clock.currentTimeMillisUnsafe()
          if (wait > 0) yield* Effect.sleep(wait)
          reassembler.expire(clock.currentTimeMillisUnsafe())
        }
      }
    })

    const fail = (reason: Ipv4ErrorReason, message: string): Effect.Effect<never, Ipv4Error> => {
      c.txErrors++
      return Effect.fail(new Ipv4Error({ reason, message }))
    }

    const sendFrame = (hop: NextHop, frame: Uint8Array): Effect.Effect<void, EthernetError> =>
      hop._tag === "Unicast" ? arp.output(hop.ip, frame) : eth.writeFrame(frame)

    const write = (
      dst: Ipv4Address,
      protocol: number,
      payloadLen: number,
      fill: (payload: Uint8Array) => void,
      options?: Ipv4WriteOptions,
    ): Effect.Effect<void, Ipv4Error> =>
      Effect.suspend(() => writeNow(dst, protocol, payloadLen, fill, options) ?? Effect.void)

    const arpOutputUnsafe = arp.outputUnsafe
    const ethWriteFrameUnsafe = eth.writeFrameUnsafe

    /** `sendFrame` done now where the layers below can: `undefined` when sent, else the Effect that finishes it. */
    const sendFrameUnsafe = (hop: NextHop, frame: Uint8Array): Effect.Effect<void, EthernetError> | undefined =>
      hop._tag === "Unicast"
        ? (arpOutputUnsafe !== undefined ? arpOutputUnsafe(hop.ip, frame) : arp.output(hop.ip, frame))
        : (ethWriteFrameUnsafe !== undefined ? ethWriteFrameUnsafe(frame) : eth.writeFrame(frame))

    // One handler for every datagram (`Effect.mapError` with an inline function allocates closures per call).
    const onSendError = (cause: Cause.Cause<EthernetError>): Effect.Effect<never, Ipv4Error> => {
      if (Cause.hasFails(cause)) c.txErrors++
      return Effect.failCause(Cause.map(cause, fromEthernetError))
    }

    const writeNow = (
      dst: Ipv4Address,
      protocol: number,
      payloadLen: number,
      fill: (payload: Uint8Array) => void,
      options: Ipv4WriteOptions | undefined,
    ): Effect.Effect<void, Ipv4Error> | undefined => {
      if (!Number.isInteger(payloadLen) || payloadLen < 0) {
        return fail("InvalidArgument", `payload length ${payloadLen} is not a size`)
      }
      if (payloadLen > IPV4_MAX_PAYLOAD) {
        return fail("MessageTooLong", `payload of ${payloadLen} bytes exceeds the IPv4 maximum of ${IPV4_MAX_PAYLOAD}`)
      }
      const ttl = options?.ttl ?? defaultTtl
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) {
        return fail("InvalidArgument", `TTL must be an integer in 1..255, got ${ttl}`)
      }
      const src = options?.src ?? address
      const dontFragment = options?.dontFragment ?? false
      const hop = nextHop(route, dst)
      if (hop._tag === "NoRoute") return fail("NoRoute", hop.message)
      identification = (identification + 1) & 0xffff
      const id = identification
      if (hop._tag === "Local") {
        const buf = new Uint8Array(IPV4_HEADER_LEN + payloadLen)
        Ipv4Repr.emit(
          {
            srcAddr: src,
            dstAddr: dst,
            protocol,
            payloadLen,
            ttl,
            identification: id,
            dontFragment,
            moreFragments: false,
            fragmentOffset: 0,
          },
          buf,
          caps,
        )
        fill(buf.subarray(IPV4_HEADER_LEN))
        c.txDatagrams++
        c.loopback++
        return deliver({
          src,
          dst,
          protocol,
          ttl,
          identification: id,
          payload: buf.subarray(IPV4_HEADER_LEN),
          header: buf.subarray(0, IPV4_HEADER_LEN),
        })
      }
      const dstMac = hop._tag === "Group" ? hop.mac : (0 as MacAddress)
      if (IPV4_HEADER_LEN + payloadLen <= mtu) {
        const frame = eth.allocate(dstMac, EtherType.Ipv4, IPV4_HEADER_LEN + payloadLen)
        Ipv4Repr.emit(
          {
            srcAddr: src,
            dstAddr: dst,
            protocol,
            payloadLen,
            ttl,
            identification: id,
            dontFragment,
            moreFragments: false,
            fragmentOffset: 0,
          },
          frame.subarray(ETHERNET_HEADER_LEN),
          caps,
        )
        fill(frame.subarray(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN))
        c.txDatagrams++
        c.txFrames++
        const r = sendFrameUnsafe(hop, frame)
        return r === undefined ? undefined : Effect.catchCause(r, onSendError)
      }
      if (dontFragment) {
        return fail(
          "MessageTooLong",
          `datagram of ${IPV4_HEADER_LEN + payloadLen} bytes exceeds the MTU of ${mtu} and Don't Fragment is set`,
        )
      }
      const scratch = new Uint8Array(payloadLen)
      fill(scratch)
      const frames: Array<Uint8Array> = []
      for (let off = 0; off < payloadLen; off += maxFragmentPayload) {
        const n = Math.min(maxFragmentPayload, payloadLen - off)
        const frame = eth.allocate(dstMac, EtherType.Ipv4, IPV4_HEADER_LEN + n)
        Ipv4Repr.emit(
          {
            srcAddr: src,
            dstAddr: dst,
            protocol,
            payloadLen: n,
            ttl,
            identification: id,
            dontFragment: false,
            moreFragments: off + n < payloadLen,
            fragmentOffset: off,
          },
          frame.subarray(ETHERNET_HEADER_LEN),
          caps,
        )
        frame.set(scratch.subarray(off, off + n), ETHERNET_HEADER_LEN + IPV4_HEADER_LEN)
        frames.push(frame)
      }
      c.txDatagrams++
      c.txFrames += frames.length
      return Effect.mapError(
        Effect.forEach(frames, (f) => sendFrame(hop, f), { discard: true }),
        (e) => {
          c.txErrors++
          return fromEthernetError(e)
        },
      )
    }

    const resolve = (dst: Ipv4Address): Effect.Effect<MacAddress, Ipv4Error> => {
      const hop = nextHop(route, dst)
      switch (hop._tag) {
        case "NoRoute":
          return Effect.fail(new Ipv4Error({ reason: "NoRoute", message: hop.message }))
        case "Local":
          return Effect.succeed(eth.mac)
        case "Group":
          return Effect.succeed(hop.mac)
        case "Unicast":
          return Effect.mapError(
            arp.query(hop.ip),
            (e: ArpError) =>
              new Ipv4Error({
                reason: e.reason === "Timeout" ? "ArpTimeout" : "NoRoute",
                message: e.reason === "Timeout" && hop.ip !== dst
                  ? `gateway ${Ipv4Address.format(hop.ip)}: ${e.message}`
                  : e.message,
              }),
          )
      }
    }

    const register = (protocol: number, handler: Ipv4Handler): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => {
          handlers.set(protocol, handler)
        }),
        () =>
          Effect.sync(() => {
            if (handlers.get(protocol) === handler) handlers.delete(protocol)
          }),
      )

    const registerDefault = (handler: Ipv4Handler): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => {
          fallback = handler
        }),
        () =>
          Effect.sync(() => {
            if (fallback === handler) fallback = undefined
          }),
      )

    yield* eth.register(EtherType.Ipv4, receive)
    yield* Effect.forkScoped(reassemblyTimer)
    yield* Effect.addFinalizer(() => Effect.sync(() => reassembler.clear()))

    return {
      address,
      prefixLength: route.prefixLength,
      gateway: route.gateway,
      route,
      mtu,
      checksum: caps,
      write,
      writeUnsafe: writeNow,
      register,
      registerDefault,
      nextHop: (dst) => nextHop(route, dst),
      resolve,
      stats: Effect.sync(() => ({
        ...c,
        reassemblyBytes: reassembler.bytes,
        reassemblyDatagrams: reassembler.size,
        reassembly: reassembler.stats(),
      })),
      resetStats: Effect.sync(() => {
        for (const k of Object.keys(c) as Array<keyof typeof c>) c[k] = 0
        reassembler.resetStats()
      }),
    }
  })

const layer = (config: Ipv4ConfigInput): Layer.Layer<Ipv4, Ipv4Error, Ethernet | Arp> =>
  Layer.effect(Ipv4, make(config))
