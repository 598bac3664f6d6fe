/**
 * The assembly of one TCP/IP stack (mirage-tcpip's `tcpip_stack_direct`): one typed Effect program that decodes a
 * configuration and builds Vnetif → Ethernet → Arp → Ipv4 → Icmp → Udp → Tcp on the `Backend` found in the
 * context.
 *
 * - `Stack.make(config)` decodes `config` with the {@link StackConfig} Schema first: a bad configuration fails with
 *   `StackError` "InvalidConfig" and a message naming the field and what is expected, before any port is
 *   registered or any fiber started. Then it builds the layers with a fresh memo map in a child of the current
 *   Scope, so every call makes a new stack (several stacks share one Backend/Switch), and returns a
 *   {@link StackHandle} with every service. Closing the Scope tears the stack down in reverse order: sockets
 *   unbound, timers and reader fibers interrupted, the switch port unregistered.
 * - `Stack.layer(config)` is the same build as a `Layer` providing all of a stack's services (`Ip` included), for programs that use
 *   `Effect.provide`.
 * - Every protocol Layer is replaceable: pass `overrides` (e.g. `{ udp: MyUdp.layer }`, any Layer that provides the
 *   service and needs only the services below it, see {@link StackOverrides}). To assemble by hand, compose the
 *   public layers yourself, bottom to top:
 *   ```ts
 *   const stack = Udp.layer().pipe(
 *     Layer.provideMerge(Icmp.layer()),
 *     Layer.provideMerge(Ipv4.layer({ cidr: "10.0.0.2/24" })),
 *     Layer.provideMerge(Arp.layer({ address })),
 *     Layer.provideMerge(Ethernet.layer),
 *     Layer.provideMerge(Vnetif.layer()),
 *   ) // Layer<Udp | Icmp | Ipv4 | Ip | Arp | Ethernet | Vnetif, …, Backend>
 *   ```
 *
 * Configuration: {@link StackConfig} is composed of the layers' Schemas (`ArpConfig`, `Ipv4Config`, `IcmpConfig`,
 * `UdpConfig`, TCP's), each owning its defaults; its top level holds the interface (`cidr`, `gateway`, the fields
 * of `Ipv4Config`) and the device (`mtu`, `checksum`, `queueCapacity`, `queueBytes`, `flowBuckets`). Durations are milliseconds once decoded and
 * are written as a number of milliseconds or a `Duration` string (`"5 seconds"`). Unknown keys are refused at every
 * level: `{ cidr, mtuu: 9000 }` is a type error when written as a literal, and a `StackError` "InvalidConfig" naming
 * `mtuu` when it comes from JSON.
 *
 * @module
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Struct from "effect/Struct"
import { Arp } from "./arp/Arp.ts"
import { ArpConfig, type ArpConfigFields } from "./arp/ArpConfig.ts"
import { Ethernet } from "./ethernet/Ethernet.ts"
import { Icmp } from "./icmp/Icmp.ts"
import { IcmpConfig } from "./icmp/IcmpConfig.ts"
import { Ip } from "./ip/Ip.ts"
import { Ipv4, routeFromConfig } from "./ipv4/Ipv4.ts"
import { Ipv4Config, type Ipv4ConfigFields } from "./ipv4/Ipv4Config.ts"
import type { Backend } from "./link/Backend.ts"
import { Vnetif, VnetifConfig } from "./link/Vnetif.ts"
import { Tcp, TcpConfig } from "./tcp/Tcp.ts"
import { Udp } from "./udp/Udp.ts"
import { UdpConfig } from "./udp/UdpConfig.ts"
import type { Ipv4Address } from "./wire/Ipv4Address.ts"
import type { MacAddress } from "./wire/MacAddress.ts"
import { decodeConfig, withDefault } from "./util/Config.ts"
import type { TaggedErrorClass } from "./util/TaggedErrorClass.ts"

/** The fields of {@link StackConfig}, with their defaults. */
export type StackConfigFields = {
  /** Address and prefix length of the interface, e.g. "10.0.0.2/24" (required; `Ipv4Config`'s `cidr`). */
  readonly cidr: Ipv4ConfigFields["cidr"]
  /** Default gateway, on the subnet, e.g. "10.0.0.1" (default: none; `Ipv4Config`'s `gateway`). */
  readonly gateway: Ipv4ConfigFields["gateway"]
  /** Device MTU, 68..65535 (default 1500; `VnetifConfig`'s `mtu`). */
  readonly mtu: (typeof VnetifConfig)["fields"]["mtu"]
  /**
   * Checksums computed and verified: "offload" (default; the in-process switch cannot corrupt), "all" (a real wire:
   * TAP, VXLAN) or per protocol (`VnetifConfig`'s `checksum`).
   */
  readonly checksum: (typeof VnetifConfig)["fields"]["checksum"]
  /** Receive queue of the switch port, in frames (default: the backend's; `VnetifConfig`'s `queueCapacity`). */
  readonly queueCapacity: (typeof VnetifConfig)["fields"]["queueCapacity"]
  /** Byte budget of that queue (default: the backend's; `VnetifConfig`'s `queueBytes`). */
  readonly queueBytes: (typeof VnetifConfig)["fields"]["queueBytes"]
  /** Flow buckets of that queue, 1 = one FIFO (default: the backend's, 1024 for the Switch; `VnetifConfig`'s). */
  readonly flowBuckets: (typeof VnetifConfig)["fields"]["flowBuckets"]
  /** ARP tunables: `ArpConfig` without `address`, which is the `cidr`'s (defaults there). */
  readonly arp: Schema.withDecodingDefaultKey<StackArpConfig>
  /** IPv4 tunables: `Ipv4Config` without `cidr` and `gateway`, which are above (defaults there). */
  readonly ipv4: Schema.withDecodingDefaultKey<StackIpv4Config>
  /** ICMP tunables: `IcmpConfig` (defaults there). */
  readonly icmp: Schema.withDecodingDefaultKey<typeof IcmpConfig>
  /** UDP tunables: `UdpConfig` (defaults there). */
  readonly udp: Schema.withDecodingDefaultKey<typeof UdpConfig>
  /** TCP tunables: `TcpConfig` (defaults there). */
  readonly tcp: Schema.withDecodingDefaultKey<typeof TcpConfig>
}

/** The `arp` part of a {@link StackConfig}: `ArpConfig` without `address` (the stack fills it from `cidr`). */
export type StackArpConfig = Schema.Struct<Omit<ArpConfigFields, "address">>
/** The `ipv4` part of a {@link StackConfig}: `Ipv4Config` without `cidr` and `gateway` (top-level keys). */
export type StackIpv4Config = Schema.Struct<Omit<Ipv4ConfigFields, "cidr" | "gateway">>

/**
 * Schema of a stack's configuration, composed of the layers' Schemas: what `Stack.make` decodes. Unknown keys are
 * refused at every level; durations are milliseconds or `Duration` strings ("5 seconds").
 */
export const StackConfig: Schema.Struct<StackConfigFields> = Schema.Struct({
  cidr: Ipv4Config.fields.cidr,
  gateway: Ipv4Config.fields.gateway,
  mtu: VnetifConfig.fields.mtu,
  checksum: VnetifConfig.fields.checksum,
  queueCapacity: VnetifConfig.fields.queueCapacity,
  queueBytes: VnetifConfig.fields.queueBytes,
  flowBuckets: VnetifConfig.fields.flowBuckets,
  arp: ArpConfig.mapFields(Struct.omit(["address"])).pipe(withDefault({})),
  ipv4: Ipv4Config.mapFields(Struct.omit(["cidr", "gateway"])).pipe(withDefault({})),
  icmp: IcmpConfig.pipe(withDefault({})),
  udp: UdpConfig.pipe(withDefault({})),
  tcp: TcpConfig.pipe(withDefault({})),
})

/** A decoded stack configuration: every layer's defaults filled in, durations in milliseconds. */
export type StackConfig = typeof StackConfig.Type
/** A stack configuration as written: only `cidr` is required. A decoded {@link StackConfig} is one too. */
export type StackConfigInput = typeof StackConfig.Encoded

/** Every service of one stack, plus its addresses. */
export interface StackHandle {
  /** The network device (switch port). */
  readonly vnetif: Vnetif["Service"]
  /** The Ethernet layer. */
  readonly ethernet: Ethernet["Service"]
  /** The ARP layer. */
  readonly arp: Arp["Service"]
  /** The IPv4 layer. */
  readonly ipv4: Ipv4["Service"]
  /** The IP-version-neutral view of the network layer that TCP and UDP run on. */
  readonly ip: Ip["Service"]
  /** The ICMP layer. */
  readonly icmp: Icmp["Service"]
  /** The UDP layer. */
  readonly udp: Udp["Service"]
  /** The TCP layer. */
  readonly tcp: Tcp["Service"]
  /** The interface address. */
  readonly address: Ipv4Address
  /** The prefix length. */
  readonly prefixLength: number
  /** The interface MAC. */
  readonly mac: MacAddress
  /** The decoded configuration. */
  readonly config: StackConfig
}

/** The services a stack provides. */
export type StackServices = Vnetif | Ethernet | Arp | Ipv4 | Ip | Icmp | Udp | Tcp

/**
 * Replacement layers, one per protocol. Each must provide its service and may need only the services below it
 * (plus `Backend` for the device). Errors of a replacement are reported as a `StackError` of that layer.
 */
export interface StackOverrides {
  /** Replaces the device (e.g. a Vnetif with a capture monitor). */
  readonly vnetif?: Layer.Layer<Vnetif, unknown, Backend>
  /** Replaces the Ethernet layer. */
  readonly ethernet?: Layer.Layer<Ethernet, unknown, Vnetif>
  /** Replaces the ARP layer. */
  readonly arp?: Layer.Layer<Arp, unknown, Ethernet>
  /** Replaces the IPv4 layer. */
  readonly ipv4?: Layer.Layer<Ipv4, unknown, Ethernet | Arp>
  /** Replaces the ICMP layer. */
  readonly icmp?: Layer.Layer<Icmp, unknown, Ipv4>
  /** Replaces the UDP layer. */
  readonly udp?: Layer.Layer<Udp, unknown, Ip | Ipv4 | Icmp>
  /** Replaces the TCP layer. */
  readonly tcp?: Layer.Layer<Tcp, unknown, Ip | Ipv4>
}

/** Which part of the stack failed to build. */
export type StackErrorReason = "InvalidConfig" | "Link" | "Ethernet" | "Arp" | "Ipv4" | "Icmp" | "Udp" | "Tcp"

/** The fields of {@link StackError}. */
export interface StackErrorFields {
  /** Which kind of failure this is. */
  readonly reason: StackErrorReason
  /** What went wrong, for a person. */
  readonly message: string
  /** The cause this error is about. */
  readonly cause?: unknown
}

/** The base class of {@link StackError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const StackErrorBase: TaggedErrorClass<"StackError", StackErrorFields> = Data.TaggedError("StackError")<
  StackErrorFields
>

/** The one error of `Stack.make` / `Stack.layer`. */
export class StackError extends StackErrorBase {}

const TAG_TO_REASON: Record<string, StackErrorReason> = {
  BackendError: "Link",
  VnetifError: "Link",
  EthernetError: "Ethernet",
  ArpError: "Arp",
  Ipv4Error: "Ipv4",
  IcmpError: "Icmp",
  UdpError: "Udp",
  TcpError: "Tcp",
}

const toStackError = (e: unknown, layerReason?: StackErrorReason): StackError => {
  if (e instanceof StackError) return e
  const tag = typeof e === "object" && e !== null && "_tag" in e ? String(e._tag) : ""
  const reason: StackErrorReason = tag in TAG_TO_REASON && (e as { reason?: string }).reason === "InvalidConfig"
    ? "InvalidConfig"
    : layerReason ?? TAG_TO_REASON[tag] ?? "Link"
  const message = typeof e === "object" && e !== null && "message" in e ? String(e.message) : String(e)
  return new StackError({ reason, message: `${reason} layer failed to start: ${message}`, cause: e })
}

/** Reports the failures of one layer as `StackError`s of that layer (defects and interruptions pass through). */
const tagged = <I, E, R>(reason: StackErrorReason, layer: Layer.Layer<I, E, R>): Layer.Layer<I, StackError, R> =>
  Layer.catchCause(
    layer,
    (cause) =>
      Layer.effectContext<I, StackError, never>(
        Effect.mapError(Effect.failCause(cause), (e) => toStackError(e, reason)),
      ),
  )

const invalidConfig = (message: string, cause?: unknown): StackError =>
  new StackError({ reason: "InvalidConfig", message: `invalid stack configuration: ${message}`, cause })

/**
 * Decodes and checks a configuration (written or already decoded, e.g. parsed JSON), failing with `StackError`
 * "InvalidConfig" listing every problem found, each naming its key (unknown keys included).
 */
const decodeStackConfig = (config: unknown): Effect.Effect<StackConfig, StackError> =>
  Effect.suspend(() => {
    const decoded = decodeConfig(StackConfig, config)
    if (Result.isFailure(decoded)) return Effect.fail(invalidConfig(decoded.failure))
    const route = routeFromConfig(decoded.success)
    return Result.isFailure(route)
      ? Effect.fail(invalidConfig(route.failure.message, route.failure))
      : Effect.succeed(decoded.success)
  })

/** The composed layer of a decoded configuration (no decoding, no fresh memo map: see `Stack.make`). */
const layers = (
  cfg: StackConfig,
  overrides: StackOverrides = {},
): Layer.Layer<StackServices, StackError, Backend> => {
  const vnetif = overrides.vnetif ?? Vnetif.layer({
    mtu: cfg.mtu,
    checksum: cfg.checksum,
    ...(cfg.queueCapacity === undefined ? {} : { queueCapacity: cfg.queueCapacity }),
    ...(cfg.queueBytes === undefined ? {} : { queueBytes: cfg.queueBytes }),
    ...(cfg.flowBuckets === undefined ? {} : { flowBuckets: cfg.flowBuckets }),
  })
  const ethernet = overrides.ethernet ?? Ethernet.layer
  const arp = overrides.arp ?? Arp.layer({ ...cfg.arp, address: cfg.cidr.address })
  const ipv4 = overrides.ipv4 ?? Ipv4.layer({ ...cfg.ipv4, cidr: cfg.cidr, gateway: cfg.gateway })
  const icmp = overrides.icmp ?? Icmp.layer(cfg.icmp)
  const udp = overrides.udp ?? Udp.layer(cfg.udp)
  const tcp = overrides.tcp ?? Tcp.layer(cfg.tcp)
  return tagged("Tcp", tcp).pipe(
    Layer.provideMerge(tagged("Udp", udp)),
    Layer.provideMerge(tagged("Icmp", icmp)),
    Layer.provideMerge(tagged("Ipv4", Ipv4.ipLayer.pipe(Layer.provideMerge(ipv4)))),
    Layer.provideMerge(tagged("Arp", arp)),
    Layer.provideMerge(tagged("Ethernet", ethernet)),
    Layer.provideMerge(tagged("Link", vnetif)),
  )
}

/** Decodes, then builds one fresh stack in a child of the current Scope; returns its services. */
const build = (
  config: StackConfigInput,
  overrides?: StackOverrides,
): Effect.Effect<
  { readonly cfg: StackConfig; readonly context: Context.Context<StackServices> },
  StackError,
  Backend | Scope.Scope
> =>
  Effect.gen(function* () {
    const cfg = yield* decodeStackConfig(config)
    const scope = yield* Effect.scope
    const child = yield* Scope.fork(scope)
    const memoMap = yield* Layer.makeMemoMap
    const exit = yield* Effect.exit(Layer.buildWithMemoMap(layers(cfg, overrides), memoMap, child))
    if (Exit.isFailure(exit)) {
      yield* Scope.close(child, exit)
      return yield* Effect.failCause(exit.cause).pipe(Effect.mapError((e) => toStackError(e)))
    }
    return { cfg, context: exit.value }
  })

const make = (
  config: StackConfigInput,
  overrides?: StackOverrides,
): Effect.Effect<StackHandle, StackError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const { cfg, context: ctx } = yield* build(config, overrides)
    const ipv4 = Context.get(ctx, Ipv4)
    const vnetif = Context.get(ctx, Vnetif)
    return {
      vnetif,
      ethernet: Context.get(ctx, Ethernet),
      arp: Context.get(ctx, Arp),
      ipv4,
      ip: Context.get(ctx, Ip),
      icmp: Context.get(ctx, Icmp),
      udp: Context.get(ctx, Udp),
      tcp: Context.get(ctx, Tcp),
      address: ipv4.address,
      prefixLength: ipv4.prefixLength,
      mac: vnetif.mac,
      config: cfg,
    }
  })

const layer = (config: StackConfigInput, overrides?: StackOverrides): Layer.Layer<StackServices, StackError, Backend> =>
  Layer.effectContext(Effect.map(build(config, overrides), (b) => b.context))

/** Building stacks: `Stack.make(config)` (a handle, in the current Scope) or `Stack.layer(config)`. */
export const Stack: {
  /**
   * Decodes `config` (a {@link StackConfigInput}; a decoded {@link StackConfig} is one too) and builds a fresh stack
   * on the context's Backend; it lives as long as the Scope. A bad configuration (e.g. an unknown key) fails with
   * `StackError` "InvalidConfig" naming the key, before anything is built.
   */
  readonly make: (
    config: StackConfigInput,
    overrides?: StackOverrides,
  ) => Effect.Effect<StackHandle, StackError, Backend | Scope.Scope>
  /** The same build as a Layer providing Vnetif, Ethernet, Arp, Ipv4, Ip, Icmp, Udp and Tcp. */
  readonly layer: (
    config: StackConfigInput,
    overrides?: StackOverrides,
  ) => Layer.Layer<StackServices, StackError, Backend>
  /** Decodes and validates a configuration of unknown shape (e.g. parsed JSON) without building anything. */
  readonly decodeConfig: (config: unknown) => Effect.Effect<StackConfig, StackError>
  /** The composed Layer of a decoded configuration (each protocol replaceable through `overrides`). */
  readonly layers: (cfg: StackConfig, overrides?: StackOverrides) => Layer.Layer<StackServices, StackError, Backend>
} = { make, layer, decodeConfig: decodeStackConfig, layers }
