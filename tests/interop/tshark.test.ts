/**
 * tshark as the validator of the frames our stack emits, and the negative control that keeps the kernel tests'
 * capture check from passing vacuously. Needs only tshark (no root, no namespace).
 *
 * 1. Two stacks with every checksum on (as on a real wire) exchange ARP, pings and UDP (fragmented too) on an
 *    in-process switch; the frames seen by one device's monitor are written to a pcap, and tshark — with the IP, UDP
 *    and ICMP checksum checks on, the same filter as the kernel tests — finds no bad frame and verifies many sums.
 * 2. The same frames with a flipped UDP payload bit, a changed TTL, a flipped ICMP data bit and a truncated TCP
 *    header added: the filter flags exactly those frames.
 * 3. A stack left with checksum offload (the in-process default) on a real wire would be caught too: its IPv4 headers
 *    carry no checksum and tshark flags every one.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Switch } from "../../src/link/Switch.ts"
import { Stack } from "../../src/Stack.ts"
import { announceSkip, badFrames, countFrames, has, removeTempDir, tempDir, writePcap } from "./_netns.ts"

const SKIP = has("tshark") ? false : "needs tshark (apt-get install tshark)"
announceSkip("tshark.test.ts", SKIP)

/** The frames one device sees (both directions) while two stacks ping and exchange UDP. */
const traffic = (checksum: "all" | "offload"): Promise<Array<Uint8Array>> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const a = yield* Stack.make({ cidr: "10.0.0.1/24", checksum })
        const b = yield* Stack.make({ cidr: "10.0.0.2/24", checksum })
        const frames: Array<Uint8Array> = []
        yield* a.vnetif.monitor((_direction, frame) => {
          frames.push(frame.slice())
        })
        for (let i = 0; i < 3; i++) yield* a.icmp.ping(b.address, { timeout: "2 seconds" })
        yield* b.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
        const socket = yield* a.udp.bind(0)
        for (const size of [0, 1, 200, 1472, 4000]) {
          const data = new Uint8Array(size).map((_, i) => (i * 13 + size) & 0xff)
          yield* socket.send(b.address, 7, data)
          yield* socket.take.pipe(Effect.timeout("2 seconds"))
        }
        return frames
      }) as Effect.Effect<Array<Uint8Array>, unknown, Scope.Scope>,
    ).pipe(Effect.provide(Switch.layer())),
  )

/** Offset of the IPv4 header's TTL and of the L4 payload in an untagged Ethernet frame with a 20-byte IP header. */
const IP = 14
const isIpv4Proto = (f: Uint8Array, proto: number): boolean =>
  f[12] === 0x08 && f[13] === 0x00 && f[IP + 9] === proto && (f[IP + 6] & 0x3f) === 0 && f[IP + 7] === 0

describe("tshark validates our frames, and would catch a bad one", () => {
  it(
    'frames from stacks with checksum "all" are clean, with many checksums verified',
    { skip: SKIP, timeout: 60_000 },
    async () => {
      const dir = tempDir()
      try {
        const frames = await traffic("all")
        assert.ok(frames.length >= 20, `captured ${frames.length} frames`)
        const file = join(dir, "good.pcap")
        writePcap(file, frames)
        assert.deepEqual(await badFrames(file), [])
        assert.ok((await countFrames(file, "ip.checksum.status == 1")) >= 16, "IP header checksums verified")
        assert.ok((await countFrames(file, "udp.checksum.status == 1")) >= 10, "UDP checksums verified")
        assert.ok((await countFrames(file, "icmp.checksum.status == 1")) >= 6, "ICMP checksums verified")
        assert.ok((await countFrames(file, "arp")) >= 2, "ARP present")
      } finally {
        removeTempDir(dir)
      }
    },
  )

  it("negative control: corrupted frames are flagged, exactly those", { skip: SKIP, timeout: 60_000 }, async () => {
    const dir = tempDir()
    try {
      const frames = await traffic("all")
      const udp = frames.findIndex((f) => isIpv4Proto(f, 17) && f.length > 60)
      const icmp = frames.findIndex((f) => isIpv4Proto(f, 1))
      const ip = frames.findIndex((f, i) => isIpv4Proto(f, 17) && i !== udp)
      assert.ok(udp >= 0 && icmp >= 0 && ip >= 0)
      const out = frames.map((f) => f.slice())
      out[udp][out[udp].length - 1] ^= 0x01 // a payload bit: UDP checksum wrong
      out[icmp][out[icmp].length - 1] ^= 0x80 // an echo data bit: ICMP checksum wrong
      out[ip][IP + 8] -= 1 // the TTL, header checksum left alone: IP checksum wrong
      const truncated = frames[ip].slice(0, IP + 20 + 4) // an IPv4 header announcing TCP, then 4 bytes
      truncated[IP + 9] = 6
      truncated[IP + 2] = 0
      truncated[IP + 3] = 24
      let sum = 0 // a correct header checksum, so only the TCP truncation is wrong
      truncated[IP + 10] = 0
      truncated[IP + 11] = 0
      for (let i = 0; i < 20; i += 2) sum += (truncated[IP + i] << 8) | truncated[IP + i + 1]
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
      truncated[IP + 10] = (~sum >>> 8) & 0xff
      truncated[IP + 11] = ~sum & 0xff
      out.push(truncated)
      const file = join(dir, "bad.pcap")
      writePcap(file, out)
      const flagged = (await badFrames(file)).map((l) => Number(l.split("\t")[0]))
      assert.deepEqual(
        [...new Set(flagged)].sort((x, y) => x - y),
        [udp + 1, icmp + 1, ip + 1, out.length].sort((x, y) => x - y),
        "the filter flags the four damaged frames and no other",
      )
    } finally {
      removeTempDir(dir)
    }
  })

  it("a stack left with checksum offload would be caught on a real wire", { skip: SKIP, timeout: 60_000 }, async () => {
    const dir = tempDir()
    try {
      const frames = await traffic("offload")
      const file = join(dir, "offload.pcap")
      writePcap(file, frames)
      const ipFrames = frames.filter((f) => f[12] === 0x08 && f[13] === 0x00).length
      assert.equal((await badFrames(file)).length, ipFrames, "every IPv4 frame flagged (no header checksum)")
    } finally {
      removeTempDir(dir)
    }
  })
})
