/**
 * SYN floods at the stack level (issue 15: "SYN floods must not lock out real clients"), under TestClock: a raw
 * switch port plays the attacker and the gateway (it answers ARP for the gateway and counts the SYN-ACKs the server
 * sends to the spoofed sources), a server stack listens on port 80 with the default configuration (backlog 128,
 * SYN cookies "auto"), and a second stack is a real client.
 *
 * - A flood of 100 000 half-open SYNs from random spoofed, non-martian sources, injected in batches, while the client
 *   connects and moves 1 MiB each way byte-exact (an echo). The listener's state stays bounded throughout (half-open
 *   queue at most its limit, connection table at most that plus the client), the client's connection is created from
 *   a cookie, and every SYN beyond the half-open limit is answered with a cookie SYN-ACK.
 * - The burst: 128 uncompleted SYNs fill the half-open queue, and a client connecting at once gets in.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import type { Backend, FrameListener } from "../../src/link/Backend.ts"
import { Vnetif } from "../../src/link/Vnetif.ts"
import { Stack, type StackHandle } from "../../src/Stack.ts"
import type { TcpConnection, TcpListener } from "../../src/tcp/Tcp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import type { MacAddress } from "../../src/wire/MacAddress.ts"
import { TcpFlags, TcpRepr } from "../../src/wire/Tcp.ts"
import {
  arpFrame,
  assertBytes,
  ip,
  ipv4Frame,
  parseArp,
  pattern,
  pollUntil,
  runTest,
  withSwitch,
} from "../support/TestDevice.ts"

const GATEWAY = ip("10.0.0.1")
const SERVER = { cidr: "10.0.0.2/24", gateway: "10.0.0.1", arp: { announce: false } } as const
const CLIENT = { cidr: "10.0.0.3/24", gateway: "10.0.0.1", arp: { announce: false } } as const
const HALF_OPEN_LIMIT = 128 // the default backlog

/** A small seeded generator (xorshift32), so a failing flood replays exactly. */
const xorshift = (seed: number) => {
  let x = seed >>> 0 || 1
  return (): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

/** A random unicast source no stack would call martian: not 0/8, 10/8 (our net), 127/8, multicast or class E. */
const spoofedSource = (next: () => number): Ipv4Address => {
  for (;;) {
    const a = next()
    const top = a >>> 24
    if (top !== 0 && top !== 10 && top !== 127 && top < 224) return a as Ipv4Address
  }
}

/**
 * A SYN frame from `src` (port `srcPort`, else a random one) to the server's port 80; half of them with the options
 * of a Linux client.
 */
const synFrame = (
  dstMac: MacAddress,
  srcMac: MacAddress,
  src: Ipv4Address,
  dst: Ipv4Address,
  r: () => number,
  srcPort?: number,
) => {
  const withTs = (r() & 1) === 1
  const repr: TcpRepr = {
    srcPort: srcPort ?? 1024 + (r() % 64512),
    dstPort: 80,
    seqNumber: r(),
    ackNumber: 0,
    flags: TcpFlags.SYN,
    windowLen: 64240,
    urgentPointer: 0,
    options: withTs
      ? { mss: 1460, windowScale: 7, sackPermitted: true, sackBlocks: [], timestamps: { tsVal: r(), tsEcr: 0 } }
      : { mss: 1460, sackPermitted: false, sackBlocks: [] },
    payload: new Uint8Array(0),
  }
  const b = new Uint8Array(TcpRepr.bufferLen(repr))
  TcpRepr.emit(repr, b, pseudoHeaderSum(src, dst, IpProtocol.Tcp, b.length), ChecksumCapabilities.all)
  return ipv4Frame(dstMac, srcMac, { src, dst, protocol: IpProtocol.Tcp, payload: b })
}

/** The attacker's port on the switch, which is also the gateway: answers ARP for it, counts SYN-ACKs sent to it. */
interface Attacker {
  readonly mac: MacAddress
  /** Sends one frame (ownership passes to the switch). */
  readonly send: (frame: Uint8Array) => void
  /** SYN-ACKs received (answers to the spoofed SYNs, through the gateway). */
  readonly synAcks: () => number
}

const attacker: Effect.Effect<Attacker, never, Backend | Scope.Scope> = Effect.gen(function* () {
  const device = yield* Effect.orDie(Vnetif.make())
  let synAcks = 0
  const listener: FrameListener = (f) =>
    Effect.sync(() => {
      const etherType = (f[12] << 8) | f[13]
      if (etherType === 0x0806) {
        const a = parseArp(f)
        if (a !== undefined && a.operation === 1 && a.targetProtocolAddr === GATEWAY) {
          device.transmit(arpFrame({
            op: 2,
            senderMac: device.mac,
            senderIp: GATEWAY,
            targetMac: a.senderHardwareAddr,
            targetIp: a.senderProtocolAddr,
          }))
        }
      } else if (etherType === 0x0800 && f[23] === IpProtocol.Tcp) {
        const tcp = 14 + (f[14] & 0x0f) * 4
        if ((f[tcp + 13] & (TcpFlags.SYN | TcpFlags.ACK)) === (TcpFlags.SYN | TcpFlags.ACK)) synAcks++
      }
    })
  yield* Effect.forkScoped(device.listen(listener))
  yield* device.ready
  return {
    mac: device.mac,
    send: (frame) => {
      if (device.transmit(frame) !== undefined) throw new Error("the switch refused an injected frame")
    },
    synAcks: () => synAcks,
  }
})

/** Echo: everything read is written back; closes at the end of the stream. */
const echo = (conn: TcpConnection) =>
  Effect.gen(function* () {
    for (;;) {
      const d = yield* conn.read
      if (d === undefined) return
      yield* conn.write(d)
    }
  })

/** The client: connects, sends `data`, reads it back, closes; returns what came back. */
const client = (c: StackHandle, server: Ipv4Address, data: Uint8Array) =>
  Effect.scoped(Effect.gen(function* () {
    const conn = yield* c.tcp.connect(server, 80, { timeout: "5 seconds" })
    const writer = yield* Effect.forkChild(Effect.andThen(conn.write(data), conn.closeWrite))
    const back = new Uint8Array(data.length)
    let n = 0
    for (;;) {
      const d = yield* conn.read
      if (d === undefined) break
      assert.ok(n + d.length <= back.length, "no more bytes than were sent")
      back.set(d, n)
      n += d.length
    }
    yield* Fiber.join(writer)
    assert.equal(n, data.length, "bytes echoed")
    return back
  }))

/** Lets virtual time pass in `steps` steps of `ms`, with the fibers running in between. */
const advance = (ms: number) =>
  Effect.gen(function* () {
    yield* TestClock.adjust(`${ms} millis`)
    yield* Effect.yieldNow
  })

const listenerStats = (l: TcpListener) => l.stats

describe("Stack: SYN floods do not lock out real clients (SYN cookies, RFC 4987 §3.6)", () => {
  it(
    "100 000 spoofed half-open SYNs while a real client connects and moves 1 MiB each way byte-exact",
    { timeout: 240_000 },
    () =>
      runTest(withSwitch(() =>
        Effect.gen(function* () {
          const TOTAL = 100_000
          const BATCH = 2_000
          const atk = yield* attacker
          const s = yield* Stack.make(SERVER)
          const c = yield* Stack.make(CLIENT)
          const listener = yield* s.tcp.serve(80, echo)
          const r = xorshift(0x5eed)
          const data = pattern(1 << 20, 42)

          let injected = 0
          const flood = (n: number) =>
            Effect.gen(function* () {
              for (let i = 0; i < n; i++) atk.send(synFrame(s.mac, atk.mac, spoofedSource(r), s.address, r))
              injected += n
              const target = injected
              // the server has taken every SYN of the batch (its receive queue is bounded: do not overrun it)
              yield* pollUntil(s.tcp.stats, (t) => t.segmentsIn >= target, `the server received ${target} SYNs`, 60_000)
              const ls = yield* listenerStats(listener)
              const ts = yield* s.tcp.stats
              assert.ok(ls.halfOpen <= HALF_OPEN_LIMIT, `half-open ${ls.halfOpen} ≤ ${HALF_OPEN_LIMIT}`)
              assert.ok(ts.connections <= HALF_OPEN_LIMIT + 1, `connections ${ts.connections} ≤ ${HALF_OPEN_LIMIT + 1}`)
            })

          yield* flood(BATCH)
          assert.equal(
            (yield* listenerStats(listener)).halfOpen,
            HALF_OPEN_LIMIT,
            "the flood filled the half-open queue",
          )
          let done = false
          const running = yield* Effect.forkChild(
            Effect.ensuring(client(c, s.address, data), Effect.sync(() => (done = true))),
          )
          // the flood goes on, 10 ms of virtual time per batch, until the 100 000 are in and the client is done
          let batchesDuringTransfer = 0
          while (injected < TOTAL || !done) {
            if (injected >= 3 * TOTAL) break
            if (!done) batchesDuringTransfer++
            yield* flood(BATCH)
            yield* advance(10)
          }
          const back = yield* Fiber.join(running)
          assertBytes(back, data, "the client's 1 MiB, echoed")
          assert.ok(batchesDuringTransfer >= 2, "the transfer ran during the flood")

          const ls = yield* listenerStats(listener)
          const spoofed = injected
          assert.equal(ls.synsAccepted, HALF_OPEN_LIMIT, "only the first SYNs got state")
          assert.equal(
            ls.synCookiesSent,
            spoofed - HALF_OPEN_LIMIT + 1,
            "every other SYN got a cookie, the client's too",
          )
          assert.equal(ls.synCookiesOk, 1, "the client's connection came from its cookie")
          assert.equal(ls.synCookiesFailed, 0)
          assert.equal(ls.synsDropped, 0)
          assert.equal(ls.accepted, 1)
          assert.ok(ls.halfOpen <= HALF_OPEN_LIMIT)
          // every SYN was answered: a SYN-ACK each, sent without error, out through the gateway
          const ts = yield* s.tcp.stats
          assert.ok(ts.segmentsOut >= ls.synCookiesSent + ls.synsAccepted, "a SYN-ACK for every SYN")
          assert.equal(ts.txErrors, 0)
          assert.ok(atk.synAcks() > spoofed / 2, `${atk.synAcks()} SYN-ACKs reached the gateway`)
          console.log(
            `[synflood] ${spoofed} spoofed SYNs: ${ls.synCookiesSent} cookies, ${ls.synsAccepted} half-open, ` +
              `client 1 MiB echoed during ${batchesDuringTransfer} batches of ${BATCH}`,
          )
        })
      )),
  )

  it("the issue's burst: 128 uncompleted SYNs, and a client connecting at once gets in", () =>
    runTest(withSwitch(() =>
      Effect.gen(function* () {
        const atk = yield* attacker
        const s = yield* Stack.make(SERVER)
        const c = yield* Stack.make(CLIENT)
        const listener = yield* s.tcp.serve(80, echo)
        const r = xorshift(128)
        const source = spoofedSource(r)
        for (let i = 0; i < 128; i++) atk.send(synFrame(s.mac, atk.mac, source, s.address, r, 2000 + i))
        yield* pollUntil(listenerStats(listener), (x) => x.halfOpen === 128, "128 half-open connections")
        // at once: no time passes, so none of the 128 has timed out
        const data = pattern(64 * 1024, 9)
        const running = yield* Effect.forkChild(client(c, s.address, data))
        for (let i = 0; i < 200 && running.pollUnsafe() === undefined; i++) yield* advance(10)
        const back = yield* Fiber.join(running)
        assertBytes(back, data, "echoed")
        const ls = yield* listenerStats(listener)
        assert.equal(ls.synCookiesOk, 1)
        assert.equal(ls.halfOpen, 128, "the burst's connections are still half-open: the client did not wait them out")
      })
    )))
})
