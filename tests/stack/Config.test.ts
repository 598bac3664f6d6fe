/**
 * Tests of the configuration convention: one Schema per layer owning its defaults, composed into `StackConfig`.
 * A misspelled key or a non-object is a type error (the `@ts-expect-error` lines below are checked by `tsc` and
 * `deno check`: each fails the check if the line compiles) and, from JSON, a `StackError` "InvalidConfig" naming the
 * key, at the top level and nested; decoding `{}` gives the documented defaults; durations accept `Duration`
 * strings; every layer's own `layer(input)` refuses a bad configuration with its error's "InvalidConfig".
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Arp, ArpConfig } from "../../src/arp/Arp.ts"
import { Icmp, IcmpConfig } from "../../src/icmp/Icmp.ts"
import { Ipv4, Ipv4Config } from "../../src/ipv4/Ipv4.ts"
import type { Backend } from "../../src/link/Backend.ts"
import { Stack, type StackConfigInput, StackError, type StackHandle, type StackOverrides } from "../../src/Stack.ts"
import { Udp, UdpConfig } from "../../src/udp/Udp.ts"
import { decodeConfig } from "../../src/util/Config.ts"
import { ip, run, runTest, withSwitch } from "../support/TestDevice.ts"

/** Runs a `Stack.make` that must fail and returns its error; asserts nothing was left registered or running. */
const failure = (make: Effect.Effect<StackHandle, StackError, Backend | Scope.Scope>) =>
  withSwitch((sw) =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(make)
      assert.deepEqual(yield* sw.ports, [], "no port registered")
      assert.equal(yield* sw.activeReaders, 0, "no reader started")
      return e
    })
  )

describe("Config: a misspelled key is a type error and a runtime InvalidConfig naming it", () => {
  it('Stack.make("banana")', () =>
    run(Effect.gen(function* () {
      // @ts-expect-error a string is not a stack configuration
      const e = yield* failure(Stack.make("banana"))
      assert.ok(e instanceof StackError)
      assert.equal(e.reason, "InvalidConfig")
      assert.match(e.message, /Expected object/)
    })))

  it("Stack.make({ cidr, mtuu: 9000 }) names mtuu (and does not build an MTU-1500 stack)", () =>
    run(Effect.gen(function* () {
      // @ts-expect-error `mtuu` is not a key of StackConfig
      const e = yield* failure(Stack.make({ cidr: "10.0.0.1/24", mtuu: 9000 }))
      assert.equal(e.reason, "InvalidConfig")
      assert.match(e.message, /excess property[\s\S]*\["mtuu"\]/)
    })))

  it("nested keys too: tcp.minRtoo, arp.timout", () =>
    run(Effect.gen(function* () {
      // @ts-expect-error `minRtoo` is not a key of the TCP configuration
      const tcp = yield* failure(Stack.make({ cidr: "10.0.0.1/24", tcp: { minRtoo: 1 } }))
      assert.equal(tcp.reason, "InvalidConfig")
      assert.match(tcp.message, /\["tcp"\]\["minRtoo"\]/)
      // @ts-expect-error `timout` is not a key of the ARP configuration
      const arp = yield* failure(Stack.make({ cidr: "10.0.0.1/24", arp: { timout: 5000 } }))
      assert.match(arp.message, /\["arp"\]\["timout"\]/)
      // the address of ARP and the cidr of IPv4 are the stack's top-level keys, not nested ones
      // @ts-expect-error `address` is filled in from `cidr`
      const address = yield* failure(Stack.make({ cidr: "10.0.0.1/24", arp: { address: "10.0.0.9" } }))
      assert.match(address.message, /\["arp"\]\["address"\]/)
    })))

  it("the same configuration parsed from JSON fails the same way at run time", () =>
    run(Effect.gen(function* () {
      const json: StackConfigInput = JSON.parse('{ "cidr": "10.0.0.1/24", "udp": { "queueSize": 4, "queueSise": 8 } }')
      const e = yield* failure(Stack.make(json))
      assert.equal(e.reason, "InvalidConfig")
      assert.match(e.message, /\["udp"\]\["queueSise"\]/)
      assert.doesNotMatch(e.message, /\["queueSize"\]/)
    })))

  it("each layer's own layer(input) refuses a bad configuration with InvalidConfig naming the key", () =>
    run(Effect.gen(function* () {
      const cases: ReadonlyArray<{ readonly overrides: StackOverrides; readonly key: RegExp }> = [
        { overrides: { arp: Arp.layer({ address: "10.0.0.1", retries: 0 }) }, key: /\["retries"\]/ },
        // @ts-expect-error `ttl` is not a key of Ipv4Config
        { overrides: { ipv4: Ipv4.layer({ cidr: "10.0.0.1/24", ttl: 9 }) }, key: /\["ttl"\]/ },
        { overrides: { icmp: Icmp.layer({ rateLimit: { burst: 0 } }) }, key: /\["rateLimit"\]\["burst"\]/ },
        { overrides: { udp: Udp.layer({ queueSize: 0 }) }, key: /\["queueSize"\]/ },
      ]
      for (const { overrides, key } of cases) {
        const e = yield* withSwitch((sw) =>
          Effect.gen(function* () {
            const e = yield* Effect.flip(Stack.make({ cidr: "10.0.0.1/24" }, overrides))
            assert.deepEqual(yield* sw.ports, [], "the port is released")
            return e
          })
        )
        assert.equal(e.reason, "InvalidConfig", e.message)
        assert.match(e.message, key)
      }
    })))
})

describe("Config: defaults live in the Schemas", () => {
  it("decoding {} gives the documented defaults of every layer", () =>
    run(Effect.gen(function* () {
      const cfg = yield* Stack.decodeConfig({ cidr: "10.0.0.2/24" })
      assert.deepEqual(cfg.arp, {
        timeout: 60_000,
        retries: 5,
        retryInterval: 1_500,
        pendingLimit: 64,
        announce: true,
        acceptUnsolicited: false,
        reachableTime: 30_000,
        verifyTimeout: 1_000,
        maxEntries: 1024,
      })
      assert.deepEqual(cfg.ipv4, {
        defaultTtl: 64,
        reassemblyTimeout: 30_000,
        reassemblyMaxBytes: 4 * 1024 * 1024,
        reassemblyMaxDatagrams: 256,
      })
      assert.deepEqual(cfg.icmp, { rateLimit: { perSecond: 100, burst: 50 }, protocolUnreachable: true })
      assert.deepEqual(cfg.udp, { queueSize: 1024 })
      assert.equal(cfg.gateway, undefined)
      assert.deepEqual(cfg.cidr, { address: ip("10.0.0.2"), prefixLength: 24 })
    })))

  it("the layer Schemas alone give the same defaults (one copy of each)", () => {
    const ok = <A>(r: Result.Result<A, string>): A => {
      assert.ok(Result.isSuccess(r), Result.isFailure(r) ? r.failure : "")
      return r.success
    }
    const arp = ok(decodeConfig(ArpConfig, { address: "10.0.0.2" }))
    assert.deepEqual(arp, {
      address: ip("10.0.0.2"),
      timeout: 60_000,
      retries: 5,
      retryInterval: 1_500,
      pendingLimit: 64,
      announce: true,
      acceptUnsolicited: false,
      reachableTime: 30_000,
      verifyTimeout: 1_000,
      maxEntries: 1024,
    })
    const ipv4 = ok(decodeConfig(Ipv4Config, { cidr: "10.0.0.2/24", gateway: "10.0.0.1" }))
    assert.equal(ipv4.defaultTtl, 64)
    assert.equal(ipv4.gateway, ip("10.0.0.1"))
    assert.deepEqual(ok(decodeConfig(IcmpConfig, {})), ok(decodeConfig(IcmpConfig, { rateLimit: {} })))
    assert.deepEqual(ok(decodeConfig(UdpConfig, {})), { queueSize: 1024 })
  })

  it("a built stack carries its decoded configuration, and decoding it again changes nothing", () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({ cidr: "10.0.0.2/24", gateway: "10.0.0.1", udp: { queueSize: 16 } })
        assert.equal(s.config.udp.queueSize, 16)
        assert.equal(s.config.arp.retries, 5)
        assert.deepEqual(yield* Stack.decodeConfig(s.config), s.config)
        const again = yield* Stack.make({ ...s.config, cidr: "10.0.0.3/24" })
        assert.equal(again.ipv4.gateway, ip("10.0.0.1"))
      })
    )))
})

describe("Config: durations are milliseconds or Duration strings", () => {
  it('"5 seconds" decodes to 5000 and a number is milliseconds', () =>
    run(Effect.gen(function* () {
      const a = yield* Stack.decodeConfig({ cidr: "10.0.0.2/24", arp: { retryInterval: "5 seconds" } })
      const b = yield* Stack.decodeConfig({ cidr: "10.0.0.2/24", arp: { retryInterval: 5000 } })
      assert.equal(a.arp.retryInterval, 5000)
      assert.deepEqual(a, b)
      const c = yield* Stack.decodeConfig({
        cidr: "10.0.0.2/24",
        arp: { timeout: "2 minutes" },
        ipv4: { reassemblyTimeout: "1500 millis" },
      })
      assert.equal(c.arp.timeout, 120_000)
      assert.equal(c.ipv4.reassemblyTimeout, 1500)
    })))

  it("a bad duration names its key and says what is expected", () =>
    run(Effect.gen(function* () {
      // @ts-expect-error an unknown unit is a type error in a literal (and InvalidConfig when it comes from JSON)
      const e = yield* failure(Stack.make({ cidr: "10.0.0.2/24", arp: { timeout: "5 parsecs" } }))
      assert.equal(e.reason, "InvalidConfig")
      assert.match(e.message, /"5 seconds"[\s\S]*\["arp"\]\["timeout"\]/)
      const negative = yield* failure(Stack.make({ cidr: "10.0.0.2/24", ipv4: { reassemblyTimeout: -1 } }))
      assert.match(negative.message, /\["ipv4"\]\["reassemblyTimeout"\]/)
    })))

  it('the layer runs on the decoded value: 2 ARP requests "5 seconds" apart time out at 10 s (TestClock)', () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const s = yield* Stack.make({
          cidr: "10.0.0.2/24",
          arp: { announce: false, retries: 2, retryInterval: "5 seconds" },
        })
        const q = yield* Effect.forkChild(s.arp.query(ip("10.0.0.9")))
        yield* TestClock.adjust("9999 millis")
        yield* Effect.yieldNow
        assert.equal(q.pollUnsafe(), undefined, "still waiting at 9.999 s")
        yield* TestClock.adjust("1 millis")
        const exit = yield* Fiber.await(q)
        assert.ok(Exit.isFailure(exit))
        assert.equal(yield* Clock.currentTimeMillis, 10_000)
        assert.equal((yield* s.arp.stats).requestsSent, 2)
      })
    )))
})
