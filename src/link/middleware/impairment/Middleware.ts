/**
 * The impairment as {@link Backend} middleware: `wrap(backend, spec)` decodes the spec, seeds the generators, and
 * composes the pure per-frame stages (`Stages.ts`, stages 1–8) with the shaper (`Shaper.ts`, stages 9–11) behind
 * one synchronous `transmit`, like every link-layer member. The semantics are told in `../Impairment.ts`.
 *
 * `transmit(id, frame)` for an impaired port: stage 1 refuses a frame above `maxFrameSize` (typed `FrameTooLarge`),
 * stages 2–7 drop it (counted) or pass it on (maybe as a damaged copy), stage 8 decides on a duplicate, and the
 * shaper writes it now, holds it, queues it or drops it. No Effect runs per frame. Frames from ports outside
 * `spec.ports` go straight to the backend below.
 *
 * A port registered through this middleware is known at once; a port registered on the backend below directly is
 * looked up once, on its first frame, by running the (synchronous) `ports` of the backend below.
 *
 * Determinism: when the middleware is built it draws 128 bits per random stream from `Random` (or from
 * `Random.withSeed(spec.seed)` when a seed is given) and seeds one xoshiro128** generator per stream; time comes
 * from the `Clock` of the building fiber.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import {
  BackendError,
  type BackendShape,
  forwardBackend,
  type PortId,
  type PortInfo,
  type PortStats,
  type RegisterOptions,
} from "../../Backend.ts"
import { dropCountersOf, mergeDropCounters } from "../Metrics.ts"
import { makeShaper, type ShapedPort, shaperConfig } from "./Shaper.ts"
import {
  decodeSpec,
  type ImpairmentHandle,
  type ImpairmentSpec,
  type ImpairmentStats,
  resetCounters,
  zeroCounters,
} from "./Spec.ts"
import { FrameStages, RANDOM_STREAMS, rngsFromSeeds, stagesConfig } from "./Stages.ts"

const drawSeeds: Effect.Effect<ReadonlyArray<ReadonlyArray<number>>> = Effect.gen(function* () {
  const random = yield* Random.Random
  return RANDOM_STREAMS.map(() => [0, 1, 2, 3].map(() => Math.floor(random.nextDoubleUnsafe() * 4294967296) | 0))
})

/** Wraps a Backend value with the impairment of `spec`; the handle lives as long as the Scope. */
export const wrap = (
  inner: BackendShape,
  rawSpec: ImpairmentSpec,
): Effect.Effect<ImpairmentHandle, BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const spec = yield* decodeSpec(rawSpec)
    const seeds = yield* (spec.seed === undefined ? drawSeeds : Random.withSeed(drawSeeds, spec.seed))
    const rngs = rngsFromSeeds(seeds)
    const clock = yield* Clock.Clock
    const c = zeroCounters()
    const stages = new FrameStages(stagesConfig(spec), rngs, () => clock.currentTimeMillisUnsafe(), c)
    const innerTransmit = inner.transmit
    const shaper = yield* makeShaper(shaperConfig(spec), rngs, innerTransmit, c)
    const ports = shaper.ports
    const portFilter = spec.ports === undefined ? undefined : new Set(spec.ports)
    const maxFrameSize = spec.maxFrameSize ?? Number.POSITIVE_INFINITY

    /**
     * State of a port registered on the backend below directly (not through us): looked up once. `ports` is a
     * synchronous Effect for every backend here; one that is not leaves the port unimpaired.
     */
    const discover = (id: PortId): ShapedPort | undefined => {
      let infos: ReadonlyArray<PortInfo>
      try {
        infos = Effect.runSync(inner.ports)
      } catch {
        return undefined
      }
      const info = infos.find((p) => p.id === id)
      return info === undefined ? undefined : shaper.addPort(info)
    }

    // ---- the Backend contract -------------------------------------------------------------------------------------

    const transmit = (id: PortId, frame: Uint8Array): BackendError | undefined => {
      if (portFilter !== undefined && !portFilter.has(id)) return innerTransmit(id, frame)
      const st = ports.get(id) ?? discover(id)
      // not a port (the backend below reports it), or one closing through us
      if (st === undefined || st.closed) return innerTransmit(id, frame)
      c.frames++
      if (stages.tooLarge(frame.length)) {
        return new BackendError({
          reason: "FrameTooLarge",
          message: `frame of ${frame.length} bytes exceeds the impairment's maxFrameSize ${maxFrameSize} (port ${id})`,
        })
      }
      const out = stages.apply(frame, st.maxFrame)
      return out === undefined ? undefined : shaper.transmit(st, out, stages.copies())
    }

    const register = (options?: RegisterOptions): Effect.Effect<PortInfo, BackendError> =>
      Effect.map(inner.register(options), (info) => {
        shaper.addPort(info)
        return info
      })

    const close = (id: PortId): Effect.Effect<void> => Effect.sync(() => shaper.removePort(id))

    const unregister = (id: PortId): Effect.Effect<PortStats, BackendError> =>
      Effect.andThen(close(id), inner.unregister(id))

    const unregisterAndFlush: BackendShape["unregisterAndFlush"] = (id, timeout) =>
      Effect.andThen(close(id), inner.unregisterAndFlush(id, timeout))

    const stats: Effect.Effect<ImpairmentStats> = Effect.sync(() => ({
      ...c,
      dropped: c.droppedPartition + c.droppedWindow + c.droppedLoss + c.droppedBurst + c.droppedSmall +
        c.droppedQueue,
      ...shaper.snapshot(),
    }))

    const ownDrops: Effect.Effect<Readonly<Record<string, number>>> = Effect.sync(() => ({
      partition: c.droppedPartition,
      window: c.droppedWindow,
      loss: c.droppedLoss,
      burst: c.droppedBurst,
      small_frame: c.droppedSmall,
      queue: c.droppedQueue,
    }))

    const overrides = {
      register,
      unregister,
      unregisterAndFlush,
      transmit,
      dropCounters: Effect.zipWith(ownDrops, dropCountersOf(inner), mergeDropCounters),
      setPartitioned: (b: boolean) =>
        Effect.sync(() => {
          stages.partitioned = b
        }),
      partitioned: Effect.sync(() => stages.partitioned),
      stats,
      resetStats: Effect.sync(() => resetCounters(c)),
      flushHeld: Effect.sync(shaper.flushAll),
    }
    return forwardBackend(inner, overrides)
  })
