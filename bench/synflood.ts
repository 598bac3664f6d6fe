/**
 * SYN flood against one stack (SYN cookies, RFC 4987 §3.6): a raw switch port plays the attacker and the gateway and
 * sends SYNs from random spoofed sources to a server stack's listener on port 80 as fast as the server takes them
 * (bursts, then wait until the server has read the burst: no frame is lost on the switch), while a client stack
 * connects to the same port every 100 ms. Prints, for the runtime it runs on:
 *
 * - the SYN rate the server handled (SYNs read and answered per second, cookies and half-open counted),
 * - the client's connect latency during the flood (median, p99, max, failures) against a baseline without flood,
 * - the process's RSS before the flood, after it, and the listener's half-open queue and the connection table.
 *
 * Run: `npx bun bench/synflood.ts`, `npx deno run -A --v8-flags=--expose-gc bench/synflood.ts` (the flag lets the
 * script run a full GC before reading the RSS, as Bun does). Options: `--seconds N` (flood duration,
 * default 5), `--burst N` (SYNs per burst, default 512), `--mode auto|always|never` (the listener's SYN cookies,
 * default auto: with "never" the client is locked out, which is the point of comparison).
 *
 * @module
 */
import "../src/util/NoAsyncContext.ts"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Backend, type FrameListener } from "../src/link/Backend.ts"
import { Switch } from "../src/link/Switch.ts"
import { Vnetif } from "../src/link/Vnetif.ts"
import { Stack } from "../src/Stack.ts"
import type { SynCookieMode } from "../src/tcp/SynCookie.ts"
import { ArpRepr } from "../src/wire/Arp.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../src/wire/Checksum.ts"
import { EthernetRepr, EtherType } from "../src/wire/Ethernet.ts"
import { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Repr } from "../src/wire/Ipv4.ts"
import { MacAddress } from "../src/wire/MacAddress.ts"
import { TcpFlags, TcpRepr } from "../src/wire/Tcp.ts"

const argv: ReadonlyArray<string> = process.argv.slice(2)
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt
}
const seconds: number = Number(arg("seconds", "5"))
const burst: number = Number(arg("burst", "512"))
const mode: SynCookieMode = arg("mode", "auto") as SynCookieMode
const runtime: string = (globalThis as { Bun?: unknown }).Bun !== undefined
  ? "bun"
  : (globalThis as { Deno?: unknown }).Deno !== undefined
  ? "deno"
  : "node"

const GATEWAY = Ipv4Address.parse("10.0.0.1")!
const SERVER = Ipv4Address.parse("10.0.0.2")!
const POOL = 65_536

const MiB = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`
const rss = (): number => process.memoryUsage().rss
/** Runs a full garbage collection where the runtime offers one (Bun; Deno with `--v8-flags=--expose-gc`). */
const collect = (): boolean => {
  const g = globalThis as { Bun?: { gc: (force: boolean) => void }; gc?: () => void }
  if (g.Bun !== undefined) g.Bun.gc(true)
  else if (typeof g.gc === "function") g.gc()
  else return false
  return true
}

/** An Ethernet frame: `dst`, `src`, `etherType`, `payload`. */
const frame = (dst: MacAddress, src: MacAddress, etherType: number, payload: Uint8Array): Uint8Array => {
  const f = new Uint8Array(14 + payload.length)
  EthernetRepr.emit({ dstAddr: dst, srcAddr: src, etherType }, f)
  f.set(payload, 14)
  return f
}

/** A pool of SYN frames from random non-martian sources (xorshift32, seeded), each with its checksums. */
const synPool = (dstMac: MacAddress, srcMac: MacAddress): Array<Uint8Array> => {
  let x = 0x5eed
  const r = (): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
  const pool: Array<Uint8Array> = []
  for (let i = 0; i < POOL; i++) {
    let src = r()
    while ((src >>> 24) === 0 || (src >>> 24) === 10 || (src >>> 24) === 127 || (src >>> 24) >= 224) src = r()
    const tcp: TcpRepr = {
      srcPort: 1024 + (r() % 64512),
      dstPort: 80,
      seqNumber: r(),
      ackNumber: 0,
      flags: TcpFlags.SYN,
      windowLen: 64240,
      urgentPointer: 0,
      options: i % 2 === 0
        ? { mss: 1460, windowScale: 7, sackPermitted: true, sackBlocks: [], timestamps: { tsVal: r(), tsEcr: 0 } }
        : { mss: 1460, sackPermitted: false, sackBlocks: [] },
      payload: new Uint8Array(0),
    }
    const seg = new Uint8Array(TcpRepr.bufferLen(tcp))
    TcpRepr.emit(tcp, seg, pseudoHeaderSum(src as Ipv4Address, SERVER, 6, seg.length), ChecksumCapabilities.all)
    const ip = new Uint8Array(IPV4_HEADER_LEN + seg.length)
    Ipv4Repr.emit(
      {
        srcAddr: src as Ipv4Address,
        dstAddr: SERVER,
        protocol: IpProtocol.Tcp,
        payloadLen: seg.length,
        ttl: 64,
        identification: i & 0xffff,
        dontFragment: true,
        moreFragments: false,
        fragmentOffset: 0,
      },
      ip,
      ChecksumCapabilities.all,
    )
    ip.set(seg, IPV4_HEADER_LEN)
    pool.push(frame(dstMac, srcMac, EtherType.Ipv4, ip))
  }
  return pool
}

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const latencyLine = (xs: ReadonlyArray<number>, failures: number): string =>
  `median ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms, max ${
    Math.max(...xs, 0).toFixed(2)
  } ms over ${xs.length} connects, ${failures} failed`

const program = Effect.gen(function* () {
  const sw = yield* Switch.make()
  const provide = Effect.provideService(Backend, sw)
  const atk = yield* provide(Vnetif.make())
  let synAcks = 0
  const onFrame: FrameListener = (f) =>
    Effect.sync(() => {
      const type = (f[12] << 8) | f[13]
      if (type === EtherType.Arp && f[21] === 1 && Ipv4Address.read(f, 38) === GATEWAY) {
        const reply = new Uint8Array(28)
        ArpRepr.emit({
          operation: 2,
          senderHardwareAddr: atk.mac,
          senderProtocolAddr: GATEWAY,
          targetHardwareAddr: MacAddress.read(f, 22),
          targetProtocolAddr: Ipv4Address.read(f, 28),
        }, reply)
        atk.transmit(frame(MacAddress.read(f, 6), atk.mac, EtherType.Arp, reply))
      } else if (type === EtherType.Ipv4 && f[23] === IpProtocol.Tcp) synAcks++
    })
  yield* Effect.forkScoped(atk.listen(onFrame))
  yield* atk.ready
  const server = yield* provide(
    Stack.make({ cidr: "10.0.0.2/24", gateway: "10.0.0.1", arp: { announce: false }, tcp: { synCookies: mode } }),
  )
  const client = yield* provide(Stack.make({ cidr: "10.0.0.3/24", arp: { announce: false } }))
  const listener = yield* server.tcp.serve(80, () => Effect.void)

  const connectOnce = Effect.scoped(Effect.gen(function* () {
    const t = performance.now()
    yield* client.tcp.connect(SERVER, 80, { timeout: "3 seconds" })
    return performance.now() - t
  }))
  const connectLoop = (until: () => boolean) =>
    Effect.gen(function* () {
      const latencies: Array<number> = []
      let failures = 0
      while (!until()) {
        const r = yield* Effect.result(connectOnce)
        if (r._tag === "Success") latencies.push(r.success)
        else failures++
        yield* Effect.sleep("100 millis")
      }
      return { latencies, failures }
    })

  // baseline: 20 connects without a flood
  let n = 0
  const base = yield* connectLoop(() => n++ >= 20)
  const pool = synPool(server.mac, atk.mac)
  collect()
  const rss0 = rss()
  const samples: Array<number> = []

  // the flood
  let sent = 0
  let over = false
  const readBase = (yield* server.tcp.stats).segmentsIn
  const t0 = performance.now()
  const clients = yield* Effect.forkChild(connectLoop(() => over))
  while (performance.now() - t0 < seconds * 1000) {
    if (performance.now() - t0 >= (samples.length + 1) * 1000) samples.push(rss())
    for (let i = 0; i < burst; i++) {
      // the pool's frames are never changed after their first send (the switch's ownership contract)
      atk.transmit(pool[(sent + i) % POOL])
    }
    sent += burst
    // wait until the server has read the burst (its receive queue is bounded), letting the other fibers run
    for (let k = 0; (yield* server.tcp.stats).segmentsIn - readBase < sent - burst / 2; k++) {
      if (k % 64 === 63) yield* Effect.sleep("0 millis")
      else yield* Effect.yieldNow
    }
  }
  const elapsed = (performance.now() - t0) / 1000
  over = true
  const during = yield* Fiber.join(clients)
  const handled = (yield* server.tcp.stats).segmentsIn - readBase
  const ls = yield* listener.stats
  const ts = yield* server.tcp.stats
  const rss1 = rss()
  const collected = collect()
  const rss2 = rss()

  console.log(`synflood (${runtime}, synCookies "${mode}", ${seconds} s, bursts of ${burst}):`)
  console.log(
    `  SYNs handled: ${handled} in ${elapsed.toFixed(2)} s = ${(handled / elapsed / 1000).toFixed(1)} k SYN/s ` +
      `(${ls.synCookiesSent} cookies, ${ls.synsAccepted} half-open, ${ls.synsDropped} dropped; ` +
      `${synAcks} SYN-ACKs reached the gateway)`,
  )
  console.log(`  connect latency without flood: ${latencyLine(base.latencies, base.failures)}`)
  console.log(`  connect latency during flood:  ${latencyLine(during.latencies, during.failures)}`)
  const gc = collected ? `, ${MiB(rss2)} after a full GC` : " (no GC: run deno with --v8-flags=--expose-gc)"
  console.log(
    `  RSS: ${MiB(rss0)} before the flood (SYN pool built); ${samples.map(MiB).join(", ")} after each second; ` +
      `${MiB(rss1)} at the end${gc}`,
  )
  console.log(`  state after the flood: half-open ${ls.halfOpen}, connections in the table ${ts.connections}`)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
