/**
 * Our stack and the Linux kernel over a TAP device, with the kernel as the judge: ping and ARP both ways, UDP
 * byte-exact both ways (fragmented datagrams included), the kernel's error counters at zero, and a tshark capture of
 * each test with every checksum checked. Also the TAP errors (bad name, EINVAL, EBUSY), the fd closing with the
 * Scope, the loop stopping when the device is deleted, and a measurement of RTT and UDP flood rates (printed).
 *
 * Topology (no 10.99.x.x address in the root namespace; no traffic outside our namespaces):
 * ```
 *   root netns: this test process ── fd ──┐  (TUNSETIFF creates the TAP here, with no address and down,
 *                                         │   then `ip link set vtN netns vn-<pid>-<n>` moves it at once)
 *   netns vn-<pid>-<n>:  vtN 10.99.0.1/24 (the kernel)  ⇄  our stack 10.99.0.2/24 (frames through the fd)
 * ```
 * The fd keeps working after the move, so the stack stays in this process while every kernel address and every
 * kernel socket is inside the namespace. The namespace is deleted in `finally`, also when a test fails.
 *
 * Run: `bun test tests/interop/` or `deno test -A tests/interop/` as root (skipped with a reason otherwise).
 *
 * @module
 */
import { after, describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Tap, TapError } from "../../src/link/uplink/Tap.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { assertClean, KERNEL, kernelAddr, OURS, pattern, PY_PATTERN, python, spawnIp, withTapLab } from "./_lab.ts"
import { announceSkip, cleanupAll, ifname, makeNetns, needs, neighbour, nstat, RUNTIME, spawnLines } from "./_netns.ts"

const SKIP = needs({ tools: ["tshark", "ping", "nstat", "python3"], tap: true })
announceSkip("tap.test.ts", SKIP)
after(cleanupAll)

const UDP_SIZES = [0, 1, 18, 100, 1472, 1473, 3000, 8000, 20000]

describe("TAP: our stack and the Linux kernel", () => {
  it(
    "our stack pings the kernel, the kernel pings our stack, ARP both ways",
    { skip: SKIP, timeout: 120_000 },
    async () => {
      const filters = {
        ourArpRequest: `arp.opcode == 1 && arp.src.proto_ipv4 == ${OURS}`,
        kernelArpReply: `arp.opcode == 2 && arp.src.proto_ipv4 == ${KERNEL}`,
        kernelArpRequest: `arp.opcode == 1 && arp.src.proto_ipv4 == ${KERNEL}`,
        ourArpReply: `arp.opcode == 2 && arp.src.proto_ipv4 == ${OURS}`,
        ourEchoReplies: `icmp.type == 0 && ip.src == ${OURS}`,
        kernelEchoReplies: `icmp.type == 0 && ip.src == ${KERNEL}`,
        verified: "icmp.checksum.status == 1 && ip.checksum.status == 1",
      }
      const { result, report } = await withTapLab((lab) =>
        Effect.gen(function* () {
          // 1. We ping the kernel: our ARP request, the kernel's reply.
          const rtts: Array<number> = []
          for (let i = 0; i < 3; i++) rtts.push(yield* lab.stack.icmp.ping(kernelAddr, { timeout: "3 seconds" }))
          const arp = yield* lab.stack.arp.entries
          const entry = arp.find((e) => e.ip === kernelAddr)
          assert.ok(entry !== undefined, "our ARP cache has the kernel")
          assert.equal(MacAddress.format(entry.mac).toLowerCase(), lab.kernelMac)
          // 2. The kernel forgets us and pings: the kernel's ARP request, our reply.
          lab.ns.ip("neigh", "flush", "dev", lab.dev)
          const ping = yield* Effect.promise(() =>
            lab.ns.exec(["ping", "-c", "3", "-i", "0.2", "-W", "3", "-n", OURS], { timeoutMs: 20_000 })
          )
          assert.equal(ping.code, 0, `ping failed: ${ping.stdout}${ping.stderr}`)
          assert.match(ping.stdout, /3 packets transmitted, 3 received/)
          assert.equal(neighbour(lab.ns, OURS), MacAddress.format(lab.stack.mac).toLowerCase())
          const icmp = yield* lab.stack.icmp.stats
          const counters = yield* Effect.promise(() =>
            nstat(lab.ns, ["IcmpInEchos", "IcmpInEchoReps", "IcmpOutEchos", "IcmpOutEchoReps"])
          )
          return { rtts, icmp, counters }
        }), { count: Object.values(filters) })
      assertClean(report)
      assert.ok(result.icmp.echoRepliesReceived >= 3 && result.icmp.echoRepliesSent >= 3)
      assert.ok(result.counters.IcmpInEchos >= 3 && result.counters.IcmpInEchoReps >= 3, "the kernel counted the pings")
      // The capture shows ARP both ways and the echoes both ways.
      const n = (f: string): number => report.counts[f] ?? 0
      assert.ok(n(filters.ourArpRequest) >= 1, "our ARP request")
      assert.ok(n(filters.kernelArpReply) >= 1, "the kernel's ARP reply")
      assert.ok(n(filters.kernelArpRequest) >= 1, "the kernel's ARP request")
      assert.ok(n(filters.ourArpReply) >= 1, "our ARP reply")
      assert.ok(n(filters.ourEchoReplies) >= 3, "our echo replies")
      assert.ok(n(filters.kernelEchoReplies) >= 3, "the kernel's echo replies")
      assert.ok(n(filters.verified) >= 12, "checksums were verified")
      console.log(
        `[tap ${RUNTIME}] stack→kernel ping rtt ${result.rtts.map((r) => r.toFixed(3)).join(" / ")} ms`,
      )
    },
  )

  it("UDP crosses byte-exact both ways, fragmented datagrams included", { skip: SKIP, timeout: 120_000 }, async () => {
    const verified = "udp.checksum.status == 1"
    const { result, report } = await withTapLab((lab) =>
      Effect.gen(function* () {
        // Kernel client → our echo service on port 7.
        yield* lab.stack.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
        const toUs = yield* Effect.promise(() =>
          python(
            lab.ns,
            `import socket, json
${PY_PATTERN}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
ok = 0; bad = []
for i, n in enumerate(${JSON.stringify(UDP_SIZES)}):
    s.sendto(pattern(i, n), ("${OURS}", 7))
    data, addr = s.recvfrom(65535)
    if data == pattern(i, n) and addr == ("${OURS}", 7): ok += 1
    else: bad.append([n, len(data)])
print(json.dumps({"ok": ok, "bad": bad}))`,
          )
        )
        // Our client → a kernel echo server on 10.99.0.1:9000.
        const server = lab.ns.exec([
          "python3",
          "-c",
          `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("${KERNEL}", 9000)); s.settimeout(10)
print("ready", flush=True)
for _ in range(${UDP_SIZES.length}):
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)`,
        ], { timeoutMs: 30_000 })
        const socket = yield* lab.stack.udp.bind(0)
        let echoed = 0
        for (let i = 0; i < UDP_SIZES.length; i++) {
          const sent = pattern(i, UDP_SIZES[i])
          // The server may still be starting: resend until the echo comes (bounded).
          let got: Uint8Array | undefined
          for (let attempt = 0; attempt < 20 && got === undefined; attempt++) {
            yield* socket.send(kernelAddr, 9000, sent)
            const d = yield* socket.take.pipe(Effect.timeoutOption("500 millis"))
            if (d._tag === "Some") got = d.value.data
          }
          assert.ok(got !== undefined, `no echo for ${UDP_SIZES[i]} bytes`)
          assert.deepEqual(got, sent, `echo of ${UDP_SIZES[i]} bytes differs`)
          echoed++
        }
        const srv = yield* Effect.promise(() => server)
        assert.equal(srv.code, 0, `kernel echo server: ${srv.stderr}`)
        const counters = yield* Effect.promise(() => nstat(lab.ns, ["UdpInDatagrams", "IpReasmOKs", "IpFragCreates"]))
        return { toUs, echoed, counters, udp: yield* lab.stack.udp.stats }
      }), { count: [verified] })
    assertClean(report)
    assert.deepEqual(result.toUs, { ok: UDP_SIZES.length, bad: [] })
    assert.equal(result.echoed, UDP_SIZES.length)
    assert.equal(result.udp.badChecksum, 0)
    assert.ok(result.counters.UdpInDatagrams >= 2 * UDP_SIZES.length, "the kernel received the datagrams")
    assert.ok(result.counters.IpReasmOKs >= 3, "the kernel reassembled our fragments")
    assert.ok(result.counters.IpFragCreates >= 6, "the kernel fragmented its datagrams to us")
    assert.ok((report.counts[verified] ?? 0) >= 2 * UDP_SIZES.length, "UDP checksums were verified")
  })

  it(
    "measures ping RTT and UDP flood rates (figures printed, not asserted)",
    { skip: SKIP, timeout: 120_000 },
    async () => {
      const COUNT = 20_000
      const SIZE = 1400
      const { result, report } = await withTapLab((lab) =>
        Effect.gen(function* () {
          // RTT both ways (after ARP is warm).
          yield* lab.stack.icmp.ping(kernelAddr, { timeout: "3 seconds" })
          const ours: Array<number> = []
          for (let i = 0; i < 50; i++) ours.push(yield* lab.stack.icmp.ping(kernelAddr, { timeout: "3 seconds" }))
          const kping = yield* Effect.promise(() =>
            lab.ns.exec(["ping", "-c", "50", "-i", "0.01", "-q", "-n", OURS], { timeoutMs: 30_000 })
          )
          const kavg = /= [\d.]+\/([\d.]+)\//.exec(kping.stdout)?.[1] ?? "?"
          // Kernel → us: python floods port 9002, we count.
          let got = 0
          let gotBytes = 0
          let first = 0
          let last = 0
          yield* lab.stack.udp.listen(9002, (d) =>
            Effect.sync(() => {
              const t = performance.now()
              if (got === 0) first = t
              last = t
              got++
              gotBytes += d.data.length
            }))
          const sent = yield* Effect.promise(() =>
            python(
              lab.ns,
              `import socket, json, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
buf = bytes(${SIZE}); t = time.time(); n = 0
while n < ${COUNT} and time.time() - t < 10:
    try:
        s.sendto(buf, ("${OURS}", 9002)); n += 1
    except BlockingIOError:
        time.sleep(0.0005)
print(json.dumps({"sent": n, "seconds": time.time() - t}))`,
            )
          )
          yield* Effect.sleep("500 millis")
          // Where the missing ones went: the TAP's queue in the kernel (we did not read fast enough), our switch
          // port's queue, or the UDP socket's queue.
          const link = JSON.parse(lab.ns.ip("-s", "-j", "link", "show", "dev", lab.dev)) as Array<
            { stats64?: { tx?: { dropped?: number } } }
          >
          const drops = {
            tapQueue: link[0].stats64?.tx?.dropped ?? -1,
            switchQueue: (yield* lab.stack.vnetif.stats).rxDrops,
            udpQueue: (yield* lab.stack.udp.stats).queueOverflows,
          }
          const inRate = { sent: sent.sent as number, got, mbps: (gotBytes * 8) / ((last - first) * 1000), drops }
          // Us → kernel: we flood 10.99.0.1:9001, python counts.
          const sink = spawnLines("ip", [
            "netns",
            "exec",
            lab.ns.name,
            "python3",
            "-c",
            `import socket, json, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("${KERNEL}", 9001)); s.settimeout(5); print("ready", flush=True)
n = 0; b = 0; t0 = None; t1 = None
try:
    while n < ${COUNT}:
        d = s.recv(65535); t1 = time.time(); t0 = t0 or t1; n += 1; b += len(d)
        if n > 1: s.settimeout(1)
except socket.timeout:
    pass
print("result", json.dumps({"got": n, "bytes": b, "seconds": (t1 - t0) if t0 else 0}), flush=True)`,
          ])
          yield* Effect.promise(() => sink.line("ready")) // the flood starts once python is bound, not after a guess
          const socket = yield* lab.stack.udp.bind(0)
          const payload = new Uint8Array(SIZE)
          const t0 = performance.now()
          for (let i = 0; i < COUNT; i++) {
            yield* socket.send(kernelAddr, 9001, payload)
            if ((i & 63) === 63) yield* Effect.yieldNow // let the switch and the TAP drain
          }
          const sendSeconds = (performance.now() - t0) / 1000
          const sinkResult = JSON.parse(yield* Effect.promise(() => sink.line("result", 40_000))) as {
            got: number
            bytes: number
            seconds: number
          }
          const outRate = {
            sent: COUNT,
            got: sinkResult.got,
            mbps: (sinkResult.bytes * 8) / (Math.max(sinkResult.seconds, sendSeconds) * 1e6),
          }
          return { ours, kavg, inRate, outRate, stats: yield* Tap.stats(lab.net.uplink) }
        })
      )
      assertClean(report, { allowUdpOverflow: true }) // the stack→kernel flood may overflow python's socket buffer
      const sorted = [...result.ours].sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)]
      console.log(
        `[tap ${RUNTIME}] ping rtt: stack→kernel median ${median.toFixed(3)} ms (min ${sorted[0].toFixed(3)}), ` +
          `kernel→stack avg ${result.kavg} ms`,
      )
      console.log(
        `[tap ${RUNTIME}] UDP ${SIZE} B kernel→stack: ${result.inRate.got}/${result.inRate.sent} received, ` +
          `${result.inRate.mbps.toFixed(0)} Mbit/s (lost: ${
            JSON.stringify(result.inRate.drops)
          }); stack→kernel: ${result.outRate.got}/${result.outRate.sent} ` +
          `received, ${result.outRate.mbps.toFixed(0)} Mbit/s`,
      )
      assert.ok(result.inRate.got > 0 && result.outRate.got > 0, "some datagrams crossed each way")
    },
  )

  it(
    "fails with typed errors: bad name, not a TAP (EINVAL), busy (EBUSY)",
    { skip: SKIP, timeout: 120_000 },
    async () => {
      const failure = async (options: Parameters<typeof Tap.open>[0]): Promise<TapError> => {
        const exit = await Effect.runPromiseExit(Effect.scoped(Tap.open(options)))
        assert.ok(Exit.isFailure(exit), "expected a failure")
        const e = Cause.findErrorOption(exit.cause)
        assert.ok(
          e._tag === "Some" && e.value instanceof TapError,
          `expected a TapError, got ${Cause.pretty(exit.cause)}`,
        )
        return e.value
      }
      const long = await failure({ name: "a-name-much-too-long" })
      assert.equal(long.reason, "InvalidConfig")
      assert.equal((await failure({ name: "vn0", mtu: 20 })).reason, "InvalidConfig")
      // `lo` exists and is not a TAP: TUNSETIFF says EINVAL. Nothing is created.
      const notTap = await failure({ name: "lo" })
      assert.equal(notTap.reason, "Io")
      assert.equal(notTap.errno, 22)
      assert.match(notTap.message, /EINVAL.*not a TAP/)
      // The same TAP twice: EBUSY. The device is made in the root namespace (TUNSETIFF works where the process is),
      // is never configured (down, no address, so it carries nothing) and is deleted when the first fd closes.
      const held = ifname("vh")
      await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const first = yield* Tap.open({ name: held })
        assert.equal(first.ifname, held)
        const second = yield* Effect.flip(Tap.open({ name: held }))
        assert.equal(second.reason, "Io")
        assert.equal(second.errno, 16)
        assert.match(second.message, /EBUSY/)
      })))
      assert.notEqual(spawnIp(["link", "show", "dev", held]), 0, "closing the fd deleted the TAP")
    },
  )

  it("closing the Scope stops the loop and closes the fd; a deleted device stops the loop", {
    skip: SKIP,
    timeout: 120_000,
  }, async () => {
    // 1. Scope close: the device disappears (a TUNSETIFF-made TAP lives as long as its fd).
    const dev = ifname("vc")
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const net = yield* Tap.make({ name: dev })
      assert.equal(spawnIp(["link", "show", "dev", dev]), 0)
      assert.equal((yield* net.backend.ports).length, 1, "the uplink is port 0")
    })))
    assert.notEqual(spawnIp(["link", "show", "dev", dev]), 0, "the TAP is gone after the Scope closed")
    // 2. The namespace holding the device is deleted while we poll: the loop logs, counts and stops.
    const ns = makeNetns()
    const dev2 = ifname("vd")
    const stats = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const net = yield* Tap.make({ name: dev2 })
      spawnIp(["link", "set", dev2, "netns", ns.name])
      ns.del()
      for (let i = 0; i < 200; i++) {
        const s = yield* net.uplink.device.stats
        if (s.rxErrors > 0) break
        yield* Effect.sleep("10 millis")
      }
      return yield* net.uplink.device.stats
    })))
    assert.equal(stats.rxErrors, 1, "one read error, then the loop stopped")
    assert.equal(stats.lastErrno, 77, "EBADFD")
  })
})
