/**
 * Impairments on a single device (`Impairment.device` / `deviceLayer`), under `Simulation`: an inbound delay adds
 * exactly its latency to one stack's pings, outbound loss on one stack's device is repaired by TCP, and a bad spec
 * both directions impair independently.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { type ImpairedDevice, Impairment } from "../../../src/link/middleware/Impairment.ts"
import { Vnetif } from "../../../src/link/Vnetif.ts"
import { Simulation } from "../../../src/Simulation.ts"
import type { StackOverrides } from "../../../src/Stack.ts"
import { fnv1a, randomBytes } from "../../tcp/_service.ts"

const impairedDevice = (
  spec: Parameters<typeof Impairment.deviceLayer>[0],
  options?: Parameters<typeof Impairment.deviceLayer>[1],
): StackOverrides => ({ vnetif: Impairment.deviceLayer(spec, options).pipe(Layer.provide(Vnetif.layer())) })

describe("Impairment on one device", () => {
  it("an inbound 100 ms delay on B: A → B and B → A pings both take 100 ms (virtual)", async () => {
    const r = await Effect.runPromise(Simulation.run(
      {
        stacks: 2,
        seed: 1,
        overrides: (i) => i === 1 ? impairedDevice({ delay: { latency: 100 } }, { direction: "in" }) : undefined,
      },
      ([a, b]) =>
        Effect.gen(function* () {
          yield* a.icmp.ping(b.address) // ARP on the way
          const ab = yield* a.icmp.ping(b.address)
          const ba = yield* b.icmp.ping(a.address)
          return { ab, ba }
        }),
    ))
    assert.equal(r.value.ab, 100)
    assert.equal(r.value.ba, 100)
  })

  it("outbound loss on A's device only: a transfer A → B is byte-exact, with retransmits", async () => {
    const data = randomBytes(256 * 1024, 3)
    const r = await Effect.runPromise(Simulation.run(
      {
        stacks: 2,
        seed: 2,
        overrides: (i) => i === 0 ? impairedDevice({ loss: { probability: 0.05 }, seed: 9 }) : undefined,
      },
      ([a, b]) =>
        Effect.gen(function* () {
          const listener = yield* b.tcp.listen(9)
          const server = yield* Effect.forkChild(Effect.gen(function* () {
            const c = yield* listener.accept
            let h = 0x811c9dc5
            let n = 0
            while (true) {
              const d = yield* c.read
              if (d === undefined) break
              h = fnv1a(d, h)
              n += d.length
            }
            yield* c.close
            return { n, h }
          }))
          const conn = yield* a.tcp.connect(b.address, 9)
          yield* conn.write(data)
          yield* conn.closeWrite
          const got = yield* Fiber.join(server)
          const retransmits = (yield* conn.stats).retransmits
          yield* conn.close
          const device = a.vnetif as ImpairedDevice // the override's device
          assert.equal(device.inbound, undefined)
          return { ...got, retransmits, dropped: (yield* device.outbound!.stats).droppedLoss }
        }),
    ))
    assert.equal(r.value.n, data.length)
    assert.equal(r.value.h, fnv1a(data))
    assert.ok(r.value.dropped > 0)
    assert.ok(r.value.retransmits > 0)
    assert.equal(r.stats.impairment, undefined, "no backend impairment")
  })

  it("direction both: 50 ms each way on B makes a 100 ms round trip; each direction has its own handle", async () => {
    const r = await Effect.runPromise(Simulation.run(
      {
        stacks: 2,
        seed: 3,
        overrides: (i) =>
          i === 1 ? impairedDevice({ delay: { latency: 50 }, seed: 4 }, { direction: "both" }) : undefined,
      },
      ([a, b]) =>
        Effect.gen(function* () {
          yield* a.icmp.ping(b.address)
          const rtt = yield* a.icmp.ping(b.address)
          const device = b.vnetif as ImpairedDevice
          return { rtt, out: (yield* device.outbound!.stats).delayed, in: (yield* device.inbound!.stats).delayed }
        }),
    ))
    assert.equal(r.value.rtt, 100)
    assert.ok(r.value.out >= 2 && r.value.in >= 2)
  })
})
