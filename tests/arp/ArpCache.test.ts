/**
 * Tests of the pure ARP table: lazy expiry, the RFC 826 merge rule, static entries, pending queues and their bound.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { ArpCache } from "../../src/arp/ArpCache.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import type { MacAddress } from "../../src/wire/MacAddress.ts"

const IP1 = 0x0a000001 as Ipv4Address
const IP2 = 0x0a000002 as Ipv4Address
const M1 = 0x025000000001 as MacAddress
const M2 = 0x025000000002 as MacAddress

describe("ArpCache", () => {
  it("learns, expires exactly at the timeout (lazy), and sweeps", () => {
    const c = new ArpCache<string>({ timeout: 1000, pendingLimit: 2 })
    c.learn(IP1, M1, 0)
    assert.equal(c.lookup(IP1, 999), M1)
    assert.equal(c.nextExpiry(), 1000)
    assert.equal(c.lookup(IP1, 1000), undefined)
    assert.equal(c.size, 0)
    c.learn(IP1, M1, 0)
    c.learn(IP2, M2, 500)
    assert.equal(c.expire(1200), 1)
    assert.deepEqual(c.snapshot(1200).map((e) => e.ip), [IP2])
    assert.equal(c.expire(1500), 1)
    assert.equal(c.nextExpiry(), undefined)
  })

  it("peek reads a live entry without making it the most recently used", () => {
    const c = new ArpCache({ timeout: 1000, pendingLimit: 2, maxEntries: 2 })
    c.learn(IP1, M1, 0)
    c.learn(IP2, M2, 0)
    assert.equal(c.peek(IP1, 999), M1)
    assert.equal(c.peek(IP1, 1000), undefined, "expired")
    c.learn(0x0a000003 as Ipv4Address, M1, 10) // evicts the least recently used: IP1, peek did not count as use
    assert.equal(c.lookup(IP1, 10), undefined)
    assert.equal(c.lookup(IP2, 10), M2)
  })

  it("merge only refreshes existing entries (RFC 826)", () => {
    const c = new ArpCache({ timeout: 1000, pendingLimit: 2 })
    assert.equal(c.merge(IP1, M1, 0), false)
    assert.equal(c.lookup(IP1, 0), undefined)
    c.learn(IP1, M1, 0)
    assert.equal(c.merge(IP1, M2, 900), true)
    assert.equal(c.lookup(IP1, 1800), M2) // refreshed at 900 → expires at 1900
  })

  it("static entries never expire and are not overwritten by learning", () => {
    const c = new ArpCache({ timeout: 1000, pendingLimit: 2 })
    c.addStatic(IP1, M1)
    c.learn(IP1, M2, 0)
    c.merge(IP1, M2, 0)
    assert.equal(c.lookup(IP1, 1e12), M1)
    assert.equal(c.expire(1e12), 0)
    assert.deepEqual(c.snapshot(5).map((e) => [e.kind, e.expiresAt]), [["static", Infinity]])
    assert.equal(c.remove(IP1), true)
    assert.equal(c.lookup(IP1, 0), undefined)
  })

  it("queues pending packets up to the limit and hands them over on learn (or drops them on failure)", () => {
    const c = new ArpCache<string>({ timeout: 1000, pendingLimit: 2 })
    assert.equal(c.enqueue(IP1, "a"), true)
    assert.equal(c.enqueue(IP1, "b"), true)
    assert.equal(c.enqueue(IP1, "c"), false)
    assert.equal(c.isPending(IP1), true)
    assert.deepEqual(c.learn(IP1, M1, 0), ["a", "b"])
    assert.equal(c.isPending(IP1), false)
    c.enqueue(IP2, "x")
    assert.deepEqual(c.failPending(IP2), ["x"])
    assert.equal(c.pendingCount, 0)
    c.startPending(IP2)
    assert.deepEqual(c.addStatic(IP2, M2), [])
    assert.equal(c.pendingCount, 0)
  })

  it("update: the same MAC confirms; another MAC is refused while reachable unless forced, accepted once stale", () => {
    const c = new ArpCache({ timeout: 1000, pendingLimit: 2, reachableTime: 300 })
    assert.equal(c.update(IP1, M1, 0, false), "absent")
    c.learn(IP1, M1, 0)
    assert.equal(c.update(IP1, M2, 299, false), "refused")
    assert.equal(c.lookup(IP1, 299), M1)
    assert.equal(c.update(IP1, M1, 200, false), "confirmed") // reachable until 500 now
    assert.equal(c.update(IP1, M2, 499, false), "refused")
    assert.equal(c.update(IP1, M2, 499, true), "changed")
    assert.equal(c.update(IP1, M1, 799, false), "changed") // confirmed at 499, stale from 799
    c.addStatic(IP2, M2)
    assert.equal(c.update(IP2, M1, 0, true), "static")
  })

  it("holds at most maxEntries dynamic entries, evicting the least recently used; static ones are not counted", () => {
    const c = new ArpCache({ timeout: 1000, pendingLimit: 2, maxEntries: 2 })
    const ip = (i: number) => (0x0a010000 + i) as Ipv4Address
    c.addStatic(IP1, M1)
    c.learn(ip(1), M2, 0)
    c.learn(ip(2), M2, 0)
    assert.equal(c.lookup(ip(1), 1), M2) // ip(1) is now the most recently used
    c.learn(ip(3), M2, 2)
    assert.deepEqual(c.snapshot(3).map((e) => e.ip), [IP1, ip(1), ip(3)])
    assert.equal(c.evictions, 1)
    for (let i = 4; i < 100; i++) c.learn(ip(i), M2, 3)
    assert.equal(c.dynamicSize, 2)
    assert.equal(c.size, 3)
    assert.equal(c.evictions, 97)
    assert.equal(c.lookup(IP1, 4), M1)
    c.remove(ip(99))
    c.learn(ip(100), M2, 5)
    assert.equal(c.evictions, 97, "room made by remove is used first")
  })
})
