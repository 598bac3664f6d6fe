/**
 * The HTTP/1.1 server and client of `examples/_http.ts` on two in-process stacks on one switch: pipelined requests
 * answered in order on one connection, HEAD, 404, 405 with a request body skipped, 400 on a malformed request line,
 * 431 on an oversized head, HTTP/1.0 closing by default, and the client reading Content-Length and chunked bodies
 * byte-exact (length and SHA-256 against the generator); and, under TestClock, the limits against clients that hold
 * connections (slowloris): a head one byte at a time gets a 408 at `headerTimeout`, an idle keep-alive connection is
 * closed silently, a slow but timely client is served, a stalled body gets a 408, a client that stops reading is
 * aborted at `sendTimeout`, and `maxHeaderBytes` gives a 431.
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import type * as Scope from "effect/Scope"
import { Switch } from "../../src/link/Switch.ts"
import { Stack } from "../../src/Stack.ts"
import type { TcpConnection, TcpError } from "../../src/tcp/Tcp.ts"
import type { Backend } from "../../src/link/Backend.ts"
import {
  bodySha256,
  ByteReader,
  fillBody,
  httpGet,
  httpHandler,
  type HttpServerOptions,
  type HttpServerStats,
  httpServerStats,
  MAX_HEADER_BYTES,
} from "../../examples/_http.ts"
import { macrotask } from "../support/TestDevice.ts"

interface Fixture {
  readonly connect: Effect.Effect<TcpConnection, TcpError, Scope.Scope>
  readonly stats: HttpServerStats
}

const setup = (options?: HttpServerOptions): Effect.Effect<Fixture, unknown, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* Stack.make({ cidr: "10.0.0.2/24" })
    const client = yield* Stack.make({ cidr: "10.0.0.1/24" })
    const stats = httpServerStats()
    yield* server.tcp.serve(80, httpHandler(stats, options))
    return { connect: client.tcp.connect(server.address, 80), stats }
  })

const run = <A>(body: (f: Fixture) => Effect.Effect<A, unknown, Scope.Scope>): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(setup(), body)).pipe(Effect.provide(Layer.fresh(Switch.layer()))),
  )

/** Like `run`, under TestClock, with the server's `options`. */
const runTimed = <A>(
  options: HttpServerOptions,
  body: (f: Fixture) => Effect.Effect<A, unknown, Scope.Scope>,
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(setup(options), body)).pipe(
      Effect.provide(Layer.fresh(Switch.layer())),
      Effect.provide(TestClock.layer()),
    ),
  )

/** Reads everything the server sends until it closes, on a fiber; `done()` says whether it has closed. */
const collect = (conn: TcpConnection) =>
  Effect.gen(function* () {
    let text = ""
    let closed = false
    yield* Effect.forkChild(Effect.gen(function* () {
      while (true) {
        const c = yield* conn.read
        if (c === undefined) break
        text += decoder.decode(c)
      }
      closed = true
    }))
    return { text: () => text, closed: () => closed }
  })

/** Moves virtual time by `ms`, letting the stacks and the server run (real macrotasks between the steps). */
const advance = (ms: number) =>
  Effect.gen(function* () {
    for (let t = 0; t < ms; t += 500) {
      yield* TestClock.adjust(Math.min(500, ms - t))
      yield* macrotask
    }
    yield* macrotask
  })

const encoder = new TextEncoder()
const decoder = new TextDecoder("latin1")

/** Everything the server sends until it closes. */
const readAll = (conn: TcpConnection): Effect.Effect<string, unknown> =>
  Effect.gen(function* () {
    let out = ""
    while (true) {
      const c = yield* conn.read
      if (c === undefined) return out
      out += decoder.decode(c)
    }
  })

const bodyText = (n: number): string => {
  const b = new Uint8Array(n)
  fillBody(0, b)
  return decoder.decode(b)
}

describe("examples/_http.ts", () => {
  it("answers pipelined requests in order on one connection (GET, HEAD, 404, 405 with a body, close)", async () => {
    const { text, stats } = await run(({ connect, stats }) =>
      Effect.gen(function* () {
        const conn = yield* connect
        yield* conn.write(encoder.encode(
          "GET /bytes/10 HTTP/1.1\r\nHost: a\r\n\r\n" +
            "HEAD /bytes/7 HTTP/1.1\r\nHost: a\r\n\r\n" +
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
            "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n" +
            "GET /bytes/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" +
            "GET /never HTTP/1.1\r\n\r\n",
        ))
        return { text: yield* readAll(conn), stats }
      })
    )
    const responses = text.split(/(?=HTTP\/1\.1 )/)
    assert.equal(responses.length, 5, text)
    assert.equal(
      responses[0],
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n" + bodyText(10),
    )
    assert.equal(responses[1], "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 7\r\n\r\n")
    assert.match(responses[2], /^HTTP\/1\.1 405 Method Not Allowed\r\n[^]*Allow: GET, HEAD\r\n/)
    assert.match(responses[3], /^HTTP\/1\.1 404 Not Found\r\n[^]*\r\n\r\nno such resource: \/missing\n$/)
    assert.equal(
      responses[4],
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\nConnection: close\r\n\r\n" +
        bodyText(3),
    )
    assert.deepEqual(stats, { connections: 1, requests: 5, bodyBytes: 10 + 3 + 18 + 27, timeouts: 0 })
  })

  it("400 on a malformed request line, 431 on an oversized head, HTTP/1.0 closes by default", async () => {
    const [bad, big, old, oldKeep] = await run(({ connect }) =>
      Effect.gen(function* () {
        const a = yield* connect
        yield* a.write(encoder.encode("GET /\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
        const b = yield* connect
        yield* b.write(encoder.encode(`GET / HTTP/1.1\r\nX: ${"y".repeat(MAX_HEADER_BYTES)}\r\n\r\n`))
        const c = yield* connect
        yield* c.write(encoder.encode("GET / HTTP/1.0\r\n\r\n"))
        const d = yield* connect
        yield* d.write(encoder.encode("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"))
        return yield* Effect.all([readAll(a), readAll(b), readAll(c), readAll(d)])
      })
    )
    assert.match(bad, /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n\r\nmalformed request line\n$/)
    assert.match(big, /^HTTP\/1\.1 431 /)
    assert.equal(old.split("HTTP/1.1 200").length, 2)
    assert.match(old, /Connection: close\r\n/)
    assert.equal(oldKeep.split("HTTP/1.1 200").length, 3, "keep-alive on request, then closed")
    assert.match(oldKeep, /Connection: keep-alive\r\n/)
  })

  it("the client reads Content-Length and chunked bodies byte-exact on one keep-alive connection", async () => {
    const { got, stats } = await run(({ connect, stats }) =>
      Effect.gen(function* () {
        const reader = new ByteReader(yield* connect)
        const got = []
        for (const path of ["/bytes/1000003", "/chunked/700001", "/chunked/0", "/", "/nope"]) {
          got.push(yield* httpGet(reader, "10.0.0.2", path))
        }
        return { got, stats }
      })
    )
    assert.deepEqual(got.map((r) => [r.status, r.length, r.keepAlive]), [
      [200, 1_000_003, true],
      [200, 700_001, true],
      [200, 0, true],
      [200, 44, true],
      [404, 24, true],
    ])
    assert.equal(got[0].sha256, bodySha256(1_000_003))
    assert.equal(got[1].sha256, bodySha256(700_001))
    assert.equal(got[1].headers.get("transfer-encoding"), "chunked")
    assert.equal(got[2].sha256, bodySha256(0))
    assert.equal(got[3].text, "vnetif: a userspace TCP/IP stack says hello\n")
    assert.equal(stats.connections, 1)
  })

  describe("timeouts against clients that hold connections (slowloris; TestClock)", () => {
    const OPTIONS: HttpServerOptions = {
      headerTimeout: "10 seconds",
      bodyTimeout: "10 seconds",
      sendTimeout: "30 seconds",
    }

    it("a client sending its head one byte every 3 s gets a 408 and is closed at headerTimeout", async () => {
      const r = await runTimed(OPTIONS, ({ connect, stats }) =>
        Effect.gen(function* () {
          const conn = yield* connect
          const got = yield* collect(conn)
          const request = encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
          let sent = 0
          for (; sent < request.length && !got.closed(); sent++) {
            yield* Effect.ignore(conn.write(request.subarray(sent, sent + 1)))
            yield* advance(3000)
          }
          return { text: got.text(), closed: got.closed(), sent, stats: { ...stats } }
        }))
      assert.ok(r.closed, "the server closed the connection")
      assert.ok(r.sent <= 4, `closed after ${r.sent} bytes (one every 3 s, timeout 10 s)`)
      assert.match(r.text, /^HTTP\/1\.1 408 Request Timeout\r\n[^]*Connection: close\r\n/)
      assert.equal(r.stats.timeouts, 1)
    })

    it("an idle keep-alive connection is closed silently at headerTimeout; each request restarts the timer", async () => {
      const r = await runTimed(OPTIONS, ({ connect, stats }) =>
        Effect.gen(function* () {
          const conn = yield* connect
          const got = yield* collect(conn)
          const get = encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
          yield* conn.write(get)
          yield* advance(9000)
          const before = got.text().split("HTTP/1.1 200").length - 1
          yield* conn.write(get) // 9 s idle: still open, the timer restarts with the response
          yield* advance(9000)
          const open = !got.closed()
          yield* advance(2000)
          return { text: got.text(), before, open, closed: got.closed(), stats: { ...stats } }
        }))
      assert.equal(r.before, 1)
      assert.ok(r.open, "still open 9 s after the second response")
      assert.ok(r.closed, "closed 10 s after it")
      assert.equal(r.text.split("HTTP/1.1 200").length - 1, 2)
      assert.doesNotMatch(r.text, /408/, "no 408 on an idle connection")
      assert.equal(r.stats.timeouts, 1)
      assert.equal(r.stats.requests, 2)
    })

    it("a normal client, even a slow one within the timeout, is unaffected", async () => {
      const r = await runTimed(OPTIONS, ({ connect, stats }) =>
        Effect.gen(function* () {
          const conn = yield* connect
          const got = yield* collect(conn)
          for (const part of ["GET /bytes/100000 HTTP/1.1\r\n", "Host: a\r\n", "Connection: close\r\n\r\n"]) {
            yield* conn.write(encoder.encode(part))
            yield* advance(4000) // 8 s for the head in all
          }
          yield* advance(1000)
          return { text: got.text(), closed: got.closed(), stats: { ...stats } }
        }))
      assert.ok(r.closed)
      assert.ok(r.text.startsWith("HTTP/1.1 200 OK\r\n"), r.text.slice(0, 40))
      assert.ok(r.text.endsWith(bodyText(100000)), "the whole body")
      assert.equal(r.stats.timeouts, 0)
    })

    it("a request body that stops arriving gets a 408 at bodyTimeout", async () => {
      const r = await runTimed(OPTIONS, ({ connect, stats }) =>
        Effect.gen(function* () {
          const conn = yield* connect
          const got = yield* collect(conn)
          yield* conn.write(encoder.encode("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"))
          yield* advance(9000)
          const open = !got.closed()
          yield* advance(2000)
          return { text: got.text(), open, closed: got.closed(), stats: { ...stats } }
        }))
      assert.ok(r.open && r.closed, "closed between 9 and 11 s")
      assert.match(r.text, /^HTTP\/1\.1 408 /)
      assert.equal(r.stats.timeouts, 1)
    })

    it("a client that stops reading a large response is aborted at sendTimeout", async () => {
      const r = await runTimed(OPTIONS, ({ connect, stats }) =>
        Effect.gen(function* () {
          const conn = yield* connect
          yield* conn.write(encoder.encode("GET /bytes/100000000 HTTP/1.1\r\nHost: a\r\n\r\n"))
          yield* advance(25_000)
          const before = stats.timeouts
          yield* advance(10_000)
          return { before, stats: { ...stats } }
        }))
      assert.equal(r.before, 0, "not before sendTimeout")
      assert.equal(r.stats.timeouts, 1)
      assert.ok(r.stats.bodyBytes < 100_000_000)
    })

    it("a head above maxHeaderBytes gets a 431", async () => {
      const r = await runTimed({ ...OPTIONS, maxHeaderBytes: 100 }, ({ connect }) =>
        Effect.gen(function* () {
          const conn = yield* connect
          const got = yield* collect(conn)
          yield* conn.write(encoder.encode(`GET / HTTP/1.1\r\nX: ${"y".repeat(100)}\r\n\r\n`))
          yield* advance(1000)
          return { text: got.text(), closed: got.closed() }
        }))
      assert.ok(r.closed)
      assert.match(r.text, /^HTTP\/1\.1 431 /)
    })
  })
})
