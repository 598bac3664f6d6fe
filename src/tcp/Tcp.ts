/**
 * The TCP service of one stack: the Effect shell around the pure core ({@link Tcb}, {@link Listener}). This module
 * wires the shell's parts together and holds what is left: receiving, `connect`, `listen`/`serve`, ISNs, counters
 * and the stack's lifetime. The parts, each readable and testable alone:
 *
 * - `TcpConfig.ts` — the configuration Schema (every default) and the core's tunables derived from it;
 * - `Network.ts` — the one door to the network layer (address, MSS, route check, transmit, parse, register);
 * - `Demux.ts` — the connection table (4-tuple) and the listeners by port;
 * - `Output.ts` — polling a connection and pumping its segments out, RSTs for no connection;
 * - `Timers.ts` — the timer fiber over a `DeadlineHeap` of the cores' deadlines;
 * - `Connection.ts` / `Listening.ts` — the application's handles, waiting, closing, Scope binding.
 *
 * Receive (on the network layer's reader fiber, plain TypeScript per segment): the segment is parsed (malformed and
 * bad-checksum segments are dropped and counted), looked up by its 4-tuple, handed to the TCB with `input`, and the
 * TCB is polled once for that frame, so the ACKs of a batch coalesce in the core's delayed-ACK logic. A segment for
 * no connection goes to the listener of its port (which may create a TCB in SYN-RECEIVED, answer with a stateless
 * SYN-cookie SYN-ACK, or create an established TCB from a cookie ACK), otherwise it is answered with a RST (RFC 9293
 * §3.10.7.1; not rate-limited).
 *
 * Wake-ups: after every poll the service drains the core's signals ({@link TcbSignal}) — Closed takes the connection
 * out of the table and its Scope; Established wakes the listener of a passive open; every signal resumes exactly
 * the application fibers waiting for it — and hands the connection's next deadline to the timers.
 *
 * Randomness: initial sequence numbers follow RFC 6528 — `ISN = M + F(4-tuple, secret)` where M is a 4 µs clock and
 * F a keyed 32-bit mixing hash (Murmur3 finaliser rounds) of the 4-tuple with a 128-bit secret drawn from Effect's
 * `Random` when the layer is built. F is not a cryptographic PRF (the RFC suggests MD5): enough for a virtual LAN
 * and for tests that replay with a seeded `Random`, not a defence against an on-path attacker. Timestamp offsets
 * (RFC 7323 §5.4) and ephemeral ports (49152–65535, RFC 6335) come from `Random`. The SYN-cookie key (SipHash-2-4,
 * 128 bits, see `SynCookie.ts`) is drawn from `Random` when the first cookie is made or checked. Time comes from `Clock` (a
 * monotonic clamp of `currentTimeMillis`), so the whole service runs under `TestClock`.
 *
 * Lifetimes: `connect` ties the connection to the caller's Scope; a listener lives as long as its Scope and closes
 * the connections it accepted. Closing the stack (the Tcp layer's Scope) aborts every connection (RST to the peers),
 * fails every waiting application fiber with "Closed", closes the listeners, and interrupts the timer fiber.
 *
 * Implements: RFC 9293 (via the core), RFC 6528 (ISN), RFC 4987 §3.6 (SYN cookies, in the core's `Listener`), RFC
 * 6335 §6 (ephemeral ports), RFC 1122 §4.2.2.13 (closing).
 *
 * @module
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { decodeLayerConfig } from "../util/Config.ts"
import {
  awaitConnected,
  Conn,
  type ConnectionHost,
  discard,
  errorOf,
  handleOf,
  release,
  ScopeBinding,
  type TcpConnection,
  wake,
  WAKE_ALL,
} from "./Connection.ts"
import { Demux } from "./Demux.ts"
import { Listener, resetFor } from "./Listener.ts"
import { TcpMemory, type TcpMemoryStats } from "./Memory.ts"
import {
  closeListener,
  listenerHandle,
  ListenerRec,
  serveConnections,
  shutdownListener,
  type TcpHandler,
  type TcpListener,
} from "./Listening.ts"
import { makeNetwork, type TcpAddress, type TcpNetworkService } from "./Network.ts"
import { Output } from "./Output.ts"
import { SynCookies } from "./SynCookie.ts"
import { Tcb, type TcbConfig, TcbSignal } from "./Tcb.ts"
import {
  decodeSocketOptions,
  tcbConfigOf,
  TcpConfig,
  type TcpConfigInput,
  type TcpConnectOptions,
  type TcpListenOptions,
  type TcpSocketOptions,
} from "./TcpConfig.ts"
import { TcpError } from "./TcpError.ts"
import { Timers } from "./Timers.ts"

export type { TcpState } from "./Tcb.ts"
export { TcpError, TcpErrorBase, type TcpErrorFields, type TcpErrorReason } from "./TcpError.ts"
export {
  TcpConfig,
  type TcpConfigInput,
  type TcpConnectOptions,
  TcpKeepaliveConfig,
  type TcpListenOptions,
  TcpSocketOptions,
  type TcpSocketOptionsInput,
} from "./TcpConfig.ts"
export type { TcpConnection, TcpConnectionStats } from "./Connection.ts"
export type { TcpMemoryStats } from "./Memory.ts"
export type { TcpHandler, TcpListener, TcpListenerStats } from "./Listening.ts"
export type { TcpAddress, TcpNetworkService } from "./Network.ts"

// ------------------------------------------------------------------------------------------------ public shapes

/**
 * Counters of the TCP layer (a snapshot), with the stack's buffer memory ({@link TcpMemoryStats}: bytes held now,
 * peak, pressure, limit hits, drops and waits).
 */
export interface TcpStats extends TcpMemoryStats {
  /** Segments received from the network layer. */
  readonly segmentsIn: number
  /** Segments sent. */
  readonly segmentsOut: number
  /** Segments dropped for a bad checksum. */
  readonly badChecksum: number
  /** Segments dropped as truncated or malformed (or not sent to our unicast address). */
  readonly malformed: number
  /** Segments for no connection and no listener (answered with RST unless they were RSTs). */
  readonly noConnection: number
  /** RSTs sent for segments to closed ports or refused by a listener. */
  readonly resetsSent: number
  /** Segments that failed to send (device error). */
  readonly txErrors: number
  /** Active opens started. */
  readonly activeOpens: number
  /** Passive opens (SYNs accepted by a listener). */
  readonly passiveOpens: number
  /** Segments retransmitted, by every connection of this stack (open and closed). */
  readonly retransmits: number
  /** Retransmission timeouts, by every connection of this stack (open and closed). */
  readonly retransmitTimeouts: number
  /** Connections in the table now (TIME-WAIT included). */
  readonly connections: number
  /** Entries in the timer heap now: connections in the table with a pending timer (never more than `connections`). */
  readonly timerEntries: number
  /** Listening ports now. */
  readonly listeners: number
  /** Whether the timer fiber is running (false once the layer's Scope is closed). */
  readonly timerRunning: boolean
}

/** The TCP service. */
export interface TcpShape {
  /**
   * Opens a connection to `address:port` (the address's text form, e.g. a dotted quad, or a {@link TcpAddress});
   * completes once the handshake completes. The connection lives as long as the current Scope.
   */
  readonly connect: (
    address: TcpAddress | string,
    port: number,
    options?: TcpConnectOptions,
  ) => Effect.Effect<TcpConnection, TcpError, Scope.Scope>
  /** Listens on `port` (0 = an ephemeral port) for the lifetime of the current Scope. */
  readonly listen: (port: number, options?: TcpListenOptions) => Effect.Effect<TcpListener, TcpError, Scope.Scope>
  /** Listens on `port` and runs `handler` on a fiber of its own for each accepted connection. */
  readonly serve: <E>(
    port: number,
    handler: TcpHandler<E>,
    options?: TcpListenOptions,
  ) => Effect.Effect<TcpListener, TcpError, Scope.Scope>
  /** The decoded configuration (every default filled in). */
  readonly config: TcpConfig
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<TcpStats>
}

/** The service key base of {@link Tcp}: `Context.Service` with its type spelled out (JSR explicit types). */
export const TcpBase: Context.ServiceClass<Tcp, "vnetif/Tcp", TcpShape> = Context.Service<Tcp, TcpShape>()(
  "vnetif/Tcp",
)

/** The TCP layer of one stack. */
export class Tcp extends TcpBase {
  /** Builds the service on the current network layer; fails with "InvalidConfig" naming a bad tunable. */
  static readonly make: (
    config?: TcpConfigInput,
  ) => Effect.Effect<TcpShape, TcpError, TcpNetworkService | Scope.Scope> = (config) => make(config ?? {})
  /** A Layer providing {@link Tcp}; needs the network layer ({@link TcpNetworkService}). */
  static readonly layer: (config?: TcpConfigInput) => Layer.Layer<Tcp, TcpError, TcpNetworkService> = (config) =>
    Layer.effect(Tcp, make(config ?? {}))
}

/** First ephemeral port (RFC 6335 §6). */
export const TCP_EPHEMERAL_PORT_MIN: number = 49152
/** Last ephemeral port. */
export const TCP_EPHEMERAL_PORT_MAX: number = 65535

// ------------------------------------------------------------------------------------------------ the service

/** Murmur3 finaliser round over `h ^ v`. */
const mix = (h: number, v: number): number => {
  h ^= v
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const isPort = (p: number): boolean => Number.isInteger(p) && p >= 1 && p <= 65535

const invalid = (message: string): TcpError => new TcpError({ reason: "InvalidArgument", message })

const closedStack = (): TcpError => new TcpError({ reason: "Closed", message: "the TCP stack was shut down" })

const make = (input: unknown): Effect.Effect<TcpShape, TcpError, TcpNetworkService | Scope.Scope> =>
  Effect.gen(function* () {
    const config: TcpConfig = yield* decodeLayerConfig(
      TcpConfig,
      input,
      "TCP",
      (message) => new TcpError({ reason: "InvalidConfig", message }),
    )
    const net = yield* makeNetwork
    const clock = yield* Clock.Clock
    const random = yield* Random.Random
    const secret = [0, 0, 0, 0].map(() => random.nextIntUnsafe() >>> 0)
    /** SYN cookies of every listener; keyed from `Random` on first use (a stack that never needs one draws nothing). */
    const cookieJar = new SynCookies(() => random.nextIntUnsafe())
    const demux = new Demux<Conn, ListenerRec>()
    const scopes = new ScopeBinding()
    let shutdown = false
    // counters of connections already out of the table (the open ones are summed at snapshot time)
    let retiredRetransmits = 0
    let retiredTimeouts = 0
    const c = { segmentsIn: 0, badChecksum: 0, malformed: 0, noConnection: 0, activeOpens: 0, passiveOpens: 0 }

    let lastNow = 0
    const now = (): number => {
      const t = clock.currentTimeMillisUnsafe()
      if (t > lastNow) lastNow = t
      return lastNow
    }

    // the buffer-memory budget of every connection of this stack (Memory.ts); a release resumes writers that wait
    const memory = new TcpMemory(config.memoryLimit, config.memoryPressure, config.outOfOrderMemory)
    memory.onAvailable = (w) => {
      const x = (w as Tcb).tag
      if (x instanceof Conn) wake(x, TcbSignal.Writable)
    }
    const tcbConfig = (mss: number, o?: TcpSocketOptions, connectTimeoutMs?: number): TcbConfig => ({
      ...tcbConfigOf(config, mss, o, connectTimeoutMs),
      memory,
    })

    /** The core's tunables when no option overrides the layer's (shared by every such connection). */
    const defaultTcb = tcbConfig(net.mss(undefined))

    const socketOptions = (o: object | undefined, what: string): Result.Result<TcpSocketOptions, TcpError> => {
      const r = decodeSocketOptions(o)
      return Result.isFailure(r) ? Result.fail(invalid(`${what} options: ${r.failure}`)) : Result.succeed(r.success)
    }

    // ---- wiring: core signals → table, scopes, waiters, timers

    const retire = (x: Conn): void => {
      if (!demux.remove(x)) return
      timers.forget(x)
      retiredRetransmits += x.tcb.stats.retransmits
      retiredTimeouts += x.tcb.stats.timeouts
    }

    /** After every poll of `x`: act on the core's signals and track its deadline. */
    const settle = (x: Conn): void => {
      const s = x.tcb.takeSignals()
      if (s !== 0) {
        if (s & TcbSignal.Closed) {
          retire(x)
          release(x)
          if (x.owner !== undefined) x.owner.live.delete(x)
        }
        if (s & TcbSignal.Established && x.listener !== undefined) wake(x.listener, WAKE_ALL)
        wake(x, s)
      }
      timers.schedule(x)
    }

    const output = new Output(net, now, settle)
    const timers = new Timers(() => demux.connections(), (x) => output.flush(x), now)
    const host: ConnectionHost = {
      network: net,
      now,
      flush: (x) => output.flush(x),
      isShutdown: () => shutdown,
    }

    // ---- randomness (RFC 6528)

    const isn = (remote: TcpAddress, localPort: number, remotePort: number, t: number): number => {
      let h = mix(secret[0], net.addressHash(net.address))
      h = mix(h ^ secret[1], net.addressHash(remote))
      h = mix(h ^ secret[2], ((localPort << 16) | remotePort) >>> 0)
      h = mix(h, secret[3])
      return (h + Math.floor(t * 250)) >>> 0 // M: a 4 µs clock (RFC 6528 §3)
    }
    /** The ISN of the SYN a listener is processing (its first draw), then `Random` (timestamp offsets). */
    let nextIss: number | undefined = undefined
    const listenerRandom = (): number => {
      if (nextIss !== undefined) {
        const v = nextIss
        nextIss = undefined
        return v
      }
      return random.nextIntUnsafe() >>> 0
    }

    // ---- receive

    const receive = (src: TcpAddress, dst: TcpAddress, bytes: Uint8Array): Effect.Effect<void> => {
      c.segmentsIn++
      if (shutdown) return Effect.void
      const parsed = net.parse(src, dst, bytes)
      if (Result.isFailure(parsed)) {
        if (parsed.failure === "BadChecksum") c.badChecksum++
        else c.malformed++
        return Effect.void
      }
      const seg = parsed.success
      const t = now()
      const x = demux.lookup(src, seg.srcPort, seg.dstPort)
      if (x !== undefined) {
        x.tcb.input(seg, t)
        if (x.orphan) discard(x)
        return output.flush(x)
      }
      const l = demux.listener(seg.dstPort)
      if (l !== undefined && l.open) {
        nextIss = isn(src, seg.dstPort, seg.srcPort, t)
        const r = l.core.input(seg, t, src)
        nextIss = undefined
        if (r._tag === "Created") {
          c.passiveOpens++
          const nx = new Conn(host, r.tcb, src)
          nx.listener = l
          demux.insert(nx)
          return output.flush(nx)
        }
        if (r._tag === "Reply") return output.sendRaw(src, r.segment)
        return Effect.void
      }
      c.noConnection++
      const rst = resetFor(seg)
      return rst === undefined ? Effect.void : output.sendRaw(src, rst)
    }

    // ---- connect

    const pickEphemeral = (remote: TcpAddress, remotePort: number): Effect.Effect<number, TcpError> =>
      Effect.gen(function* () {
        for (let i = 0; i < 32; i++) {
          const p = yield* Random.nextIntBetween(TCP_EPHEMERAL_PORT_MIN, TCP_EPHEMERAL_PORT_MAX)
          if (demux.isFree(remote, remotePort, p)) return p
        }
        const n = TCP_EPHEMERAL_PORT_MAX - TCP_EPHEMERAL_PORT_MIN + 1
        const start = yield* Random.nextIntBetween(0, n - 1)
        for (let i = 0; i < n; i++) {
          const p = TCP_EPHEMERAL_PORT_MIN + ((start + i) % n)
          if (demux.isFree(remote, remotePort, p)) return p
        }
        return yield* new TcpError({
          reason: "AddressInUse",
          message: `every ephemeral port to ${net.formatAddress(remote)}:${remotePort} is in use`,
        })
      })

    const connect = (
      addressIn: TcpAddress | string,
      port: number,
      options?: TcpConnectOptions,
    ): Effect.Effect<TcpConnection, TcpError, Scope.Scope> =>
      Effect.gen(function* () {
        if (shutdown) return yield* closedStack()
        const remote = net.parseAddress(addressIn)
        if (remote === undefined) return yield* invalid(`not an ${net.family} address: ${String(addressIn)}`)
        if (!isPort(port)) return yield* invalid(`port must be an integer in 1..65535, got ${port}`)
        const unreachable = net.route(remote)
        if (unreachable !== undefined) return yield* unreachable
        const opts = yield* Effect.fromResult(socketOptions(options, "connect"))
        let timeoutMs: number | undefined = undefined
        if (options?.timeout !== undefined) {
          const d = Duration.fromInput(options.timeout)
          const ms = d._tag === "Some" ? Duration.toMillis(d.value) : NaN
          if (!(ms >= 0) || ms === Infinity) {
            return yield* invalid(`connect timeout must be a finite duration ≥ 0, got ${String(options.timeout)}`)
          }
          timeoutMs = ms
        }
        let localPort: number
        if (options?.localPort !== undefined && options.localPort !== 0) {
          localPort = options.localPort
          if (!isPort(localPort)) return yield* invalid(`local port must be an integer in 1..65535, got ${localPort}`)
          if (!demux.isFree(remote, port, localPort)) {
            return yield* new TcpError({
              reason: "AddressInUse",
              message: `local port ${localPort} is in use (by a listener or a connection to the same peer)`,
            })
          }
        } else {
          localPort = yield* pickEphemeral(remote, port)
        }
        const mss = net.mss(remote)
        const cfg = options === undefined && mss === defaultTcb.mss ? defaultTcb : tcbConfig(mss, opts, timeoutMs)
        const t = now()
        const tcb = Tcb.connect({
          localPort,
          remotePort: port,
          iss: isn(remote, localPort, port, t),
          tsOffset: random.nextIntUnsafe() >>> 0,
          config: cfg,
        }, t)
        const x = new Conn(host, tcb, remote)
        demux.insert(x)
        c.activeOpens++
        yield* scopes.join(x, yield* Scope.Scope)
        yield* output.flush(x)
        yield* awaitConnected(x)
        if (x.tcb.error !== undefined) return yield* errorOf(x)
        if (x.tcb.state === "CLOSED" && x.appClosed) return yield* errorOf(x)
        return handleOf(x)
      })

    // ---- listen

    const listen = (port: number, options?: TcpListenOptions): Effect.Effect<TcpListener, TcpError, Scope.Scope> =>
      Effect.gen(function* () {
        if (shutdown) return yield* closedStack()
        if (port !== 0 && !isPort(port)) return yield* invalid(`port must be an integer in 0..65535, got ${port}`)
        const opts = yield* Effect.fromResult(socketOptions(options, "listen"))
        const backlog = options?.backlog ?? config.backlog
        if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
          return yield* invalid(`backlog must be an integer in 1..65535, got ${backlog}`)
        }
        const synBacklog = options?.synBacklog ?? config.synBacklog ?? backlog
        if (!Number.isInteger(synBacklog) || synBacklog < 1 || synBacklog > 65535) {
          return yield* invalid(`synBacklog must be an integer in 1..65535, got ${synBacklog}`)
        }
        const mode = options?.synCookies ?? config.synCookies
        if (mode !== "auto" && mode !== "always" && mode !== "never") {
          return yield* invalid(`synCookies must be "auto", "always" or "never", got ${String(mode)}`)
        }
        let p = port
        if (p === 0) {
          for (let i = 0; i < 64 && (p === 0 || demux.listener(p) !== undefined); i++) {
            p = yield* Random.nextIntBetween(TCP_EPHEMERAL_PORT_MIN, TCP_EPHEMERAL_PORT_MAX)
          }
        }
        if (demux.listener(p) !== undefined) {
          return yield* new TcpError({ reason: "AddressInUse", message: `TCP port ${p} is already listening` })
        }
        const core = new Listener(p, listenerRandom, {
          backlog,
          synBacklog,
          cookies: { mode, jar: cookieJar, localAddress: net.address },
          tcb: options === undefined ? defaultTcb : tcbConfig(net.mss(undefined), opts),
        })
        const l = new ListenerRec(core, p)
        demux.listen(p, l)
        yield* Effect.addFinalizer(() => closeListener(l, demux))
        return listenerHandle(l)
      })

    const serve = <E>(
      port: number,
      handler: TcpHandler<E>,
      options?: TcpListenOptions,
    ): Effect.Effect<TcpListener, TcpError, Scope.Scope> =>
      Effect.gen(function* () {
        const l = yield* listen(port, options)
        yield* serveConnections(l, handler)
        return l
      })

    // ---- lifetime

    yield* net.register(receive)
    yield* Effect.forkScoped(timers.run)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        shutdown = true
        for (const l of demux.listeners()) shutdownListener(l)
        demux.clearListeners()
        const effects: Array<Effect.Effect<void>> = []
        for (const x of [...demux.connections()]) {
          if (x.tcb.state !== "CLOSED") {
            x.tcb.abort()
          }
          effects.push(output.flush(x))
          retire(x)
          wake(x, WAKE_ALL)
        }
        return Effect.all(effects, { discard: true })
      })
    )

    return {
      connect,
      listen,
      serve,
      config,
      stats: Effect.sync(() => {
        let retransmits = retiredRetransmits
        let retransmitTimeouts = retiredTimeouts
        for (const x of demux.connections()) {
          retransmits += x.tcb.stats.retransmits
          retransmitTimeouts += x.tcb.stats.timeouts
        }
        const o = output.stats
        return {
          segmentsIn: c.segmentsIn,
          segmentsOut: o.segmentsOut,
          badChecksum: c.badChecksum,
          malformed: c.malformed,
          noConnection: c.noConnection,
          resetsSent: o.resetsSent,
          txErrors: o.txErrors,
          activeOpens: c.activeOpens,
          passiveOpens: c.passiveOpens,
          retransmits,
          retransmitTimeouts,
          connections: demux.size,
          timerEntries: timers.entries,
          listeners: demux.listenerCount,
          timerRunning: timers.running,
          ...memory.stats(),
        }
      }),
    }
  })
