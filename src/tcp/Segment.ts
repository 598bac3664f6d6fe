/**
 * The TCP segment shape the pure core consumes and produces, per the `TcpRepr` contract in `src/ARCHITECTURE.md`
 * (`srcPort dstPort seqNumber ackNumber flags windowLen urgentPointer options payload`), plus small helpers.
 *
 * This module is the single point where the TCP core meets `src/wire/Tcp.ts` (types and flags are re-exported
 * from there), so the rest of `src/tcp/` does not depend on the codec's module layout.
 *
 * @module
 */

export { TcpFlags } from "../wire/Tcp.ts"
export type { TcpOptions, TcpRepr, TcpSackBlock, TcpTimestamps } from "../wire/Tcp.ts"
import { TcpFlags, type TcpOptions, type TcpRepr } from "../wire/Tcp.ts"

/** Options with nothing set. */
export const NO_OPTIONS: TcpOptions = { sackPermitted: false, sackBlocks: [] }

/** An empty payload. */
export const EMPTY: Uint8Array = new Uint8Array(0)

/** Sequence space occupied by a segment: payload + SYN + FIN. */
export const segmentLength = (seg: TcpRepr): number =>
  seg.payload.length + (seg.flags & TcpFlags.SYN ? 1 : 0) + (seg.flags & TcpFlags.FIN ? 1 : 0)
