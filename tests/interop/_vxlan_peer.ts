/**
 * The VXLAN side of `vxlan-kernel.test.ts`, run as a child process inside a network namespace (the test process stays
 * in the root namespace, where no 10.99.x.x address may live). It builds a switch with a VXLAN uplink and one stack
 * on it, then obeys commands on stdin, one per line, answering on stdout with a keyword and JSON:
 *
 * - at start: `READY {"mac", "port"}` (the stack's MAC, the bound UDP port); the stack runs a UDP echo on port 7
 * - `ping N` → pings `--peer` N times: `PINGS [rtt ms, …]`
 * - `udp PORT SIZE…` → sends one datagram per size to `--peer`:PORT and checks each echo byte for byte:
 *   `UDP {"ok", "bad"}`
 * - `serve` → starts the HTTP server of `examples/_http.ts` on port 80 and the iperf3 server of
 *   `examples/_iperf3.ts` on port 5201: `SERVING {}`; `quit` then also reports `http` counters and `iperf3` tests
 * - `fetch PORT PATH…` → GETs each path from `--peer`:PORT on one keep-alive connection with the HTTP client of
 *   `examples/_http.ts`: `FETCHED [{status, length, sha256}, …]`
 * - `quit` (or stdin closed) → `STATS {vxlan, uplink, icmp, udp}`, exit 0
 *
 * It stops by itself after `--timeout` seconds (exit 2). Usage:
 * `ip netns exec NS bun tests/interop/_vxlan_peer.ts --address 10.99.3.2 --remote 10.99.3.1 --vni 42
 *  --cidr 10.99.2.2/24 --mtu 1450 --peer 10.99.2.1 [--port 4789] [--remote-port 4789] [--mac-prefix 02:a5:00]
 *  [--timeout 60]`
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { Backend } from "../../src/link/Backend.ts"
import { Vxlan } from "../../src/link/uplink/Vxlan.ts"
import { Stack } from "../../src/Stack.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { MacAddress } from "../../src/wire/MacAddress.ts"
import { ByteReader, httpGet, httpHandler, httpServerStats } from "../../examples/_http.ts"
import { iperf3Server, type Iperf3TestResult } from "../../examples/_iperf3.ts"

const argv = process.argv.slice(2)
const arg = (name: string, fallback?: string): string => {
  const i = argv.indexOf(`--${name}`)
  const v = i >= 0 ? argv[i + 1] : fallback
  if (v === undefined) throw new Error(`missing --${name}`)
  return v
}

const pattern = (seed: number, size: number): Uint8Array => {
  const b = new Uint8Array(size)
  for (let k = 0; k < size; k++) b[k] = (seed * 31 + k * 7) & 0xff
  return b
}

const say = (keyword: string, value: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stdout.write(`${keyword} ${JSON.stringify(value)}\n`)
  })

const timeoutSeconds = Number(arg("timeout", "60"))
const timer = setTimeout(() => {
  console.error(`_vxlan_peer: no quit within ${timeoutSeconds} s, exiting`)
  process.exit(2)
}, timeoutSeconds * 1000)

const program = Effect.gen(function* () {
  const commands = yield* Queue.unbounded<string>()
  let buffered = ""
  process.stdin.setEncoding("utf8")
  process.stdin.on("data", (d: string) => {
    buffered += d
    let i: number
    while ((i = buffered.indexOf("\n")) >= 0) {
      Queue.offerUnsafe(commands, buffered.slice(0, i).trim())
      buffered = buffered.slice(i + 1)
    }
  })
  process.stdin.on("end", () => {
    Queue.offerUnsafe(commands, "quit")
  })

  const mtu = Number(arg("mtu", "1450"))
  const net = yield* Vxlan.make({
    vni: Number(arg("vni")),
    address: arg("address"),
    port: Number(arg("port", "4789")),
    remotes: [{ address: arg("remote"), port: Number(arg("remote-port", "4789")) }],
    mtu,
    macPrefix: arg("mac-prefix", "02:a5:00"),
  })
  const stack = yield* Stack.make({ cidr: arg("cidr"), mtu, checksum: "all" }).pipe(
    Effect.provideService(Backend, net.backend),
  )
  yield* stack.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
  const peer = Ipv4Address.parse(arg("peer"))!
  const http = httpServerStats()
  const iperfTests: Array<Iperf3TestResult> = []
  yield* say("READY", { mac: MacAddress.format(stack.mac), port: net.uplink.socket.local.port })

  while (true) {
    const line = yield* Queue.take(commands)
    const [cmd, ...rest] = line.split(/\s+/)
    if (cmd === "ping") {
      const rtts: Array<number> = []
      for (let i = 0; i < Number(rest[0] ?? 3); i++) rtts.push(yield* stack.icmp.ping(peer, { timeout: "3 seconds" }))
      yield* say("PINGS", rtts)
    } else if (cmd === "udp") {
      const port = Number(rest[0])
      const socket = yield* stack.udp.bind(0)
      let ok = 0
      const bad: Array<unknown> = []
      for (let i = 0; i < rest.length - 1; i++) {
        const sent = pattern(i, Number(rest[i + 1]))
        let got: Uint8Array | undefined
        for (let attempt = 0; attempt < 20 && got === undefined; attempt++) {
          yield* socket.send(peer, port, sent)
          const d = yield* socket.take.pipe(Effect.timeoutOption("500 millis"))
          if (d._tag === "Some") got = d.value.data
        }
        if (got !== undefined && got.length === sent.length && got.every((b, k) => b === sent[k])) ok++
        else bad.push([sent.length, got?.length ?? null])
      }
      yield* say("UDP", { ok, bad })
    } else if (cmd === "serve") {
      yield* stack.tcp.serve(80, httpHandler(http))
      yield* iperf3Server(stack.tcp, { onTest: (r) => Effect.sync(() => void iperfTests.push(r)) })
      yield* say("SERVING", {})
    } else if (cmd === "fetch") {
      const results = yield* Effect.scoped(Effect.gen(function* () {
        const conn = yield* stack.tcp.connect(peer, Number(rest[0]))
        const reader = new ByteReader(conn)
        const out: Array<{ status: number; length: number; sha256: string }> = []
        for (const path of rest.slice(1)) {
          const r = yield* httpGet(reader, arg("peer"), path)
          out.push({ status: r.status, length: r.length, sha256: r.sha256 })
        }
        return out
      }))
      yield* say("FETCHED", results)
    } else if (cmd === "quit") {
      yield* say("STATS", {
        http,
        iperf3: iperfTests.map((t) => ({ reverse: t.reverse, bytes: t.bytes, seconds: t.seconds })),
        vxlan: yield* net.uplink.socket.stats,
        uplink: yield* net.uplink.stats,
        icmp: yield* stack.icmp.stats,
        udp: yield* stack.udp.stats,
      })
      return
    } else if (cmd !== "") {
      yield* say("ERROR", `unknown command ${cmd}`)
    }
  }
})

const exit = await Effect.runPromiseExit(Effect.scoped(program))
clearTimeout(timer)
if (exit._tag === "Failure") {
  console.error("_vxlan_peer failed:", Cause.pretty(exit.cause))
  process.exit(1)
}
process.exit(0)
