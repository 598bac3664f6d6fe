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
 * - `Stack.layer(config)` is the same build as a `Layer` providing all seven services, for programs that use
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
 *   ) // Layer<Udp | Icmp | Ipv4 | Arp | Ethernet | Vnetif, …, Backend>
 *   ```
 *
 * Durations in the configuration are numbers of milliseconds.
 *
 * @module
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { Arp } from "./arp/Arp.ts"
import { Ethernet } from "./ethernet/Ethernet.ts"
import { Icmp } from "./icmp/Icmp.ts"
import type { Ip } from "./ip/Ip.ts"
import { Ipv4, routeFromConfig } from "./ipv4/Ipv4.ts"
import type { Backend } from "./link/Backend.ts"
import { Vnetif } from "./link/Vnetif.ts"
import { Tcp, TcpConfigSchema } from "./tcp/Tcp.ts"
import { Udp } from "./udp/Udp.ts"
import { ChecksumCapabilities } from "./wire/Checksum.ts"
import { type Ipv4Address, Ipv4AddressFromString, Ipv4Cidr } from "./wire/Ipv4Address.ts"
import type { MacAddress } from "./wire/MacAddress.ts"
import type { TaggedErrorClass } from "./util/TaggedErrorClass.ts"

const int = (minimum: number, maximum: number): Schema.Int =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum, maximum })))

const millis: Schema.Finite = Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 86_400_000 })))

/** Schema of the `arp` part of a {@link StackConfig}. */
export const ArpConfigSchema: Schema.Struct<{
  readonly timeout: Schema.optional<Schema.Finite>
  readonly retries: Schema.optional<Schema.Int>
  readonly retryInterval: Schema.optional<Schema.Finite>
  readonly pendingLimit: Schema.optional<Schema.Int>
  readonly announce: Schema.optional<Schema.Boolean>
}> = Schema.Struct({
  /** Lifetime of a learned entry, ms (default 60 000). */
  timeout: Schema.optional(millis),
  /** Requests per resolution (default 5). */
  retries: Schema.optional(int(1, 100)),
  /** Wait after each request, ms (default 1 500). */
  retryInterval: Schema.optional(millis),
  /** Frames queued per address during a resolution (default 64). */
  pendingLimit: Schema.optional(int(0, 65536)),
  /** Announce our address on start (default true). */
  announce: Schema.optional(Schema.Boolean),
})

/** Schema of the `ipv4` part of a {@link StackConfig}. */
export const Ipv4ConfigSchema: Schema.Struct<{
  readonly defaultTtl: Schema.optional<Schema.Int>
  readonly reassemblyTimeout: Schema.optional<Schema.Finite>
  readonly reassemblyMaxBytes: Schema.optional<Schema.Int>
  readonly reassemblyMaxDatagrams: Schema.optional<Schema.Int>
}> = Schema.Struct({
  /** TTL of sent datagrams (default 64). */
  defaultTtl: Schema.optional(int(1, 255)),
  /** Reassembly timeout, ms (default 30 000). */
  reassemblyTimeout: Schema.optional(millis),
  /** Most fragment bytes held (default 4 MiB). */
  reassemblyMaxBytes: Schema.optional(int(0, 1 << 30)),
  /** Most datagrams reassembled at once (default 256). */
  reassemblyMaxDatagrams: Schema.optional(int(1, 65536)),
})

/** Schema of the `icmp` part of a {@link StackConfig}. */
export const IcmpConfigSchema: Schema.Struct<{
  readonly rateLimit: Schema.optional<
    Schema.Struct<{ readonly perSecond: Schema.optional<Schema.Finite>; readonly burst: Schema.optional<Schema.Int> }>
  >
  readonly protocolUnreachable: Schema.optional<Schema.Boolean>
}> = Schema.Struct({
  /** Error messages per second and burst (default 100 / 50). */
  rateLimit: Schema.optional(Schema.Struct({
    perSecond: Schema.optional(Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0.001, maximum: 1e9 })))),
    burst: Schema.optional(int(1, 1_000_000)),
  })),
  /** Answer unknown protocols with "protocol unreachable" (default true). */
  protocolUnreachable: Schema.optional(Schema.Boolean),
})

/** Schema of the `udp` part of a {@link StackConfig}. */
export const UdpConfigSchema: Schema.Struct<{ readonly queueSize: Schema.optional<Schema.Int> }> = Schema.Struct({
  /** Receive queue per socket, in datagrams (default 1024). */
  queueSize: Schema.optional(int(1, 1 << 20)),
})

/** Schema of a stack's configuration (what `Stack.make` accepts, as plain JSON-like data). */
export const StackConfig: Schema.Struct<{
  readonly cidr: typeof Ipv4Cidr
  readonly gateway: Schema.optional<typeof Ipv4AddressFromString>
  readonly mtu: Schema.optional<Schema.Int>
  readonly checksum: Schema.optional<Schema.Literals<readonly ["offload", "all"]>>
  readonly queueCapacity: Schema.optional<Schema.Int>
  readonly arp: Schema.optional<typeof ArpConfigSchema>
  readonly ipv4: Schema.optional<typeof Ipv4ConfigSchema>
  readonly icmp: Schema.optional<typeof IcmpConfigSchema>
  readonly udp: Schema.optional<typeof UdpConfigSchema>
  readonly tcp: Schema.optional<typeof TcpConfigSchema>
}> = Schema.Struct({
  /** Address and prefix length, e.g. "10.0.0.2/24". */
  cidr: Ipv4Cidr,
  /** Default gateway on the subnet, e.g. "10.0.0.1". */
  gateway: Schema.optional(Ipv4AddressFromString),
  /** Device MTU, 68..65535 (default 1500). */
  mtu: Schema.optional(int(68, 65535)),
  /** Checksum handling: "offload" (default; the in-process switch cannot corrupt) or "all" (compute and verify). */
  checksum: Schema.optional(Schema.Literals(["offload", "all"] as const)),
  /** Receive queue of the switch port, in frames (default: the backend's). */
  queueCapacity: Schema.optional(int(1, 1 << 20)),
  /** ARP tunables. */
  arp: Schema.optional(ArpConfigSchema),
  /** IPv4 tunables. */
  ipv4: Schema.optional(Ipv4ConfigSchema),
  /** ICMP tunables. */
  icmp: Schema.optional(IcmpConfigSchema),
  /** UDP tunables. */
  udp: Schema.optional(UdpConfigSchema),
  /** TCP tunables (see `TcpConfigSchema` in `tcp/Tcp.ts`). */
  tcp: Schema.optional(TcpConfigSchema),
})

/** A decoded stack configuration. */
export type StackConfig = typeof StackConfig.Type
/** A stack configuration as written (strings for addresses). */
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
  readonly tcp?: Layer.Layer<Tcp, unknown, Ipv4>
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
  NetifError: "Link",
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
  const reason: StackErrorReason = tag === "Ipv4Error" && (e as { reason?: string }).reason === "InvalidConfig"
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

const decode = Schema.decodeUnknownEffect(StackConfig)
const isDecoded = Schema.is(StackConfig)

/**
 * Decodes and checks a configuration — written form (`StackConfigInput`, strings for addresses) or an already
 * decoded `StackConfig` — failing with `StackError` "InvalidConfig" listing every problem found.
 */
const decodeConfig = (config: unknown): Effect.Effect<StackConfig, StackError> =>
  (isDecoded(config) ? Effect.succeed(config) : decode(config, { errors: "all" })).pipe(
    Effect.mapError((e) =>
      new StackError({ reason: "InvalidConfig", message: `invalid stack configuration: ${e.message}`, cause: e })
    ),
    Effect.flatMap((cfg) => {
      const route = routeFromConfig({ cidr: cfg.cidr, gateway: cfg.gateway })
      return route._tag === "Failure"
        ? Effect.fail(
          new StackError({
            reason: "InvalidConfig",
            message: `invalid stack configuration: ${route.failure.message}`,
            cause: route.failure,
          }),
        )
        : Effect.succeed(cfg)
    }),
  )

/** The composed layer of a decoded configuration (no decoding, no fresh memo map: see `Stack.make`). */
const layers = (
  cfg: StackConfig,
  overrides: StackOverrides = {},
): Layer.Layer<StackServices, StackError, Backend> => {
  const address = cfg.cidr.address
  const vnetif = overrides.vnetif ?? Vnetif.layer({
    ...(cfg.mtu === undefined ? {} : { mtu: cfg.mtu }),
    ...(cfg.queueCapacity === undefined ? {} : { queueCapacity: cfg.queueCapacity }),
    checksum: cfg.checksum === "all" ? ChecksumCapabilities.all : ChecksumCapabilities.offload,
  })
  const ethernet = overrides.ethernet ?? Ethernet.layer
  const a = cfg.arp ?? {}
  const arp = overrides.arp ?? Arp.layer({
    address,
    ...(a.timeout === undefined ? {} : { timeout: a.timeout }),
    ...(a.retries === undefined ? {} : { retries: a.retries }),
    ...(a.retryInterval === undefined ? {} : { retryInterval: a.retryInterval }),
    ...(a.pendingLimit === undefined ? {} : { pendingLimit: a.pendingLimit }),
    ...(a.announce === undefined ? {} : { announce: a.announce }),
  })
  const i = cfg.ipv4 ?? {}
  const ipv4 = overrides.ipv4 ?? Ipv4.layer({
    cidr: cfg.cidr,
    gateway: cfg.gateway,
    ...(i.defaultTtl === undefined ? {} : { defaultTtl: i.defaultTtl }),
    reassembly: {
      ...(i.reassemblyTimeout === undefined ? {} : { timeout: i.reassemblyTimeout }),
      ...(i.reassemblyMaxBytes === undefined ? {} : { maxBytes: i.reassemblyMaxBytes }),
      ...(i.reassemblyMaxDatagrams === undefined ? {} : { maxDatagrams: i.reassemblyMaxDatagrams }),
    },
  })
  const ic = cfg.icmp ?? {}
  const icmp = overrides.icmp ?? Icmp.layer({
    ...(ic.rateLimit === undefined ? {} : {
      rateLimit: {
        ...(ic.rateLimit.perSecond === undefined ? {} : { perSecond: ic.rateLimit.perSecond }),
        ...(ic.rateLimit.burst === undefined ? {} : { burst: ic.rateLimit.burst }),
      },
    }),
    ...(ic.protocolUnreachable === undefined ? {} : { protocolUnreachable: ic.protocolUnreachable }),
  })
  const udp = overrides.udp ?? Udp.layer(cfg.udp?.queueSize === undefined ? {} : { queueSize: cfg.udp.queueSize })
  const tcp = overrides.tcp ?? Tcp.layer(cfg.tcp ?? {})
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
  config: unknown,
  overrides?: StackOverrides,
): Effect.Effect<
  { readonly cfg: StackConfig; readonly context: Context.Context<StackServices> },
  StackError,
  Backend | Scope.Scope
> =>
  Effect.gen(function* () {
    const cfg = yield* decodeConfig(config)
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
  config: unknown,
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
      icmp: Context.get(ctx, Icmp),
      udp: Context.get(ctx, Udp),
      tcp: Context.get(ctx, Tcp),
      address: ipv4.address,
      prefixLength: ipv4.prefixLength,
      mac: vnetif.mac,
      config: cfg,
    }
  })

const layer = (config: unknown, overrides?: StackOverrides): Layer.Layer<StackServices, StackError, Backend> =>
  Layer.effectContext(Effect.map(build(config, overrides), (b) => b.context))

/** Building stacks: `Stack.make(config)` (a handle, in the current Scope) or `Stack.layer(config)`. */
export const Stack: {
  /** Decodes `config` and builds a fresh stack on the context's Backend; it lives as long as the Scope. */
  readonly make: (
    config: StackConfigInput | StackConfig | unknown,
    overrides?: StackOverrides,
  ) => Effect.Effect<StackHandle, StackError, Backend | Scope.Scope>
  /** The same build as a Layer providing Vnetif, Ethernet, Arp, Ipv4, Icmp, Udp and Tcp. */
  readonly layer: (config: unknown, overrides?: StackOverrides) => Layer.Layer<StackServices, StackError, Backend>
  /** Decodes and validates a configuration without building anything. */
  readonly decodeConfig: (config: unknown) => Effect.Effect<StackConfig, StackError>
  /** The composed Layer of a decoded configuration (each protocol replaceable through `overrides`). */
  readonly layers: (cfg: StackConfig, overrides?: StackOverrides) => Layer.Layer<StackServices, StackError, Backend>
} = { make, layer, decodeConfig, layers }
