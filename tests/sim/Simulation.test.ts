/**
 * Simulation: a TCP transfer over a lossy 100 ms link finishes in virtual time (fast in real time), the same seed
 * gives the same pcap bytes twice, another seed differs, and a scenario that never ends fails with "TimeLimit" at once.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { Simulation, type SimulationResult } from "../../src/Simulation.ts"
import type { StackHandle } from "../../src/Stack.ts"
import { fnv1a, measuredTransfer, randomBytes } from "../tcp/_service.ts"

/** A client → server transfer of `data` in 16 KiB writes; returns the received length and hash. */
const transfer = (a: StackHandle, b: StackHandle, data: Uint8Array) => measuredTransfer(a, b, data, 16384)

const sim = (seed: number, bytes: number): Promise<SimulationResult<{ length: number; hash: number }>> =>
  Effect.runPromise(Simulation.run(
    { stacks: 2, seed, impairment: { loss: { probability: 0.02 }, delay: { latency: 50 } } },
    ([a, b]) => transfer(a, b, randomBytes(bytes, 7)),
  ))

const hasTshark = ((): boolean => {
  try {
    return spawnSync("tshark", ["-v"], { encoding: "utf8" }).status === 0
  } catch {
    return false
  }
})()

/** Runs tshark on `pcap` with checksum checks on; returns [frames read, frames flagged bad]. */
const tsharkCheck = (pcap: Uint8Array): [number, number] => {
  const dir = mkdtempSync(join(tmpdir(), "vnetif-sim-"))
  try {
    const file = join(dir, "sim.pcap")
    writeFileSync(file, pcap)
    const checks = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    const bad = "ip.checksum.status==0 || icmp.checksum.status==0 || tcp.checksum.status==0 || " +
      "udp.checksum.status==0 || _ws.malformed || _ws.expert.severity >= error"
    const count = (args: ReadonlyArray<string>): number => {
      const r = spawnSync("tshark", ["-r", file, ...args, "-T", "fields", "-e", "frame.number"], { encoding: "utf8" })
      assert.equal(r.status, 0, r.stderr)
      return r.stdout.split("\n").filter((l) => l.trim() !== "").length
    }
    return [count([]), count([...checks, "-Y", bad])]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe("Simulation", () => {
  it("a transfer over a lossy 100 ms RTT link completes in virtual time, byte-exact", async () => {
    const t0 = performance.now()
    const r = await sim(1, 256 * 1024)
    const data = randomBytes(256 * 1024, 7)
    assert.equal(r.value.length, data.length)
    assert.equal(r.value.hash, fnv1a(data))
    assert.ok(r.elapsed >= 100, `virtual time ${r.elapsed} ms covers at least one RTT`)
    assert.ok(r.frames > 0 && r.pcap.length > 24)
    assert.ok(r.stats.impairment!.droppedLoss > 0)
    assert.equal(r.stats.stacks.length, 2)
    assert.ok(performance.now() - t0 < 20_000)
  })

  it("the same seed gives the same pcap bytes; another seed differs", async () => {
    const a = await sim(7, 64 * 1024)
    const b = await sim(7, 64 * 1024)
    const c = await sim(8, 64 * 1024)
    assert.equal(a.elapsed, b.elapsed)
    assert.deepEqual(a.pcap, b.pcap)
    assert.deepEqual(a.stats, b.stats)
    assert.notDeepEqual(a.pcap, c.pcap)
  })

  it("a scenario that never finishes fails with TimeLimit, at once in real time", async () => {
    const exit = await Effect.runPromiseExit(
      Simulation.run({ stacks: 2, seed: 1, timeLimit: "10 minutes" }, ([_a, b]) =>
        Effect.gen(function* () {
          const listener = yield* b.tcp.listen(80)
          return yield* listener.accept // nobody connects
        })),
    )
    assert.equal(exit._tag, "Failure")
    assert.match(String(exit.cause), /TimeLimit|ran past/)
  })

  it("the capture: frames = the switch ports' tx counters; tshark finds no bad checksum or malformed frame", {
    skip: hasTshark ? false : "needs tshark (apt-get install tshark)",
  }, async () => {
    const r = await Effect.runPromise(Simulation.run(
      {
        stacks: 2,
        seed: 3,
        stack: { checksum: "all" },
        impairment: { loss: { probability: 0.03 }, delay: { latency: 5, jitter: 2 } },
      },
      ([a, b]) => transfer(a, b, randomBytes(200_000, 5)),
    ))
    const tx = r.stats.ports.reduce((n, p) => n + p.txPackets, 0)
    assert.equal(r.frames, tx)
    const [read, bad] = tsharkCheck(r.pcap)
    assert.equal(read, r.frames)
    assert.equal(bad, 0)
  })
})
