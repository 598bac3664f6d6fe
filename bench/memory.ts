/**
 * Memory under hostile traffic (issue 15): does a stack give back what a flood made it take? After each phase of a
 * load it runs a full garbage collection and prints RSS, the JS heap in use (and what the engine holds for it,
 * `heapTotal`) and `external` (ArrayBuffers outside the heap), then again after an idle period; so real retention
 * (the heap stays up after GC) is told apart from memory the runtime keeps but does not use (RSS up, heap back down).
 * It also prints the structures that could grow (the TCP connection table, the timer heap), which must come back to
 * where they were before the load.
 *
 * Cases, one after another in this process, each on fresh stacks:
 * - `ping`: a raw switch port floods a stack with ICMP echo requests, `--window` outstanding at a time (1 = like
 *   `ping -f`: the next request when the reply came), `--pings` in all, in `--phases` phases;
 * - `tcp`: `--rounds` rounds of `--conns` TCP connections from a second stack to the HTTP server of `examples/tap.ts`
 *   (`examples/_http.ts`), `--concurrency` at a time; `--mode http` (default): `GET /`, read the response to the
 *   end, close; `--mode rst`: the same, then, `--rst-delay` ms later (default 1 500: the server's timer has moved
 *   on to its FIN-WAIT-2 deadline by then, as it had against the kernel's client), a RST instead of a FIN;
 *   `--mode idle`: connect and close;
 * - `tap-ping`, `tap-tcp` (with `--tap`; root, iproute2, ping and python3): the same loads from the Linux kernel
 *   against a stack on a TAP device, the stack in this process and the TAP moved at once into a network namespace made
 *   for the run (10.99.0.1 the kernel, 10.99.0.2 ours; deleted at the end, nothing is configured in the root
 *   namespace): `ping -f -c N` from the namespace, and a Python client there (`--mode` as above; `rst` closes with
 *   `SO_LINGER` 0 right after reading).
 *
 * Run: `npx bun bench/memory.ts` or `npx deno run -A bench/memory.ts` (add `--tap` as root for the kernel cases).
 * Options: `--quick` (CI smoke run: small counts; asserts nothing), `--only ping,tcp,tap-ping,tap-tcp`, `--tap`,
 * `--pings N` (default 200 000), `--phases N` (4), `--window N` (1), `--conns N` (2 000), `--rounds N` (5),
 * `--concurrency N` (200), `--mode http|rst|idle`, `--rst-delay MS`, `--idle MS` (idle time before the last reading,
 * default 3 000: longer than TIME-WAIT), `--keep-async-hooks` (Deno: run without the workaround below).
 *
 * Deno and async hooks: like the other benchmarks, this script imports `src/util/NoAsyncContext.ts` first. effect
 * 4.1 creates a `node:async_hooks` `AsyncResource` at every fiber suspension, and Deno 2.9 keeps each one reachable
 * from the next (the resource a fiber resumes in is part of the async-context snapshot the next one captures), so a
 * fiber that runs as long as the stack (a TAP reader, a switch port, the TCP timer) holds ~0.5 KiB per suspension
 * until it ends. `--keep-async-hooks` shows that growth; it is what `examples/tap.ts` did before it imported the
 * workaround (a `ping -f` flood: 79 MB → 1.78 GB).
 *
 * GC: `Bun.gc(true)` on Bun; on Deno V8's `gc`, reached through `node:v8`'s `setFlagsFromString("--expose-gc")` (or
 * `globalThis.gc` when run with `--v8-flags=--expose-gc`).
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import { asyncContextDisabled } from "../src/util/NoAsyncContext.ts"
import { spawn, spawnSync } from "node:child_process"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Effect from "effect/Effect"
import { Backend, type BackendShape } from "../src/link/Backend.ts"
import { Switch } from "../src/link/Switch.ts"
import { Tap } from "../src/link/uplink/Tap.ts"
import { Vnetif } from "../src/link/Vnetif.ts"
import { Stack, type StackHandle } from "../src/Stack.ts"
import type { TcpConnection, TcpListener } from "../src/tcp/Tcp.ts"
import { ChecksumCapabilities } from "../src/wire/Checksum.ts"
import { ETHERNET_HEADER_LEN, EthernetRepr, EtherType } from "../src/wire/Ethernet.ts"
import { Icmpv4Repr } from "../src/wire/Icmpv4.ts"
import { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Repr } from "../src/wire/Ipv4.ts"
import type { MacAddress } from "../src/wire/MacAddress.ts"
import { httpHandler } from "../examples/_http.ts"

// ------------------------------------------------------------------------------------------------ options

const argv: ReadonlyArray<string> = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined
}
const flag = (name: string): boolean => argv.includes(`--${name}`)
const num = (name: string, dflt: number): number => {
  const v = opt(name)
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} needs a non-negative integer, got ${v}`)
  return n
}

const quick: boolean = flag("quick")
const pings: number = Math.max(1, num("pings", quick ? 4_000 : 200_000))
const phases: number = Math.max(1, num("phases", quick ? 2 : 4))
const windowSize: number = Math.max(1, num("window", 1))
const conns: number = Math.max(1, num("conns", quick ? 200 : 2_000))
const rounds: number = Math.max(1, num("rounds", quick ? 2 : 5))
const concurrency: number = Math.max(1, num("concurrency", quick ? 50 : 200))
const idleMs: number = num("idle", quick ? 1_500 : 3_000)
const mode: string = opt("mode") ?? "http"
const rstDelayMs: number = num("rst-delay", 1_500)
if (mode !== "http" && mode !== "rst" && mode !== "idle") throw new Error(`--mode is http, rst or idle, got ${mode}`)
const withTap: boolean = flag("tap")
const only: ReadonlyArray<string> | undefined = opt("only")?.split(",")
const wanted = (id: string): boolean => only !== undefined ? only.includes(id) : !id.startsWith("tap-") || withTap

const RUNTIME: string = (globalThis as { readonly Bun?: unknown }).Bun !== undefined
  ? "bun"
  : (globalThis as { readonly Deno?: unknown }).Deno !== undefined
  ? "deno"
  : "node"
const VERSION: string = RUNTIME === "deno"
  ? (globalThis as unknown as { readonly Deno: { readonly version: { readonly deno: string } } }).Deno.version.deno
  : process.versions.bun ?? process.version

// ------------------------------------------------------------------------------------------------ memory figures

/** A full garbage collection, however this runtime offers it. */
const gc: () => void = (() => {
  const bun = (globalThis as { readonly Bun?: { readonly gc: (force: boolean) => void } }).Bun
  if (bun !== undefined) return () => bun.gc(true)
  const g = (globalThis as { readonly gc?: () => void }).gc
  if (typeof g === "function") return g
  try {
    v8.setFlagsFromString("--expose-gc")
    const f = vm.runInNewContext("gc") as unknown
    if (typeof f === "function") return f as () => void
  } catch {
    // no way to force a collection: the figures are then whatever the collector left
  }
  console.log("(no way to force a garbage collection on this runtime: figures include garbage)")
  return () => {}
})()

/** Two full collections (the second frees what finalizers of the first released). */
const collect: Effect.Effect<void> = Effect.sync(() => {
  gc()
  gc()
})

const MiB = 1024 * 1024
const mib = (n: number): string => (n / MiB).toFixed(1).padStart(7)

/** Prints one line of figures and returns the heap in use (bytes). */
const report = (label: string, extra: string): number => {
  const m = process.memoryUsage()
  console.log(
    `  ${label.padEnd(24)} rss ${mib(m.rss)} MiB  heapUsed ${mib(m.heapUsed)} MiB  heapTotal ${
      mib(m.heapTotal)
    } MiB  ` +
      `external ${mib(m.external)} MiB  ${extra}`,
  )
  return m.heapUsed
}

/** The heap the load left behind, per operation. */
const perOp = (before: number, after: number, ops: number, what: string): string =>
  `  heap left after idle + GC: ${((after - before) / MiB).toFixed(1)} MiB, ${
    ((after - before) / ops).toFixed(0)
  } B per ${what}`

/**
 * What could grow in a stack and must come back: the TCP connection table and timer heap (`timerEntries`; "n/a" on
 * a tree without that counter, so that this script also runs against an older one).
 */
const sizes = (stack: StackHandle): Effect.Effect<string> =>
  Effect.map(stack.tcp.stats, (t) => {
    const entries = (t as { readonly timerEntries?: number }).timerEntries
    return `connections ${t.connections}, timer entries ${entries ?? "n/a"}`
  })

// ------------------------------------------------------------------------------------------------ frames

const CLIENT = Ipv4Address.parse("10.0.0.1")!
const SERVER = Ipv4Address.parse("10.0.0.2")!

/** An Ethernet frame with an ICMP echo request (every checksum computed). */
const echoRequestFrame = (
  srcMac: MacAddress,
  dstMac: MacAddress,
  src: Ipv4Address,
  dst: Ipv4Address,
  seqNo: number,
): Uint8Array => {
  const data = new Uint8Array(56)
  for (let i = 0; i < data.length; i++) data[i] = (seqNo + i) & 0xff
  const icmp: Icmpv4Repr = { _tag: "EchoRequest", ident: 0x4242, seqNo, data }
  const icmpLen = Icmpv4Repr.bufferLen(icmp)
  const f = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + icmpLen)
  EthernetRepr.emit({ dstAddr: dstMac, srcAddr: srcMac, etherType: EtherType.Ipv4 }, f)
  Ipv4Repr.emit(
    {
      srcAddr: src,
      dstAddr: dst,
      protocol: IpProtocol.Icmp,
      payloadLen: icmpLen,
      ttl: 64,
      identification: seqNo,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
    },
    f.subarray(ETHERNET_HEADER_LEN),
    ChecksumCapabilities.all,
  )
  Icmpv4Repr.emit(icmp, f.subarray(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN), ChecksumCapabilities.all)
  return f
}

/** An ICMP echo reply in an IPv4 Ethernet frame. */
const isEchoReply = (f: Uint8Array): boolean =>
  f.length >= 42 && f[12] === 0x08 && f[13] === 0x00 && f[23] === IpProtocol.Icmp &&
  f[ETHERNET_HEADER_LEN + ((f[14] & 0x0f) << 2)] === 0

// ------------------------------------------------------------------------------------------------ in-process ping flood

const pingCase: Effect.Effect<void, unknown> = Effect.scoped(Effect.gen(function* () {
  console.log(`ping: ${pings} echo requests from a raw switch port, ${windowSize} outstanding at a time`)
  const sw: BackendShape = yield* Switch.make()
  const stack = yield* Effect.provideService(Stack.make({ cidr: "10.0.0.2/24", checksum: "all" }), Backend, sw)
  const raw = yield* Effect.provideService(Vnetif.make(), Backend, sw)
  let replies = 0
  let target = 0
  let resume: (() => void) | undefined = undefined
  yield* Effect.forkScoped(raw.listen((f) => {
    if (isEchoReply(f)) {
      replies++
      if (resume !== undefined && replies >= target) {
        const r = resume
        resume = undefined
        r()
      }
    }
    return Effect.void
  }))
  yield* raw.ready
  yield* stack.arp.addStatic(CLIENT, raw.mac)
  /** Suspends until `n` replies came. */
  const repliesUntil = (n: number): Effect.Effect<void> =>
    Effect.callback<void>((r) => {
      if (replies >= n) {
        r(Effect.void)
        return
      }
      target = n
      resume = () => r(Effect.void)
    })
  // a pool of requests, never changed once handed to the switch (the ownership contract allows sending them again)
  const pool: Array<Uint8Array> = []
  for (let i = 0; i < 256; i++) pool.push(echoRequestFrame(raw.mac, stack.mac, CLIENT, SERVER, i))
  raw.transmit(pool[0])
  yield* repliesUntil(1)
  yield* collect
  const before = report("before", yield* sizes(stack))
  let sent = 1
  for (let p = 1; p <= phases; p++) {
    const until = 1 + Math.round((pings * p) / phases)
    const t0 = performance.now()
    const from = sent
    while (sent < until) {
      const burst = Math.min(windowSize, until - sent)
      for (let i = 0; i < burst; i++) raw.transmit(pool[(sent + i) & 255])
      sent += burst
      yield* repliesUntil(sent)
    }
    const rate = ((sent - from) / ((performance.now() - t0) / 1000)).toFixed(0)
    yield* collect
    report(`after ${sent - 1}`, `replies ${replies - 1}, ${rate} requests/s`)
  }
  yield* Effect.sleep(idleMs)
  yield* collect
  const after = report(`idle ${idleMs} ms`, yield* sizes(stack))
  console.log(perOp(before, after, pings, "request"))
}))

// ------------------------------------------------------------------------------------------------ in-process TCP rounds

const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")

/** One client connection as `--mode` says. */
const oneConnection = (client: StackHandle): Effect.Effect<void, unknown> =>
  Effect.scoped(Effect.gen(function* () {
    const conn: TcpConnection = yield* client.tcp.connect(SERVER, 80)
    if (mode === "idle") return yield* conn.close
    yield* conn.write(REQUEST)
    while ((yield* conn.read) !== undefined) {
      // the response, to the server's FIN
    }
    if (mode === "rst") yield* Effect.sleep(rstDelayMs)
    yield* mode === "rst" ? conn.abort : conn.close
  }))

const listenerText = (l: TcpListener): Effect.Effect<string> =>
  Effect.map(l.stats, (s) => `accepted ${s.accepted}, pending ${s.pending}`)

const tcpCase: Effect.Effect<void, unknown> = Effect.scoped(Effect.gen(function* () {
  console.log(`tcp: ${rounds} rounds of ${conns} connections (${concurrency} at a time, mode ${mode}) to HTTP`)
  const sw: BackendShape = yield* Switch.make()
  const server = yield* Effect.provideService(Stack.make({ cidr: "10.0.0.2/24" }), Backend, sw)
  const client = yield* Effect.provideService(Stack.make({ cidr: "10.0.0.1/24" }), Backend, sw)
  const listener = yield* server.tcp.serve(80, httpHandler())
  const state = Effect.gen(function* () {
    return `server ${yield* sizes(server)}, ${yield* listenerText(listener)}; client ${yield* sizes(client)}`
  })
  // one connection first, so one-time allocations (code, buffers' first use) are not counted as growth
  yield* oneConnection(client)
  yield* Effect.sleep(idleMs)
  yield* collect
  const before = report("before", yield* state)
  const ids = Array.from({ length: conns }, (_, i) => i)
  for (let r = 1; r <= rounds; r++) {
    const t0 = performance.now()
    yield* Effect.forEach(ids, () => oneConnection(client), { concurrency, discard: true })
    const rate = (conns / ((performance.now() - t0) / 1000)).toFixed(0)
    yield* collect
    report(`after round ${r}`, `${rate} conn/s; ${yield* state}`)
  }
  yield* Effect.sleep(idleMs)
  yield* collect
  const after = report(`idle ${idleMs} ms`, yield* state)
  console.log(perOp(before, after, rounds * conns, "connection"))
}))

// ------------------------------------------------------------------------------------------------ over a TAP device

const sh = (cmd: string, args: ReadonlyArray<string>): void => {
  const r = spawnSync(cmd, [...args], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr ?? r.error}`)
}

/** Runs a command without blocking the event loop (the stack that answers it lives in this process). */
const exec = (cmd: string, args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.callback<string>((resume) => {
    const p = spawn(cmd, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    p.stdout!.setEncoding("utf8")
    p.stderr!.setEncoding("utf8")
    p.stdout!.on("data", (d: string) => void (out += d))
    p.stderr!.on("data", (d: string) => void (out += d))
    p.on("close", () => resume(Effect.succeed(out)))
    return Effect.sync(() => void p.kill("SIGKILL"))
  })

/** The kernel's client of `tap-tcp`: argv n, concurrency, mode; prints "done failed". */
const PY_CLIENT = String.raw`
import resource, socket, struct, sys
n, conc, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, conc + 64)), hard))
req = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
done = failed = 0
while done + failed < n:
    batch = []
    for _ in range(min(conc, n - done - failed)):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.connect(("10.99.0.2", 80))
            if mode != "idle":
                s.sendall(req)
            batch.append(s)
        except OSError:
            failed += 1
            s.close()
    for s in batch:
        try:
            if mode != "idle":
                while s.recv(65536):
                    pass
            if mode == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            done += 1
        except OSError:
            failed += 1
        s.close()
print(done, failed)
`

/** A namespace with the kernel end of a TAP; our stack (HTTP on port 80) on the other end, in this process. */
const tapLab = (
  body: (stack: StackHandle, listener: TcpListener, ns: string) => Effect.Effect<void, unknown>,
): Effect.Effect<void, unknown> =>
  Effect.scoped(Effect.gen(function* () {
    const ns = `vn-mem-${process.pid}`
    const dev = `vm${process.pid % 1_000_000}`
    sh("ip", ["netns", "add", ns])
    yield* Effect.addFinalizer(() => Effect.sync(() => void spawnSync("ip", ["netns", "del", ns])))
    sh("ip", ["-n", ns, "link", "set", "lo", "up"])
    spawnSync("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
    const net = yield* Tap.make({ name: dev })
    // move first, then configure: the TAP never has an address or carrier in the root namespace
    sh("ip", ["link", "set", dev, "netns", ns])
    sh("ip", ["-n", ns, "addr", "add", "10.99.0.1/24", "dev", dev])
    sh("ip", ["-n", ns, "link", "set", dev, "up"])
    const stack = yield* Effect.provideService(
      Stack.make({ cidr: "10.99.0.2/24", checksum: "all" }),
      Backend,
      net.backend,
    )
    const listener = yield* stack.tcp.serve(80, httpHandler())
    yield* body(stack, listener, ns)
  }))

const tapPingCase: Effect.Effect<void, unknown> = tapLab((stack, _listener, ns) =>
  Effect.gen(function* () {
    const per = Math.max(1, Math.round(pings / phases))
    console.log(`tap-ping: ping -f from the kernel, ${phases} × ${per} requests`)
    yield* exec("ip", ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-q", "10.99.0.2"])
    yield* collect
    const before = report("before", yield* sizes(stack))
    for (let p = 1; p <= phases; p++) {
      const out = yield* exec("ip", ["netns", "exec", ns, "ping", "-f", "-q", "-c", String(per), "10.99.0.2"])
      const line = out.split("\n").find((l) => l.includes("packets transmitted")) ?? out.trim()
      yield* collect
      report(`after ${per * p}`, line)
    }
    yield* Effect.sleep(idleMs)
    yield* collect
    const icmp = yield* stack.icmp.stats
    const after = report(`idle ${idleMs} ms`, `${yield* sizes(stack)}, echo replies sent ${icmp.echoRepliesSent}`)
    console.log(perOp(before, after, per * phases, "request"))
  })
)

const tapTcpCase: Effect.Effect<void, unknown> = tapLab((stack, listener, ns) =>
  Effect.gen(function* () {
    console.log(`tap-tcp: ${rounds} rounds of ${conns} connections from the kernel (${concurrency} at a time, ${mode})`)
    const state = Effect.gen(function* () {
      return `${yield* sizes(stack)}, ${yield* listenerText(listener)}`
    })
    yield* exec("ip", ["netns", "exec", ns, "python3", "-c", PY_CLIENT, "1", "1", mode])
    yield* Effect.sleep(idleMs)
    yield* collect
    const before = report("before", yield* state)
    for (let r = 1; r <= rounds; r++) {
      const t0 = performance.now()
      const out = yield* exec("ip", [
        "netns",
        "exec",
        ns,
        "python3",
        "-c",
        PY_CLIENT,
        String(conns),
        String(concurrency),
        mode,
      ])
      const rate = (conns / ((performance.now() - t0) / 1000)).toFixed(0)
      yield* collect
      report(`after round ${r}`, `done/failed ${out.trim()}, ${rate} conn/s; ${yield* state}`)
    }
    yield* Effect.sleep(idleMs)
    yield* collect
    const after = report(`idle ${idleMs} ms`, yield* state)
    console.log(perOp(before, after, rounds * conns, "connection"))
  })
)

// ------------------------------------------------------------------------------------------------ main

const cases: ReadonlyArray<readonly [string, Effect.Effect<void, unknown>]> = [
  ["ping", pingCase],
  ["tcp", tcpCase],
  ["tap-ping", tapPingCase],
  ["tap-tcp", tapTcpCase],
]

const main: Effect.Effect<void, unknown> = Effect.gen(function* () {
  const hooks = RUNTIME !== "deno" ? "" : `, effect's async hooks ${asyncContextDisabled ? "off (workaround)" : "ON"}`
  console.log(`bench/memory.ts on ${RUNTIME} ${VERSION}${hooks}${quick ? " (quick)" : ""}`)
  if (withTap || only?.some((id) => id.startsWith("tap-")) === true) {
    const root = typeof process.getuid === "function" && process.getuid() === 0
    if (!root || spawnSync("ip", ["-V"]).status !== 0) {
      console.log("  the tap-* cases need root and iproute2 (and ping, python3 in the namespace): skipped")
      return yield* Effect.forEach(cases.filter(([id]) => !id.startsWith("tap-") && wanted(id)), ([, c]) => c, {
        discard: true,
      })
    }
  }
  for (const [id, c] of cases) if (wanted(id)) yield* c
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
