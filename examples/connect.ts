/**
 * The unikernel that talks to itself: two stacks (10.0.0.1/24 and 10.0.0.2/24) on one in-process switch.
 * A pings B three times and prints the round-trip times; B runs a UDP echo service on port 7; A sends three
 * datagrams and prints the echoes. Then mirage's TCP "hello world": B listens on port 8080, A connects, sends
 * "hello world" and half-closes; B reads to the end of the stream, checks the text and answers; A reads the answer
 * to the end. Exits 0 when every step succeeded, 1 otherwise.
 *
 * Run: `npx bun examples/connect.ts` or `npx deno run -A examples/connect.ts`.
 *
 * @module
 */
// first: hides node:async_hooks from effect on Deno (see the module); must run before `effect` is evaluated
import "../src/util/NoAsyncContext.ts"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Switch } from "../src/link/Switch.ts"
import { Stack } from "../src/Stack.ts"
import type { TcpConnection } from "../src/tcp/Tcp.ts"
import { IpAddress } from "../src/wire/IpAddress.ts"
import { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { MacAddress } from "../src/wire/MacAddress.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The whole scenario as one Effect program; fails if anything does not go as expected. */
const program: Effect.Effect<void, unknown> = Effect.scoped(
  Effect.gen(function* () {
    const a = yield* Stack.make({ cidr: "10.0.0.1/24" })
    const b = yield* Stack.make({ cidr: "10.0.0.2/24" })
    yield* Console.log(`A: ${Ipv4Address.format(a.address)} at ${MacAddress.format(a.mac)}`)
    yield* Console.log(`B: ${Ipv4Address.format(b.address)} at ${MacAddress.format(b.mac)}`)

    for (let i = 1; i <= 3; i++) {
      const rtt = yield* a.icmp.ping(b.address, { timeout: "2 seconds" })
      yield* Console.log(`ping ${Ipv4Address.format(b.address)} #${i}: rtt ${rtt.toFixed(3)} ms`)
    }

    // B: UDP echo on port 7 — every datagram goes back to where it came from
    yield* b.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))

    const socket = yield* a.udp.bind(0)
    for (let i = 1; i <= 3; i++) {
      const text = `hello #${i} from ${Ipv4Address.format(a.address)}`
      yield* socket.send(b.address, 7, encoder.encode(text))
      const echo = yield* socket.take.pipe(Effect.timeout("2 seconds"))
      const got = decoder.decode(echo.data)
      if (got !== text) return yield* Effect.fail(new Error(`echo mismatch: sent "${text}", got "${got}"`))
      yield* Console.log(
        `udp ${IpAddress.format(echo.src)}:${echo.srcPort} -> :${socket.localPort} echoed "${got}"`,
      )
    }
    const arpA = yield* a.arp.entries
    yield* Console.log(
      `A's ARP cache: ${arpA.map((e) => `${Ipv4Address.format(e.ip)} -> ${MacAddress.format(e.mac)}`).join(", ")}`,
    )

    // TCP: mirage's "hello world" between the two stacks
    const readText = (conn: TcpConnection) =>
      Stream.runFold(conn.stream, () => "", (text, chunk) => text + decoder.decode(chunk, { stream: true }))
    yield* b.tcp.serve(8080, (conn) =>
      Effect.gen(function* () {
        const text = yield* readText(conn)
        yield* Console.log(
          `tcp B <- ${IpAddress.format(conn.remoteAddress)}:${conn.remotePort}: "${text}"`,
        )
        if (text !== "hello world") return yield* Effect.fail(new Error(`server got "${text}"`))
        yield* conn.write(encoder.encode(`hello ${IpAddress.format(conn.remoteAddress)}, this is B`))
      }))
    const conn = yield* a.tcp.connect(b.address, 8080)
    yield* conn.write(encoder.encode("hello world"))
    yield* conn.closeWrite
    const reply = yield* readText(conn)
    yield* Console.log(`tcp A <- ${IpAddress.format(conn.remoteAddress)}:${conn.remotePort}: "${reply}"`)
    if (reply !== `hello ${Ipv4Address.format(a.address)}, this is B`) {
      return yield* Effect.fail(new Error(`unexpected TCP reply "${reply}"`))
    }
    const stats = yield* conn.stats
    yield* Console.log(
      `tcp ${stats.bytesWritten} bytes out, ${stats.bytesRead} in, ${stats.segmentsOut} segments sent, ` +
        `${stats.retransmits} retransmitted, rtt ${stats.srtt.toFixed(1)} ms`,
    )
  }),
).pipe(Effect.provide(Switch.layer({ mode: "learning" })))

// Awaiting the run at top level keeps the process alive while the stacks work (see effect-v4.md).
const exit = await Effect.runPromiseExit(program)
if (exit._tag === "Success") {
  console.log("connect: OK")
} else {
  console.error("connect: FAILED", exit.cause)
  process.exitCode = 1 // Bun and Deno 2 both provide `process`
}
