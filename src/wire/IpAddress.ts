/**
 * An address of either IP version: `IpAddress = Ipv4Address | Ipv6Address`. An IPv4 address is a branded number and
 * an IPv6 address an interned object, so both compare with `===`, both are `Map` keys, and the family is a
 * `typeof` test (no tag field, nothing allocated).
 *
 * Text: `parse` accepts the dotted quad of RFC 791 or any RFC 4291 §2.2 IPv6 form (an IPv4-mapped IPv6 text such as
 * "::ffff:10.0.0.1" stays an IPv6 address: the family is what was written); `format` gives dotted quad or the RFC
 * 5952 canonical form, and `formatEndpoint` the RFC 5952 §6 form with a port ("10.0.0.1:80", "[2001:db8::1]:80").
 *
 * @module
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { Ipv4Address, Ipv4AddressSchema } from "./Ipv4Address.ts"
import { Ipv6Address, Ipv6AddressSchema } from "./Ipv6Address.ts"

/** An IPv4 or an IPv6 address (compare with `===`). */
export type IpAddress = Ipv4Address | Ipv6Address

/** An IP version: 4 or 6. */
export type IpFamily = 4 | 6

const isV4 = (a: IpAddress): a is Ipv4Address => typeof a === "number"

const format = (a: IpAddress): string => isV4(a) ? Ipv4Address.format(a) : Ipv6Address.format(a)

const parse = (s: string): IpAddress | undefined => {
  if (typeof s !== "string") return undefined
  return s.indexOf(":") >= 0 ? Ipv6Address.parse(s) : Ipv4Address.parse(s)
}

/** The API of {@link IpAddress}: family tests, text forms. */
export interface IpAddressApi {
  /** The family of an address: 4 or 6. */
  readonly family: (a: IpAddress) => IpFamily
  /** True for an IPv4 address. */
  readonly isIpv4: (a: IpAddress) => a is Ipv4Address
  /** True for an IPv6 address. */
  readonly isIpv6: (a: IpAddress) => a is Ipv6Address
  /** Parses a dotted quad or an IPv6 text form; `undefined` when `s` is neither. Never throws. */
  readonly parse: (s: string) => IpAddress | undefined
  /** Dotted quad for IPv4, RFC 5952 canonical text for IPv6. */
  readonly format: (a: IpAddress) => string
  /** `addr:port`, with the IPv6 address in brackets (RFC 5952 §6). */
  readonly formatEndpoint: (a: IpAddress, port: number) => string
  /** True for the unspecified address of either family (0.0.0.0, ::). */
  readonly isUnspecified: (a: IpAddress) => boolean
  /** True for a multicast address of either family (224.0.0.0/4, ff00::/8). */
  readonly isMulticast: (a: IpAddress) => boolean
}

/** Helpers for addresses of either family; the type of the same name is the union. */
export const IpAddress: IpAddressApi = {
  family: (a) => isV4(a) ? 4 : 6,
  isIpv4: isV4,
  isIpv6: (a): a is Ipv6Address => typeof a !== "number",
  parse,
  format,
  formatEndpoint: (a, port) => isV4(a) ? `${Ipv4Address.format(a)}:${port}` : `[${Ipv6Address.format(a)}]:${port}`,
  isUnspecified: (a) => isV4(a) ? a === 0 : Ipv6Address.isUnspecified(a),
  isMulticast: (a) => isV4(a) ? Ipv4Address.isMulticast(a) : Ipv6Address.isMulticast(a),
}

/** Schema of the decoded value: an IPv4 address (number) or an IPv6 address (interned object). */
export const IpAddressSchema: Schema.Codec<IpAddress, number | Ipv6Address> = Schema.Union([
  Ipv4AddressSchema,
  Ipv6AddressSchema,
])

/** Schema: IPv4 or IPv6 text ↔ {@link IpAddress}; encodes to dotted quad or the RFC 5952 form. */
export const IpAddressFromString: Schema.Codec<IpAddress, string> = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      parse(s) !== undefined ||
      `expected an IPv4 address like "10.0.0.1" or an IPv6 address like "2001:db8::1", got ${JSON.stringify(s)}`
    ),
  ),
  Schema.decodeTo(
    IpAddressSchema,
    SchemaTransformation.transform<number | Ipv6Address, string>({
      decode: (s) => parse(s) ?? 0,
      encode: (a) => format(a as IpAddress),
    }),
  ),
)
