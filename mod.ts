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
export * from "./src/wire/Ipv6Address.ts"
export * from "./src/wire/IpAddress.ts"
export * from "./src/wire/MacAddress.ts"
export * from "./src/wire/WireError.ts"
export * from "./src/wire/Checksum.ts"
export * from "./src/wire/Ethernet.ts"
export * from "./src/wire/Arp.ts"
export * from "./src/wire/Ipv4.ts"
export * from "./src/wire/Icmpv4.ts"
export * from "./src/wire/Udp.ts"
export * from "./src/wire/Tcp.ts"
export * from "./src/wire/Pcap.ts"

// link: backend contract, in-process switch, network device
export * from "./src/link/Backend.ts"
export * from "./src/link/Switch.ts"
export * from "./src/link/Vnetif.ts"
export * from "./src/link/Impairment.ts"
export * from "./src/link/Capture.ts"
export * from "./src/link/Trace.ts"
export * from "./src/link/Metrics.ts"
export * from "./src/link/Uplink.ts"
export * from "./src/link/Tap.ts"
export * from "./src/link/Vxlan.ts"

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
