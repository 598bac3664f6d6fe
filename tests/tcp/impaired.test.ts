/**
 * iperf-like transfers (8 MiB, length and hash checked) between two stacks over impaired links, the mirage-tcpip
 * backends made of `Impairment` layers: 1 % loss, 10 % loss of small frames (bare ACKs), 0–9 trailing bytes, frame
 * size enforcement, everything dropped for 1 s after 1 MB; plus duplication with reordering, and bit errors caught
 * by checksums. Each spec has a fixed seed, so a failure replays.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Backend } from "../../src/link/Backend.ts"
import { Impairment, type ImpairmentHandle, type ImpairmentSpec } from "../../src/link/middleware/Impairment.ts"
import { Switch } from "../../src/link/Switch.ts"
import { run } from "../support/TestDevice.ts"
import { type Node, node, type NodeOptions, randomBytes, transfer } from "./_service.ts"

const MiB = 1024 * 1024

/** Two stacks on a switch behind the impairment `spec`; runs `body` with them and the impairment handle. */
const impaired = <A>(
  spec: ImpairmentSpec,
  body: (a: Node, b: Node, link: ImpairmentHandle) => Effect.Effect<A, unknown, Scope.Scope>,
  options: NodeOptions = {},
): Promise<A> =>
  run(Effect.gen(function* () {
    const sw = yield* Switch.make()
    const link = yield* Impairment.wrap(sw, spec)
    return yield* Effect.provideService(
      Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24", options)
        const b = yield* node("10.0.0.2/24", options)
        return yield* body(a, b, link)
      }),
      Backend,
      link,
    )
  }))

describe("Tcp over impaired links (8 MiB, byte-exact)", () => {
  it("1 % of frames lost", () =>
    impaired({ loss: { probability: 0.01 }, seed: 1 }, (a, b, link) =>
      Effect.gen(function* () {
        const r = yield* transfer(a, b, randomBytes(8 * MiB, 21))
        assert.ok((yield* link.stats).droppedLoss > 0)
        assert.ok(r.client.retransmits > 0)
        // the stack-wide counter sums every connection of the stack, open or closed
        const sent = yield* a.tcp.stats
        assert.ok(sent.retransmits >= r.client.retransmits, `${sent.retransmits} >= ${r.client.retransmits}`)
      })))

  it("10 % of small frames (bare ACKs) lost", () =>
    impaired({ smallFrameLoss: { probability: 0.1, maxBytes: 100 }, seed: 2 }, (a, b, link) =>
      Effect.gen(function* () {
        yield* transfer(a, b, randomBytes(8 * MiB, 22))
        assert.ok((yield* link.stats).droppedSmall > 0)
      })))

  it("0–9 trailing bytes on every frame", () =>
    impaired({ trailingBytes: { max: 9 }, seed: 3 }, (a, b, link) =>
      Effect.gen(function* () {
        const r = yield* transfer(a, b, randomBytes(8 * MiB, 23))
        assert.ok((yield* link.stats).trailed > 0)
        assert.equal(r.client.retransmits, 0)
      }), { checksum: "all" }))

  it("frame size enforced at the MTU: no frame is ever too large", () =>
    impaired({ maxFrameSize: 1514, seed: 4 }, (a, b, link) =>
      Effect.gen(function* () {
        yield* transfer(a, b, randomBytes(8 * MiB, 24))
        yield* transfer(b, a, randomBytes(1 * MiB, 25), { port: 5002 })
        assert.equal((yield* link.stats).tooLarge, 0)
      })))

  it("everything dropped for 1 s after 1 MB", () =>
    impaired(
      { dropAfter: { bytes: 1_000_000, duration: "1 second" }, seed: 5 },
      (a, b, link) =>
        Effect.gen(function* () {
          const r = yield* transfer(a, b, randomBytes(8 * MiB, 26))
          assert.ok((yield* link.stats).droppedWindow > 0)
          assert.ok(r.client.timeouts > 0, "recovered through retransmission timeouts")
        }),
    ))

  it("5 % duplicated and 5 % reordered frames", () =>
    impaired(
      { duplicate: { probability: 0.05 }, reorder: { probability: 0.05, holdFrames: 3 }, seed: 6 },
      (a, b, link) =>
        Effect.gen(function* () {
          yield* transfer(a, b, randomBytes(8 * MiB, 27))
          const s = yield* link.stats
          assert.ok(s.duplicated > 0 && s.reordered > 0)
        }),
    ))

  it("bit errors are caught by the checksums (0.5 % of frames corrupted)", () =>
    impaired({ corrupt: { probability: 0.005 }, seed: 7 }, (a, b, link) =>
      Effect.gen(function* () {
        yield* transfer(a, b, randomBytes(4 * MiB, 28))
        assert.ok((yield* link.stats).corrupted > 0)
        const bad = (yield* a.tcp.stats).badChecksum + (yield* b.tcp.stats).badChecksum +
          (yield* a.stack.ipv4.stats).badChecksum + (yield* b.stack.ipv4.stats).badChecksum
        assert.ok(bad > 0, "corrupted frames were dropped by a checksum")
      }), { checksum: "all" }))
})
