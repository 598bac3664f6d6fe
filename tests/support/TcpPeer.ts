/**
 * A scripted TCP peer for service-level tests — the idea of gVisor's packetimpact "testbench": the test plays one
 * end of a connection segment by segment and checks the other end's answers with partial matches.
 *
 * The peer is a raw port on the `Backend` in context (a Switch) with its own MAC and IPv4 address, beside one stack
 * under test built with `Stack.make`:
 * - it answers ARP requests for its address and resolves the stack's MAC with ARP (unless it is given);
 * - it builds Ethernet + IPv4 + TCP frames with the wire codecs, every checksum computed;
 * - it parses every TCP segment sent to its address (payload copied) into an inbox, and answers nothing by itself:
 *   the test decides every segment the peer sends.
 *
 * Connections ({@link TcpPeer.connect} active open, {@link TcpPeer.accept} passive open, {@link TcpPeer.connection}
 * unsynchronized for a handshake scripted by hand) keep the peer's side of the state: ISS and IRS, SND.NXT, SND.UNA,
 * RCV.NXT, the stack's window, and MSS / window scale / SACK-permitted / timestamps as negotiated.
 * - `send(spec)` fills every field the test leaves out from that state (seq = SND.NXT, ack = RCV.NXT, our window,
 *   timestamps when negotiated). A segment whose `seq` the test overrides (a blind or injected segment) does not
 *   move SND.NXT, nor does a RST.
 * - `expect(match)` consumes this connection's segments in arrival order until one matches the partial description
 *   (unset fields match anything) and updates RCV.NXT, SND.UNA, the window and TS.Recent from every segment it
 *   consumes. When nothing matches in time it fails with a {@link TcpPeerError} listing each segment that arrived
 *   and why it did not match, then the last segments on the wire. `{ next: true }` demands that the very next
 *   segment matches. `expectNone(match, duration)` fails if a matching segment is (or becomes) unconsumed in the
 *   inbox within `duration`; it consumes nothing.
 *
 * Sequence numbers: plain numbers are absolute; `rel(n)` is relative to the initial sequence number of the stream
 * the field belongs to — in a segment from the stack, seq (and SACK blocks: ack) are relative to the stack's ISS
 * (our IRS) and ack to ours (ISS); in a segment the peer sends, the other way round. Diffs print them the same way
 * (`seq=IRS+5 ack=ISS+1`).
 *
 * Time: with `TestClock` in context the peer waits in virtual time — it lets the other fibers run (a bounded number
 * of scheduler yields until nothing new arrives), then advances the clock by `step` (default 10 ms), and again, up
 * to the timeout; so a segment is seen at most one step after the stack sent it, and `expectNone(m, "5 seconds")`
 * costs milliseconds. Wait on one fiber at a time in virtual time (two waiters would both advance the clock). With
 * the live clock it waits for real, woken by each arrival (no polling). Default timeouts: 1 s virtual, 5 s real.
 *
 * Teardown: once the test's scope starts closing, the peer answers every segment from the stack with a RST (RFC 9293
 * §3.10.7.1), so the stack's graceful close of a connection still open ends at once instead of waiting for an ACK
 * that a scripted peer never sends (under TestClock that wait would never end, and a failing test would hang instead
 * of failing). The finalizer that switches this on is moved to the end of the scope by every `send` and `expect`, so
 * it runs before the finalizers of the stack connections opened until then.
 *
 * Every use of the link backend and of the IPv4/TCP codecs sits in the ADAPTATION SECTION, `tcp-peer/Wire.ts`.
 *
 * Layout: this entry point holds the {@link TcpPeer} interface and `TcpPeer.make`, and re-exports the public API;
 * `tcp-peer/Types.ts` the public types, `Basics.ts` sequence numbers and flags, `Match.ts` the partial matcher and
 * diffs, `Waiter.ts` virtual/real-time waiting, `Peer.ts` the shared peer state and inbox, `Connection.ts` one
 * connection's state and operations, `Wire.ts` the port and the codecs.
 *
 * @module
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { TestClock } from "effect/testing"
import { Backend } from "../../src/link/Backend.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import type { MacAddress } from "../../src/wire/MacAddress.ts"
import { TcpFlags, type TcpRepr } from "../../src/wire/Tcp.ts"
import { ABSOLUTE, type Frame, ms } from "./tcp-peer/Basics.ts"
import { Conn } from "./tcp-peer/Connection.ts"
import { Peer } from "./tcp-peer/Peer.ts"
import {
  type ExpectOptions,
  type HandshakeOptions,
  rel,
  type Segment,
  type SegmentMatch,
  type SendOptions,
  type TcpPeerConnection,
  type TcpPeerError,
  type TcpPeerOptions,
} from "./tcp-peer/Types.ts"
import { Waiter } from "./tcp-peer/Waiter.ts"
import { openPort } from "./tcp-peer/Wire.ts"

export { flagNames, flagsOf } from "./tcp-peer/Basics.ts"
export {
  type ExpectOptions,
  type Flags,
  type HandshakeOptions,
  type OptionsMatch,
  type Rel,
  rel,
  type Segment,
  type SegmentMatch,
  type SendOptions,
  type SendSpec,
  type SeqSpec,
  type TcpPeerConnection,
  TcpPeerError,
  type TcpPeerErrorReason,
  type TcpPeerOptions,
} from "./tcp-peer/Types.ts"

const { SYN, RST, ACK } = TcpFlags

/** The peer. */
export interface TcpPeer {
  /** Its IPv4 address. */
  readonly address: Ipv4Address
  /** Its MAC (that of its backend port). */
  readonly mac: MacAddress
  /** The stack's address. */
  readonly remoteAddress: Ipv4Address
  /** True under TestClock. */
  readonly virtualTime: boolean
  /** Active open against a listening stack: SYN, expect SYN-ACK, ACK. */
  readonly connect: (port: number, options?: HandshakeOptions) => Effect.Effect<TcpPeerConnection, TcpPeerError>
  /** Passive open: waits for the stack's SYN to `port`, answers SYN-ACK (options it offered only), expects ACK. */
  readonly accept: (port: number, options?: HandshakeOptions) => Effect.Effect<TcpPeerConnection, TcpPeerError>
  /** An unsynchronized connection to the stack's `remotePort`, for a handshake scripted by hand. */
  readonly connection: (remotePort: number, options?: HandshakeOptions) => TcpPeerConnection
  /** The next segment of any connection that matches (relative numbers cannot be used here). */
  readonly expect: (match?: SegmentMatch, options?: ExpectOptions) => Effect.Effect<Segment, TcpPeerError>
  /** Fails if a matching segment of any connection is in the inbox within `duration`. */
  readonly expectNone: (match?: SegmentMatch, duration?: Duration.Input) => Effect.Effect<void, TcpPeerError>
  /** Sends a raw segment from the peer's address (no state kept). */
  readonly sendSegment: (segment: TcpRepr) => Effect.Effect<void, TcpPeerError>
  /** Lets `duration` pass: advances the TestClock (virtual time, letting the stack run) or sleeps. */
  readonly wait: (duration: Duration.Input) => Effect.Effect<void>
  /** The stack's MAC, resolved with ARP the first time. */
  readonly resolve: Effect.Effect<MacAddress, TcpPeerError>
  /** Every TCP segment received so far, in order. */
  readonly received: ReadonlyArray<Segment>
  /** The last `n` segments sent and received, one line each (oldest first). */
  readonly transcript: (n?: number) => string
}

// ------------------------------------------------------------------------------------------------- make

const parseAddr = (a: Ipv4Address | string, what: string): Ipv4Address => {
  if (typeof a !== "string") return a
  const p = Ipv4Address.parse(a)
  if (p === undefined) throw new Error(`TcpPeer: bad ${what} address "${a}"`)
  return p
}

const makePeer = (options: TcpPeerOptions): Effect.Effect<TcpPeer, never, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const clock = yield* Clock.clockWith(Effect.succeed)
    const testClock = "adjust" in clock ? clock as TestClock.TestClock : undefined
    const waiter = new Waiter(
      clock,
      testClock,
      options.step === undefined ? 10 : ms(options.step),
      options.settleYields ?? 16,
    )
    const remote = options.remote
    const remoteAddress = typeof remote === "object" ? remote.address : parseAddr(remote, "remote")
    const peer = new Peer(
      backend,
      parseAddr(options.address, "peer"),
      remoteAddress,
      waiter,
      options.timeout === undefined ? (testClock === undefined ? 5000 : 1000) : ms(options.timeout),
      options.quiet === undefined ? 200 : ms(options.quiet),
      options.ttl ?? 64,
      yield* Effect.scope,
    )
    if (typeof remote === "object" && remote.mac !== undefined) peer.arp.set(remoteAddress, remote.mac)
    peer.port = yield* openPort(backend, options.mtu ?? 1500, (f) => peer.onFrame(f))

    const connection = (remotePort: number, o: HandshakeOptions = {}): Conn => {
      const localPort = o.localPort ?? peer.nextPort++
      const iss = (o.iss ?? (peer.nextIss += 0x0100_0000)) >>> 0
      const c = new Conn(peer, localPort, remotePort, iss, o.window ?? 65535)
      peer.conns.set(peer.key(localPort, remotePort), c)
      return c
    }
    const synOptions = (o: HandshakeOptions, tsEcr: number, offered?: TcpRepr["options"]): SendOptions => {
      const canWs = offered === undefined || offered.windowScale !== undefined
      const canSack = offered === undefined || offered.sackPermitted
      const canTs = offered === undefined || offered.timestamps !== undefined
      return {
        ...(o.mss === false ? {} : { mss: o.mss ?? 1460 }),
        ...(o.windowScale !== undefined && canWs ? { windowScale: o.windowScale } : {}),
        sackPermitted: o.sackPermitted === true && canSack,
        timestamps: o.timestamps === true && canTs ? { tsVal: Math.floor(waiter.now()) + 1, tsEcr } : false,
      }
    }
    const timeoutOf = (o: HandshakeOptions): ExpectOptions => (o.timeout === undefined ? {} : { timeout: o.timeout })

    const connect = (port: number, o: HandshakeOptions = {}): Effect.Effect<TcpPeerConnection, TcpPeerError> =>
      Effect.gen(function* () {
        const c = connection(port, o)
        yield* c.send({ flags: SYN, options: synOptions(o, 0) })
        yield* c.expect({ flags: SYN | ACK, ack: rel(1) }, timeoutOf(o))
        yield* c.send({ flags: ACK })
        return c
      })

    const accept = (port: number, o: HandshakeOptions = {}): Effect.Effect<TcpPeerConnection, TcpPeerError> =>
      Effect.gen(function* () {
        const syn = yield* peer.take(
          (s) => s.dstPort === port && s.srcAddr === remoteAddress,
          () => {},
          { flags: SYN },
          timeoutOf(o),
          () => ABSOLUTE,
          `accept on ${port}`,
        )
        const c = connection(syn.srcPort, { ...o, localPort: port })
        c.observe(syn)
        yield* c.send({ flags: SYN | ACK, options: synOptions(o, syn.options.timestamps?.tsVal ?? 0, syn.options) })
        yield* c.expect({ flagsInclude: ACK, flagsExclude: SYN | RST, ack: rel(1) }, timeoutOf(o))
        return c
      })

    const anyFrame = (s: Segment | undefined): Frame => (s === undefined ? ABSOLUTE : peer.frameOf(s, "in"))
    const observeAny = (s: Segment): void => {
      peer.conns.get(peer.key(s.dstPort, s.srcPort))?.observe(s)
    }

    return {
      address: peer.address,
      get mac() {
        return peer.mac
      },
      remoteAddress,
      virtualTime: testClock !== undefined,
      connect,
      accept,
      connection,
      expect: (match = {}, o) => peer.take(() => true, observeAny, match, o, anyFrame, "expect"),
      expectNone: (match = {}, duration) =>
        peer.none(() => true, match, duration === undefined ? peer.quietMs : ms(duration), anyFrame, "expectNone"),
      sendSegment: (s) => Effect.asVoid(peer.sendSegment(s)),
      wait: (d) => Effect.asVoid(waiter.waitFor(() => undefined, ms(d))),
      resolve: peer.resolve(),
      received: peer.received,
      transcript: (n) => peer.transcript(n),
    }
  })

/** The scripted TCP peer (see the module docs). */
export const TcpPeer: {
  /** A peer on a new port of the Backend in context; the port is removed when the scope closes. */
  readonly make: (options: TcpPeerOptions) => Effect.Effect<TcpPeer, never, Backend | Scope.Scope>
} = { make: makePeer }
