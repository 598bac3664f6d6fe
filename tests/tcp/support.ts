/**
 * Packet-level test helpers for the pure TCP core: build segments from the peer, feed them to a TCB, and assert
 * exactly which segments come back (and that nothing else does).
 */
import assert from "node:assert/strict"
import { Listener } from "../../src/tcp/Listener.ts"
import { EMPTY, TcpFlags, type TcpRepr } from "../../src/tcp/Segment.ts"
import { Tcb, type TcbConfig, TcbSignal } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"

export const { FIN, SYN, RST, PSH, ACK } = TcpFlags
export const LOCAL_PORT = 80
export const REMOTE_PORT = 49152
/** Our ISS. */
export const ISS = 1000
/** Peer's ISS. */
export const IRS = 5000

/** A segment description (from the peer, or expected from us). */
export interface Spec {
  seq: number
  ack?: number
  flags: number
  win?: number
  data?: Uint8Array | string
  mss?: number
  ws?: number
  sackPerm?: boolean
  sack?: ReadonlyArray<readonly [number, number]>
  ts?: readonly [number, number]
}

const enc = new TextEncoder()
export const bytes = (d: Uint8Array | string | undefined): Uint8Array =>
  d === undefined ? EMPTY : typeof d === "string" ? enc.encode(d) : d

/** A segment from the peer (REMOTE_PORT → LOCAL_PORT). */
export const mk = (s: Spec): TcpRepr => {
  const options: {
    mss?: number
    windowScale?: number
    sackPermitted: boolean
    sackBlocks: { left: number; right: number }[]
    timestamps?: { tsVal: number; tsEcr: number }
  } = {
    sackPermitted: s.sackPerm ?? false,
    sackBlocks: (s.sack ?? []).map(([left, right]) => ({ left: left >>> 0, right: right >>> 0 })),
  }
  if (s.mss !== undefined) options.mss = s.mss
  if (s.ws !== undefined) options.windowScale = s.ws
  if (s.ts !== undefined) options.timestamps = { tsVal: s.ts[0] >>> 0, tsEcr: s.ts[1] >>> 0 }
  return {
    srcPort: REMOTE_PORT,
    dstPort: LOCAL_PORT,
    seqNumber: s.seq >>> 0,
    ackNumber: (s.ack ?? 0) >>> 0,
    flags: s.flags,
    windowLen: s.win ?? 65535,
    urgentPointer: 0,
    options,
    payload: bytes(s.data),
  }
}

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [[SYN, "SYN"], [ACK, "ACK"], [FIN, "FIN"], [RST, "RST"], [
  PSH,
  "PSH",
]]
const flagNames = (f: number): string => FLAG_NAMES.filter(([b]) => (f & b) !== 0).map(([, n]) => n).join("|") || "none"

/** Human-readable one-line summary of a segment. */
export const show = (s: TcpRepr): string =>
  `${flagNames(s.flags)} seq=${s.seqNumber} ack=${s.ackNumber} win=${s.windowLen} len=${s.payload.length}` +
  (s.options.sackBlocks.length ? ` sack=${s.options.sackBlocks.map((b) => `${b.left}-${b.right}`).join(",")}` : "")

/**
 * Assert `actual` is exactly the list `expected`: seq, flags, ack (when ACK is set), payload bytes, and — when the
 * spec gives them — window, MSS, window scale, SACK-permitted, SACK blocks (absent = none), timestamps.
 */
export const expectSegments = (
  actual: ReadonlyArray<TcpRepr>,
  expected: ReadonlyArray<Spec>,
  message: string = "",
): void => {
  const ctx = `${message ? message + ": " : ""}got [${actual.map(show).join("; ")}]`
  assert.equal(actual.length, expected.length, `segment count: ${ctx}`)
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]
    const e = expected[i]
    assert.equal(a.srcPort, LOCAL_PORT)
    assert.equal(a.dstPort, REMOTE_PORT)
    assert.equal(flagNames(a.flags), flagNames(e.flags), `flags of #${i}: ${ctx}`)
    assert.equal(a.seqNumber, e.seq >>> 0, `seq of #${i}: ${ctx}`)
    if (e.flags & ACK) assert.equal(a.ackNumber, (e.ack ?? 0) >>> 0, `ack of #${i}: ${ctx}`)
    assert.deepEqual([...a.payload], [...bytes(e.data)], `payload of #${i}: ${ctx}`)
    if (e.win !== undefined) assert.equal(a.windowLen, e.win, `window of #${i}: ${ctx}`)
    if (e.mss !== undefined) assert.equal(a.options.mss, e.mss, `mss of #${i}`)
    if (e.ws !== undefined) assert.equal(a.options.windowScale, e.ws, `window scale of #${i}`)
    if (e.sackPerm !== undefined) assert.equal(a.options.sackPermitted, e.sackPerm, `sack-permitted of #${i}`)
    assert.deepEqual(
      a.options.sackBlocks.map((b) => [b.left, b.right]),
      (e.sack ?? []).map(([l, r]) => [l >>> 0, r >>> 0]),
      `sack blocks of #${i}: ${ctx}`,
    )
    if (e.ts !== undefined) {
      assert.deepEqual([a.options.timestamps?.tsVal, a.options.timestamps?.tsEcr], [...e.ts], `timestamps of #${i}`)
    }
  }
}

/** Default test config: no timestamps/SACK/window scaling (plain RFC 9293 segments), MSS 100, 1000-byte buffers. */
export const plainConfig = (over: Partial<TcbConfig> = {}): TcbConfig =>
  makeTcbConfig({
    mss: 100,
    sendBufferSize: 1000,
    recvBufferSize: 1000,
    timestamps: false,
    sack: false,
    windowScaling: false,
    delayedAckMs: 0,
    ...over,
  })

/** The names of the {@link TcbSignal} bits set in `bits`, in declaration order. */
export const signalNames = (bits: number): Array<keyof typeof TcbSignal> =>
  (Object.keys(TcbSignal) as Array<keyof typeof TcbSignal>).filter((k) => (bits & TcbSignal[k]) !== 0)

/** A TCB plus a clock: `send` feeds one peer segment and returns what the TCB emits right after. */
export class Harness {
  now = 0
  constructor(public tcb: Tcb) {}
  /** Feed `spec` at the current time, then poll. */
  send(spec: Spec): TcpRepr[] {
    this.tcb.input(mk(spec), this.now)
    return this.tcb.poll(this.now)
  }
  /** Poll at the current time. */
  poll(): TcpRepr[] {
    return this.tcb.poll(this.now)
  }
  /** Move the clock to `t` and poll. */
  at(t: number): TcpRepr[] {
    this.now = t
    return this.tcb.poll(t)
  }
  /** Drain the wake-up signals, as names in a fixed order. */
  signals(): Array<keyof typeof TcbSignal> {
    return signalNames(this.tcb.takeSignals())
  }
  /** Write a string/bytes and assert all were accepted. */
  write(d: Uint8Array | string): void {
    const b = bytes(d)
    assert.equal(this.tcb.write(b), b.length)
  }
}

/** Active open, handshake done: our SND.NXT = ISS+1, RCV.NXT = IRS+1, peer window `peerWin`. */
export const established = (config: TcbConfig = plainConfig(), peerWin: number = 1000): Harness => {
  const h = new Harness(Tcb.connect({ localPort: LOCAL_PORT, remotePort: REMOTE_PORT, iss: ISS, config }, 0))
  expectSegments(h.poll(), [{ seq: ISS, flags: SYN }])
  expectSegments(h.send({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, win: peerWin, mss: 100 }), [
    { seq: ISS + 1, ack: IRS + 1, flags: ACK },
  ])
  assert.equal(h.tcb.state, "ESTABLISHED")
  assert.deepEqual(h.signals(), ["Established"])
  return h
}

/** Passive open through a listener, handshake done. */
export const accepted = (config: TcbConfig = plainConfig()): { h: Harness; listener: Listener } => {
  const listener = new Listener(LOCAL_PORT, () => ISS, { backlog: 4, tcb: config })
  const r = listener.input(mk({ seq: IRS, flags: SYN, mss: 100 }), 0)
  assert.equal(r._tag, "Created")
  const h = new Harness((r as { tcb: Tcb }).tcb)
  expectSegments(h.poll(), [{ seq: ISS, ack: IRS + 1, flags: SYN | ACK }])
  expectSegments(h.send({ seq: IRS + 1, ack: ISS + 1, flags: ACK, win: 1000 }), [])
  assert.equal(h.tcb.state, "ESTABLISHED")
  return { h, listener }
}

/** `n` bytes of a recognisable pattern starting at `from`. */
export const pattern = (n: number, from: number = 0): Uint8Array => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (from + i) & 0xff
  return b
}
