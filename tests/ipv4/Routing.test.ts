/**
 * Tests of the pure routing decisions: on-link vs gateway, broadcast and multicast MACs, accepted destinations,
 * and configuration validation messages.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import {
  acceptsDestination,
  isBadSource,
  makeRoute,
  martianSource,
  multicastMac,
  nextHop,
  validateRoute,
} from "../../src/ipv4/Routing.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { ip } from "../support/TestDevice.ts"

describe("Routing", () => {
  const r = makeRoute(ip("10.0.0.2"), 24, ip("10.0.0.1"))

  it("sends on-link destinations directly and the rest to the gateway", () => {
    assert.deepEqual(nextHop(r, ip("10.0.0.77")), { _tag: "Unicast", ip: ip("10.0.0.77") })
    assert.deepEqual(nextHop(r, ip("8.8.8.8")), { _tag: "Unicast", ip: ip("10.0.0.1") })
    assert.deepEqual(nextHop(r, ip("10.0.1.5")), { _tag: "Unicast", ip: ip("10.0.0.1") })
  })

  it("has no route off-link without a gateway", () => {
    const h = nextHop(makeRoute(ip("10.0.0.2"), 24), ip("8.8.8.8"))
    assert.equal(h._tag, "NoRoute")
    assert.match(h._tag === "NoRoute" ? h.message : "", /8\.8\.8\.8.*no gateway/)
  })

  it("maps broadcasts and multicast to group MACs, own and loopback addresses to Local", () => {
    assert.deepEqual(nextHop(r, ip("255.255.255.255")), { _tag: "Group", mac: MacAddress.BROADCAST })
    assert.deepEqual(nextHop(r, ip("10.0.0.255")), { _tag: "Group", mac: MacAddress.BROADCAST })
    assert.equal(MacAddress.format(multicastMac(ip("224.1.2.3"))), "01:00:5e:01:02:03")
    assert.equal(MacAddress.format(multicastMac(ip("239.129.2.3"))), "01:00:5e:01:02:03") // top bit of 23 dropped
    assert.deepEqual(nextHop(r, ip("224.0.0.251")), { _tag: "Group", mac: multicastMac(ip("224.0.0.251")) })
    assert.deepEqual(nextHop(r, ip("10.0.0.2")), { _tag: "Local" })
    assert.deepEqual(nextHop(r, ip("127.0.0.1")), { _tag: "Local" })
  })

  it("accepts own, broadcast and all-hosts destinations; rejects bad sources", () => {
    for (const a of ["10.0.0.2", "255.255.255.255", "10.0.0.255", "224.0.0.1"]) {
      assert.ok(acceptsDestination(r, ip(a)), a)
    }
    for (const a of ["10.0.0.3", "224.0.0.251", "10.0.1.255"]) assert.ok(!acceptsDestination(r, ip(a)), a)
    const me = ip("10.0.0.2")
    // RFC 1122 §3.2.1.3 martians: own address, 127/8, broadcasts, 224/4, 240/4, 0/8
    for (
      const a of [
        "10.0.0.2",
        "127.0.0.1",
        "127.255.0.9",
        "255.255.255.255",
        "10.0.0.255",
        "224.0.0.1",
        "239.255.255.255",
        "240.0.0.1",
        "0.0.0.1",
        "0.255.255.255",
      ]
    ) assert.ok(isBadSource(r, ip(a), me), a)
    assert.ok(isBadSource(r, ip("0.0.0.0"), me), "0.0.0.0 to a unicast address")
    assert.ok(isBadSource(r, ip("0.0.0.1"), ip("255.255.255.255")), "0.0.0.1 even to the limited broadcast")
    assert.ok(!isBadSource(r, ip("0.0.0.0"), ip("255.255.255.255")), "0.0.0.0 to the limited broadcast (DHCP)")
    for (const a of ["10.0.0.9", "10.0.0.0", "1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.254"]) {
      assert.ok(!isBadSource(r, ip(a), me), a)
    }
  })

  it("names the reason of each martian source", () => {
    const me = ip("10.0.0.2")
    const cases: ReadonlyArray<readonly [string, string | undefined]> = [
      ["10.0.0.2", "Own"],
      ["127.0.0.1", "Loopback"],
      ["0.0.0.1", "ThisNetwork"],
      ["0.0.0.0", "ThisNetwork"],
      ["224.0.0.1", "Multicast"],
      ["239.255.255.255", "Multicast"],
      ["240.0.0.1", "Reserved"],
      ["255.255.255.255", "Reserved"],
      ["10.0.0.255", "Broadcast"],
      ["10.0.0.9", undefined],
    ]
    for (const [a, reason] of cases) assert.equal(martianSource(r, ip(a), me), reason, a)
    assert.equal(martianSource(r, ip("0.0.0.0"), ip("255.255.255.255")), undefined, "DHCP")
    assert.equal(martianSource(makeRoute(ip("10.0.0.2"), 31), ip("10.0.0.3"), me), undefined, "/31: no broadcast")
  })

  it("/31 and /32 have no directed broadcast", () => {
    assert.equal(makeRoute(ip("10.0.0.0"), 31).broadcast, undefined)
    assert.equal(validateRoute(makeRoute(ip("10.0.0.0"), 31)), undefined)
    const host = makeRoute(ip("10.0.0.2"), 32, undefined)
    assert.equal(nextHop(host, ip("10.0.0.3"))._tag, "NoRoute")
  })

  it("validates a configuration with actionable messages", () => {
    assert.equal(validateRoute(r), undefined)
    assert.match(validateRoute(makeRoute(ip("10.0.0.2"), 24, ip("10.0.1.1")))!, /not on the subnet 10\.0\.0\.0\/24/)
    assert.match(validateRoute(makeRoute(ip("10.0.0.255"), 24))!, /broadcast address/)
    assert.match(validateRoute(makeRoute(ip("0.0.0.0"), 24))!, /0\.0\.0\.0/)
    assert.match(validateRoute(makeRoute(ip("224.0.0.5"), 24))!, /multicast/)
    assert.match(validateRoute(makeRoute(ip("10.0.0.2"), 24, ip("10.0.0.2")))!, /own address/)
  })
})
