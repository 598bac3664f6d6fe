/**
 * Fixtures for the TCP service tests: stacks with TCP on a switch (plain or impaired), transfers that check length
 * and hash, and a 32-bit FNV-1a hash that runs incrementally over chunks.
 *
 * @module
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { Backend } from "../../src/link/Backend.ts"
import { Stack, type StackError, type StackHandle } from "../../src/Stack.ts"
import type {
  TcpConfigInput,
  TcpConnection,
  TcpConnectionStats,
  TcpConnectOptions,
  TcpError,
  TcpListenOptions,
} from "../../src/tcp/Tcp.ts"
import type { Ipv4Address } from "../../src/wire/Ipv4Address.ts"

/** One stack with its TCP service. */
export interface Node {
  /** The whole stack. */
  readonly stack: StackHandle
  /** Its TCP service. */
  readonly tcp: StackHandle["tcp"]
  /** Its address. */
  readonly address: Ipv4Address
}

/** Options of {@link node}. */
export interface NodeOptions {
  readonly mtu?: number
  readonly checksum?: "all" | "offload"
  readonly queueCapacity?: number
  readonly tcp?: TcpConfigInput
}

/** A stack with TCP on the Backend in context. */
export const node = (cidr: string, o: NodeOptions = {}): Effect.Effect<Node, StackError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const stack = yield* Stack.make({
      cidr,
      ...(o.mtu === undefined ? {} : { mtu: o.mtu }),
      ...(o.checksum === undefined ? {} : { checksum: o.checksum }),
      ...(o.queueCapacity === undefined ? {} : { queueCapacity: o.queueCapacity }),
      ...(o.tcp === undefined ? {} : { tcp: o.tcp }),
    })
    return { stack, tcp: stack.tcp, address: stack.address }
  })

/** 32-bit FNV-1a, continued from `h`. */
export const fnv1a = (bytes: Uint8Array, h: number = 0x811c9dc5): number => {
  let x = h
  for (let i = 0; i < bytes.length; i++) x = Math.imul(x ^ bytes[i], 0x01000193)
  return x >>> 0
}

/** Deterministic pseudo-random bytes (xorshift32 per 32-bit word). */
export const randomBytes = (n: number, seed: number = 1): Uint8Array => {
  const words = new Uint32Array(Math.ceil(n / 4))
  let x = seed >>> 0 || 0x9e3779b9
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return new Uint8Array(words.buffer, 0, n)
}

/** What a receiver got. */
export interface Received {
  readonly length: number
  readonly hash: number
}

/** Reads until the end of the stream; `pause(n)` runs after each read with the running byte count. */
export const receiveAll = (
  conn: TcpConnection,
  pause?: (received: number) => Effect.Effect<void>,
): Effect.Effect<Received, TcpError> =>
  Effect.gen(function* () {
    let length = 0
    let hash = 0x811c9dc5
    while (true) {
      const d = yield* conn.read
      if (d === undefined) return { length, hash }
      hash = fnv1a(d, hash)
      length += d.length
      if (pause !== undefined) yield* pause(length)
    }
  })

/** Writes `data` in `writeSize` pieces, then half-closes. */
export const sendAll = (
  conn: TcpConnection,
  data: Uint8Array,
  writeSize: number = 65536,
): Effect.Effect<void, TcpError> =>
  Effect.gen(function* () {
    for (let off = 0; off < data.length; off += writeSize) {
      yield* conn.write(data.subarray(off, Math.min(data.length, off + writeSize)))
    }
    yield* conn.closeWrite
  })

/**
 * Client → server transfer of `data` on port 5001 that reports instead of asserting: what the server received
 * (length and hash) and the client's retransmits. For tests that record outcomes (the simulation grid).
 */
export const measuredTransfer = (
  client: Pick<Node, "tcp">,
  server: Pick<Node, "tcp" | "address">,
  data: Uint8Array,
  writeSize: number,
): Effect.Effect<Received & { readonly retransmits: number }, TcpError, Scope.Scope> =>
  Effect.gen(function* () {
    const listener = yield* server.tcp.listen(5001)
    const serverFiber = yield* Effect.forkChild(Effect.gen(function* () {
      const conn = yield* listener.accept
      const got = yield* receiveAll(conn)
      yield* conn.close
      return got
    }))
    const conn = yield* client.tcp.connect(server.address, 5001)
    yield* sendAll(conn, data, writeSize)
    const got = yield* Fiber.join(serverFiber)
    const stats = yield* conn.stats
    yield* conn.close
    return { ...got, retransmits: stats.retransmits }
  })

/** Options of {@link transfer}. */
export interface TransferOptions {
  readonly port?: number
  readonly writeSize?: number
  readonly connect?: TcpConnectOptions
  readonly listen?: TcpListenOptions
  readonly pause?: (received: number) => Effect.Effect<void>
}

/** Client → server transfer of `data`; asserts length and hash, returns both connections' final stats. */
export const transfer = (
  client: Node,
  server: Node,
  data: Uint8Array,
  o: TransferOptions = {},
): Effect.Effect<
  {
    readonly client: TcpConnectionStats
    readonly server: TcpConnectionStats
  },
  TcpError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const port = o.port ?? 5001
    const listener = yield* server.tcp.listen(port, o.listen)
    const serverFiber = yield* Effect.forkChild(
      Effect.gen(function* () {
        const conn = yield* listener.accept
        const got = yield* receiveAll(conn, o.pause)
        const stats = yield* conn.stats
        yield* conn.close
        return { got, stats }
      }),
    )
    const conn = yield* client.tcp.connect(server.address, port, o.connect)
    yield* sendAll(conn, data, o.writeSize)
    const { got, stats } = yield* Fiber.join(serverFiber)
    assert.equal(got.length, data.length, "received length")
    assert.equal(got.hash, fnv1a(data), "received hash")
    const clientStats = yield* conn.stats
    yield* conn.close
    return { client: clientStats, server: stats }
  })
