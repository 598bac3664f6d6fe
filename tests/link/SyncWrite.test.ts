/**
 * The synchronous write path (`writeUnsafe` of Backend, Vnetif, Ethernet, ARP, IPv4) that TCP uses per segment:
 * it exists over a plain Switch, and it never lets a frame bypass a middleware that sees frames in `write`.
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Backend, type BackendShape, forwardBackend } from "../../src/link/Backend.ts"
import { Impairment } from "../../src/link/middleware/Impairment.ts"
import { Switch } from "../../src/link/Switch.ts"
import { Vnetif } from "../../src/link/Vnetif.ts"
import { node, randomBytes, transfer } from "../tcp/_service.ts"

/** A Backend middleware that counts the frames it is asked to write (and the TCP ones among them). */
const counting = (counter: { frames: number; tcp: number }): Layer.Layer<Backend, never, Backend> =>
  Layer.effect(
    Backend,
    Effect.gen(function* () {
      const inner: BackendShape = yield* Backend
      return forwardBackend(inner, {
        write: (id: number, frame: Uint8Array) => {
          counter.frames++
          if (frame.length >= 34 && frame[12] === 8 && frame[13] === 0 && frame[23] === 6) counter.tcp++
          return inner.write(id, frame)
        },
      })
    }),
  )

describe("synchronous write path", () => {
  it("the Switch and a Vnetif on it offer writeUnsafe; forwardBackend keeps it only while write is forwarded", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const sw = yield* Switch.make()
      assert.equal(typeof sw.writeUnsafe, "function")
      assert.equal(forwardBackend(sw, { ports: sw.ports }).writeUnsafe, sw.writeUnsafe)
      assert.equal(forwardBackend(sw, { write: sw.write }).writeUnsafe, undefined)
      const dev = yield* Vnetif.make().pipe(Effect.provideService(Backend, sw))
      assert.equal(typeof dev.writeUnsafe, "function")
      const impaired = yield* Impairment.device(dev, { partition: true })
      assert.equal(impaired.writeUnsafe, undefined, "an outbound device impairment must see every frame")
    }))))

  it("every TCP segment passes through a counting middleware (no synchronous bypass)", () => {
    const counter = { frames: 0, tcp: 0 }
    return Effect.runPromise(
      Effect.scoped(Effect.gen(function* () {
        const a = yield* node("10.0.0.1/24")
        const b = yield* node("10.0.0.2/24")
        const r = yield* transfer(a, b, randomBytes(1 << 20, 7))
        const sent = r.client.segmentsOut + r.server.segmentsOut
        assert.ok(sent > 700, `segments sent: ${sent}`)
        assert.ok(counter.tcp >= sent, `middleware saw ${counter.tcp} TCP frames for ${sent} segments`)
      })).pipe(Effect.provide(Layer.provide(counting(counter), Switch.layer()))),
    )
  })
})
