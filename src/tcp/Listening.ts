/**
 * Listening sockets as the application sees them: the handle ({@link TcpListener}) over the core's LISTEN endpoint
 * ({@link Listener}), the fibers waiting in `accept`, and closing.
 *
 * A connection the core accepted waits in the listener's accept queue until the handshake completes; the service
 * wakes the listener's waiters then (the core's Established signal). An accepted connection is held in the
 * listener's `live` set until it closes, so closing the listener (its Scope) closes the connections it handed out
 * that are still open, and aborts those still in the queue.
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  abort,
  close,
  type Conn,
  handleOf,
  type TcpConnection,
  type Waitable,
  type Waiter,
  waitOn,
  wake,
  WAKE_ALL,
} from "./Connection.ts"
import type { Demux } from "./Demux.ts"
import type { Listener } from "./Listener.ts"
import { TcpError } from "./TcpError.ts"

/** Counters of a listener (a snapshot). */
export interface TcpListenerStats {
  /** SYNs that created a half-open connection. */
  readonly synsAccepted: number
  /** SYNs dropped: the accept queue was full, or the half-open queue with `synCookies: "never"`. */
  readonly synsDropped: number
  /** SYNs with FIN set, dropped without a reply (never legitimate; Linux drops them too). */
  readonly synFinDropped: number
  /** SYN-ACKs sent with a SYN cookie, keeping no state (RFC 4987 §3.6). */
  readonly synCookiesSent: number
  /** ACKs whose SYN cookie checked: connections created from a cookie. */
  readonly synCookiesOk: number
  /** ACKs checked as cookie ACKs whose cookie did not check (answered with a RST, as to a closed port). */
  readonly synCookiesFailed: number
  /** SYNs and valid cookie ACKs dropped because the accept queue was full (Linux's ListenOverflows). */
  readonly listenOverflows: number
  /** Half-open (SYN-RECEIVED) connections now. */
  readonly halfOpen: number
  /** Connections handed to the application. */
  readonly accepted: number
  /** Connections waiting in the accept queue. */
  readonly pending: number
}

/** A listening port; it lives as long as the Scope it was opened in. */
export interface TcpListener {
  /** The local port. */
  readonly localPort: number
  /** The next established connection (suspends); fails with "Closed" once the listener is closed. */
  readonly accept: Effect.Effect<TcpConnection, TcpError>
  /** Every accepted connection, as a Stream that ends when the listener closes. */
  readonly connections: Stream.Stream<TcpConnection, TcpError>
  /** Counters. */
  readonly stats: Effect.Effect<TcpListenerStats>
}

/** A connection handler of `serve`: the connection is closed when it succeeds and aborted when it fails. */
export type TcpHandler<E> = (connection: TcpConnection) => Effect.Effect<unknown, E>

/** The shell's record of one listening port. */
export class ListenerRec implements Waitable {
  /** Whether it still accepts. */
  open = true
  /** Connections handed to the application. */
  accepted = 0
  /** Accepted connections still open (closed with the listener). */
  readonly live: Set<Conn> = new Set()
  /** Fibers waiting in `accept`. */
  waiters: Array<Waiter> = []

  /** A record for the core listener `core` on `port`. */
  constructor(readonly core: Listener, readonly port: number) {}
}

const acceptReady = (l: ListenerRec) => (): boolean => !l.open || l.core.acceptQueue.length > 0

const accept = (l: ListenerRec): Effect.Effect<TcpConnection, TcpError> =>
  Effect.suspend(() => {
    if (!l.open) return Effect.fail(new TcpError({ reason: "Closed", message: `listener on port ${l.port} is closed` }))
    const tcb = l.core.accept()
    if (tcb !== undefined) {
      const x = tcb.tag as Conn
      x.listener = undefined
      x.owner = l
      if (x.inTable) l.live.add(x)
      l.accepted++
      return Effect.succeed(handleOf(x))
    }
    return Effect.flatMap(waitOn(l, WAKE_ALL, acceptReady(l)), () => accept(l))
  })

/**
 * Closes `l` (its Scope closed): no new connections, `accept` fails with "Closed", queued connections are aborted
 * and accepted ones still open are closed.
 */
export const closeListener = (l: ListenerRec, demux: Demux<Conn, ListenerRec>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!l.open) return Effect.void
    l.open = false
    demux.unlisten(l.port, l)
    const queued = l.core.close()
    wake(l, WAKE_ALL)
    const effects: Array<Effect.Effect<void>> = []
    for (const tcb of queued) {
      const x = tcb.tag as Conn
      x.listener = undefined
      effects.push(abort(x))
    }
    for (const x of l.live) effects.push(close(x))
    l.live.clear()
    return Effect.all(effects, { concurrency: "unbounded", discard: true })
  })

/** Closes `l` as part of the stack's shutdown (its connections are aborted by the shutdown itself). */
export const shutdownListener = (l: ListenerRec): void => {
  l.open = false
  for (const tcb of l.core.close()) (tcb.tag as Conn).listener = undefined
  l.live.clear()
  wake(l, WAKE_ALL)
}

/** The application's handle of `l`. */
export const listenerHandle = (l: ListenerRec): TcpListener => {
  const acceptL = accept(l)
  const pull: Effect.Effect<readonly [TcpConnection], TcpError | Cause.Done> = Effect.catch(
    Effect.map(acceptL, (conn) => [conn] as const),
    (
      e,
    ): Effect.Effect<never, TcpError | Cause.Done> => (l.open || e.reason !== "Closed" ? Effect.fail(e) : Cause.done()),
  )
  const core = l.core
  return {
    localPort: l.port,
    accept: acceptL,
    connections: Stream.fromPull(Effect.succeed(pull)),
    stats: Effect.sync(() => ({
      synsAccepted: core.stats.synsAccepted,
      synsDropped: core.stats.synsDropped,
      synFinDropped: core.stats.synFinDropped,
      synCookiesSent: core.stats.synCookiesSent,
      synCookiesOk: core.stats.synCookiesOk,
      synCookiesFailed: core.stats.synCookiesFailed,
      listenOverflows: core.stats.listenOverflows,
      halfOpen: core.synQueue.size,
      accepted: l.accepted,
      pending: core.acceptQueue.length,
    })),
  }
}

/** Runs `handler` on a fiber of its own for each connection `listener` accepts, for the lifetime of the Scope. */
export const serveConnections = <E>(
  listener: TcpListener,
  handler: TcpHandler<E>,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fibers = yield* FiberSet.make<unknown, never>()
    const one = (conn: TcpConnection): Effect.Effect<void> =>
      Effect.suspend(() => handler(conn)).pipe(
        Effect.onExit((exit) => (Exit.isSuccess(exit) ? conn.close : conn.abort)),
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.void
            : Effect.logDebug(`tcp: handler on port ${listener.localPort} failed`, cause)
        ),
      )
    const loop = Effect.forever(Effect.flatMap(listener.accept, (conn) => FiberSet.run(fibers, one(conn))))
    yield* Effect.forkScoped(Effect.ignore(loop))
  })
