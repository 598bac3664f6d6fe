/**
 * The HTTP/1.1 server and client of `examples/_http.ts` on two in-process stacks on one switch: pipelined requests
 * answered in order on one connection, HEAD, 404, 405 with a request body skipped, 400 on a malformed request line,
 * 431 on an oversized head, HTTP/1.0 closing by default, and the client reading Content-Length and chunked bodies
 * byte-exact (length and SHA-256 against the generator).
 *
 * @module
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
  type HttpServerStats,
  httpServerStats,
  MAX_HEADER_BYTES,
} from "../../examples/_http.ts"

interface Fixture {
  readonly connect: Effect.Effect<TcpConnection, TcpError, Scope.Scope>
  readonly stats: HttpServerStats
}

const setup = (): Effect.Effect<Fixture, unknown, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* Stack.make({ cidr: "10.0.0.2/24" })
    const client = yield* Stack.make({ cidr: "10.0.0.1/24" })
    const stats = httpServerStats()
    yield* server.tcp.serve(80, httpHandler(stats))
    return { connect: client.tcp.connect(server.address, 80), stats }
  })

const run = <A>(body: (f: Fixture) => Effect.Effect<A, unknown, Scope.Scope>): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(setup(), body)).pipe(Effect.provide(Layer.fresh(Switch.layer()))),
  )

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
    assert.deepEqual(stats, { connections: 1, requests: 5, bodyBytes: 10 + 3 + 18 + 27 })
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
})
