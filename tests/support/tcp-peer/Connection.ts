/**
 * The peer's side of one scripted TCP connection: its sequence state (ISS/IRS, SND.NXT, SND.UNA, RCV.NXT, windows and
 * negotiated options), `send` filling unset fields from that state, and `expect`, `expectData`, `write`, `close`.
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { TcpFlags, type TcpRepr, type TcpTimestamps } from "../../../src/wire/Tcp.ts"
import {
  flagsOf,
  fmtSeq,
  type Frame,
  ms,
  resolveSeq,
  segLen,
  seqAdd,
  seqGt,
  type SeqLabel,
  seqLe,
  seqSub,
  toBytes,
} from "./Basics.ts"
import { describeWith, firstDifference, preview } from "./Match.ts"
import type { Peer } from "./Peer.ts"
import {
  type ExpectOptions,
  type Rel,
  type Segment,
  type SegmentMatch,
  type SendSpec,
  type SeqSpec,
  type TcpPeerConnection,
  TcpPeerError,
} from "./Types.ts"

const { FIN, SYN, RST, PSH, ACK } = TcpFlags

export class Conn implements TcpPeerConnection {
  irs: number | undefined = undefined
  sndNxt: number
  sndUna: number
  rcvNxt = 0
  remoteWindow = 0
  remoteMss = 536
  sackOk = false
  timestampsOk = false
  windowShift: { remote: number; local: number } = { remote: 0, local: 0 }
  tsRecent = 0
  private ourSyn: TcpRepr["options"] | undefined
  private theirSyn: TcpRepr["options"] | undefined

  constructor(
    readonly peer: Peer,
    readonly localPort: number,
    readonly remotePort: number,
    readonly iss: number,
    readonly window: number,
  ) {
    this.sndNxt = iss
    this.sndUna = iss
  }

  frame(dir: "in" | "out"): Frame {
    const ours: SeqLabel = { isn: this.iss, name: "ISS" }
    const theirs: SeqLabel = { isn: this.irs, name: "IRS" }
    return dir === "in" ? { seq: theirs, ack: ours } : { seq: ours, ack: theirs }
  }

  readonly seq = (n: number): number => seqAdd(this.iss, n)

  readonly remoteSeq = (n: number): number => {
    if (this.irs === undefined) throw new Error("TcpPeer: remoteSeq before the stack's SYN was seen")
    return seqAdd(this.irs, n)
  }

  readonly describe = (segment: TcpRepr, direction: "in" | "out"): string =>
    describeWith(segment, this.frame(direction))

  private belongs = (s: Segment): boolean =>
    s.srcPort === this.remotePort && s.dstPort === this.localPort && s.srcAddr === this.peer.remoteAddress

  private negotiate(): void {
    const ours = this.ourSyn
    const theirs = this.theirSyn
    if (ours === undefined || theirs === undefined) return
    const ws = ours.windowScale !== undefined && theirs.windowScale !== undefined
    this.windowShift = { remote: ws ? theirs.windowScale! : 0, local: ws ? ours.windowScale! : 0 }
    this.sackOk = ours.sackPermitted && theirs.sackPermitted
    this.timestampsOk = ours.timestamps !== undefined && theirs.timestamps !== undefined
  }

  /** Updates the state from a segment of the stack that is being consumed. */
  readonly observe = (s: Segment): void => {
    if (s.flags & RST) return
    if (s.flags & SYN) {
      this.irs = s.seqNumber
      this.rcvNxt = seqAdd(s.seqNumber, 1)
      this.theirSyn = s.options
      this.remoteMss = s.options.mss ?? 536
      this.negotiate()
    } else if (this.irs !== undefined) {
      const end = seqAdd(s.seqNumber, segLen(s))
      if (seqLe(s.seqNumber, this.rcvNxt) && seqGt(end, this.rcvNxt)) this.rcvNxt = end
    }
    if (s.flags & ACK) {
      if (seqGt(s.ackNumber, this.sndUna) && seqLe(s.ackNumber, this.sndNxt)) this.sndUna = s.ackNumber
      this.remoteWindow = s.flags & SYN ? s.windowLen : s.windowLen << this.windowShift.remote
    }
    const ts = s.options.timestamps
    if (ts !== undefined) this.tsRecent = ts.tsVal
  }

  readonly send = (spec: SendSpec = {}): Effect.Effect<Segment, TcpPeerError> =>
    Effect.suspend(() => {
      const flags = flagsOf(spec.flags ?? ACK)
      const payload = toBytes(spec.payload)
      const out = this.frame("out")
      const resolve = (s: SeqSpec, l: SeqLabel, what: string): number => {
        const v = resolveSeq(s, l)
        if (v === undefined) throw new Error(`TcpPeer send: ${what} rel(${(s as Rel).offset}) before the stack's SYN`)
        return v
      }
      const seq = spec.seq === undefined ? this.sndNxt : resolve(spec.seq, out.seq, "seq")
      const ack = spec.ack !== undefined ? resolve(spec.ack, out.ack, "ack") : flags & ACK ? this.rcvNxt : 0
      const window = spec.window ??
        Math.min(0xffff, flags & SYN ? this.window : this.window >>> this.windowShift.local)
      const o = spec.options ?? {}
      const tsDefault: TcpTimestamps | undefined = this.timestampsOk && !(flags & SYN)
        ? { tsVal: this.tsNow(), tsEcr: this.tsRecent }
        : undefined
      const timestamps = o.timestamps === false ? undefined : o.timestamps ?? tsDefault
      const options: TcpRepr["options"] = {
        ...(o.mss === undefined ? {} : { mss: o.mss }),
        ...(o.windowScale === undefined ? {} : { windowScale: o.windowScale }),
        sackPermitted: o.sackPermitted ?? false,
        sackBlocks: (o.sackBlocks ?? []).map(([l, r]) => ({
          left: resolve(l, out.ack, "SACK left edge"),
          right: resolve(r, out.ack, "SACK right edge"),
        })),
        ...(timestamps === undefined ? {} : { timestamps }),
      }
      const repr: TcpRepr = {
        srcPort: this.localPort,
        dstPort: this.remotePort,
        seqNumber: seq,
        ackNumber: ack,
        flags,
        windowLen: window,
        urgentPointer: spec.urgentPointer ?? 0,
        options,
        payload,
      }
      if (flags & SYN) {
        this.ourSyn = options
        this.negotiate()
      }
      if (spec.seq === undefined && !(flags & RST)) this.sndNxt = seqAdd(seq, segLen(repr))
      return this.peer.sendSegment(repr)
    })

  private tsNow(): number {
    return (Math.floor(this.peer.waiter.now()) + 1) >>> 0
  }

  readonly write = (
    data: Uint8Array | string,
    options?: { readonly segmentSize?: number },
  ): Effect.Effect<void, TcpPeerError> => {
    return Effect.gen({ self: this }, function* () {
      const bytes = toBytes(data)
      // RFC 6691: the MSS counts no options, so the timestamps come out of it
      const mss = this.remoteMss - (this.timestampsOk ? 12 : 0)
      const size = Math.max(1, Math.min(options?.segmentSize ?? Infinity, mss))
      for (let off = 0; off < bytes.length; off += size) {
        const end = Math.min(bytes.length, off + size)
        yield* this.send({ flags: end === bytes.length ? ACK | PSH : ACK, payload: bytes.subarray(off, end) })
      }
    })
  }

  readonly expect = (match: SegmentMatch = {}, options?: ExpectOptions): Effect.Effect<Segment, TcpPeerError> =>
    this.peer.take(
      this.belongs,
      this.observe,
      match,
      options,
      () => this.frame("in"),
      `${this.localPort}↔${this.remotePort} expect`,
    )

  readonly expectNone = (match: SegmentMatch = {}, duration?: Duration.Input): Effect.Effect<void, TcpPeerError> =>
    this.peer.none(
      this.belongs,
      match,
      duration === undefined ? this.peer.quietMs : ms(duration),
      () => this.frame("in"),
      `${this.localPort}↔${this.remotePort} expectNone`,
    )

  readonly expectData = (
    expected: Uint8Array | string,
    options?: { readonly timeout?: Duration.Input; readonly ack?: boolean },
  ): Effect.Effect<ReadonlyArray<Segment>, TcpPeerError> => {
    return Effect.gen({ self: this }, function* () {
      const want = toBytes(expected)
      const got = new Uint8Array(want.length)
      const segs: Array<Segment> = []
      let n = 0
      while (n < want.length) {
        const before = this.rcvNxt
        const s = yield* this.expect(
          { flagsExclude: RST },
          options?.timeout === undefined ? {} : { timeout: options.timeout },
        )
        if (s.payload.length === 0) continue
        const skip = seqSub(before, s.seqNumber)
        if (skip < 0) {
          return yield* new TcpPeerError({
            reason: "Mismatch",
            message: `TcpPeer expectData: data starts at ${this.describe(s, "in")}, after a gap (RCV.NXT was ${
              fmtSeq(before, this.frame("in").seq)
            })\n  last segments on the wire:\n${this.peer.transcript()}`,
          })
        }
        const fresh = s.payload.subarray(Math.min(skip, s.payload.length), s.payload.length)
        const take = fresh.subarray(0, want.length - n)
        got.set(take, n)
        n += take.length
        if (fresh.length > 0) segs.push(s)
        if (fresh.length > take.length) {
          return yield* new TcpPeerError({
            reason: "Mismatch",
            message: `TcpPeer expectData: ${fresh.length - take.length} bytes more than the ${want.length} expected`,
          })
        }
        if (options?.ack !== false && fresh.length > 0) yield* this.send({ flags: ACK })
      }
      const i = firstDifference(got, want)
      if (i >= 0) {
        return yield* new TcpPeerError({
          reason: "Mismatch",
          message: `TcpPeer expectData: byte ${i} is ${got[i]}, expected ${want[i]} (got ${
            JSON.stringify(preview(got))
          }, want ${JSON.stringify(preview(want))})`,
        })
      }
      return segs
    })
  }

  readonly close = (options?: { readonly timeout?: Duration.Input }): Effect.Effect<Segment, TcpPeerError> => {
    return Effect.gen({ self: this }, function* () {
      yield* this.send({ flags: FIN | ACK })
      return yield* this.expect(
        { flagsInclude: ACK, flagsExclude: RST, ack: this.sndNxt },
        options?.timeout === undefined ? {} : { timeout: options.timeout },
      )
    })
  }

  get reset(): Effect.Effect<Segment, TcpPeerError> {
    return this.send({ flags: RST, ack: 0 })
  }
}
