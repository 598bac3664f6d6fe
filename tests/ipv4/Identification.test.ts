/**
 * Tests of the IPv4 identification generator (`src/ipv4/Identification.ts`, RFC 7739 §5.3): the keyed hash against
 * the HalfSipHash-2-4 reference vector, the idle-scan property (datagrams to one host do not move the
 * identifications another host sees), successive identifications to one destination (65 536 distinct ones in a
 * row), the random advance after idle time bounded by that time, and determinism for one secret.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import {
  halfSipHash3,
  IDENT_BUCKETS,
  type IdentificationSecret,
  Ipv4Identification,
} from "../../src/ipv4/Identification.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import { ip } from "../support/TestDevice.ts"

const SECRET: IdentificationSecret = { k0: 0x1234567, k1: 0x89abcdef, seed: [1, 2, 3, 4] }
const US = ip("10.0.0.2")
const A = ip("10.0.0.5")
const B = ip("10.0.0.6")
const UDP = IpProtocol.Udp

const bucketOf = (secret: IdentificationSecret, dst: number, protocol: number): number =>
  halfSipHash3(secret.k0, secret.k1, US, dst, protocol) >>> (32 - Math.log2(IDENT_BUCKETS))

describe("Ipv4Identification", () => {
  it("hashes with HalfSipHash-2-4: the reference vector for 12 bytes 00..0b under the key 00..07", () => {
    assert.equal(halfSipHash3(0x03020100, 0x07060504, 0x03020100, 0x07060504, 0x0b0a0908), 0x2f87f057)
    assert.notEqual(halfSipHash3(0x03020100, 0x07060505, 0x03020100, 0x07060504, 0x0b0a0908), 0x2f87f057)
  })

  it("datagrams to A do not move the identifications B sees (no idle-scan zombie)", () => {
    assert.notEqual(bucketOf(SECRET, A, UDP), bucketOf(SECRET, B, UDP), "precondition: A and B in other buckets")
    const g = new Ipv4Identification(SECRET, 0)
    const b1 = g.next(US, B, UDP, 0)
    for (let i = 0; i < 1000; i++) g.next(US, A, UDP, 0)
    assert.equal(g.next(US, B, UDP, 0), (b1 + 1) & 0xffff, "B's next identification is the one after b1")
    // a global counter would have moved by 1001; so would a per-protocol one for B's other protocols
    const t1 = g.next(US, B, IpProtocol.Tcp, 0)
    for (let i = 0; i < 10; i++) g.next(US, B, UDP, 0)
    if (bucketOf(SECRET, B, IpProtocol.Tcp) !== bucketOf(SECRET, B, UDP)) {
      assert.equal(g.next(US, B, IpProtocol.Tcp, 0), (t1 + 1) & 0xffff)
    }
  })

  it("one destination gets successive identifications: 65 536 in a row are all distinct", () => {
    const g = new Ipv4Identification(SECRET, 0)
    const seen = new Set<number>()
    let prev = g.next(US, A, UDP, 0)
    seen.add(prev)
    for (let i = 1; i < 65536; i++) {
      const id = g.next(US, A, UDP, 0)
      assert.equal(id, (prev + 1) & 0xffff)
      assert.ok(id >= 0 && id <= 0xffff)
      seen.add(id)
      prev = id
    }
    assert.equal(seen.size, 65536)
  })

  it("after idle time a bucket advances by a random amount below that time (never backwards)", () => {
    const g = new Ipv4Identification(SECRET, 0)
    let prev = g.next(US, A, UDP, 0)
    let now = 0
    const steps: Array<number> = []
    for (let i = 0; i < 200; i++) {
      now += 1000
      const id = g.next(US, A, UDP, now)
      const step = (id - prev) & 0xffff
      assert.ok(step >= 1 && step <= 1000, `advance ${step} after 1000 ms`)
      steps.push(step)
      prev = id
    }
    assert.ok(new Set(steps).size > 100, "the advances vary")
    // time standing still, or going backwards, adds nothing
    assert.equal(g.next(US, A, UDP, now), (prev + 1) & 0xffff)
    assert.equal(g.next(US, A, UDP, now - 5000), (prev + 2) & 0xffff)
  })

  it("is deterministic for one secret, and another secret gives other identifications", () => {
    const run = (secret: IdentificationSecret): Array<number> => {
      const g = new Ipv4Identification(secret, 0)
      const out: Array<number> = []
      for (let i = 0; i < 50; i++) out.push(g.next(US, (A + (i % 7)) as typeof A, UDP, i * 37))
      return out
    }
    assert.deepEqual(run(SECRET), run(SECRET))
    assert.notDeepEqual(run(SECRET), run({ ...SECRET, k0: SECRET.k0 + 1 }))
    // the first identification of a destination is not a fixed value but depends on the key
    const firsts = new Set<number>()
    for (let k = 0; k < 64; k++) firsts.add(new Ipv4Identification({ ...SECRET, k1: k }, 0).next(US, A, UDP, 0))
    assert.ok(firsts.size > 60)
  })

  it("an all-zero seed still yields a working generator", () => {
    const g = new Ipv4Identification({ k0: 0, k1: 0, seed: [0, 0, 0, 0] }, 0)
    const a = g.next(US, A, UDP, 0)
    const b = g.next(US, A, UDP, 10_000)
    assert.ok(((b - a) & 0xffff) >= 1)
  })
})
