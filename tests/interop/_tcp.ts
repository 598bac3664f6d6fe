/**
 * Helpers of the TCP interop tests: the HTTP example's body as a file, the curl runs against our HTTP server, and the
 * checks of an `iperf3 -J` run.
 *
 * @module
 */
import assert from "node:assert/strict"
import { createWriteStream } from "node:fs"
import { fillBody } from "../../examples/_http.ts"

/** Writes the first `n` bytes of the HTTP example's deterministic body to `file`. */
export const writeBodyFile = (file: string, n: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const out = createWriteStream(file)
    out.on("error", reject)
    let off = 0
    const next = () => {
      while (off < n) {
        const part = new Uint8Array(Math.min(1 << 20, n - off))
        fillBody(off, part)
        off += part.length
        if (!out.write(part)) return void out.once("drain", next)
      }
      out.end(() => resolve())
    }
    next()
  })

/** curl downloading `http://host/bytes/size` into `file`; it prints `<status> <bytes downloaded>`. */
export const curlDownload = (host: string, size: number, file: string): Array<string> => [
  "curl",
  "-sS",
  "--max-time",
  "60",
  "-o",
  file,
  "-w",
  "%{http_code} %{size_download}",
  `http://${host}/bytes/${size}`,
]

/**
 * One curl run fetching `/` then `/bytes/100000` from `host`; it prints `<status> <new connections> <bytes>` per URL,
 * so {@link KEEP_ALIVE_REUSED} is what a server that keeps the connection alive produces.
 */
export const curlTwoUrls = (host: string): Array<string> => [
  "curl",
  "-sS",
  "--max-time",
  "20",
  "-w",
  "%{http_code} %{num_connects} %{size_download}\\n",
  "-o",
  "/dev/null",
  "-o",
  "/dev/null",
  `http://${host}/`,
  `http://${host}/bytes/100000`,
]

/** The lines {@link curlTwoUrls} prints when the second URL reuses the first one's connection. */
export const KEEP_ALIVE_REUSED: ReadonlyArray<string> = ["200 1 44", "200 0 100000"]

/** The summary of one `iperf3 -J` run. */
export interface Iperf3Summary {
  /** end.sum_sent.bits_per_second */
  readonly sentBps: number
  /** end.sum_received.bits_per_second */
  readonly receivedBps: number
  /** end.sum_sent.retransmits */
  readonly retransmits: number
}

/** Parses `iperf3 -J` output and checks what every run must show. */
export const checkIperf3 = (stdout: string, stderr: string): Iperf3Summary => {
  let j: { error?: string; end?: { sum_sent?: Record<string, number>; sum_received?: Record<string, number> } }
  try {
    j = JSON.parse(stdout)
  } catch {
    throw new Error(`iperf3 printed no JSON: ${stdout.slice(0, 500)} ${stderr}`)
  }
  assert.equal(j.error, undefined, `iperf3 error: ${j.error}`)
  const sent = j.end?.sum_sent
  const received = j.end?.sum_received
  assert.ok(sent !== undefined && received !== undefined, "end.sum_sent and end.sum_received")
  assert.ok(sent.bits_per_second > 0 && sent.bytes > 0, "non-zero throughput sent")
  assert.ok(received.bits_per_second > 0 && received.bytes > 0, "non-zero throughput received")
  assert.equal(typeof sent.retransmits, "number", "end.sum_sent.retransmits reported")
  return { sentBps: sent.bits_per_second, receivedBps: received.bits_per_second, retransmits: sent.retransmits }
}

/** Bits per second as whole Mbit/s. */
export const mbps = (bps: number): string => `${(bps / 1e6).toFixed(0)} Mbit/s`
