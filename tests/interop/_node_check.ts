/**
 * The Node side of `node.test.ts`: bundled for Node with `bun build --target=node`, then run by `node`. Node has no
 * FFI, so `Tap.open` must fail with `TapError` "Unsupported"; VXLAN needs only `node:dgram`, so two of our switches
 * joined by VXLAN over 127.0.0.1 must ping and echo UDP. Prints one line, `RESULT {json}`, and exits 0 (1 on a
 * failure it could not report).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { Backend } from "../../src/link/Backend.ts"
import { Tap } from "../../src/link/uplink/Tap.ts"
import { Vxlan } from "../../src/link/uplink/Vxlan.ts"
import { Stack } from "../../src/Stack.ts"

const program = Effect.gen(function* () {
  const tap = yield* Effect.flip(Effect.scoped(Tap.open({ name: "vnnode0" })))
  const vxlan = yield* Effect.scoped(Effect.gen(function* () {
    const b = yield* Vxlan.make({ vni: 7, address: "127.0.0.1", port: 0, macPrefix: "02:bb:00" })
    const a = yield* Vxlan.make({
      vni: 7,
      address: "127.0.0.1",
      port: 0,
      macPrefix: "02:aa:00",
      remotes: [{ address: "127.0.0.1", port: b.uplink.socket.local.port }],
    })
    yield* b.uplink.socket.addRemote({ address: "127.0.0.1", port: a.uplink.socket.local.port })
    const sa = yield* Stack.make({ cidr: "10.0.0.1/24", checksum: "all" }).pipe(
      Effect.provideService(Backend, a.backend),
    )
    const sb = yield* Stack.make({ cidr: "10.0.0.2/24", checksum: "all" }).pipe(
      Effect.provideService(Backend, b.backend),
    )
    const rtt = yield* sa.icmp.ping(sb.address, { timeout: "2 seconds" })
    yield* sb.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
    const socket = yield* sa.udp.bind(0)
    const sent = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff)
    yield* socket.send(sb.address, 7, sent)
    const echo = yield* socket.take.pipe(Effect.timeout("2 seconds"))
    return { rtt, echoed: echo.data.length === sent.length && echo.data.every((x, i) => x === sent[i]) }
  }))
  return { tapReason: tap.reason, tapMessage: tap.message, ...vxlan }
})

Effect.runPromise(program).then(
  (r) => {
    console.log(`RESULT ${JSON.stringify(r)}`)
  },
  (e) => {
    console.error(e)
    process.exitCode = 1
  },
)
