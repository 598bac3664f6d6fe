/**
 * The IPv4 service of one interface: sends datagrams (fragmenting them to the MTU), routes them on-link or through
 * the gateway, receives and reassembles datagrams, and demultiplexes them by protocol to the handlers that upper
 * layers (ICMP, UDP, TCP) register. `Ipv4.layer` provides two services over the same state: {@link Ipv4} (this
 * shape: route, ARP-backed resolution, what ICMPv4 needs) and `Ip` (`ip/Ip.ts`, the version-neutral contract TCP and
 * UDP are written against; also reachable as `ipv4.ip`).
 *
 * Outbound, ONE synchronous path (`transmit`, no Effect per datagram): the caller gives the payload length and a
 * `fill` callback, and gets an `IpError` or `undefined` (sent, queued, or dropped and counted). The next hop is
 * resolved BEFORE the frame is built: broadcast and multicast map to a group MAC, a unicast next hop's MAC comes from
 * `Arp.lookup`. With a MAC, a datagram that fits the MTU is built in ONE frame buffer (`Ethernet.allocate`, IPv4
 * header, then `fill` writes the payload in place) and handed to `Ethernet.transmit`. Without one (an ARP miss) the
 * bare datagram is built and handed to `Arp.enqueue`, which frames and sends it once the neighbour answers (bounded,
 * dropped and counted on timeout). A datagram above the MTU is filled once into a scratch buffer and copied into
 * fragments of `floor((mtu − 20) / 8) × 8` payload bytes, each sent the same way, unless `dontFragment` is set
 * (→ "MessageTooLong"). Every datagram gets an identification that reveals nothing about the traffic to other hosts
 * (`Identification.ts`: RFC 7739 §5.3, counters in buckets chosen by a keyed hash of source, destination and
 * protocol, as Linux does; never one global counter, which would make the stack an idle-scan "zombie"). Datagrams to this host's own address or 127/8 never touch the wire: they go on a bounded loopback
 * queue (overflow dropped and counted) that a fiber of the layer drains through the receive path — never on the
 * sender's stack, so a handler that answers cannot recurse into its caller.
 *
 * Inbound (on the device's reader fiber, plain TypeScript per packet): version/length checks and the header
 * checksum (when the device's capabilities say verify) — failures are dropped and counted, never errors; trailing
 * bytes after the total length are ignored; datagrams not addressed to us (own address, limited or directed
 * broadcast, 224.0.0.1) are dropped and counted (`notForUs`); so are datagrams with a martian source (`badSource`,
 * RFC 1122 §3.2.1.3): our own address, loopback 127/8, the limited or directed broadcast, multicast 224/4, class E
 * 240/4 and 0/8 (except 0.0.0.0 → 255.255.255.255, a host learning its address), each reason also counted on its
 * own (`badSourceOwn`, `…Loopback`, `…ThisNetwork`, `…Multicast`, `…Reserved`, `…Broadcast`). A datagram we send
 * to ourselves never passes this check (it takes the loopback queue), so only spoofed ones are dropped: one SYN or
 * UDP datagram from our own address and port to ourselves (the "land" attack) would otherwise make the stack answer
 * itself without end. A datagram whose loose or strict source route (RFC 791 §3.1, LSRR/SSRR) still has hops left is
 * addressed to another host through us; a host does not forward, so it is dropped (`sourceRouted`) as Linux does,
 * never answered as if we were the final destination; a finished route is delivered, a malformed option list is
 * `malformed` (options are walked only when the header has any). Fragments go to the reassembler
 * (`Reassembly.ts`), whose timer runs on a fiber that sleeps until the oldest datagram's deadline. The TTL of
 * received datagrams is not checked (RFC 1122 §3.2.1.7: a host must not discard a datagram just because its TTL is
 * below 2); a TTL of 0 is refused on send.
 *
 * Handlers get an {@link Ipv4Datagram} whose `payload` and `header` are read-only and valid only during the call
 * (a subarray of the received frame, or the reassembled buffer); copy what you keep. A handler returns an Effect or
 * `NoEndpoint` ("no socket wants this"); for `NoEndpoint` on a datagram to our own address, and for a protocol nobody
 * registered, the layer calls the unreachable handler (ICMP registers one) with code 3 "port unreachable" or 2
 * "protocol unreachable" (RFC 1122 §3.2.2.1, §4.1.3.1): the transports never call ICMP themselves.
 *
 * Implements: RFC 791 §3.1–§3.2 (header, fragmentation, reassembly; an unfinished source route is dropped, not
 * honoured), RFC 1122 §3.2.1 (a host silently discards bad versions, bad checksums, datagrams not for it; §3.2.1.3
 * martian source addresses; §3.2.1.7 TTL; §3.3.1 routing to a gateway; §3.3.2 reassembly), RFC 894 (IPv4 over
 * Ethernet), RFC 6864 (identification per datagram), RFC 7739 §5.3 (unpredictable identification).
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import { Arp, type ArpError } from "../arp/Arp.ts"
import { Ethernet } from "../ethernet/Ethernet.ts"
import {
  Ip,
  type IpDatagram,
  IpError,
  type IpErrorReason,
  type IpRoute,
  type IpShape,
  type IpTransmitOptions,
  NoEndpoint,
} from "../ip/Ip.ts"
import { type ChecksumCapabilities, pseudoHeaderSum } from "../wire/Checksum.ts"
import type { IpAddress } from "../wire/IpAddress.ts"
import { ETHERNET_HEADER_LEN, EtherType } from "../wire/Ethernet.ts"
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { Icmpv4DstUnreachableCode } from "../wire/Icmpv4.ts"
import { IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "../wire/Ipv4.ts"
import type { MacAddress } from "../wire/MacAddress.ts"
import { Ipv4Identification } from "./Identification.ts"
import type { Ipv4Stats } from "./Ipv4Stats.ts"
import { Reassembler } from "./Reassembly.ts"
import {
  acceptsDestination,
  makeRoute,
  martianSource,
  type NextHop,
  nextHop,
  type Route,
  validateRoute,
} from "./Routing.ts"
import { decodeLayerConfig } from "../util/Config.ts"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"
import { Ipv4Config, type Ipv4ConfigInput } from "./Ipv4Config.ts"
export type { Ipv4Stats } from "./Ipv4Stats.ts"

export {
  Ipv4AddressInput,
  Ipv4CidrInput,
  type Ipv4CidrValue,
  Ipv4Config,
  type Ipv4ConfigFields,
  type Ipv4ConfigInput,
} from "./Ipv4Config.ts"

/** A received datagram, as handed to an upper-layer handler. `payload` and `header` are read-only and short-lived. */
export interface Ipv4Datagram extends IpDatagram {
  /** Source address. */
  readonly src: Ipv4Address
  /** Destination address (ours, a broadcast, or 224.0.0.1). */
  readonly dst: Ipv4Address
  /** Identification field. */
  readonly identification: number
}

/** An upper-layer receive handler: an Effect to run, or `NoEndpoint` when no endpoint wants the datagram. */
export type Ipv4Handler = (datagram: Ipv4Datagram) => Effect.Effect<void> | NoEndpoint

/**
 * The answer to a datagram nobody wants (ICMP registers one): `code` is the ICMPv4 Destination Unreachable code
 * (2 protocol unreachable, 3 port unreachable). Called synchronously on the receive path.
 */
export type Ipv4UnreachableHandler = (code: number, datagram: Ipv4Datagram) => void

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
   * Sends a datagram of `payloadLen` bytes to `dst`; `fill` writes the payload in place (called once, synchronously,
   * before anything is sent). Fragments above the MTU unless `dontFragment`. Synchronous: returns the error, or
   * `undefined` once the datagram is sent, queued for ARP or loopback, or dropped and counted. The same function as
   * `ip.transmit`.
   */
  readonly transmit: (
    dst: Ipv4Address,
    protocol: number,
    payloadLen: number,
    fill: (payload: Uint8Array) => void,
    options?: IpTransmitOptions,
  ) => IpError | undefined
  /** Registers the handler of a protocol for the lifetime of the current Scope (replacing an earlier one). */
  readonly register: (protocol: number, handler: Ipv4Handler) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Registers the answer to datagrams no endpoint wants (ICMP's "protocol/port unreachable"), for the lifetime of
   * the current Scope (replacing an earlier one).
   */
  readonly registerUnreachable: (handler: Ipv4UnreachableHandler) => Effect.Effect<void, never, Scope.Scope>
  /** The next hop of a datagram to `dst`. Plain function. */
  readonly nextHop: (dst: Ipv4Address) => NextHop
  /** Resolves the link-layer address a datagram to `dst` would go to ("NoRoute", "ArpTimeout"). */
  readonly resolve: (dst: Ipv4Address) => Effect.Effect<MacAddress, Ipv4Error>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<Ipv4Stats>
  /** Sets the counters back to zero (the reassembly buffer is kept). */
  readonly resetStats: Effect.Effect<void>
  /** This layer seen through the version-neutral contract: the `Ip` service that `Ipv4.layer` also provides. */
  readonly ip: IpShape
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
  /** A Layer providing {@link Ipv4} and `Ip` (the same layer, two views); needs {@link Ethernet} and {@link Arp}. */
  static readonly layer: (config: Ipv4ConfigInput) => Layer.Layer<Ipv4 | Ip, Ipv4Error, Ethernet | Arp> = (config) =>
    layer(config)
  /** The `Ip` service of the current {@link Ipv4} (its `ip` view), e.g. over a replacement Ipv4 layer. */
  static readonly ipLayer: Layer.Layer<Ip, never, Ipv4> = Layer.effect(
    Ip,
    Effect.suspend(() => Effect.map(Effect.service(Ipv4), (s) => s.ip)),
  )
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

/** Datagrams waiting on the loopback queue (local delivery); more are dropped and counted. */
const LOOPBACK_QUEUE = 1024

const make = (input: Ipv4ConfigInput): Effect.Effect<Ipv4Shape, Ipv4Error, Ethernet | Arp | Scope.Scope> =>
  Effect.gen(function* () {
    const config: Ipv4Config = yield* decodeLayerConfig(Ipv4Config, input, "IPv4", invalidConfig)
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
    const loopbackQueue = yield* Queue.bounded<Ipv4Datagram>(LOOPBACK_QUEUE)
    const handlers = new Map<number, Ipv4Handler>()
    let unreachable: Ipv4UnreachableHandler | undefined = undefined
    const random = yield* Random.Random
    const rand32 = (): number => Math.floor(random.nextDoubleUnsafe() * 4294967296) >>> 0
    const identification = new Ipv4Identification(
      { k0: rand32(), k1: rand32(), seed: [rand32(), rand32(), rand32(), rand32()] },
      clock.currentTimeMillisUnsafe(),
    )
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
      badSourceOwn: 0,
      badSourceLoopback: 0,
      badSourceThisNetwork: 0,
      badSourceMulticast: 0,
      badSourceReserved: 0,
      badSourceBroadcast: 0,
      sourceRouted: 0,
      unknownProtocol: 0,
      fragmentsReceived: 0,
      loopback: 0,
      loopbackDrops: 0,
    }
    const maxFragmentPayload = ((mtu - IPV4_HEADER_LEN) >>> 3) << 3

    // ---- receive --------------------------------------------------------------------------------------------------

    const deliver = (d: Ipv4Datagram): Effect.Effect<void> => {
      const h = handlers.get(d.protocol)
      if (h !== undefined) {
        c.rxDelivered++
        const r = h(d)
        if (r !== NoEndpoint) return r
        // RFC 1122 §4.1.3.1: port unreachable, and only about a datagram to our unicast address
        if (unreachable !== undefined && d.dst === address) unreachable(Icmpv4DstUnreachableCode.PortUnreachable, d)
        return Effect.void
      }
      c.unknownProtocol++
      // RFC 1122 §3.2.2.1: protocol unreachable, likewise (ICMP applies the rest of §3.2.2 and its rate limit)
      if (unreachable !== undefined && d.dst === address) {
        unreachable(Icmpv4DstUnreachableCode.ProtocolUnreachable, d)
      }
      return Effect.void
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
      // martian sources (RFC 1122 §3.2.1.3): only here, on the wire path; the loopback queue delivers our own
      // datagrams without passing this check
      const martian = martianSource(route, r.srcAddr, r.dstAddr)
      if (martian !== undefined) {
        c.badSource++
        c[`badSource${martian}`]++
        return Effect.void
      }
      // an LSRR/SSRR route with hops left is for another host: a host that does not forward drops it (Linux does,
      // `accept_source_route` off) rather than answer as the final destination; options only when present
      if (packet.headerLen() > IPV4_HEADER_LEN) {
        const sr = packet.sourceRoute()
        if (sr === "Unfinished") {
          c.sourceRouted++
          return Effect.void
        }
        if (sr === "Malformed") {
          c.malformed++
          return Effect.void
        }
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

    const onLoopbackDefect = (defect: unknown): Effect.Effect<void> =>
      Effect.logWarning("ipv4: a handler died on a looped-back datagram", defect)

    /** Delivers local datagrams in order, in batches, on the layer's fiber (never on the sender's stack). */
    const loopbackReader: Effect.Effect<void> = Effect.gen(function* () {
      while (true) {
        const batch = yield* Queue.takeAll(loopbackQueue)
        for (const d of batch) {
          const r = deliver(d)
          if (!(Exit.isExit(r) && Exit.isSuccess(r))) yield* Effect.catchDefect(r, onLoopbackDefect)
        }
      }
    })

    // ---- transmit -------------------------------------------------------------------------------------------------

    const fail = (reason: IpErrorReason, message: string): IpError => {
      c.txErrors++
      return new IpError({ reason, message })
    }

    /** Writes the IPv4 header of one datagram or fragment at `buf[0..20)`. */
    const emitHeader = (
      buf: Uint8Array,
      src: Ipv4Address,
      dst: Ipv4Address,
      protocol: number,
      payloadLen: number,
      ttl: number,
      id: number,
      dontFragment: boolean,
      moreFragments: boolean,
      fragmentOffset: number,
    ): void =>
      Ipv4Repr.emit(
        {
          srcAddr: src,
          dstAddr: dst,
          protocol,
          payloadLen,
          ttl,
          identification: id,
          dontFragment,
          moreFragments,
          fragmentOffset,
        },
        buf,
        caps,
      )

    /** Hands a built frame to Ethernet; a device error becomes an `IpError` "Device" (counted). */
    const sendFrame = (frame: Uint8Array): IpError | undefined => {
      const e = eth.transmit(frame)
      return e === undefined ? undefined : fail("Device", e.message)
    }

    const transmit = (
      dst: IpAddress,
      protocol: number,
      payloadLen: number,
      fill: (payload: Uint8Array) => void,
      options?: IpTransmitOptions,
    ): IpError | undefined => {
      if (typeof dst !== "number") return fail("NoRoute", `${String(dst)} is an IPv6 address; this layer is IPv4`)
      if (!Number.isInteger(payloadLen) || payloadLen < 0) {
        return fail("InvalidArgument", `payload length ${payloadLen} is not a size`)
      }
      if (payloadLen > IPV4_MAX_PAYLOAD) {
        return fail("MessageTooLong", `payload of ${payloadLen} bytes exceeds the IPv4 maximum of ${IPV4_MAX_PAYLOAD}`)
      }
      let ttl = defaultTtl
      let src = address
      let dontFragment = false
      if (options !== undefined) {
        if (options.ttl !== undefined) ttl = options.ttl
        if (options.dontFragment !== undefined) dontFragment = options.dontFragment
        if (options.src !== undefined) {
          if (typeof options.src !== "number") {
            return fail("InvalidArgument", `source ${String(options.src)} is not an IPv4 address`)
          }
          src = options.src
        }
      }
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) {
        return fail("InvalidArgument", `TTL must be an integer in 1..255, got ${ttl}`)
      }
      const hop = nextHop(route, dst)
      if (hop._tag === "NoRoute") return fail("NoRoute", hop.message)
      const id = identification.next(src, dst, protocol, clock.currentTimeMillisUnsafe())
      if (hop._tag === "Local") {
        const buf = new Uint8Array(IPV4_HEADER_LEN + payloadLen)
        emitHeader(buf, src, dst, protocol, payloadLen, ttl, id, dontFragment, false, 0)
        fill(buf.subarray(IPV4_HEADER_LEN))
        c.txDatagrams++
        const local: Ipv4Datagram = {
          src,
          dst,
          protocol,
          ttl,
          identification: id,
          payload: buf.subarray(IPV4_HEADER_LEN),
          header: buf.subarray(0, IPV4_HEADER_LEN),
        }
        if (Queue.offerUnsafe(loopbackQueue, local)) c.loopback++
        else c.loopbackDrops++
        return undefined
      }
      // resolve the link-layer destination BEFORE building the frame: a group MAC, or ARP's entry (undefined: miss)
      const neighbour = hop._tag === "Unicast" ? hop.ip : dst
      const dstMac: MacAddress | undefined = hop._tag === "Group" ? hop.mac : arp.lookup(neighbour)
      if (IPV4_HEADER_LEN + payloadLen <= mtu) {
        c.txDatagrams++
        c.txFrames++
        if (dstMac !== undefined) {
          const frame = eth.allocate(dstMac, EtherType.Ipv4, IPV4_HEADER_LEN + payloadLen)
          const datagram = frame.subarray(ETHERNET_HEADER_LEN)
          emitHeader(datagram, src, dst, protocol, payloadLen, ttl, id, dontFragment, false, 0)
          fill(datagram.subarray(IPV4_HEADER_LEN))
          return sendFrame(frame)
        }
        const datagram = new Uint8Array(IPV4_HEADER_LEN + payloadLen)
        emitHeader(datagram, src, dst, protocol, payloadLen, ttl, id, dontFragment, false, 0)
        fill(datagram.subarray(IPV4_HEADER_LEN))
        arp.enqueue(neighbour, datagram)
        return undefined
      }
      if (dontFragment) {
        return fail(
          "MessageTooLong",
          `datagram of ${IPV4_HEADER_LEN + payloadLen} bytes exceeds the MTU of ${mtu} and Don't Fragment is set`,
        )
      }
      const scratch = new Uint8Array(payloadLen)
      fill(scratch)
      c.txDatagrams++
      c.txFrames += Math.ceil(payloadLen / maxFragmentPayload)
      for (let off = 0; off < payloadLen; off += maxFragmentPayload) {
        const n = Math.min(maxFragmentPayload, payloadLen - off)
        const more = off + n < payloadLen
        if (dstMac !== undefined) {
          const frame = eth.allocate(dstMac, EtherType.Ipv4, IPV4_HEADER_LEN + n)
          emitHeader(frame.subarray(ETHERNET_HEADER_LEN), src, dst, protocol, n, ttl, id, false, more, off)
          frame.set(scratch.subarray(off, off + n), ETHERNET_HEADER_LEN + IPV4_HEADER_LEN)
          const e = sendFrame(frame)
          if (e !== undefined) return e // the rest of the datagram is useless without this fragment
        } else {
          const fragment = new Uint8Array(IPV4_HEADER_LEN + n)
          emitHeader(fragment, src, dst, protocol, n, ttl, id, false, more, off)
          fragment.set(scratch.subarray(off, off + n), IPV4_HEADER_LEN)
          arp.enqueue(neighbour, fragment)
        }
      }
      return undefined
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

    const registerUnreachable = (handler: Ipv4UnreachableHandler): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => {
          unreachable = handler
        }),
        () =>
          Effect.sync(() => {
            if (unreachable === handler) unreachable = undefined
          }),
      )

    // ---- the version-neutral view -----------------------------------------------------------------------------------

    const ipRoute = (dst: IpAddress): IpRoute | undefined => {
      if (typeof dst !== "number") return undefined
      const hop = nextHop(route, dst)
      switch (hop._tag) {
        case "NoRoute":
          return undefined
        case "Local":
          return { source: address, kind: "Local", nextHop: dst, mtu }
        case "Group":
          return { source: address, kind: "Group", nextHop: dst, mtu }
        case "Unicast":
          return { source: address, kind: "Unicast", nextHop: hop.ip, mtu }
      }
    }

    const ip: IpShape = {
      family: 4,
      addresses: [address],
      route: ipRoute,
      source: (dst) => ipRoute(dst)?.source,
      mtu: () => mtu,
      headerLen: IPV4_HEADER_LEN,
      pseudoHeaderSum,
      checksum: caps,
      transmit,
      register,
    }

    yield* eth.register(EtherType.Ipv4, receive)
    yield* Effect.forkScoped(reassemblyTimer)
    yield* Effect.forkScoped(loopbackReader)
    yield* Effect.addFinalizer(() => Effect.sync(() => reassembler.clear()))

    return {
      address,
      prefixLength: route.prefixLength,
      gateway: route.gateway,
      route,
      mtu,
      checksum: caps,
      transmit,
      register,
      registerUnreachable,
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
      ip,
    }
  })

const layer = (config: Ipv4ConfigInput): Layer.Layer<Ipv4 | Ip, Ipv4Error, Ethernet | Arp> =>
  Layer.effectContext(Effect.map(make(config), (s) => Context.make(Ipv4, s).pipe(Context.add(Ip, s.ip))))
