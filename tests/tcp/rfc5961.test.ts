/**
 * RFC 5961 over the switch: a raw test port on a hub sees the connection between two stacks and injects blind
 * segments spoofed from one end — a RST in the window but not exact (challenge ACK, connection kept), a RST out of
 * the window (dropped silently), a SYN in the window (challenge ACK), data with an unacceptable ACK (challenge ACK,
 * data not delivered), the challenge-ACK rate limit, and finally an exact RST (the connection is reset: the crafted
 * segments really reach the TCB).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import { Backend } from "../../src/link/Backend.ts"
import { Switch } from "../../src/link/Switch.ts"
import type { MacAddress } from "../../src/wire/MacAddress.ts"
import { ChecksumCapabilities, pseudoHeaderSum } from "../../src/wire/Checksum.ts"
import { IpProtocol } from "../../src/wire/Ipv4.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { TcpFlags, TcpPacket, TcpRepr } from "../../src/wire/Tcp.ts"
import { ipv4Frame, parseIpv4, pollUntil, rawPort, run } from "../support/TestDevice.ts"
import { node } from "./_service.ts"

const { SYN, RST, ACK, PSH } = TcpFlags
const enc = new TextEncoder()
const dec = new TextDecoder()

/** The TCP segment of a frame (any checksum), or undefined. */
const parseTcp = (f: Uint8Array): { src: number; dst: number; seg: TcpRepr } | undefined => {
  const p = parseIpv4(f)
  if (p === undefined || p.repr.protocol !== IpProtocol.Tcp) return undefined
  const t = TcpPacket.parse(p.payload)
  if (Result.isFailure(t)) return undefined
  const ph = pseudoHeaderSum(p.repr.srcAddr, p.repr.dstAddr, 6, t.success.buffer.length)
  const r = TcpRepr.parse(t.success, ph, ChecksumCapabilities.offload)
  return Result.isSuccess(r) ? { src: p.repr.srcAddr, dst: p.repr.dstAddr, seg: r.success } : undefined
}

/** A frame carrying a TCP segment (checksums right). */
const tcpFrame = (
  dstMac: MacAddress,
  srcMac: MacAddress,
  src: Ipv4Address,
  dst: Ipv4Address,
  seg: Partial<TcpRepr> & Pick<TcpRepr, "srcPort" | "dstPort" | "seqNumber" | "flags">,
): Uint8Array => {
  const repr: TcpRepr = {
    ackNumber: 0,
    windowLen: 65535,
    urgentPointer: 0,
    options: { sackPermitted: false, sackBlocks: [] },
    payload: new Uint8Array(0),
    ...seg,
  }
  const b = new Uint8Array(TcpRepr.bufferLen(repr))
  TcpRepr.emit(repr, b, pseudoHeaderSum(src, dst, 6, b.length), ChecksumCapabilities.all)
  return ipv4Frame(dstMac, srcMac, { src, dst, protocol: IpProtocol.Tcp, payload: b })
}

/** A's RCV.NXT and SND.NXT as seen on the hub: the end of the last segment B → A and A → B. */
const sequenceEnds = (
  frames: ReadonlyArray<Uint8Array>,
  bAddr: Ipv4Address,
  aAddr: Ipv4Address,
): { rcvNxt: number; sndNxt: number } => {
  let bToA = -1
  let aToB = -1
  for (const f of frames) {
    const t = parseTcp(f)
    if (t === undefined) continue
    const len = t.seg.payload.length + (t.seg.flags & SYN ? 1 : 0)
    const end = (t.seg.seqNumber + len) >>> 0
    if (t.src === bAddr && t.dst === aAddr) bToA = end
    if (t.src === aAddr && t.dst === bAddr) aToB = end
  }
  return { rcvNxt: bToA, sndNxt: aToB }
}

describe("Tcp: RFC 5961 against blind segments from a raw port", () => {
  it("challenge ACKs for blind RST / SYN / bad-ACK data; exact RST resets", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make({ mode: "hub" })
      yield* Effect.provideService(
        Effect.gen(function* () {
          const tcp = { delayedAck: 0, challengeAckLimit: 1000 }
          const a = yield* node("10.0.0.1/24", { tcp })
          const b = yield* node("10.0.0.2/24", { tcp })
          const raw = yield* rawPort()
          const listener = yield* a.tcp.listen(80)
          const cb = yield* b.tcp.connect(a.address, 80)
          const ca = yield* listener.accept
          yield* cb.write(enc.encode("abc"))
          assert.equal(dec.decode(yield* ca.read), "abc")
          yield* ca.write(enc.encode("xyz"))
          assert.equal(dec.decode(yield* cb.read), "xyz")
          // wait until the exchange is over (A's ACK of nothing more, B's ACK of "xyz" seen on the hub)
          const ends = () => sequenceEnds(raw.frames, b.address, a.address)
          yield* raw.next((f) => {
            const t = parseTcp(f)
            return t !== undefined && t.src === b.address && (t.seg.flags & ACK) !== 0 &&
              t.seg.payload.length === 0 && t.seg.ackNumber === ends().sndNxt
          }, "B acknowledges xyz")
          const { rcvNxt, sndNxt } = ends()
          const inject = (seg: Partial<TcpRepr> & Pick<TcpRepr, "seqNumber" | "flags">) =>
            raw.send(tcpFrame(a.stack.mac, raw.mac, b.address, a.address, {
              srcPort: cb.localPort,
              dstPort: 80,
              ...seg,
            }))
          const isChallenge = (f: Uint8Array) => {
            const t = parseTcp(f)
            return t !== undefined && t.src === a.address && t.dst === b.address && t.seg.flags === ACK &&
              t.seg.ackNumber === rcvNxt && t.seg.seqNumber === sndNxt && t.seg.payload.length === 0
          }
          const challenges = () => Effect.map(ca.stats, (s) => s.challengeAcks)

          // 1. RST inside the window but not at RCV.NXT → challenge ACK, connection kept (§3.2)
          yield* inject({ seqNumber: (rcvNxt + 1000) >>> 0, flags: RST })
          yield* raw.next(isChallenge, "challenge ACK for the blind RST")
          assert.equal(yield* challenges(), 1)
          assert.equal(yield* ca.state, "ESTABLISHED")

          // 2. RST outside the window → dropped without an answer
          const dropped0 = (yield* ca.stats).droppedIn
          yield* inject({ seqNumber: (rcvNxt + 50_000_000) >>> 0, flags: RST })
          yield* pollUntil(ca.stats, (s) => s.droppedIn === dropped0 + 1, "out-of-window RST dropped")
          assert.equal(yield* challenges(), 1)

          // 3. SYN inside the window → challenge ACK (§4)
          yield* inject({ seqNumber: (rcvNxt + 10) >>> 0, flags: SYN })
          yield* raw.next(isChallenge, "challenge ACK for the blind SYN")
          assert.equal(yield* challenges(), 2)
          assert.equal(yield* ca.state, "ESTABLISHED")

          // 4. data at RCV.NXT whose ACK is far behind SND.UNA − MAX.SND.WND → challenge ACK, data dropped (§5)
          yield* inject({
            seqNumber: rcvNxt,
            ackNumber: (sndNxt - 0x40000000) >>> 0,
            flags: ACK | PSH,
            payload: enc.encode("EVIL"),
          })
          yield* raw.next(isChallenge, "challenge ACK for data with an old ACK")
          assert.equal(yield* challenges(), 3)
          yield* cb.write(enc.encode("good"))
          assert.equal(dec.decode(yield* ca.read), "good", "the injected bytes were not delivered")

          // 5. the exact RST (what a blind attacker cannot guess) does reset the connection
          const { rcvNxt: now } = ends()
          yield* inject({ seqNumber: now, flags: RST })
          const exit = yield* Effect.exit(ca.read)
          assert.ok(Exit.isFailure(exit))
          assert.match(String(exit.cause), /reset by the peer/)
        }),
        Backend,
        sw,
      )
    })))

  it("challenge ACKs are rate-limited per connection (§7)", () =>
    run(Effect.gen(function* () {
      const sw = yield* Switch.make({ mode: "hub" })
      yield* Effect.provideService(
        Effect.gen(function* () {
          const a = yield* node("10.0.0.1/24", { tcp: { challengeAckLimit: 3 } })
          const b = yield* node("10.0.0.2/24")
          const raw = yield* rawPort()
          const listener = yield* a.tcp.listen(80)
          const cb = yield* b.tcp.connect(a.address, 80)
          const ca = yield* listener.accept
          yield* cb.write(enc.encode("abc"))
          assert.equal(dec.decode(yield* ca.read), "abc")
          const segsIn = (yield* ca.stats).segmentsIn
          const { rcvNxt } = sequenceEnds(raw.frames, b.address, a.address)
          // in-window SYNs: each would get a challenge ACK; none resets
          for (let i = 0; i < 10; i++) {
            yield* raw.send(tcpFrame(a.stack.mac, raw.mac, b.address, a.address, {
              srcPort: cb.localPort,
              dstPort: 80,
              seqNumber: (rcvNxt + 100 + i) >>> 0,
              flags: SYN,
            }))
          }
          yield* pollUntil(ca.stats, (s) => s.segmentsIn >= segsIn + 10, "10 SYNs processed")
          const s = yield* ca.stats
          assert.equal(s.challengeAcks, 3)
          assert.equal(yield* ca.state, "ESTABLISHED")
          yield* cb.write(enc.encode("still"))
          assert.equal(dec.decode(yield* ca.read), "still")
        }),
        Backend,
        sw,
      )
    })))
})
