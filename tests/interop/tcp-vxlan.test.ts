/**
 * TCP against the Linux kernel over VXLAN: the topology of `vxlan-kernel.test.ts` (a kernel vxlan device vx0,
 * 10.99.2.1/24, in namespace K; our stack, 10.99.2.2/24, in a child process `_vxlan_peer.ts` in namespace S; a veth
 * underlay 10.99.3.1 ↔ 10.99.3.2), with the child serving HTTP on port 80 and iperf3 on port 5201:
 * - `curl` in K fetches 20 MB byte-exact (length and SHA-256 against our generator), and two URLs in one curl
 *   invocation share one connection;
 * - `iperf3 -c 10.99.2.2 -t 3 -J`, and with `-R`, completes: JSON parsed, no `error`, non-zero throughput both
 *   ways, `end.sum_sent.retransmits` reported.
 * The capture on vx0 (checksums checked; bulk iperf3 segments sampled, see `SAMPLE_TCP_PORT`) shows no bad frame and
 * the kernel's error counters stay zero.
 *
 * @module
 */
import { after, describe, it } from "node:test"
import assert from "node:assert/strict"
import { join } from "node:path"
import { bodySha256 } from "../../examples/_http.ts"
import {
  announceSkip,
  badFrames,
  broadcastPing,
  type Capture,
  cleanupAll,
  ERROR_COUNTERS,
  type LineChild,
  makeNetns,
  needs,
  type Netns,
  nstat,
  removeTempDir,
  ROOT,
  RUNTIME,
  runtimeCommand,
  SAMPLE_TCP_PORT,
  spawnLines,
  startCapture,
  tempDir,
  vxlanKernelSide,
} from "./_netns.ts"
import { checkIperf3, curlDownload, curlTwoUrls, KEEP_ALIVE_REUSED, mbps } from "./_tcp.ts"

const SKIP = RUNTIME === "node"
  ? "runs the VXLAN side as a child process of Bun or Deno"
  : needs({ tools: ["tshark", "ping", "nstat", "python3", "ethtool", "curl", "iperf3", "sha256sum"] })
announceSkip("tcp-vxlan.test.ts", SKIP)
after(cleanupAll)

const KERNEL = "10.99.2.1"
const OURS = "10.99.2.2"
const SIZE = 20_000_000

describe("TCP over VXLAN: the kernel's curl and iperf3 against our stack in another namespace", () => {
  it("curl 20 MB byte-exact with keep-alive, iperf3 both ways, clean capture and counters", {
    skip: SKIP,
    timeout: 150_000,
  }, async () => {
    const k: Netns = makeNetns()
    const s: Netns = makeNetns()
    const dir = tempDir()
    const pcap = join(dir, "vxlan-tcp.pcap")
    let capture: Capture | undefined
    let child: LineChild | undefined
    try {
      vxlanKernelSide(k, s, `${KERNEL}/24`)
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
        "1450",
        "--peer",
        KERNEL,
        "--timeout",
        "120",
      ])
      child = spawnLines("ip", ["netns", "exec", s.name, cmd, ...args])
      await child.line("READY", 30_000)
      child.send("serve")
      await child.line("SERVING", 10_000)
      capture = await startCapture(k, "vx0", pcap, broadcastPing(k, "10.99.2.255"), SAMPLE_TCP_PORT(5201))

      const file = join(dir, "body.bin")
      const get = await k.exec(curlDownload(OURS, SIZE, file), { timeoutMs: 70_000 })
      assert.equal(get.code, 0, get.stderr)
      assert.equal(get.stdout, `200 ${SIZE}`)
      const sum = await k.exec(["sha256sum", file])
      assert.equal(sum.stdout.split(" ")[0], bodySha256(SIZE), "curl's body hashes like our generator's")
      const two = await k.exec(curlTwoUrls(OURS), { timeoutMs: 30_000 })
      assert.equal(two.code, 0, two.stderr)
      assert.deepEqual(two.stdout.trim().split("\n"), KEEP_ALIVE_REUSED, "second URL reused")

      const forward = await k.exec(["iperf3", "-c", OURS, "-t", "3", "-J"], { timeoutMs: 30_000 })
      const fwd = checkIperf3(forward.stdout, forward.stderr)
      const reverse = await k.exec(["iperf3", "-c", OURS, "-t", "3", "-J", "-R"], { timeoutMs: 30_000 })
      const rev = checkIperf3(reverse.stdout, reverse.stderr)

      child.send("quit")
      const stats = JSON.parse(await child.line("STATS", 20_000)) as {
        http: { connections: number; requests: number }
        iperf3: Array<{ reverse: boolean }>
        vxlan: { rxBadHeader: number; rxWrongVni: number; txErrors: number }
      }
      assert.equal(await child.exit(), 0, child.stderr())
      assert.deepEqual(stats.http, { connections: 2, requests: 3, bodyBytes: SIZE + 44 + 100000, timeouts: 0 })
      assert.deepEqual(stats.iperf3.map((t) => t.reverse), [false, true])
      assert.equal(stats.vxlan.rxBadHeader + stats.vxlan.rxWrongVni + stats.vxlan.txErrors, 0)

      await capture.stop()
      const counters = await nstat(k, ERROR_COUNTERS)
      for (const c of ERROR_COUNTERS) assert.equal(counters[c], 0, `kernel counter ${c}`)
      assert.deepEqual(await badFrames(pcap), [], "tshark flagged frames on vx0")
      console.log(
        `[tcp-vxlan ${RUNTIME}] iperf3 kernel→stack ${mbps(fwd.receivedBps)} (${fwd.retransmits} retr), ` +
          `stack→kernel ${mbps(rev.receivedBps)} (${rev.retransmits} retr)`,
      )
    } finally {
      child?.kill()
      await capture?.stop().catch(() => {})
      k.del()
      s.del()
      removeTempDir(dir)
    }
  })
})
