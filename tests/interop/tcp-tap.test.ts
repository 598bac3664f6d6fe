/**
 * TCP against the Linux kernel over a TAP (the lab of `_lab.ts`: our stack in this process, 10.99.0.2; the kernel in
 * a namespace of ours, 10.99.0.1), with the kernel's own tools as the clients and servers:
 * - `curl` fetches 20 MB from our HTTP server (`examples/_http.ts`) byte-exact (length and SHA-256 against our
 *   generator), and two URLs in one curl invocation share one connection (keep-alive);
 * - our HTTP client fetches a 20 MB file from `python3 -m http.server` in the kernel namespace byte-exact;
 * - `iperf3 -c 10.99.0.2 -t 3 -J`, and with `-R`, completes against our iperf3 server (`examples/_iperf3.ts`):
 *   JSON parsed, no `error`, non-zero throughput both ways, `end.sum_sent.retransmits` reported.
 * Every test ends with {@link assertClean}: tshark finds no bad checksum and no malformed frame, and the kernel's
 * error counters stay zero.
 *
 * @module
 */
import { after, describe, it } from "node:test"
import assert from "node:assert/strict"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { bodySha256, ByteReader, httpGet, httpHandler, httpServerStats } from "../../examples/_http.ts"
import { iperf3Server } from "../../examples/_iperf3.ts"
import { assertClean, KERNEL, kernelAddr, OURS, withTapLab } from "./_lab.ts"
import { checkIperf3, curlDownload, curlTwoUrls, KEEP_ALIVE_REUSED, mbps, writeBodyFile } from "./_tcp.ts"
import {
  announceSkip,
  cleanupAll,
  type LineChild,
  needs,
  removeTempDir,
  RUNTIME,
  SAMPLE_TCP_PORT,
  spawnLines,
  tempDir,
} from "./_netns.ts"

const SKIP = needs({ tools: ["tshark", "ping", "nstat", "python3", "curl", "iperf3", "sha256sum"], tap: true })
announceSkip("tcp-tap.test.ts", SKIP)
after(cleanupAll)

const SIZE = 20_000_000

describe("TCP over TAP against the kernel's curl, python3 http.server and iperf3", () => {
  it("curl fetches 20 MB byte-exact from our HTTP server; two URLs reuse one connection", {
    skip: SKIP,
    timeout: 90_000,
  }, async () => {
    const dir = tempDir()
    try {
      const stats = httpServerStats()
      const { result, report } = await withTapLab((lab) =>
        Effect.gen(function* () {
          yield* lab.stack.tcp.serve(80, httpHandler(stats))
          const file = join(dir, "body.bin")
          const get = yield* Effect.promise(() => lab.ns.exec(curlDownload(OURS, SIZE, file), { timeoutMs: 70_000 }))
          const sum = yield* Effect.promise(() => lab.ns.exec(["sha256sum", file]))
          const afterBig = { ...stats }
          const two = yield* Effect.promise(() => lab.ns.exec(curlTwoUrls(OURS), { timeoutMs: 30_000 }))
          return { get, sum, afterBig, two }
        })
      )
      assert.equal(result.get.code, 0, result.get.stderr)
      assert.equal(result.get.stdout, `200 ${SIZE}`)
      assert.equal(result.sum.stdout.split(" ")[0], bodySha256(SIZE), "curl's body hashes like our generator's")
      assert.deepEqual(result.afterBig, { connections: 1, requests: 1, bodyBytes: SIZE, timeouts: 0 })
      assert.equal(result.two.code, 0, result.two.stderr)
      assert.deepEqual(result.two.stdout.trim().split("\n"), KEEP_ALIVE_REUSED, "second URL reused")
      assert.equal(stats.connections, 2, "the two URLs came on one connection")
      assert.equal(stats.requests, 3)
      assertClean(report)
    } finally {
      removeTempDir(dir)
    }
  })

  it("our HTTP client fetches 20 MB byte-exact from python3 -m http.server", {
    skip: SKIP,
    timeout: 90_000,
  }, async () => {
    const dir = tempDir()
    let server: LineChild | undefined
    try {
      await writeBodyFile(join(dir, "body.bin"), SIZE)
      const { result, report } = await withTapLab((lab) =>
        Effect.gen(function* () {
          // Started only now: http.server cannot bind 10.99.0.1 before the address exists.
          server = spawnLines("ip", [
            "netns",
            "exec",
            lab.ns.name,
            "python3",
            "-u",
            "-m",
            "http.server",
            "8080",
            "--bind",
            KERNEL,
            "--directory",
            dir,
          ])
          yield* Effect.promise(() => server!.line("Serving HTTP", 15_000))
          const conn = yield* lab.stack.tcp.connect(kernelAddr, 8080)
          const response = yield* httpGet(new ByteReader(conn), KERNEL, "/body.bin", { close: true })
          return response
        })
      )
      assert.equal(result.status, 200)
      assert.equal(result.headers.get("content-length"), String(SIZE))
      assert.equal(result.length, SIZE)
      assert.equal(result.sha256, bodySha256(SIZE))
      assertClean(report)
    } finally {
      server?.kill()
      removeTempDir(dir)
    }
  })

  it("iperf3 -c and -c -R complete against our iperf3 server, JSON parsed", {
    skip: SKIP,
    timeout: 90_000,
  }, async () => {
    const { result, report } = await withTapLab((lab) =>
      Effect.gen(function* () {
        const tests: Array<{ reverse: boolean; bytes: number }> = []
        yield* iperf3Server(lab.stack.tcp, {
          onTest: (r) => Effect.sync(() => void tests.push({ reverse: r.reverse, bytes: r.bytes })),
        })
        const run = (extra: ReadonlyArray<string>) =>
          Effect.promise(() => lab.ns.exec(["iperf3", "-c", OURS, "-t", "3", "-J", ...extra], { timeoutMs: 30_000 }))
        const forward = yield* run([])
        const reverse = yield* run(["-R"])
        return { forward, reverse, tests }
      }), { captureFilter: SAMPLE_TCP_PORT(5201) })
    const fwd = checkIperf3(result.forward.stdout, result.forward.stderr)
    const rev = checkIperf3(result.reverse.stdout, result.reverse.stderr)
    assert.deepEqual(result.tests.map((t) => t.reverse), [false, true])
    assertClean(report)
    console.log(
      `[tcp-tap ${RUNTIME}] iperf3 kernel→stack ${mbps(fwd.receivedBps)} (${fwd.retransmits} retr), ` +
        `stack→kernel ${mbps(rev.receivedBps)} (${rev.retransmits} retr)`,
    )
  })
})
