/**
 * vnetif — a virtual network interface, a software Ethernet switch and a userspace TCP/IP stack for TypeScript,
 * built on Effect v4 and native to Bun and Deno.
 *
 * Layers, bottom to top: wire codecs (pure), the link layer ({@link Backend}, {@link Switch}, {@link Vnetif}),
 * and protocol services, each an Effect service with its own Layer.
 *
 * @module
 */

// wire: pure codecs, checksums, addresses
export * from "./src/wire/Ipv4Address.ts"
export { Ipv6Address, Ipv6AddressFromString, Ipv6AddressSchema } from "./src/wire/Ipv6Address.ts"
export * from "./src/wire/IpAddress.ts"
export * from "./src/wire/MacAddress.ts"
export { WireError, WireErrorBase, type WireErrorFields, type WireErrorReason } from "./src/wire/WireError.ts"
// the RFC 1071 helpers (sum, fold, finish, combine, pseudoHeaderSum, …) only as the `Checksum` namespace
export { Checksum, ChecksumCapabilities, type ChecksumMode } from "./src/wire/Checksum.ts"
export * from "./src/wire/Ethernet.ts"
export * from "./src/wire/Arp.ts"
export * from "./src/wire/Ipv4.ts"
export * from "./src/wire/Icmpv4.ts"
export * from "./src/wire/Udp.ts"
export * from "./src/wire/Tcp.ts"
export * from "./src/wire/Pcap.ts"
/** The tcpdump-like one-line frame formatter: `Format.formatFrame`, `Format.formatLine`, `Format.formatTimestamp`. */
export * as Format from "./src/wire/Format.ts"

// link: backend contract, in-process switch, network device
export * from "./src/link/Backend.ts"
export * from "./src/link/Switch.ts"
export {
  ChecksumCapabilitiesSchema,
  type FrameDirection,
  type FrameMonitor,
  Vnetif,
  VnetifBase,
  VnetifChecksum,
  VnetifConfig,
  type VnetifConfigInput,
  VnetifError,
  VnetifErrorBase,
  type VnetifErrorFields,
  type VnetifErrorReason,
  type VnetifShape,
  type VnetifStats,
} from "./src/link/Vnetif.ts"
export * from "./src/link/middleware/Impairment.ts"
export * from "./src/link/middleware/Capture.ts"
export * from "./src/link/middleware/Trace.ts"
export {
  type LinkDropSource,
  LinkMetricKeys,
  LinkMetrics,
  type LinkMetricsHandle,
  type LinkMetricsOptions,
  LinkMetricsService,
  LinkMetricsServiceBase,
  type LinkPortStats,
  type LinkStats,
} from "./src/link/middleware/Metrics.ts"
export * from "./src/link/uplink/Uplink.ts"
export * from "./src/link/uplink/Tap.ts"
export * from "./src/link/uplink/Vxlan.ts"

// protocol services and the stack
export * from "./src/ethernet/Ethernet.ts"
export * from "./src/arp/Arp.ts"
export * from "./src/ip/Ip.ts"
export * from "./src/ipv4/Ipv4.ts"
export type { NextHop, Route } from "./src/ipv4/Routing.ts"
export type { ReassemblyOptions, ReassemblyStats } from "./src/ipv4/Reassembly.ts"
export * from "./src/icmp/Icmp.ts"
export * from "./src/udp/Udp.ts"
export * from "./src/tcp/Tcp.ts"
export * from "./src/Stack.ts"
export * from "./src/Simulation.ts"
export * from "./src/StackMetrics.ts"

// shared types
export type { TaggedErrorClass } from "./src/util/TaggedErrorClass.ts"
export type { DurationString, Millis, MillisInput } from "./src/util/Config.ts"
