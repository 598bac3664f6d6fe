/**
 * A small but real HTTP/1.1 server and a minimal HTTP/1.1 client, both on a vnetif {@link TcpConnection} (used by
 * `examples/tap.ts` and the kernel-interop tests; not part of the library).
 *
 * Server ({@link httpHandler}, run with `stack.tcp.serve(80, httpHandler())`):
 * - GET and HEAD (anything else: 405 with `Allow`), HTTP/1.1 and HTTP/1.0 requests;
 * - responses always carry `Content-Length` (or `Transfer-Encoding: chunked` on `/chunked/N`);
 * - keep-alive: HTTP/1.1 keeps the connection unless `Connection: close`, HTTP/1.0 only with
 *   `Connection: keep-alive`; pipelined requests are read from the same buffer and answered strictly in order;
 * - 400 (and close) on a malformed request line or header line, a request body in chunked encoding, or a bad
 *   `Content-Length`; a request's `Content-Length` body is read and discarded, so pipelining stays in step;
 * - 431 (and close) when the request line plus headers exceed `maxHeaderBytes` (default {@link MAX_HEADER_BYTES});
 * - timeouts against clients that hold a connection without completing requests (slowloris and its kind; see
 *   {@link HttpServerOptions}): the request head must arrive within `headerTimeout` (default 20 s) of when the server
 *   starts waiting for it — so this also bounds a keep-alive connection's idle time —, a request body within
 *   `bodyTimeout` (20 s) of its head, and each response write must be taken by the client within `sendTimeout`
 *   (60 s). A head or body that is late closes the connection, with a 408 when part of the request had arrived and
 *   silently when the connection was idle; a write that is late aborts it (the client stopped reading). Each counts
 *   in `timeouts`;
 * - routes: `/` (a short text), `/bytes/N` (N deterministic bytes, see {@link fillBody}, generated 64 KiB at a time,
 *   never held in memory), `/chunked/N` (the same bytes in chunked encoding), anything else 404.
 *
 * Client ({@link httpGet}): sends one GET on a connection (a {@link ByteReader} carries leftover bytes from one
 * response to the next, so several requests can share a connection) and reads the response: `Content-Length`,
 * `Transfer-Encoding: chunked`, or until the peer closes. The body is hashed (SHA-256) and counted on the fly.
 *
 * @module
 */
import { createHash } from "node:crypto"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { TcpConnection, TcpError } from "../src/tcp/Tcp.ts"

/** The largest request head (request line plus headers) the server accepts. */
export const MAX_HEADER_BYTES: number = 8192

/** A protocol violation seen by the HTTP client or server. */
export class HttpError extends Data.TaggedError("HttpError")<{ readonly message: string }> {}

const EMPTY = new Uint8Array(0)
const CRLF = new Uint8Array([13, 10])
const CRLFCRLF = new Uint8Array([13, 10, 13, 10])
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const indexOf = (hay: Uint8Array, needle: Uint8Array, from: number): number => {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/** Buffered reads on a {@link TcpConnection}: whole lines, exact lengths, or whatever is there. */
export class ByteReader {
  private rest: Uint8Array = EMPTY
  /** Wraps `conn`. */
  constructor(readonly conn: TcpConnection) {}

  /** Bytes received and not consumed yet (e.g. the part of a request head that has arrived). */
  get buffered(): number {
    return this.rest.length
  }

  /** Up to `max` bytes (buffered ones first), or undefined at the end of the stream. */
  chunk(max: number): Effect.Effect<Uint8Array | undefined, TcpError> {
    return Effect.suspend(() => {
      if (this.rest.length > 0) {
        const out = this.rest.subarray(0, max)
        this.rest = this.rest.subarray(out.length)
        return Effect.succeed(out)
      }
      return Effect.map(this.conn.read, (c) => {
        if (c === undefined || c.length <= max) return c
        this.rest = c.subarray(max)
        return c.subarray(0, max)
      })
    })
  }

  /** Exactly `n` bytes; fails with {@link HttpError} when the stream ends first. */
  exactly(n: number): Effect.Effect<Uint8Array, TcpError | HttpError> {
    return Effect.gen({ self: this }, function* () {
      const out = new Uint8Array(n)
      let got = 0
      while (got < n) {
        const c = yield* this.chunk(n - got)
        if (c === undefined) return yield* new HttpError({ message: `stream ended after ${got} of ${n} bytes` })
        out.set(c, got)
        got += c.length
      }
      return out
    })
  }

  /**
   * The bytes before the next `delimiter` (which is consumed), `undefined` at the end of the stream when nothing
   * is buffered, or "TooLarge" when `limit` bytes arrive without the delimiter.
   */
  until(
    delimiter: Uint8Array,
    limit: number,
  ): Effect.Effect<Uint8Array | undefined | "TooLarge", TcpError | HttpError> {
    return Effect.gen({ self: this }, function* () {
      let searched = 0
      while (true) {
        const i = indexOf(this.rest, delimiter, Math.max(0, searched - delimiter.length + 1))
        if (i >= 0) {
          const head = this.rest.slice(0, i)
          this.rest = this.rest.subarray(i + delimiter.length)
          return head
        }
        searched = this.rest.length
        if (this.rest.length > limit) return "TooLarge"
        const c = yield* this.conn.read
        if (c === undefined) {
          if (this.rest.length === 0) return undefined
          return yield* new HttpError({ message: "stream ended in the middle of a line" })
        }
        const joined = new Uint8Array(this.rest.length + c.length)
        joined.set(this.rest)
        joined.set(c, this.rest.length)
        this.rest = joined
      }
    })
  }
}

// ------------------------------------------------------------------------------------------------ the body generator

/**
 * Fills `out` with the bytes at offsets `offset … offset + out.length` of the deterministic body (`offset` a
 * multiple of 4): little-endian 32-bit words, word `w` = a Murmur3-style mix of `w`, so the stream has no short
 * period and a misplaced segment changes its hash.
 */
export const fillBody = (offset: number, out: Uint8Array): void => {
  const words = (out.length + 3) >>> 2
  const tmp = new Uint8Array(words * 4)
  const v = new DataView(tmp.buffer)
  const w0 = offset / 4
  for (let k = 0; k < words; k++) {
    let x = Math.imul((w0 + k) ^ 0x9e3779b9, 0x85ebca6b)
    x ^= x >>> 13
    x = Math.imul(x, 0xc2b2ae35)
    x ^= x >>> 16
    v.setUint32(k * 4, x, true)
  }
  out.set(tmp.subarray(0, out.length))
}

/** SHA-256 (hex) and length of the first `n` bytes of the deterministic body, computed 64 KiB at a time. */
export const bodySha256 = (n: number): string => {
  const h = createHash("sha256")
  const buf = new Uint8Array(65536)
  for (let off = 0; off < n; off += buf.length) {
    const part = buf.subarray(0, Math.min(buf.length, n - off))
    fillBody(off, part)
    h.update(part)
  }
  return h.digest("hex")
}

// ------------------------------------------------------------------------------------------------ the server

/** Counters of one {@link httpHandler}. */
export interface HttpServerStats {
  /** Connections handled. */
  connections: number
  /** Requests answered (any status). */
  requests: number
  /** Body bytes sent. */
  bodyBytes: number
  /** Connections closed for a timeout (`headerTimeout`, `bodyTimeout` or `sendTimeout`). */
  timeouts: number
}

/** Makes fresh {@link HttpServerStats}. */
export const httpServerStats = (): HttpServerStats => ({ connections: 0, requests: 0, bodyBytes: 0, timeouts: 0 })

/** Limits of one {@link httpHandler} against clients that hold connections (slowloris); all optional. */
export interface HttpServerOptions {
  /**
   * Most time for a request head (request line and headers) to arrive, counted from when the server starts waiting
   * for it (the connection's start, or the end of the previous response: so it also bounds keep-alive idle time),
   * default 20 seconds. Late: 408 and close when part of the request had arrived, a silent close when none had.
   */
  readonly headerTimeout?: Duration.Input
  /** Most time for a request body (`Content-Length` bytes) to arrive after its head, default 20 seconds. */
  readonly bodyTimeout?: Duration.Input
  /** Most time one response write may wait for the client to take data, default 60 seconds; late: abort. */
  readonly sendTimeout?: Duration.Input
  /** Largest request head in bytes, default {@link MAX_HEADER_BYTES}; larger: 431 and close. */
  readonly maxHeaderBytes?: number
}

/** The defaults of {@link HttpServerOptions}. */
export const HTTP_SERVER_DEFAULTS: {
  readonly headerTimeout: Duration.Input
  readonly bodyTimeout: Duration.Input
  readonly sendTimeout: Duration.Input
  readonly maxHeaderBytes: number
} = {
  headerTimeout: "20 seconds",
  bodyTimeout: "20 seconds",
  sendTimeout: "60 seconds",
  maxHeaderBytes: MAX_HEADER_BYTES,
}

const STATUS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * The connection handler of the HTTP/1.1 server (see the module docs): answers requests until the client closes,
 * asks to close, sends something malformed, or is too slow (`options`). `stats` (optional) is updated as it goes.
 */
export const httpHandler = (
  stats: HttpServerStats = httpServerStats(),
  options: HttpServerOptions = {},
): (conn: TcpConnection) => Effect.Effect<void, TcpError | HttpError> => {
  const headerTimeout = options.headerTimeout ?? HTTP_SERVER_DEFAULTS.headerTimeout
  const bodyTimeout = options.bodyTimeout ?? HTTP_SERVER_DEFAULTS.bodyTimeout
  const sendTimeout = options.sendTimeout ?? HTTP_SERVER_DEFAULTS.sendTimeout
  const maxHeaderBytes = options.maxHeaderBytes ?? HTTP_SERVER_DEFAULTS.maxHeaderBytes
  return (conn) =>
    Effect.gen(function* () {
      stats.connections++
      const reader = new ByteReader(conn)
      // a write the client does not take in time aborts the connection (the handler fails: `serve` aborts it)
      const write = (b: Uint8Array): Effect.Effect<void, TcpError | HttpError> =>
        Effect.timeoutOrElse(conn.write(b), {
          duration: sendTimeout,
          orElse: () =>
            Effect.suspend(() => {
              stats.timeouts++
              return Effect.fail(new HttpError({ message: "the client took no data for the send timeout" }))
            }),
        })
      const send = (s: string) => write(encoder.encode(s))
      const simple = (status: number, body: string, close: boolean, extra = "") => {
        stats.requests++
        stats.bodyBytes += body.length
        return send(
          `HTTP/1.1 ${status} ${STATUS[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
            `${extra}${close ? "Connection: close\r\n" : ""}\r\n${body}`,
        )
      }
      /** A request head or body that did not arrive in time: 408 if part of a request is here, then close. */
      const late = (partial: boolean) =>
        Effect.suspend(() => {
          stats.timeouts++
          return partial ? simple(408, "request timeout\n", true) : Effect.void
        })
      while (true) {
        const waited = yield* Effect.timeoutOption(reader.until(CRLFCRLF, maxHeaderBytes), headerTimeout)
        if (Option.isNone(waited)) return yield* late(reader.buffered > 0)
        const head = waited.value
        if (head === undefined) return
        if (head === "TooLarge" || head.length > maxHeaderBytes) {
          return yield* simple(431, "request head too large\n", true)
        }
        const lines = decoder.decode(head).split("\r\n")
        const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/\S*|\*) HTTP\/1\.([01])$/.exec(lines[0])
        if (m === null) return yield* simple(400, "malformed request line\n", true)
        const [, method, target, minor] = m
        const headers = new Map<string, string>()
        let bad = false
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":")
          const name = colon > 0 ? line.slice(0, colon) : ""
          if (!TOKEN.test(name)) {
            bad = true
            break
          }
          const key = name.toLowerCase()
          const value = line.slice(colon + 1).trim()
          headers.set(key, headers.has(key) ? `${headers.get(key)}, ${value}` : value)
        }
        if (bad) return yield* simple(400, "malformed header line\n", true)
        if (headers.has("transfer-encoding")) {
          return yield* simple(400, "request bodies must use Content-Length\n", true)
        }
        const cl = headers.get("content-length")
        if (cl !== undefined) {
          if (!/^\d{1,15}$/.test(cl)) return yield* simple(400, "bad Content-Length\n", true)
          let left = Number(cl)
          const body = Effect.gen(function* () {
            while (left > 0) {
              const c = yield* reader.chunk(Math.min(left, 65536))
              if (c === undefined) return false
              left -= c.length
            }
            return true
          })
          const read = yield* Effect.timeoutOption(body, bodyTimeout)
          if (Option.isNone(read)) return yield* late(true)
          if (!read.value) return
        }
        const connection = (headers.get("connection") ?? "").toLowerCase()
        const close = minor === "1" ? /\bclose\b/.test(connection) : !/\bkeep-alive\b/.test(connection)
        const keep = close ? "" : minor === "0" ? "Connection: keep-alive\r\n" : ""
        if (method !== "GET" && method !== "HEAD") {
          yield* simple(405, "only GET and HEAD\n", close, `Allow: GET, HEAD\r\n${keep}`)
        } else {
          const path = target.split("?")[0]
          const bytes = /^\/(bytes|chunked)\/(\d{1,13})$/.exec(path)
          if (path === "/") {
            const body = "vnetif: a userspace TCP/IP stack says hello\n"
            stats.requests++
            yield* send(
              `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${keep}` +
                `${close ? "Connection: close\r\n" : ""}\r\n${method === "HEAD" ? "" : body}`,
            )
            if (method === "GET") stats.bodyBytes += body.length
          } else if (bytes !== null) {
            const n = Number(bytes[2])
            const chunked = bytes[1] === "chunked"
            stats.requests++
            yield* send(
              `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n` +
                `${chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${n}`}\r\n${keep}` +
                `${close ? "Connection: close\r\n" : ""}\r\n`,
            )
            if (method === "GET") {
              const buf = new Uint8Array(65536)
              for (let off = 0; off < n; off += buf.length) {
                const part = buf.subarray(0, Math.min(buf.length, n - off))
                fillBody(off, part)
                if (chunked) yield* send(`${part.length.toString(16)}\r\n`)
                yield* write(part)
                if (chunked) yield* write(CRLF)
                stats.bodyBytes += part.length
              }
              if (chunked) yield* send("0\r\n\r\n")
            }
          } else {
            yield* simple(404, `no such resource: ${path}\n`, close, keep)
          }
        }
        if (close) return
      }
    })
}

// ------------------------------------------------------------------------------------------------ the client

/** A response read by {@link httpGet}. */
export interface HttpResponse {
  /** The status code. */
  readonly status: number
  /** The headers, names in lower case. */
  readonly headers: ReadonlyMap<string, string>
  /** Body length in bytes. */
  readonly length: number
  /** SHA-256 of the body, hex. */
  readonly sha256: string
  /** The body as text when it is at most 64 KiB, else undefined. */
  readonly text: string | undefined
  /** Whether the server will keep the connection open. */
  readonly keepAlive: boolean
}

/**
 * Sends `GET path` on the reader's connection and reads the response (Content-Length, chunked, or until the
 * server closes). With `close` the request asks the server to close the connection afterwards.
 */
export const httpGet = (
  reader: ByteReader,
  host: string,
  path: string,
  options?: { readonly close?: boolean },
): Effect.Effect<HttpResponse, TcpError | HttpError> =>
  Effect.gen(function* () {
    yield* reader.conn.write(
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: vnetif-example\r\nAccept: */*\r\n` +
          `${options?.close === true ? "Connection: close\r\n" : ""}\r\n`,
      ),
    )
    const head = yield* reader.until(CRLFCRLF, 65536)
    if (head === undefined || head === "TooLarge") {
      return yield* new HttpError({ message: head === undefined ? "no response" : "response head too large" })
    }
    const lines = decoder.decode(head).split("\r\n")
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0])
    if (m === null) return yield* new HttpError({ message: `malformed status line ${JSON.stringify(lines[0])}` })
    const headers = new Map<string, string>()
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":")
      if (colon <= 0) return yield* new HttpError({ message: `malformed header line ${JSON.stringify(line)}` })
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim())
    }
    const hash = createHash("sha256")
    const small: Array<Uint8Array> = []
    let length = 0
    const take = (c: Uint8Array) => {
      hash.update(c)
      if (length + c.length <= 65536) small.push(c.slice())
      length += c.length
    }
    const te = (headers.get("transfer-encoding") ?? "").toLowerCase()
    const cl = headers.get("content-length")
    const connection = (headers.get("connection") ?? "").toLowerCase()
    let keepAlive = m[1] === "1" ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection)
    const status = Number(m[2])
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      // no body
    } else if (te.includes("chunked")) {
      while (true) {
        const line = yield* reader.until(CRLF, 1024)
        if (line === undefined || line === "TooLarge") return yield* new HttpError({ message: "bad chunk size line" })
        const size = parseInt(decoder.decode(line).split(";")[0].trim(), 16)
        if (!Number.isFinite(size) || size < 0) return yield* new HttpError({ message: "bad chunk size" })
        if (size === 0) {
          // trailers, up to the empty line
          while (true) {
            const t = yield* reader.until(CRLF, 8192)
            if (t === undefined || t === "TooLarge") return yield* new HttpError({ message: "bad trailer" })
            if (t.length === 0) break
          }
          break
        }
        let left = size
        while (left > 0) {
          const c = yield* reader.chunk(left)
          if (c === undefined) return yield* new HttpError({ message: "stream ended inside a chunk" })
          take(c)
          left -= c.length
        }
        const end = yield* reader.exactly(2)
        if (end[0] !== 13 || end[1] !== 10) return yield* new HttpError({ message: "chunk not followed by CRLF" })
      }
    } else if (cl !== undefined) {
      let left = Number(cl)
      while (left > 0) {
        const c = yield* reader.chunk(Math.min(left, 1 << 20))
        if (c === undefined) return yield* new HttpError({ message: `body ended ${left} bytes short` })
        take(c)
        left -= c.length
      }
    } else {
      keepAlive = false
      while (true) {
        const c = yield* reader.chunk(1 << 20)
        if (c === undefined) break
        take(c)
      }
    }
    let text: string | undefined
    if (length <= 65536) {
      const all = new Uint8Array(length)
      let o = 0
      for (const c of small) {
        all.set(c, o)
        o += c.length
      }
      text = decoder.decode(all)
    }
    return { status, headers, length, sha256: hash.digest("hex"), text, keepAlive }
  })
