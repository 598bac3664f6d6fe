/**
 * The flow-fair port queue (`src/link/FlowQueue.ts`), pure: the flow key of IPv4/IPv6/other frames, FIFO order for
 * one flow, deficit round robin across flows, longest-queue drop on overflow (a flood loses its own frames, counted
 * in `drops` and `flowDrops`), the single-flow tail drop of the old FIFO, and `buckets: 1` as a plain FIFO.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { flowHash, FlowQueue } from "../../src/link/FlowQueue.ts"
import { ip, ipv4Frame, udpDatagram } from "../support/TestDevice.ts"
import type { MacAddress } from "../../src/wire/MacAddress.ts"

const MAC_A = 0x025000000001 as MacAddress
const MAC_B = 0x025000000002 as MacAddress
const A = ip("10.0.0.1")
const B = ip("10.0.0.2")

/** A UDP frame `A:srcPort → B:dstPort` carrying `seq` in its first data bytes, `size` data bytes in all. */
const udp = (srcPort: number, dstPort: number, seq: number, size = 16): Uint8Array => {
  const data = new Uint8Array(Math.max(4, size))
  new DataView(data.buffer).setUint32(0, seq)
  return ipv4Frame(MAC_B, MAC_A, { src: A, dst: B, protocol: 17, payload: udpDatagram(A, B, srcPort, dstPort, data) })
}
const seqOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(14 + 20 + 8)
const portOf = (f: Uint8Array): number => (f[14 + 20 + 2] << 8) | f[14 + 20 + 3]

const drain = (q: FlowQueue): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let f = q.take(); f !== undefined; f = q.take()) out.push(f)
  return out
}

const queue = (capacity: number, maxBytes = 1 << 30, buckets = 1024): FlowQueue =>
  new FlowQueue({ buckets, capacity, maxBytes, quantum: 1514 })

describe("FlowQueue: flow key", () => {
  it("keys on the service (protocol, lower port), keeps every fragment of a datagram together, never throws", () => {
    assert.equal(flowHash(udp(40000, 7, 1)), flowHash(udp(40000, 7, 2, 500)), "same 5-tuple, same flow")
    assert.equal(flowHash(udp(40000, 7, 1)), flowHash(udp(51234, 7, 1)), "any client port: the same service")
    assert.equal(flowHash(udp(40000, 7, 1)), flowHash(udp(7, 40001, 1)), "the service's replies: the same flow")
    assert.notEqual(flowHash(udp(40000, 7, 1)), flowHash(udp(40000, 9, 1)), "another service port")
    const tcp = ipv4Frame(MAC_B, MAC_A, {
      src: A,
      dst: B,
      protocol: 6,
      payload: udpDatagram(A, B, 40000, 7, new Uint8Array(4)),
    })
    assert.notEqual(flowHash(udp(40000, 7, 1)), flowHash(tcp), "another protocol")
    const payload = udpDatagram(A, B, 1000, 7, new Uint8Array(64))
    const first = ipv4Frame(MAC_B, MAC_A, { src: A, dst: B, protocol: 17, payload, moreFragments: true })
    const later = ipv4Frame(MAC_B, MAC_A, { src: A, dst: B, protocol: 17, payload, fragmentOffset: 64 })
    assert.equal(flowHash(first), flowHash(later), "fragments share a bucket")
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
      const h = flowHash(b)
      return Number.isInteger(h) && h >= 0 && h < 2 ** 32
    }))
  })
})

describe("FlowQueue: service order", () => {
  it("one flow is FIFO; a full queue of one flow drops the arriving frame (the old tail drop), no flow drop", () => {
    const q = queue(8)
    for (let i = 0; i < 12; i++) q.offer(udp(1000, 7, i))
    assert.equal(q.length, 8)
    assert.equal(q.drops, 4)
    assert.equal(q.flowDrops, 0, "nobody else was queued: not a fairness drop")
    assert.deepEqual(drain(q).map(seqOf), [0, 1, 2, 3, 4, 5, 6, 7])
  })

  it("frames that never pile up in one bucket keep their arrival order across flows", () => {
    const q = queue(64)
    const ports = [7, 9, 11, 13, 15, 17]
    ports.forEach((p, i) => q.offer(udp(1000, p, i)))
    assert.deepEqual(drain(q).map(seqOf), [0, 1, 2, 3, 4, 5])
  })

  it("deficit round robin: a backlogged flow and a sparse one alternate by quantum (bytes), not by arrival", () => {
    const q = queue(1024)
    for (let i = 0; i < 100; i++) q.offer(udp(1000, 7, i, 1472)) // 1514-byte frames: one per round
    for (let i = 0; i < 3; i++) q.offer(udp(1000, 9, 1000 + i, 1472))
    const order = drain(q).map(portOf)
    assert.deepEqual(order.slice(0, 7), [7, 9, 7, 9, 7, 9, 7], "the late flow is served every round")
    assert.equal(order.length, 103)
  })

  it("buckets: 1 is one FIFO for every flow", () => {
    const q = queue(1024, 1 << 30, 1)
    for (let i = 0; i < 10; i++) q.offer(udp(1000, 7, i))
    for (let i = 0; i < 3; i++) q.offer(udp(1000, 9, 10 + i))
    assert.deepEqual(drain(q).map(seqOf), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })
})

describe("FlowQueue: longest-queue drop", () => {
  it("a flood that fills the queue loses its own frames: another flow's frames are always queued", () => {
    const q = queue(64)
    for (let i = 0; i < 1000; i++) q.offer(udp(1000, 7, i))
    assert.equal(q.length, 64)
    for (let i = 0; i < 5; i++) assert.equal(q.offer(udp(2000, 9, 5000 + i)), true, `victim frame ${i} queued`)
    for (let i = 0; i < 1000; i++) q.offer(udp(1000, 7, 1000 + i)) // the flood goes on: refused, the victim stays
    assert.equal(q.length, 64)
    assert.equal(q.drops, 1000 - 64 + 5 + 1000)
    assert.equal(q.flowDrops, 5 + 1000, "drops while the victim was queued are the flood's, counted as flow drops")
    const out = drain(q)
    assert.deepEqual(out.filter((f) => portOf(f) === 9).map(seqOf), [5000, 5001, 5002, 5003, 5004])
    const flood = out[0].length // 58-byte frames: the flood's first quantum (1514 bytes) is 27 of them
    assert.equal(out.findIndex((f) => portOf(f) === 9), Math.ceil(1514 / flood), "the victim: right after one quantum")
  })

  it("with the byte bound reached, the flow holding the most bytes loses, even with fewer frames", () => {
    const q = queue(10_000, 20 * 1514)
    for (let i = 0; i < 20; i++) q.offer(udp(1000, 7, i, 1472)) // 20 full frames: the byte budget
    for (let i = 0; i < 40; i++) q.offer(udp(2000, 9, 100 + i, 16)) // small frames: each evicts a full one
    assert.ok(q.bytes <= 20 * 1514)
    const out = drain(q)
    assert.equal(out.filter((f) => portOf(f) === 9).length, 40, "every small frame queued")
    assert.ok(out.filter((f) => portOf(f) === 7).length < 20, "the full-size flow lost frames")
    assert.ok(q.flowDrops > 0 && q.flowDrops === q.drops)
  })

  it("counts stay consistent under any mix of offers and takes (property)", () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 1400 }), fc.boolean()), {
        maxLength: 400,
      }),
      (ops) => {
        const q = queue(16, 8000, 8)
        let offered = 0
        let taken = 0
        for (const [flow, size, take] of ops) {
          if (take) {
            if (q.take() !== undefined) taken++
          } else {
            q.offer(udp(40000, 7 + flow, offered++, size))
          }
        }
        taken += drain(q).length
        return q.length === 0 && q.bytes === 0 && offered === taken + q.drops && q.activeCount === 0
      },
    ))
  })
})
