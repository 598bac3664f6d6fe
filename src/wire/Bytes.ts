/**
 * Big-endian (network order) integer access on a `Uint8Array`, shared by every wire codec.
 *
 * Plain functions the engines inline: no DataView per packet. Callers have checked the bounds (a view's checked
 * constructor validates lengths once), so these never check them again.
 *
 * @module
 */

/** Reads an unsigned 16-bit big-endian integer at `o`. */
export const read16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1]

/** Reads an unsigned 32-bit big-endian integer at `o`. */
export const read32 = (b: Uint8Array, o: number): number =>
  ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0

/** Writes the low 16 bits of `v` big-endian at `o`. */
export const write16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 8
  b[o + 1] = v
}

/** Writes the low 32 bits of `v` big-endian at `o`. */
export const write32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}
