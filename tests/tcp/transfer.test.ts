/**
 * Two pure TCBs wired back to back through an in-memory link that loses, duplicates, delays and reorders segments,
 * driven by a simulated clock. The bytes received must equal the bytes sent, and both ends must reach CLOSED.
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import fc from "fast-check"
import { Listener } from "../../src/tcp/Listener.ts"
import type { TcpRepr } from "../../src/tcp/Segment.ts"
import { Tcb, type TcbConfig } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"

/** xorshift32 PRNG: deterministic from the seed. */
const prng = (seed: number): () => number => {
  let x = (seed | 0) || 0x9e3779b9
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x100000000
  }
}

interface Impairment {
  readonly loss: number
  readonly dup: number
  readonly minDelay: number
  readonly jitter: number
}

interface InFlight {
  readonly at: number
  readonly toB: boolean
  readonly seg: TcpRepr
}

interface Result {
  readonly received: Uint8Array
  readonly aState: string
  readonly bState: string
  readonly time: number
  readonly retransmits: number
}

const copySeg = (s: TcpRepr): TcpRepr => ({ ...s, payload: s.payload.slice() })

/** Transfer `data` from A to B (A closes after writing, B closes after reading EOF). */
const simulate = (data: Uint8Array, seed: number, imp: Impairment, config: TcbConfig): Result => {
  const rnd = prng(seed)
  const rand32 = () => Math.floor(rnd() * 0x100000000) >>> 0
  const a = Tcb.connect({ localPort: 40000, remotePort: 80, iss: rand32(), tsOffset: rand32(), config }, 0)
  const listener = new Listener(80, rand32, { backlog: 8, tcb: config })
  let b: Tcb | undefined
  const link: InFlight[] = []
  const received: number[] = []
  let written = 0
  let aClosed = false
  let bClosed = false
  let now = 0
  let retransmits = 0
  let spins = 0
  const transmit = (segs: TcpRepr[], toB: boolean) => {
    for (const s of segs) {
      if (rnd() < imp.loss) continue
      const copies = rnd() < imp.dup ? 2 : 1
      for (let c = 0; c < copies; c++) {
        link.push({ at: now + imp.minDelay + Math.floor(rnd() * imp.jitter), toB, seg: copySeg(s) })
      }
    }
  }
  const limit = 600_000
  while (now < limit) {
    // deliver due segments (in arrival-time order; equal times keep send order)
    link.sort((x, y) => x.at - y.at)
    while (link.length > 0 && link[0].at <= now) {
      const p = link.shift()!
      if (p.toB) {
        if (b !== undefined && b.state !== "CLOSED") b.input(p.seg, now)
        else {
          const r = listener.input(p.seg, now)
          if (r._tag === "Created" && b === undefined) b = r.tcb
          else if (r._tag === "Reply") transmit([r.segment], false)
        }
      } else if (a.state !== "CLOSED") a.input(p.seg, now)
    }
    // applications
    if (a.state === "ESTABLISHED" || a.state === "CLOSE-WAIT") {
      while (written < data.length) {
        const n = a.write(data.subarray(written, Math.min(data.length, written + 4096)))
        if (n <= 0) break
        written += n
      }
      if (written === data.length && !aClosed) {
        a.close()
        aClosed = true
      }
    }
    if (b !== undefined) {
      for (;;) {
        const chunk = b.read(3000)
        if (chunk === null) {
          if (!bClosed) {
            b.close()
            bClosed = true
          }
          break
        }
        if (chunk.length === 0) break
        for (const x of chunk) received.push(x)
      }
    }
    a.takeSignals()
    b?.takeSignals()
    transmit(a.poll(now), true)
    if (b !== undefined) transmit(b.poll(now), false)
    if (a.state === "CLOSED" && (b === undefined || b.state === "CLOSED") && link.length === 0) break
    // next event time
    let next = Infinity
    for (const p of link) next = Math.min(next, p.at)
    const da = a.nextDeadline()
    if (da !== undefined) next = Math.min(next, da)
    const db = b?.nextDeadline()
    if (db !== undefined) next = Math.min(next, db)
    if (a.wantsPoll || (b !== undefined && b.wantsPoll)) next = now
    if (next === Infinity) break
    if (next > now) {
      now = next
      spins = 0
    } else if (++spins > 3) {
      now += 1 // a deadline at or before now that poll did not consume: move on rather than spin
      spins = 0
    }
  }
  retransmits = a.stats.retransmits + (b?.stats.retransmits ?? 0)
  return {
    received: Uint8Array.from(received),
    aState: a.state,
    bState: b?.state ?? "none",
    time: now,
    retransmits,
  }
}

const cfg = (over: Partial<TcbConfig> = {}): TcbConfig =>
  makeTcbConfig({ mss: 536, sendBufferSize: 16384, recvBufferSize: 16384, ...over })

const randomData = (n: number, seed: number): Uint8Array => {
  const r = prng(seed ^ 0x5bd1e995)
  const d = new Uint8Array(n)
  for (let i = 0; i < n; i++) d[i] = Math.floor(r() * 256)
  return d
}

describe("back-to-back transfer through an impaired link", () => {
  it("clean link, all options", () => {
    const data = randomData(200_000, 1)
    const r = simulate(data, 1, { loss: 0, dup: 0, minDelay: 1, jitter: 0 }, cfg())
    assert.equal(r.received.length, data.length)
    assert.deepEqual(r.received, data)
    assert.equal(r.aState, "CLOSED")
    assert.equal(r.bState, "CLOSED")
    assert.equal(r.retransmits, 0)
  })

  for (
    const [name, over] of [
      ["SACK + timestamps + window scaling", {}],
      ["plain RFC 9293 (no options)", { sack: false, timestamps: false, windowScaling: false }],
      ["SACK without timestamps, CUBIC", { timestamps: false, congestion: "cubic" as const }],
      ["no SACK, timestamps, Nagle off, delayed ACK 200", { sack: false, noDelay: true, delayedAckMs: 200 }],
    ] as const
  ) {
    it(`lossy/reordering/duplicating link: ${name}`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 1, max: 60_000 }), (seed, size) => {
          const r0 = prng(seed)
          const imp: Impairment = {
            loss: r0() * 0.12,
            dup: r0() * 0.05,
            minDelay: 1 + Math.floor(r0() * 5),
            jitter: Math.floor(r0() * 10),
          }
          const data = randomData(size, seed)
          const r = simulate(data, seed, imp, cfg(over))
          assert.equal(r.received.length, data.length, `length (impairment ${JSON.stringify(imp)})`)
          assert.deepEqual(r.received, data)
          assert.equal(r.aState, "CLOSED")
          assert.equal(r.bState, "CLOSED")
        }),
        { numRuns: 12, seed: 42 },
      )
    })
  }
})
