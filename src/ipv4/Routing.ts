/**
 * IPv4 routing for a host with one interface, as pure functions: is a destination on-link or behind the gateway,
 * which addresses does this host accept, and which MAC does a broadcast or multicast destination map to.
 *
 * Implements: RFC 1122 §3.3.1.1 (a destination on the connected subnet is sent to directly, any other through a
 * gateway; no gateway → no route), §3.3.6 and RFC 919/922 (limited and directed broadcast), RFC 1112 §6.4
 * (IPv4 multicast → 01:00:5e + the low 23 bits), RFC 3021 (/31 has no directed broadcast; /32 has no on-link
 * neighbours), RFC 1122 §3.2.1.3 (martian sources: addresses a host must not accept as the source of a datagram).
 *
 * Invariants: every function is total and allocation-free except `makeRoute`; addresses are `Ipv4Address` numbers.
 *
 * @module
 */
import { Ipv4Address } from "../wire/Ipv4Address.ts"
import { MacAddress } from "../wire/MacAddress.ts"

/** The addressing of one interface: its address, prefix, and optional default gateway. */
export interface Route {
  /** This host's address. */
  readonly address: Ipv4Address
  /** Prefix length `0 ..= 32`. */
  readonly prefixLength: number
  /** The netmask matching `prefixLength`. */
  readonly netmask: Ipv4Address
  /** The subnet's network address. */
  readonly network: Ipv4Address
  /** The subnet's directed broadcast address, or `undefined` for /31 and /32. */
  readonly broadcast: Ipv4Address | undefined
  /** The default gateway (on-link), if any. */
  readonly gateway: Ipv4Address | undefined
}

/** Where an outbound datagram goes at the link layer. */
export type NextHop =
  /** A unicast neighbour whose MAC ARP resolves (the destination itself, or the gateway). */
  | { readonly _tag: "Unicast"; readonly ip: Ipv4Address }
  /** A link-layer group address that needs no resolution (broadcast or multicast). */
  | { readonly _tag: "Group"; readonly mac: MacAddress }
  /** This host itself (loopback and own address), which is not sent on the wire. */
  | { readonly _tag: "Local" }
  /** No way to reach the destination. */
  | { readonly _tag: "NoRoute"; readonly message: string }

/** Builds a {@link Route}; `gateway` should be on-link (see {@link validateRoute}). */
export const makeRoute = (address: Ipv4Address, prefixLength: number, gateway?: Ipv4Address): Route => ({
  address,
  prefixLength,
  netmask: Ipv4Address.prefixMask(prefixLength),
  network: Ipv4Address.network(address, prefixLength),
  broadcast: prefixLength < 31 ? Ipv4Address.directedBroadcast(address, prefixLength) : undefined,
  gateway,
})

/** Checks the configuration; returns a message a person can act on, or `undefined` when it is usable. */
export const validateRoute = (route: Route): string | undefined => {
  const a = route.address
  const text = Ipv4Address.format(a)
  if (Ipv4Address.isUnspecified(a)) return "the interface address must not be 0.0.0.0"
  if (Ipv4Address.isMulticast(a) || (a >>> 28) === 0xf) {
    return `the interface address ${text} is a multicast or reserved (class E) address`
  }
  if (Ipv4Address.isLoopback(a)) return `the interface address ${text} is a loopback address`
  if (route.prefixLength < 31 && (a === route.network || a === route.broadcast)) {
    return `the interface address ${text} is the network or broadcast address of its /${route.prefixLength} subnet`
  }
  const g = route.gateway
  if (g !== undefined) {
    const gt = Ipv4Address.format(g)
    if (g === a) return `the gateway ${gt} is the interface's own address`
    if (!Ipv4Address.sameSubnet(g, a, route.prefixLength) || route.prefixLength === 32) {
      return `the gateway ${gt} is not on the subnet ${Ipv4Address.format(route.network)}/${route.prefixLength}`
    }
    if (g === route.network || g === route.broadcast) return `the gateway ${gt} is the network or broadcast address`
  }
  return undefined
}

/** The Ethernet group address of an IPv4 multicast address (RFC 1112 §6.4: 01:00:5e + low 23 bits). */
export const multicastMac = (ip: Ipv4Address): MacAddress => (0x01005e000000 + (ip & 0x7fffff)) as MacAddress

/** True when `dst` is on the connected subnet (excluding this host's own address). */
export const isOnLink = (route: Route, dst: Ipv4Address): boolean =>
  route.prefixLength < 32 && Ipv4Address.sameSubnet(dst, route.address, route.prefixLength)

/** Decides the next hop of a datagram to `dst` (RFC 1122 §3.3.1). */
export const nextHop = (route: Route, dst: Ipv4Address): NextHop => {
  if (dst === route.address || Ipv4Address.isLoopback(dst)) return { _tag: "Local" }
  if (dst === Ipv4Address.BROADCAST || dst === route.broadcast) return { _tag: "Group", mac: MacAddress.BROADCAST }
  if (Ipv4Address.isMulticast(dst)) return { _tag: "Group", mac: multicastMac(dst) }
  if (Ipv4Address.isUnspecified(dst)) return { _tag: "NoRoute", message: "cannot send to 0.0.0.0" }
  if (isOnLink(route, dst)) return { _tag: "Unicast", ip: dst }
  if (route.gateway !== undefined) return { _tag: "Unicast", ip: route.gateway }
  return {
    _tag: "NoRoute",
    message: `${Ipv4Address.format(dst)} is not on ${Ipv4Address.format(route.network)}/${route.prefixLength} ` +
      "and no gateway is configured",
  }
}

/** The all-hosts group 224.0.0.1, the one multicast group this host accepts (no IGMP yet). */
export const ALL_HOSTS: Ipv4Address = 0xe0000001 as Ipv4Address

/**
 * True when an inbound datagram to `dst` is for this host: its own address, the limited or directed broadcast, or
 * the all-hosts group.
 */
export const acceptsDestination = (route: Route, dst: Ipv4Address): boolean =>
  dst === route.address || dst === Ipv4Address.BROADCAST || dst === route.broadcast || dst === ALL_HOSTS

/** True when `dst` is a broadcast or multicast address (as seen from this interface). */
export const isGroupDestination = (route: Route, dst: Ipv4Address): boolean =>
  dst === Ipv4Address.BROADCAST || dst === route.broadcast || Ipv4Address.isMulticast(dst)

/**
 * Why a source address is martian (see {@link martianSource}); each reason has its own counter in `Ipv4Stats`.
 * - `"Own"`: this host's own address (a datagram we send to ourselves never reaches the wire: the "land" attack);
 * - `"Loopback"`: 127/8;
 * - `"ThisNetwork"`: 0/8 ("this network"), except 0.0.0.0 to the limited broadcast;
 * - `"Multicast"`: 224/4;
 * - `"Reserved"`: 240/4 (class E), which holds the limited broadcast 255.255.255.255;
 * - `"Broadcast"`: the directed broadcast of our subnet.
 */
export type MartianSource = "Own" | "Loopback" | "ThisNetwork" | "Multicast" | "Reserved" | "Broadcast"

/**
 * Why `src` is not a valid source of a datagram to `dst` received from the wire (a martian source, RFC 1122
 * §3.2.1.3; the rules Linux applies in `ip_route_input_slow`), or `undefined` when it is valid: this host's own
 * address (a datagram we send to ourselves never reaches the wire; one that arrives from it is spoofed, the "land"
 * attack), loopback 127/8, "this network" 0/8 — except 0.0.0.0 to the limited broadcast, which a host that does not
 * know its address yet sends (DHCP/BOOTP, §3.2.1.3 (a)) —, multicast 224/4, class E 240/4 (with the limited
 * broadcast) and our directed broadcast, checked in that order. Allocation-free (the reasons are string literals).
 */
export const martianSource = (route: Route, src: Ipv4Address, dst: Ipv4Address): MartianSource | undefined => {
  const top = src >>> 24
  if (src === route.address) return "Own"
  if (top === 127) return "Loopback"
  if (top === 0) return src === 0 && dst === Ipv4Address.BROADCAST ? undefined : "ThisNetwork"
  if (top >= 0xf0) return "Reserved"
  if (top >= 0xe0) return "Multicast"
  if (src === route.broadcast) return "Broadcast"
  return undefined
}

/** True when `src` is a martian source of a datagram to `dst` ({@link martianSource} gives the reason). */
export const isBadSource = (route: Route, src: Ipv4Address, dst: Ipv4Address): boolean =>
  martianSource(route, src, dst) !== undefined
