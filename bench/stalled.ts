/**
 * Stalled downloads (issue 15): N clients connect to a server on another stack, ask for a download and never read.
 * The script waits until the transfer stops moving, then prints what the two stacks' TCP buffers hold (the stack's
 * `memoryBytes` where the stack has a memory budget, else the sum of its connections' `bufferBytes`), the process
 * RSS growth, and the server's memory counters; then the clients read everything (checked: length and a hash per
 * download) and it prints how long that took.
 *
 * Run: `npx bun bench/stalled.ts` or `npx deno run -A --v8-flags=--expose-gc bench/stalled.ts`.
 *
 * Options: `--n N` downloads (default 2000), `--size S` bytes each (default 1M; K/M/G suffixes), `--window W` the
 * clients' receive buffer (default: the stack's default; a small one leaves the data on the server), `--limit L` the
 * server's `memoryLimit` (default: the stack's default; a tree without the option ignores it), `--json`.
 *
 * The same script runs on a tree without the memory budget (it reads only counters that exist there), so "before"
 * and "after" figures come from one command. It sends traffic only between two in-process stacks on a Switch.
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Switch } from "../src/link/Switch.ts"
import { Stack, type StackHandle } from "../src/Stack.ts"
import type { TcpConnection } from "../src/tcp/Tcp.ts"

const argv: ReadonlyArray<string> = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined
}
const sizeOf = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?$/.exec(s.trim())
  if (m === null) throw new Error(`not a size: ${s}`)
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"]
  return Math.round(Number(m[1]) * mult)
}

const n: number = Number(opt("n") ?? 2000)
const size: number = sizeOf(opt("size") ?? "1M")
const window: number | undefined = opt("window") === undefined ? undefined : sizeOf(opt("window") as string)
const limit: number | undefined = opt("limit") === undefined ? undefined : sizeOf(opt("limit") as string)
const json: boolean = argv.includes("--json")

const denoGlobal = (globalThis as { readonly Deno?: { readonly version: { readonly deno: string } } }).Deno
const bunGlobal = (globalThis as { readonly Bun?: { readonly version: string; gc(force: boolean): void } }).Bun
const runtime: string = denoGlobal !== undefined ? `deno ${denoGlobal.version.deno}` : `bun ${bunGlobal?.version}`

const fullGc = (): void => {
  if (bunGlobal !== undefined) bunGlobal.gc(true)
  else (globalThis as { readonly gc?: () => void }).gc?.()
}

const MiB = 1024 * 1024
const mib = (b: number): string => (b / MiB).toFixed(1)

const CHUNK = 16 * 1024

/** Bytes `off … off+len-1` of download `i` (every 4th byte is `(i + off/4) & 0xff`, the others 0): made per write. */
const chunk = (i: number, off: number, len: number): Uint8Array => {
  const b = new Uint8Array(len)
  for (let k = 0; k < len; k += 4) b[k] = (i + ((off + k) >>> 2)) & 0xff
  return b
}

/** TCP buffer memory of a stack: its budget's gauge if it has one, else the sum over `conns`. */
const tcpMemory = (stack: StackHandle, conns: ReadonlyArray<TcpConnection>) =>
  Effect.gen(function* () {
    const s = (yield* stack.tcp.stats) as unknown as Record<string, number | boolean>
    if (typeof s.memoryBytes === "number") return s.memoryBytes
    let sum = 0
    for (const c of conns) sum += (yield* c.stats).bufferBytes
    return sum
  })

const program = Effect.scoped(Effect.gen(function* () {
  // a long close timeout: a download that completes waits for its FIN to be acknowledged while its client stalls
  const serverTcp: Record<string, number> = { backlog: Math.min(65535, n + 16), closeTimeout: 600_000 }
  if (limit !== undefined) serverTcp.memoryLimit = limit
  const clientTcp: Record<string, number> = {}
  if (window !== undefined) clientTcp.receiveBufferSize = window
  const server = yield* Stack.make({ cidr: "10.0.0.1/24", tcp: serverTcp })
  const client = yield* Stack.make({ cidr: "10.0.0.2/24", tcp: clientTcp })
  const served: Array<TcpConnection> = []
  let done = 0
  yield* server.tcp.serve(80, (conn) =>
    Effect.gen(function* () {
      served.push(conn)
      const head = yield* conn.read
      if (head === undefined || head.length < 4) return
      const i = head[0] | (head[1] << 8) | (head[2] << 16) | (head[3] << 24)
      for (let off = 0; off < size; off += CHUNK) yield* conn.write(chunk(i, off, Math.min(CHUNK, size - off)))
      done++
      yield* conn.closeWrite
    }))
  fullGc()
  const rss0 = process.memoryUsage().rss
  const t0 = performance.now()
  const conns: Array<TcpConnection> = []
  for (let i = 0; i < n; i++) {
    const conn = yield* client.tcp.connect(server.address, 80)
    yield* conn.write(Uint8Array.of(i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, i >>> 24))
    conns.push(conn)
  }
  // wait until no data moves for half a second (at most 60 s; zero-window probes do not count)
  let last = -1
  let still = 0
  while (still < 5 && performance.now() - t0 < 60_000) {
    yield* Effect.sleep("100 millis")
    let moved = 0
    for (const c of conns) moved += (yield* c.stats).bytesIn
    still = moved === last ? still + 1 : 0
    last = moved
  }
  const stallSeconds = (performance.now() - t0) / 1000
  fullGc()
  const rss1 = process.memoryUsage().rss
  const serverMemory = yield* tcpMemory(server, served)
  const clientMemory = yield* tcpMemory(client, conns)
  const stats = (yield* server.tcp.stats) as unknown as Record<string, number | boolean>
  const stalledDone = done
  // now the clients read
  const t1 = performance.now()
  const got = yield* Effect.forEach(conns, (conn, i) =>
    Effect.gen(function* () {
      let len = 0
      let bad = 0
      while (true) {
        const d = yield* conn.read
        if (d === undefined) break
        for (let k = 0; k < d.length; k++) {
          const off = len + k
          if (d[k] !== ((off & 3) === 0 ? (i + (off >>> 2)) & 0xff : 0)) bad++
        }
        len += d.length
      }
      return len === size && bad === 0
    }), { concurrency: "unbounded" })
  const drainSeconds = (performance.now() - t1) / 1000
  const ok = got.every((x) => x) && done === n
  const result = {
    runtime,
    downloads: n,
    size,
    clientWindow: window ?? "default",
    serverLimit: limit ?? (typeof stats.memoryBytes === "number" ? "default" : "none"),
    stallSeconds,
    writersDoneWhileStalled: stalledDone,
    serverTcpMiB: Number(mib(serverMemory)),
    clientTcpMiB: Number(mib(clientMemory)),
    rssGrowthMiB: Number(mib(rss1 - rss0)),
    serverCounters: typeof stats.memoryBytes === "number"
      ? {
        memoryPeakMiB: Number(mib(stats.memoryPeak as number)),
        memoryPressureEvents: stats.memoryPressureEvents,
        memoryWaits: stats.memoryWaits,
        memoryDropped: stats.memoryDropped,
        outOfOrderDropped: stats.outOfOrderDropped,
      }
      : undefined,
    drainSeconds,
    ok,
  }
  if (json) console.log(JSON.stringify(result))
  else {
    console.log(`${runtime}: ${n} stalled downloads of ${mib(size)} MiB (client window ${result.clientWindow})`)
    console.log(`  stalled after ${stallSeconds.toFixed(1)} s, ${stalledDone} downloads complete`)
    console.log(`  server TCP buffers ${mib(serverMemory)} MiB, client TCP buffers ${mib(clientMemory)} MiB`)
    console.log(`  process RSS +${mib(rss1 - rss0)} MiB`)
    if (result.serverCounters !== undefined) console.log(`  server memory: ${JSON.stringify(result.serverCounters)}`)
    console.log(`  clients read everything in ${drainSeconds.toFixed(1)} s: ${ok ? "byte-exact" : "MISMATCH"}`)
  }
  if (!ok) process.exitCode = 1
})).pipe(Effect.provide(Layer.fresh(Switch.layer())))

await Effect.runPromise(program)
