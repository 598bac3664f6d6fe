/**
 * VXLAN between two of our own switches in one process, over 127.0.0.1 (no root needed): ping both ways and UDP
 * byte-exact (fragmented datagrams too), a switch with local stacks beside its VXLAN uplink, learning of remote MACs
 * by an endpoint that has no static remote, the RFC 7348 header on the wire, drops of bad headers and foreign VNIs,
 * and the typed errors.
 *
 * Topology: two `Vxlan.make` switches, each with a UDP socket bound to 127.0.0.1 on an ephemeral port, the other as
 * its remote. Only loopback datagrams leave the process; the 10.0.0.x addresses exist only inside our stacks.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import dgram from "node:dgram"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import type * as Scope from "effect/Scope"
import { Backend, BackendError } from "../../src/link/Backend.ts"
import { Switch } from "../../src/link/Switch.ts"
import { Uplink } from "../../src/link/uplink/Uplink.ts"
import { Vxlan, VXLAN_HEADER_LEN, VxlanError, type VxlanNetwork } from "../../src/link/uplink/Vxlan.ts"
import { Stack, type StackHandle } from "../../src/Stack.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"

const run = <A, E>(e: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(e))
const ip = (s: string): Ipv4Address => Ipv4Address.parse(s)!
const LO = "127.0.0.1"

/** A stack with every checksum on (a real wire), on the given backend. */
const stackOn = (net: VxlanNetwork, cidr: string): Effect.Effect<StackHandle, unknown, Scope.Scope> =>
  Stack.make({ cidr, checksum: "all" }).pipe(Effect.provideService(Backend, net.backend))

/** Two VXLAN switches on loopback, each the other's static remote (or only `a` knowing `b` with `oneWay`). */
const pair = (
  options?: { readonly oneWay?: boolean; readonly vni?: number },
): Effect.Effect<{ readonly a: VxlanNetwork; readonly b: VxlanNetwork }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const vni = options?.vni ?? 42
    const b = yield* Vxlan.make({ vni, address: LO, port: 0, macPrefix: "02:bb:00" })
    const a = yield* Vxlan.make({
      vni,
      address: LO,
      port: 0,
      macPrefix: "02:aa:00",
      remotes: [{ address: LO, port: b.uplink.socket.local.port }],
    })
    if (options?.oneWay !== true) yield* b.uplink.socket.addRemote({ address: LO, port: a.uplink.socket.local.port })
    return { a, b }
  })

const pattern = (seed: number, size: number): Uint8Array => {
  const d = new Uint8Array(size)
  for (let i = 0; i < size; i++) d[i] = (seed * 131 + i * 17 + (i >>> 8)) & 0xff
  return d
}

const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  assert.ok(Exit.isFailure(exit), "expected a failure")
  const e = Cause.findErrorOption(exit.cause)
  assert.ok(e._tag === "Some", `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return e.value
}

describe("VXLAN between two of our switches over loopback", () => {
  it(
    "pings both ways and carries UDP byte-exact, fragmented datagrams included",
    { timeout: 60_000 },
    () =>
      run(Effect.gen(function* () {
        const { a, b } = yield* pair()
        const sa = yield* stackOn(a, "10.0.0.1/24")
        const sb = yield* stackOn(b, "10.0.0.2/24")
        assert.equal(MacAddress.format(sa.mac), "02:aa:00:00:00:01", "port 1 under a's prefix (port 0 is the uplink)")
        assert.equal(MacAddress.format(sb.mac), "02:bb:00:00:00:01")

        for (let i = 0; i < 3; i++) yield* sa.icmp.ping(sb.address, { timeout: "2 seconds" })
        for (let i = 0; i < 3; i++) yield* sb.icmp.ping(sa.address, { timeout: "2 seconds" })

        yield* sb.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
        const socket = yield* sa.udp.bind(0)
        const sizes = [0, 1, 100, 1472, 1473, 4000, 30000, 65507]
        for (let i = 0; i < sizes.length; i++) {
          const sent = pattern(i, sizes[i])
          yield* socket.send(sb.address, 7, sent)
          const echo = yield* socket.take.pipe(Effect.timeout("3 seconds"))
          assert.equal(echo.src, sb.address)
          assert.equal(echo.data.length, sent.length, `echo of ${sizes[i]} bytes`)
          assert.deepEqual(echo.data, sent, `echo of ${sizes[i]} bytes differs`)
        }

        // Each side learned the other's stack MAC behind the other's socket.
        const learnedA = yield* a.uplink.socket.learned
        assert.deepEqual(
          learnedA.map((l) => [l.mac, l.address, l.port]),
          [["02:bb:00:00:00:01", LO, b.uplink.socket.local.port]],
        )
        const sta = yield* a.uplink.socket.stats
        const stb = yield* b.uplink.socket.stats
        assert.equal(sta.rxBadHeader + sta.rxWrongVni + sta.rxDrops + sta.txErrors, 0)
        assert.equal(stb.rxBadHeader + stb.rxWrongVni + stb.rxDrops + stb.txErrors, 0)
        assert.equal(sta.txFrames, stb.rxFrames, "every frame a sent arrived at b")
        assert.equal(stb.txFrames, sta.rxFrames, "every frame b sent arrived at a")
        assert.ok(sta.txFlooded >= 1, "ARP requests were flooded")
        const ua = yield* a.uplink.stats
        assert.equal(ua.fromWireRefused + ua.toWireDropped, 0)
        assert.equal((yield* sa.udp.stats).badChecksum + (yield* sb.udp.stats).badChecksum, 0)
      })),
  )

  it(
    "bridges: local stacks beside the uplink reach each other and the remote side",
    { timeout: 60_000 },
    () =>
      run(Effect.gen(function* () {
        const { a, b } = yield* pair()
        const a1 = yield* stackOn(a, "10.0.0.1/24")
        const a3 = yield* stackOn(a, "10.0.0.3/24")
        const b2 = yield* stackOn(b, "10.0.0.2/24")
        const b4 = yield* stackOn(b, "10.0.0.4/24")
        const all = [a1, a3, b2, b4]
        for (const from of all) {
          for (const to of all) {
            if (from !== to) yield* from.icmp.ping(to.address, { timeout: "2 seconds" })
          }
        }
        // Local traffic stays local: a1 ↔ a3 frames never went through the socket as unicast.
        const learned = (yield* a.uplink.socket.learned).map((l) => l.mac).sort()
        assert.deepEqual(learned, ["02:bb:00:00:00:01", "02:bb:00:00:00:02"])
      })),
  )

  it(
    "learns: an endpoint with no static remote answers the endpoint that found it",
    { timeout: 60_000 },
    () =>
      run(Effect.gen(function* () {
        const { a, b } = yield* pair({ oneWay: true })
        assert.deepEqual(yield* b.uplink.socket.remotes, [])
        // b alone cannot reach anyone: its floods have nowhere to go, and are counted.
        const sb = yield* stackOn(b, "10.0.0.2/24")
        const early = yield* Effect.exit(sb.icmp.ping(ip("10.0.0.1"), { timeout: "300 millis" }))
        assert.ok(Exit.isFailure(early))
        assert.ok((yield* b.uplink.socket.stats).txNoRemote >= 1, "b counted frames with no remote")
        assert.deepEqual(yield* b.uplink.socket.learned, [])
        // a's stack comes up: its ARP announcement, flooded to its static remote b, teaches b where a is.
        const sa = yield* stackOn(a, "10.0.0.1/24")
        for (let i = 0; i < 100 && (yield* b.uplink.socket.learned).length === 0; i++) yield* Effect.sleep("5 millis")
        const learned = yield* b.uplink.socket.learned
        assert.deepEqual(learned.map((l) => [l.mac, l.port]), [["02:aa:00:00:00:01", a.uplink.socket.local.port]])
        // Now b's floods also go to the learned endpoint: b reaches a on its own, and a reaches b.
        yield* sb.icmp.ping(sa.address, { timeout: "2 seconds" })
        yield* sa.icmp.ping(sb.address, { timeout: "2 seconds" })
      })),
  )

  it(
    "sends RFC 7348 headers and drops bad headers and other VNIs, counted",
    { timeout: 60_000 },
    () =>
      run(Effect.gen(function* () {
        const net = yield* Vxlan.make({ vni: 0x123456, address: LO, port: 0, macPrefix: "02:cc:00" })
        const st = yield* stackOn(net, "10.0.0.1/24")
        // A raw UDP socket plays the remote: it receives what we send and sends crafted datagrams.
        const received: Array<Uint8Array> = []
        const raw = yield* Effect.acquireRelease(
          Effect.callback<dgram.Socket>((resume) => {
            const s = dgram.createSocket("udp4")
            s.on("message", (m) => received.push(new Uint8Array(m)))
            s.bind(0, LO, () => {
              resume(Effect.succeed(s))
            })
          }),
          (s) =>
            Effect.callback<void>((resume) => {
              s.close(() => resume(Effect.void))
            }),
        )
        yield* net.uplink.socket.addRemote({ address: LO, port: raw.address().port })
        yield* Effect.exit(st.icmp.ping(ip("10.0.0.9"), { timeout: "200 millis" })) // an ARP request goes out
        for (let i = 0; i < 100 && received.length === 0; i++) yield* Effect.sleep("10 millis")
        assert.ok(received.length >= 1, "the remote got a datagram")
        const d = received[0]
        assert.deepEqual([...d.subarray(0, VXLAN_HEADER_LEN)], [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0])
        assert.deepEqual([...d.subarray(VXLAN_HEADER_LEN, VXLAN_HEADER_LEN + 6)], [255, 255, 255, 255, 255, 255])
        assert.deepEqual([...d.subarray(VXLAN_HEADER_LEN + 12, VXLAN_HEADER_LEN + 14)], [0x08, 0x06], "ARP inside")

        const port = net.uplink.socket.local.port
        const inner = new Uint8Array(60)
        inner.fill(0xff, 0, 6) // broadcast
        inner.set([0x02, 0xdd, 0, 0, 0, 1], 6)
        inner.set([0x88, 0xb5], 12) // an experimental EtherType nobody handles
        const datagram = (header: ReadonlyArray<number>, body: Uint8Array = inner): Uint8Array => {
          const out = new Uint8Array(VXLAN_HEADER_LEN + body.length)
          out.set(header)
          out.set(body, VXLAN_HEADER_LEN)
          return out
        }
        const send = (bytes: Uint8Array) =>
          Effect.callback<void>((resume) => {
            raw.send(bytes, port, LO, () => resume(Effect.void))
          })
        const before = yield* net.uplink.socket.stats
        yield* send(datagram([0x00, 0, 0, 0, 0x12, 0x34, 0x56, 0])) // no I flag
        yield* send(new Uint8Array([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 1, 2, 3])) // too short for a frame
        yield* send(datagram([0x08, 0, 0, 0, 0x12, 0x34, 0x57, 0])) // another VNI
        yield* send(datagram([0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0])) // another VNI
        yield* send(datagram([0x08 | 0x80, 0xff, 0xff, 0xff, 0x12, 0x34, 0x56, 0xff])) // reserved bits set: accepted
        let after = yield* net.uplink.socket.stats
        for (let i = 0; i < 200 && after.rxFrames - before.rxFrames < 1; i++) {
          yield* Effect.sleep("10 millis")
          after = yield* net.uplink.socket.stats
        }
        assert.equal(after.rxBadHeader - before.rxBadHeader, 2)
        assert.equal(after.rxWrongVni - before.rxWrongVni, 2)
        assert.equal(after.rxFrames - before.rxFrames, 1, "reserved bits are ignored on receipt (RFC 7348 §5)")
        assert.ok((yield* net.uplink.socket.learned).some((l) => l.mac === "02:dd:00:00:00:01"))

        // A sender with a static remote's address but another source port (Linux hashes the inner flow into the
        // source port) is learned at the static remote's port, not at its source port.
        const other = yield* Effect.acquireRelease(
          Effect.callback<dgram.Socket>((resume) => {
            const s = dgram.createSocket("udp4")
            s.bind(0, LO, () => {
              resume(Effect.succeed(s))
            })
          }),
          (s) =>
            Effect.callback<void>((resume) => {
              s.close(() => resume(Effect.void))
            }),
        )
        const fromOther = datagram([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0], inner.slice())
        fromOther[VXLAN_HEADER_LEN + 11] = 2 // source MAC 02:dd:00:00:00:02
        yield* Effect.callback<void>((resume) => {
          other.send(fromOther, port, LO, () => resume(Effect.void))
        })
        let entry: { readonly mac: string; readonly port: number } | undefined
        for (let i = 0; i < 200 && entry === undefined; i++) {
          entry = (yield* net.uplink.socket.learned).find((l) => l.mac === "02:dd:00:00:00:02")
          if (entry === undefined) yield* Effect.sleep("10 millis")
        }
        assert.ok(entry !== undefined, "learned")
        assert.equal(entry.port, raw.address().port, "answered at the static remote's port")
        assert.notEqual(entry.port, other.address().port)
      })),
  )

  it("warns once when a stack with checksum offload sends to the wire", { timeout: 60_000 }, () => {
    const warnings: Array<string> = []
    const capture = Logger.make((o) => {
      if (o.logLevel === "Warn") warnings.push(String(Array.isArray(o.message) ? o.message[0] : o.message))
    })
    return run(
      Effect.gen(function* () {
        const { a, b } = yield* pair()
        const sa = yield* Stack.make({ cidr: "10.0.0.1/24" }).pipe(Effect.provideService(Backend, a.backend))
        yield* stackOn(b, "10.0.0.2/24")
        yield* Effect.exit(sa.icmp.ping(ip("10.0.0.2"), { timeout: "300 millis" }))
        yield* Effect.exit(sa.icmp.ping(ip("10.0.0.2"), { timeout: "300 millis" }))
        assert.equal(warnings.filter((w) => /checksum: "all"/.test(w)).length, 1, warnings.join("\n"))
      }).pipe(Effect.provide(Logger.layer([capture]))),
    )
  })

  it(
    "fails with typed errors: bad VNI, port in use, bad remote, bad MAC prefix",
    { timeout: 60_000 },
    () =>
      run(Effect.gen(function* () {
        const vni = failureOf(yield* Effect.exit(Effect.scoped(Vxlan.open({ vni: 1 << 24, address: LO, port: 0 }))))
        assert.ok(vni instanceof VxlanError)
        assert.equal(vni.reason, "InvalidConfig")
        const addr = failureOf(yield* Effect.exit(Effect.scoped(Vxlan.open({ vni: 1, address: "nowhere", port: 0 }))))
        assert.equal((addr as VxlanError).reason, "InvalidConfig")

        const first = yield* Vxlan.open({ vni: 1, address: LO, port: 0 })
        const inUse = failureOf(
          yield* Effect.exit(Effect.scoped(Vxlan.open({ vni: 1, address: LO, port: first.local.port }))),
        )
        assert.ok(inUse instanceof VxlanError)
        assert.equal(inUse.reason, "Bind")
        assert.match(inUse.message, /EADDRINUSE/)

        const v6 = failureOf(yield* Effect.exit(first.addRemote({ address: "::1" })))
        assert.equal(v6.reason, "InvalidConfig")
        assert.match(v6.message, /IPv6/)

        const sw = yield* Switch.make()
        for (const bad of ["03:00:00", "02:00", "zz:00:00", 0x1000000]) {
          const e = failureOf(yield* Effect.exit(Uplink.withMacPrefix(sw, bad)))
          assert.ok(e instanceof BackendError)
          assert.equal(e.reason, "InvalidConfig")
        }
        // The socket is closed with its Scope: the port can be bound again afterwards.
        const port = yield* Effect.scoped(Effect.map(Vxlan.open({ vni: 1, address: LO, port: 0 }), (s) => s.local.port))
        yield* Effect.scoped(Vxlan.open({ vni: 1, address: LO, port }))
      })),
  )
})
