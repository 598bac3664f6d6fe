/**
 * Tests of the assembly: configuration errors are typed and actionable and start nothing; several stacks share one
 * switch; `Stack.layer` and replacement layers; closing a stack's scope unregisters its port and stops its fibers.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Icmp } from "../../src/icmp/Icmp.ts"
import { Ipv4 } from "../../src/ipv4/Ipv4.ts"
import { Stack, type StackConfigInput, StackError } from "../../src/Stack.ts"
import { Udp } from "../../src/udp/Udp.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import {
  ethFrame,
  ip,
  ipv4Frame,
  isArpRequestFor,
  pattern,
  pollUntil,
  rawPort,
  run,
  runTest,
  withSwitch,
} from "../support/TestDevice.ts"

const B = ip("10.0.0.2")

describe("Stack: configuration", () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ cidr: "10.0.0.300/24" }, /like "10\.0\.0\.2\/24", got "10\.0\.0\.300\/24"[\s\S]*cidr/],
    [{ cidr: "10.0.0.2" }, /prefix length/],
    [{ cidr: "10.0.0.2/24", mtu: 20 }, /between 68 and 65535[\s\S]*mtu/],
    [{ cidr: "10.0.0.2/24", gateway: "10.0.1.1" }, /gateway 10\.0\.1\.1 is not on the subnet 10\.0\.0\.0\/24/],
    [{ cidr: "10.0.0.255/24" }, /broadcast address/],
    [{ cidr: "10.0.0.2/24", arp: { retries: 0 } }, /retries/],
    [{ cidr: "10.0.0.2/24", checksum: "some" }, /"offload" \| "all"/],
    ["10.0.0.2/24", /object/],
    [undefined, /object/],
  ]
  for (const [config, message] of bad) {
    it(`rejects ${JSON.stringify(config)} with StackError InvalidConfig before registering any port`, () =>
      run(withSwitch((sw) =>
        Effect.gen(function* () {
          const e = yield* Effect.flip(Stack.make(config as StackConfigInput)) // as from JSON: checked at run time
          assert.ok(e instanceof StackError)
          assert.equal(e.reason, "InvalidConfig")
          assert.match(e.message, message)
          assert.deepEqual(yield* sw.ports, [])
          assert.equal(yield* sw.activeReaders, 0)
        })
      )))
  }

  it("reports every problem at once", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(Stack.make({ cidr: "x", mtu: 1, udp: { queueSize: 0 } }))
        assert.match(e.message, /cidr/)
        assert.match(e.message, /mtu/)
        assert.match(e.message, /queueSize/)
      })
    )))

  it("accepts an already decoded configuration too", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const cfg = yield* Stack.decodeConfig({ cidr: "10.0.0.2/24", mtu: 1400 })
        const s = yield* Stack.make(cfg)
        assert.equal(s.address, B)
        assert.equal(s.ethernet.mtu, 1400)
        assert.deepEqual(s.config, cfg)
      })
    )))

  it("decodes a good configuration (MTU and gateway applied)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", gateway: "10.0.0.1", mtu: 9000 })
        assert.equal(s.address, B)
        assert.equal(s.prefixLength, 24)
        assert.equal(s.ipv4.gateway, ip("10.0.0.1"))
        assert.equal(s.ethernet.mtu, 9000)
        assert.equal(s.vnetif.mtu, 9000)
        assert.equal(s.mac, s.vnetif.mac)
      })
    )))
})

describe("Stack: assembly", () => {
  it("Stack.layer provides every service; two stacks built from layers talk to each other", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const b = yield* Stack.make({ cidr: "10.0.0.2/24" })
        const rtt = yield* Effect.gen(function* () {
          const icmp = yield* Icmp
          const ipv4 = yield* Ipv4
          assert.equal(ipv4.address, ip("10.0.0.1"))
          return yield* icmp.ping(b.address, { timeout: "5 seconds" })
        }).pipe(Effect.provide(Stack.layer({ cidr: "10.0.0.1/24" })))
        assert.ok(rtt >= 0)
      })
    )))

  it("a replacement layer is used instead of the default (here: a Udp that counts binds)", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        let binds = 0
        const CountingUdp = Layer.effect(
          Udp,
          Effect.gen(function* () {
            const real = yield* Udp.make()
            return {
              ...real,
              bind: (port: number) => Effect.tap(real.bind(port), () => Effect.sync(() => binds++)),
            }
          }),
        )
        const s = yield* Stack.make({ cidr: "10.0.0.2/24" }, { udp: CountingUdp })
        yield* s.udp.bind(0)
        yield* s.udp.bind(0)
        assert.equal(binds, 2)
      })
    )))

  it("a failing replacement layer is reported as a StackError of that layer and releases the port", () =>
    run(withSwitch((sw) =>
      Effect.gen(function* () {
        const Broken = Layer.effect(Ipv4, Effect.fail(new Error("no IPv4 today")))
        const e = yield* Effect.flip(Stack.make({ cidr: "10.0.0.2/24" }, { ipv4: Broken }))
        assert.ok(e instanceof StackError)
        assert.equal(e.reason, "Ipv4")
        assert.match(e.message, /no IPv4 today/)
        assert.deepEqual(yield* sw.ports, [])
      })
    )))

  it("each Stack.make builds a fresh stack: one switch port each", () =>
    run(withSwitch((sw) =>
      Effect.gen(function* () {
        const ctxs = yield* Effect.forEach([1, 2, 3], (i) => Stack.make({ cidr: `10.0.0.${i}/24` }))
        assert.equal(new Set(ctxs.map((c) => c.mac)).size, 3)
        assert.equal((yield* sw.ports).length, 3)
      })
    )))
})

describe("Stack: teardown", () => {
  it("closing the scope unregisters the port, stops the readers, and later frames reach nothing", () =>
    run(withSwitch((sw) =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const scope = yield* Scope.make()
        const s = yield* Scope.provide(scope)(Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } }))
        const sock = yield* Scope.provide(scope)(s.udp.bind(9))
        yield* raw.send(ethFrame(s.mac, raw.mac, 0x88b5, pattern(30)))
        yield* pollUntil(s.ethernet.stats, (x) => x.rxFrames === 1, "one frame before close")
        assert.equal((yield* sw.ports).length, 2)
        assert.equal(yield* sw.activeReaders, 2)
        yield* Scope.close(scope, Exit.void)
        assert.deepEqual((yield* sw.ports).map((p) => p.id), [raw.device.id])
        assert.equal(yield* sw.activeReaders, 1)
        yield* raw.send(ethFrame(s.mac, raw.mac, 0x88b5, pattern(30)))
        yield* raw.send(ethFrame(MacAddress.BROADCAST, raw.mac, 0x88b5, pattern(30)))
        yield* Effect.sleep("30 millis")
        assert.equal((yield* s.ethernet.stats).rxFrames, 1, "nothing delivered after close")
        assert.equal((yield* Effect.flip(sock.take)).reason, "Closed")
        const e = yield* Effect.flip(s.udp.send(1, ip("10.0.0.255"), 9, pattern(1)))
        assert.equal(e.reason, "SendFailed")
      })
    )))

  it("closing the scope stops the timers: a pending resolution and a reassembly send nothing more (TestClock)", () =>
    runTest(withSwitch((sw) =>
      Effect.gen(function* () {
        const raw = yield* rawPort()
        const scope = yield* Scope.make()
        const s = yield* Scope.provide(scope)(Stack.make({ cidr: "10.0.0.2/24", arp: { announce: false } }))
        const nobody = ip("10.0.0.99")
        yield* s.udp.send(1, nobody, 9, pattern(8)) // starts an ARP resolution (a fiber sleeping 1.5 s)
        yield* raw.next(isArpRequestFor(nobody), "first ARP request")
        yield* raw.send(ipv4Frame(s.mac, raw.mac, {
          src: ip("10.0.0.7"),
          dst: B,
          protocol: IpProtocol.Udp,
          moreFragments: true,
          payload: pattern(64),
        })) // starts the reassembly timer
        yield* pollUntil(s.ipv4.stats, (x) => x.reassemblyDatagrams === 1, "fragment held")
        yield* Scope.close(scope, Exit.void)
        assert.equal(yield* sw.activeReaders, 1, "only the raw port's reader is left")
        yield* TestClock.adjust("1 hour")
        yield* Effect.yieldNow
        assert.equal(raw.count(isArpRequestFor(nobody)), 1, "no retry after close")
        assert.equal((yield* s.arp.stats).requestsSent, 1)
        assert.equal((yield* s.ipv4.stats).reassembly.timedOut, 0, "the reassembly timer did not run")
      })
    )))

  it("Layer.build of Stack.layer in a scope: closing it leaves no reader running", () =>
    run(withSwitch((sw) =>
      Effect.gen(function* () {
        for (let round = 0; round < 3; round++) {
          const scope = yield* Scope.make()
          const ctx = yield* Scope.provide(scope)(Layer.build(Stack.layer({ cidr: "10.0.0.2/24" })))
          assert.equal(Context.get(ctx, Ipv4).address, B)
          assert.equal(yield* sw.activeReaders, 1)
          yield* Scope.close(scope, Exit.void)
          assert.equal(yield* sw.activeReaders, 0)
          assert.deepEqual(yield* sw.ports, [])
        }
      })
    )))
})
