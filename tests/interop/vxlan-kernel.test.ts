/**
 * Our stack and the Linux kernel over VXLAN: a kernel `vxlan` device in one namespace, our switch with a VXLAN uplink
 * (a UDP socket) in another, joined by a veth underlay. The kernel pings us and we ping it (ARP both ways), UDP goes
 * byte-exact both ways (fragmented datagrams included), the kernel's error counters stay zero, and a tshark capture
 * on the kernel's vxlan device, checksums checked, shows no bad frame.
 *
 * Topology (nothing in the root namespace; the veth is created with both ends already in their namespaces):
 * ```
 *   netns K (vn-<pid>-a)                                 netns S (vn-<pid>-b)
 *   vx0 10.99.2.1/24  vxlan id 42, tx offload off        child process (this runtime): tests/interop/_vxlan_peer.ts
 *    └ underlay vk0 10.99.3.1/24  ═══ veth ═══  vs0 10.99.3.2/24 ── UDP socket 10.99.3.2:4789 ── switch ── stack
 *                                                                                                  10.99.2.2/24
 * ```
 * Why a child: the test process lives in the root namespace, and its sockets would be there too; the UDP socket must
 * sit in a namespace of ours (and apart from vx0's, or the kernel's local bypass swallows the datagrams), so the VXLAN
 * side runs as `ip netns exec S <bun|deno> _vxlan_peer.ts`, driven line by line over stdin/stdout. The child stops
 * by itself after 60 s; the test kills it and deletes both namespaces in `finally`.
 *
 * @module
 */
import { after, describe, it } from "node:test"
import assert from "node:assert/strict"
import { join } from "node:path"
import {
  announceSkip,
  badFrames,
  broadcastPing,
  type Capture,
  cleanupAll,
  countFrames,
  ERROR_COUNTERS,
  type LineChild,
  makeNetns,
  needs,
  neighbour,
  type Netns,
  nstat,
  removeTempDir,
  ROOT,
  RUNTIME,
  runtimeCommand,
  spawnLines,
  startCapture,
  tempDir,
  vxlanKernelSide,
} from "./_netns.ts"

const SKIP = RUNTIME === "node"
  ? "runs the VXLAN side as a child process of Bun or Deno"
  : needs({ tools: ["tshark", "ping", "nstat", "python3", "ethtool"] })
announceSkip("vxlan-kernel.test.ts", SKIP)
after(cleanupAll)

const KERNEL = "10.99.2.1"
const OURS = "10.99.2.2"
const PY_PATTERN = "def pattern(i, n): return bytes(((i * 31 + k * 7) & 0xff) for k in range(n))"
const SIZES = [0, 1, 100, 1422, 1423, 3000, 8000]

describe("VXLAN: our stack and the Linux kernel's vxlan device", () => {
  it("ping and ARP both ways, UDP byte-exact both ways, clean capture and counters", {
    skip: SKIP,
    timeout: 120_000,
  }, async () => {
    const k: Netns = makeNetns()
    const s: Netns = makeNetns()
    const dir = tempDir()
    const pcap = join(dir, "vxlan.pcap")
    let capture: Capture | undefined
    let child: LineChild | undefined
    try {
      vxlanKernelSide(k, s, `${KERNEL}/24`)
      const mtu = (JSON.parse(k.ip("-j", "link", "show", "dev", "vx0")) as Array<{ mtu: number }>)[0].mtu
      assert.equal(mtu, 1450, "the kernel's vxlan MTU leaves room for the 50 bytes of outer headers")

      // The child starts first: until its socket is bound, the capture probes (broadcasts over vx0) would draw
      // ICMP port-unreachable errors from namespace S.
      const [cmd, ...args] = runtimeCommand(join(ROOT, "tests", "interop", "_vxlan_peer.ts"), [
        "--address",
        "10.99.3.2",
        "--remote",
        "10.99.3.1",
        "--vni",
        "42",
        "--cidr",
        `${OURS}/24`,
        "--mtu",
        String(mtu),
        "--peer",
        KERNEL,
        "--timeout",
        "60",
      ])
      child = spawnLines("ip", ["netns", "exec", s.name, cmd, ...args])
      const ready = JSON.parse(await child.line("READY", 30_000)) as { mac: string; port: number }
      assert.equal(ready.port, 4789)
      capture = await startCapture(k, "vx0", pcap, broadcastPing(k, "10.99.2.255"))

      // We ping the kernel (our ARP request), then the kernel forgets us and pings (its ARP request).
      child.send("ping 3")
      const rtts = JSON.parse(await child.line("PINGS")) as Array<number>
      assert.equal(rtts.length, 3)
      k.ip("neigh", "flush", "dev", "vx0")
      const ping = await k.exec(["ping", "-c", "3", "-i", "0.2", "-W", "3", "-n", OURS], { timeoutMs: 20_000 })
      assert.match(ping.stdout, /3 packets transmitted, 3 received/, ping.stdout + ping.stderr)
      assert.equal(neighbour(k, OURS), ready.mac)

      // Kernel client → our echo on port 7.
      const client = await k.exec([
        "python3",
        "-c",
        `import socket, json
${PY_PATTERN}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
ok = 0; bad = []
for i, n in enumerate(${JSON.stringify(SIZES)}):
    s.sendto(pattern(i, n), ("${OURS}", 7))
    data, addr = s.recvfrom(65535)
    if data == pattern(i, n): ok += 1
    else: bad.append([n, len(data)])
print(json.dumps({"ok": ok, "bad": bad}))`,
      ], { timeoutMs: 30_000 })
      assert.equal(client.code, 0, client.stderr)
      assert.deepEqual(JSON.parse(client.stdout.trim()), { ok: SIZES.length, bad: [] })

      // Our client → a kernel echo server on 10.99.2.1:9000.
      const server = k.exec([
        "python3",
        "-c",
        `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("${KERNEL}", 9000)); s.settimeout(10)
for _ in range(${SIZES.length}):
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)`,
      ], { timeoutMs: 30_000 })
      await new Promise((resolve) => setTimeout(resolve, 300)) // python's bind
      child.send(`udp 9000 ${SIZES.join(" ")}`)
      assert.deepEqual(JSON.parse(await child.line("UDP", 30_000)), { ok: SIZES.length, bad: [] })
      assert.equal((await server).code, 0)

      child.send("quit")
      const stats = JSON.parse(await child.line("STATS")) as {
        vxlan: { rxBadHeader: number; rxWrongVni: number; rxDrops: number; txErrors: number; learnedMacs: number }
        udp: { badChecksum: number }
        icmp: { badChecksum: number }
      }
      assert.equal(await child.exit(), 0, child.stderr())
      assert.equal(stats.vxlan.rxBadHeader + stats.vxlan.rxWrongVni + stats.vxlan.rxDrops + stats.vxlan.txErrors, 0)
      assert.equal(stats.vxlan.learnedMacs, 1, "the child learned the kernel's vx0 MAC")
      assert.equal(stats.udp.badChecksum + stats.icmp.badChecksum, 0, "every checksum from the kernel was right")

      await capture.stop()
      const counters = await nstat(k, [...ERROR_COUNTERS, "IcmpInEchoReps", "UdpInDatagrams", "IpReasmOKs"])
      for (const c of ERROR_COUNTERS) assert.equal(counters[c], 0, `kernel counter ${c}`)
      assert.ok(counters.IcmpInEchoReps >= 3 && counters.UdpInDatagrams >= 2 * SIZES.length)
      assert.ok(counters.IpReasmOKs >= 2, "the kernel reassembled our fragments")
      assert.deepEqual(await badFrames(pcap), [], "tshark flagged frames on vx0")
      const count = (f: string) => countFrames(pcap, f)
      assert.ok((await count(`arp.opcode == 1 && arp.src.proto_ipv4 == ${OURS}`)) >= 1, "our ARP request")
      assert.ok((await count(`arp.opcode == 2 && arp.src.proto_ipv4 == ${OURS}`)) >= 1, "our ARP reply")
      assert.ok((await count(`icmp.type == 0 && ip.src == ${OURS}`)) >= 3, "our echo replies")
      assert.ok((await count(`udp.checksum.status == 1`)) >= 2 * SIZES.length, "UDP checksums verified")
      console.log(`[vxlan ${RUNTIME}] stack→kernel ping rtt ${rtts.map((r) => r.toFixed(3)).join(" / ")} ms`)
    } finally {
      child?.kill()
      await capture?.stop().catch(() => {})
      k.del()
      s.del()
      removeTempDir(dir)
    }
  })
})
