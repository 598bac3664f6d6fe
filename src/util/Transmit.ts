/**
 * The one bridge between the synchronous transmit contract and Effect. Every layer's send is a single synchronous
 * member that returns the layer's error, or `undefined` once the frame or datagram is sent, queued, or dropped and
 * counted (`Backend.transmit`, `Vnetif.transmit`, `Ethernet.transmit`, `Ip.transmit`). Callers that live in Effect
 * derive the Effect form here, so there is never a second send path to keep in step with the first.
 *
 * @module
 */
import * as Effect from "effect/Effect"

/** The Effect form of a transmit result: succeeds on `undefined`, fails with the error otherwise. */
export const toEffect = <E>(e: E | undefined): Effect.Effect<void, E> => e === undefined ? Effect.void : Effect.fail(e)

/** The Effect form of a synchronous transmit function: the send happens when the Effect runs, each time it runs. */
export const effectful = <A extends ReadonlyArray<unknown>, E>(
  transmit: (...args: A) => E | undefined,
): (...args: A) => Effect.Effect<void, E> =>
(...args) => Effect.suspend(() => toEffect(transmit(...args)))
