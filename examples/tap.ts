/**
 * A stack on a Linux TAP device: the kernel (and anything it routes) can reach it. It answers ARP and ping and runs a
 * UDP echo service on port 7, a small HTTP/1.1 server on port 80 (`examples/_http.ts`: `/`, `/bytes/N`, `/chunked/N`;
 * GET/HEAD, keep-alive, pipelining) and an iperf3 server on port 5201 (`examples/_iperf3.ts`: `iperf3 -c` and `-R`).
 *
 * Run it in a network namespace of its own so nothing touches the host's network (as root):
 * ```sh
 * ip netns add vn-demo && ip -n vn-demo link set lo up
 * ip -n vn-demo tuntap add dev vn0 mode tap                 # optional: otherwise the example creates it
 * ip -n vn-demo addr add 10.99.0.1/24 dev vn0 && ip -n vn-demo link set vn0 up
 * ip netns exec vn-demo bun examples/tap.ts --tap vn0 --cidr 10.99.0.2/24       # or: deno run -A examples/tap.ts …
 * ip netns exec vn-demo ping -c3 10.99.0.2                  # in another shell
 * ip netns exec vn-demo python3 -c 'import socket; s=socket.socket(2,2); s.settimeout(2); s.sendto(b"hi",("10.99.0.2",7)); print(s.recv(99))'
 * ip netns exec vn-demo curl -s http://10.99.0.2/bytes/20000000 | sha256sum
 * ip netns exec vn-demo iperf3 -c 10.99.0.2 -t 3          # and -R for stack → kernel
 * ip netns del vn-demo                                       # when done (Ctrl-C the example first)
 * ```
 * Options: `--tap NAME` (required; without it the example prints this help and exits 0), `--cidr A.B.C.D/N` (default
 * 10.99.0.2/24), `--gateway A.B.C.D`, `--mtu N` (default 1500), `--seconds N` (stop after N seconds; default: run until
 * Ctrl-C / SIGTERM), `--http-timeout N` (seconds the HTTP server waits for a request head, keep-alive idle time
 * included, and for a request body; default 20: a slowloris client is closed then). On exit it prints the device's
 * counters; on SIGUSR2 it prints every counter (device, each layer's `StackMetrics` snapshot, HTTP) as one line
 * `tap: stats {JSON}` (bench/attack.ts reads it). Bun needs nothing more; Deno needs `--allow-ffi` (`-A`).
 * Creating a TAP needs root (CAP_NET_ADMIN); attaching to one made with `ip tuntap add … user $USER` does not.
 *
 * On Deno the example runs with effect's async hooks off (`src/util/NoAsyncContext.ts`, its first import): otherwise
 * every fiber suspension leaves about 0.5 KiB behind for as long as the fiber lives, and a `ping -f` flood grows the
 * process by gigabytes (`bench/memory.ts --tap --keep-async-hooks` shows it).
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Backend } from "../src/link/Backend.ts"
import { Tap } from "../src/link/uplink/Tap.ts"
import { Stack } from "../src/Stack.ts"
import { StackMetrics } from "../src/StackMetrics.ts"
import { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { MacAddress } from "../src/wire/MacAddress.ts"
import { httpHandler, httpServerStats } from "./_http.ts"
import { iperf3Server } from "./_iperf3.ts"

const HELP =
  `examples/tap.ts — a vnetif stack on a Linux TAP device (ping, ARP, UDP echo on port 7, HTTP on 80, iperf3 on 5201)

usage: bun examples/tap.ts --tap NAME [--cidr 10.99.0.2/24] [--gateway A.B.C.D] [--mtu 1500] [--seconds N]
                          [--http-timeout 20]
       deno run -A examples/tap.ts --tap NAME …

Try it inside a network namespace, as root:
  ip netns add vn-demo && ip -n vn-demo link set lo up
  ip -n vn-demo tuntap add dev vn0 mode tap
  ip -n vn-demo addr add 10.99.0.1/24 dev vn0 && ip -n vn-demo link set vn0 up
  ip netns exec vn-demo bun examples/tap.ts --tap vn0 --cidr 10.99.0.2/24
then, in another shell:
  ip netns exec vn-demo ping -c3 10.99.0.2
  ip netns exec vn-demo python3 -c 'import socket; s=socket.socket(2,2); s.settimeout(2); s.sendto(b"hi",("10.99.0.2",7)); print(s.recv(99))'
  ip netns exec vn-demo curl -s http://10.99.0.2/bytes/20000000 | sha256sum
  ip netns exec vn-demo iperf3 -c 10.99.0.2 -t 3        # add -R for stack → kernel
and when done: Ctrl-C here, then ip netns del vn-demo`

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}

/** The example as one Effect program: runs until interrupted or `--seconds` have passed. */
const program = (tap: string): Effect.Effect<void, unknown> =>
  Effect.scoped(Effect.gen(function* () {
    const cidr = option("cidr") ?? "10.99.0.2/24"
    const mtu = Number(option("mtu") ?? "1500")
    const gateway = option("gateway")
    const net = yield* Tap.make({ name: tap, mtu })
    const stack = yield* Stack.make({ cidr, mtu, checksum: "all", ...(gateway === undefined ? {} : { gateway }) }).pipe(
      Effect.provideService(Backend, net.backend),
    )
    yield* stack.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
    const http = httpServerStats()
    const httpTimeout = option("http-timeout")
    const limits = httpTimeout === undefined
      ? {}
      : { headerTimeout: `${Number(httpTimeout)} seconds`, bodyTimeout: `${Number(httpTimeout)} seconds` } as const
    yield* stack.tcp.serve(80, httpHandler(http, limits))
    let iperfTests = 0
    yield* iperf3Server(stack.tcp, {
      onTest: (r) =>
        Effect.sync(() => {
          iperfTests++
          console.log(
            `tap: iperf3 test from ${r.client}: ${r.bytes} bytes ${r.reverse ? "sent" : "received"} in ` +
              `${r.seconds.toFixed(2)} s, ${((r.bytes * 8) / r.seconds / 1e6).toFixed(0)} Mbit/s`,
          )
        }),
    })
    const dump = Effect.gen(function* () {
      const { device } = yield* Tap.stats(net.uplink)
      const { layers } = yield* StackMetrics.snapshot(stack)
      yield* Console.log(`tap: stats ${JSON.stringify({ device, layers, http, iperfTests })}`)
    })
    const onUsr2 = () => Effect.runFork(dump)
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGUSR2", onUsr2)),
      () => Effect.sync(() => process.removeListener("SIGUSR2", onUsr2)),
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const s = yield* Tap.stats(net.uplink)
        const icmp = yield* stack.icmp.stats
        const udp = yield* stack.udp.stats
        yield* Console.log(
          `tap: stopped; device rx ${s.device.rxFrames} frames / tx ${s.device.txFrames} frames ` +
            `(${s.device.txErrors} tx errors); echo requests answered ${icmp.echoRepliesSent}; ` +
            `UDP datagrams echoed ${udp.txDatagrams}; HTTP requests ${http.requests} on ${http.connections} ` +
            `connections; iperf3 tests ${iperfTests}`,
        )
      })
    )
    yield* Console.log(
      `tap: ${Ipv4Address.format(stack.address)}/${stack.prefixLength} on ${net.uplink.device.ifname} ` +
        `(${MacAddress.format(stack.mac)}, mtu ${mtu}); answering ARP and ping, UDP echo on port 7, HTTP on port 80, ` +
        `iperf3 on port 5201`,
    )
    yield* Console.log(
      `tap: try  ping ${Ipv4Address.format(stack.address)}  from the TAP's namespace (the kernel side needs an ` +
        `address in ${cidr.replace(/\.\d+\//, ".0/")} and the link up); Ctrl-C to stop`,
    )
    const seconds = option("seconds")
    if (seconds === undefined) return yield* Effect.never
    yield* Effect.sleep(`${Number(seconds)} seconds`)
  }))

const tap = option("tap")
if (tap === undefined) {
  console.log(HELP)
} else {
  const fiber = Effect.runFork(program(tap))
  const stop = () => {
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.removeListener("SIGINT", stop)
  process.removeListener("SIGTERM", stop)
  if (exit._tag === "Failure" && !exit.cause.reasons.every((r) => r._tag === "Interrupt")) {
    console.error("tap: FAILED", exit.cause)
    process.exitCode = 1
  }
}
