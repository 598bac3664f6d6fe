/**
 * Tests of the Ethernet layer: destination filtering (own MAC, broadcast, multicast accepted; others dropped and
 * counted), EtherType demultiplexing, scoped registration, the synchronous transmit path (typed errors above the MTU,
 * one buffer per frame handed over without a copy), and the reader's lifetime. A device that needs asynchrony owns its
 * queue (the Switch, tested in tests/link), so Ethernet never waits for one.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { Ethernet, EthernetError } from "../../src/ethernet/Ethernet.ts"
import { toEffect } from "../../src/util/Transmit.ts"
import { Vnetif } from "../../src/link/Vnetif.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { ethFrame, fakeDevice, parseEth, rawPort, run, withSwitch, yieldUntil } from "../support/TestDevice.ts"

const TEST_TYPE = 0x88b5
const OTHER_TYPE = 0x88b6

/** Builds an Ethernet service on a fresh Vnetif in the current scope. */
const ethernetOnSwitch = Effect.gen(function* () {
  const device = yield* Effect.orDie(Vnetif.make())
  return yield* Effect.provideService(Ethernet.make, Vnetif, device)
})

describe("Ethernet: receive filter and demux", () => {
  it("accepts frames for its MAC, broadcast and multicast; drops others and counts them", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const eth = yield* ethernetOnSwitch
        const raw = yield* rawPort()
        const got: Array<{ dst: MacAddress; src: MacAddress; first: number }> = []
        yield* eth.register(TEST_TYPE, (payload, src, dst) =>
          Effect.sync(() => {
            got.push({ dst, src, first: payload[0] })
          }))
        const multicast = 0x01005e000001 as MacAddress
        const other = 0x025000ffffff as MacAddress // some other unicast MAC
        yield* raw.send(ethFrame(eth.mac, raw.mac, TEST_TYPE, Uint8Array.of(1, 2, 3)))
        yield* raw.send(ethFrame(MacAddress.BROADCAST, raw.mac, TEST_TYPE, Uint8Array.of(2)))
        yield* raw.send(ethFrame(multicast, raw.mac, TEST_TYPE, Uint8Array.of(3)))
        yield* raw.send(ethFrame(other, raw.mac, TEST_TYPE, Uint8Array.of(4))) // hub would flood it; learning floods unknown
        yield* raw.send(ethFrame(eth.mac, raw.mac, TEST_TYPE, Uint8Array.of(5)))
        yield* yieldUntil(() => got.length >= 4, "4 frames delivered")
        const stats = yield* eth.stats
        assert.deepEqual(got.map((g) => g.first), [1, 2, 3, 5])
        assert.ok(got.every((g) => g.src === raw.mac))
        assert.deepEqual(got.map((g) => g.dst), [eth.mac, MacAddress.BROADCAST, multicast, eth.mac])
        assert.equal(stats.notForUs, 1)
        assert.equal(stats.rxDelivered, 4)
        assert.equal(stats.rxFrames, 5)
      })
    )))

  it("demultiplexes by EtherType; an unknown EtherType or an 802.1Q tag is dropped and counted", () =>
    run(Effect.gen(function* () {
      const fake = fakeDevice()
      const eth = yield* Effect.provide(Ethernet.make, fake.layer)
      const a: Array<number> = []
      const b: Array<number> = []
      yield* eth.register(TEST_TYPE, (p) => Effect.sync(() => a.push(p[0])))
      yield* eth.register(OTHER_TYPE, (p) => Effect.sync(() => b.push(p[0])))
      const src = 0x025000000001 as MacAddress
      yield* fake.inject(ethFrame(eth.mac, src, TEST_TYPE, Uint8Array.of(10)))
      yield* fake.inject(ethFrame(eth.mac, src, OTHER_TYPE, Uint8Array.of(20)))
      yield* fake.inject(ethFrame(eth.mac, src, 0x1234, Uint8Array.of(30)))
      // a VLAN-tagged frame: 0x8100, TCI, then the inner EtherType TEST_TYPE
      const tagged = ethFrame(eth.mac, src, 0x8100, Uint8Array.of(0, 5, TEST_TYPE >>> 8, TEST_TYPE & 0xff, 40))
      yield* fake.inject(tagged)
      yield* fake.inject(new Uint8Array(10)) // runt
      assert.deepEqual(a, [10])
      assert.deepEqual(b, [20])
      const s = yield* eth.stats
      assert.equal(s.unknownEtherType, 2)
      assert.equal(s.malformed, 1)
      assert.equal(s.rxDelivered, 2)
      yield* eth.resetStats
      assert.equal((yield* eth.stats).rxFrames, 0)
    })))

  it("a registration lasts as long as its scope; a later one replaces it", () =>
    run(Effect.gen(function* () {
      const fake = fakeDevice()
      const eth = yield* Effect.provide(Ethernet.make, fake.layer)
      const seen: Array<string> = []
      const scope = yield* Scope.make()
      yield* Scope.provide(scope)(eth.register(TEST_TYPE, () => Effect.sync(() => seen.push("first"))))
      const src = 0x025000000001 as MacAddress
      yield* fake.inject(ethFrame(eth.mac, src, TEST_TYPE, Uint8Array.of(1)))
      yield* Scope.close(scope, Exit.void)
      yield* fake.inject(ethFrame(eth.mac, src, TEST_TYPE, Uint8Array.of(1)))
      yield* eth.register(TEST_TYPE, () => Effect.sync(() => seen.push("second")))
      yield* fake.inject(ethFrame(eth.mac, src, TEST_TYPE, Uint8Array.of(1)))
      assert.deepEqual(seen, ["first", "second"])
      assert.equal((yield* eth.stats).unknownEtherType, 1)
    })))

  it("a handler that dies is counted and the next frame is still delivered", () =>
    run(Effect.gen(function* () {
      const fake = fakeDevice()
      const eth = yield* Effect.provide(Ethernet.make, fake.layer)
      let n = 0
      yield* eth.register(TEST_TYPE, (p) => p[0] === 0 ? Effect.die("boom") : Effect.sync(() => n++))
      const src = 0x025000000001 as MacAddress
      yield* fake.inject(ethFrame(eth.mac, src, TEST_TYPE, Uint8Array.of(0))).pipe(Effect.provide(Logger.layer([])))
      yield* fake.inject(ethFrame(eth.mac, src, TEST_TYPE, Uint8Array.of(1)))
      assert.equal(n, 1)
      assert.equal((yield* eth.stats).handlerDefects, 1)
    })))
})

/** Allocates a frame, fills its payload with `bytes`, transmits it: the one send path. */
const send = (
  eth: Ethernet["Service"],
  dst: MacAddress,
  etherType: number,
  payloadLen: number,
  bytes: ArrayLike<number> = [],
): EthernetError | undefined => {
  const frame = eth.allocate(dst, etherType, payloadLen)
  frame.set(bytes, 14)
  return eth.transmit(frame)
}

describe("Ethernet: send", () => {
  it("allocate writes the header; transmit hands that one frame to the device synchronously", () =>
    run(Effect.gen(function* () {
      const fake = fakeDevice()
      const eth = yield* Effect.provide(Ethernet.make, fake.layer)
      const dst = 0x025000000042 as MacAddress
      assert.equal(send(eth, dst, TEST_TYPE, 4, [9, 8, 7, 6]), undefined)
      assert.equal(fake.sent.frames.length, 1, "sent before transmit returned: no Effect to run")
      const f2 = eth.allocate(dst, TEST_TYPE, 4)
      assert.ok(f2.buffer !== fake.sent.frames[0].buffer || f2.byteOffset >= 18, "a fresh frame, never reused")
      assert.equal(eth.transmit(f2), undefined)
      assert.equal(fake.sent.frames.length, 2)
      const e = parseEth(fake.sent.frames[0])!
      assert.equal(e.dst, dst)
      assert.equal(e.src, eth.mac)
      assert.equal(e.etherType, TEST_TYPE)
      assert.deepEqual([...e.payload], [9, 8, 7, 6])
      assert.equal(fake.sent.frames[0].length, 18)
      assert.equal((yield* eth.stats).txFrames, 2)
    })))

  it("returns EthernetError FrameTooLarge above the MTU and InvalidLength without a header (and counts them)", () =>
    run(Effect.gen(function* () {
      const fake = fakeDevice({ mtu: 1500 })
      const eth = yield* Effect.provide(Ethernet.make, fake.layer)
      assert.equal(eth.mtu, 1500)
      assert.equal(send(eth, MacAddress.BROADCAST, TEST_TYPE, 1500), undefined)
      const err = send(eth, MacAddress.BROADCAST, TEST_TYPE, 1501)
      assert.ok(err instanceof EthernetError)
      assert.equal(err.reason, "FrameTooLarge")
      assert.match(err.message, /1501/)
      assert.equal(eth.transmit(new Uint8Array(13))?.reason, "InvalidLength")
      const viaEffect = yield* Effect.flip(toEffect(eth.transmit(new Uint8Array(14 + 1501))))
      assert.equal(viaEffect.reason, "FrameTooLarge")
      const s = yield* eth.stats
      assert.equal(s.txErrors, 3)
      assert.equal(s.txFrames, 1)
      assert.equal(fake.sent.frames.length, 1)
    })))

  it("frames reach another port on the switch; a disconnected device gives a typed error", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const device = yield* Effect.orDie(Scope.provide(scope)(Vnetif.make()))
        const eth = yield* Scope.provide(scope)(Effect.provideService(Ethernet.make, Vnetif, device))
        const raw = yield* rawPort()
        assert.equal(send(eth, raw.mac, TEST_TYPE, 3, [1, 2, 3]), undefined)
        const f = yield* raw.next((f) => parseEth(f)?.etherType === TEST_TYPE, "test frame")
        assert.deepEqual([...parseEth(f)!.payload], [1, 2, 3])
        yield* Scope.close(scope, Exit.void)
        assert.equal(send(eth, raw.mac, TEST_TYPE, 3)?.reason, "Disconnected")
      })
    )))
})
