/**
 * The throughput benchmark of issue 6: one command per runtime runs, one after another and each in its own child
 * process of the same runtime (own heap, own peak RSS):
 *
 * - `vnetif mtu1500`: two vnetif stacks on one Switch, 1 GiB one way in 64 KiB writes, every checksum computed and
 *   verified;
 * - `vnetif mtu65535`: the same at MTU 65535 with checksum offload (the switch cannot corrupt a frame);
 * - `vnetif MTU 1500 with Capture to a discarding sink` (`capture`): the `mtu1500` run with a pcap `Capture` over
 *   the Switch whose sink discards the bytes (`Sink.drain`): every frame is copied into a pcap record and handed to
 *   the capture's writer fiber, so the difference to `mtu1500` is the cost of observing a link (the run prints how
 *   many frames were recorded, and how many were not because the capture's buffer was full);
 * - `vnetif 1000 flows`: 1000 concurrent connections between the two stacks (MTU 1500, checksums on), 1 GiB in all,
 *   aggregate throughput;
 * - `vnetif idle`: 10 000 idle established connections between the two stacks: the RSS they add (MiB), for both
 *   ends together (20 000 TCBs: each stack holds 10 000 connections);
 * - `kernel node:net`: the kernel's TCP over 127.0.0.1 through `node:net`, same sizes;
 * - `kernel native`: the kernel's TCP over 127.0.0.1 through `Bun.listen/connect` or `Deno.listen/connect`.
 *
 * and prints one table: Gbit/s (median of `--runs`, default 3), CPU seconds (user + sys, `process.cpuUsage()` in the
 * child), peak RSS, and the ratio to the kernel's `node:net` figure of the same run.
 *
 * Run: `npx bun bench/iperf.ts` or `npx deno run -A bench/iperf.ts`.
 *
 * Options: `--runs N` (default 3), `--bytes N` (default 1G; K/M/G suffixes), `--flows N` (default 1000), `--quick`
 * (CI smoke run: 32 MiB, 1 run, 100 flows, 1000 idle connections; asserts nothing about speed), `--idle N`, `--json` (one JSON document), `--only a,b`
 * (a subset of the case ids: `mtu1500`, `capture`, `mtu65535`, `flows`, `idle`, `nodenet`, `native`).
 *
 * The vnetif children check that the receiver got exactly the bytes sent (length and a hash); a failed child fails
 * the command. Traffic of the kernel cases goes to 127.0.0.1 only.
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import { spawnSync } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Sink from "effect/Sink"
import { Backend, type BackendShape } from "../src/link/Backend.ts"
import { Capture } from "../src/link/middleware/Capture.ts"
import { Switch } from "../src/link/Switch.ts"
import { Stack } from "../src/Stack.ts"
import type { TcpConnection } from "../src/tcp/Tcp.ts"

// ------------------------------------------------------------------------------------------------ options

const argv: ReadonlyArray<string> = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined
}
const flag = (name: string): boolean => argv.includes(`--${name}`)
const sizeOf = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?$/.exec(s.trim())
  if (m === null) throw new Error(`not a size: ${s}`)
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"]
  return Math.round(Number(m[1]) * mult)
}

const quick: boolean = flag("quick")
const runs: number = Number(opt("runs") ?? (quick ? 1 : 3))
const totalBytes: number = sizeOf(opt("bytes") ?? (quick ? "32M" : "1G"))
const flows: number = Number(opt("flows") ?? (quick ? 100 : 1000))
const writeSize: number = 64 * 1024
const json: boolean = flag("json")
const idleConnections: number = Number(opt("idle") ?? (quick ? 1000 : 10_000))

const denoGlobal = (globalThis as {
  readonly Deno?: {
    readonly version: { readonly deno: string }
    readonly execPath: () => string
    readonly listen: (o: { hostname: string; port: number }) => DenoListener
    readonly connect: (o: { hostname: string; port: number }) => Promise<DenoConn>
  }
}).Deno
interface DenoConn {
  read(p: Uint8Array): Promise<number | null>
  write(p: Uint8Array): Promise<number>
  closeWrite(): Promise<void>
  close(): void
}
interface DenoListener {
  readonly addr: { readonly port: number }
  accept(): Promise<DenoConn>
  close(): void
}
const bunGlobal = (globalThis as { readonly Bun?: BunApi }).Bun
interface BunSocket {
  write(data: Uint8Array): number
  end(): void
  flush?(): void
}
interface BunApi {
  readonly version: string
  listen(o: {
    hostname: string
    port: number
    socket: { data(s: BunSocket, d: Uint8Array): void; close?(s: BunSocket): void; open?(s: BunSocket): void }
  }): { readonly port: number; stop(closeActive?: boolean): void }
  connect(o: {
    hostname: string
    port: number
    socket: { open(s: BunSocket): void; drain(s: BunSocket): void; data?(s: BunSocket, d: Uint8Array): void }
  }): Promise<BunSocket>
}
const runtimeName: string = denoGlobal !== undefined
  ? `deno ${denoGlobal.version.deno}`
  : `bun ${bunGlobal?.version ?? "?"}`

// ------------------------------------------------------------------------------------------------ data

const POOL = 3 * 1024 * 1024 + 4096
const pool = new Uint8Array(POOL + writeSize + 4)
{
  const w = new Uint32Array(pool.buffer, 0, pool.length >>> 2)
  let x = 0x2545f491
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    w[i] = x
  }
  pool.copyWithin(POOL, 0, writeSize + 4)
}

/** Cheap order-sensitive hash (per byte of every 64th byte plus the length): catches lost, duplicated or moved data. */
class Hasher {
  h = 0x811c9dc5
  pos = 0
  update(b: Uint8Array): void {
    let h = this.h
    // sample bytes at stream positions ≡ 0 (mod 61): a prime stride, so segment boundaries do not alias
    let i = (61 - (this.pos % 61)) % 61
    for (; i < b.length; i += 61) h = Math.imul(h ^ b[i], 0x01000193)
    this.h = h
    this.pos += b.length
  }
  digest(): number {
    return (this.h ^ this.pos) >>> 0
  }
}

// ------------------------------------------------------------------------------------------------ child side

/** What a child reports (one JSON line on stdout). */
interface ChildResult {
  readonly bytes: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  readonly ok: boolean
  readonly note?: string
}

let peakRss = 0
const sampleRss = (): void => {
  const r = process.memoryUsage().rss
  if (r > peakRss) peakRss = r
}
const maxRss = (): number => {
  sampleRss()
  try {
    const ru = (process as unknown as { resourceUsage?: () => { maxRSS: number } }).resourceUsage?.()
    // the kernel's peak (getrusage ru_maxrss, KiB): no sampling needed, and no cost during the run
    if (ru !== undefined && ru.maxRSS * 1024 > peakRss) return ru.maxRSS * 1024
  } catch {
    // not available: the sampled figure stands
  }
  return peakRss
}

const link = Switch.layer()

/** One vnetif transfer: `nflows` connections share `bytes`; `captured`: through a pcap capture to a discarding sink. */
const vnetif = (
  mtu: number,
  checksum: "all" | "offload",
  nflows: number,
  bytes: number,
  captured: boolean = false,
): Promise<ChildResult> => {
  const program = Effect.scoped(Effect.gen(function* () {
    const sw = yield* Switch.make()
    const capture = captured ? yield* Capture.wrap(sw, Sink.drain) : undefined
    const backend: BackendShape = capture ?? sw
    const tcp = { backlog: Math.max(128, nflows + 16) }
    const client = yield* Stack.make({ cidr: "10.0.0.1/24", mtu, checksum, tcp }).pipe(
      Effect.provideService(Backend, backend),
    )
    const server = yield* Stack.make({ cidr: "10.0.0.2/24", mtu, checksum, tcp }).pipe(
      Effect.provideService(Backend, backend),
    )
    const listener = yield* server.tcp.listen(5201)
    const perFlow = Math.floor(bytes / nflows)
    let received = 0
    const recvHashes: Array<number> = []
    const readAll = (conn: TcpConnection) =>
      Effect.gen(function* () {
        const h = new Hasher()
        const buf = new Uint8Array(writeSize) // the application's read buffer, once per connection
        while (true) {
          const n = yield* conn.readInto(buf)
          if (n === 0) break
          h.update(buf.subarray(0, n))
          received += n
        }
        recvHashes.push(h.digest())
        yield* conn.close
      })
    const acceptor = yield* Effect.forkChild(Effect.gen(function* () {
      const readers: Array<Fiber.Fiber<void, unknown>> = []
      for (let i = 0; i < nflows; i++) readers.push(yield* Effect.forkChild(readAll(yield* listener.accept)))
      yield* Fiber.joinAll(readers)
    }))
    const conns: Array<TcpConnection> = []
    for (let i = 0; i < nflows; i++) conns.push(yield* client.tcp.connect(server.address, 5201))
    const sendHashes: Array<number> = []
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const writers = yield* Effect.forEach(
      conns,
      (conn, k) =>
        Effect.forkChild(Effect.gen(function* () {
          const h = new Hasher()
          let sent = 0
          let off = (k * 7919) % POOL
          while (sent < perFlow) {
            const n = Math.min(writeSize, perFlow - sent)
            const chunk = pool.subarray(off, off + n)
            h.update(chunk)
            yield* conn.write(chunk)
            sent += n
            off = (off + n) % POOL
          }
          sendHashes.push(h.digest())
          yield* conn.closeWrite
        })),
    )
    yield* Fiber.joinAll(writers)
    yield* Fiber.join(acceptor)
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    for (const c of conns) yield* c.close
    const sortNum = (a: number, b: number) => a - b
    const ok = received === perFlow * nflows &&
      JSON.stringify(sendHashes.sort(sortNum)) === JSON.stringify(recvHashes.sort(sortNum))
    let note: string | undefined
    if (capture !== undefined) {
      const c = yield* capture.capture.stats
      note = `captured ${c.frames} frames (${(c.bytes / 1024 ** 2).toFixed(0)} MiB), ${c.dropped} not recorded`
    }
    return {
      bytes: received,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: 0,
      ok,
      ...(note === undefined ? {} : { note }),
    }
  }))
  return Effect.runPromise(program)
}

/** A full garbage collection: `Bun.gc(true)` on Bun, `gc()` on Deno (children run with `--expose-gc`). */
const fullGc = (): void => {
  const g = globalThis as { readonly Bun?: { gc(force: boolean): void }; readonly gc?: () => void }
  if (g.Bun !== undefined) g.Bun.gc(true)
  else g.gc?.()
}

/** `n` idle established connections between two stacks: what they cost in RSS (the `bytes` field carries it). */
const idle = (n: number): Promise<ChildResult> => {
  const program = Effect.scoped(Effect.gen(function* () {
    const tcp = { backlog: Math.min(65535, n + 16) }
    const client = yield* Stack.make({ cidr: "10.0.0.1/24", mtu: 1500, checksum: "all", tcp })
    const server = yield* Stack.make({ cidr: "10.0.0.2/24", mtu: 1500, checksum: "all", tcp })
    const listener = yield* server.tcp.listen(5201)
    const accepted: Array<TcpConnection> = []
    const acceptor = yield* Effect.forkChild(Effect.gen(function* () {
      for (let i = 0; i < n; i++) accepted.push(yield* listener.accept)
    })) // settle the heap before the baseline
    fullGc()
    const rss0 = process.memoryUsage().rss
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const conns: Array<TcpConnection> = []
    for (let i = 0; i < n; i++) conns.push(yield* client.tcp.connect(server.address, 5201))
    yield* Fiber.join(acceptor)
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    fullGc()
    const rss1 = process.memoryUsage().rss
    const ok = conns.length === n && accepted.length === n
    return { bytes: Math.max(0, rss1 - rss0), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssBytes: 0, ok }
  })).pipe(Effect.provide(Layer.fresh(link)))
  return Effect.runPromise(program)
}

/** The kernel's TCP over 127.0.0.1 through node:net. */
const nodeNet = (bytes: number): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    let received = 0
    let cpu0 = process.cpuUsage()
    let t0 = 0
    const rh = new Hasher()
    const sh = new Hasher()
    const server = net.createServer((sock) => {
      sock.on("data", (d: Uint8Array) => {
        rh.update(d)
        received += d.length
      })
      sock.on("end", () => {
        const seconds = (performance.now() - t0) / 1000
        const cpu = process.cpuUsage(cpu0)
        server.close()
        resolve({
          bytes: received,
          seconds,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
          peakRssBytes: 0,
          ok: received === bytes && rh.digest() === sh.digest(),
        })
      })
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      const sock = net.connect({ host: "127.0.0.1", port }, () => {
        cpu0 = process.cpuUsage()
        t0 = performance.now()
        let sent = 0
        const pump = (): void => {
          while (sent < bytes) {
            const off = sent % POOL
            const n = Math.min(writeSize, bytes - sent)
            const chunk = pool.subarray(off, off + n)
            sh.update(chunk)
            sent += n
            if (!sock.write(chunk)) {
              sock.once("drain", pump)
              return
            }
          }
          sock.end()
        }
        pump()
      })
      sock.on("error", reject)
    })
  })

/** The kernel's TCP over 127.0.0.1 through Bun.listen/connect. */
const bunNative = async (bun: BunApi, bytes: number): Promise<ChildResult> => {
  let received = 0
  const rh = new Hasher()
  const sh = new Hasher()
  let done: (r: ChildResult) => void = () => {}
  const result = new Promise<ChildResult>((r) => (done = r))
  let cpu0 = process.cpuUsage()
  let t0 = 0
  const finish = (): void => {
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    done({
      bytes: received,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: 0,
      ok: received === bytes && rh.digest() === sh.digest(),
    })
  }
  const server = bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, d) {
        rh.update(d)
        received += d.length
        if (received >= bytes) finish()
      },
    },
  })
  let sent = 0
  let pending: Uint8Array | undefined
  const pump = (s: BunSocket): void => {
    while (true) {
      if (pending === undefined) {
        if (sent >= bytes) return
        const off = sent % POOL
        const n = Math.min(writeSize, bytes - sent)
        pending = pool.subarray(off, off + n)
        sh.update(pending)
        sent += n
      }
      const w = s.write(pending)
      if (w < pending.length) {
        pending = pending.subarray(Math.max(0, w))
        return
      }
      pending = undefined
    }
  }
  await bun.connect({
    hostname: "127.0.0.1",
    port: server.port,
    socket: {
      open(s) {
        cpu0 = process.cpuUsage()
        t0 = performance.now()
        pump(s)
      },
      drain(s) {
        pump(s)
      },
    },
  })
  const r = await result
  server.stop(true)
  return r
}

/** The kernel's TCP over 127.0.0.1 through Deno.listen/connect. */
const denoNative = async (deno: NonNullable<typeof denoGlobal>, bytes: number): Promise<ChildResult> => {
  const listener = deno.listen({ hostname: "127.0.0.1", port: 0 })
  const rh = new Hasher()
  const sh = new Hasher()
  const accepted = listener.accept()
  const client = await deno.connect({ hostname: "127.0.0.1", port: listener.addr.port })
  const server = await accepted
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const reader = (async () => {
    const buf = new Uint8Array(256 * 1024)
    let received = 0
    while (true) {
      const n = await server.read(buf)
      if (n === null) break
      rh.update(buf.subarray(0, n))
      received += n
    }
    return received
  })()
  let sent = 0
  while (sent < bytes) {
    const off = sent % POOL
    const n = Math.min(writeSize, bytes - sent)
    let chunk = pool.subarray(off, off + n)
    sh.update(chunk)
    sent += n
    while (chunk.length > 0) chunk = chunk.subarray(await client.write(chunk))
  }
  await client.closeWrite()
  const received = await reader
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  client.close()
  server.close()
  listener.close()
  return {
    bytes: received,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: 0,
    ok: received === bytes && rh.digest() === sh.digest(),
  }
}

const runChild = async (id: string): Promise<void> => {
  sampleRss()
  let r: ChildResult
  switch (id) {
    case "mtu1500":
      r = await vnetif(1500, "all", 1, totalBytes)
      break
    case "capture":
      r = await vnetif(1500, "all", 1, totalBytes, true)
      break
    case "mtu65535":
      r = await vnetif(65535, "offload", 1, totalBytes)
      break
    case "flows":
      r = await vnetif(1500, "all", flows, totalBytes)
      break
    case "idle":
      r = await idle(idleConnections)
      break
    case "nodenet":
      r = await nodeNet(totalBytes)
      break
    case "native":
      r = denoGlobal !== undefined
        ? await denoNative(denoGlobal, totalBytes)
        : bunGlobal !== undefined
        ? await bunNative(bunGlobal, totalBytes)
        : { bytes: 0, seconds: 0, cpuSeconds: 0, peakRssBytes: 0, ok: false, note: "no native sockets" }
      break
    default:
      throw new Error(`unknown case ${id}`)
  }
  console.log(JSON.stringify({ ...r, peakRssBytes: maxRss() }))
  process.exit(r.ok ? 0 : 1)
}

// ------------------------------------------------------------------------------------------------ parent side

interface Case {
  readonly id: string
  readonly label: string
}
const cases: ReadonlyArray<Case> = [
  { id: "mtu1500", label: "vnetif MTU 1500, checksums" },
  { id: "capture", label: "vnetif MTU 1500 with Capture to a discarding sink" },
  { id: "mtu65535", label: "vnetif MTU 65535, offload" },
  { id: "flows", label: `vnetif ${flows} flows, MTU 1500` },
  { id: "idle", label: `vnetif ${idleConnections} idle connections, both ends` },
  { id: "nodenet", label: "kernel node:net 127.0.0.1" },
  { id: "native", label: `kernel ${denoGlobal !== undefined ? "Deno" : "Bun"}.listen/connect` },
]

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

const runParent = (): void => {
  const self = fileURLToPath(import.meta.url)
  const only = opt("only")?.split(",")
  const selected = cases.filter((c) => only === undefined || only.includes(c.id))
  const passArgs = ["--bytes", String(totalBytes), "--flows", String(flows), "--idle", String(idleConnections)]
  const rows: Array<
    Case & {
      gbps: number
      gbpsAll: Array<number>
      cpuSeconds: number
      peakRssBytes: number
      ok: boolean
    }
  > = []
  let failed = false
  for (const c of selected) {
    const results: Array<ChildResult> = []
    for (let i = 0; i < runs; i++) {
      const [cmd, cmdArgs] = denoGlobal !== undefined
        ? [denoGlobal.execPath(), ["run", "-A", "--v8-flags=--expose-gc", self, "--child", c.id, ...passArgs]]
        : [process.execPath, [self, "--child", c.id, ...passArgs]]
      const p = spawnSync(cmd, cmdArgs, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024, timeout: 600_000 })
      const line = (p.stdout ?? "").trim().split("\n").pop() ?? ""
      let r: ChildResult
      try {
        r = JSON.parse(line) as ChildResult
      } catch {
        r = { bytes: 0, seconds: 0, cpuSeconds: 0, peakRssBytes: 0, ok: false }
      }
      if (p.status !== 0 || !r.ok) {
        failed = true
        console.error(`bench/iperf: ${c.id} run ${i + 1} FAILED (exit ${p.status})\n${p.stderr ?? ""}`)
      }
      results.push(r)
      if (!json) {
        const g = r.seconds > 0 ? (r.bytes * 8) / r.seconds / 1e9 : 0
        console.error(
          c.id === "idle"
            ? `  ${c.id} run ${i + 1}/${runs}: +${(r.bytes / 1024 ** 2).toFixed(1)} MiB RSS`
            : `  ${c.id} run ${i + 1}/${runs}: ${g.toFixed(2)} Gbit/s${r.note === undefined ? "" : ` (${r.note})`}`,
        )
      }
    }
    const isIdle = c.id === "idle"
    // the idle case reports memory (RSS growth in `bytes`), not a rate: its "runs" are MiB
    const gbpsAll = results.map((r) =>
      isIdle ? r.bytes / 1024 ** 2 : r.seconds > 0 ? (r.bytes * 8) / r.seconds / 1e9 : 0
    )
    const gbps = median(gbpsAll)
    // CPU and RSS of the median run
    const mid = results[gbpsAll.indexOf(gbps)] ?? results[0]
    rows.push({
      ...c,
      gbps,
      gbpsAll,
      cpuSeconds: mid.cpuSeconds,
      peakRssBytes: Math.max(...results.map((r) => r.peakRssBytes)),
      ok: results.every((r) => r.ok),
    })
  }
  const kernel = rows.find((r) => r.id === "nodenet")?.gbps
  if (json) {
    console.log(JSON.stringify(
      {
        runtime: runtimeName,
        bytes: totalBytes,
        writeSize,
        flows,
        runs,
        rows: rows.map((r) => ({
          id: r.id,
          label: r.label,
          gbps: r.gbps,
          gbpsRuns: r.gbpsAll,
          cpuSeconds: r.cpuSeconds,
          peakRssBytes: r.peakRssBytes,
          ratioToNodeNet: kernel && r.id !== "idle" ? r.gbps / kernel : null,
          ...(r.id === "idle" ? { idleConnections, rssGrowthMiB: r.gbps } : {}),
          ok: r.ok,
        })),
      },
      null,
      2,
    ))
  } else {
    const mib = (totalBytes / 1024 ** 2).toFixed(0)
    console.log(`${runtimeName}: ${mib} MiB one way, 64 KiB writes, median of ${runs}`)
    console.log(
      `| case | Gbit/s | runs | CPU s | peak RSS | ours / node:net |\n|---|---:|---|---:|---:|---:|`,
    )
    for (const r of rows) {
      const fail = r.ok ? "" : " FAILED"
      const rss = `${(r.peakRssBytes / 1024 ** 2).toFixed(0)} MiB`
      if (r.id === "idle") {
        const runsText = r.gbpsAll.map((g) => `+${g.toFixed(1)}`).join(" ")
        console.log(
          `| ${r.label} (RSS growth, MiB) | – | ${runsText} | ${r.cpuSeconds.toFixed(2)} | ${rss} | – |${fail}`,
        )
        continue
      }
      const ratio = kernel ? `${(r.gbps / kernel).toFixed(2)}×` : "–"
      const runsText = r.gbpsAll.map((g) => g.toFixed(2)).join(" ")
      console.log(
        `| ${r.label} | ${r.gbps.toFixed(2)} | ${runsText} | ${r.cpuSeconds.toFixed(2)} | ${rss} | ${ratio} |${fail}`,
      )
    }
  }
  process.exit(failed ? 1 : 0)
}

const child = opt("child")
if (child !== undefined) await runChild(child)
else runParent()
