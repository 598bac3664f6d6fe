/**
 * Two of our own processes joined by VXLAN over 127.0.0.1 (no root needed): each child (`_vxlan_peer.ts`) runs a
 * switch with a VXLAN uplink bound to 127.0.0.1 and one stack (10.0.0.1/24 and 10.0.0.2/24, addresses that exist
 * only inside our stacks); B serves HTTP, A fetches from it over TCP on one keep-alive connection: a 3 MB body with
 * Content-Length, a 1 MB chunked body, and a 404 — lengths and SHA-256 checked against the generator. Only loopback
 * datagrams leave the processes.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { join } from "node:path"
import { bodySha256 } from "../../examples/_http.ts"
import { announceSkip, type LineChild, ROOT, RUNTIME, runtimeCommand, spawnLines } from "./_netns.ts"

const SKIP = RUNTIME === "node" ? "runs its two VXLAN processes with Bun or Deno" : false
announceSkip("vxlan-processes.test.ts", SKIP)

const peer = (port: number, remotePort: number, cidr: string, other: string, prefix: string): LineChild => {
  const [cmd, ...args] = runtimeCommand(join(ROOT, "tests", "interop", "_vxlan_peer.ts"), [
    ...["--address", "127.0.0.1", "--port", String(port), "--remote", "127.0.0.1"],
    ...["--remote-port", String(remotePort), "--vni", "7", "--cidr", cidr, "--mtu", "1450", "--peer", other],
    ...["--mac-prefix", prefix, "--timeout", "60"],
  ])
  return spawnLines(cmd, args)
}

describe("VXLAN between two of our processes over loopback", () => {
  it("TCP (HTTP) data byte-exact from one process to the other", { skip: SKIP, timeout: 90_000 }, async () => {
    const base = 20_000 + 2 * Math.floor(Math.random() * 15_000)
    let a: LineChild | undefined
    let b: LineChild | undefined
    try {
      b = peer(base + 1, base, "10.0.0.2/24", "10.0.0.1", "02:b2:00")
      a = peer(base, base + 1, "10.0.0.1/24", "10.0.0.2", "02:a1:00")
      await Promise.all([a.line("READY", 30_000), b.line("READY", 30_000)])
      b.send("serve")
      await b.line("SERVING", 10_000)
      a.send("fetch 80 /bytes/3000000 /chunked/1000000 /nope")
      const fetched = JSON.parse(await a.line("FETCHED", 60_000)) as Array<
        { status: number; length: number; sha256: string }
      >
      assert.deepEqual(fetched.map((f) => [f.status, f.length]), [[200, 3_000_000], [200, 1_000_000], [404, 24]])
      assert.equal(fetched[0].sha256, bodySha256(3_000_000))
      assert.equal(fetched[1].sha256, bodySha256(1_000_000))
      a.send("quit")
      b.send("quit")
      const statsB = JSON.parse(await b.line("STATS", 10_000)) as {
        http: { connections: number; requests: number; bodyBytes: number }
        vxlan: { rxBadHeader: number; rxWrongVni: number; txErrors: number }
      }
      const statsA = JSON.parse(await a.line("STATS", 10_000)) as { vxlan: { learnedMacs: number } }
      assert.equal(statsB.http.connections, 1, "one keep-alive connection")
      assert.equal(statsB.http.requests, 3)
      assert.equal(statsB.vxlan.rxBadHeader + statsB.vxlan.rxWrongVni + statsB.vxlan.txErrors, 0)
      assert.equal(statsA.vxlan.learnedMacs, 1)
      assert.equal(await a.exit(), 0, a.stderr())
      assert.equal(await b.exit(), 0, b.stderr())
    } finally {
      a?.kill()
      b?.kill()
    }
  })
})
