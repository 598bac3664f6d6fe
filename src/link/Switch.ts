/**
 * The in-process software Ethernet switch: the {@link Backend} implementation of mirage-vnetif's `Basic_backend`,
 * with MAC learning, bounded per-port queues and one reader fiber per port.
 *
 * Forwarding (decided by `transmit` on the sender's stack, in plain TypeScript, without suspending):
 * - `"hub"` floods every frame to every other port (mirage semantics).
 * - `"learning"` (default) learns `source MAC → port` on transmit (not for group addresses, not for a MAC that is some
 *   port's own). A unicast frame goes only to the port whose own MAC it is (`02:50:` + id, known at register) or that
 *   the MAC was learned on; broadcast, multicast and unknown unicast are flooded to every other port. A frame whose
 *   destination lives on the sending port is filtered (never sent back out of its ingress port). The learned table
 *   holds at most `macTableSize` entries (default 4096; the oldest learned entry is evicted first, a MAC that moves
 *   is re-learned as new) and forgets every entry of a port when it is unregistered.
 *
 * Delivery: each port owns a bounded, flow-fair queue (`FlowQueue.ts`) holding at most `queueCapacity` frames
 * (default 4096) and at most `queueBytes` bytes (default: 1024 full-size frames, 1024 × (mtu + 14)) — a byte budget
 * like a switch's buffer memory, so a burst of small frames (ACKs of a thousand connections) is not dropped for want
 * of slots while a queue of full-size frames stays as deep as a 1024-slot ring. `transmit` offers the frame without
 * suspending; the sender never runs receiver code, so no deadlock is possible and there is never a pile of fibers.
 *
 * Fairness (issue 15): a shared FIFO tail-drops whatever arrives while it is full, so one sender that keeps a port's
 * queue full (a UDP flood to one service) starves every other flow of that port: on a FIFO, a TCP transfer to the
 * flooded stack moved 0 bytes in 1500 bursts (`tests/stack/Flood.test.ts`). The queue therefore hashes each frame to
 * one of `flowBuckets` buckets (default 1024) by its service (IP protocol and the lower port), serves the buckets by
 * deficit round robin with a quantum of `flowQuantum` bytes (default `mtu + 14`), and when it is full drops from the
 * flow that holds the most (the arriving frame if that is its own flow, else the head of the fattest): a flood only
 * loses its own frames. A frame beyond the bounds is dropped and counted in the receiver's `rxDrops` (and in
 * `rxFlowDrops` when another flow was queued), like a NIC ring. One flow alone keeps FIFO order and the old tail drop;
 * `flowBuckets: 1` is a plain FIFO. A port without a listener, a closing port, or a frame longer than the receiver's
 * `mtu + 14` is also a counted drop at the receiver.
 *
 * Each port has ONE reader fiber. It parks on `Effect.callback` while the queue is empty; the first frame queued
 * schedules its wake-up on the dispatcher of the fiber that registered the port (as `Queue` wakes a taker: the
 * sender never runs the reader). Awake, it takes a batch — the frames queued at that moment, at most `batchSize`
 * (default: all) — and runs the listener for each, one at a time, in the queue's order; after a batch cut short by
 * `batchSize` it yields before the next, so a backlog is worked off in bounded slices with other fibers (an uplink's
 * reader, the applications) running in between. A listener that fails, dies or interrupts itself is logged at
 * Warning and counted in `rxErrors`; the reader carries on with the next frame.
 *
 * Queue choice: before fairness the port queue was Effect's `Queue.dropping` (a hand-written ring whose reader parked
 * on `Effect.callback` had measured at most ~5–10 % faster on Bun with bench/frames.ts, within noise on Deno, so the
 * Effect Queue was kept). The flow-fair queue needs its own structure (a ring per bucket, eviction from the head of
 * another flow), so the reader now parks on `Effect.callback` itself.
 *
 * Lifetimes: reader fibers are forked into a child scope of the switch's scope. Closing the switch's scope marks the
 * switch closed, shuts every queue and interrupts every reader (a running listener included). `unregister` does the
 * same for one port; `unregisterAndFlush` first lets the port's queued and in-flight frames finish (bounded by a
 * timeout). Frames still queued for a port when it is force-closed are discarded without being counted. A reader
 * fiber runs with the context of the fiber that called `register` (its Clock, Logger, …), so a listener sees the
 * services of the stack that owns the port.
 *
 * @module
 */
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type { SchedulerDispatcher } from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { MacAddress } from "../wire/MacAddress.ts"
import {
  Backend,
  BackendError,
  type BackendShape,
  emptyPortStats,
  type FrameListener,
  MAX_PORT_ID,
  PORT_MAC_BASE,
  type PortId,
  type PortInfo,
  portMac,
  type PortStats,
  type RegisterOptions,
} from "./Backend.ts"
import { FlowQueue } from "./FlowQueue.ts"

/** Forwarding mode of the switch. */
export type SwitchMode = "learning" | "hub"

/** Options of {@link Switch.make} / {@link Switch.layer}. */
export interface SwitchOptions {
  /** `"learning"` (default) or `"hub"` (flood everything, mirage's behaviour). */
  readonly mode?: SwitchMode
  /** Default capacity of each port's inbound queue, in frames (default 4096). */
  readonly queueCapacity?: number
  /**
   * Default byte budget of each port's inbound queue (frames queued and not yet taken by the port's reader). Default:
   * `queueCapacity × (mtu + 14)` when `queueCapacity` is given (explicitly or by the port), else 1024 full-size
   * frames of the port's MTU.
   */
  readonly queueBytes?: number
  /**
   * Most frames a reader delivers per batch (default: the whole queue); after a batch cut short by it, the reader
   * yields to other fibers before the next one.
   */
  readonly batchSize?: number
  /** Size of the learned MAC table (default 4096). */
  readonly macTableSize?: number
  /**
   * Default number of flow buckets of each port's queue, 1..65536, rounded up to a power of two (default 1024; 1 = one
   * FIFO shared by every flow, the behaviour before flow fairness). See `FlowQueue.ts`.
   */
  readonly flowBuckets?: number
  /** Bytes a flow bucket may send per round of the fair scheduler (default: the port's `mtu + 14`). */
  readonly flowQuantum?: number
}

/** The switch as a value: the Backend contract plus introspection used by tests and benchmarks. */
export interface SwitchShape extends BackendShape {
  /** The forwarding mode. */
  readonly mode: SwitchMode
  /** How many reader fibers have started and not yet ended (0 once the switch's scope is closed). */
  readonly activeReaders: Effect.Effect<number>
  /** How many MACs are in the learned table (port MACs are not counted: they are known statically). */
  readonly learnedMacs: Effect.Effect<number>
}

const ETHERNET_HEADER_LEN = 14
const MIN_MTU = 68
const MAX_MTU = 65535
const DEFAULT_MTU = 1500
const DEFAULT_QUEUE_CAPACITY = 4096
/** Default byte budget of a queue, in full-size frames of the port's MTU. */
const DEFAULT_QUEUE_FULL_FRAMES = 1024
const DEFAULT_MAC_TABLE_SIZE = 4096
const DEFAULT_FLOW_BUCKETS = 1024
const MAX_FLOW_BUCKETS = 65536
const DEFAULT_FLUSH_TIMEOUT: Duration.Input = "1 second"

const OPEN = 0
const CLOSING = 1
const CLOSED = 2

/** Mutable per-port state; counters are plain numbers bumped on the hot path. */
interface Port {
  readonly id: PortId
  readonly mac: MacAddress
  readonly mtu: number
  readonly maxFrame: number
  /** The flow-fair queue: frames accepted and not yet taken by the reader. */
  readonly queue: FlowQueue
  readonly info: PortInfo
  listener: FrameListener | undefined
  state: number
  fiber: Fiber.Fiber<void> | undefined
  /** 1 while the listener runs on a frame taken from the queue (queued + in flight = what a flush waits for). */
  inFlight: number
  drained: Deferred.Deferred<void> | undefined
  /** Frames the reader still takes in the current batch (the frames queued when it woke, at most `batchSize`). */
  batchLeft: number
  /** The current batch was cut short by `batchSize` (frames were left queued): yield before the next. */
  cut: boolean
  /** The parked reader's wake-up, while it waits for a frame. */
  parked: ((effect: Effect.Effect<void>) => void) | undefined
  /** A wake-up is scheduled (once per batch, as `Queue` schedules its taker). */
  waking: boolean
  /** Schedules the wake-up: the dispatcher of the fiber that registered the port (the sender never runs the reader). */
  readonly dispatcher: SchedulerDispatcher
  /** Resumes the parked reader (scheduled by `enqueue`). */
  readonly wake: () => void
  rxBytes: number
  rxPackets: number
  txBytes: number
  txPackets: number
  /** Drops counted here (no listener, closing, too large); the queue counts its overflow drops itself. */
  rxDrops: number
  txErrors: number
  rxErrors: number
}

const snapshot = (p: Port): PortStats => ({
  rxBytes: p.rxBytes,
  rxPackets: p.rxPackets,
  txBytes: p.txBytes,
  txPackets: p.txPackets,
  rxDrops: p.rxDrops + p.queue.drops,
  rxFlowDrops: p.queue.flowDrops,
  txErrors: p.txErrors,
  rxErrors: p.rxErrors,
})

const isPositiveInt = (n: number): boolean => Number.isInteger(n) && n >= 1

const invalid = (message: string): Effect.Effect<never, BackendError> =>
  Effect.fail(new BackendError({ reason: "InvalidConfig", message }))

const make = (options?: SwitchOptions): Effect.Effect<SwitchShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const mode: SwitchMode = options?.mode ?? "learning"
    const defaultCapacity = options?.queueCapacity ?? DEFAULT_QUEUE_CAPACITY
    const defaultBytes = options?.queueBytes
    const batchSize = options?.batchSize ?? Number.POSITIVE_INFINITY
    const macTableSize = options?.macTableSize ?? DEFAULT_MAC_TABLE_SIZE
    const defaultFlowBuckets = options?.flowBuckets ?? DEFAULT_FLOW_BUCKETS
    const flowQuantum = options?.flowQuantum
    if (mode !== "learning" && mode !== "hub") {
      return yield* Effect.die(new Error(`Switch: mode must be "learning" or "hub", got ${String(mode)}`))
    }
    if (!isPositiveInt(defaultCapacity)) {
      return yield* Effect.die(new Error(`Switch: queueCapacity must be a positive integer, got ${defaultCapacity}`))
    }
    if (defaultBytes !== undefined && !isPositiveInt(defaultBytes)) {
      return yield* Effect.die(new Error(`Switch: queueBytes must be a positive integer, got ${defaultBytes}`))
    }
    if (batchSize !== Number.POSITIVE_INFINITY && !isPositiveInt(batchSize)) {
      return yield* Effect.die(new Error(`Switch: batchSize must be a positive integer, got ${batchSize}`))
    }
    if (!isPositiveInt(macTableSize)) {
      return yield* Effect.die(new Error(`Switch: macTableSize must be a positive integer, got ${macTableSize}`))
    }
    if (!isPositiveInt(defaultFlowBuckets) || defaultFlowBuckets > MAX_FLOW_BUCKETS) {
      return yield* Effect.die(
        new Error(`Switch: flowBuckets must be an integer in 1..${MAX_FLOW_BUCKETS}, got ${defaultFlowBuckets}`),
      )
    }
    if (flowQuantum !== undefined && !isPositiveInt(flowQuantum)) {
      return yield* Effect.die(new Error(`Switch: flowQuantum must be a positive integer, got ${flowQuantum}`))
    }

    const ports = new Map<PortId, Port>()
    /** Open or closing ports, by ascending id: the flood list. */
    let live: Array<Port> = []
    const learned = new Map<MacAddress, Port>()
    let nextId = 0
    let closed = false
    let activeReaders = 0

    const parentScope = yield* Effect.scope
    const readerScope = yield* Scope.fork(parentScope)
    // Added after the child scope, so it runs first on close: readers see `closed` before they are interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        const fibers: Array<Fiber.Fiber<void>> = []
        for (const p of live) {
          p.state = CLOSED
          p.listener = undefined
          p.queue.clear()
          if (p.fiber !== undefined) fibers.push(p.fiber)
          if (p.drained !== undefined) Deferred.doneUnsafe(p.drained, Exit.void)
        }
        ports.clear()
        live = []
        learned.clear()
        return Fiber.interruptAll(fibers)
      })
    )

    // ---- errors ---------------------------------------------------------------------------------------------------

    const missing = (id: PortId): BackendError =>
      Number.isInteger(id) && id >= 0 && id < nextId
        ? new BackendError({ reason: "PortClosed", message: `port ${id} has been unregistered` })
        : new BackendError({ reason: "UnknownPort", message: `no port ${id} was ever registered on this switch` })

    const lookup = (id: PortId): Port | BackendError => {
      const p = ports.get(id)
      return p === undefined ? missing(id) : p
    }

    // ---- delivery (sender side) -----------------------------------------------------------------------------------

    const enqueue = (p: Port, frame: Uint8Array): void => {
      if (p.state !== OPEN || p.listener === undefined || frame.length > p.maxFrame) {
        p.rxDrops++
      } else if (p.queue.offer(frame) && p.parked !== undefined && !p.waking) {
        p.waking = true
        p.dispatcher.scheduleTask(p.wake, 0)
      }
    }

    const flood = (src: Port, frame: Uint8Array): void => {
      const ps = live
      for (let i = 0; i < ps.length; i++) {
        const p = ps[i]
        if (p !== src) enqueue(p, frame)
      }
    }

    const learn = (mac: MacAddress, src: Port): void => {
      if (learned.get(mac) === src) return
      const off = mac - PORT_MAC_BASE
      if (off >= 0 && off <= MAX_PORT_ID && ports.has(off)) return // another port's own MAC: static entry wins
      learned.delete(mac)
      if (learned.size >= macTableSize) {
        const oldest = learned.keys().next()
        if (oldest.done !== true) learned.delete(oldest.value)
      }
      learned.set(mac, src)
    }

    const forwardLearning = (src: Port, frame: Uint8Array): void => {
      const srcMac = MacAddress.read(frame, 6)
      if (srcMac !== src.mac && (frame[6] & 1) === 0) learn(srcMac, src)
      if ((frame[0] & 1) === 1) return flood(src, frame) // broadcast and multicast (I/G bit)
      const dstMac = MacAddress.read(frame, 0)
      const off = dstMac - PORT_MAC_BASE
      const dst = (off >= 0 && off <= MAX_PORT_ID ? ports.get(off) : undefined) ?? learned.get(dstMac)
      if (dst === undefined) flood(src, frame)
      else if (dst !== src) enqueue(dst, frame)
    }

    const forward = mode === "hub" ? flood : forwardLearning

    /** The one send member: forwards `frame` now, on the sender's stack; the error, or `undefined`. */
    const transmit = (id: PortId, frame: Uint8Array): BackendError | undefined => {
      const src = ports.get(id)
      if (src === undefined || src.state !== OPEN) {
        return src === undefined
          ? missing(id)
          : new BackendError({ reason: "PortClosed", message: `port ${id} is closing` })
      }
      const len = frame.length
      if (len > src.maxFrame) {
        src.txErrors++
        return new BackendError({
          reason: "FrameTooLarge",
          message: `frame of ${len} bytes exceeds port ${id}'s MTU ${src.mtu} + 14 header bytes`,
        })
      }
      if (len < ETHERNET_HEADER_LEN) {
        src.txErrors++
        return undefined
      }
      src.txPackets++
      src.txBytes += len
      forward(src, frame)
      return undefined
    }

    // ---- delivery (reader side) -----------------------------------------------------------------------------------

    const startReader = (p: Port): Effect.Effect<Fiber.Fiber<void>> => {
      const deliverBatch: Effect.Effect<void> = Effect.whileLoop({
        while: () => p.batchLeft > 0 && p.queue.length > 0,
        body: () => {
          p.batchLeft--
          const frame = p.queue.take()!
          const listener = p.listener
          if (listener === undefined || p.state === CLOSED) {
            p.rxDrops++
            return Effect.void
          }
          p.rxPackets++
          p.rxBytes += frame.length
          p.inFlight = 1
          return listener(frame)
        },
        step: () => {
          p.inFlight = 0
        },
      })
      const onFailure = (cause: Cause.Cause<never>): Effect.Effect<void> => {
        if (p.state === CLOSED || closed) return Effect.failCause(cause) // we are being shut down
        p.inFlight = 0
        p.rxErrors++
        return Effect.logWarning(`vnetif switch: listener of port ${p.id} failed; frame dropped`, cause).pipe(
          Effect.andThen(deliverSafe),
        )
      }
      const deliverSafe: Effect.Effect<void> = Effect.catchCause(deliverBatch, onFailure)
      const afterBatch = (): void => {
        p.batchLeft = 0
        if (p.drained !== undefined && p.queue.length === 0) Deferred.doneUnsafe(p.drained, Exit.void)
      }
      // Parks until a frame is queued; `enqueue` schedules the wake-up on the dispatcher (never runs the reader).
      const park: Effect.Effect<void> = Effect.callback<void>((resume) => {
        if (p.queue.length > 0 || p.state === CLOSED) return resume(Effect.void)
        p.parked = resume
        return Effect.sync(() => {
          p.parked = undefined
        })
      })
      const startBatch = (): Effect.Effect<void> => {
        const queued = p.queue.length
        p.cut = queued > batchSize
        p.batchLeft = p.cut ? batchSize : queued
        return deliverSafe
      }
      // After a batch cut short by `batchSize`, the reader yields before the next one: other fibers (an uplink's
      // reader, the stack's applications) run between batches of a backlog, as NAPI's budget lets other devices poll.
      const nextBatch = Effect.andThen(Effect.yieldNow, Effect.suspend(startBatch))
      const takeAndDeliver: Effect.Effect<void> = Effect.suspend(() =>
        p.queue.length === 0 ? Effect.flatMap(park, startBatch) : p.cut ? nextBatch : startBatch()
      )
      const loop = Effect.whileLoop({
        while: () => p.state !== CLOSED,
        body: () => takeAndDeliver,
        step: afterBatch,
      })
      const counted = Effect.suspend(() => {
        activeReaders++
        return Effect.ensuring(
          loop,
          Effect.sync(() => {
            activeReaders--
          }),
        )
      })
      return Effect.forkIn(counted, readerScope)
    }

    // ---- port lifecycle -------------------------------------------------------------------------------------------

    const register = (opts?: RegisterOptions): Effect.Effect<PortInfo, BackendError> =>
      Effect.gen(function* () {
        const mtu = opts?.mtu ?? DEFAULT_MTU
        const capacity = opts?.queueCapacity ?? defaultCapacity
        if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
          return yield* invalid(`MTU must be an integer in ${MIN_MTU}..${MAX_MTU}, got ${mtu}`)
        }
        if (!isPositiveInt(capacity)) {
          return yield* invalid(`queueCapacity must be a positive integer, got ${capacity}`)
        }
        const flowBuckets = opts?.flowBuckets ?? defaultFlowBuckets
        if (!isPositiveInt(flowBuckets) || flowBuckets > MAX_FLOW_BUCKETS) {
          return yield* invalid(`flowBuckets must be an integer in 1..${MAX_FLOW_BUCKETS}, got ${flowBuckets}`)
        }
        const explicitCapacity = opts?.queueCapacity ?? options?.queueCapacity
        const maxQueuedBytes = opts?.queueBytes ?? defaultBytes ??
          (explicitCapacity ?? DEFAULT_QUEUE_FULL_FRAMES) * (mtu + ETHERNET_HEADER_LEN)
        if (!isPositiveInt(maxQueuedBytes)) {
          return yield* invalid(`queueBytes must be a positive integer, got ${maxQueuedBytes}`)
        }
        if (closed) return yield* Effect.die(new Error("Switch: register after the switch's scope was closed"))
        if (nextId > MAX_PORT_ID) return yield* Effect.die(new Error("Switch: all 2^32 port ids are used up"))
        const id = nextId++
        const mac = portMac(id)
        const queue = new FlowQueue({
          buckets: flowBuckets,
          capacity,
          maxBytes: maxQueuedBytes,
          quantum: flowQuantum ?? mtu + ETHERNET_HEADER_LEN,
        })
        const dispatcher = (yield* Effect.withFiber((fiber) => Effect.succeed(fiber))).currentDispatcher
        const p: Port = {
          id,
          mac,
          mtu,
          maxFrame: mtu + ETHERNET_HEADER_LEN,
          queue,
          info: { id, mac, mtu },
          listener: undefined,
          state: OPEN,
          fiber: undefined,
          inFlight: 0,
          drained: undefined,
          batchLeft: 0,
          cut: false,
          parked: undefined,
          waking: false,
          dispatcher,
          wake: () => {
            p.waking = false
            const resume = p.parked
            p.parked = undefined
            if (resume !== undefined) resume(Effect.void)
          },
          rxBytes: 0,
          rxPackets: 0,
          txBytes: 0,
          txPackets: 0,
          rxDrops: 0,
          txErrors: 0,
          rxErrors: 0,
        }
        ports.set(id, p)
        live.push(p)
        p.fiber = yield* startReader(p)
        return p.info
      })

    const closePort = (p: Port): Effect.Effect<PortStats> =>
      Effect.suspend(() => {
        if (p.state === CLOSED) return Effect.succeed(snapshot(p))
        p.state = CLOSED
        p.listener = undefined
        ports.delete(p.id)
        live = live.filter((q) => q !== p)
        for (const [mac, q] of learned) if (q === p) learned.delete(mac)
        p.queue.clear()
        if (p.drained !== undefined) Deferred.doneUnsafe(p.drained, Exit.void)
        const stats = snapshot(p)
        const fiber = p.fiber
        p.fiber = undefined
        // Called from the port's own listener: the reader stops by itself after this frame (state is CLOSED).
        if (fiber === undefined || fiber === Fiber.getCurrent()) return Effect.succeed(stats)
        return Effect.as(Fiber.interrupt(fiber), stats)
      })

    const unregister = (id: PortId): Effect.Effect<PortStats, BackendError> =>
      Effect.suspend(() => {
        const p = ports.get(id)
        if (p !== undefined) return closePort(p)
        const err = missing(id)
        return err.reason === "PortClosed" ? Effect.succeed(emptyPortStats) : Effect.fail(err)
      })

    const unregisterAndFlush = (
      id: PortId,
      timeout: Duration.Input = DEFAULT_FLUSH_TIMEOUT,
    ): Effect.Effect<PortStats, BackendError> =>
      Effect.suspend(() => {
        const p = ports.get(id)
        if (p === undefined) return unregister(id)
        if (p.state === OPEN) p.state = CLOSING
        if (p.queue.length + p.inFlight <= 0 || p.fiber === Fiber.getCurrent()) return closePort(p)
        const drained = p.drained ??= Deferred.makeUnsafe<void>()
        return Deferred.await(drained).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(
                new BackendError({
                  reason: "FlushTimeout",
                  message: `port ${id}: ${p.queue.length + p.inFlight} frame(s) still queued or in delivery after ${
                    String(timeout)
                  }; the port stays closing, call unregister to force it`,
                }),
              ),
          }),
          Effect.andThen(closePort(p)),
        )
      })

    const withPort = <A>(id: PortId, f: (p: Port) => A): Effect.Effect<A, BackendError> =>
      Effect.suspend(() => {
        const p = lookup(id)
        return p instanceof BackendError ? Effect.fail(p) : Effect.succeed(f(p))
      })

    const mac = (id: PortId): Effect.Effect<MacAddress, BackendError> =>
      Effect.suspend(() =>
        Number.isInteger(id) && id >= 0 && id < nextId ? Effect.succeed(portMac(id)) : Effect.fail(missing(id))
      )

    const setListener = (id: PortId, listener: FrameListener | undefined): Effect.Effect<void, BackendError> =>
      withPort(id, (p) => {
        p.listener = listener
      })

    const portStats = (id: PortId): Effect.Effect<PortStats, BackendError> => withPort(id, snapshot)

    const resetPortStats = (id: PortId): Effect.Effect<void, BackendError> =>
      withPort(id, (p) => {
        p.rxBytes =
          p.rxPackets =
          p.txBytes =
          p.txPackets =
          p.rxDrops =
          p.txErrors =
          p.rxErrors =
          p.queue.drops =
          p.queue.flowDrops =
            0
      })

    return {
      mode,
      register,
      unregister,
      unregisterAndFlush,
      mac,
      transmit,
      setListener,
      portStats,
      resetPortStats,
      ports: Effect.sync(() => live.map((p) => p.info)),
      activeReaders: Effect.sync(() => activeReaders),
      learnedMacs: Effect.sync(() => learned.size),
    }
  })

const layer = (options?: SwitchOptions): Layer.Layer<Backend> => Layer.effect(Backend, make(options))

/** The in-process Ethernet switch: `Switch.layer(options)` provides {@link Backend}; `Switch.make` gives the value. */
export const Switch: {
  /** Builds a switch that lives as long as the enclosing Scope. */
  readonly make: (options?: SwitchOptions) => Effect.Effect<SwitchShape, never, Scope.Scope>
  /** A Layer providing the switch as the {@link Backend} service. */
  readonly layer: (options?: SwitchOptions) => Layer.Layer<Backend>
} = { make, layer }
