/**
 * An iperf3 server on a vnetif stack: speaks the iperf3 control protocol (as of iperf 3.12, the Debian 12 client)
 * well enough that `iperf3 -c <stack> [-R] [-J]` completes a TCP test against it. Used by `examples/iperf.ts
 * --server` and `examples/tap.ts`. Written from a reading of iperf3's protocol, not from its code.
 *
 * The protocol, on one TCP port (5201):
 * 1. The client opens the control connection and sends a 37-byte cookie (36 characters and a NUL).
 * 2. The server sends single signed bytes, the states: PARAM_EXCHANGE (9); the client answers with its parameters as
 *    JSON, preceded by the length as a 4-byte big-endian integer. Then CREATE_STREAMS (10): the client opens
 *    `parallel` data connections to the same port, each starting with the same cookie.
 * 3. TEST_START (1), TEST_RUNNING (2): the sender (the client, or the server with `-R`) writes blocks of `len`
 *    bytes on every data connection; the receiver reads and counts.
 * 4. When the time (`-t`) or volume (`-n`, `-k`) is reached the client sends TEST_END (4). The server stops its data
 *    streams, sends EXCHANGE_RESULTS (13), reads the client's results JSON (length-prefixed), sends its own
 *    (`cpu_util_*`, `sender_has_retransmits`, `streams: [{id, bytes, retransmits, jitter, errors, packets,
 *    start_time, end_time}]`), sends DISPLAY_RESULTS (14) and waits for IPERF_DONE (16).
 * 5. CLIENT_TERMINATE (12) ends a test early. A connection arriving while a test runs gets ACCESS_DENIED (-1);
 *    unsupported parameters get SERVER_ERROR (-2) followed by two 4-byte integers (iperf3's error number, errno).
 *
 * Supported client options (checked against iperf 3.12): `-t` (time), `-n` (bytes), `-k` (blocks), `-R` (reverse:
 * we send), `-l` (block size), `-P N` (parallel streams), `-J` (JSON output), `-i` (the client's own intervals),
 * `-O` (omit: counted as part of the test on our side), `-w`, `-M`, `-N`, `-C`, `-S`, `--cport` (accepted and
 * ignored: our stack's buffers, MSS and congestion control apply), `--get-server-output` (a one-line text). Refused
 * with SERVER_ERROR (the client prints "an option you are trying to set is not implemented yet"): `-u` (UDP),
 * `--sctp`, `--bidir`. Not supported: authentication (`--username`), `-F` on our side. One test at a time; a client
 * arriving meanwhile gets ACCESS_DENIED ("the server is busy running a test").
 *
 * @module
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { TcpConnection, TcpError, TcpShape } from "../src/tcp/Tcp.ts"
import { Backend, type BackendShape } from "../src/link/Backend.ts"
import { Tap } from "../src/link/uplink/Tap.ts"
import { Vxlan } from "../src/link/uplink/Vxlan.ts"
import { Stack } from "../src/Stack.ts"
import { IpAddress } from "../src/wire/IpAddress.ts"
import { Ipv4Address } from "../src/wire/Ipv4Address.ts"
import { ByteReader, type HttpError } from "./_http.ts"

/** iperf3's control states (single signed bytes on the control connection). */
export const IperfState = {
  TEST_START: 1,
  TEST_RUNNING: 2,
  TEST_END: 4,
  PARAM_EXCHANGE: 9,
  CREATE_STREAMS: 10,
  SERVER_TERMINATE: 11,
  CLIENT_TERMINATE: 12,
  EXCHANGE_RESULTS: 13,
  DISPLAY_RESULTS: 14,
  IPERF_DONE: 16,
  ACCESS_DENIED: -1,
  SERVER_ERROR: -2,
} as const

/** The cookie's length on the wire. */
export const COOKIE_SIZE: number = 37

/** iperf3's error number 13 (IEUNIMP): the client prints "an option you are trying to set is not implemented yet". */
const IE_UNSUPPORTED = 13

/** One finished test, as the server saw it. */
export interface Iperf3TestResult {
  /** The client's address. */
  readonly client: string
  /** True when we sent (`-R`). */
  readonly reverse: boolean
  /** Data streams. */
  readonly streams: number
  /** Bytes sent (reverse) or received, all streams. */
  readonly bytes: number
  /** Seconds from TEST_START to TEST_END. */
  readonly seconds: number
  /** Our retransmissions (reverse only). */
  readonly retransmits: number
  /** The client's parameters. */
  readonly params: Record<string, unknown>
}

/** A running {@link iperf3Server}. */
export interface Iperf3Server {
  /** Whether a test (from the cookie to IPERF_DONE) is in progress. */
  readonly busy: () => boolean
}

/** Options of {@link iperf3Server}. */
export interface Iperf3ServerOptions {
  /** The port (default 5201). */
  readonly port?: number
  /** Called after each test. */
  readonly onTest?: (result: Iperf3TestResult) => Effect.Effect<void>
}

interface Stream {
  readonly id: number
  readonly reader: ByteReader
  bytes: number
  retransmits: number
}

interface Pending {
  readonly cookie: string
  readonly wanted: number
  readonly streams: Array<Stream>
  readonly allThere: Deferred.Deferred<void>
  readonly start: Deferred.Deferred<void>
  readonly stop: Deferred.Deferred<void>
  readonly finished: Array<Deferred.Deferred<void>>
  readonly reverse: boolean
  readonly blockSize: number
  readonly byteLimit: number
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

const stateByte = (s: number): Uint8Array => new Uint8Array([s & 0xff])

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0)
  return b
}

const writeJson = (conn: TcpConnection, value: unknown): Effect.Effect<void, TcpError> =>
  Effect.gen(function* () {
    const body = encoder.encode(JSON.stringify(value))
    const out = new Uint8Array(4 + body.length)
    out.set(u32(body.length))
    out.set(body, 4)
    yield* conn.write(out)
  })

const readJson = (reader: ByteReader): Effect.Effect<Record<string, unknown>, TcpError | HttpError> =>
  Effect.gen(function* () {
    const len = new DataView((yield* reader.exactly(4)).buffer).getUint32(0)
    const text = decoder.decode(yield* reader.exactly(Math.min(len, 1 << 20)))
    return JSON.parse(text) as Record<string, unknown>
  })

const serverError = (conn: TcpConnection): Effect.Effect<void, TcpError> =>
  Effect.gen(function* () {
    const out = new Uint8Array(9)
    out[0] = IperfState.SERVER_ERROR & 0xff
    out.set(u32(IE_UNSUPPORTED), 1)
    out.set(u32(0), 5)
    yield* conn.write(out)
  })

/** iperf3 numbers its streams 1, 3, 4, 5, … (the second gets 3); the client matches results by these ids. */
const streamId = (k: number): number => (k === 0 ? 1 : k + 2)

/**
 * Serves iperf3 clients on `port` (default 5201) of a stack's TCP for the lifetime of the current Scope, one test at
 * a time (see the module docs for the protocol and the supported options).
 */
export const iperf3Server = (
  tcp: TcpShape,
  options?: Iperf3ServerOptions,
): Effect.Effect<Iperf3Server, TcpError, Scope.Scope> =>
  Effect.gen(function* () {
    let busy = false
    let pending: Pending | undefined
    /** Which test owns `busy` and `pending` (a finished test must not clear its successor's state). */
    let current = 0

    /** Test `gen` no longer needs the server: its results are out (or it ended). */
    const release = (gen: number): void => {
      if (current !== gen) return
      pending = undefined
      busy = false
    }

    const dataStream = (conn: TcpConnection, reader: ByteReader, p: Pending): Effect.Effect<void, unknown> =>
      Effect.gen(function* () {
        const s: Stream = { id: streamId(p.streams.length), reader, bytes: 0, retransmits: 0 }
        const finished = yield* Deferred.make<void>()
        p.streams.push(s)
        p.finished.push(finished)
        if (p.streams.length === p.wanted) yield* Deferred.succeed(p.allThere, undefined)
        yield* Deferred.await(p.start)
        const work = p.reverse
          ? Effect.gen(function* () {
            const block = new Uint8Array(p.blockSize)
            for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 13) & 0xff
            while (p.byteLimit === 0 || s.bytes < p.byteLimit) {
              const n = p.byteLimit === 0 ? block.length : Math.min(block.length, p.byteLimit - s.bytes)
              yield* conn.write(n === block.length ? block : block.subarray(0, n))
              s.bytes += n
            }
            yield* Effect.never
          })
          : Effect.gen(function* () {
            while (true) {
              const c = yield* reader.chunk(1 << 20)
              if (c === undefined) return yield* Effect.never
              s.bytes += c.length
            }
          })
        yield* Effect.raceFirst(Effect.ignore(work), Deferred.await(p.stop))
        s.retransmits = (yield* conn.stats).retransmits
        yield* Deferred.succeed(finished, undefined)
        // A graceful FIN (the handler's return closes the connection), never a RST: with -R the client keeps
        // draining its data sockets after TEST_END until the results arrive, and a reset there fails its test.
      })

    const control = (
      conn: TcpConnection,
      reader: ByteReader,
      cookie: string,
      gen: number,
    ): Effect.Effect<void, unknown> =>
      Effect.gen(function* () {
        yield* conn.write(stateByte(IperfState.PARAM_EXCHANGE))
        const params = yield* readJson(reader)
        if (params.tcp !== true || params.udp === true || params.sctp === true || params.bidirectional === true) {
          return yield* serverError(conn)
        }
        const parallel = Math.max(1, Math.min(128, Number(params.parallel ?? 1)))
        const reverse = params.reverse === true
        const p: Pending = {
          cookie,
          wanted: parallel,
          streams: [],
          allThere: yield* Deferred.make<void>(),
          start: yield* Deferred.make<void>(),
          stop: yield* Deferred.make<void>(),
          finished: [],
          reverse,
          blockSize: Math.max(1, Math.min(1 << 20, Number(params.len ?? 131072))),
          byteLimit: reverse
            ? Math.ceil(
              Number(params.num ?? 0) / parallel ||
                (Number(params.blockcount ?? 0) * Number(params.len ?? 131072)) / parallel,
            ) || 0
            : 0,
        }
        pending = p
        yield* conn.write(stateByte(IperfState.CREATE_STREAMS))
        const there = yield* Deferred.await(p.allThere).pipe(Effect.timeoutOption("10 seconds"))
        if (there._tag === "None") return yield* serverError(conn)
        yield* conn.write(stateByte(IperfState.TEST_START))
        yield* conn.write(stateByte(IperfState.TEST_RUNNING))
        const t0 = performance.now()
        yield* Deferred.succeed(p.start, undefined)
        const end = yield* reader.exactly(1)
        const t1 = performance.now()
        yield* Deferred.succeed(p.stop, undefined)
        yield* Effect.forEach(p.finished, (d) => Deferred.await(d), { discard: true }).pipe(
          Effect.timeoutOption("5 seconds"),
        )
        const code = (end[0] << 24) >> 24
        if (code !== IperfState.TEST_END) return // CLIENT_TERMINATE or anything else: the test is over
        yield* conn.write(stateByte(IperfState.EXCHANGE_RESULTS))
        yield* readJson(reader)
        const seconds = (t1 - t0) / 1000
        const results: Record<string, unknown> = {
          cpu_util_total: 0,
          cpu_util_user: 0,
          cpu_util_system: 0,
          sender_has_retransmits: reverse ? 1 : 0,
          congestion_used: tcp.config.congestion,
          streams: p.streams.map((s) => ({
            id: s.id,
            bytes: s.bytes,
            retransmits: reverse ? s.retransmits : 0,
            jitter: 0,
            errors: 0,
            omitted_errors: 0,
            packets: 0,
            start_time: 0,
            end_time: seconds,
          })),
        }
        const bytes = p.streams.reduce((n, s) => n + s.bytes, 0)
        if (params.get_server_output === 1 || params.get_server_output === true) {
          results.server_output_text = `vnetif iperf3 server: ${bytes} bytes in ${seconds.toFixed(3)} s, ` +
            `${((bytes * 8) / seconds / 1e6).toFixed(1)} Mbit/s ${reverse ? "sent" : "received"}\n`
        }
        yield* writeJson(conn, results)
        yield* conn.write(stateByte(IperfState.DISPLAY_RESULTS))
        if (options?.onTest !== undefined) {
          yield* options.onTest({
            client: IpAddress.format(conn.remoteAddress),
            reverse,
            streams: p.streams.length,
            bytes,
            seconds,
            retransmits: p.streams.reduce((n, s) => n + s.retransmits, 0),
            params,
          })
        }
        // the results are out: the next client may start now (iperf3 clients run back to back, and the next one's
        // cookie can arrive before this one's IPERF_DONE has been read)
        release(gen)
        yield* reader.exactly(1).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore) // IPERF_DONE
      })

    yield* tcp.serve(options?.port ?? 5201, (conn) =>
      Effect.gen(function* () {
        const reader = new ByteReader(conn)
        const raw = yield* reader.exactly(COOKIE_SIZE).pipe(Effect.timeout("10 seconds"))
        const cookie = decoder.decode(raw.subarray(0, COOKIE_SIZE - 1))
        const p = pending
        if (p !== undefined && p.cookie === cookie && p.streams.length < p.wanted) {
          return yield* dataStream(conn, reader, p)
        }
        if (busy) {
          yield* conn.write(stateByte(IperfState.ACCESS_DENIED))
          return
        }
        busy = true
        const gen = ++current
        const fiber = yield* Effect.forkChild(control(conn, reader, cookie, gen))
        yield* Fiber.await(fiber)
        release(gen)
      }))
    return { busy: () => busy }
  })

/** Where `examples/iperf.ts --server` runs its stack. */
export interface Iperf3ServerMainOptions {
  /** Attach to this TAP device (created when missing; needs root), or … */
  readonly tap?: string | undefined
  /** … join a VXLAN: the local UDP address to bind, the remote VTEP and the VNI. */
  readonly vxlan?: { readonly local: string; readonly remote: string; readonly vni: number } | undefined
  /** Our address, e.g. 10.99.0.2/24. */
  readonly cidr: string
  /** MTU (default 1500 on TAP, 1450 on VXLAN). */
  readonly mtu?: number | undefined
  /** The port (default 5201). */
  readonly port?: number | undefined
  /** Stop after this many tests (default: run until interrupted). */
  readonly tests?: number | undefined
}

/**
 * The `--server` mode of `examples/iperf.ts`: a stack on a TAP device or a VXLAN uplink serving iperf3 clients,
 * printing one line per test; runs until interrupted (or `tests` tests are done).
 */
export const iperf3ServerMain = (o: Iperf3ServerMainOptions): Effect.Effect<void, unknown> =>
  Effect.scoped(Effect.gen(function* () {
    const mtu = o.mtu ?? (o.vxlan === undefined ? 1500 : 1450)
    let backend: BackendShape
    if (o.tap !== undefined) {
      backend = (yield* Tap.make({ name: o.tap, mtu })).backend
    } else if (o.vxlan !== undefined) {
      backend = (yield* Vxlan.make({
        vni: o.vxlan.vni,
        address: o.vxlan.local,
        remotes: [{ address: o.vxlan.remote }],
        mtu,
      })).backend
    } else {
      return yield* Effect.fail(new Error("iperf --server needs --tap NAME or --vxlan-local/--vxlan-remote"))
    }
    const stack = yield* Stack.make({ cidr: o.cidr, mtu, checksum: "all" }).pipe(
      Effect.provideService(Backend, backend),
    )
    const done = yield* Deferred.make<void>()
    let count = 0
    const server = yield* iperf3Server(stack.tcp, {
      port: o.port ?? 5201,
      onTest: (r) =>
        Effect.gen(function* () {
          console.log(
            `iperf3 server: ${r.client}: ${r.bytes} bytes ${r.reverse ? "sent" : "received"} on ${r.streams} ` +
              `stream(s) in ${r.seconds.toFixed(2)} s = ${((r.bytes * 8) / r.seconds / 1e6).toFixed(1)} Mbit/s` +
              `${r.reverse ? `, ${r.retransmits} retransmits` : ""}`,
          )
          if (++count === o.tests) yield* Deferred.succeed(done, undefined)
        }),
    })
    console.log(
      `iperf3 server: listening on ${Ipv4Address.format(stack.address)} port ${o.port ?? 5201} ` +
        `(${o.tap !== undefined ? `tap ${o.tap}` : `vxlan ${o.vxlan?.local} → ${o.vxlan?.remote}`}, mtu ${mtu})`,
    )
    yield* Deferred.await(done)
    // onTest runs once the results are written; let the client read them and say IPERF_DONE before the stack closes
    for (let i = 0; i < 100 && server.busy(); i++) yield* Effect.sleep("50 millis")
  }))
