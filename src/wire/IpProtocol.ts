/**
 * IP protocol numbers (IANA "Assigned Internet Protocol Numbers"): the IPv4 Protocol field and the IPv6 Next Header
 * field share one number space (RFC 8200 §3), so transports name themselves here without knowing an IP version.
 *
 * @module
 */

/** IP protocol numbers we know (IANA "Assigned Internet Protocol Numbers"). */
export const IpProtocol: { readonly Icmp: 1; readonly Tcp: 6; readonly Udp: 17 } = { Icmp: 1, Tcp: 6, Udp: 17 }
