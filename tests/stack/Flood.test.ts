/**
 * Fairness under floods (issue 15): a raw switch port floods UDP datagrams at a stack's echo service (port 7) in
 * big synchronous bursts, each larger than the stack's receive queue, one burst per macrotask — faster than the stack
 * can answer them. The other services of the flooded stack must not starve:
 *
 * - a TCP client on another stack moves 1 MiB to a TCP echo server on the flooded stack and reads it back
 *   byte-exact, before the flood has sent a bounded number of bursts (on a shared FIFO the flood fills the queue
 *   before each TCP segment arrives and the connection never gets through);
 * - a UDP service on another port of the flooded stack receives every datagram sent to it between bursts, in order;
 * - the flood's losses are counted: the device's `rxDrops` and `rxFlowDrops`, the echo socket's `queueOverflows`;
 * - control: with `flowBuckets: 1` (one FIFO per port, the queue before fairness) the same flood starves the service.
 *
 * The bound is in flood bursts, not in time: a slow machine takes longer, not more bursts. Live clock (TCP's own
 * timers run in real time, but a transfer that is not starved never waits for one).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { Backend } from "../../src/link/Backend.ts"
import { Vnetif, type VnetifShape } from "../../src/link/Vnetif.ts"
import { Stack, type StackConfigInput, type StackHandle } from "../../src/Stack.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { fnv1a, randomBytes } from "../tcp/_service.ts"
import { arpFrame, ip, ipv4Frame, macrotask, parseArp, run, udpDatagram, withSwitch } from "../support/TestDevice.ts"

const FLOODER = ip("10.0.0.9")
/** Frames per burst: twice the default receive queue (4096 frames), so every burst overflows it. */
const BURST = 8192
/** Bursts the flood may send before the victims must be done; a fair switch needs a few dozen. */
const MAX_BURSTS = 1500

/**
 * A raw port that floods UDP datagrams at `target:7` from 256 source ports, answers ARP for its address and counts the
 * echoes it gets.
 */
interface Flooder {
  readonly device: VnetifShape
  /** Bursts sent so far. */
  readonly bursts: () => number
  /** Echo replies received. */
  readonly echoes: () => number
  /** Sends one burst of {@link BURST} datagrams, synchronously. */
  readonly burst: () => void
}

const flooder = (target: StackHandle): Effect.Effect<Flooder, never, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const device = yield* Effect.orDie(Vnetif.make())
    let echoes = 0
    let bursts = 0
    yield* Effect.forkScoped(device.listen((f) =>
      Effect.sync(() => {
        const a = parseArp(f)
        if (a === undefined) echoes++
        else if (a.operation === 1 && a.targetProtocolAddr === FLOODER) {
          device.transmit(arpFrame({
            op: 2,
            senderMac: device.mac,
            senderIp: FLOODER,
            targetMac: a.senderHardwareAddr,
            targetIp: a.senderProtocolAddr,
          }))
        }
      })
    ))
    yield* device.ready
    // 256 frames from as many source ports (hping3 increments its source port), each re-sent unchanged (allowed by
    // the ownership contract: nobody writes to a frame)
    const frames = Array.from({ length: 256 }, (_, i) =>
      ipv4Frame(target.mac, device.mac, {
        src: FLOODER,
        dst: target.address,
        protocol: 17,
        payload: udpDatagram(FLOODER, target.address, 20000 + i, 7, new Uint8Array(64)),
      }))
    return {
      device,
      bursts: () => bursts,
      echoes: () => echoes,
      burst: () => {
        for (let i = 0; i < BURST; i++) device.transmit(frames[i & 255])
        bursts++
      },
    }
  })

/** Two stacks on one switch: `server` (10.0.0.1, with `config`) runs a UDP echo on port 7, `client` (10.0.0.2). */
const stacks = (config: Partial<StackConfigInput> = {}) =>
  Effect.gen(function* () {
    const server = yield* Stack.make({ ...config, cidr: "10.0.0.1/24" })
    const client = yield* Stack.make({ cidr: "10.0.0.2/24" })
    yield* server.udp.listen(7, (d, socket) => Effect.ignore(socket.send(d.src, d.srcPort, d.data)))
    return { server, client }
  })

/** Floods (one burst per macrotask) until `done()` or {@link MAX_BURSTS}; the bursts it took. */
const floodUntil = (f: Flooder, done: () => boolean): Effect.Effect<number> =>
  Effect.gen(function* () {
    while (!done() && f.bursts() < MAX_BURSTS) {
      f.burst()
      yield* macrotask
    }
    return f.bursts()
  })

/** Resolves `dst` in `from`'s ARP cache before the flood starts (ARP is not what these tests are about). */
const warmArp = (from: StackHandle, dst: Ipv4Address) => Effect.orDie(from.ipv4.resolve(dst))

/** Datagrams sent to the other service, one after each burst. */
const N_OTHER = 200

/**
 * A server with a UDP echo on 7 (flooded) and a UDP sink on 9 that records the sequence numbers it gets; the client
 * sends datagram i to port 9 right after burst i (the server's queue is full then), then an end marker with no burst
 * before it (repeated until it is in), which arrives after every earlier port-9 datagram still queued.
 */
const otherServiceUnderFlood = (server: Partial<StackConfigInput>) =>
  Effect.gen(function* () {
    const { server: s, client } = yield* stacks(server)
    const flood = yield* flooder(s)
    const got: Array<number> = []
    let ended = false
    yield* s.udp.listen(9, (d) =>
      Effect.sync(() => {
        const n = (d.data[0] << 8) | d.data[1]
        if (n === 0xffff) ended = true
        else got.push(n)
      }))
    const sender = yield* client.udp.bind(0)
    yield* warmArp(client, s.address)
    for (let i = 0; i < N_OTHER; i++) {
      flood.burst() // the queue is full now
      yield* Effect.orDie(sender.send(s.address, 9, new Uint8Array([i >> 8, i & 0xff])))
      yield* macrotask
    }
    // the marker again each macrotask until it is in: the last burst may still fill a FIFO queue
    for (let i = 0; !ended; i++) {
      if (i === 5000) assert.fail("the end marker never reached port 9")
      yield* Effect.orDie(sender.send(s.address, 9, new Uint8Array([0xff, 0xff])))
      yield* macrotask
    }
    return { got, server: s }
  })

describe("Fairness under a UDP flood to the echo port", () => {
  it("a TCP client moves 1 MiB to and from a server on the flooded stack, byte-exact, within a bounded flood", {
    timeout: 60_000,
  }, () =>
    run(withSwitch(() =>
      Effect.gen(function* () {
        const { server, client } = yield* stacks()
        const flood = yield* flooder(server)
        yield* warmArp(client, server.address)
        const listener = yield* server.tcp.listen(5001)
        yield* Effect.forkScoped(Effect.gen(function* () {
          const conn = yield* listener.accept
          while (true) {
            const d = yield* conn.read
            if (d === undefined) break
            yield* conn.write(d.slice())
          }
          yield* conn.close
        }))
        const data = randomBytes(1 << 20, 15)
        let echoed = 0
        let hash = 0x811c9dc5
        let done = false
        const transfer = yield* Effect.forkChild(Effect.gen(function* () {
          const conn = yield* client.tcp.connect(server.address, 5001)
          yield* Effect.forkChild(Effect.gen(function* () {
            for (let off = 0; off < data.length; off += 65536) yield* conn.write(data.subarray(off, off + 65536))
            yield* conn.closeWrite
          }))
          while (true) {
            const d = yield* conn.read
            if (d === undefined) break
            hash = fnv1a(d, hash)
            echoed += d.length
          }
          yield* conn.close
          done = true
        }))
        const bursts = yield* floodUntil(flood, () => done)
        assert.ok(
          done,
          `TCP starved: after ${bursts} flood bursts of ${BURST} datagrams only ${echoed} of ${data.length} bytes echoed`,
        )
        yield* Fiber.join(transfer)
        assert.equal(echoed, data.length)
        assert.equal(hash, fnv1a(data), "echoed bytes differ")
        const dev = yield* server.vnetif.stats
        const udp = yield* server.udp.stats
        assert.ok(dev.rxDrops >= (BURST - 4096) * bursts, `every burst overflowed the queue (drops ${dev.rxDrops})`)
        assert.ok(dev.rxFlowDrops > 0, "the flood's drops while TCP was queued are counted as flow drops")
        assert.ok(dev.rxFlowDrops <= dev.rxDrops)
        assert.ok(udp.rxDelivered > 0 && udp.queueOverflows > 0, "the echo service was flooded too")
      })
    )))

  it(
    "a UDP service on another port gets every datagram sent between bursts, in order",
    { timeout: 60_000 },
    () =>
      run(withSwitch(() =>
        Effect.gen(function* () {
          const { got, server } = yield* otherServiceUnderFlood({})
          assert.deepEqual(got, Array.from({ length: N_OTHER }, (_, i) => i))
          const dev = yield* server.vnetif.stats
          assert.ok(dev.rxFlowDrops >= N_OTHER, `flood frames dropped for the port-9 datagrams (${dev.rxFlowDrops})`)
          assert.ok((yield* server.udp.stats).queueOverflows > 0, "the echo service was flooded too")
        })
      )),
  )

  it(
    "control: with flowBuckets 1 (one FIFO per port, the old queue) the same flood starves that service",
    { timeout: 60_000 },
    () =>
      run(withSwitch(() =>
        Effect.gen(function* () {
          const { got, server } = yield* otherServiceUnderFlood({ flowBuckets: 1 })
          assert.ok(got.length < N_OTHER / 2, `a FIFO lets ${got.length} of ${N_OTHER} through`)
          assert.equal((yield* server.vnetif.stats).rxFlowDrops, 0, "one FIFO: no flow drops")
        })
      )),
  )
})
