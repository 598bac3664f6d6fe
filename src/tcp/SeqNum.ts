/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * Sequence numbers are plain `number`s holding an unsigned 32-bit value (0 … 2^32-1). Comparisons are made on the
 * signed 32-bit difference, so they are correct as long as the two numbers are less than 2^31 apart — which TCP
 * guarantees for every pair it compares (windows are at most 2^30 bytes, RFC 7323 §2.3).
 *
 * Invariants: every function returns an unsigned 32-bit value (`>>> 0`) or a signed 32-bit difference (`| 0`).
 * No allocation, no branches beyond the comparison, so these inline well on the hot path.
 *
 * @module
 */

/** Signed 32-bit difference `a - b` (positive when `a` is after `b`). */
export const seqSub = (a: number, b: number): number => (a - b) | 0

/** `a + n` modulo 2^32, as an unsigned 32-bit value. */
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0

/** `a` is strictly before `b`. */
export const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0

/** `a` is before or equal to `b`. */
export const seqLe = (a: number, b: number): boolean => ((a - b) | 0) <= 0

/** `a` is strictly after `b`. */
export const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0

/** `a` is after or equal to `b`. */
export const seqGe = (a: number, b: number): boolean => ((a - b) | 0) >= 0

/** The later of two sequence numbers. */
export const seqMax = (a: number, b: number): number => (((a - b) | 0) >= 0 ? a : b)

/** The earlier of two sequence numbers. */
export const seqMin = (a: number, b: number): number => (((a - b) | 0) <= 0 ? a : b)

/** `start <= x < start + len` in sequence space (`len` ≥ 0; an empty window contains nothing). */
export const inWindow = (x: number, start: number, len: number): boolean => {
  const d = (x - start) | 0
  return d >= 0 && d < len
}
